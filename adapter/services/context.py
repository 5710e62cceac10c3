"""The request context the call pipeline hands to every service call."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from adapter.model.errors import DeadlineExceeded
from adapter.services.principal import Principal


def new_correlation_id() -> str:
    """32 hex digits. A tracing label, not a secret (callers choose their own): the
    process's PRNG is enough, and spares a getrandom call on every request."""
    return f"{random.getrandbits(128):032x}"  # nosec B311


@dataclass(frozen=True)
class RequestContext:
    """Who the request acts for (`caller`, a Principal), under which correlation id, and
    until when (monotonic seconds)."""

    caller: Principal
    correlation_id: str = field(default_factory=new_correlation_id)
    deadline: float | None = None

    def remaining(self, ceiling: float) -> float:
        """Seconds left for a downstream call: the caller's deadline, capped at `ceiling`."""
        if self.deadline is None:
            return ceiling
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(correlation_id=self.correlation_id)
        return min(ceiling, left)
