"""A second customer cannot see or move the first one's accounts through any customer route,
and every route refuses a caller without its proofs (table-driven over every route)."""

from __future__ import annotations

import pytest

from examples.mobile_device import MobileApp, transfer_body
from tests.customers.conftest import CustomerBank

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
