"""Choose and build the core connector named by the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from adapter.config import ConnectorKind, Settings
from adapter.ports.core import CorePort

if TYPE_CHECKING:
    from adapter.connectors.iso8583.options import IsoOptions
    from adapter.infra.tls import ReloadableClientContext
    from adapter.ports.reversals import ReversalStore


def iso_options(settings: Settings) -> IsoOptions:
    """The ISO 8583 connector's options as the adapter runs it. (Imported here: a SOAP-only
    adapter never loads the ISO 8583 stack.)"""
    from adapter.connectors.iso8583.options import IsoOptions
    from adapter.connectors.iso8583.spec import BitmapEncoding

    return IsoOptions(
        host=settings.core_host,
        port=settings.core_iso_port,
        server_hostname="localhost",  # the name in the dev PKI's core certificate
        terminal_id=settings.iso_terminal_id,
        bitmap=BitmapEncoding(settings.iso_bitmap),
        echo_interval=settings.iso_echo_interval,
        liveness_timeout=settings.iso_liveness_timeout,
        synchronous=settings.sqlite_synchronous,
        linger=settings.sqlite_linger_ms / 1000,
        # The payment journal is the write-ahead log: every posting is journalled ACCEPTED
        # before it is sent, and the resolver reverses any left unsettled by a crash. A second
        # one in the reversal store would double the durable writes of every payment.
        write_ahead=False,
    )


ReversalStores = Callable[[Path], "ReversalStore"]
"""Given a folder, the reversal store an ISO 8583 connector keeps there: the composition root
chooses the backend (connectors never import stores)."""


async def build_core(settings: Settings, *, reversal_stores: ReversalStores | None = None,
                     on_reversed: Callable[[str], None] | None = None,
                     link_tls: ReloadableClientContext | None = None) -> CorePort:
    """The SOAP connector, or the ISO 8583 connector with the SOAP one for reads.

    ISO 8583 has no message for account lookup, account lists or history, so the ISO
    connector delegates those to the SOAP connector on the same core (see its README table).
    `on_reversed` is told when a background reversal completes, to wake the resolver.
    `link_tls`: the link's client certificate, key and CA, shared by every connector built
    here and reloaded by the composition root (None: each connector reads the files once).
    """
    if settings.core_nodes:  # a pool of nodes on one ledger, each with its own connector(s)
        from adapter.connectors.pool.build import build_pool

        return await build_pool(settings, reversal_stores=reversal_stores,
                                on_reversed=on_reversed, link_tls=link_tls)
    from adapter.connectors.soap import SoapCoreConnector

    soap = SoapCoreConnector.create(settings.core_soap_url, settings.pki_dir, tls=link_tls)
    if settings.core_connector is ConnectorKind.SOAP:
        return soap
    from adapter.connectors.iso8583 import IsoCoreConnector

    if reversal_stores is None:
        raise ValueError("the ISO 8583 connector needs a reversal store (reversal_stores=)")
    connector = IsoCoreConnector.create(iso_options(settings), settings.pki_dir,
                                        reversal_stores(settings.state_dir), reads=soap,
                                        on_reversed=on_reversed, tls=link_tls)
    await connector.start()
    return connector
