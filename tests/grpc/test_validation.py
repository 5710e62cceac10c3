"""Malformed requests: INVALID_ARGUMENT with a BadRequest naming each field by its proto path,
and nothing changes in the ledger or the journal."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.model.money import AMOUNT_GRAMMAR
from tests.grpc.support import Env, call_error, money, ref, run

AMOUNT_RULE = f"amount must be {AMOUNT_GRAMMAR}"

DEMO = ("10000001", "10000002")


def transfer(**changes: Any) -> pb.TransferFundsRequest:
    fields: dict[str, Any] = dict(
        request_id="req-validation-1", debtor=ref("10000001"), creditor=ref("10000002"),
        amount=money("10.00"), end_to_end_id="E2E-VAL")
    fields.update(changes)
    return pb.TransferFundsRequest(**{k: v for k, v in fields.items() if v is not None})


CASES = [
    pytest.param(transfer(amount=money("12,50")), [
        ("amount.amount", AMOUNT_RULE)],
        id="bad-amount-string"),
    pytest.param(transfer(amount=money("1e3")), [
        ("amount.amount", AMOUNT_RULE)],
        id="exponent"),
    pytest.param(transfer(amount=money("12.505")), [
        ("amount", "EUR allows at most 2 decimal places, got 12.505")], id="too-many-decimals"),
    pytest.param(transfer(amount=money("-5.00")), [
        ("amount", "amount must be greater than zero")], id="negative"),
    pytest.param(transfer(amount=money("10.00", "XYZ")), [
        ("amount.currency", "unknown ISO 4217 currency code 'XYZ'")], id="unknown-currency"),
    pytest.param(transfer(amount=None, creditor=None, end_to_end_id=None), [
        ("creditor", "Field required"), ("amount", "Field required"),
        ("end_to_end_id", "Field required")], id="missing-fields"),
    pytest.param(transfer(amount=pb.Money(currency="EUR")), [
        ("amount.amount", "Field required")], id="missing-amount-string"),
    pytest.param(transfer(creditor=pb.AccountRef()), [
        ("creditor", "name the account by exactly one of 'id' or 'iban'")], id="empty-ref"),
    pytest.param(transfer(creditor=pb.AccountRef(iban="DE00370400440532013000")), [
        ("creditor.iban", "IBAN check digits are wrong (mod-97)")], id="bad-iban"),
    pytest.param(transfer(request_id=None, amount=money("abc")), [
        ("request_id", "1 to 255 visible ASCII characters"),
        ("amount.amount", AMOUNT_RULE)],
        id="missing-request-id-and-bad-amount"),
    pytest.param(transfer(request_id="has space"), [
        ("request_id", "1 to 255 visible ASCII characters")], id="bad-request-id"),
    # Control characters are refused before the model sees the request, each by its path,
    # nested messages' fields among them.
    pytest.param(transfer(creditor=pb.AccountRef(iban="DE89\x0b370400440532013000")), [
        ("creditor.iban", "control character U+000B is not allowed")], id="control-nested"),
    pytest.param(transfer(end_to_end_id="E2E\x85", remittance="line\none"), [
        ("end_to_end_id", "control character U+0085 is not allowed"),
        ("remittance", "control character U+000A is not allowed")], id="control-two-fields"),
]


@pytest.mark.parametrize(("request_msg", "violations"), CASES)
def test_malformed_transfer_is_invalid_argument_and_changes_nothing(
    env: Env, request_msg: pb.TransferFundsRequest, violations: list[tuple[str, str]]
) -> None:
    """A malformed transfer gets INVALID_ARGUMENT / VALIDATION with exactly these violations."""
    before = [env.booked(a) for a in DEMO]
    head = env.adapter.run(env.adapter.services.events.head())

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as ch:
            return await call_error(env.stub(ch).TransferFunds(request_msg))

    err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION")
    assert err.violations == violations
    assert [env.booked(a) for a in DEMO] == before
    assert env.adapter.run(env.adapter.services.events.head()) == head
    if request_msg.request_id:
        record = env.adapter.run(env.adapter.services.storage.keys.get(
            "partner", request_msg.request_id))
        assert record is None


def test_malformed_bill_payment_names_its_fields(env: Env) -> None:
    """PayBill with a bad biller id and reference reports both fields."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("legacy") as ch:
            return await call_error(env.stub(ch).PayBill(pb.PayBillRequest(
                request_id="bill-val-1", debtor=ref("10000003"), biller_id="elec 01",
                customer_reference="a b", amount=money("1.00"), end_to_end_id="B")))

    err = run(go())
    assert err.code is grpc.StatusCode.INVALID_ARGUMENT
    assert err.violations == [
        ("biller_id", "biller id must be 2 to 16 upper-case letters or digits"),
        ("customer_reference", "must be 1 to 35 letters, digits, '/' or '-'"),
    ]


@pytest.mark.parametrize(("call", "violations"), [
    pytest.param("GetAccount", [("account", "Field required")], id="get-account-no-ref"),
    pytest.param("GetBalance", [("account.id", "account id must be 1 to 34 letters, digits "
                                 "or '-'")], id="get-balance-bad-id"),
    pytest.param("ListTransactions", [("page_size", "Input should be less than or equal to "
                                       "100")], id="page-size"),
    pytest.param("GetPayment", [("payment_id", "1 to 64 letters, digits or '-'")],
                 id="get-payment-no-id"),
])
def test_malformed_reads_are_invalid_argument(env: Env, call: str,
                                              violations: list[tuple[str, str]]) -> None:
    """Reads with missing or malformed fields get INVALID_ARGUMENT with the proto field paths."""
    requests = {
        "GetAccount": pb.GetAccountRequest(),
        "GetBalance": pb.GetBalanceRequest(account=pb.AccountRef(id="bad id!")),
        "ListTransactions": pb.ListTransactionsRequest(account=ref("10000001"), page_size=500),
        "GetPayment": pb.GetPaymentRequest(),
    }

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as ch:
            return await call_error(getattr(env.stub(ch), call)(requests[call]))

    err = run(go())
    assert (err.code, err.info.reason, err.violations) == (
        grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION", violations)


def test_bad_stream_cursor_is_invalid_argument(env: Env) -> None:
    """WatchTransactions with a cursor that is not one of the stream's is INVALID_ARGUMENT."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            stream = env.stub(ch).WatchTransactions(pb.WatchTransactionsRequest(cursor="x1"))
            return await call_error(stream.read())

    err = run(go())
    assert (err.code, err.violations) == (
        grpc.StatusCode.INVALID_ARGUMENT, [("cursor", "must be the cursor of a received event")])


@pytest.mark.parametrize(("method", "payload"), [
    pytest.param("TransferFunds", b"\xff\xff\xff\x07garbage", id="transfer-garbage"),
    pytest.param("PayBill", b"\x0a\x05ab", id="bill-truncated"),
    pytest.param("WatchTransactions", b"\x12\xff", id="watch-garbage"),
])
def test_bytes_that_are_not_protobuf_get_invalid_argument(env: Env, method: str,
                                                         payload: bytes) -> None:
    """Bytes that do not parse as the method's message get INVALID_ARGUMENT, not UNKNOWN."""
    before = [env.booked(a) for a in DEMO]
    request_type = {"TransferFunds": "TransferFundsRequest", "PayBill": "PayBillRequest",
                    "WatchTransactions": "WatchTransactionsRequest"}[method]

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            path = f"/bank.adapter.v1.BankingService/{method}"
            if method == "WatchTransactions":
                stream = ch.unary_stream(path)(payload, timeout=10)
                return await call_error(stream.read())
            return await call_error(ch.unary_unary(path)(payload, timeout=10))

    err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION")
    assert err.message == f"the request is not a valid bank.adapter.v1.{request_type} message"
    assert err.violations == [("request", "not a valid protobuf message of this type")]
    assert [env.booked(a) for a in DEMO] == before
