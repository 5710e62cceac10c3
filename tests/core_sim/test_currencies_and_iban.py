"""The core's own ISO 4217 table and ISO 13616 IBAN helper."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core_sim.currencies import BY_ALPHA, BY_NUMERIC, SUPPORTED
from core_sim.demo_data import DEMO_ACCOUNTS
from core_sim.iban import is_valid, make_iban
from core_sim.ledger import Ledger, LedgerError, from_minor, to_minor

# Published examples with their check digits (ISO 13616 / the SWIFT IBAN registry).
KNOWN_IBANS = ["DE89370400440532013000", "GB82WEST12345698765432",
               "FR1420041010050500013M02606", "NL91ABNA0417164300", "BH67BMAG00001299123456"]


@pytest.mark.parametrize("iban", KNOWN_IBANS)
def test_make_iban_reproduces_published_check_digits(iban: str) -> None:
    """MOD 97-10 over BBAN + country + 00 gives the published check digits."""
    assert make_iban(iban[:2], iban[4:]) == iban
    assert is_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013001",  # one digit changed
        "DE89370400440532031000",  # two digits swapped
        "DE8937040044053201300",  # one digit dropped
        "de89370400440532013000",  # not the electronic (upper-case) format
        "DE89 3704 0044 0532 0130 00",  # the paper format, with spaces
        "DE8",
    ],
)
def test_is_valid_refuses_corrupted_ibans(iban: str) -> None:
    """A changed, swapped or dropped character, lower case or spaces all fail the check."""
    assert not is_valid(iban)


def test_make_iban_refuses_what_cannot_be_an_iban() -> None:
    """A country that is not two capitals, or an empty or over-long BBAN, is refused."""
    for country, bban in [("D", "123"), ("de", "123"), ("DE", ""), ("DE", "1" * 31)]:
        with pytest.raises(ValueError, match="2-letter country code"):
            make_iban(country, bban)


def test_every_demo_iban_is_valid() -> None:
    """The seeded demo accounts carry only IBANs that pass ISO 13616's check."""
    ibans = [a.iban for a in DEMO_ACCOUNTS if a.iban]
    assert len(ibans) == 7
    assert all(is_valid(i) for i in ibans)


def test_currency_table_shape() -> None:
    """Codes are unique both ways; numerics are three digits with leading zeros kept."""
    assert len(BY_ALPHA) == len(BY_NUMERIC) == len(SUPPORTED) == 12
    assert BY_NUMERIC["048"].alpha == "BHD"
    assert {c.minor_units for c in SUPPORTED} == {0, 2, 3}
    assert all(len(c.numeric) == 3 and c.numeric.isdigit() for c in SUPPORTED)


@pytest.mark.parametrize(
    ("code", "amount", "minor"),
    [("JPY", "1234", 1234), ("EUR", "12.34", 1234), ("KWD", "1.234", 1234),
     ("BHD", "0.001", 1), ("USD", "-5.5", -550)],
)
def test_minor_units_both_ways(code: str, amount: str, minor: int) -> None:
    """The ledger's decimal <-> minor units follow each currency's ISO 4217 minor unit."""
    assert to_minor(Decimal(amount), code) == minor
    assert from_minor(minor, code) == Decimal(amount)


@pytest.mark.parametrize(("code", "amount"), [("JPY", "1.5"), ("EUR", "0.001"),
                                              ("KWD", "0.0001"), ("AUD", "1.00")])
def test_too_many_decimals_or_unsupported_currency(code: str, amount: str) -> None:
    """More decimals than the currency has, or a currency the core keeps none of: VALIDATION."""
    with pytest.raises(LedgerError) as info:
        to_minor(Decimal(amount), code)
    assert info.value.code == "VALIDATION"


def test_ledger_refuses_a_posting_in_an_unsupported_currency(tmp_path: Path) -> None:
    """A posting in a currency outside the core's table is refused and moves nothing."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.seed_demo()
    before = ledger.totals()
    with pytest.raises(LedgerError) as info:
        ledger.post_transfer("REFAUD000001", "10000001", 100, "AUD", "E2E-1",
                             creditor_id="10000002")
    assert info.value.code == "VALIDATION"
    assert ledger.totals() == before
    assert ledger.transfer_status("REFAUD000001") is None
    ledger.close()
