"""problem+json (RFC 9457) for every refusal, X-Request-ID, and who may connect at all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from core_sim.faults import FaultSettings
from tests.rest.conftest import Bank, new_key, transfer_body

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "correlation_id"}


def _post(client: httpx.Client, content: bytes, content_type: str | None = "application/json",
          **headers: str) -> httpx.Response:
    hdrs = {"Idempotency-Key": new_key(), **headers}
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    return client.post("/v1/transfers", content=content, headers=hdrs)


def test_problem_carries_code_and_the_request_id(internal: httpx.Client) -> None:
    """A refusal is problem+json with RFC 9457 members, the code and our X-Request-ID."""
    r = internal.get("/v1/accounts/99999999", headers={"X-Request-ID": "trace-abc-123"})
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "trace-abc-123"
    problem = r.json()
    assert set(problem) == PROBLEM_KEYS
    assert {k: problem[k] for k in ("type", "title", "status", "code", "correlation_id")} == {
        "type": "urn:bank-adapter:problem:account-not-found", "title": "Account not found",
        "status": 404, "code": "ACCOUNT_NOT_FOUND", "correlation_id": "trace-abc-123"}
    assert problem["detail"]


def test_request_id_is_made_when_absent(partner: httpx.Client) -> None:
    """Without an X-Request-ID the adapter makes one and echoes it."""
    r = partner.get("/v1/accounts")
    assert r.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


@pytest.mark.parametrize("value", ["x" * 129, "has space", "", "tab\there", "caf\u00e9"])
def test_malformed_request_id_is_400_naming_it(partner: httpx.Client, value: str) -> None:
    """The document's X-Request-ID pattern is enforced, not quietly replaced (issue 12.2): a
    400 naming the header, under a made correlation id."""
    r = partner.get("/v1/accounts", headers={"X-Request-ID": value.encode("latin-1")})
    assert r.status_code == 400
    problem = r.json()
    assert (problem["code"], problem["violations"]) == ("VALIDATION", [
        {"field": "X-Request-ID", "description": "1 to 128 visible ASCII characters"}])
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert problem["correlation_id"] == r.headers["x-request-id"]
    assert partner.get("/v1/accounts", headers={"X-Request-ID": "x" * 128}).status_code == 200


def test_malformed_json_is_400(bank: Bank, partner: httpx.Client) -> None:
    """Broken JSON is VALIDATION on the body, and nothing moves."""
    before = bank.booked("10000001")
    r = _post(partner, b'{"debtorAccount": ')
    assert r.status_code == 400
    problem = r.json()
    assert problem["code"] == "VALIDATION"
    assert problem["violations"][0]["field"] == "body"
    assert problem["detail"].startswith("invalid request: body: Invalid JSON")
    assert bank.booked("10000001") == before


def test_json_number_amount_is_400_naming_the_field(bank: Bank, partner: httpx.Client) -> None:
    """12.5 as a JSON number is refused, naming instructedAmount.amount."""
    before = bank.booked("10000001")
    body = transfer_body()
    body["instructedAmount"]["amount"] = 12.5
    r = _post(partner, json.dumps(body).encode())
    assert r.status_code == 400
    assert r.json()["violations"] == [{
        "field": "instructedAmount.amount",
        "description": 'must be a decimal string such as "12.50", not a JSON number'}]
    assert bank.booked("10000001") == before


@pytest.mark.parametrize(("change", "field", "description"), [
    ({"creditorAccount": None}, "creditorAccount", "Input should be an object"),
    ({"debtorAccount": {"iban": "DE89370400440532013001"}}, "debtorAccount.iban",
     "IBAN check digits are wrong (mod-97)"),
    ({"instructedAmount": {"currency": "EUR", "amount": "12.505"}}, "instructedAmount",
     "EUR allows at most 2 decimal places, got 12.505"),
    ({"instructedAmount": {"currency": "XXX", "amount": "1"}}, "instructedAmount.currency",
     "unknown ISO 4217 currency code 'XXX'"),
    ({"endToEndIdentification": "bad\u00e9"}, "endToEndIdentification",
     "must be 1 to 35 characters of letters, digits and / - ? : ( ) . , ' +"),
])
def test_invalid_field_is_400_naming_it(partner: httpx.Client, change: dict[str, object],
                                        field: str, description: str) -> None:
    """Each invalid field is reported under its wire name with a specific message."""
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                     json={**transfer_body(), **change})
    assert r.status_code == 400
    assert r.json()["violations"] == [{"field": field, "description": description}]


def test_wrong_content_type_is_415(partner: httpx.Client) -> None:
    """text/plain, form data and a missing Content-Type are UNSUPPORTED_MEDIA_TYPE."""
    body = json.dumps(transfer_body()).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        r = _post(partner, body, ctype)
        assert r.status_code == 415, ctype
        assert r.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert _post(partner, b"{}", "application/json; charset=utf-8").status_code == 400


def test_body_over_the_limit_is_413(bank: Bank) -> None:
    """Over 8 KiB is PAYLOAD_TOO_LARGE, whether declared up front or streamed in chunks."""
    big = b'{"x": "' + b"a" * 20000 + b'"}'
    with bank.client("partner") as c:
        r = _post(c, big)
        assert r.status_code == 413
        assert r.json()["code"] == "PAYLOAD_TOO_LARGE"
    with bank.client("partner") as c:
        streamed = c.post("/v1/transfers", content=iter([big[:5000]] * 40), headers={
            "Idempotency-Key": new_key(), "Content-Type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert streamed.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_unknown_route_and_method_are_problems(partner: httpx.Client) -> None:
    """No such path is 404 NOT_FOUND; a wrong method is 405 with Allow; both problem+json."""
    r = partner.get("/v1/nothing-here", headers={"X-Request-ID": "rid-404"})
    assert (r.status_code, r.json()["code"], r.headers["x-request-id"]) == (
        404, "NOT_FOUND", "rid-404")
    assert r.headers["content-type"] == "application/problem+json"
    r = partner.delete("/v1/transfers")
    assert (r.status_code, r.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "POST"
    assert partner.get("/v1/accounts/").status_code == 404


def test_unregistered_certificate_is_403(bank: Bank) -> None:
    """A certificate from our CA that the clients file does not know is FORBIDDEN."""
    with bank.client("stranger") as stranger:
        r = stranger.get("/v1/accounts")
        assert r.status_code == 403
        assert r.json()["code"] == "FORBIDDEN"
        assert stranger.get("/healthz").json() == {"status": "ok"}


def test_no_client_certificate_is_refused_at_the_handshake(bank: Bank) -> None:
    """Without a client certificate no HTTP exchange happens at all."""
    with bank.client(None) as anonymous, pytest.raises(httpx.TransportError):
        anonymous.get("/healthz")


def test_certificate_from_another_ca_is_refused_at_the_handshake(
        bank: Bank, foreign_pki_dir: Path) -> None:
    """A client certificate signed by another CA is refused by TLS."""
    with bank.client("partner", pki_dir=foreign_pki_dir) as foreign, \
            pytest.raises(httpx.TransportError):
        foreign.get("/healthz")


def test_no_stack_trace_leaks(partner: httpx.Client) -> None:
    """Garbage of every kind gets a short problem, never a traceback."""
    for content in (b"\xff\xfe\x00", b"[]", b"null", b'{"debtorAccount": []}', b"1e999"):
        r = _post(partner, content)
        assert r.status_code == 400, content
        assert "Traceback" not in r.text and "File \"" not in r.text


def test_readiness_follows_the_core_and_liveness_does_not(
        partner: httpx.Client, faults: FaultSettings) -> None:
    """/readyz is 200 while the core answers and a CORE_UNAVAILABLE problem while it fails;
    /healthz stays 200 throughout (a failing core must not get the adapter restarted)."""
    r = partner.get("/readyz", headers={"X-Request-ID": "ready-1"})
    assert (r.status_code, r.json(), r.headers["x-request-id"]) == (
        200, {"status": "ready"}, "ready-1")
    faults.update(error_rate=1.0)
    r = partner.get("/readyz", headers={"X-Request-ID": "ready-2"})
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert (body["code"], body["status"], body["correlation_id"]) == (
        "CORE_UNAVAILABLE", 503, "ready-2")
    assert partner.get("/healthz").json() == {"status": "ok"}
    faults.update(error_rate=0.0)
    assert partner.get("/readyz").status_code == 200
