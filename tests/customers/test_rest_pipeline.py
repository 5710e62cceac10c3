"""The customer routes run on the one call pipeline: its correlation id, its control-character
check, its observers (which see the customer as the principal), and the customer resolver
only on the customer API (a customer token on the partner API moves nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapter.model.errors import AdapterError
from adapter.services.pipeline import Call
from examples.mobile_device import MobileApp, transfer_body
from tests.customers.conftest import CustomerBank

A1, A2 = "10000001", "10000002"
IBAN1, IBAN2 = "DE89370400440532013000", "DE02120300000000202051"


@pytest.fixture(scope="module")
def carol(cbank: CustomerBank) -> MobileApp:
    return cbank.enrolled(cbank.add("pipe-carol", {A1}))


@pytest.fixture
def seen(cbank: CustomerBank) -> Iterator[list[tuple[str, str, str, str | None]]]:
    """(edge, operation, principal id, error code) of every call the pipeline finishes."""
    out: list[tuple[str, str, str, str | None]] = []

    def observe(call: Call, error: AdapterError | None) -> None:
        who = call.principal.id if call.principal is not None else "-"
        out.append((call.edge.name, call.operation, who, error.code if error else None))

    pipeline = cbank.bank.adapter.services.pipeline
    pipeline.add_observer(observe)
    try:
        yield out
    finally:
        pipeline.remove_observer(observe)


def test_a_customer_call_is_observed_with_the_customer_as_principal(
        cbank: CustomerBank, carol: MobileApp,
        seen: list[tuple[str, str, str, str | None]]) -> None:
    """The pipeline's observers (log line, metrics, audit) see the route template and the
    customer's principal id, never the relay's."""
    cid = cbank.store(cbank.customers.store.find_customer("pipe-carol")).customer_id
    r = carol.call("GET", "/v1/customer/accounts", headers={"X-Request-ID": "pipe-1"},
                   expect=200)
    assert r.headers["x-request-id"] == "pipe-1"
    refused = carol.call("GET", f"/v1/customer/accounts/{A2}/balances",
                         headers={"X-Request-ID": "pipe-2"})
    assert refused.status_code == 403
    assert refused.json()["correlation_id"] == "pipe-2"
    assert seen == [
        ("rest-customer", "GET /v1/customer/accounts", f"customer:{cid}", None),
        ("rest-customer", "GET /v1/customer/accounts/{account_id}/balances",
         f"customer:{cid}", "FORBIDDEN"),
    ]


def test_an_open_route_acts_for_the_relay(cbank: CustomerBank,
                                          seen: list[tuple[str, str, str, str | None]]) -> None:
    """Login options are the relay's call: the principal is the `mobile` caller."""
    app = cbank.app()
    app.call("POST", "/v1/customer/login/start", auth=False, proof=False, expect=200)
    app.http.close()
    assert seen == [("rest-customer", "POST /v1/customer/login/start", "mobile", None)]


def test_a_control_character_is_refused_before_authentication(cbank: CustomerBank,
                                                              carol: MobileApp) -> None:
    """The pipeline's refuse_control step: 400 naming the parameter, even without a token."""
    for app in (carol, cbank.app()):
        r = app.http.get(f"/v1/customer/accounts/{A1}/transactions",
                         params={"dateFrom": "2026-01-01\x01"})
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "VALIDATION"
        assert r.json()["violations"][0]["field"] == "dateFrom"
        assert r.headers["cache-control"] == "no-store"


def test_a_customer_token_is_nothing_on_the_partner_api(cbank: CustomerBank,
                                                        carol: MobileApp) -> None:
    """Resolver Rule 1: the partner API runs no strong customer authentication, so a
    customer's token and proof there are not a customer: the relay's certificate alone is
    what is judged, and it may do nothing. The ledger does not move."""
    before = (cbank.booked(A1), cbank.booked(A2))
    body = {"debtorAccount": {"iban": IBAN1}, "creditorAccount": {"iban": IBAN2},
            "instructedAmount": {"currency": "EUR", "amount": "500.00"},
            "endToEndIdentification": "NO-SCA-BYPASS"}
    paid = carol.call("POST", "/v1/transfers", body, headers={"Idempotency-Key": "bypass-1"})
    assert paid.status_code == 403, paid.text
    assert paid.json()["code"] == "FORBIDDEN"
    listed = carol.call("GET", "/v1/accounts")
    assert listed.status_code == 403 and listed.json()["code"] == "FORBIDDEN"
    assert (cbank.booked(A1), cbank.booked(A2)) == before
    # The same customer and token on the customer API: still needs its own SCA.
    needs = carol.transfer(transfer_body("500.00", {"iban": IBAN2}, {"id": A1}), sca=False)
    assert needs.status_code == 401 and needs.json()["code"] == "SCA_REQUIRED"
    assert (cbank.booked(A1), cbank.booked(A2)) == before


def test_two_dpop_headers_are_refused(cbank: CustomerBank, carol: MobileApp) -> None:
    """RFC 9449 section 4.3 item 1: exactly one DPoP header field."""
    url = carol.url("/v1/customer/accounts")
    proofs = [("DPoP", carol.device.dpop("GET", url, access_token=carol.access_token))
              for _ in range(2)]
    r = carol.http.get("/v1/customer/accounts", headers=[
        ("Authorization", f"DPoP {carol.access_token}"), *proofs])
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "INVALID_DPOP_PROOF"
    assert 'error="invalid_dpop_proof"' in r.headers["www-authenticate"]


def test_two_dpop_headers_at_login_are_refused(cbank: CustomerBank, carol: MobileApp) -> None:
    """The token endpoints too: a login carrying two proofs issues no token."""
    start = carol.call("POST", "/v1/customer/login/start", auth=False, proof=False,
                       expect=200).json()
    url = carol.url("/v1/customer/login")
    body = {"username": "pipe-carol", "password": "correct horse battery",
            "challengeId": start["challengeId"],
            "assertion": carol.device.assert_(start["publicKey"])}
    r = carol.http.post("/v1/customer/login", json=body, headers=[
        ("DPoP", carol.device.dpop("POST", url)), ("DPoP", carol.device.dpop("POST", url))])
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "INVALID_DPOP_PROOF"
