"""Ports: the interfaces the services and connectors need from the outside world.

One module per concept, each a `typing.Protocol` with an in-memory and a SQLite
implementation in `adapter.stores` and one contract suite in `tests/contract/`:

    core.py         the core banking system (connectors implement it)
    idempotency.py  idempotency keys: lookup, release, relock, purge
    journal.py      the payment journal: payments and their status history
    outbox.py       the event outbox: reading the durable, ordered events
    storage.py      the keys, journal and outbox of one database, and who owns which
                    transaction when a rule spans two of them
    reversals.py    ISO 8583 reversals still owed to the core
    nonces.py       WS-Security UsernameToken nonces seen within the replay window
    terminals.py    which running process sends under which ISO 8583 terminal id
    clock.py        the wall clock, injected wherever a time is read
"""
