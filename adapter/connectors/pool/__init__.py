"""A pool of core nodes on one ledger: a `CorePort` decorator over one connector per node.

    nodes       `--core-nodes host:soap_port:iso_port[:weight]`, and a node's live state
    strategies  round-robin, least-outstanding (P2C), smooth weighted round robin,
                primary-secondary
    breaker     per-node closed / open / half-open with growing ejection, on a clock
    health      active checks (ISO 8583 0800 echo, SOAP ping) -> a node's health
    pool        `CorePool`: choosing, safe failover, readiness, resolve routing
    build       the pool from the settings (one SOAP + optional ISO connector per node)
"""
