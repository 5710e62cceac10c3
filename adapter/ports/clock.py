"""The wall clock as a port: every store and service that needs "now" is given one.

A `Clock` returns an aware datetime in UTC. Production passes `system_clock`; tests pass a
function over a value they move, so expiries, locks and retention are tested without sleeps.
(`time.monotonic` deadlines are not wall-clock readings and stay where they are.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


# A partial, not a def: read on every payment, key and journal write, and a partial of a C
# function adds no Python frame.
system_clock: Clock = functools.partial(datetime.now, UTC)
