"""Canonical <-> ISO 8583 mapping: which canonical operation is which message, and back.

Owns the mapping table (README "ISO 8583 connector"). Pure functions: the STAN, terminal id
and clock are passed in.

| canonical                    | ISO 8583 (1987)                                                  |
|------------------------------|------------------------------------------------------------------|
| get_balance                  | 0200, field 3 = 300000; reply 0210 field 54: amount type 01       |
|                              | ledger (booked), 02 available, currency inside field 54           |
| post (transfer)              | 0200, field 3 = 400000, 102 debtor id, 103 creditor id            |
| post (bill payment)          | 0200, field 3 = 500000, 102 debtor id, 103 biller id, 48 tag CR   |
| amount                       | field 4 = minor units (n12) of field 49 (ISO 4217 numeric)        |
| posting reference            | field 37 (an12); the core books each reference once               |
| end-to-end id, remittance    | field 48 tags E2, RI                                              |
| transaction id, booking time | reply field 48 tags TX, BT                                        |
| resolve (in doubt)           | 0420 reversal advice (field 90 = original data elements), then    |
|                              | 0421 repeats until 0430                                           |
| list/get account, history    | no ISO 8583 message: delegated to the configured read port        |

Field 39 -> canonical error: see `RESPONSE_ERRORS`; anything unlisted is a refusal
(`BusinessRuleError`, code REJECTED).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from adapter.connectors.iso8583.codec import Message
from adapter.connectors.iso8583.masking import mask
from adapter.connectors.iso8583.spec import (
    AMOUNT_TYPE_AVAILABLE,
    AMOUNT_TYPE_LEDGER,
    Mti,
    ProcessingCode,
    ResponseCode,
)
from adapter.model import Balance, Money
from adapter.model.currencies import BY_NUMERIC, lookup
from adapter.model.errors import (
    AccountBlocked,
    AccountNotFound,
    AdapterError,
    BillerNotFound,
    BusinessRuleError,
    CoreUnavailable,
    CurrencyMismatch,
    DuplicateRequest,
    InsufficientFunds,
    ValidationError,
)
from adapter.ports.core import CoreBooking, CoreBookingState, CorePosting

RC = ResponseCode

# Field 39 -> canonical error class. 91/96 mean "declined, not processed": nothing was booked,
# which is exactly the port's CoreUnavailable.
RESPONSE_ERRORS: dict[str, type[AdapterError]] = {
    RC.DO_NOT_HONOUR: BusinessRuleError,
    RC.INVALID_TRANSACTION: ValidationError,
    RC.INVALID_AMOUNT: ValidationError,
    RC.NO_SUCH_ACCOUNT: AccountNotFound,
    RC.NO_SUCH_ACCOUNT_ALT: AccountNotFound,
    RC.NO_SUCH_ISSUER: BillerNotFound,
    RC.FORMAT_ERROR: ValidationError,
    RC.INSUFFICIENT_FUNDS: InsufficientFunds,
    RC.NOT_PERMITTED: CurrencyMismatch,
    RC.RESTRICTED: AccountBlocked,
    # Refused before anything was applied: the link's credentials are no longer accepted.
    RC.SECURITY_VIOLATION: CoreUnavailable,
    RC.ISSUER_INOPERATIVE: CoreUnavailable,
    RC.DUPLICATE_TRANSMISSION: DuplicateRequest,
    RC.SYSTEM_MALFUNCTION: CoreUnavailable,
}

# Canonical (ledger) error code -> field 39, for the core's side (core_sim ISO host).
CODE_TO_RESPONSE: dict[str, str] = {
    "ACCOUNT_NOT_FOUND": RC.NO_SUCH_ACCOUNT,
    "BILLER_NOT_FOUND": RC.NO_SUCH_ISSUER,
    "INSUFFICIENT_FUNDS": RC.INSUFFICIENT_FUNDS,
    "CURRENCY_MISMATCH": RC.NOT_PERMITTED,
    "DUPLICATE_REQUEST": RC.DUPLICATE_TRANSMISSION,
    "ACCOUNT_BLOCKED": RC.RESTRICTED,
    "VALIDATION": RC.INVALID_TRANSACTION,
}

MAX_ACCOUNT_ID = 28  # fields 102/103 are LLVAR ..28: internal ids, never IBANs, on the wire
TLV_TAG_LEN = 2
TLV_LEN_LEN = 3


def pack_tlv(values: dict[str, str | None]) -> str:
    """Field 48 private data: tag (2) + length (3 digits) + value, for each non-empty value."""
    return "".join([f"{tag}{len(value):03d}{value}" for tag, value in values.items() if value])


def unpack_tlv(data: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        head = data[pos : pos + TLV_TAG_LEN + TLV_LEN_LEN]
        if len(head) < TLV_TAG_LEN + TLV_LEN_LEN or not head[TLV_TAG_LEN:].isdigit():
            raise ValueError("field 48 is not tag-length-value")
        length = int(head[TLV_TAG_LEN:])
        start = pos + TLV_TAG_LEN + TLV_LEN_LEN
        if start + length > len(data):
            raise ValueError("field 48 element overruns the field")
        out[head[:TLV_TAG_LEN]] = data[start : start + length]
        pos = start + length
    return out


def transmission_fields(now: datetime) -> dict[str, str]:
    """Field 7 (MMDDhhmmss, UTC) and 12/13 (hhmmss, MMDD; local = UTC for this adapter)."""
    utc = now.astimezone(UTC)
    # Formatted by hand: three strftime calls cost four times as much, on every message.
    date = f"{utc.month:02d}{utc.day:02d}"
    time = f"{utc.hour:02d}{utc.minute:02d}{utc.second:02d}"
    return {"7": date + time, "12": time, "13": date}


def new_reference() -> str:
    """A field 37 value for messages that are not postings (balance inquiries)."""
    return "B" + secrets.token_hex(6)[:11].upper()


def _check_account_id(value: str, what: str) -> str:
    if not 0 < len(value) <= MAX_ACCOUNT_ID or not value.isascii() or not value.isprintable():
        raise ValidationError(f"{what} {mask(value)} does not fit ISO 8583 field 102/103 (..28)")
    return value


def financial_request(posting: CorePosting, stan: str, terminal_id: str,
                      now: datetime) -> Message:
    currency = lookup(posting.amount.currency)
    assert currency is not None  # Money only holds ISO 4217 codes from the table
    minor = posting.amount.to_minor()
    if not 0 < minor < 10**12:
        raise ValidationError("the amount does not fit ISO 8583 field 4 (n12 minor units)")
    ref = posting.reference
    if len(ref) != 12 or not (ref.isascii() and ref.isalnum()):
        raise ValidationError("the posting reference must be 12 letters or digits (field 37)")
    msg: Message = {
        "t": Mti.FINANCIAL_REQUEST,
        "4": f"{minor:012d}",
        **transmission_fields(now),
        "11": stan,
        "37": ref,
        "41": terminal_id,
        "49": currency.numeric,
        "102": _check_account_id(posting.debtor_account_id, "debtor account"),
    }
    private = {"E2": posting.end_to_end_id, "RI": posting.remittance}
    if posting.biller_id is not None:
        msg["3"] = ProcessingCode.BILL_PAYMENT
        msg["103"] = _check_account_id(posting.biller_id, "biller")
        private["CR"] = posting.customer_reference
    else:
        if posting.creditor_account_id is None:
            raise ValidationError("a posting names a creditor account or a biller")
        msg["3"] = ProcessingCode.TRANSFER
        msg["103"] = _check_account_id(posting.creditor_account_id, "creditor account")
    data = pack_tlv(private)
    if data:
        msg["48"] = data
    return msg


def balance_request(account_id: str, stan: str, terminal_id: str, now: datetime) -> Message:
    return {
        "t": Mti.FINANCIAL_REQUEST,
        "3": ProcessingCode.BALANCE_INQUIRY,
        "4": "0" * 12,
        **transmission_fields(now),
        "11": stan,
        "37": new_reference(),
        "41": terminal_id,
        "102": _check_account_id(account_id, "account"),
    }


def network_request(code: str, stan: str, terminal_id: str, now: datetime) -> Message:
    return {"t": Mti.NETWORK_REQUEST, "7": transmission_fields(now)["7"], "11": stan,
            "41": terminal_id, "70": code}


def original_data_elements(original: Message) -> str:
    """Field 90 (n42): original MTI (4), STAN (6), transmission date/time (10), acquiring and
    forwarding institution ids (11 each; zeros: this adapter uses neither field 32 nor 33)."""
    return f"{original['t']}{original['11']}{original['7']}{'0' * 22}"


def reversal_advice(original: Message, stan: str, now: datetime, *, repeat: bool) -> Message:
    """0420 (first) or 0421 (repeat): the original's data elements, a fresh STAN and field 7."""
    msg: Message = {
        "t": Mti.REVERSAL_ADVICE_REPEAT if repeat else Mti.REVERSAL_ADVICE,
        **{k: original[k] for k in ("3", "4", "37", "41", "49", "102", "103") if k in original},
        **transmission_fields(now),
        "11": stan,
        "90": original_data_elements(original),
    }
    return msg


def error_for(code: str, what: str) -> AdapterError:
    cls = RESPONSE_ERRORS.get(code, BusinessRuleError)
    if cls is CoreUnavailable:
        return CoreUnavailable(f"the core declined the {what} as unavailable (response {code})")
    return cls()


def booking_from_reply(reply: Message, reference: str) -> CoreBooking:
    code = reply.get("39", "")
    if code != RC.APPROVED:
        raise error_for(code, "posting")
    private = _private(reply)
    booked_at = None
    if "BT" in private:
        try:
            booked_at = datetime.fromisoformat(private["BT"])
        except ValueError:
            booked_at = None
    return CoreBooking(reference=reference, state=CoreBookingState.BOOKED,
                       transaction_id=private.get("TX") or reply.get("38"), booked_at=booked_at)


def _private(reply: Message) -> dict[str, str]:
    try:
        return unpack_tlv(reply.get("48", ""))
    except ValueError:
        return {}


def additional_amount(amount_type: str, money: Money, account_type: str = "00") -> str:
    """One field 54 element (20 chars): account type 2, amount type 2, currency 3, C/D, n12."""
    currency = lookup(money.currency)
    assert currency is not None
    minor = money.to_minor()
    sign = "C" if minor >= 0 else "D"
    return f"{account_type}{amount_type}{currency.numeric}{sign}{abs(minor):012d}"


def parse_additional_amounts(data: str) -> dict[str, tuple[int, str]]:
    """Field 54 -> amount type -> (signed minor units, ISO 4217 alphabetic code)."""
    if len(data) % 20:
        raise ValueError("field 54 is not a sequence of 20-character amounts")
    out: dict[str, tuple[int, str]] = {}
    for pos in range(0, len(data), 20):
        item = data[pos : pos + 20]
        currency = BY_NUMERIC.get(item[4:7])
        if currency is None or item[7] not in "CD" or not item[8:].isdigit():
            raise ValueError("field 54 amount is malformed")
        minor = int(item[8:]) * (1 if item[7] == "C" else -1)
        out[item[2:4]] = (minor, currency.code)
    return out


def balance_from_reply(reply: Message, account_id: str, now: datetime) -> Balance:
    code = reply.get("39", "")
    if code != RC.APPROVED:
        raise error_for(code, "balance inquiry")
    try:
        amounts = parse_additional_amounts(reply.get("54", ""))
        ledger, currency = amounts[AMOUNT_TYPE_LEDGER]
        available, currency2 = amounts[AMOUNT_TYPE_AVAILABLE]
    except (ValueError, KeyError) as exc:
        raise CoreUnavailable("the core's balance reply has no usable field 54") from exc
    if currency != currency2:
        raise CoreUnavailable("the core's balance reply mixes currencies in field 54")
    return Balance(account_id=account_id, booked=Money.from_minor(ledger, currency),
                   available=Money.from_minor(available, currency), as_of=now)
