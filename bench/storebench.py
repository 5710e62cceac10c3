"""The payment journal alone: CPU per payment for its two writes, as the journal grows.

    python -m bench.storebench [--payments 120000] [--concurrency 32] [--chunk 20000]
                               [--linger-ms 2] [--synchronous NORMAL|FULL]
    python -m bench.storebench --compare [--database-url URL] [--payments 5000] [--rounds 3]
                               [--pool-size 8]

`--compare` runs the same payments on SQLite, on the PostgreSQL store (psycopg 3) and on an
asyncpg variant of it, alternating, and reports throughput and CPU per payment of this
process and of PostgreSQL (bench/storebench_pg.py; asyncpg is in the `bench` extra). The
database defaults to BANK_ADAPTER_TEST_DATABASE_URL, else the project machines' server.

Each payment is what the payment service writes: the idempotency check, `claim` (the key, the
payment ACCEPTED, two history rows) and `record` (BOOKED, a history row, the completed key,
the outbox event), with `concurrency` payments in flight on one event loop, as under load.
Prints the process CPU (the loop thread and the checkpointer thread) per payment for each
chunk, and the commits per payment, so growth with the journal's size shows. No network and
no core: it isolates the store's share of a transfer from everything else the benchmark
measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapter.model import Money, Payment, PaymentKind, PaymentStatus
from adapter.model.identifiers import new_core_reference, new_payment_id
from adapter.ports.idempotency import IdempotencyRecord, KeyState, Outcome
from adapter.services.idempotency import KEY_TTL
from adapter.stores.sqlite import SqliteStore

AMOUNT = Money(amount=Decimal("0.01"), currency="EUR")


def _payment() -> Payment:
    now = datetime.now(UTC)
    return Payment.model_construct(
        payment_id=new_payment_id(), kind=PaymentKind.TRANSFER, status=PaymentStatus.ACCEPTED,
        caller_id="partner", debtor_account_id="10000001", debtor_iban="DE89370400440532013000",
        creditor_account_id="10000002", creditor_iban="DE02120300000000202051",
        amount=AMOUNT, end_to_end_id="BENCH-STORE", remittance=None,
        core_reference=new_core_reference(), created_at=now, updated_at=now,
        biller_id=None, customer_reference=None, core_transaction_id=None, booked_at=None,
        reason_code=None, reason_message=None)


async def _one(store: Any) -> None:
    payment = _payment()
    now = payment.created_at
    key = uuid.uuid4().hex  # callers' keys are random: the worst case for the key index
    assert await store.keys.get("partner", key) is None
    await store.journal.claim(IdempotencyRecord(
        caller_id="partner", key=key, fingerprint="f" * 64, state=KeyState.IN_PROGRESS,
        payment_id=payment.payment_id, created_at=now, locked_until=now,
        expires_at=now + KEY_TTL), payment)
    booked = payment.transition(PaymentStatus.BOOKED, datetime.now(UTC),
                                core_transaction_id="T", booked_at=datetime.now(UTC))
    await store.journal.record(booked, expected=PaymentStatus.ACCEPTED, outcome=Outcome())


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="storebench-"))
    store = SqliteStore(workdir / "adapter.db", synchronous=args.synchronous,
                        linger=args.linger_ms / 1000)
    gate = asyncio.Semaphore(args.concurrency)

    async def bounded() -> None:
        async with gate:
            await _one(store)

    done = 0
    try:
        while done < args.payments:
            commits, cpu = store.writes.commits, time.process_time()
            await asyncio.gather(*(bounded() for _ in range(args.chunk)))
            done += args.chunk
            cpu = time.process_time() - cpu
            print(f"{done:>9} payments: {1e6 * cpu / args.chunk:6.0f} us CPU per payment, "
                  f"{(store.writes.commits - commits) / args.chunk:.3f} commits per payment",
                  flush=True)
    finally:
        await store.aclose()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.storebench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--payments", type=int, default=120_000)
    p.add_argument("--chunk", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--linger-ms", type=float, default=2.0)
    p.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="NORMAL")
    p.add_argument("--compare", action="store_true",
                   help="SQLite, psycopg 3 and asyncpg on PostgreSQL, alternating rounds")
    p.add_argument("--database-url", default=os.environ.get(
        "BANK_ADAPTER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="the PostgreSQL server of --compare (each round gets a fresh schema)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pool-size", type=int, default=8)
    args = p.parse_args(argv)
    if args.compare:
        from bench.storebench_pg import compare

        if "--payments" not in (argv or sys.argv):
            args.payments = 5000
        compare(args, _one)
        return 0
    import uvloop

    uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
