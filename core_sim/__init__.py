"""The simulated core banking system: a double-entry ledger on SQLite, a SOAP service and an
ISO 8583 host on that one ledger, and switches to inject latency, errors and lost replies."""
