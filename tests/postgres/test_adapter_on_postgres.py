"""The whole adapter on PostgreSQL (`database_url`): real core_sim, real mutual TLS, a real
server in a fresh schema. A REST transfer through each connector is booked once, journalled
in PostgreSQL (no SQLite journal is made), and its key replays the stored outcome after a
restart; two adapters on one database share their WS-Security nonces."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client
from tests.harness.core import RunningCore
from tests.harness.postgres import fresh_database_url
from tests.soap.conftest import Token, envelope, fault_of, post

DEBTOR, CREDITOR = "10000001", "10000002"


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as value:
        yield value


def body(amount: str) -> dict[str, Any]:
    return {"debtorAccount": {"id": DEBTOR}, "creditorAccount": {"id": CREDITOR},
            "instructedAmount": {"currency": "EUR", "amount": amount},
            "endToEndIdentification": "PG-E2E"}


def adapter_on(core: RunningCore, tmp: Path, pki_dir: Path, url: str, connector: str,
               ) -> Any:
    return run_adapter(tmp, pki_dir, core_soap_url=core.soap_url, core_connector=connector,
                       core_iso_port=core.iso_port, database_url=url)


def transfer(adapter: RunningAdapter, key: str, amount: str) -> Any:
    with https_client(adapter, "partner", base_url=adapter.base_url) as http:
        return http.post("/v1/transfers", headers={"Idempotency-Key": key}, json=body(amount))


@pytest.mark.parametrize("connector", ["iso8583", "soap"])
def test_a_transfer_is_booked_once_and_its_key_replays_after_a_restart(
        connector: str, core_sim: RunningCore, pki_dir: Path, tmp_path: Path,
        url: str) -> None:
    """201 ACSC, 1.25 moved once; the journal (payment, history, event, completed key) is in
    PostgreSQL; a restarted adapter answers the same key with the stored 201 (marked
    replayed) and the same key for another amount with 422; the ledger moves no more."""
    ledger = core_sim.ledger
    totals = ledger.totals()
    before = ledger.balance(DEBTOR)[0], ledger.balance(CREDITOR)[0]
    key = str(uuid.uuid4())
    with adapter_on(core_sim, tmp_path, pki_dir, url, connector) as adapter:
        first = transfer(adapter, key, "1.25")
    assert first.status_code == 201, first.text
    assert first.json()["transactionStatus"] == "ACSC"
    moved = (before[0] - 125, before[1] + 125)
    assert (ledger.balance(DEBTOR)[0], ledger.balance(CREDITOR)[0]) == moved
    assert not (tmp_path / "adapter-state" / "adapter.db").exists()
    assert not (tmp_path / "adapter-state" / "iso8583-reversals.sqlite").exists()

    payment_id = first.json()["paymentId"]
    with psycopg.connect(url) as con:
        assert con.execute("SELECT status FROM payments WHERE payment_id = %s",
                           (payment_id,)).fetchall() == [("booked",)]
        assert [r[0] for r in con.execute(
            "SELECT status FROM payment_status_history WHERE payment_id = %s ORDER BY seq",
            (payment_id,))] == ["received", "accepted", "booked"]
        assert con.execute("SELECT count(*) FROM outbox WHERE payment_id = %s",
                           (payment_id,)).fetchone() == (1,)
        assert con.execute("SELECT state FROM idempotency_keys WHERE key = %s",
                           (key,)).fetchall() == [("completed",)]

    with adapter_on(core_sim, tmp_path, pki_dir, url, connector) as restarted:
        replay = transfer(restarted, key, "1.25")
        conflict = transfer(restarted, key, "2.00")
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert conflict.status_code == 422
    assert conflict.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert (ledger.balance(DEBTOR)[0], ledger.balance(CREDITOR)[0]) == moved
    assert ledger.totals() == totals


def test_a_nonce_accepted_by_one_adapter_is_a_replay_to_another(
        core_sim: RunningCore, pki_dir: Path, tmp_path: Path, url: str) -> None:
    """Two adapters on one database (two processes' worth): a UsernameToken accepted by
    the first is refused by the second, as its own replay would be (issue 14, nonces)."""
    with adapter_on(core_sim, tmp_path, pki_dir, url, "soap") as a, \
            adapter_on(core_sim, tmp_path, pki_dir, url, "soap") as b:
        token = Token("legacy", a.legacy_password, nonce=os.urandom(16)).xml()
        request = envelope("<b:GetBalance><b:Account><b:AccountId>10000003</b:AccountId>"
                           "</b:Account></b:GetBalance>", token)
        with https_client(a, "legacy") as http_a, https_client(b, "legacy") as http_b:
            first = post(http_a, a, request, "GetBalance")
            again = post(http_b, b, request, "GetBalance")
            fresh = post(http_b, b, envelope(
                "<b:GetBalance><b:Account><b:AccountId>10000003</b:AccountId></b:Account>"
                "</b:GetBalance>", Token("legacy", b.legacy_password).xml()), "GetBalance")
    assert first.status_code == 200, first.text
    fault = fault_of(again)
    assert (again.status_code, fault.code) == (500, "UNAUTHENTICATED")
    assert "Nonce was already used" in fault.faultstring
    assert fresh.status_code == 200, fresh.text
