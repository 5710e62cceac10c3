"""The rate limiter (services/rate_limits.py) on an injected clock: rules parsed from the
settings' texts, refusals with their wait, refills without sleeping, failing open."""

from __future__ import annotations

import asyncio

import pytest

from adapter.model.errors import RateLimited
from adapter.model.rates import Rate, parse_operation_rate, parse_rate
from adapter.services.rate_limits import RateLimiter, RatePolicy
from adapter.stores.memory.rate_limits import MemoryRateLimitStore

T0 = 1_764_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def check(limiter: RateLimiter, identity: str, operation: str) -> None:
    """As the pipeline calls it: an answer at once (memory), or an awaitable (I/O)."""
    pending = limiter.check(identity, operation)
    if pending is not None:
        await pending


class AwaitingOnly:
    """The memory store seen through `acquire` alone, as a store doing I/O is."""

    def __init__(self) -> None:
        self._inner = MemoryRateLimitStore()

    async def acquire(self, key: str, *, now: float, interval: float,
                      capacity: float) -> float:
        return await self._inner.acquire(key, now=now, interval=interval, capacity=capacity)

    async def aclose(self) -> None:
        return None


def test_rates_parse_and_refuse_with_what_is_allowed() -> None:
    """`N/unit` (plural allowed) and `none`; anything else names the text and the forms."""
    assert parse_rate("50/second") == Rate(50, 1.0)
    assert parse_rate(" 1000/minutes ") == Rate(1000, 60.0)
    assert parse_rate("none") is None
    assert parse_operation_rate("transfer=2/hour") == ("transfer", Rate(2, 3600.0))
    for bad in ("0/second", "5/fortnight", "5", "+5/second", "\uff15/second"):
        with pytest.raises(ValueError, match="is not a rate: use N/second"):
            parse_rate(bad)
    with pytest.raises(ValueError, match=r"'3/second' is not OPERATION=RATE"):
        parse_operation_rate("3/second")


def test_an_operations_own_rule_wins_and_none_is_unlimited() -> None:
    policy = RatePolicy.parse("100/second", ("transfer=2/minute", "read=none"))
    assert policy.rate_for("transfer") == Rate(2, 60.0)
    assert policy.rate_for("read") is None
    assert policy.rate_for("watch") == Rate(100, 1.0)


@pytest.mark.parametrize("store", [MemoryRateLimitStore, AwaitingOnly])
def test_over_budget_is_refused_and_time_refills_it(store: type) -> None:
    """2/minute: two transfers, the third RATE_LIMITED with a 30 s wait; 30 s later (moved
    by hand) exactly one more; another caller and another operation are unaffected. The
    same whether the store answers at once (memory) or must be awaited."""
    async def go() -> None:
        clock = Clock()
        limiter = RateLimiter(RatePolicy.parse("none", ("transfer=2/minute",)),
                              store(), clock=clock)
        await check(limiter, "partner", "transfer")
        await check(limiter, "partner", "transfer")
        with pytest.raises(RateLimited) as refused:
            await check(limiter, "partner", "transfer")
        assert refused.value.retry_after == pytest.approx(30.0)
        assert refused.value.message == ("too many transfer requests from this client (limit "
                                         "2/minute); retry in 30 s")
        assert not refused.value.lockout
        await check(limiter, "legacy", "transfer")
        for _ in range(50):
            await check(limiter, "partner", "read")
        clock.now += 30
        await check(limiter, "partner", "transfer")
        with pytest.raises(RateLimited):
            await check(limiter, "partner", "transfer")

    asyncio.run(go())


class BrokenStore:
    calls = 0

    async def acquire(self, key: str, *, now: float, interval: float,
                      capacity: float) -> float:
        self.calls += 1
        raise ConnectionError("redis went away")

    async def aclose(self) -> None:
        return None


class BrokenMemory(BrokenStore):
    def acquire_now(self, key: str, *, now: float, interval: float, capacity: float) -> float:
        raise ConnectionError("redis went away")


@pytest.mark.parametrize("store", [BrokenStore, BrokenMemory])
def test_a_failing_store_fails_open_and_is_counted(caplog: pytest.LogCaptureFixture,
                                                   store: type) -> None:
    """Rule 3: every call passes while the store fails; one warning a minute, a count each."""
    async def go() -> RateLimiter:
        limiter = RateLimiter(RatePolicy.parse("1/day"), store())
        for _ in range(5):
            await check(limiter, "partner", "transfer")
        return limiter

    limiter = asyncio.run(go())
    assert limiter.storage_errors == 5
    warnings = [r for r in caplog.records if r.name == "adapter.ratelimit"]
    assert [r.getMessage() for r in warnings] == [
        "rate-limit storage unusable, not limiting (1 failures so far): ConnectionError"]


DB = "postgresql://adapter@db:5432/bank"


@pytest.mark.parametrize(("settings", "refused"), [
    ({"workers": 2, "database_url": DB}, "rate_limit_storage"),  # the default rates, memory
    ({"workers": 2, "database_url": DB, "rate_limit_default": "none",
      "rate_limit_operations": ("transfer=2/minute",)}, "rate_limit_storage"),
    ({"workers": 2, "database_url": DB, "rate_limit_default": "none",
      "rate_limit_operations": ("transfer=none", "bill_payment=none")}, None),
    ({"workers": 2, "database_url": DB, "rate_limit_storage": "database"}, None),
    ({"workers": 2, "database_url": DB, "rate_limit_storage": "redis://127.0.0.1:6379/0"},
     None),
    ({"workers": 1}, None),
    ({"rate_limit_storage": "database"}, "database_url"),
    ({"rate_limit_storage": "database", "database_url": DB}, None),
])
def test_budgets_must_be_shared_where_the_processes_are(settings: dict[str, object],
                                                        refused: str | None) -> None:
    """adapter.startup Rule 7: more than one worker with any rate set needs budgets the
    workers share (database or redis://); every rate `none` needs none; `database` needs
    --database-url. A refusal names the setting to change."""
    from adapter.config import Settings, StartupError
    from adapter.startup import refuse_unshared_state

    if refused is None:
        refuse_unshared_state(Settings(**settings))
        return
    with pytest.raises(StartupError) as caught:
        refuse_unshared_state(Settings(**settings))
    assert caught.value.setting == refused


def test_the_settings_accept_memory_database_and_redis_and_nothing_else() -> None:
    from pydantic import ValidationError

    from adapter.config import Settings

    for ok in ("memory", "database", "redis://127.0.0.1:6379/0", "rediss://r:6380/1"):
        assert Settings(rate_limit_storage=ok).rate_limit_storage == ok
    with pytest.raises(ValidationError, match="'postgres': use memory, database or a redis://"):
        Settings(rate_limit_storage="postgres")


def test_the_composition_root_refuses_database_budgets_without_a_database() -> None:
    """AdapterApp's own guard (for callers that skip `up`'s checks): one StartupError naming
    --database-url; memory needs nothing."""
    from adapter.app import rate_limit_store
    from adapter.config import StartupError

    with pytest.raises(StartupError, match=r"^--rate-limit-storage database keeps the budgets "
                       r"in the PostgreSQL database: give --database-url postgresql://\.\.\.$"
                       ) as caught:
        rate_limit_store("database", None)
    assert caught.value.setting == "database_url"
    assert isinstance(rate_limit_store("memory"), MemoryRateLimitStore)
