"""Customer passwords: Argon2id at RFC 9106 section 4's second recommended parameters by
default, the unknown-username decoy made with the same parameters, verification bounded
(PasswordCheckBusy past the queue, answered 503 with Retry-After by the customer API)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from starlette.responses import Response

from adapter.config import Settings
from adapter.customer_root import build_customer_service
from adapter.frontends.rest.customer import CustomerApi
from adapter.services.customers.passwords import PasswordCheckBusy, PasswordVerifier
from adapter.services.pipeline import Call
from adapter.services.principal import Credentials

RFC_9106_SECOND = "$argon2id$v=19$m=65536,t=3,p=4$"


def test_the_defaults_are_rfc_9106_second_recommended_option(tmp_path: Path) -> None:
    """t=3, 64 MiB, p=4, Argon2id, as the adapter builds its verifier from Settings, and
    the decoy an unknown username is checked against has exactly those parameters."""
    (tmp_path / "pki").mkdir()
    service = build_customer_service(Settings(state_dir=tmp_path))
    try:
        stored = asyncio.run(service.passwords.hash("a long enough password"))
        assert stored.startswith(RFC_9106_SECOND)
        decoy = service.passwords._dummy.result(timeout=30)
        assert decoy.startswith(RFC_9106_SECOND)
        assert asyncio.run(service.passwords.verify(stored, "a long enough password")) == (
            True, None)
        assert asyncio.run(service.passwords.verify(None, "a long enough password")) == (
            False, None)
    finally:
        asyncio.run(service.store.aclose())
        service.passwords.close()


class BlockingHasher(PasswordHasher):
    """Verifications wait for `release`, so the test holds the worker busy."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
        self.release = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.release.wait(30)
        return super().verify(hash, password)


def test_verifications_past_the_queue_are_refused_at_once() -> None:
    """One worker and one waiting: a third verification is PasswordCheckBusy before any
    hashing; the two admitted ones finish once the worker is free."""
    hasher = BlockingHasher()
    verifier = PasswordVerifier(hasher, workers=1, queue_limit=1)
    stored = hasher.hash("a long enough password")

    async def go() -> list[tuple[bool, str | None]]:
        admitted = [asyncio.ensure_future(verifier.verify(stored, "a long enough password"))
                    for _ in range(2)]
        await asyncio.sleep(0)  # both enter the gate (one runs, one waits)
        assert verifier.in_flight == 2
        with pytest.raises(PasswordCheckBusy):
            await verifier.verify(stored, "a long enough password")
        hasher.release.set()
        return list(await asyncio.gather(*admitted))

    try:
        assert asyncio.run(go()) == [(True, None), (True, None)]
    finally:
        verifier.close()


def test_busy_password_checks_are_503_with_retry_after(tmp_path: Path) -> None:
    """The customer edge renders PasswordCheckBusy as 503 Service Unavailable, Retry-After 1,
    problem+json with its stable code, never cached."""
    (tmp_path / "pki").mkdir()
    settings = Settings(state_dir=tmp_path)
    service = build_customer_service(settings)
    try:
        api = CustomerApi(service, None, settings)  # type: ignore[arg-type]
        call = Call(api.edge, "POST /v1/customer/login", Credentials("mobile"),
                    correlation_id="cid-1")
        response = asyncio.run(api.edge.render(PasswordCheckBusy(), call))
    finally:
        asyncio.run(service.store.aclose())
        service.passwords.close()
    assert isinstance(response, Response)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/problem+json"
    assert b'"code":"AUTHENTICATION_BUSY"' in response.body
