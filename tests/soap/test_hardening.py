"""Hostile and broken requests posted as raw envelopes: each gets a SOAP Fault or a 4xx, the
server stays up, and the ledger is unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.harness.adapter import RunningAdapter
from tests.harness.clients import https_client
from tests.harness.core import RunningCore

from .conftest import Token, balance, envelope, fault_of, post

DEBTOR, CREDITOR = "10000003", "10000001"


def transfer_body(request_id: str | None = None, amount: str = "5.00") -> str:
    return (f"<b:TransferFunds><b:RequestId>{request_id or uuid.uuid4().hex}</b:RequestId>"
            f"<b:Debtor><b:AccountId>{DEBTOR}</b:AccountId></b:Debtor>"
            f"<b:Creditor><b:AccountId>{CREDITOR}</b:AccountId></b:Creditor>"
            f"<b:Amount>{amount}</b:Amount><b:Currency>EUR</b:Currency>"
            "<b:EndToEndId>E2E-RAW</b:EndToEndId></b:TransferFunds>")


@pytest.fixture
def token(adapter: RunningAdapter) -> Token:
    return Token("legacy", adapter.legacy_password)


@pytest.fixture
def unchanged(adapter: RunningAdapter, soap_core: RunningCore, http: httpx.Client,
              token: Token) -> Iterator[None]:
    """Around a test: the ledger does not move and the server still answers afterwards."""
    before = balance(soap_core, DEBTOR), balance(soap_core, CREDITOR)
    yield
    assert (balance(soap_core, DEBTOR), balance(soap_core, CREDITOR)) == before
    ok = post(http, adapter, envelope(
        f"<b:GetBalance><b:Account><b:AccountId>{DEBTOR}</b:AccountId></b:Account>"
        "</b:GetBalance>", Token("legacy", adapter.legacy_password).xml()), "GetBalance")
    assert ok.status_code == 200, ok.text


def doctype_envelope(doctype: str, reference: str) -> bytes:
    return (f'<?xml version="1.0"?>\n{doctype}\n'.encode()
            + envelope(transfer_body().replace("E2E-RAW", reference)))


@pytest.mark.parametrize("doctype,reference", [
    ('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;"),
    ('<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/evil">]>', "&x;"),
    ('<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
     '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
     '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
     '<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">'
     ']>', "&h;"),
], ids=["xxe-file", "xxe-network", "billion-laughs"])
def test_doctype_is_refused(adapter: RunningAdapter, http: httpx.Client, unchanged: None,
                            doctype: str, reference: str) -> None:
    """A DOCTYPE (file or network entity, entity expansion) is Client.VALIDATION, unparsed."""
    response = post(http, adapter, doctype_envelope(doctype, reference), "TransferFunds")
    fault = fault_of(response)
    assert (response.status_code, fault.faultcode, fault.code) == (
        500, "Client.VALIDATION", "VALIDATION")
    assert b"root:" not in response.content and b"aaaaaaaaaa" not in response.content


@pytest.mark.parametrize("target", ["#d", "#nowhere"], ids=["known-id", "unknown-id"])
def test_soap_encoding_hrefs_are_not_followed(adapter: RunningAdapter, http: httpx.Client,
                                              unchanged: None, token: Token,
                                              target: str) -> None:
    """A multi-reference (`href` to an element's `id`, SOAP 1.1 section 5.4.1) is not resolved:
    the referring Debtor is empty, so the transfer is Client.VALIDATION naming it, and an
    unknown id is the same refusal, not an internal error."""
    body = transfer_body().replace(
        f"<b:Debtor><b:AccountId>{DEBTOR}</b:AccountId></b:Debtor>",
        f'<b:Debtor href="{target}"/>') + (
        f'<b:Spare id="d"><b:AccountId>{DEBTOR}</b:AccountId></b:Spare>')
    response = post(http, adapter, envelope(body, token.xml()), "TransferFunds")
    fault = fault_of(response)
    assert (response.status_code, fault.faultcode, fault.code) == (
        500, "Client.VALIDATION", "VALIDATION"), fault.raw[:600]
    assert "Debtor" in fault.faultstring


def test_oversized_body_is_413(adapter: RunningAdapter, http: httpx.Client,
                               unchanged: None, token: Token) -> None:
    """A body over the byte limit is refused with 413 before it is parsed."""
    padding = "<!--" + "x" * (adapter.app.settings.max_body_bytes + 1) + "-->"
    response = post(http, adapter, envelope(transfer_body() + padding, token.xml()),
                    "TransferFunds")
    assert response.status_code == 413


def test_empty_body_is_a_client_fault(adapter: RunningAdapter, http: httpx.Client,
                                      unchanged: None) -> None:
    """An empty POST is a SOAP Fault like any malformed envelope, not a bare text answer
    (HTTP 500, as WS-I Basic Profile R1126 has every Fault)."""
    response = post(http, adapter, b"", "TransferFunds")
    fault = fault_of(response)
    assert (response.status_code, fault.faultcode, fault.code) == (
        500, "Client.VALIDATION", "VALIDATION")


def test_malformed_xml_is_a_client_fault(adapter: RunningAdapter, http: httpx.Client,
                                         unchanged: None, token: Token) -> None:
    """Unbalanced XML is Client.VALIDATION with a correlation id and no stack trace."""
    response = post(http, adapter, envelope(transfer_body(), token.xml())[:-20],
                    "TransferFunds")
    fault = fault_of(response)
    assert (fault.faultcode, fault.code) == ("Client.VALIDATION", "VALIDATION")
    assert fault.correlation_id is not None and b"Traceback" not in response.content


def test_wrong_body_namespace_is_a_client_fault(adapter: RunningAdapter, http: httpx.Client,
                                                unchanged: None, token: Token) -> None:
    """An operation in a foreign namespace is Client.BAD_REQUEST (no such operation)."""
    response = post(http, adapter, envelope(transfer_body(), token.xml(), ns="urn:wrong"),
                    "TransferFunds")
    fault = fault_of(response)
    assert (fault.faultcode, fault.code) == ("Client.BAD_REQUEST", "BAD_REQUEST")


def test_soap12_envelope_is_refused(adapter: RunningAdapter, http: httpx.Client,
                                    unchanged: None, token: Token) -> None:
    """A SOAP 1.2 envelope gets a SOAP 1.1 Client fault, never a booking."""
    body = envelope(transfer_body(), token.xml()).replace(
        b"http://schemas.xmlsoap.org/soap/envelope/", b"http://www.w3.org/2003/05/soap-envelope")
    response = post(http, adapter, body, "TransferFunds")
    assert response.status_code >= 400
    assert fault_of(response).faultcode.startswith("Client.")


def test_wrong_soap_action_is_refused(adapter: RunningAdapter, http: httpx.Client,
                                      unchanged: None, token: Token) -> None:
    """A SOAPAction naming another operation than the body's is Client.VALIDATION."""
    response = post(http, adapter, envelope(transfer_body(), token.xml()), "GetBalance")
    fault = fault_of(response)
    assert (fault.faultcode, fault.code) == ("Client.VALIDATION", "VALIDATION")
    assert "SOAPAction" in fault.faultstring


def test_missing_token_is_unauthenticated(adapter: RunningAdapter, http: httpx.Client,
                                          unchanged: None) -> None:
    """A request without a wsse:Security header is Client.UNAUTHENTICATED."""
    fault = fault_of(post(http, adapter, envelope(transfer_body()), "TransferFunds"))
    assert (fault.faultcode, fault.code) == ("Client.UNAUTHENTICATED", "UNAUTHENTICATED")


@pytest.mark.parametrize("shift,words", [
    (timedelta(minutes=-6), "older than 5 minutes"),
    (timedelta(minutes=10), "in the future"),
], ids=["stale", "future"])
def test_created_out_of_window_is_refused(adapter: RunningAdapter, http: httpx.Client,
                                          unchanged: None, shift: timedelta,
                                          words: str) -> None:
    """A Created older than 5 minutes or ahead of the clock is Client.UNAUTHENTICATED."""
    token = Token("legacy", adapter.legacy_password, created=datetime.now(UTC) + shift)
    fault = fault_of(post(http, adapter, envelope(transfer_body(), token.xml()),
                          "TransferFunds"))
    assert (fault.code, words in fault.faultstring) == ("UNAUTHENTICATED", True)


def test_replayed_nonce_is_refused(adapter: RunningAdapter, http: httpx.Client,
                                   soap_core: RunningCore) -> None:
    """The same UsernameToken (nonce) sent twice is refused the second time; one booking."""
    before = balance(soap_core, DEBTOR)
    security = Token("legacy", adapter.legacy_password).xml()
    first = post(http, adapter, envelope(transfer_body(amount="0.07"), security),
                 "TransferFunds")
    second = post(http, adapter, envelope(transfer_body(amount="0.07"), security),
                  "TransferFunds")
    assert first.status_code == 200, first.text
    fault = fault_of(second)
    assert (fault.code, "already used" in fault.faultstring) == ("UNAUTHENTICATED", True)
    assert balance(soap_core, DEBTOR) == before - 7


def test_token_of_another_caller_is_forbidden(adapter: RunningAdapter, unchanged: None,
                                              token: Token) -> None:
    """The partner's certificate with the legacy UsernameToken is Client.FORBIDDEN."""
    with https_client(adapter, "partner") as partner:
        fault = fault_of(post(partner, adapter, envelope(transfer_body(), token.xml()),
                              "TransferFunds"))
    assert (fault.faultcode, fault.code) == ("Client.FORBIDDEN", "FORBIDDEN")


def test_unregistered_certificate_is_forbidden(adapter: RunningAdapter, unchanged: None,
                                               token: Token) -> None:
    """A certificate from our CA that the clients file does not know is Client.FORBIDDEN."""
    with https_client(adapter, "stranger") as stranger:
        fault = fault_of(post(stranger, adapter, envelope(transfer_body(), token.xml()),
                              "TransferFunds"))
    assert fault.code == "FORBIDDEN"


def test_no_client_certificate_is_refused_by_tls(adapter: RunningAdapter) -> None:
    """Without a client certificate the TLS handshake fails; no HTTP exchange happens."""
    with https_client(adapter, None) as anonymous, pytest.raises(
            (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        anonymous.get(f"{adapter.soap_url}?wsdl")


def test_unknown_path_under_the_prefix_is_404(adapter: RunningAdapter,
                                              http: httpx.Client) -> None:
    """Only /soap/v1 is served; /soap/v1/anything is 404."""
    assert http.get(f"{adapter.soap_url}/anything").status_code == 404
