"""CustomerAdminService over real mutual TLS against the running adapter: unlock, list and
revoke devices, reset the OTP secret, each audited (and alerted) as the app and the CLI do;
callers without `customer_admin` refused with nothing changed; an unknown customer NOT_FOUND
in one shape on every RPC; bad input INVALID_ARGUMENT."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import grpc
import pyotp
import pytest

from adapter.frontends.grpc.gen.bank.adapter.v1 import customer_admin_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import customer_admin_pb2_grpc as pb_grpc
from adapter.infra.tls import TlsFiles, grpc_channel_credentials
from adapter.ports.customers import LockState, SecurityEvent
from adapter.services.customers import totp
from tests.customers.conftest import CustomerBank
from tests.customers.support import PASSWORD
from tests.grpc.support import RichError, call_error

T = TypeVar("T")
A1 = "10000001"
Rpc = Callable[[pb_grpc.CustomerAdminServiceStub], Awaitable[Any]]


def admin(cbank: CustomerBank, fn: Callable[[pb_grpc.CustomerAdminServiceStub],
                                            Coroutine[Any, Any, T]],
          cert: str = "internal") -> T:
    return cbank.admin(fn, cert)


def trail(cbank: CustomerBank, username: str) -> list[SecurityEvent]:
    customer = cbank.store(cbank.customers.store.find_customer(username))
    events: list[SecurityEvent] = cbank.store(
        cbank.customers.store.audit_trail(customer.customer_id))
    return events


def alerts_of(cbank: CustomerBank, username: str) -> list[SecurityEvent]:
    cid = cbank.store(cbank.customers.store.find_customer(username)).customer_id
    return [a for a in cbank.store(cbank.customers.store.alerts_since(0, 10_000))
            if a.customer_id == cid]


def test_unlock_lifts_a_lock_and_is_audited(cbank: CustomerBank) -> None:
    """Five wrong passwords lock the customer; UnlockCustomer lifts it and says it did."""
    app = cbank.enrolled(cbank.add("adm-unlock", {A1}), login=False)
    for _ in range(5):
        r = app.login("adm-unlock", "wrong password!!")
    assert r.status_code == 403 and r.json()["code"] == "CUSTOMER_LOCKED"

    answer = admin(cbank, lambda s: s.UnlockCustomer(
        pb.UnlockCustomerRequest(username="ADM-Unlock"), timeout=10))
    assert answer.was_locked is True
    assert app.login("adm-unlock", PASSWORD).status_code == 200
    again = admin(cbank, lambda s: s.UnlockCustomer(
        pb.UnlockCustomerRequest(username="adm-unlock"), timeout=10))
    assert again.was_locked is False
    unlocks = [e.detail for e in trail(cbank, "adm-unlock") if e.kind == "customer_unlocked"]
    assert unlocks == [{"by": "grpc:internal", "was_locked": True},
                       {"by": "grpc:internal", "was_locked": False}]


def test_list_then_revoke_a_device_ends_its_sessions(cbank: CustomerBank) -> None:
    """The device the app enrolled is listed; revoking it ends its token at once (401) and
    writes the device_removed alert once; a second revoke changes nothing."""
    app = cbank.enrolled(cbank.add("adm-device", {A1}))
    mine = app.call("GET", "/v1/customer/devices", expect=200).json()["devices"]
    listed = admin(cbank, lambda s: s.ListDevices(
        pb.ListDevicesRequest(username="adm-device"), timeout=10))
    assert [(d.device_id, d.name, d.HasField("revoked_at")) for d in listed.devices] == [
        (mine[0]["deviceId"], "demo phone", False)]
    device_id = listed.devices[0].device_id

    revoked = admin(cbank, lambda s: s.RevokeDevice(
        pb.RevokeDeviceRequest(username="adm-device", device_id=device_id), timeout=10))
    assert revoked.revoked is True
    r = app.call("GET", "/v1/customer/accounts")
    assert r.status_code == 401 and r.json()["code"] == "INVALID_TOKEN"
    assert app.login("adm-device", PASSWORD).status_code == 401  # the key cannot log in

    twice = admin(cbank, lambda s: s.RevokeDevice(
        pb.RevokeDeviceRequest(username="adm-device", device_id=device_id), timeout=10))
    assert twice.revoked is False
    after = admin(cbank, lambda s: s.ListDevices(
        pb.ListDevicesRequest(username="adm-device"), timeout=10))
    assert [d.HasField("revoked_at") for d in after.devices] == [True]
    removed = [a for a in alerts_of(cbank, "adm-device") if a.kind == "device_removed"]
    assert [a.detail for a in removed] == [{"device": "demo phone", "by": "grpc:internal"}]


def test_reset_otp_replaces_the_secret(cbank: CustomerBank,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """Codes of the old secret stop working, the new URI's codes work; an otp_changed alert
    is written; the new secret is in no log line."""
    caplog.set_level(logging.DEBUG)
    new = cbank.add("adm-otp", {A1})
    answer = admin(cbank, lambda s: s.ResetOtp(
        pb.ResetOtpRequest(username="adm-otp"), timeout=10))
    assert answer.otpauth_uri.startswith("otpauth://totp/bank-adapter:adm-otp?secret=")
    secret = pyotp.parse_uri(answer.otpauth_uri).secret
    assert secret != new.totp_secret

    app = cbank.app()
    now = cbank.customers.now()
    with pytest.raises(Exception, match="INVALID_CREDENTIALS"):
        app.enrol("adm-otp", PASSWORD, totp.code_at(new.totp_secret, now))
    app.enrol("adm-otp", PASSWORD, totp.code_at(secret, now))
    kinds = [a.kind for a in alerts_of(cbank, "adm-otp")]
    assert kinds == ["otp_changed", "new_device"]
    assert alerts_of(cbank, "adm-otp")[0].detail == {"by": "grpc:internal"}
    assert secret not in caplog.text and answer.otpauth_uri not in caplog.text


RPCS: dict[str, Callable[[str], Rpc]] = {
    "UnlockCustomer": lambda user: lambda s: s.UnlockCustomer(
        pb.UnlockCustomerRequest(username=user), timeout=10),
    "ListDevices": lambda user: lambda s: s.ListDevices(
        pb.ListDevicesRequest(username=user), timeout=10),
    "RevokeDevice": lambda user: lambda s: s.RevokeDevice(
        pb.RevokeDeviceRequest(username=user, device_id="AAAAAAAAAAAAAAAAAAAAAA"), timeout=10),
    "ResetOtp": lambda user: lambda s: s.ResetOtp(
        pb.ResetOtpRequest(username=user), timeout=10),
}


def _error(cbank: CustomerBank, rpc: Rpc, cert: str = "internal") -> RichError:
    async def go(stub: pb_grpc.CustomerAdminServiceStub) -> RichError:
        return await call_error(rpc(stub))
    return admin(cbank, go, cert)


@pytest.mark.parametrize("cert", ["partner", "mobile", "legacy", "stranger"])
@pytest.mark.parametrize("method", list(RPCS))
def test_callers_without_customer_admin_are_refused(cbank: CustomerBank, cert: str,
                                                    method: str) -> None:
    """PERMISSION_DENIED (FORBIDDEN) for a known and an unknown username alike; the locked
    customer stays locked and nothing is audited."""
    if cbank.store(cbank.customers.store.find_customer("adm-locked")) is None:
        cbank.add("adm-locked", {A1})
    locked = LockState(lock_count=3, permanent=True)
    cbank.store(cbank.customers.store.save_lock("adm-locked", locked))
    before = trail(cbank, "adm-locked")
    for user in ("adm-locked", "nobody-at-all"):
        err = _error(cbank, RPCS[method](user), cert)
        assert (err.code, err.info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
        assert err.info.metadata["correlation_id"]
    assert cbank.store(cbank.customers.store.get_lock("adm-locked")) == locked
    assert trail(cbank, "adm-locked") == before


@pytest.mark.parametrize("method", list(RPCS))
def test_an_unknown_customer_is_not_found_in_one_shape(cbank: CustomerBank,
                                                       method: str) -> None:
    """NOT_FOUND, reason NOT_FOUND, the same message on every RPC."""
    err = _error(cbank, RPCS[method]("nobody-at-all"))
    assert (err.code, err.info.reason, err.info.domain) == (
        grpc.StatusCode.NOT_FOUND, "NOT_FOUND", "bank-adapter")
    assert err.message == "no customer 'nobody-at-all'"
    assert err.violations == []


def test_another_customers_device_is_not_found_like_an_unknown_one(
        cbank: CustomerBank) -> None:
    """Revoking Dana's device under Eve's name: NOT_FOUND, and Dana's device still works."""
    dana = cbank.enrolled(cbank.add("adm-dana", {A1}))
    cbank.add("adm-eve", {A1})
    device_id = dana.call("GET", "/v1/customer/devices", expect=200).json()[
        "devices"][0]["deviceId"]
    for wanted in (device_id, "B" * 22):
        err = _error(cbank, lambda s, d=wanted: s.RevokeDevice(  # type: ignore[misc]
            pb.RevokeDeviceRequest(username="adm-eve", device_id=d), timeout=10))
        assert (err.code, err.info.reason, err.message) == (
            grpc.StatusCode.NOT_FOUND, "NOT_FOUND", "no such device for this customer")
    assert dana.call("GET", "/v1/customer/accounts").status_code == 200
    assert [a.kind for a in alerts_of(cbank, "adm-dana")].count("device_removed") == 0


@pytest.mark.parametrize(("username", "field"), [
    ("", "username"), ("x" * 65, "username"), ("bad\x01name", "username")])
def test_a_malformed_username_is_invalid_argument(cbank: CustomerBank, username: str,
                                                  field: str) -> None:
    for rpc in RPCS.values():
        err = _error(cbank, rpc(username))
        assert (err.code, err.info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION")
        assert [f for f, _ in err.violations] == [field]


def test_an_empty_device_id_is_invalid_argument(cbank: CustomerBank) -> None:
    if cbank.store(cbank.customers.store.find_customer("adm-eve")) is None:
        cbank.add("adm-eve", {A1})
    err = _error(cbank, lambda s: s.RevokeDevice(
        pb.RevokeDeviceRequest(username="adm-eve"), timeout=10))
    assert (err.code, err.violations) == (grpc.StatusCode.INVALID_ARGUMENT,
                                          [("device_id", "1 to 1366 characters")])


def test_bytes_that_are_not_the_message_are_invalid_argument(cbank: CustomerBank) -> None:
    adapter = cbank.bank.adapter

    async def go() -> RichError:
        creds = grpc_channel_credentials(TlsFiles.from_dir(adapter.pki_dir, "internal"),
                                         adapter.ca)
        async with grpc.aio.secure_channel(adapter.grpc_target, creds) as ch:
            path = "/bank.adapter.v1.CustomerAdminService/UnlockCustomer"
            return await call_error(ch.unary_unary(path)(b"\xff\xff\xff\x07garbage",
                                                         timeout=10))

    err = asyncio.run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION")
    assert err.message == ("the request is not a valid "
                           "bank.adapter.v1.UnlockCustomerRequest message")


def test_step_up_is_the_rich_unauthenticated_status_on_grpc() -> None:
    """RFC 9470's insufficient_user_authentication, as gRPC says it: UNAUTHENTICATED with
    ErrorInfo reason SCA_REQUIRED (the one translation every gRPC service uses)."""
    from google.rpc import error_details_pb2, status_pb2

    from adapter.frontends.grpc.errors import to_grpc_status
    from adapter.services.customers.errors import ScaRequired

    status = to_grpc_status(ScaRequired(), "cid-sca")
    assert status.code is grpc.StatusCode.UNAUTHENTICATED
    rich = status_pb2.Status.FromString(dict(status.trailing_metadata)[
        "grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    rich.details[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "SCA_REQUIRED", "bank-adapter", {"correlation_id": "cid-sca"})
