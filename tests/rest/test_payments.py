"""Transfers, bill payments and payment status over mutual TLS, checked against the ledger."""

from __future__ import annotations

import httpx

from adapter.model.accounts import make_iban
from tests.rest.conftest import PARTNER2_IBAN, PARTNER_IBAN, Bank, new_key, transfer_body

ELEC01_ACCOUNT = "90000001"


def test_transfer_books_and_answers_201(bank: Bank, partner: httpx.Client) -> None:
    """A transfer is 201 with the payment resource and Location; the ledger moves 12.50."""
    before = bank.booked("10000001"), bank.booked("10000002")
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                     json=transfer_body("12.50"))
    assert r.status_code == 201, r.text
    body = r.json()
    payment_id = body["paymentId"]
    assert r.headers["location"] == f"/v1/payments/{payment_id}"
    assert "idempotent-replayed" not in r.headers
    assert {k: body[k] for k in (
        "paymentType", "transactionStatus", "status", "debtorAccount", "creditorAccount",
        "billerId", "instructedAmount", "endToEndIdentification",
        "remittanceInformationUnstructured", "reasonCode")} == {
        "paymentType": "transfer", "transactionStatus": "ACSC", "status": "booked",
        "debtorAccount": {"id": "10000001", "iban": PARTNER_IBAN},
        "creditorAccount": {"id": "10000002", "iban": PARTNER2_IBAN},
        "billerId": None, "instructedAmount": {"currency": "EUR", "amount": "12.50"},
        "endToEndIdentification": "INV-2026-0042",
        "remittanceInformationUnstructured": "invoice 42", "reasonCode": None}
    assert body["transactionId"]
    assert body["_links"]["self"] == {"href": f"/v1/payments/{payment_id}"}
    assert (bank.booked("10000001"), bank.booked("10000002")) == (before[0] - 1250,
                                                                  before[1] + 1250)


def test_get_payment_reports_iso20022_status(partner: httpx.Client) -> None:
    """GET /v1/payments/{id} answers the same resource, ACSC once booked."""
    created = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                           json=transfer_body("0.10")).json()
    r = partner.get(f"/v1/payments/{created['paymentId']}")
    assert r.status_code == 200
    assert r.json() == created


def test_bill_payment_books_to_the_biller(bank: Bank, partner: httpx.Client) -> None:
    """A bill payment names the biller and the customer's reference and credits the biller."""
    before = bank.booked("10000001"), bank.booked(ELEC01_ACCOUNT)
    r = partner.post("/v1/bill-payments", headers={"Idempotency-Key": new_key()}, json={
        "debtorAccount": {"id": "10000001"}, "billerId": "ELEC01",
        "customerReference": "CUST-778812",
        "instructedAmount": {"currency": "EUR", "amount": "45.00"},
        "endToEndIdentification": "BILL-2026-0007"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/payments/{body['paymentId']}"
    assert (body["paymentType"], body["transactionStatus"], body["billerId"],
            body["customerReference"], body["creditorAccount"]) == (
        "bill_payment", "ACSC", "ELEC01", "CUST-778812", None)
    assert (bank.booked("10000001"), bank.booked(ELEC01_ACCOUNT)) == (before[0] - 4500,
                                                                      before[1] + 4500)


def test_unknown_biller_is_404_and_moves_nothing(bank: Bank, partner: httpx.Client) -> None:
    """A biller the core does not know is BILLER_NOT_FOUND; the debtor keeps its money."""
    before = bank.booked("10000001")
    r = partner.post("/v1/bill-payments", headers={"Idempotency-Key": new_key()}, json={
        "debtorAccount": {"id": "10000001"}, "billerId": "NOPE99", "customerReference": "C1",
        "instructedAmount": {"currency": "EUR", "amount": "1.00"},
        "endToEndIdentification": "BILL-X"})
    assert r.status_code == 404
    assert r.json()["code"] == "BILLER_NOT_FOUND"
    assert bank.booked("10000001") == before


def test_insufficient_funds_is_422_and_moves_nothing(bank: Bank, partner: httpx.Client) -> None:
    """More than balance plus overdraft is INSUFFICIENT_FUNDS, with the payment's id."""
    before = bank.booked("10000002"), bank.booked("10000001")
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                     json=transfer_body("999999.00", debtor=PARTNER2_IBAN,
                                        creditor=PARTNER_IBAN))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert (problem["code"], problem["status"]) == ("INSUFFICIENT_FUNDS", 422)
    assert problem["type"] == "urn:bank-adapter:problem:insufficient-funds"
    status = partner.get(f"/v1/payments/{problem['paymentId']}").json()
    assert (status["transactionStatus"], status["reasonCode"]) == ("RJCT", "INSUFFICIENT_FUNDS")
    assert (bank.booked("10000002"), bank.booked("10000001")) == before


def test_currency_mismatch_is_422(bank: Bank, partner: httpx.Client) -> None:
    """EUR to a USD account is CURRENCY_MISMATCH, refused before the core is called."""
    before = bank.booked("10000001")
    usd_iban = bank.core.ledger.get_account("10000004").iban
    assert usd_iban is not None
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                     json=transfer_body("1.00", creditor=usd_iban))
    assert r.status_code == 422
    assert r.json()["code"] == "CURRENCY_MISMATCH"
    assert bank.booked("10000001") == before


def test_unknown_creditor_is_404(bank: Bank, partner: httpx.Client) -> None:
    """A valid IBAN the bank does not hold is ACCOUNT_NOT_FOUND."""
    before = bank.booked("10000001")
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                     json=transfer_body("1.00", creditor=make_iban("DE", "500105170000000099")))
    assert r.status_code == 404
    assert r.json()["code"] == "ACCOUNT_NOT_FOUND"
    assert bank.booked("10000001") == before


def test_partner_cannot_debit_another_callers_account(bank: Bank,
                                                      partner: httpx.Client) -> None:
    """Debiting the legacy caller's account is FORBIDDEN and moves nothing."""
    before = bank.booked("10000003")
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()}, json={
        **transfer_body("1.00"), "debtorAccount": {"id": "10000003"}})
    assert r.status_code == 403
    assert r.json()["code"] == "FORBIDDEN"
    assert bank.booked("10000003") == before


def test_another_callers_payment_is_not_found(partner: httpx.Client,
                                              legacy: httpx.Client) -> None:
    """A payment between the partner's accounts is invisible (404) to the legacy caller."""
    payment_id = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                              json=transfer_body("0.01")).json()["paymentId"]
    r = legacy.get(f"/v1/payments/{payment_id}")
    assert r.status_code == 404
    assert r.json()["code"] == "PAYMENT_NOT_FOUND"


def test_lost_core_reply_is_resolved_and_books_once(bank: Bank, partner: httpx.Client,
                                                    faults) -> None:
    """When the core books but its reply is lost, the adapter resolves it: 201, moved once."""
    partner.get("/v1/accounts/10000001")  # warm the account directory
    before = bank.booked("10000001")
    faults.update(drop_next=1, drop_mode="reset")
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                     json=transfer_body("3.00"))
    assert r.status_code == 201, r.text
    assert r.json()["transactionStatus"] == "ACSC"
    assert bank.booked("10000001") == before - 300


def test_core_refusing_is_503_and_releases_the_key(bank: Bank, partner: httpx.Client,
                                                   faults) -> None:
    """A core system error is CORE_UNAVAILABLE (503); the same key then succeeds once."""
    before = bank.booked("10000001")
    key = new_key()
    faults.update(fail_next=1)
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                     json=transfer_body("2.00"))
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "CORE_UNAVAILABLE"
    assert bank.booked("10000001") == before
    retry = partner.post("/v1/transfers", headers={"Idempotency-Key": key},
                         json=transfer_body("2.00"))
    assert retry.status_code == 201
    assert bank.booked("10000001") == before - 200
