"""The SOAP connector to the core banking system (zeep over mutual TLS)."""

from adapter.connectors.soap.connector import SoapCoreConnector

__all__ = ["SoapCoreConnector"]
