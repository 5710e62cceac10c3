"""Idempotency-Key on POST, per draft-ietf-httpapi-idempotency-key-header, with the ledger
checked: a replayed transfer moves money once."""

from __future__ import annotations

import threading

import httpx

from tests.rest.conftest import (
    PARTNER2_IBAN,
    PARTNER_IBAN,
    Bank,
    new_key,
    transfer_body,
)


def test_missing_key_is_400_and_moves_nothing(bank: Bank, partner: httpx.Client) -> None:
    """A POST without Idempotency-Key is refused, naming the header."""
    before = bank.booked("10000001")
    for path in ("/v1/transfers", "/v1/bill-payments"):
        r = partner.post(path, json=transfer_body("1.00"))
        assert r.status_code == 400
        problem = r.json()
        assert problem["code"] == "VALIDATION"
        # The key first; a body that is wrong too (a transfer sent as a bill payment) is
        # reported in the same answer.
        assert problem["violations"][0] == {"field": "Idempotency-Key",
                                            "description": "1 to 255 visible ASCII characters"}
    assert bank.booked("10000001") == before


def test_replay_returns_the_stored_answer_and_moves_money_once(
        bank: Bank, partner: httpx.Client) -> None:
    """The same key and body twice: the same 201 body, marked replayed, one ledger movement."""
    before = bank.booked("10000001"), bank.booked("10000002")
    key = new_key()
    first = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                         json=transfer_body("7.00"))
    second = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                          json=transfer_body("7.00"))
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert (bank.booked("10000001"), bank.booked("10000002")) == (before[0] - 700,
                                                                  before[1] + 700)


def test_replay_matches_the_canonical_request_not_the_bytes(bank: Bank,
                                                            partner: httpx.Client) -> None:
    """Reordered fields and a spaced, lower-case IBAN are the same request: a replay."""
    key = new_key()
    first = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                         json=transfer_body("0.50"))
    assert first.status_code == 201, first.text
    before = bank.booked("10000001")
    spaced = "de89 3704 0044 0532 0130 00"
    body = dict(reversed(list(transfer_body("0.50", debtor=spaced).items())))
    second = partner.post("/v1/transfers", headers={"Idempotency-Key": key}, json=body)
    assert second.status_code == 201
    assert second.json()["paymentId"] == first.json()["paymentId"]
    assert bank.booked("10000001") == before


def test_same_key_different_payload_is_422(bank: Bank, partner: httpx.Client) -> None:
    """Reusing a key for another amount is IDEMPOTENCY_CONFLICT and moves nothing more."""
    key = new_key()
    assert partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                        json=transfer_body("1.00")).status_code == 201
    before = bank.booked("10000001")
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                     json=transfer_body("2.00"))
    assert r.status_code == 422
    assert r.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert bank.booked("10000001") == before


def test_refusal_is_replayed_too(bank: Bank, partner: httpx.Client) -> None:
    """A completed refusal replays as the same problem, for the same payment."""
    key = new_key()
    body = transfer_body("999999.00", debtor=PARTNER2_IBAN, creditor=PARTNER_IBAN)
    first = partner.post("/v1/transfers", headers={"Idempotency-Key": key}, json=body)
    second = partner.post("/v1/transfers", headers={"Idempotency-Key": key}, json=body)
    assert (first.status_code, second.status_code) == (422, 422)
    strip = {"correlation_id"}
    assert ({k: v for k, v in second.json().items() if k not in strip}
            == {k: v for k, v in first.json().items() if k not in strip})
    assert second.json()["code"] == "INSUFFICIENT_FUNDS"


def test_keys_are_scoped_to_the_caller(bank: Bank, partner: httpx.Client,
                                       legacy: httpx.Client) -> None:
    """Two callers using one key make two independent payments."""
    key = new_key()
    before = {acc: bank.booked(acc) for acc in ("10000001", "10000002", "10000003")}
    a = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                     json=transfer_body("1.00"))
    b = legacy.post("/v1/transfers", headers={"Idempotency-Key": key}, json={
        **transfer_body("1.00", creditor=PARTNER_IBAN), "debtorAccount": {"id": "10000003"}})
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["paymentId"] != b.json()["paymentId"]
    # partner: 10000001 -> 10000002; legacy: 10000003 -> 10000001; 1.00 each, both booked.
    assert {acc: bank.booked(acc) for acc in before} == {
        "10000001": before["10000001"], "10000002": before["10000002"] + 100,
        "10000003": before["10000003"] - 100}


def test_retry_while_running_is_409_then_replays(bank: Bank, partner: httpx.Client,
                                                 faults) -> None:
    """While the first request waits on a slow core, a retry is REQUEST_IN_PROGRESS; after
    it completes the retry replays it, and the money moved once."""
    partner.get("/v1/accounts/10000001")  # warm the account directory
    before = bank.booked("10000001")
    key = new_key()
    faults.update(latency_ms=1500)
    first: list[httpx.Response] = []
    with bank.client("partner") as other:
        worker = threading.Thread(target=lambda: first.append(other.post(
            "/v1/transfers", headers={"Idempotency-Key": key}, json=transfer_body("4.00"))))
        worker.start()
        # The core holds the posting (faults Rule 4): so the key was claimed before it left.
        assert bank.core.faults.wait_delaying("PostTransfer", 1, 10)
        assert bank.run(bank.services.storage.keys.get("partner", key)) is not None
        retry = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                             json=transfer_body("4.00"))
        worker.join(15)
    faults.reset()
    assert not worker.is_alive(), "the first request did not complete"
    assert retry.status_code == 409
    assert retry.json()["code"] == "REQUEST_IN_PROGRESS"
    assert first[0].status_code == 201
    again = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                         json=transfer_body("4.00"))
    assert again.status_code == 201
    assert again.json()["paymentId"] == first[0].json()["paymentId"]
    assert bank.booked("10000001") == before - 400
