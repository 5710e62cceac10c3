"""FaultSettings Rule 4: calls inside their latency are counted by operation, and a test
thread waiting for them is woken by the core, not by a timer."""

from __future__ import annotations

import asyncio
import threading

from core_sim.faults import FaultSettings


def test_wait_delaying_sees_a_held_call_and_its_end() -> None:
    """While a PostTransfer sits in its latency, wait_delaying("PostTransfer", 1) is True
    and another operation's count is 0; after it, the count is back to 0."""
    faults = FaultSettings(latency_ms=300)
    assert faults.wait_delaying("PostTransfer", 1, 0.01) is False
    done = threading.Event()

    def call() -> None:
        asyncio.run(faults.delay("PostTransfer"))
        done.set()

    caller = threading.Thread(target=call)
    caller.start()
    assert faults.wait_delaying("PostTransfer", 1, 10) is True
    assert (faults.delaying("PostTransfer"), faults.delaying("GetAccount")) == (1, 0)
    assert done.wait(10)
    caller.join(10)
    assert faults.delaying("PostTransfer") == 0
    assert "_delaying" not in faults.to_dict()
