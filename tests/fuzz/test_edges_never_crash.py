"""Hostile input against a live adapter on every protocol: whatever arrives, the answer is a
clear refusal in that protocol (never a 5xx, never UNKNOWN/INTERNAL), the server keeps
serving, and the ledger's total per currency is what it was.

Runs against a real core_sim and adapter over mutual TLS; examples are bounded and
derandomised (the "ci" profile in tests/conftest.py); `pytest --fuzz` runs many more.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.grpc.support import Env, run
from tests.rest.conftest import PARTNER2_IBAN, PARTNER_IBAN, Bank, start_bank

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
    max_size=30)
JSON = st.recursive(JSON_LEAVES, lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=12), kids, max_size=4), max_leaves=12)
AMOUNTS = st.sampled_from(["1.00", "0.01", "+1.00", "1.", ".5", "\uff11.\uff10\uff10",
                           "-1.00", "1e3", "00001.00", "1.001", "", " 1.00",
                           "99999999999999999999.99"]) | (
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str))
IBANS = st.sampled_from([PARTNER_IBAN, PARTNER2_IBAN, "DE00000000000000000000", "", "X" * 40])


@st.composite
def near_transfers(draw: st.DrawFn) -> dict[str, Any]:
    """A transfer body with some of its parts replaced by hostile values."""
    body: dict[str, Any] = {
        "debtorAccount": {"iban": draw(IBANS)},
        "creditorAccount": {"iban": draw(IBANS)},
        "instructedAmount": {"currency": draw(st.sampled_from(["EUR", "eur", "XXX", "", "EURO"])),
                             "amount": draw(AMOUNTS)},
        "endToEndIdentification": draw(st.text(max_size=40)),
    }
    for key in draw(st.lists(st.sampled_from(list(body)), max_size=2)):
        body[key] = draw(JSON)
    return body


@pytest.fixture(scope="module")
def bank(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    with start_bank(tmp_path_factory.mktemp("fuzz"), pki_dir) as b:
        yield b


@pytest.fixture(scope="module")
def partner(bank: Bank) -> Iterator[httpx.Client]:
    with bank.client("partner") as c:
        yield c


@pytest.fixture(scope="module")
def totals_before(bank: Bank) -> dict[str, int]:
    return bank.core.ledger.totals()


def assert_refused_cleanly(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"]


@given(JSON)
def test_any_json_as_a_transfer(partner: httpx.Client, totals_before: dict[str, int],
                                bank: Bank, body: Any) -> None:
    r = partner.post("/v1/transfers", content=json.dumps(body),
                     headers={"content-type": "application/json",
                              "idempotency-key": str(uuid.uuid4())})
    assert_refused_cleanly(r)
    assert bank.core.ledger.totals() == totals_before


@given(near_transfers())
def test_near_valid_transfers(partner: httpx.Client, totals_before: dict[str, int], bank: Bank,
                              body: dict[str, Any]) -> None:
    """Bodies close to valid ones reach deeper: each is booked (201) or refused cleanly, and
    an internal transfer never changes a currency's total."""
    r = partner.post("/v1/transfers", json=body, headers={"idempotency-key": str(uuid.uuid4())})
    assert_refused_cleanly(r)
    assert bank.core.ledger.totals() == totals_before


@given(st.binary(max_size=400))
def test_any_bytes_as_a_soap_envelope(bank: Bank, body: bytes) -> None:
    """The SOAP endpoint answers bytes of any kind with a SOAP Fault, never a crash."""
    with bank.client("legacy") as c:
        r = c.post("/soap/v1", content=body, headers={"content-type": "text/xml"})
    assert r.status_code in (400, 500), r.status_code  # WS-I BP R1126: a Fault is 500
    assert b"Fault" in r.content
    assert b"Traceback" not in r.content


@given(st.sampled_from(["TransferFunds", "PayBill", "GetBalance", "GetPayment",
                        "ListTransactions"]), st.binary(max_size=300))
def test_any_bytes_as_a_grpc_request(bank: Bank, method: str, body: bytes) -> None:
    """Raw bytes to a unary method: a clear status (or an answer), never UNKNOWN/INTERNAL."""
    async def call() -> grpc.StatusCode:
        async with Env(bank.core, bank.adapter).channel("internal") as ch:
            try:
                await ch.unary_unary(f"/bank.adapter.v1.BankingService/{method}")(
                    body, timeout=10)
            except grpc.aio.AioRpcError as err:
                return err.code()
            return grpc.StatusCode.OK

    code = run(call())
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                        grpc.StatusCode.UNAVAILABLE), code
    assert bank.core.ledger.totals() == bank_totals(bank)


def test_still_serving_and_totals_unchanged(bank: Bank, partner: httpx.Client,
                                            totals_before: dict[str, int]) -> None:
    assert partner.get("/v1/accounts").status_code == 200
    assert bank.core.ledger.totals() == totals_before


_TOTALS: dict[int, dict[str, int]] = {}


def bank_totals(bank: Bank) -> dict[str, int]:
    """The totals when the module's bank started (taken on first use)."""
    return _TOTALS.setdefault(id(bank), bank.core.ledger.totals())
