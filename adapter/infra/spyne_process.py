"""spyne's process-wide settings: its garbage-collection interval and its loggers' levels.

spyne keeps both as process state (a module constant and named loggers), so they are set by one
explicit call, `configure_spyne_process()`, made by each composition root that serves spyne
(adapter.app.AdapterApp.start, core_sim.server.CoreSim.start, the benchmark's SOAP echo), and
never as a side effect of building a server object. Calling it again sets the same values.

Invariants, once called:
- Rule 1: spyne never runs `gc.collect()` itself. Its MethodContext.close() forces a full
  collection once a second (spyne.const.MIN_GC_INTERVAL), which stalls the event loop every
  second under load (8 % of the adapter's samples, 14 % of core_sim's, in the benchmark's
  profile); CPython's generational collector is left to do its normal work.
- Rule 2: spyne's own loggers never log a request document (at DEBUG they would, a WS-Security
  PasswordText included) nor a traceback per refused request: they are held at WARNING, and
  its per-fault loggers at CRITICAL. The edges log refusals themselves, once, masked.
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

import logging

import spyne.const

SPYNE_LOGGER = "spyne"
# spyne logs every fault with a traceback at ERROR on these; a refusal is an ordinary answer.
FAULT_LOGGERS = ("spyne.application.client", "spyne.application.server", "spyne.server._base")


def configure_spyne_process() -> None:
    """Apply Rules 1 and 2 to this process."""
    spyne.const.MIN_GC_INTERVAL = float("inf")  # Rule 1
    logging.getLogger(SPYNE_LOGGER).setLevel(logging.WARNING)  # Rule 2
    for name in FAULT_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
