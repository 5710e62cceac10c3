"""Golden bytes for every message type, both ways, and the codec's refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from adapter.connectors.iso8583 import mapping
from adapter.connectors.iso8583.codec import Codec, CodecError, message_fields
from adapter.connectors.iso8583.masking import mask, redact
from adapter.connectors.iso8583.spec import BitmapEncoding
from adapter.model import Money
from tests.iso8583.support import bill, transfer

NOW = datetime(2025, 11, 28, 23, 36, 34, tzinfo=UTC)
codec = Codec()

# Bitmaps worked out by hand (bit 1 = 0x80 of the first byte; bit 1 set = secondary present).
SIGN_ON = (b"0800" b"8220000000800000" b"0400000000000000"  # bits 1,7,11,41 | 70
           b"1128233634" b"000001" b"ADAPTER1" b"001")
ECHO_REPLY = (b"0810" b"8220000002800000" b"0400000000000000"  # bits 1,7,11,39,41 | 70
              b"1128233634" b"000002" b"00" b"ADAPTER1" b"301")
TRANSFER = (b"0200" b"B238000008818000" b"0000000006000000"  # 1,3,4,7,11-13,37,41,48,49|102,103
            b"400000" b"000000001050" b"1128233634" b"000007" b"233634" b"1128"
            b"REF000000001" b"ADAPTER1" b"036" b"E2016E2E-REF000000001RI010invoice 42"
            b"978" b"0810000001" b"0810000002")
TRANSFER_OK = (b"0210" b"B23800000A818000" b"0000000006000000"  # + bit 39
               b"400000" b"000000001050" b"1128233634" b"000007" b"233634" b"1128"
               b"REF000000001" b"00" b"ADAPTER1" b"019" b"TX014TX000000000001"
               b"978" b"0810000001" b"0810000002")
BILL = (b"0200" b"B238000008818000" b"0000000006000000"
        b"500000" b"000000002500" b"1128233634" b"000008" b"233634" b"1128"
        b"REF000000002" b"ADAPTER1" b"033" b"E2016E2E-REF000000002CR007CUST-77"
        b"978" b"0810000001" b"06ELEC01")
BALANCE = (b"0200" b"B238000008800000" b"0000000004000000"  # 1,3,4,7,11-13,37,41 | 102
           b"300000" b"000000000000" b"1128233634" b"000009" b"233634" b"1128"
           b"BALANCE00001" b"ADAPTER1" b"0810000001")
BALANCE_OK = (b"0210" b"B23800000A800400" b"0000000004000000"  # + 39, 54
              b"300000" b"000000000000" b"1128233634" b"000009" b"233634" b"1128"
              b"BALANCE00001" b"00" b"ADAPTER1"
              b"040" b"0001978C000001000000" b"0002978C000001050000" b"0810000001")
REVERSAL = (b"0420" b"B238000008808000" b"0000004006000000"  # 1,3,4,7,11-13,37,41,49|90,102,103
            b"400000" b"000000001050" b"1128233634" b"000010" b"233634" b"1128"
            b"REF000000001" b"ADAPTER1" b"978"
            b"020000000711282336340000000000000000000000" b"0810000001" b"0810000002")
REVERSAL_OK = (b"0430" b"B23800000A808000" b"0000004000000000"
               b"400000" b"000000001050" b"1128233634" b"000010" b"233634" b"1128"
               b"REF000000001" b"00" b"ADAPTER1" b"978"
               b"020000000711282336340000000000000000000000")


def test_sign_on_golden() -> None:
    """0800 sign-on (field 70 = 001): exact bytes out, the same message back."""
    msg = mapping.network_request("001", "000001", "ADAPTER1", NOW)
    assert codec.encode(msg) == SIGN_ON
    assert message_fields(codec.decode(SIGN_ON)) == msg


def test_echo_reply_golden() -> None:
    """0810 echo reply with field 39 decodes to exactly its fields."""
    assert message_fields(codec.decode(ECHO_REPLY)) == {
        "t": "0810", "7": "1128233634", "11": "000002", "39": "00", "41": "ADAPTER1",
        "70": "301"}
    assert codec.encode(codec.decode(ECHO_REPLY)) == ECHO_REPLY


def test_transfer_golden() -> None:
    """0200 transfer: processing code 400000, minor units in 4, 978 in 49, ids in 102/103."""
    posting = transfer("REF000000001", "10.50", debtor="10000001", creditor="10000002")
    msg = mapping.financial_request(posting, "000007", "ADAPTER1", NOW)
    assert codec.encode(msg) == TRANSFER
    assert message_fields(codec.decode(TRANSFER)) == msg


def test_transfer_reply_golden() -> None:
    """0210 approval carries the core's transaction id in field 48 tag TX."""
    reply = codec.decode(TRANSFER_OK)
    assert codec.encode(reply) == TRANSFER_OK
    booking = mapping.booking_from_reply(reply, "REF000000001")
    assert booking.transaction_id == "TX000000000001"
    assert booking.state == "booked"


def test_bill_payment_golden() -> None:
    """0200 bill payment: processing code 500000, biller id in 103, customer ref tag CR."""
    msg = mapping.financial_request(bill("REF000000002"), "000008", "ADAPTER1", NOW)
    assert codec.encode(msg) == BILL
    assert message_fields(codec.decode(BILL)) == msg


def test_balance_golden() -> None:
    """0200/30 balance inquiry and its 0210 with ledger (01) and available (02) in field 54."""
    msg = mapping.balance_request("10000001", "000009", "ADAPTER1", NOW)
    msg["37"] = "BALANCE00001"  # the only random field
    assert codec.encode(msg) == BALANCE
    reply = codec.decode(BALANCE_OK)
    assert codec.encode(reply) == BALANCE_OK
    balance = mapping.balance_from_reply(reply, "10000001", NOW)
    assert balance.booked == Money(amount=Decimal("10000.00"), currency="EUR")
    assert balance.available == Money(amount=Decimal("10500.00"), currency="EUR")


def test_reversal_golden() -> None:
    """0420 repeats the original's elements; field 90 = 0200 + STAN + field 7 + 22 zeros."""
    original = mapping.financial_request(transfer("REF000000001", "10.50"), "000007",
                                         "ADAPTER1", NOW)
    msg = mapping.reversal_advice(original, "000010", NOW, repeat=False)
    assert msg["90"] == "0200" "000007" "1128233634" + "0" * 22
    assert codec.encode(msg) == REVERSAL
    assert message_fields(codec.decode(REVERSAL)) == msg
    repeat = mapping.reversal_advice(original, "000010", NOW, repeat=True)
    assert codec.encode(repeat) == b"0421" + REVERSAL[4:]
    reply = codec.decode(REVERSAL_OK)
    assert reply["t"] == "0430" and reply["39"] == "00"
    assert codec.encode(reply) == REVERSAL_OK


def test_binary_bitmap_variant() -> None:
    """The binary-bitmap variant differs from the default only in the bitmaps (8 raw bytes)."""
    binary = Codec(BitmapEncoding.BINARY)
    msg = mapping.network_request("001", "000001", "ADAPTER1", NOW)
    raw = binary.encode(msg)
    assert raw == (b"0800" + bytes.fromhex("8220000000800000") + bytes.fromhex("0400000000000000")
                   + b"1128233634000001ADAPTER1001")
    assert message_fields(binary.decode(raw)) == msg


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (SIGN_ON + b"X", "cannot decode: Extra data after last field: field 70"),
        (SIGN_ON[:-1], "cannot decode: Field data is 2 bytes, expecting 3: field 70"),
        (b"08", "cannot decode: Field data is 2 bytes, expecting 4: field t"),
        (b"0800" b"0000000000000001", "cannot decode: field 64 is not in the message "
                                      "specification"),
        (b"0800" b"ZZ20000000800000",
         "cannot decode: Failed to decode field, non-hex data: field p"),
        (b"0800" b"0020000000000000" b"00000A", "field 11 (System Trace Audit Number) must be n"),
    ],
)
def test_decode_refusals(data: bytes, error: str) -> None:
    """Garbage, truncated and over-long messages are refused with the field at fault."""
    with pytest.raises(CodecError) as info:
        codec.decode(data)
    assert str(info.value).startswith(error)


def test_encode_refusals_never_quote_account_numbers() -> None:
    """A bad value is refused by field number; the value itself never appears."""
    with pytest.raises(CodecError) as info:
        codec.encode({"t": "0200", "102": "DE89370400440532013000\x00"})
    assert str(info.value) == "field 102 (Account ID 1) must be ans"
    with pytest.raises(CodecError) as short:
        codec.encode({"t": "0800", "11": "12345"})
    assert str(short.value) == "cannot encode: Field data is 5 bytes, expecting 6: field 11"
    with pytest.raises(CodecError, match="field 2 is not in the message specification"):
        codec.encode({"t": "0200", "2": "4111111111111111"})


def test_masking() -> None:
    """All but the last 4 characters of account numbers are hidden in anything logged."""
    assert mask("DE89370400440532013000") == "******************3000"
    assert mask("123") == "***"
    assert redact({"t": "0200", "102": "10000001", "103": "ELEC01", "48": "E2003abc"}) == {
        "t": "0200", "102": "****0001", "103": "**EC01", "48": "<8 chars>"}


def test_transmission_fields_are_utc() -> None:
    """Fields 7, 12 and 13 are the UTC MMDDhhmmss, hhmmss and MMDD of any aware time."""
    east = timezone(timedelta(hours=5))
    assert mapping.transmission_fields(datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=east)) == {
        "7": "0101220405", "12": "220405", "13": "0101"}
    assert mapping.transmission_fields(NOW) == {"7": "1128233634", "12": "233634",
                                                "13": "1128"}
