"""Golden bytes on the core's side: every message the ISO host receives and sends, exactly.

Written from the interface document (README, "ISO 8583 connector") and ISO 8583:1987, not
from the adapter's code: ASCII fields, 16-character ASCII-hex bitmaps (bit 1 is 0x8 of the
first character and means "secondary bitmap follows"), LLVAR/LLLVAR lengths in ASCII digits.
Each request is decoded by the core's codec and answered by the host on a real ledger with a
fixed clock; the reply is encoded and compared byte for byte, and the ledger's balances are
checked before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapter.infra.tls import TlsFiles, server_context
from core_sim.faults import FaultSettings
from core_sim.iso8583.codec import Codec, Message, MessageError
from core_sim.iso_host import IsoHost
from core_sim.ledger import Ledger

BOOKED_AT = datetime(2025, 11, 28, 23, 36, 34, tzinfo=UTC)
SEEDED = {"EUR": 1_750_000, "JPY": 1_000_000, "USD": 800_000}
codec = Codec()

# -- the messages, by hand --------------------------------------------------------------------
# Fields 7 (MMDDhhmmss), 12 (hhmmss) and 13 (MMDD) are 2025-11-28 23:36:34 throughout.

# bits 1 7 11 41 | 70
SIGN_ON = (b"0800" b"8220000000800000" b"0400000000000000"
           b"1128233634" b"000001" b"ADAPTER1" b"001")
# bits 1 7 11 39 41 | 70
SIGN_ON_OK = (b"0810" b"8220000002800000" b"0400000000000000"
              b"1128233634" b"000001" b"00" b"ADAPTER1" b"001")
ECHO = (b"0800" b"8220000000800000" b"0400000000000000"
        b"1128233634" b"000002" b"ADAPTER1" b"301")
ECHO_OK = (b"0810" b"8220000002800000" b"0400000000000000"
           b"1128233634" b"000002" b"00" b"ADAPTER1" b"301")

# bits 1 3 4 7 11 12 13 37 41 48 49 | 102 103
TRANSFER = (b"0200" b"B238000008818000" b"0000000006000000"
            b"400000" b"000000001050" b"1128233634" b"000007" b"233634" b"1128"
            b"REF000000001" b"ADAPTER1" b"036" b"E2016E2E-REF000000001" b"RI010invoice 42"
            b"978" b"0810000001" b"0810000002")
# + bit 39; field 48 now the core's TX (transaction id) and BT (booking time)
TRANSFER_OK = (b"0210" b"B23800000A818000" b"0000000006000000"
               b"400000" b"000000001050" b"1128233634" b"000007" b"233634" b"1128"
               b"REF000000001" b"00" b"ADAPTER1"
               b"049" b"TX014TX000000000001" b"BT0252025-11-28T23:36:34+00:00"
               b"978" b"0810000001" b"0810000002")

BILL = (b"0200" b"B238000008818000" b"0000000006000000"
        b"500000" b"000000002500" b"1128233634" b"000008" b"233634" b"1128"
        b"REF000000002" b"ADAPTER1" b"033" b"E2016E2E-REF000000002" b"CR007CUST-77"
        b"978" b"0810000001" b"06ELEC01")
BILL_OK = (b"0210" b"B23800000A818000" b"0000000006000000"
           b"500000" b"000000002500" b"1128233634" b"000008" b"233634" b"1128"
           b"REF000000002" b"00" b"ADAPTER1"
           b"049" b"TX014TX000000000001" b"BT0252025-11-28T23:36:34+00:00"
           b"978" b"0810000001" b"06ELEC01")

# bits 1 3 4 7 11 12 13 37 41 | 102
BALANCE = (b"0200" b"B238000008800000" b"0000000004000000"
           b"300000" b"000000000000" b"1128233634" b"000009" b"233634" b"1128"
           b"B1A2B3C4D5E6" b"ADAPTER1" b"0810000002")
# + bits 39 54: ledger (01) 2,500.00 EUR credit, available (02) 3,000.00 (overdraft 500.00)
BALANCE_OK = (b"0210" b"B23800000A800400" b"0000000004000000"
              b"300000" b"000000000000" b"1128233634" b"000009" b"233634" b"1128"
              b"B1A2B3C4D5E6" b"00" b"ADAPTER1"
              b"040" b"0001978C000000250000" b"0002978C000000300000" b"0810000002")

# bits 1 3 4 7 11 12 13 37 41 49 | 90 102 103; 90 = 0200, STAN 000007, its field 7, 22 zeros
REVERSAL = (b"0420" b"B238000008808000" b"0000004006000000"
            b"400000" b"000000001050" b"1128233634" b"000010" b"233634" b"1128"
            b"REF000000001" b"ADAPTER1" b"978"
            b"0200" b"000007" b"1128233634" b"0000000000000000000000"
            b"0810000001" b"0810000002")
# bits 3 4 7 11 12 13 37 39 41 49: no secondary bitmap (102, 103, 90 are not echoed)
REVERSAL_OK = (b"0430" b"323800000A808000"
               b"400000" b"000000001050" b"1128233634" b"000010" b"233634" b"1128"
               b"REF000000001" b"00" b"ADAPTER1" b"978")


def refused_transfer(code: bytes, *, processing: bytes = b"400000",
                     amount: bytes = b"000000001050", currency: bytes = b"978",
                     creditor: bytes = b"0810000002") -> bytes:
    """A 0210 refusal of TRANSFER: bits 1 3 4 7 11 12 13 37 39 41 49 | 102 103, no 48."""
    return (b"0210" b"B23800000A808000" b"0000000006000000"
            + processing + amount + b"1128233634" b"000007" b"233634" b"1128"
            + b"REF000000001" + code + b"ADAPTER1" + currency + b"0810000001" + creditor)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite", clock=lambda: BOOKED_AT)
    led.seed_demo()
    yield led
    led.close()


@pytest.fixture
def host(ledger: Ledger, pki_dir: Path) -> IsoHost:
    """A host that is never started: `answer` is its whole decision, sans IO."""
    return IsoHost(ledger, FaultSettings(), server_context(TlsFiles.from_dir(pki_dir, "core")))


def answer(host: IsoHost, request: bytes | Message) -> bytes | None:
    msg = codec.decode(request) if isinstance(request, bytes) else request
    reply = host.answer(msg)
    return None if reply is None else codec.encode(reply)


def balances(ledger: Ledger, *accounts: str) -> list[int]:
    return [ledger.balance(a)[0] for a in accounts]


# -- network management -----------------------------------------------------------------------


def test_sign_on_decodes_to_its_fields() -> None:
    """0800 sign-on: fields 7, 11, 41 and 70 = 001, nothing else."""
    assert codec.decode(SIGN_ON) == {"t": "0800", "7": "1128233634", "11": "000001",
                                     "41": "ADAPTER1", "70": "001"}


def test_sign_on_is_approved(host: IsoHost) -> None:
    """0800/001 is answered 0810 with 7, 11, 41, 70 echoed and 39 = 00."""
    assert answer(host, SIGN_ON) == SIGN_ON_OK


def test_echo_is_approved(host: IsoHost) -> None:
    """0800/301 echo test is answered 0810, 39 = 00."""
    assert answer(host, ECHO) == ECHO_OK


def test_sign_off_is_approved(host: IsoHost) -> None:
    """0800/002 sign-off is answered 0810, 39 = 00."""
    assert answer(host, SIGN_ON[:-3] + b"002") == SIGN_ON_OK[:-3] + b"002"


def test_unknown_network_code_is_invalid_transaction(host: IsoHost) -> None:
    """0800 with a field 70 code outside 001/002/301 is answered 39 = 12."""
    assert answer(host, SIGN_ON[:-3] + b"999") == (
        b"0810" b"8220000002800000" b"0400000000000000"
        b"1128233634" b"000001" b"12" b"ADAPTER1" b"999")


def test_network_request_without_field_70_is_a_format_error(host: IsoHost) -> None:
    """0800 without field 70 is answered 0810, 39 = 30, without a secondary bitmap."""
    request = b"0800" b"0220000000800000" b"1128233634" b"000001" b"ADAPTER1"
    assert answer(host, request) == (b"0810" b"0220000002800000"
                                     b"1128233634" b"000001" b"30" b"ADAPTER1")


def test_unanswered_network_switch(host: IsoHost) -> None:
    """With `answer_network` off, a well-formed 0800 gets no reply at all."""
    host.answer_network = False
    assert answer(host, ECHO) is None


# -- financial: transfer, bill payment, balance inquiry ---------------------------------------


def test_transfer_decodes_to_its_fields() -> None:
    """0200/40: amount in minor units, currency 978, TLV field 48, ids in 102/103."""
    assert codec.decode(TRANSFER) == {
        "t": "0200", "3": "400000", "4": "000000001050", "7": "1128233634", "11": "000007",
        "12": "233634", "13": "1128", "37": "REF000000001", "41": "ADAPTER1",
        "48": "E2016E2E-REF000000001RI010invoice 42", "49": "978", "102": "10000001",
        "103": "10000002"}


def test_transfer_is_booked_and_answered(host: IsoHost, ledger: Ledger) -> None:
    """0200/40 books 10.50 EUR once and answers 0210 with 39 = 00 and 48 TX/BT."""
    assert balances(ledger, "10000001", "10000002") == [1_000_000, 250_000]
    assert answer(host, TRANSFER) == TRANSFER_OK
    assert balances(ledger, "10000001", "10000002") == [998_950, 251_050]
    posting = ledger.transfer_status("REF000000001")
    assert posting is not None
    assert (posting.end_to_end_id, posting.remittance) == ("E2E-REF000000001", "invoice 42")
    assert ledger.totals() == SEEDED


def test_transfer_replayed_is_answered_the_same_and_books_nothing(
    host: IsoHost, ledger: Ledger
) -> None:
    """The same 0200 again is answered with the original booking; money moves once."""
    assert answer(host, TRANSFER) == TRANSFER_OK
    assert answer(host, TRANSFER) == TRANSFER_OK
    assert balances(ledger, "10000001", "10000002") == [998_950, 251_050]
    assert ledger.entry_count("REF000000001") == 2


def test_bill_payment_is_booked_to_the_billers_account(host: IsoHost, ledger: Ledger) -> None:
    """0200/50 pays biller ELEC01 (account 90000001) and keeps the CR customer reference."""
    assert balances(ledger, "10000001", "90000001") == [1_000_000, 0]
    assert answer(host, BILL) == BILL_OK
    assert balances(ledger, "10000001", "90000001") == [997_500, 2_500]
    posting = ledger.transfer_status("REF000000002")
    assert posting is not None
    assert (posting.biller_id, posting.customer_reference) == ("ELEC01", "CUST-77")


def test_balance_inquiry_answers_ledger_and_available_in_field_54(
    host: IsoHost, ledger: Ledger
) -> None:
    """0200/30 is answered with field 54 amount types 01 and 02; nothing is booked."""
    assert answer(host, BALANCE) == BALANCE_OK
    assert ledger.totals() == SEEDED


def test_negative_balance_is_written_debit(host: IsoHost, ledger: Ledger) -> None:
    """A balance below zero is D plus its magnitude in field 54; available stays C."""
    ledger.add_account("10000099", "EUR", "Overdrawn", -1500, overdraft_minor=5000)
    request = codec.decode(BALANCE)
    request["102"] = "10000099"
    assert answer(host, request) == (
        b"0210" b"B23800000A800400" b"0000000004000000"
        b"300000" b"000000000000" b"1128233634" b"000009" b"233634" b"1128"
        b"B1A2B3C4D5E6" b"00" b"ADAPTER1"
        b"040" b"0001978D000000001500" b"0002978C000000003500" b"0810000099")


def test_balance_of_a_zero_decimal_currency(host: IsoHost) -> None:
    """JPY has no minor unit: 1,000,000 yen are 000001000000 in field 54, currency 392."""
    request = codec.decode(BALANCE)
    request["102"] = "10000005"
    reply = answer(host, request)
    assert reply is not None
    assert reply.endswith(b"040" b"0001392C000001000000" b"0002392C000001000000"
                          b"0810000005")


def test_balance_of_an_unknown_account(host: IsoHost) -> None:
    """0200/30 for an account the core does not hold is answered 39 = 14, without 54."""
    request = codec.decode(BALANCE)
    request["102"] = "10000099"
    assert answer(host, request) == (
        b"0210" b"B23800000A800000" b"0000000004000000"
        b"300000" b"000000000000" b"1128233634" b"000009" b"233634" b"1128"
        b"B1A2B3C4D5E6" b"14" b"ADAPTER1" b"0810000099")


# -- refusals: one per field 39 code the host sends -------------------------------------------


def _transfer(changes: dict[str, str | None]) -> Message:
    """TRANSFER decoded, with fields replaced (or removed: None)."""
    msg = codec.decode(TRANSFER)
    for key, value in changes.items():
        if value is None:
            del msg[key]
        else:
            msg[key] = value
    return msg


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        pytest.param({"4": "000001000001"},  # 10,000.01 EUR; the debtor holds 10,000.00
                     refused_transfer(b"51", amount=b"000001000001"), id="51-insufficient"),
        pytest.param({"103": "10000099"},
                     refused_transfer(b"14", creditor=b"0810000099"), id="14-no-account"),
        pytest.param({"3": "500000", "103": "NOBILL"},
                     refused_transfer(b"15", processing=b"500000", creditor=b"06NOBILL"),
                     id="15-no-biller"),
        pytest.param({"49": "840"},  # both accounts are held in EUR
                     refused_transfer(b"57", currency=b"840"), id="57-currency-mismatch"),
        pytest.param({"103": "10000006"},  # Frank SE is blocked
                     refused_transfer(b"62", creditor=b"0810000006"), id="62-blocked"),
        pytest.param({"49": "036"},  # AUD: ISO 4217, but no currency the core keeps
                     refused_transfer(b"12", currency=b"036"), id="12-unsupported-currency"),
        pytest.param({"103": "10000001"},  # debtor and creditor the same account
                     refused_transfer(b"12", creditor=b"0810000001"), id="12-same-account"),
        pytest.param({"3": "990000"},
                     refused_transfer(b"12", processing=b"990000"), id="12-unknown-type"),
        pytest.param({"4": "000000000000"},
                     refused_transfer(b"13", amount=b"000000000000"), id="13-zero-amount"),
        pytest.param({"48": "E2016E2E-REF0000"},  # the element overruns the field
                     refused_transfer(b"30"), id="30-bad-tlv"),
        pytest.param({"48": "E2003abcE2003abc"},
                     refused_transfer(b"30"), id="30-repeated-tag"),
        pytest.param({"54": "0001978C000000000001"},  # a reply field in a request
                     refused_transfer(b"30"), id="30-field-not-allowed"),
    ],
)
def test_refusals_book_nothing(host: IsoHost, ledger: Ledger, request_fields: dict[str, str | None],
                               expected: bytes) -> None:
    """Each refusal is a 0210 with its field 39 code and the request echoed; no money moves."""
    assert answer(host, _transfer(request_fields)) == expected
    assert ledger.transfer_status("REF000000001") is None
    assert ledger.totals() == SEEDED
    assert balances(ledger, "10000001", "10000002") == [1_000_000, 250_000]


def test_missing_field_is_a_format_error(host: IsoHost, ledger: Ledger) -> None:
    """A transfer without field 103 is answered 39 = 30 (no secondary 103 bit); no money moves."""
    assert answer(host, _transfer({"103": None})) == (
        b"0210" b"B23800000A808000" b"0000000004000000"
        b"400000" b"000000001050" b"1128233634" b"000007" b"233634" b"1128"
        b"REF000000001" b"30" b"ADAPTER1" b"978" b"0810000001")
    assert ledger.transfer_status("REF000000001") is None
    assert ledger.totals() == SEEDED


def test_duplicate_reference_with_other_details(host: IsoHost, ledger: Ledger) -> None:
    """A booked reference sent again with another amount is answered 39 = 94; nothing moves."""
    assert answer(host, TRANSFER) == TRANSFER_OK
    assert answer(host, _transfer({"4": "000000001051"})) == refused_transfer(
        b"94", amount=b"000000001051")
    assert balances(ledger, "10000001", "10000002") == [998_950, 251_050]


def test_injected_failure_is_system_malfunction(host: IsoHost, ledger: Ledger) -> None:
    """With one failure injected the 0200 is answered 39 = 96 and nothing is booked."""
    host.faults.fail_next = 1
    assert answer(host, TRANSFER) == refused_transfer(b"96")
    assert ledger.transfer_status("REF000000001") is None
    assert answer(host, TRANSFER) == TRANSFER_OK


def test_injected_lost_reply_books_and_answers_nothing(host: IsoHost, ledger: Ledger) -> None:
    """A dropped reply follows a committed posting: no bytes out, the money has moved."""
    host.faults.drop_next = 1
    assert answer(host, TRANSFER) is None
    assert balances(ledger, "10000001", "10000002") == [998_950, 251_050]


def test_unsupported_request_mti_is_invalid_transaction(host: IsoHost) -> None:
    """An 0100 authorisation request is answered 0110 with 39 = 12 (ISO 8583 MTI rule)."""
    request = b"0100" + TRANSFER[4:]
    assert answer(host, request) == b"0110" + refused_transfer(b"12")[4:]


def test_a_response_is_never_answered(host: IsoHost, ledger: Ledger) -> None:
    """A 0210 sent to the host is not a request: no reply, nothing booked."""
    assert answer(host, TRANSFER_OK) is None
    assert ledger.totals() == SEEDED


# -- reversals --------------------------------------------------------------------------------


def test_reversal_decodes_field_90() -> None:
    """0420 carries the original's 3/4/37/49/102/103 and field 90 = 0200 + STAN + 7 + zeros."""
    msg = codec.decode(REVERSAL)
    assert msg["90"] == "0200" "000007" "1128233634" + "0" * 22
    assert (msg["t"], msg["11"], msg["37"]) == ("0420", "000010", "REF000000001")


def test_reversal_undoes_the_booking(host: IsoHost, ledger: Ledger) -> None:
    """0420 of a booked transfer puts both balances back and is answered 0430, 39 = 00."""
    assert answer(host, TRANSFER) == TRANSFER_OK
    assert answer(host, REVERSAL) == REVERSAL_OK
    assert balances(ledger, "10000001", "10000002") == [1_000_000, 250_000]
    assert ledger.entry_count("REF000000001") == 4


def test_repeated_reversal_changes_nothing(host: IsoHost, ledger: Ledger) -> None:
    """0421 (repeat) after the 0420 is answered 0430, 39 = 00; the money moves back once."""
    assert answer(host, TRANSFER) == TRANSFER_OK
    assert answer(host, REVERSAL) == REVERSAL_OK
    assert answer(host, b"0421" + REVERSAL[4:]) == REVERSAL_OK
    assert balances(ledger, "10000001", "10000002") == [1_000_000, 250_000]
    assert ledger.entry_count("REF000000001") == 4


def test_reversal_before_the_original_fences_it(host: IsoHost, ledger: Ledger) -> None:
    """A 0420 for an unknown reference is approved and fences it: the late 0200 gets 94."""
    assert answer(host, REVERSAL) == REVERSAL_OK
    assert answer(host, TRANSFER) == refused_transfer(b"94")
    assert balances(ledger, "10000001", "10000002") == [1_000_000, 250_000]


@pytest.mark.parametrize(
    "field_90",
    [
        "0100" "000007" "1128233634" + "0" * 22,  # names an original that is not a 0200
        None,  # missing
    ],
    ids=["90-not-a-0200", "90-missing"],
)
def test_malformed_reversal_is_a_format_error(host: IsoHost, ledger: Ledger,
                                              field_90: str | None) -> None:
    """A 0420 with a bad or missing field 90 is answered 0430, 39 = 30; the booking stays."""
    assert answer(host, TRANSFER) == TRANSFER_OK
    msg = codec.decode(REVERSAL)
    if field_90 is None:
        del msg["90"]
    else:
        msg["90"] = field_90
    assert answer(host, msg) == REVERSAL_OK.replace(b"REF000000001" b"00", b"REF000000001" b"30")
    assert balances(ledger, "10000001", "10000002") == [998_950, 251_050]


# -- what the codec refuses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (SIGN_ON + b"X", "cannot decode field 70: Extra data after last field"),
        (SIGN_ON[:-1], "cannot decode field 70: Field data is 2 bytes, expecting 3"),
        (b"08", "cannot decode field t: Field data is 2 bytes, expecting 4"),
        (b"0800" b"0000000000000001", "field 64 is not part of the interface"),
        (b"0800" b"C000000000000000" b"0000000000000000" b"4111111111111111",
         "field 2 is not part of the interface"),
        (b"0800" b"ZZ20000000800000", "cannot decode field p: Failed to decode field, non-hex"),
        (b"0800" b"0020000000000000" b"00000A", "field 11 (Systems trace audit number) must be n"),
        (b"0200" b"0000000008000000" b"AB-CDE123456", "field 37 (Retrieval reference number) "
                                                      "must be an"),
        (b"0200" b"8000000000000000" b"0000000004000000" b"05AB\x01CD",
         "field 102 (Account identification 1) must be ans"),
        (b"08X0" b"0020000000000000" b"000001", "the MTI must be 4 digits"),
    ],
    ids=["extra", "truncated", "short-mti", "field-64", "pan", "bitmap", "n", "an", "ans", "mti"],
)
def test_decode_refusals(data: bytes, error: str) -> None:
    """Bytes that are not an interface message are refused, naming the field at fault."""
    with pytest.raises(MessageError) as info:
        codec.decode(data)
    assert str(info.value).startswith(error)


def test_encode_refusal_never_quotes_the_value() -> None:
    """A value of the wrong class is refused by field number; the value never appears."""
    with pytest.raises(MessageError) as info:
        codec.encode({"t": "0210", "102": "DE89370400440532013000\n"})
    assert str(info.value) == "field 102 (Account identification 1) must be ans"
    with pytest.raises(MessageError) as too_long:
        codec.encode({"t": "0210", "103": "1" * 29})
    assert str(too_long.value) == ("cannot encode field 103: Field data is 29 bytes, "
                                   "larger than maximum 28")


def test_binary_bitmap_variant() -> None:
    """The binary variant differs only in the bitmaps: 8 raw bytes each instead of 16 hex."""
    binary = Codec(binary_bitmap=True)
    raw = (b"0800" + bytes.fromhex("8220000000800000") + bytes.fromhex("0400000000000000")
           + b"1128233634" b"000001" b"ADAPTER1" b"001")
    assert binary.decode(raw) == codec.decode(SIGN_ON)
    assert binary.encode(codec.decode(SIGN_ON)) == raw
