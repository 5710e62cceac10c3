"""The adapter's ISO 8583 side against the core's, two implementations of one interface.

Every message type goes through both codecs in both directions and must come out as the same
bytes and the same fields, in both bitmap variants. Then, for every currency the core keeps,
the adapter's canonical calls are encoded by the adapter, decoded and answered by the core's
host on a real ledger, and the replies decoded by the adapter: the amounts each side reads
as decimals must agree (field 4 and field 54 are minor units, so a wrong minor-unit entry on
either side shows), field 48 TLV and field 39 codes must mean the same to both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapter.connectors.iso8583 import mapping
from adapter.connectors.iso8583.codec import Codec as AdapterCodec
from adapter.connectors.iso8583.codec import message_fields
from adapter.connectors.iso8583.spec import BitmapEncoding
from adapter.infra.tls import TlsFiles, server_context
from adapter.model import Money
from adapter.model.errors import AdapterError
from adapter.ports.core import CorePosting
from core_sim import currencies
from core_sim.faults import FaultSettings
from core_sim.iso8583 import elements
from core_sim.iso8583.codec import Codec as CoreCodec
from core_sim.iso_host import IsoHost
from core_sim.ledger import Ledger, from_minor, to_minor

NOW = datetime(2025, 11, 28, 23, 36, 34, tzinfo=UTC)
BOOKED_AT = datetime(2025, 11, 29, 8, 15, 0, tzinfo=UTC)
TID = "ADAPTER1"
CODES = [c.alpha for c in currencies.SUPPORTED]

adapter_ascii, core_ascii = AdapterCodec(), CoreCodec()
adapter_binary = AdapterCodec(BitmapEncoding.BINARY)
core_binary = CoreCodec(binary_bitmap=True)
VARIANTS = [pytest.param(adapter_ascii, core_ascii, id="ascii-bitmap"),
            pytest.param(adapter_binary, core_binary, id="binary-bitmap")]


def amount_in(code: str, digits: int = 123456789) -> Decimal:
    """`digits` minor units of `code`, as the decimal a caller writes (JPY 123456789,
    EUR 1234567.89, KWD 123456.789), read from the core's table."""
    return Decimal(digits).scaleb(-currencies.BY_ALPHA[code].minor_units)


def posting(code: str, reference: str = "REFX00000001", *, biller: bool = False,
            creditor: str = "20000002") -> CorePosting:
    transfer = CorePosting(reference=reference, debtor_account_id="20000001",
                           creditor_account_id=creditor,
                           amount=Money(amount=amount_in(code), currency=code),
                           end_to_end_id=f"E2E-{reference}", remittance="invoice 42")
    if biller:
        return transfer.model_copy(update={"creditor_account_id": None, "biller_id": "ELEC01",
                                           "customer_reference": "CUST-77"})
    return transfer


def every_message(code: str) -> dict[str, dict[str, str]]:
    """One of each message of the interface, as the adapter builds it or the core answers."""
    transfer = mapping.financial_request(posting(code), "000007", TID, NOW)
    cur = currencies.BY_ALPHA[code]
    echoed = {k: transfer[k] for k in ("3", "4", "7", "11", "12", "13", "37", "41", "49",
                                       "102", "103")}
    balance = mapping.balance_request("20000001", "000009", TID, NOW)
    return {
        "0800 sign-on": mapping.network_request("001", "000001", TID, NOW),
        "0800 echo": mapping.network_request("301", "000002", TID, NOW),
        "0810": {"t": "0810", "7": "1128233634", "11": "000002", "39": "00", "41": TID,
                 "70": "301"},
        "0200 transfer": transfer,
        "0200 bill payment": mapping.financial_request(posting(code, biller=True), "000008",
                                                       TID, NOW),
        "0200 balance": balance,
        "0210 booked": {**echoed, "t": "0210", "39": "00",
                        "48": elements.pack_tlv({"TX": "TX000000000042",
                                                 "BT": BOOKED_AT.isoformat()})},
        "0210 balance": {**{k: balance[k] for k in balance if k != "t"}, "t": "0210",
                         "39": "00",
                         "54": elements.additional_amount("01", -123456789, cur)
                         + elements.additional_amount("02", 987654321, cur)},
        "0210 refused": {**echoed, "t": "0210", "39": "51"},
        "0420": mapping.reversal_advice(transfer, "000010", NOW, repeat=False),
        "0421": mapping.reversal_advice(transfer, "000011", NOW, repeat=True),
        "0430": {**{k: echoed[k] for k in echoed if k not in ("102", "103")},
                 "t": "0430", "11": "000010", "39": "00"},
    }


MESSAGE_NAMES = list(every_message("EUR"))


@pytest.mark.parametrize(("adapter_codec", "core_codec"), VARIANTS)
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("name", MESSAGE_NAMES)
def test_both_codecs_write_the_same_bytes_and_read_the_same_fields(
    adapter_codec: AdapterCodec, core_codec: CoreCodec, code: str, name: str
) -> None:
    """Adapter-encoded bytes decode on the core to the same fields, and the reverse; the two
    encoders agree byte for byte."""
    msg = every_message(code)[name]
    from_adapter = adapter_codec.encode(msg)
    from_core = core_codec.encode(msg)
    assert from_adapter == from_core
    assert core_codec.decode(from_adapter) == msg
    assert message_fields(adapter_codec.decode(from_core)) == msg


@pytest.mark.parametrize("code", CODES)
def test_field_values_mean_the_same_on_both_sides(code: str) -> None:
    """Field 4 and 49, field 48 TLV and field 54 read by the core's helpers are the
    adapter's canonical values; the core's field 54 read by the adapter are its balances."""
    messages = every_message(code)
    transfer = core_ascii.decode(adapter_ascii.encode(messages["0200 transfer"]))
    cur = elements.currency(transfer["49"])
    assert cur.alpha == code
    assert transfer["4"] == "000123456789"
    assert cur.from_minor(elements.parse_amount(transfer["4"])) == amount_in(code)
    assert elements.parse_tlv(transfer["48"]) == {"E2": "E2E-REFX00000001",
                                                  "RI": "invoice 42"}
    bill = core_ascii.decode(adapter_ascii.encode(messages["0200 bill payment"]))
    assert elements.parse_tlv(bill["48"]) == {"E2": "E2E-REFX00000001", "CR": "CUST-77",
                                              "RI": "invoice 42"}
    assert (bill["3"][:2], bill["103"]) == ("50", "ELEC01")

    reply = adapter_ascii.decode(core_ascii.encode(messages["0210 balance"]))
    balance = mapping.balance_from_reply(reply, "20000001", NOW)
    assert balance.booked == Money(amount=-amount_in(code), currency=code)
    assert balance.available == Money(amount=amount_in(code, 987654321), currency=code)
    booked = adapter_ascii.decode(core_ascii.encode(messages["0210 booked"]))
    booking = mapping.booking_from_reply(booked, "REFX00000001")
    assert (booking.transaction_id, booking.booked_at) == ("TX000000000042", BOOKED_AT)


# -- through the core's host, on a real ledger -----------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite", clock=lambda: BOOKED_AT)
    led.seed_demo()
    yield led
    led.close()


@pytest.fixture
def host(ledger: Ledger, pki_dir: Path) -> IsoHost:
    return IsoHost(ledger, FaultSettings(), server_context(TlsFiles.from_dir(pki_dir, "core")))


def exchange(host: IsoHost, request: dict[str, str]) -> dict[str, str]:
    """Adapter encodes, the core decodes and answers, the core encodes, the adapter decodes."""
    reply = host.answer(core_ascii.decode(adapter_ascii.encode(request)))
    assert reply is not None
    return adapter_ascii.decode(core_ascii.encode(reply))


def open_accounts(ledger: Ledger, code: str, opening: str) -> None:
    """Two accounts in `code`; the debtor's opening balance given as the core's decimal."""
    ledger.add_account("20000001", code, "Debtor", to_minor(Decimal(opening), code))
    ledger.add_account("20000002", code, "Creditor", 0)


def decimal_balance(ledger: Ledger, account: str) -> Decimal:
    booked, _, code = ledger.balance(account)
    return from_minor(booked, code)


@pytest.mark.parametrize("code", CODES)
def test_balance_inquiry_reads_the_cores_decimal(host: IsoHost, ledger: Ledger,
                                                 code: str) -> None:
    """A balance the core holds as a decimal reaches the adapter as the same decimal."""
    opening = str(amount_in(code, 2_000_000_001))
    open_accounts(ledger, code, opening)
    reply = exchange(host, mapping.balance_request("20000001", "000009", TID, NOW))
    balance = mapping.balance_from_reply(reply, "20000001", NOW)
    assert balance.booked == Money(amount=Decimal(opening), currency=code)
    assert balance.available == Money(amount=Decimal(opening), currency=code)


@pytest.mark.parametrize("code", CODES)
def test_transfer_and_reversal_move_the_same_decimal_on_both_sides(
    host: IsoHost, ledger: Ledger, code: str
) -> None:
    """The adapter's amount is what the core books, in the core's decimals; the reversal
    puts it back; money moves once each way."""
    opening = amount_in(code, 2_000_000_001)
    open_accounts(ledger, code, str(opening))
    request = mapping.financial_request(posting(code), "000007", TID, NOW)
    booking = mapping.booking_from_reply(exchange(host, request), "REFX00000001")
    assert booking.booked_at == BOOKED_AT
    assert booking.transaction_id is not None and booking.transaction_id.startswith("TX")
    assert decimal_balance(ledger, "20000001") == opening - amount_in(code)
    assert decimal_balance(ledger, "20000002") == amount_in(code)
    stored = ledger.transfer_status("REFX00000001")
    assert stored is not None
    assert (stored.end_to_end_id, stored.remittance) == ("E2E-REFX00000001", "invoice 42")

    for repeat, stan in ((False, "000010"), (True, "000011")):
        advice = mapping.reversal_advice(request, stan, NOW, repeat=repeat)
        reply = exchange(host, advice)
        assert (reply["t"], reply["11"], reply["41"], reply["39"]) == ("0430", stan, TID, "00")
    assert decimal_balance(ledger, "20000001") == opening
    assert decimal_balance(ledger, "20000002") == 0
    assert ledger.entry_count("REFX00000001") == 4


def test_bill_payment_reaches_the_billers_account(host: IsoHost, ledger: Ledger) -> None:
    """The adapter's bill payment (103 = biller id, 48 CR) is booked to the biller's account."""
    request = mapping.financial_request(
        CorePosting(reference="REFBILL00001", debtor_account_id="10000001", biller_id="ELEC01",
                    customer_reference="CUST-77",
                    amount=Money(amount=Decimal("25.00"), currency="EUR"),
                    end_to_end_id="E2E-BILL-1"),
        "000008", TID, NOW)
    mapping.booking_from_reply(exchange(host, request), "REFBILL00001")
    assert decimal_balance(ledger, "90000001") == Decimal("25.00")
    assert decimal_balance(ledger, "10000001") == Decimal("9975.00")
    stored = ledger.transfer_status("REFBILL00001")
    assert stored is not None and stored.customer_reference == "CUST-77"


@pytest.mark.parametrize("network_code", ["001", "002", "301"])
def test_network_management_is_approved(host: IsoHost, network_code: str) -> None:
    """The adapter's 0800 is answered 0810 with its own STAN, terminal id and code."""
    reply = exchange(host, mapping.network_request(network_code, "000005", TID, NOW))
    assert message_fields(reply) == {"t": "0810", "7": "1128233634", "11": "000005",
                                     "39": "00", "41": TID, "70": network_code}


def _eur(reference: str, amount: str = "10.00", **changes: str | None) -> CorePosting:
    """A EUR transfer from 10000001 to 10000002, with `changes` to the posting's fields."""
    return CorePosting(reference=reference, debtor_account_id="10000001",
                       creditor_account_id="10000002",
                       amount=Money(amount=Decimal(amount), currency="EUR"),
                       end_to_end_id=f"E2E-{reference}").model_copy(update=changes)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: _eur("REFERR000001", "10000.01"), "INSUFFICIENT_FUNDS"),
        (lambda: _eur("REFERR000002", creditor_account_id="10000099"), "ACCOUNT_NOT_FOUND"),
        (lambda: _eur("REFERR000003", creditor_account_id=None, biller_id="NOBILL"),
         "BILLER_NOT_FOUND"),
        (lambda: _eur("REFERR000004", creditor_account_id="10000004"), "CURRENCY_MISMATCH"),
        (lambda: _eur("REFERR000005", creditor_account_id="10000006"), "ACCOUNT_BLOCKED"),
        (lambda: _eur("REFERR000006", creditor_account_id="10000001"), "VALIDATION"),
        (lambda: _eur("REFDUP000001", "1.01"), "DUPLICATE_REQUEST"),  # booked with 10.00
    ],
    ids=["51", "14", "15", "57", "62", "12", "94"],
)
def test_refusals_mean_the_same_code_to_both_sides(host: IsoHost, ledger: Ledger,
                                                   make: Callable[[], CorePosting],
                                                   code: str) -> None:
    """The ledger's refusal code, sent as field 39 by the core, is read back by the adapter as
    the same canonical code; nothing is booked."""
    assert mapping.booking_from_reply(
        exchange(host, mapping.financial_request(_eur("REFDUP000001"), "000001", TID, NOW)),
        "REFDUP000001").state == "booked"
    before = ledger.totals(), decimal_balance(ledger, "10000001")
    request = mapping.financial_request(make(), "000002", TID, NOW)
    with pytest.raises(AdapterError) as refused:
        mapping.booking_from_reply(exchange(host, request), request["37"])
    assert refused.value.code == code
    assert (ledger.totals(), decimal_balance(ledger, "10000001")) == before


def test_injected_failure_is_core_unavailable_to_the_adapter(host: IsoHost,
                                                             ledger: Ledger) -> None:
    """39 = 96 from the core is CORE_UNAVAILABLE to the adapter: declined, nothing booked."""
    host.faults.fail_next = 1
    request = mapping.financial_request(_eur("REFFAIL00001"), "000001", TID, NOW)
    with pytest.raises(AdapterError) as refused:
        mapping.booking_from_reply(exchange(host, request), "REFFAIL00001")
    assert refused.value.code == "CORE_UNAVAILABLE"
    assert ledger.transfer_status("REFFAIL00001") is None
