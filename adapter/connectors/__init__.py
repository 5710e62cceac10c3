"""Connectors: implementations of the core port (SOAP via zeep, ISO 8583 over TCP)."""
