"""Security: the development PKI, caller identity and stored credentials (TLS: adapter.infra)."""
