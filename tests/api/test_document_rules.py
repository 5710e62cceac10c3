"""The OpenAPI document's input rules are the canonical model's (input_schema Rule 1): for
every rule, a value matches the document's schema if and only if the model accepts it. Values
come from the schema's own patterns (must be accepted) and from near-misses and arbitrary
text (accepted exactly when they match). No server: this pins the document to the code, the
schemathesis run (test_schemathesis.py) pins the server to the document."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import jsonschema
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from adapter.frontends.rest import input_schema, wire
from adapter.frontends.rest.openapi import build_openapi
from adapter.model.currencies import CURRENCIES
from adapter.model.errors import ValidationError
from adapter.model.money import Money, PositiveMoney

_POSITIVE = pydantic.TypeAdapter(PositiveMoney)

# Characters that make near-misses of every grammar here: digits, signs, dots, spaces,
# letters of both cases, the SWIFT punctuation, a control and a format character.
_NEAR = st.text(st.sampled_from("0123456789.-+ eE,/?:()'aZ\u00a0\u200b\x01\u00e9"),
                max_size=24)


def _accepts(check: Any, value: Any) -> bool:
    try:
        check(value)
    except (ValueError, ValidationError, pydantic.ValidationError):
        return False
    return True


def _matches(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is not None


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD", "CLF"])
@given(data=st.data())
def test_amount_pattern_is_the_money_rules(currency: str, data: st.DataObject) -> None:
    pattern = input_schema._positive_amount_pattern(CURRENCIES[currency].minor_units)
    value = data.draw(st.one_of(st.from_regex(pattern, fullmatch=True), _NEAR,
                                st.decimals(allow_nan=False, allow_infinity=False,
                                            places=CURRENCIES[currency].minor_units + 1)
                                .map(lambda d: f"{d:f}")))
    accepted = _accepts(lambda v: _POSITIVE.validate_python(
        Money(amount=v, currency=currency)), value)
    assert accepted == _matches(pattern, value), (currency, value)


def test_amount_limits_at_the_edges() -> None:
    """18 digits in all, trailing zeros allowed, zero refused (model.money Rules 2-3)."""
    eur = input_schema._positive_amount_pattern(2)
    for value, ok in [("9999999999999999.99", True), ("10000000000000000.00", False),
                      ("12.500", True), ("12.505", False), ("0.00", False), ("0.01", True),
                      ("0", False), ("01.00", False), ("1.", False)]:
        assert _matches(eur, value) is ok, value
        assert _accepts(lambda v: _POSITIVE.validate_python(Money(amount=v, currency="EUR")),
                        value) is ok, value
    assert Money(amount="12.500", currency="EUR").amount == Decimal("12.50")


@given(value=st.one_of(st.from_regex(input_schema.E2E_PATTERN, fullmatch=True), _NEAR,
                       st.text(max_size=40)))
def test_end_to_end_id_pattern(value: str) -> None:
    body = {"debtorAccount": {"id": "10000001"}, "creditorAccount": {"id": "10000002"},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
            "endToEndIdentification": value}
    assert _accepts(wire.parse_transfer_request, body) == _matches(
        input_schema.E2E_PATTERN, value), repr(value)


@given(value=st.one_of(st.text(max_size=150), _NEAR,
                       st.from_regex(input_schema.printable_pattern(140), fullmatch=True)))
def test_remittance_pattern_is_str_isprintable(value: str) -> None:
    body = {"debtorAccount": {"id": "10000001"}, "creditorAccount": {"id": "10000002"},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
            "endToEndIdentification": "E2E", "remittanceInformationUnstructured": value}
    expected = _matches(input_schema.printable_pattern(140), value)
    assert _accepts(wire.parse_transfer_request, body) == expected, repr(value)
    assert expected == (value.isprintable() and len(value) <= 140)


@given(value=st.one_of(st.from_regex(input_schema.account_path()["anyOf"][0]["pattern"],
                                     fullmatch=True),
                       st.sampled_from(["DE89370400440532013000", "de89 3704 0044 0532 0130 00",
                                        "DE89370400440532013001", "AA0000000000000"]),
                       _NEAR))
def test_account_path_segment(value: str) -> None:
    """An id that is not shaped like an IBAN, or a valid IBAN: the `iban` format's shape is
    IBAN_PATTERN, and the model decides the rest (country length, mod-97)."""
    id_branch = input_schema.account_path()["anyOf"][0]
    shaped_like_iban = _matches(input_schema.IBAN_PATTERN, value)
    accepted = _accepts(wire.account_ref_from_path, value)
    if not shaped_like_iban:
        assert accepted == jsonschema.Draft202012Validator(id_branch).is_valid(value), repr(value)
    else:
        assert accepted == _accepts(
            lambda v: wire.account_ref_from_path(v.replace(" ", "")), value)


@given(params=st.fixed_dictionaries({}, optional={
    "limit": st.one_of(st.integers(-3, 130).map(str), _NEAR),
    "dateFrom": st.one_of(st.dates().map(str), _NEAR),
    "cursor": st.one_of(st.text(max_size=3), st.from_regex(input_schema.CURSOR_PATTERN,
                                                           fullmatch=True))}))
def test_history_query_parameters(params: dict[str, str]) -> None:
    """limit, dateFrom and cursor as the document states them (one date: the range rule
    between two is stated in words)."""
    document = build_openapi()
    spec = {p["name"]: p["schema"] for p in
            document["paths"]["/v1/accounts/{account_id}/transactions"]["get"]["parameters"]
            if p.get("in") == "query"}

    def valid(name: str, text: str) -> bool:
        if spec[name].get("type") == "integer":
            return re.fullmatch(r"[1-9][0-9]*", text) is not None and 1 <= int(text) <= 100
        return jsonschema.Draft202012Validator(
            spec[name], format_checker=jsonschema.FormatChecker()).is_valid(text)

    expected = all(valid(name, text) for name, text in params.items())
    assert _accepts(wire.parse_history_query, params) == expected, params


def test_account_reference_is_exactly_one_of_id_and_iban() -> None:
    schema = input_schema.account_reference()
    validator = jsonschema.Draft202012Validator(schema)
    for ref, ok in [({"id": "10000001"}, True), ({"iban": "DE89370400440532013000"}, True),
                    ({"id": "10000001", "iban": None}, True), ({}, False),
                    ({"id": None, "iban": None}, False),
                    ({"id": "10000001", "iban": "DE89370400440532013000"}, False)]:
        assert validator.is_valid(ref) is ok, ref
        body = {"debtorAccount": ref, "creditorAccount": {"id": "10000009"},
                "instructedAmount": {"currency": "EUR", "amount": "1.00"},
                "endToEndIdentification": "E2E"}
        assert _accepts(wire.parse_transfer_request, body) is ok, ref


def test_the_document_is_valid_openapi_31() -> None:
    """What an integration engineer checks first (openapi-spec-validator, issue 12)."""
    validate(build_openapi())

