"""A second customer cannot see or move the first one's accounts through any customer route,
and every route refuses a caller without its proofs (table-driven over every route)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapter.services.customers import totp
from examples.mobile_device import MobileApp, transfer_body
from tests.customers.conftest import CustomerBank
from tests.customers.support import PASSWORD

A1, A2, A3 = "10000001", "10000002", "10000003"
IBAN1 = "DE89370400440532013000"

ROUTES = [
    # (method, path, body, expected status for bob acting on alice's account or payment)
    ("GET", f"/v1/customer/accounts/{A1}/balances", None, 403),
    ("GET", f"/v1/customer/accounts/{IBAN1}/balances", None, 403),
    ("GET", f"/v1/customer/accounts/{A1}/transactions", None, 403),
    ("POST", "/v1/customer/transfers",
     {"payment": transfer_body("1.00", {"id": A2}, {"id": A1})}, 403),
    ("POST", "/v1/customer/transfers",
     {"payment": transfer_body("1.00", {"id": A2}, {"iban": IBAN1})}, 403),
    ("POST", "/v1/customer/bill-payments", {"payment": {
        "debtorAccount": {"id": A1}, "billerId": "ELEC01", "customerReference": "C-1",
        "instructedAmount": {"currency": "EUR", "amount": "1.00"},
        "endToEndIdentification": "BILL-X"}}, 403),
    ("GET", "/v1/customer/payments/{alice_payment}", None, 404),
    ("DELETE", "/v1/customer/devices/{alice_device}", None, 404),
]


@pytest.fixture(scope="module")
def pair(cbank: CustomerBank) -> tuple[MobileApp, MobileApp, str, str]:
    alice = cbank.enrolled(cbank.add("iso-alice", {A1}))
    bob = cbank.enrolled(cbank.add("iso-bob", {A2}))
    cbank.store(cbank.customers.store.add_payee(
        cbank.store(cbank.customers.store.find_customer("iso-alice")).customer_id, f"id:{A3}"))
    # To a third party: a payment *to* Bob is his to see (the payee's view, as for any
    # caller of PaymentService.get_payment), so it would prove nothing here.
    paid = alice.transfer(transfer_body("1.00", {"id": A3}, {"id": A1}), sca=False)
    assert paid.status_code == 201, paid.text
    devices = alice.call("GET", "/v1/customer/devices", expect=200).json()["devices"]
    return alice, bob, paid.json()["paymentId"], devices[0]["deviceId"]


@pytest.mark.parametrize(("method", "path", "body", "status"), ROUTES)
def test_bob_cannot_use_alices_accounts(cbank: CustomerBank, pair: tuple[MobileApp, MobileApp,
                                        str, str], method: str, path: str, body: object,
                                        status: int) -> None:
    """Refused with FORBIDDEN (or absent, for ids), and the ledger does not move."""
    alice, bob, payment_id, device_id = pair
    path = path.format(alice_payment=payment_id, alice_device=device_id)
    before = (cbank.booked(A1), cbank.booked(A2), cbank.booked(A3))
    headers = {"Idempotency-Key": f"iso-{method}-{path}"} if method == "POST" else None
    r = bob.call(method, path, body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (cbank.booked(A1), cbank.booked(A2), cbank.booked(A3)) == before
    # Alice's device is still there and she still works.
    assert alice.call("GET", f"/v1/customer/accounts/{A1}/balances").status_code == 200


def test_bob_lists_only_his_own_accounts(pair: tuple[MobileApp, MobileApp, str, str]) -> None:
    _, bob, _, _ = pair
    accounts = bob.call("GET", "/v1/customer/accounts", expect=200).json()["accounts"]
    assert [a["resourceId"] for a in accounts] == [A2]


AUTH_ROUTES = [
    ("GET", "/v1/customer/accounts", None),
    ("GET", f"/v1/customer/accounts/{A1}/balances", None),
    ("GET", f"/v1/customer/accounts/{A1}/transactions", None),
    ("GET", "/v1/customer/devices", None),
    ("DELETE", "/v1/customer/devices/x", None),
    ("POST", "/v1/customer/sca/challenges", {}),
    ("POST", "/v1/customer/transfers", {}),
    ("POST", "/v1/customer/bill-payments", {}),
    ("GET", "/v1/customer/payments/x", None),
    ("POST", "/v1/customer/logout", None),
]


@pytest.mark.parametrize(("method", "path", "body"), AUTH_ROUTES)
@pytest.mark.parametrize("case", ["no token", "bogus token", "bearer", "no proof",
                                  "other device"])
def test_every_token_route_refuses_without_its_proofs(
        cbank: CustomerBank, pair: tuple[MobileApp, MobileApp, str, str], method: str,
        path: str, body: object, case: str) -> None:
    """401 with a WWW-Authenticate DPoP challenge, whatever the route."""
    alice = pair[0]
    app = cbank.app()
    headers: dict[str, str] = {}
    if case == "no token":
        r = app.call(method, path, body, auth=False)
    elif case == "bogus token":
        app.access_token = "at_" + "x" * 43
        r = app.call(method, path, body)
    elif case == "bearer":
        headers["Authorization"] = f"Bearer {alice.access_token}"
        r = app.call(method, path, body, auth=False, headers=headers)
    elif case == "no proof":
        r = alice.call(method, path, body, proof=False)
    else:
        app.access_token = alice.access_token
        r = app.call(method, path, body)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith('DPoP algs="ES256"')
    assert r.json()["code"] in ("INVALID_TOKEN", "INVALID_DPOP_PROOF")
    app.http.close()


@pytest.mark.parametrize("cert", ["partner", "internal", "stranger"])
def test_only_the_mobile_relay_reaches_customer_routes(cbank: CustomerBank,
                                                       pair: tuple[MobileApp, MobileApp, str,
                                                                   str], cert: str) -> None:
    """A customer's valid token and proof are not enough from another caller: 403. (Without
    any client certificate the TLS handshake itself fails, as on every route.)"""
    alice = pair[0]
    with cbank.bank.client(cert) as client:
        r = client.get("/v1/customer/accounts", headers={
            "Authorization": f"DPoP {alice.access_token}",
            "DPoP": alice.device.dpop("GET", f"{cbank.bank.adapter.base_url}"
                                      "/v1/customer/accounts", access_token=alice.access_token)})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "FORBIDDEN"


# -- every customer route, one row at least each -------------------------------------------

IBAN2 = "DE02120300000000202051"


@dataclass
class Party:
    app: MobileApp
    username: str
    totp_secret: str
    device_id: str = ""
    payment_id: str = ""
    spent_enrolment: str = ""


def _bill(debtor: dict[str, str]) -> dict[str, Any]:
    return {"debtorAccount": debtor, "billerId": "ELEC01", "customerReference": "C-9",
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
            "endToEndIdentification": "EVERY-BILL"}


def _post(bob: Party, path: str, body: Any) -> httpx.Response:
    return bob.app.call("POST", path, body, headers={"Idempotency-Key": str(uuid.uuid4())})


def _login_with_bobs_device(cbank: CustomerBank, alice: Party, bob: Party) -> httpx.Response:
    """Alice's username and password (the attacker knows them), Bob's enrolled device."""
    return bob.app.login(alice.username, PASSWORD)


def _refresh_alices_token(cbank: CustomerBank, alice: Party, bob: Party) -> httpx.Response:
    """Alice's refresh token (stolen), with a DPoP proof by Bob's device key."""
    return bob.app.call("POST", "/v1/customer/token",
                        {"refresh_token": alice.app.refresh_token}, auth=False)


def _finish_alices_enrolment(cbank: CustomerBank, alice: Party, bob: Party) -> httpx.Response:
    """Alice's enrolment challenge (spent when she enrolled) finished with Bob's key."""
    options = {"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    return bob.app.call("POST", "/v1/customer/enrolment/finish", {
        "challengeId": alice.spent_enrolment, "credential": bob.app.device.register(options),
        "deviceName": "bob's phone"}, auth=False, proof=False)


def _enrol_with_bobs_code(cbank: CustomerBank, alice: Party, bob: Party) -> httpx.Response:
    """Alice's username and password with a one-time code of Bob's secret."""
    return bob.app.call("POST", "/v1/customer/enrolment/start", {
        "username": alice.username, "password": PASSWORD,
        "otp": totp.code_at(bob.totp_secret, cbank.customers.now())}, auth=False, proof=False)


def _logout_bob(cbank: CustomerBank, alice: Party, bob: Party) -> httpx.Response:
    """Bob's logout ends Bob's session only (he logs in again for the other rows)."""
    r = bob.app.logout()
    assert bob.app.call("GET", "/v1/customer/accounts").status_code == 401
    assert bob.app.login(bob.username, PASSWORD).status_code == 200
    return r


Attack = Callable[[CustomerBank, Party, Party], httpx.Response]

EVERY_ROUTE: list[tuple[str, str, Attack, int, str | None]] = [
    ("POST /v1/customer/enrolment/start", "alice's password, bob's code",
     _enrol_with_bobs_code, 401, "INVALID_CREDENTIALS"),
    ("POST /v1/customer/enrolment/finish", "alice's challenge, bob's key",
     _finish_alices_enrolment, 401, "CHALLENGE_REFUSED"),
    ("POST /v1/customer/login/start", "options name nobody",
     lambda c, a, b: b.app.call("POST", "/v1/customer/login/start", auth=False, proof=False),
     200, None),
    ("POST /v1/customer/login", "alice's password, bob's device",
     _login_with_bobs_device, 401, "INVALID_CREDENTIALS"),
    ("POST /v1/customer/token", "alice's refresh token, bob's proof",
     _refresh_alices_token, 401, "INVALID_DPOP_PROOF"),
    ("POST /v1/customer/logout", "bob's own session only", _logout_bob, 204, None),
    ("GET /v1/customer/devices", "bob's own devices only",
     lambda c, a, b: b.app.call("GET", "/v1/customer/devices"), 200, None),
    ("DELETE /v1/customer/devices/{device_id}", "alice's device",
     lambda c, a, b: b.app.call("DELETE", f"/v1/customer/devices/{a.device_id}"),
     404, "NOT_FOUND"),
    ("GET /v1/customer/accounts", "bob's own accounts only",
     lambda c, a, b: b.app.call("GET", "/v1/customer/accounts"), 200, None),
    ("GET /v1/customer/accounts/{account_id}/balances", "alice's id",
     lambda c, a, b: b.app.call("GET", f"/v1/customer/accounts/{A1}/balances"),
     403, "FORBIDDEN"),
    ("GET /v1/customer/accounts/{account_id}/balances", "alice's IBAN",
     lambda c, a, b: b.app.call("GET", f"/v1/customer/accounts/{IBAN1}/balances"),
     403, "FORBIDDEN"),
    ("GET /v1/customer/accounts/{account_id}/transactions", "alice's id",
     lambda c, a, b: b.app.call("GET", f"/v1/customer/accounts/{A1}/transactions"),
     403, "FORBIDDEN"),
    ("GET /v1/customer/accounts/{account_id}/transactions", "alice's IBAN",
     lambda c, a, b: b.app.call("GET", f"/v1/customer/accounts/{IBAN1}/transactions"),
     403, "FORBIDDEN"),
    ("POST /v1/customer/sca/challenges", "a challenge debiting alice",
     lambda c, a, b: b.app.call("POST", "/v1/customer/sca/challenges", {
         "kind": "transfer", "payment": transfer_body("500.00", {"id": A2}, {"id": A1})}),
     403, "FORBIDDEN"),
    ("POST /v1/customer/transfers", "debiting alice's id",
     lambda c, a, b: _post(b, "/v1/customer/transfers", {
         "payment": transfer_body("1.00", {"id": A2}, {"id": A1})}), 403, "FORBIDDEN"),
    ("POST /v1/customer/transfers", "debiting alice's IBAN, to bob's IBAN",
     lambda c, a, b: _post(b, "/v1/customer/transfers", {
         "payment": transfer_body("1.00", {"iban": IBAN2}, {"iban": IBAN1})}),
     403, "FORBIDDEN"),
    ("POST /v1/customer/bill-payments", "debiting alice",
     lambda c, a, b: _post(b, "/v1/customer/bill-payments", {"payment": _bill({"id": A1})}),
     403, "FORBIDDEN"),
    ("GET /v1/customer/payments/{payment_id}", "alice's payment",
     lambda c, a, b: b.app.call("GET", f"/v1/customer/payments/{a.payment_id}"),
     404, "PAYMENT_NOT_FOUND"),
]


def _party(cbank: CustomerBank, username: str, account: str) -> Party:
    new = cbank.add(username, {account})
    app = cbank.app()
    start = app.call("POST", "/v1/customer/enrolment/start", {
        "username": username, "password": PASSWORD,
        "otp": totp.code_at(new.totp_secret, cbank.customers.now())},
        auth=False, proof=False, expect=200).json()
    finish = app.call("POST", "/v1/customer/enrolment/finish", {
        "challengeId": start["challengeId"], "credential": app.device.register(
            start["publicKey"]), "deviceName": f"{username}'s phone"},
        auth=False, proof=False, expect=201).json()
    assert app.login(username, PASSWORD).status_code == 200
    return Party(app, username, new.totp_secret, finish["deviceId"],
                 spent_enrolment=start["challengeId"])


@pytest.fixture(scope="module")
def parties(cbank: CustomerBank) -> tuple[Party, Party]:
    alice, bob = _party(cbank, "every-alice", A1), _party(cbank, "every-bob", A2)
    cid = cbank.store(cbank.customers.store.find_customer("every-alice")).customer_id
    cbank.store(cbank.customers.store.add_payee(cid, f"id:{A3}"))
    paid = alice.app.transfer(transfer_body("1.00", {"id": A3}, {"id": A1}), sca=False)
    assert paid.status_code == 201, paid.text
    alice.payment_id = paid.json()["paymentId"]
    return alice, bob


def test_the_table_names_every_customer_route(cbank: CustomerBank) -> None:
    """A new customer route fails here until it has a row below."""
    from adapter.frontends.rest.customer import CustomerApi

    api = CustomerApi(cbank.customers, cbank.bank.services, cbank.bank.adapter.app.settings)
    routes = {f"{m} {r.path}" for r in api.routes() for m in (r.methods or ()) if m != "HEAD"}
    assert routes == {row[0] for row in EVERY_ROUTE}


@pytest.mark.parametrize(("route", "case", "attack", "status", "code"), EVERY_ROUTE,
                         ids=[f"{row[0]} ({row[1]})" for row in EVERY_ROUTE])
def test_bob_cannot_reach_alice_through_any_route(
        cbank: CustomerBank, parties: tuple[Party, Party], route: str, case: str,
        attack: Attack, status: int, code: str | None) -> None:
    """Bob, enrolled and logged in on his own device behind the same relay, tries each
    route on Alice's accounts, payment, device, challenge and tokens: refused, or answered
    with Bob's own data only; the ledger, Alice's devices and Alice's session unchanged."""
    alice, bob = parties
    ledger = (cbank.booked(A1), cbank.booked(A2), cbank.booked(A3))
    alices_devices = alice.app.call("GET", "/v1/customer/devices", expect=200).json()
    r = attack(cbank, alice, bob)
    assert r.status_code == status, r.text
    if code is not None:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == code
    asked = str(r.request.url) + r.request.content.decode()
    for secret in (alice.device_id, alice.payment_id, A1, IBAN1):
        # Echoing what Bob sent is not a leak; anything else of Alice's is.
        if secret not in asked:
            assert secret not in r.text, f"{route} shows Alice's {secret!r} to Bob"
    if route == "GET /v1/customer/accounts":
        assert [a["resourceId"] for a in r.json()["accounts"]] == [A2]
    if route == "GET /v1/customer/devices":
        assert [d["deviceId"] for d in r.json()["devices"]] == [bob.device_id]
    if route == "POST /v1/customer/login/start":
        assert "allowCredentials" not in r.json()["publicKey"] or \
            r.json()["publicKey"]["allowCredentials"] == []
    assert (cbank.booked(A1), cbank.booked(A2), cbank.booked(A3)) == ledger
    assert alice.app.call("GET", "/v1/customer/devices", expect=200).json() == alices_devices
    assert alice.app.call("GET", f"/v1/customer/accounts/{A1}/balances").status_code == 200
    assert alice.app.refresh().status_code == 200  # her refresh token was not spent
