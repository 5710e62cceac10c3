"""What the rate-limit step costs a call: the call pipeline's admission (correlation id,
control characters, the certificate caller, the rate limit, the deadline) timed in one
process, without a limiter, with the in-memory limiter, the Redis limiter and the PostgreSQL
limiter (`--rate-limit-storage database`; in a schema of its own, dropped afterwards).

    PYTHONPATH=. python -m bench.ratelimit_bench [--calls 20000] [--redis redis://127.0.0.1:6379/15]
        [--database postgresql://postgres@127.0.0.1:5432/test]

Prints CPU microseconds per admitted call for each, and each as a ratio to the pipeline
without a limiter measured in the same run (alternating rounds, median). The limits are far
above the load, so every call is admitted: this is the cost of the step, not of refusing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from adapter.model.errors import AdapterError
from adapter.services.clients import Caller, ClientRegistry, Operation
from adapter.services.pipeline import Call, Edge, Pipeline
from adapter.services.principal import Credentials
from adapter.services.rate_limits import RateLimiter, RatePolicy
from adapter.stores.memory.rate_limits import MemoryRateLimitStore

REGISTRY = ClientRegistry([Caller(id="partner", accounts=frozenset({"10000001"}),
                                  operations=frozenset({Operation.READ}))])


async def _render(error: AdapterError, call: Call) -> Any:
    return error


EDGE = Edge("bench", _render, kinds={"GET /v1/accounts": "read"})


async def _admit(pipeline: Pipeline, calls: int) -> float:
    """CPU seconds per admitted call."""
    credentials = Credentials("partner")
    start = time.process_time()
    for _ in range(calls):
        await pipeline.admit(Call(EDGE, "GET /v1/accounts", credentials))
    return (time.process_time() - start) / calls


def _pipeline(limiter: RateLimiter | None) -> Pipeline:
    return Pipeline([REGISTRY.resolve], observers=(), rate_limiter=limiter)


def _schema_url(server: str, schema: str, *, create: bool) -> str:
    """Create (or drop) `schema` on `server`; the URL whose sessions work inside it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as con:
        statement = "CREATE SCHEMA {}" if create else "DROP SCHEMA IF EXISTS {} CASCADE"
        con.execute(sql.SQL(statement).format(sql.Identifier(schema)))
    return f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"


async def run(calls: int, rounds: int, redis_url: str | None,
              database: str | None = None) -> dict[str, list[float]]:
    policy = RatePolicy.parse("1000000/second")
    variants: dict[str, Pipeline] = {
        "no limiter": _pipeline(None),
        "memory": _pipeline(RateLimiter(policy, MemoryRateLimitStore())),
    }
    redis_store = None
    if redis_url:
        from adapter.stores.redis import RedisRateLimitStore

        redis_store = RedisRateLimitStore(redis_url, prefix=f"bench:{uuid.uuid4().hex}:")
        variants["redis"] = _pipeline(RateLimiter(policy, redis_store))
    pg_store = None
    schema = f"ba_ratebench_{uuid.uuid4().hex[:8]}"
    if database:
        from adapter.stores.postgres.rate_limits import PostgresRateLimitStore

        pg_store = await PostgresRateLimitStore.open(
            _schema_url(database, schema, create=True), pool_size=2)
        variants["database"] = _pipeline(RateLimiter(policy, pg_store))
    out: dict[str, list[float]] = {name: [] for name in variants}
    for pipeline in variants.values():  # warm-up
        await _admit(pipeline, calls // 10)
    for _ in range(rounds):
        for name, pipeline in variants.items():
            n = calls if name not in ("redis", "database") else max(calls // 10, 100)
            out[name].append(await _admit(pipeline, n))
    if redis_store is not None:
        await redis_store.reset()
        await redis_store.aclose()
    if pg_store is not None and database:
        await pg_store.aclose()
        _schema_url(database, schema, create=False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit_bench")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=None, help="also time the Redis limiter")
    parser.add_argument("--database", default=None,
                        help="also time the PostgreSQL limiter on this server")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.calls, args.rounds, args.redis, args.database))
    base = statistics.median(results["no limiter"])
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:>10}: {median * 1e6:7.1f} us CPU per call, {median / base:5.2f}x "
              "the pipeline without a limiter")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
