"""The opt-in plain-HTTP health listener: /healthz and /readyz without a certificate, nothing
else, and readiness that follows the core exactly like the mTLS /readyz."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.rest.conftest import Bank, start_bank


@pytest.fixture(scope="module")
def probed(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    with start_bank(tmp_path_factory.mktemp("health"), pki_dir, health_port=0) as b:
        yield b


@pytest.fixture
def plain(probed: Bank) -> Iterator[httpx.Client]:
    listener = probed.adapter.app.health_http
    assert listener is not None
    with httpx.Client(base_url=f"http://127.0.0.1:{listener.port}", timeout=10) as c:
        yield c


def test_healthz_answers_without_a_certificate(plain: httpx.Client) -> None:
    """A probe with no TLS at all gets liveness."""
    r = plain.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_readyz_follows_the_core(probed: Bank, plain: httpx.Client) -> None:
    """Ready while the core answers; 503 CORE_UNAVAILABLE while it refuses every call."""
    assert (plain.get("/readyz").status_code, plain.get("/readyz").json()) == (
        200, {"status": "ready"})
    probed.core.faults.update(error_rate=1.0)
    try:
        r = plain.get("/readyz")
        assert (r.status_code, r.json()) == (503, {"status": "not ready",
                                                   "code": "CORE_UNAVAILABLE"})
    finally:
        probed.core.faults.reset()
    assert plain.get("/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/v1/accounts", "/openapi.json", "/soap/v1", "/healthz/",
                                  "/", "/readyz/x", "/metrics"])
def test_nothing_else_is_served(plain: httpx.Client, path: str) -> None:
    """Only the two probe paths exist here: the API stays behind mutual TLS."""
    r = plain.get(path)
    assert (r.status_code, r.content) == (404, b"")


def test_methods_other_than_get_are_refused(plain: httpx.Client) -> None:
    r = plain.post("/healthz", content=b"{}")
    assert (r.status_code, r.content) == (405, b"")


def test_off_by_default(probed: Bank) -> None:
    """Only a bank started with health_port gets the listener (this module's does)."""
    from adapter.config import Settings

    assert Settings().health_port is None
