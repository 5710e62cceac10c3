"""Strict REST input (issues 12.1, 13.2, 13.6): control characters in query and header values,
duplicate JSON members, and the amount grammar; every refusal is a 400 naming the field, and
the ledger does not move."""

from __future__ import annotations

import json

import httpx
import pytest

from adapter.frontends.rest.openapi import build_openapi
from tests.rest.conftest import Bank, new_key, transfer_body


def _violations(r: httpx.Response) -> list[dict[str, str]]:
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["code"] == "VALIDATION"
    violations: list[dict[str, str]] = problem["violations"]
    return violations


@pytest.mark.parametrize("cursor", ["\x0b", "\x01", "abc\x7f", "\x85"])
def test_control_character_in_a_query_value_is_400_naming_it(
        partner: httpx.Client, cursor: str) -> None:
    """`?cursor=%0B` was a 500 (issue 12.1): now 400 naming the parameter, before the core."""
    r = partner.get("/v1/accounts/10000001/transactions", params={"cursor": cursor})
    assert _violations(r) == [{"field": "cursor", "description":
                               f"control character U+{ord(cursor[-1]):04X} is not allowed"}]


def test_control_character_in_a_header_value_is_400_naming_it(partner: httpx.Client) -> None:
    """A C1 control character (here NEL, sent as obs-text) in any header is refused by name."""
    r = partner.get("/v1/accounts", headers={"X-Request-ID": b"abc\x85def"})
    assert _violations(r) == [{"field": "X-Request-ID",
                               "description": "control character U+0085 is not allowed"}]


def test_tab_in_a_header_value_is_whitespace_not_a_refusal(partner: httpx.Client) -> None:
    """RFC 9110 section 5.5 allows HTAB inside a field value: such a request is served."""
    assert partner.get("/v1/accounts", headers={"User-Agent": "a\tb"}).status_code == 200


def _post(partner: httpx.Client, raw: bytes) -> httpx.Response:
    return partner.post("/v1/transfers", content=raw, headers={
        "Idempotency-Key": new_key(), "Content-Type": "application/json"})


@pytest.mark.parametrize(("raw", "field"), [
    # The second amount used to win (issue 13.2): 999.00 instead of the 1.00 a log showed.
    (b'{"debtorAccount":{"id":"10000001"},"creditorAccount":{"id":"10000002"},'
     b'"instructedAmount":{"currency":"EUR","amount":"1.00","amount":"999.00"},'
     b'"endToEndIdentification":"DUP"}', "instructedAmount.amount"),
    (b'{"debtorAccount":{"id":"10000001"},"creditorAccount":{"id":"10000002"},'
     b'"creditorAccount":{"id":"10000001"},'
     b'"instructedAmount":{"currency":"EUR","amount":"1.00"},'
     b'"endToEndIdentification":"DUP"}', "creditorAccount"),
])
def test_duplicate_json_member_is_400_naming_its_path(bank: Bank, partner: httpx.Client,
                                                      raw: bytes, field: str) -> None:
    """A member named twice in one object, at any depth, is refused by its path; nothing moves."""
    before = bank.booked("10000001"), bank.booked("10000002")
    assert _violations(_post(partner, raw)) == [
        {"field": field, "description": "this member appears more than once in its object"}]
    assert (bank.booked("10000001"), bank.booked("10000002")) == before


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b"\xff\xfe{}"])
def test_non_json_constants_and_non_utf8_are_400_on_the_body(partner: httpx.Client,
                                                             raw: bytes) -> None:
    """NaN, Infinity (RFC 8259 section 6) and a body that is not UTF-8 are not JSON."""
    assert [v["field"] for v in _violations(_post(partner, raw))] == ["body"]


@pytest.mark.parametrize("amount", ["+1.00", "\uff11.\uff10\uff10", "1.", ".5",
                                    "00000000000000000001.00", " 1.00", "1e2", "1_000"])
def test_lax_amount_forms_are_400_and_book_nothing(bank: Bank, partner: httpx.Client,
                                                   amount: str) -> None:
    """Only `-?(0|[1-9][0-9]*)(\\.[0-9]+)?` in ASCII is an amount (issue 13.6)."""
    before = bank.booked("10000001"), bank.booked("10000002")
    body = transfer_body(amount)
    r = _post(partner, json.dumps(body).encode())
    assert [v["field"] for v in _violations(r)] == ["instructedAmount.amount"]
    assert (bank.booked("10000001"), bank.booked("10000002")) == before


def test_openapi_states_the_amount_grammar() -> None:
    """The request amount's schema is the grammar the adapter enforces, one branch per number
    of minor units (tests/api/test_document_rules.py checks each against model.money)."""
    amount = build_openapi()["components"]["schemas"]["Amount"]
    eur = next(b for b in amount["oneOf"] if "EUR" in b["properties"]["currency"]["enum"])
    assert eur["properties"]["amount"]["pattern"] == (
        r"^([1-9][0-9]{0,15}(\.[0-9]{1,2}0*)?|0\.([1-9][0-9]{0,1}|0[1-9])0*)$")
    jpy = next(b for b in amount["oneOf"] if "JPY" in b["properties"]["currency"]["enum"])
    assert jpy["properties"]["amount"]["pattern"] == r"^([1-9][0-9]{0,17})(\.0+)?$"
