"""`bank-adapter up --database-url` as an operator runs it: a real process tree on a real
PostgreSQL. The banner names the store (without a password), the demo customers are seeded
into the database, a REST transfer is booked once (ledger read through the adapter before
and after), and no SQLite journal, reversal or customer file is made."""

from __future__ import annotations

import re
import signal
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from adapter.infra.tls import TlsFiles, client_context
from tests.e2e.up_process import UpProcess, free_port_args, processes_naming
from tests.harness.postgres import fresh_database_url

READY = "Press Ctrl-C to stop."


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as value:
        yield value


def booked(http: httpx.Client, account: str) -> Decimal:
    data = http.get(f"/v1/accounts/{account}/balances").json()
    return Decimal(next(b for b in data["balances"] if b["balanceType"] == "interimBooked")
                   ["balanceAmount"]["amount"])


def test_up_on_postgres_serves_books_once_and_stops(url: str, tmp_path: Path) -> None:
    state = tmp_path / "s"
    up = UpProcess(state, "--database-url", url, *free_port_args(), "--log-level", "warning")
    try:
        up.wait_for(lambda line: READY in line)
        banner = "".join(up.seen)
        assert f"  store  PostgreSQL at {url}\n" in banner
        match = re.search(r"REST   https://localhost:(\d+)/v1", banner)
        assert match is not None, banner
        partner = TlsFiles.from_dir(state / "pki", "partner")
        with httpx.Client(verify=client_context(partner, state / "pki" / "ca.crt"),
                          base_url=f"https://localhost:{match.group(1)}", timeout=10) as http:
            before = booked(http, "10000001"), booked(http, "10000002")
            key = str(uuid.uuid4())
            body = {"debtorAccount": {"id": "10000001"}, "creditorAccount": {"id": "10000002"},
                    "instructedAmount": {"currency": "EUR", "amount": "0.75"},
                    "endToEndIdentification": "UP-PG"}
            first = http.post("/v1/transfers", headers={"Idempotency-Key": key}, json=body)
            again = http.post("/v1/transfers", headers={"Idempotency-Key": key}, json=body)
            after = booked(http, "10000001"), booked(http, "10000002")
        assert (first.status_code, again.status_code) == (201, 201), first.text
        assert again.json()["paymentId"] == first.json()["paymentId"]
        assert after == (before[0] - Decimal("0.75"), before[1] + Decimal("0.75"))
        up.signal(signal.SIGTERM)
        assert up.wait() == 0, "".join(up.stderr)
    finally:
        up.kill()
    assert processes_naming(str(state)) == []
    with psycopg.connect(url) as con:
        assert con.execute("SELECT username FROM customers ORDER BY 1").fetchall() == [
            ("alice",), ("bob",)]
        assert con.execute("SELECT status FROM payments").fetchall() == [("booked",)]
    assert not any((state / name).exists() for name in (
        "adapter.db", "customers.db", "iso8583-reversals.sqlite"))
