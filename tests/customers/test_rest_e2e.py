"""The app end to end over real mutual TLS with a software authenticator against a real
core_sim: enrol, login, balances, an exempt and a challenged transfer, a tampered amount,
logout, token reuse, lockout with its alert, unlock. Every transfer checks the ledger."""

from __future__ import annotations

from adapter.frontends.grpc.gen.bank.adapter.v1.customer_admin_pb2 import UnlockCustomerRequest
from adapter.frontends.grpc.gen.bank.adapter.v1.customer_admin_pb2_grpc import (
    CustomerAdminServiceStub,
)
from examples.mobile_device import transfer_body
from tests.customers.conftest import CustomerBank
from tests.customers.support import PASSWORD

A1, A2 = "10000001", "10000002"
IBAN2 = "DE02120300000000202051"


def test_the_app_end_to_end(cbank: CustomerBank) -> None:
    """The whole journey of the issue's "done when", in order."""
    new = cbank.add("erin", {A1})
    app = cbank.enrolled(new)
    cid = new.customer.customer_id
    # Trusted payee (RTS art. 13) for the exempt payment below: as the demo seed does.
    cbank.store(cbank.customers.store.add_payee(cid, f"id:{A2}"))

    accounts = app.call("GET", "/v1/customer/accounts", expect=200).json()["accounts"]
    assert [a["resourceId"] for a in accounts] == [A1]
    start1, start2 = cbank.booked(A1), cbank.booked(A2)
    assert app.balance(A1) * 100 == start1

    small = app.transfer(transfer_body("12.50", {"id": A2}, {"id": A1}), sca=False)
    assert small.status_code == 201, small.text
    assert small.json()["transactionStatus"] == "ACSC" and small.headers["sca"] == "exempt"
    assert (cbank.booked(A1), cbank.booked(A2)) == (start1 - 1250, start2 + 1250)

    big_body = transfer_body("250.00", {"iban": IBAN2}, {"id": A1}, e2e="BIG-1")
    needs = app.transfer(big_body, sca=False)
    assert needs.status_code == 401
    assert needs.json()["code"] == "SCA_REQUIRED"
    assert 'error="insufficient_user_authentication"' in needs.headers["www-authenticate"]
    assert (cbank.booked(A1), cbank.booked(A2)) == (start1 - 1250, start2 + 1250)

    tampered = app.transfer(big_body, sca=True,
                            tamper={"instructedAmount": {"currency": "EUR", "amount": "2500.00"}})
    assert tampered.status_code == 401 and tampered.json()["code"] == "INVALID_CREDENTIALS"
    assert (cbank.booked(A1), cbank.booked(A2)) == (start1 - 1250, start2 + 1250)

    key = "big-transfer-1"
    big = app.transfer(big_body, sca=True, key=key)
    assert big.status_code == 201, big.text
    assert big.json()["transactionStatus"] == "ACSC" and big.headers["sca"] == "sca"
    booked = (start1 - 1250 - 25000, start2 + 1250 + 25000)
    assert (cbank.booked(A1), cbank.booked(A2)) == booked
    again = app.transfer(big_body, sca=False, key=key)  # a retry replays, books nothing
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["paymentId"] == big.json()["paymentId"]
    assert (cbank.booked(A1), cbank.booked(A2)) == booked
    mine = app.call("GET", f"/v1/customer/payments/{big.json()['paymentId']}", expect=200)
    assert mine.json()["transactionStatus"] == "ACSC"

    token = app.access_token
    assert app.logout().status_code == 204
    reused = app.call("GET", "/v1/customer/accounts")
    assert reused.status_code == 401 and reused.json()["code"] == "INVALID_TOKEN"
    assert 'error="invalid_token"' in reused.headers["www-authenticate"]
    assert app.access_token == token

    for attempt in range(5):
        r = app.login("erin", "wrong password!!")
        assert r.status_code == (401 if attempt < 4 else 403), r.text
    assert r.json()["code"] == "CUSTOMER_LOCKED"
    assert app.login("erin", PASSWORD).json()["code"] == "CUSTOMER_LOCKED"
    alerts = cbank.store(cbank.customers.store.alerts_since(0, 1000))
    assert [a.kind for a in alerts if a.customer_id == cid] == [
        "new_device", "login_from_new_device", "customer_locked"]

    async def unlock(stub: CustomerAdminServiceStub) -> bool:  # an internal caller, gRPC
        answer = await stub.UnlockCustomer(UnlockCustomerRequest(username="erin"), timeout=10)
        return bool(answer.was_locked)
    assert cbank.admin(unlock) is True
    assert app.login("erin", PASSWORD).status_code == 200
    assert (cbank.booked(A1), cbank.booked(A2)) == booked
