"""The canonical model's rules: money, IBANs, account references, requests, status lifecycle."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pydantic
import pytest

from adapter.model import (
    AccountRef,
    BillPaymentRequest,
    IllegalTransition,
    Money,
    PaymentStatus,
    TransferRequest,
    make_iban,
)
from adapter.model.accounts import normalise_iban
from adapter.model.errors import BY_CODE, CoreTimeout, InsufficientFunds, InternalError
from adapter.model.status import ISO20022_CODES, TRANSITIONS, check_transition


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(pydantic.ValidationError) as info:
        fn(*args, **kwargs)
    return info.value.errors()[0]["msg"]


class TestMoney:
    def test_decimal_string_is_kept_exactly(self) -> None:
        """A decimal string becomes an exact Decimal scaled to the currency."""
        money = Money(amount="12.5", currency="EUR")
        assert money.amount == Decimal("12.50") and str(money.amount) == "12.50"

    def test_trailing_zeros_beyond_minor_units_are_dropped(self) -> None:
        """'12.500' EUR is the same value as 12.50 EUR and is accepted as such."""
        assert str(Money(amount="12.500", currency="EUR").amount) == "12.50"

    @pytest.mark.parametrize(
        ("currency", "amount"), [("EUR", "1.001"), ("JPY", "1.5"), ("KWD", "0.0001")]
    )
    def test_more_decimals_than_minor_units_refused(self, currency: str, amount: str) -> None:
        """An amount finer than the currency's minor unit is refused, never rounded."""
        assert "decimal places" in _error(Money, amount=amount, currency=currency)

    @pytest.mark.parametrize(("currency", "amount"), [("JPY", "100"), ("KWD", "1.005"),
                                                      ("BHD", "0.001"), ("CLF", "1.0001")])
    def test_minor_units_per_currency(self, currency: str, amount: str) -> None:
        """JPY has 0 decimals, KWD/BHD 3, CLF 4: the exact minor unit is accepted."""
        assert Money(amount=amount, currency=currency).amount == Decimal(amount)

    def test_float_refused(self) -> None:
        """A float is a bug at an edge: refused with a message that says why."""
        assert "floating-point" in _error(Money, amount=12.5, currency="EUR")

    @pytest.mark.parametrize("amount", ["1e3", "NaN", "Infinity", " 1.00", "1_000", "", "abc"])
    def test_non_plain_decimal_strings_refused(self, amount: str) -> None:
        """Exponents, NaN, infinities, padding and separators are not amounts."""
        with pytest.raises(pydantic.ValidationError):
            Money(amount=amount, currency="EUR")

    @pytest.mark.parametrize("currency", ["XXX", "eur", "EURO", ""])
    def test_unknown_currency_refused(self, currency: str) -> None:
        """Only ISO 4217 alphabetic codes from the table are currencies."""
        assert "ISO 4217" in _error(Money, amount="1", currency=currency)

    def test_eighteen_digits_at_most(self) -> None:
        """ISO 20022 totalDigits 18: 16 integer digits + 2 decimals pass, 17 do not."""
        Money(amount="9" * 16 + ".99", currency="EUR")
        assert "18 digits" in _error(Money, amount="9" * 17, currency="EUR")

    def test_minor_units_round_trip(self) -> None:
        """to_minor/from_minor are exact inverses (ISO 8583 field 4)."""
        assert Money(amount="12.34", currency="EUR").to_minor() == 1234
        assert Money(amount="5", currency="JPY").to_minor() == 5
        assert Money.from_minor(1234, "KWD") == Money(amount="1.234", currency="KWD")

    def test_payment_amounts_must_be_positive(self) -> None:
        """Zero and negative amounts are refused on a payment request."""
        base = {"debtor": {"id": "10000001"}, "creditor": {"id": "10000002"},
                "end_to_end_id": "E2E-1"}
        for amount in ("0", "-1.00"):
            msg = _error(TransferRequest.model_validate,
                         {**base, "amount": {"amount": amount, "currency": "EUR"}})
            assert msg == "Value error, amount must be greater than zero"


class TestIban:
    def test_normalised(self) -> None:
        """Spaces are removed and letters upper-cased before checking."""
        assert normalise_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"

    def test_wrong_check_digits_refused(self) -> None:
        """A single changed digit fails mod-97."""
        with pytest.raises(ValueError, match="mod-97"):
            normalise_iban("DE89370400440532013001")

    def test_wrong_length_for_country_refused(self) -> None:
        """A German IBAN has 22 characters."""
        with pytest.raises(ValueError, match="22 characters"):
            normalise_iban("DE8937040044053201300")

    def test_make_iban_is_valid(self) -> None:
        """make_iban computes check digits that normalise_iban accepts."""
        iban = make_iban("DE", "370400440532013000")
        assert iban == "DE89370400440532013000" and normalise_iban(iban) == iban

    def test_account_ref_needs_exactly_one_name(self) -> None:
        """An account is named by its id or its IBAN, not both, not neither."""
        assert AccountRef(iban="DE89 3704 0044 0532 0130 00").iban == "DE89370400440532013000"
        for bad in ({}, {"id": "10000001", "iban": "DE89370400440532013000"}):
            assert "exactly one" in _error(AccountRef.model_validate, bad)


class TestRequests:
    def test_same_account_both_sides_refused(self) -> None:
        """A transfer from an account to itself is refused at validation."""
        msg = _error(TransferRequest.model_validate, {
            "debtor": {"id": "10000001"}, "creditor": {"id": "10000001"},
            "amount": {"amount": "1.00", "currency": "EUR"}, "end_to_end_id": "E2E-1"})
        assert "different accounts" in msg

    def test_bill_payment_fields(self) -> None:
        """A bill payment names a biller and the customer's reference at that biller."""
        request = BillPaymentRequest.model_validate({
            "debtor": {"id": "10000001"}, "biller_id": "ELEC01", "customer_reference": "CUST-42",
            "amount": {"amount": "60.00", "currency": "EUR"}, "end_to_end_id": "BILL-1"})
        assert (request.biller_id, request.customer_reference) == ("ELEC01", "CUST-42")
        assert "biller id" in _error(BillPaymentRequest.model_validate, {
            "debtor": {"id": "10000001"}, "biller_id": "elec", "customer_reference": "C",
            "amount": {"amount": "1.00", "currency": "EUR"}, "end_to_end_id": "B"})

    def test_end_to_end_id_limits(self) -> None:
        """End-to-end ids are Max35Text in the SWIFT character set."""
        base = {"debtor": {"id": "1"}, "creditor": {"id": "2"},
                "amount": {"amount": "1.00", "currency": "EUR"}}
        TransferRequest.model_validate({**base, "end_to_end_id": "A" * 35})
        for bad in ("A" * 36, "", "bad<tag>"):
            with pytest.raises(pydantic.ValidationError):
                TransferRequest.model_validate({**base, "end_to_end_id": bad})


class TestStatusLifecycle:
    def test_iso20022_codes(self) -> None:
        """Each state carries its ISO 20022 status code."""
        assert {s.value: s.iso20022 for s in PaymentStatus} == {
            "received": "RCVD", "accepted": "ACTC", "booked": "ACSC", "rejected": "RJCT",
            "in_doubt": "PDNG", "reversed": "CANC"}
        assert set(ISO20022_CODES) == set(PaymentStatus)

    @pytest.mark.parametrize(("current", "target"), [
        (s, t) for s in PaymentStatus for t in PaymentStatus if t not in TRANSITIONS[s]])
    def test_every_move_outside_the_table_raises(self, current: PaymentStatus,
                                                 target: PaymentStatus) -> None:
        """Illegal transitions raise IllegalTransition naming both states."""
        with pytest.raises(IllegalTransition, match=f"from {current.value} to {target.value}"):
            check_transition(current, target)

    def test_happy_and_in_doubt_paths(self) -> None:
        """received -> accepted -> booked -> reversed, and accepted -> in_doubt -> booked."""
        path = [PaymentStatus.RECEIVED, PaymentStatus.ACCEPTED, PaymentStatus.BOOKED,
                PaymentStatus.REVERSED]
        for current, target in itertools.pairwise(path):
            assert check_transition(current, target) is target
        assert check_transition(PaymentStatus.ACCEPTED, PaymentStatus.IN_DOUBT)
        assert check_transition(PaymentStatus.IN_DOUBT, PaymentStatus.BOOKED)

    def test_final_states(self) -> None:
        """Rejected and reversed are final; booked can only be reversed."""
        assert TRANSITIONS[PaymentStatus.REJECTED] == frozenset()
        assert TRANSITIONS[PaymentStatus.REVERSED] == frozenset()
        assert TRANSITIONS[PaymentStatus.BOOKED] == {PaymentStatus.REVERSED}


class TestErrors:
    def test_codes_are_stable(self) -> None:
        """The required canonical codes exist and map back to their most specific class."""
        for code in ("VALIDATION", "ACCOUNT_NOT_FOUND", "INSUFFICIENT_FUNDS", "CURRENCY_MISMATCH",
                     "DUPLICATE_REQUEST", "IDEMPOTENCY_CONFLICT", "FORBIDDEN", "CORE_TIMEOUT",
                     "CORE_UNAVAILABLE", "INTERNAL"):
            assert BY_CODE[code].code == code
        assert BY_CODE["INTERNAL"] is InternalError
        assert BY_CODE["CORE_TIMEOUT"] is CoreTimeout

    def test_correlation_id_is_set_once(self) -> None:
        """An error keeps the first correlation id it is given."""
        error = InsufficientFunds().with_correlation("abc").with_correlation("def")
        assert (error.code, error.message, error.correlation_id) == (
            "INSUFFICIENT_FUNDS", "insufficient funds", "abc")


@pytest.mark.parametrize("text", ["0", "1", "12.50", "-3.5", "0.001", "100", "-0.50"])
def test_amount_grammar_accepts_plain_ascii_decimals(text: str) -> None:
    """model.money Rule 4: these are amounts, read exactly."""
    assert Money(amount=text, currency="KWD").amount == Decimal(text)


@pytest.mark.parametrize("text", ["+1.00", "\uff11.\uff10\uff10", "\u0661", "1.", ".5", "01",
                                  "00000000000000000001.00", "-01.0", " 1", "1 ", "1e2",
                                  "1_000", "1,00", "--1", "-", "", "NaN", "Infinity"])
def test_amount_grammar_refuses_every_lax_form(text: str) -> None:
    """What Decimal() would read but the wire grammar does not allow is refused, not read."""
    with pytest.raises(pydantic.ValidationError, match="plain decimal string"):
        Money(amount=text, currency="EUR")


def test_header_control_bytes_pattern_finds_what_the_text_pattern_finds() -> None:
    """The REST edge searches raw header bytes (Latin-1 is what Starlette decodes them as);
    over every byte the two patterns must agree, or a control character would slip through."""
    from adapter.model.text import HEADER_CONTROL_BYTES_RE, HEADER_CONTROL_RE

    for b in range(256):
        raw = bytes([b])
        assert (HEADER_CONTROL_BYTES_RE.search(raw) is None) == (
            HEADER_CONTROL_RE.search(raw.decode("latin-1")) is None), hex(b)
