"""Choose and build the core connector named by the settings."""

from __future__ import annotations

from collections.abc import Callable

from adapter.config import ConnectorKind, Settings
from adapter.ports.core import CorePort


async def build_core(settings: Settings, *, on_reversed: Callable[[str], None] | None = None
                     ) -> CorePort:
    """The SOAP connector, or the ISO 8583 connector with the SOAP one for reads.

    ISO 8583 has no message for account lookup, account lists or history, so the ISO
    connector delegates those to the SOAP connector on the same core (see its README table).
    `on_reversed` is told when a background reversal completes, to wake the resolver.
    """
    if settings.core_nodes:  # a pool of nodes on one ledger, each with its own connector(s)
        from adapter.connectors.pool.build import build_pool

        return await build_pool(settings, on_reversed=on_reversed)
    from adapter.connectors.soap import SoapCoreConnector

    soap = SoapCoreConnector.create(settings.core_soap_url, settings.pki_dir)
    if settings.core_connector is ConnectorKind.SOAP:
        return soap
    from adapter.connectors.iso8583 import BitmapEncoding, IsoCoreConnector

    connector = IsoCoreConnector.create(
        settings.core_host, settings.core_iso_port, settings.pki_dir, settings.state_dir,
        terminal_id=settings.iso_terminal_id,
        bitmap=BitmapEncoding(settings.iso_bitmap),
        echo_interval=settings.iso_echo_interval,
        synchronous=settings.sqlite_synchronous,
        linger=settings.sqlite_linger_ms / 1000,
        # The payment journal is the write-ahead log: every posting is journalled ACCEPTED
        # before it is sent, and the resolver reverses any left unsettled by a crash. A second
        # one in the reversal store would double the durable writes of every payment.
        write_ahead=False,
        reads=soap,
        on_reversed=on_reversed,
    )
    await connector.start()
    return connector
