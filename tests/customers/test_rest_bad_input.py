"""Bad input on the customer API: each is a clear 4xx problem+json naming what is wrong,
never cached, moves no money, and counts toward lockout only where it is an authentication
attempt (malformed device data of a login); the server answers the next request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from examples.mobile_device import MobileApp, transfer_body
from tests.customers.conftest import CustomerBank
from tests.customers.support import PASSWORD

A1, A2 = "10000001", "10000002"
USER = "bad-ivan"


def send(app: MobileApp, method: str, path: str, *, content: bytes | None = None,
         body: Any = None, headers: dict[str, str] | None = None, token: str | None = None,
         proof: str | None = None) -> Any:
    """One request with exactly the bytes and headers given, plus, on token routes, the
    app's own Authorization and DPoP unless overridden."""
    h = {"content-type": "application/json", **(headers or {})}
    if token is not None or proof is not None:
        access = token if token is not None else app.access_token
        h["Authorization"] = f"DPoP {access}"
        h["DPoP"] = proof if proof is not None else app.device.dpop(
            method, app.url(path), access_token=access)
    if body is not None:
        content = json.dumps(body).encode()
    return app.http.request(method, path, content=content, headers=h)


def _login_body(app: MobileApp, **change: Any) -> dict[str, Any]:
    start = app.call("POST", "/v1/customer/login/start", auth=False, proof=False,
                     expect=200).json()
    body = {"username": USER, "password": PASSWORD, "challengeId": start["challengeId"],
            "assertion": app.device.assert_(start["publicKey"])}
    body.update(change)
    return body


def _payment(amount: str = "1.00") -> dict[str, Any]:
    return {"payment": transfer_body(amount, {"id": A2}, {"id": A1})}


CASES: list[tuple[str, Any, int, str, str | None, int]] = [
    # (case, request, status, code, field named, failures added toward lockout)
    ("login body not JSON", lambda a: send(a, "POST", "/v1/customer/login",
                                           content=b"{not json"), 400, "VALIDATION", "body", 0),
    ("login body a JSON array", lambda a: send(a, "POST", "/v1/customer/login", body=[1]),
     400, "VALIDATION", "body", 0),
    ("login duplicate member", lambda a: send(
        a, "POST", "/v1/customer/login",
        content=b'{"username":"bad-ivan","username":"other"}'), 400, "VALIDATION", None, 0),
    ("login as text/plain", lambda a: send(a, "POST", "/v1/customer/login", content=b"{}",
                                           headers={"content-type": "text/plain"}),
     415, "UNSUPPORTED_MEDIA_TYPE", None, 0),
    ("login body of 70 KiB", lambda a: send(
        a, "POST", "/v1/customer/login",
        body={"username": USER, "password": "p" * 70_000}), 413, "PAYLOAD_TOO_LARGE", None, 0),
    ("username of 65 characters", lambda a: send(
        a, "POST", "/v1/customer/login", body=_login_body(a, username="u" * 65)),
     400, "VALIDATION", "username", 0),
    ("password of 257 characters", lambda a: send(
        a, "POST", "/v1/customer/login", body=_login_body(a, password="p" * 257)),
     400, "VALIDATION", "password", 0),
    ("malformed assertion", lambda a: send(
        a, "POST", "/v1/customer/login", body=_login_body(a, assertion={"id": "not b64!"})),
     400, "VALIDATION", "credential.id", 1),
    ("device name of 65 characters", lambda a: send(
        a, "POST", "/v1/customer/enrolment/finish",
        body={"challengeId": "0" * 32, "credential": {}, "deviceName": "d" * 65}),
     400, "VALIDATION", "deviceName", 0),
    ("access token of 200 characters", lambda a: send(
        a, "GET", "/v1/customer/accounts", token="at_" + "x" * 197),
     401, "INVALID_TOKEN", None, 0),
    ("DPoP proof of 5000 bytes", lambda a: send(
        a, "GET", "/v1/customer/accounts", proof="e" * 2500 + "." + "e" * 2498 + ".e"),
     401, "INVALID_DPOP_PROOF", None, 0),
    ("refresh token of 200 characters", lambda a: send(
        a, "POST", "/v1/customer/token", body={"refresh_token": "rt_" + "x" * 197},
        headers={"DPoP": a.device.dpop("POST", a.url("/v1/customer/token"))}),
     401, "INVALID_TOKEN", None, 0),
    ("transfer without Idempotency-Key", lambda a: send(
        a, "POST", "/v1/customer/transfers", body=_payment(), token=a.access_token),
     400, "VALIDATION", "Idempotency-Key", 0),
    ("transfer amount 1e3", lambda a: send(
        a, "POST", "/v1/customer/transfers", body=_payment("1e3"), token=a.access_token,
        headers={"Idempotency-Key": "bad-1e3"}), 400, "VALIDATION", None, 0),
    ("transfer without payment", lambda a: send(
        a, "POST", "/v1/customer/transfers", body={"sca": None}, token=a.access_token,
        headers={"Idempotency-Key": "bad-nopay"}), 400, "VALIDATION", "payment", 0),
    ("SCA challenge of kind steal", lambda a: send(
        a, "POST", "/v1/customer/sca/challenges", body={"kind": "steal", **_payment()},
        token=a.access_token), 400, "VALIDATION", "kind", 0),
]


@pytest.fixture(scope="module")
def ivan(cbank: CustomerBank) -> MobileApp:
    return cbank.enrolled(cbank.add(USER, {A1}))


@pytest.mark.parametrize(("case", "request_", "status", "code", "field", "counted"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_refusal_that_changes_nothing(
        cbank: CustomerBank, ivan: MobileApp, case: str, request_: Any, status: int,
        code: str, field: str | None, counted: int) -> None:
    ledger = (cbank.booked(A1), cbank.booked(A2))
    before = cbank.store(cbank.customers.store.get_lock(USER)).failures
    r = request_(ivan)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["cache-control"] == "no-store"
    problem = r.json()
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["correlation_id"] == r.headers["x-request-id"]
    if field is not None:
        assert field in [v["field"] for v in problem["violations"]], problem
    if status == 401:
        assert r.headers["www-authenticate"].startswith('DPoP algs="ES256"')
    assert (cbank.booked(A1), cbank.booked(A2)) == ledger
    assert cbank.store(cbank.customers.store.get_lock(USER)).failures == before + counted
    # The server is unharmed and the customer's session still works.
    assert ivan.call("GET", "/v1/customer/accounts").status_code == 200
    if counted:
        assert ivan.login(USER, PASSWORD).status_code == 200  # a success resets the count
