"""Rate limits per (identity, operation) on the `limits` package: in memory, and in a real
Redis shared by two limiters (two processes' worth), with Retry-After from the window."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from adapter.model.errors import RateLimited
from adapter.services.rate_limits import RateLimiter, parse_limits, storage_for

REDIS_URL = os.environ.get("BANK_ADAPTER_TEST_REDIS", "redis://127.0.0.1:6379/15")


def test_parse_limits_reads_every_rule_and_names_a_bad_one() -> None:
    limits = parse_limits("transfer=3/second; read=100/minute")
    assert {op: (i.amount, i.get_expiry()) for op, i in limits.items()} == {
        "transfer": (3, 1), "read": (100, 60)}
    with pytest.raises(ValueError, match=r"'transfer=lots': 'lots' is not N/period"):
        parse_limits("transfer=lots")
    with pytest.raises(ValueError, match="expected operation=N/period"):
        parse_limits("3/second")


def test_over_budget_is_refused_with_retry_after_and_others_are_unaffected() -> None:
    """The 4th transfer in a second is RATE_LIMITED (retry after at most 1 s); another
    caller's budget and the same caller's reads are separate; unlisted operations pass."""
    async def go() -> None:
        limiter = RateLimiter(parse_limits("transfer=3/minute;read=5/minute"))
        for _ in range(3):
            await limiter.check("partner", "transfer")
        with pytest.raises(RateLimited) as refused:
            await limiter.check("partner", "transfer")
        assert refused.value.code == "RATE_LIMITED"
        assert 0 < refused.value.retry_after <= 60
        await limiter.check("other", "transfer")
        await limiter.check("partner", "read")
        for _ in range(100):
            await limiter.check("partner", "watch")

    asyncio.run(go())


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: .ci/run starts redis-server")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: start redis-server (or set "
                    "BANK_ADAPTER_TEST_REDIS) to run the shared rate-limit test")


def test_two_limiters_on_one_redis_share_the_budget() -> None:
    """What one process spends, the other cannot: 4 hits allowed in all, then refused on both."""
    _redis_or_skip()
    namespace = f"test-{uuid.uuid4().hex}"

    async def go() -> list[bool]:
        a = RateLimiter(parse_limits("transfer=4/minute"), storage_for(REDIS_URL),
                        namespace=namespace)
        b = RateLimiter(parse_limits("transfer=4/minute"), storage_for(REDIS_URL),
                        namespace=namespace)
        out = []
        for limiter in (a, b, a, b, a, b):
            out.append((await limiter.hit("partner", "transfer")).allowed)
        return out

    assert asyncio.run(go()) == [True, True, True, True, False, False]


def test_an_unreachable_store_fails_open() -> None:
    """Rule 3: Redis down must not refuse payments."""
    async def go() -> bool:
        limiter = RateLimiter(parse_limits("transfer=1/minute"),
                              storage_for("redis://127.0.0.1:1/0"))
        return all([(await limiter.hit("p", "transfer")).allowed for _ in range(3)])

    assert asyncio.run(go())
