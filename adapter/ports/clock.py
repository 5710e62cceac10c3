"""The wall clock as a port: every store and service that needs "now" is given one.

A `Clock` returns an aware datetime in UTC. Production passes `system_clock`; tests pass a
function over a value they move, so expiries, locks and retention are tested without sleeps.
(`time.monotonic` deadlines are not wall-clock readings and stay where they are.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)
