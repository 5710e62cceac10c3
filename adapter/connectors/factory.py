"""Choose and build the core connector named by the settings."""

from __future__ import annotations

from adapter.config import ConnectorKind, Settings
from adapter.ports.core import CorePort


async def build_core(settings: Settings) -> CorePort:
    if settings.core_connector is ConnectorKind.SOAP:
        from adapter.connectors.soap import SoapCoreConnector

        return SoapCoreConnector.create(settings.core_soap_url, settings.pki_dir)
    from adapter.connectors.iso8583 import IsoCoreConnector

    connector = IsoCoreConnector.create(
        settings.core_host, settings.core_iso_port, settings.pki_dir, settings.state_dir
    )
    await connector.start()
    return connector
