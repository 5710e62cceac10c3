"""Lockout (PSD2 RTS art. 4(3)(b)): consecutive failures of any factor lock the username for a
time that grows with every lock, up to a permanent lock that only an internal caller lifts.

Invariants, as a table over (failures, lock_count):
- Rule 1: a failure while unlocked adds one; the `max_failures`-th locks for
  `base * growth ** (lock_count)` and resets the count; the `permanent_after`-th lock is
  permanent.
- Rule 2: while locked, nothing is checked and nothing counts: the answer is CUSTOMER_LOCKED
  (a locked username costs an attacker no hash and gains it nothing).
- Rule 3: a success resets the failure count but not `lock_count` (the next lock is longer
  still); only an unlock resets everything.
- Rule 4: the state is kept per username whether or not a customer has it, so a lock (and its
  warning) looks the same for an unknown username: lockout enumerates nothing.
- Rule 5: the customer is warned before a permanent lock: the message of every failure and
  lock one step before it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from adapter.ports.customers import LockState
from adapter.services.customers.errors import CustomerLocked, InvalidCredentials


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    base_lock: timedelta = timedelta(minutes=15)
    growth: int = 4
    permanent_after: int = 3

    def lock_time(self, lock_count: int) -> timedelta:
        return self.base_lock * (self.growth ** lock_count)


def check(policy: LockoutPolicy, state: LockState, now: datetime) -> None:
    """Raise CustomerLocked while the username is locked (Rule 2)."""
    if state.permanent:
        raise CustomerLocked("login is locked after repeated failures: contact the bank "
                             "to unlock it")
    if state.locked_until is not None and now < state.locked_until:
        seconds = int((state.locked_until - now).total_seconds()) + 1
        raise CustomerLocked(
            f"too many failed attempts: login is locked for {seconds} more seconds"
            + _permanent_warning(policy, state.lock_count))


def after_failure(policy: LockoutPolicy, state: LockState,
                  now: datetime) -> tuple[LockState, bool]:
    """(new state, whether this failure locked it) (Rule 1)."""
    failures = state.failures + 1
    if failures < policy.max_failures:
        return LockState(failures=failures, locked_until=state.locked_until,
                         lock_count=state.lock_count), False
    lock_count = state.lock_count + 1
    if lock_count >= policy.permanent_after:
        return LockState(lock_count=lock_count, permanent=True), True
    until = now + policy.lock_time(lock_count - 1)
    return LockState(locked_until=until, lock_count=lock_count), True


def after_success(state: LockState) -> LockState:
    return LockState(lock_count=state.lock_count)  # Rule 3


def failure_error(policy: LockoutPolicy, state: LockState,
                  now: datetime) -> InvalidCredentials | CustomerLocked:
    """The error to answer a failure with, given the state it left (Rule 5)."""
    if state.permanent or (state.locked_until is not None and now < state.locked_until):
        try:
            check(policy, state, now)
        except CustomerLocked as locked:
            return locked
    left = policy.max_failures - state.failures
    return InvalidCredentials(
        f"the username, password, code or device signature is wrong; {left} attempt"
        f"{'s' if left != 1 else ''} left before login is locked"
        + _permanent_warning(policy, state.lock_count))


def _permanent_warning(policy: LockoutPolicy, lock_count: int) -> str:
    if lock_count + 1 >= policy.permanent_after:
        return "; the next lock will be permanent until the bank unlocks it"
    return ""
