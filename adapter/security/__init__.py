"""Security: TLS contexts, the development PKI, caller identity and stored credentials."""
