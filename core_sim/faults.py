"""Fault injection for the simulated core: latency, refused calls and lost replies.

One `FaultSettings` object is shared by the SOAP service and the ISO 8583 host, and may be
changed while they run (HTTPS `PUT /admin/faults`, or in-process from a test's thread).

How a listener applies it to a posting, in this order:

    await faults.delay()            # latency_ms, before anything is read or booked
    (stop_answering: the request is ignored before anything else, and never answered)
    if faults.should_fail(): ...    # refuse with a system error; NOTHING is booked
    book the posting                # committed in the ledger
    if faults.should_drop(): ...    # the reply is lost: "reset" aborts the connection,
                                    # "hang" never answers (the client times out)

Invariants:
- Rule 1: the deterministic counters win over the rates: while `fail_next` (`drop_next`) is
  above zero, each check consumes one and fires; only then are the rates rolled.
- Rule 2: a dropped reply always follows a committed posting: the money HAS moved.
- Rule 3: every read and update holds one lock, so a test thread and the event loop never see
  half an update.
- Rule 4: a call inside its latency is counted by operation while it waits (`delaying`), and
  `wait_delaying` wakes on each change of the count: a test learns that the core holds its
  request from the core itself, not from a timer.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Literal

DropMode = Literal["reset", "hang"]
DROP_MODES: tuple[str, ...] = ("reset", "hang")


@dataclass
class FaultSettings:
    latency_ms: int = 0
    error_rate: float = 0.0
    drop_reply_rate: float = 0.0
    drop_mode: DropMode = "reset"
    fail_next: int = 0
    drop_next: int = 0
    # Nothing is read, booked or answered (SOAP calls hang, ISO 8583 frames, 0800 included,
    # are ignored) until it is switched off; the admin endpoint still answers.
    stop_answering: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _delaying: Counter[str] = field(default_factory=Counter, repr=False, compare=False)
    _delays_changed: threading.Condition = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check(self.to_dict())
        self._delays_changed = threading.Condition(self._lock)  # Rule 3: the one lock

    # -- what the listeners call ------------------------------------------------------------

    async def delay(self, operation: str = "") -> None:
        """Sleep for the configured latency without blocking the event loop; `operation`
        (e.g. "PostTransfer") is counted meanwhile (Rule 4)."""
        latency = self.latency_ms
        if latency > 0:
            self._count_delaying(operation, 1)
            try:
                await asyncio.sleep(latency / 1000)
            finally:
                self._count_delaying(operation, -1)

    def _count_delaying(self, operation: str, change: int) -> None:
        with self._delays_changed:
            self._delaying[operation] += change
            self._delays_changed.notify_all()

    def should_fail(self) -> bool:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return self.error_rate > 0 and self._rng.random() < self.error_rate

    def should_drop(self) -> bool:
        with self._lock:
            if self.drop_next > 0:
                self.drop_next -= 1
                return True
            return self.drop_reply_rate > 0 and self._rng.random() < self.drop_reply_rate

    # -- what operators and tests call ------------------------------------------------------

    def update(self, **changes: Any) -> FaultSettings:
        """Change some settings atomically; ValueError (and no change) if any is invalid."""
        unknown = set(changes) - set(self.to_dict())
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            merged = {**self._snapshot(), **changes}
            self._check(merged)
            for key, value in merged.items():
                setattr(self, key, value)
        return self

    def reset(self) -> FaultSettings:
        """Back to no faults at all."""
        return self.update(latency_ms=0, error_rate=0.0, drop_reply_rate=0.0, drop_mode="reset",
                           fail_next=0, drop_next=0, stop_answering=False)

    def delaying(self, operation: str) -> int:
        """How many calls of `operation` are inside their latency now."""
        with self._lock:
            return self._delaying[operation]

    def wait_delaying(self, operation: str, count: int, timeout: float) -> bool:
        """Block until at least `count` calls of `operation` are inside their latency (Rule
        4); False if not within `timeout` seconds."""
        with self._delays_changed:
            return self._delays_changed.wait_for(
                lambda: self._delaying[operation] >= count, timeout)

    def seed(self, seed: int) -> None:
        """Make the rate rolls reproducible."""
        with self._lock:
            self._rng.seed(seed)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    @staticmethod
    def _check(values: dict[str, Any]) -> None:
        for name in ("latency_ms", "fail_next", "drop_next"):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0")
        for name in ("error_rate", "drop_reply_rate"):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number from 0 to 1")
        if not isinstance(values["stop_answering"], bool):
            raise ValueError("stop_answering must be true or false")
        if values["drop_mode"] not in DROP_MODES:
            raise ValueError(f"drop_mode must be one of {', '.join(DROP_MODES)}")
