"""Hostile input against the customer API and CustomerAdminService of a live adapter: any
JSON body on the open customer routes, any Authorization and DPoP header text on a token
route, any bytes to every admin RPC. The answer is always a clear refusal (never a 5xx,
never UNKNOWN/INTERNAL) and the ledger's totals do not move. Argon2 runs with cheap
parameters here (this is about shapes, not cost).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.infra.tls import TlsFiles, grpc_channel_credentials
from tests.customers.conftest import CHEAP_ARGON2
from tests.rest.conftest import Bank, start_bank

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
JSON = st.recursive(JSON_LEAVES, lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=12), kids, max_size=4), max_leaves=12)
FIELDS = st.sampled_from(["username", "password", "otp", "challengeId", "assertion",
                          "credential", "deviceName", "refresh_token"])
NEAR = st.dictionaries(FIELDS, JSON_LEAVES | st.dictionaries(st.sampled_from(
    ["id", "rawId", "type", "response"]), JSON_LEAVES, max_size=4), max_size=6)
OPEN_ROUTES = st.sampled_from(["/v1/customer/enrolment/start", "/v1/customer/enrolment/finish",
                               "/v1/customer/login", "/v1/customer/token"])
ADMIN_RPCS = st.sampled_from(["UnlockCustomer", "ListDevices", "RevokeDevice", "ResetOtp"])


@pytest.fixture(scope="module")
def bank(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    with start_bank(tmp_path_factory.mktemp("fuzz-customers"), pki_dir, **CHEAP_ARGON2) as b:
        yield b


@pytest.fixture(scope="module")
def mobile(bank: Bank) -> Iterator[httpx.Client]:
    with bank.client("mobile") as c:
        yield c


@pytest.fixture(scope="module")
def totals_before(bank: Bank) -> dict[str, int]:
    return bank.core.ledger.totals()


def assert_refused_cleanly(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"]


@given(OPEN_ROUTES, JSON)
def test_any_json_on_an_open_customer_route(mobile: httpx.Client, bank: Bank,
                                            totals_before: dict[str, int], path: str,
                                            body: Any) -> None:
    r = mobile.post(path, content=json.dumps(body),
                    headers={"content-type": "application/json"})
    assert_refused_cleanly(r)
    assert bank.core.ledger.totals() == totals_before


@given(OPEN_ROUTES, NEAR)
def test_near_valid_bodies_on_an_open_customer_route(mobile: httpx.Client, bank: Bank,
                                                     totals_before: dict[str, int],
                                                     path: str, body: dict[str, Any]) -> None:
    """The fields the routes read, with values of any JSON kind: refused cleanly."""
    r = mobile.post(path, json=body)
    assert_refused_cleanly(r)
    assert bank.core.ledger.totals() == totals_before


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=200)


@given(HEADER_TEXT, HEADER_TEXT)
def test_any_token_and_proof_text_on_a_token_route(mobile: httpx.Client, bank: Bank,
                                                   totals_before: dict[str, int],
                                                   token: str, proof: str) -> None:
    # HTTP field values carry no leading or trailing whitespace (RFC 9110 section 5.5).
    r = mobile.post("/v1/customer/transfers", json={"payment": {}}, headers={
        "authorization": f"DPoP {token}".strip(), "dpop": proof.strip(),
        "idempotency-key": "fuzz-1"})
    assert_refused_cleanly(r)
    assert r.status_code in (400, 401), r.text
    assert bank.core.ledger.totals() == totals_before


@given(ADMIN_RPCS, st.binary(max_size=300))
def test_any_bytes_to_an_admin_rpc(bank: Bank, method: str, body: bytes) -> None:
    adapter = bank.adapter

    async def call() -> grpc.StatusCode:
        creds = grpc_channel_credentials(TlsFiles.from_dir(adapter.pki_dir, "internal"),
                                         adapter.ca)
        async with grpc.aio.secure_channel(adapter.grpc_target, creds) as ch:
            try:
                await ch.unary_unary(f"/bank.adapter.v1.CustomerAdminService/{method}")(
                    body, timeout=10)
            except grpc.aio.AioRpcError as err:
                return err.code()
            return grpc.StatusCode.OK

    code = asyncio.run(call())
    assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), code
