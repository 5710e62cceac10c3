"""Infrastructure shared by the adapter and the simulated core: nothing banking in it.

    tls.py            every ssl.SSLContext and gRPC credential of the project (mutual TLS, 1.2+)
    untrusted_xml.py  parsing XML from the network: no DTD, no entities, no network
    logmask.py        masking account numbers, IBANs and PANs in everything logged
    gctune.py         gc.freeze() of start-up's objects in a serving process
    checkpointer.py   SQLite WAL checkpoints on a thread of their own, off the event loop
    group_commit.py   the writes of one event-loop turn in one SQLite transaction, paced
    spyne_asgi.py     a spyne SOAP 1.1 application served as ASGI, on the event loop
    spyne_process.py  spyne's process-wide settings (GC interval, loggers), one explicit call
    spyne_six.py      spyne 2.14 on Python 3.12+: its vendored six served from `six`

Invariants (checked by the import-linter contracts in pyproject.toml):
- Rule 1: nothing here imports anything else of `adapter` (nor core_sim, bench or tests): this
  package is the only part of `adapter` that core_sim may import, so the simulated core stays
  an independent implementation of the core's side of each protocol.
- Rule 2: importing a module here changes no process-wide state, with one exception that is its
  whole purpose: `spyne_six` installs its import hook. Process-wide settings (logging, gc,
  spyne's) are explicit calls made once by each composition root.
"""
