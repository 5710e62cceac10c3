"""The refusal table: the same bad value sent through REST, SOAP and gRPC to one live adapter
(real core_sim, real mutual TLS) is refused with the same canonical code, naming the field in
each protocol's own vocabulary, and changes nothing on the ledger.

Each row is one bad value; each column is a protocol, holding the field name that protocol's
answer must name, or None where the protocol cannot carry the value (gRPC's oneof cannot name
an account twice) or accepts it by its own contract (SOAP's xs:decimal lexical space takes
"+1.00", "1." and ".5"; see test_soap_keeps_xs_decimal_lexical_space).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import grpc
import httpx
import pytest

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra.tls import grpc_channel_credentials
from tests.grpc.support import rich_error
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client
from tests.harness.core import RunningCore, running_core
from tests.soap.conftest import Token, envelope, fault_of

VALID_IBAN = "DE89370400440532013000"  # 10000001
BAD_CHECKSUM_IBAN = "DE89370400440532013001"


@dataclass(frozen=True)
class Refusal:
    code: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    """One bad value. `transfer` overrides the canonical transfer's parts (key, debtor, amount,
    currency, e2e); `cursor` / `payment_id` drive a history read / a payment lookup; `header`
    adds an HTTP header. `fields` maps protocol -> the field its answer must name."""

    id: str
    fields: dict[str, str | None]
    transfer: dict[str, Any] = field(default_factory=dict)
    cursor: str | None = None
    payment_id: str | None = None
    header: tuple[str, bytes] | None = None


def same(rest: str, soap: str | None, grpc_: str | None) -> dict[str, str | None]:
    return {"rest": rest, "soap": soap, "grpc": grpc_}


KEY = same("Idempotency-Key", "RequestId", "request_id")
CURSOR = same("cursor", "Cursor", "page_token")
PAYMENT_ID = same("payment_id", "PaymentId", "payment_id")
AMOUNT = same("instructedAmount", "Amount", "amount")
AMOUNT_TEXT = same("instructedAmount.amount", "Amount", "amount.amount")
LAX = same("instructedAmount.amount", None, "amount.amount")
CURRENCY = same("instructedAmount.currency", "Currency", "amount.currency")

CASES = [
    Case("key-empty", KEY, transfer={"key": ""}),
    Case("key-too-long", KEY, transfer={"key": "k" * 256}),
    Case("key-bad-characters", KEY, transfer={"key": "key with spaces"}),
    Case("cursor-garbage", CURSOR, cursor="not a cursor"),
    Case("cursor-unknown-to-the-core", CURSOR, cursor="Zm9vYmFy"),
    Case("cursor-too-long", CURSOR, cursor="c" * 513),
    Case("cursor-vertical-tab", same("cursor", None, "page_token"), cursor="\x0b"),
    Case("cursor-start-of-heading", same("cursor", None, "page_token"), cursor="\x01"),
    # XML 1.0 cannot carry U+000B or U+0001 at all; a tab or U+0085 inside the value it can.
    Case("cursor-inner-tab", CURSOR, cursor="ab\tcd"),
    Case("cursor-next-line", CURSOR, cursor="ab\x85cd"),
    Case("payment-id-too-long", PAYMENT_ID, payment_id="p" * 65),
    Case("payment-id-bad-characters", PAYMENT_ID, payment_id="pay.ment"),
    Case("amount-negative", AMOUNT, transfer={"amount": "-1.00"}),
    Case("amount-too-many-decimals", AMOUNT, transfer={"amount": "1.005"}),
    Case("amount-plus-sign", LAX, transfer={"amount": "+1.00"}),
    Case("amount-fullwidth-digits", AMOUNT_TEXT, transfer={"amount": "\uff11.\uff10\uff10"}),
    Case("amount-trailing-dot", LAX, transfer={"amount": "1."}),
    Case("amount-leading-dot", LAX, transfer={"amount": ".5"}),
    Case("amount-leading-zeros", LAX, transfer={"amount": "00000000000000000001.00"}),
    Case("currency-unknown", CURRENCY, transfer={"currency": "XXX"}),
    Case("currency-lower-case", CURRENCY, transfer={"currency": "eur"}),
    Case("account-both-id-and-iban", same("debtorAccount", "Debtor", None),
         transfer={"debtor": {"id": "10000001", "iban": VALID_IBAN}}),
    Case("account-neither", same("debtorAccount", "Debtor", "debtor"), transfer={"debtor": {}}),
    Case("account-bad-iban-checksum", same("debtorAccount.iban", "Debtor.Iban", "debtor.iban"),
         transfer={"debtor": {"iban": BAD_CHECKSUM_IBAN}}),
    Case("control-character-in-text", same("endToEndIdentification", "EndToEndId",
                                           "end_to_end_id"), transfer={"e2e": "E2E\x85X"}),
    Case("control-character-in-header", same("X-Request-ID", None, None),
         header=("X-Request-ID", b"abc\x85def")),
]


class Rest:
    debtor, creditor = "10000001", "10000002"

    def __init__(self, adapter: RunningAdapter) -> None:
        self.http = https_client(adapter, "partner", base_url=adapter.base_url)

    @staticmethod
    def _refusal(reply: httpx.Response) -> Refusal:
        assert reply.status_code == 400, reply.text
        body = reply.json()
        return Refusal(body["code"], tuple(v["field"] for v in body.get("violations", ())))

    def transfer(self, key: str, debtor: dict[str, str], amount: str, currency: str, e2e: str,
                 headers: dict[str, Any]) -> Refusal:
        return self._refusal(self.http.post("/v1/transfers", headers={
            "Idempotency-Key": key, **headers}, json={
            "debtorAccount": debtor, "creditorAccount": {"id": self.creditor},
            "instructedAmount": {"currency": currency, "amount": amount},
            "endToEndIdentification": e2e}))

    def history(self, cursor: str) -> Refusal:
        return self._refusal(self.http.get(f"/v1/accounts/{self.debtor}/transactions",
                                           params={"cursor": cursor}))

    def payment(self, payment_id: str) -> Refusal:
        return self._refusal(self.http.get(f"/v1/payments/{payment_id}"))

    def close(self) -> None:
        self.http.close()


def _xml(value: str) -> str:
    # Control characters XML can hold only as character references.
    return "".join(ch if ch.isprintable() else f"&#x{ord(ch):X};" for ch in escape(value))


class Soap:
    debtor, creditor = "10000003", "10000001"

    def __init__(self, adapter: RunningAdapter) -> None:
        self.adapter = adapter
        self.http = https_client(adapter, "legacy")

    def _call(self, operation: str, body: str) -> Refusal:
        security = Token("legacy", self.adapter.legacy_password).xml()
        reply = self.http.post(
            self.adapter.soap_url, content=envelope(f"<b:{operation}>{body}</b:{operation}>",
                                                    security),
            headers={"content-type": "text/xml; charset=utf-8", "soapaction": operation})
        fault = fault_of(reply)
        assert fault.code is not None
        fields = tuple(f.text or "" for f in _violation_fields(reply.content))
        return Refusal(fault.code, fields)

    @staticmethod
    def _ref(ref: dict[str, str]) -> str:
        parts = []
        if "id" in ref:
            parts.append(f"<b:AccountId>{_xml(ref['id'])}</b:AccountId>")
        if "iban" in ref:
            parts.append(f"<b:Iban>{_xml(ref['iban'])}</b:Iban>")
        return "".join(parts)

    def transfer(self, key: str, debtor: dict[str, str], amount: str, currency: str, e2e: str,
                 headers: dict[str, Any]) -> Refusal:
        return self._call("TransferFunds", (
            f"<b:RequestId>{_xml(key)}</b:RequestId>"
            f"<b:Debtor>{self._ref(debtor)}</b:Debtor>"
            f"<b:Creditor><b:AccountId>{self.creditor}</b:AccountId></b:Creditor>"
            f"<b:Amount>{_xml(amount)}</b:Amount><b:Currency>{_xml(currency)}</b:Currency>"
            f"<b:EndToEndId>{_xml(e2e)}</b:EndToEndId>"))

    def history(self, cursor: str) -> Refusal:
        return self._call("GetTransactionHistory", (
            f"<b:Account><b:AccountId>{self.debtor}</b:AccountId></b:Account>"
            f"<b:Cursor>{_xml(cursor)}</b:Cursor>"))

    def payment(self, payment_id: str) -> Refusal:
        return self._call("GetPaymentStatus", f"<b:PaymentId>{_xml(payment_id)}</b:PaymentId>")

    def close(self) -> None:
        self.http.close()


def _violation_fields(content: bytes) -> list[Any]:
    from lxml import etree

    from adapter.frontends.soap.types import TNS
    return list(etree.fromstring(content).iter(f"{{{TNS}}}Field"))


class Grpc:
    debtor, creditor = "10000002", "10000003"

    def __init__(self, adapter: RunningAdapter) -> None:
        creds = grpc_channel_credentials(adapter.client("internal"), adapter.ca)
        self.channel = grpc.secure_channel(adapter.grpc_target, creds)
        self.stub = pb_grpc.BankingServiceStub(self.channel)

    @staticmethod
    def _refusal(call: Any, request: Any) -> Refusal:
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=10)
        error = rich_error(info.value)  # type: ignore[arg-type]
        assert error.code is grpc.StatusCode.INVALID_ARGUMENT, error
        return Refusal(error.info.reason, tuple(f for f, _ in error.violations))

    def transfer(self, key: str, debtor: dict[str, str], amount: str, currency: str, e2e: str,
                 headers: dict[str, Any]) -> Refusal:
        return self._refusal(self.stub.TransferFunds, pb.TransferFundsRequest(
            request_id=key, debtor=pb.AccountRef(**debtor),
            creditor=pb.AccountRef(id=self.creditor),
            amount=pb.Money(amount=amount, currency=currency), end_to_end_id=e2e))

    def history(self, cursor: str) -> Refusal:
        return self._refusal(self.stub.ListTransactions, pb.ListTransactionsRequest(
            account=pb.AccountRef(id=self.debtor), page_token=cursor))

    def payment(self, payment_id: str) -> Refusal:
        return self._refusal(self.stub.GetPayment, pb.GetPaymentRequest(payment_id=payment_id))

    def close(self) -> None:
        self.channel.close()


PROTOCOLS: dict[str, type[Rest | Soap | Grpc]] = {"rest": Rest, "soap": Soap, "grpc": Grpc}


@dataclass
class Live:
    core: RunningCore
    adapter: RunningAdapter


@pytest.fixture(scope="module")
def live(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("refusals")
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url) as adapter:
        yield Live(core, adapter)


@pytest.fixture(scope="module")
def clients(live: Live) -> Iterator[dict[str, Rest | Soap | Grpc]]:
    made = {name: cls(live.adapter) for name, cls in PROTOCOLS.items()}
    yield made
    for client in made.values():
        client.close()


def _send(client: Rest | Soap | Grpc, case: Case) -> Refusal:
    if case.cursor is not None:
        return client.history(case.cursor)
    if case.payment_id is not None:
        return client.payment(case.payment_id)
    parts: dict[str, Any] = {"key": str(uuid.uuid4()), "debtor": {"id": client.debtor},
                             "amount": "1.00", "currency": "EUR", "e2e": "REFUSAL-TABLE",
                             "headers": {}}
    parts.update(case.transfer)
    if case.header is not None:
        parts["headers"] = {case.header[0]: case.header[1]}
    return client.transfer(**parts)


# Only the cells a protocol can carry: a None cell is not a test (see the module docstring).
CELLS = [pytest.param(case, protocol, id=f"{case.id}-{protocol}")
         for case in CASES for protocol in PROTOCOLS if case.fields[protocol] is not None]


@pytest.mark.parametrize(("case", "protocol"), CELLS)
def test_every_protocol_refuses_the_same_value_the_same_way(
        case: Case, protocol: str, live: Live, clients: dict[str, Rest | Soap | Grpc]) -> None:
    """The bad value is VALIDATION naming its field in the protocol's vocabulary, and the
    ledger is exactly as it was."""
    expected_field = case.fields[protocol]
    client = clients[protocol]
    ledger = live.core.ledger
    accounts = (client.debtor, client.creditor)
    totals = ledger.totals()
    before = {a: ledger.balance(a)[0] for a in accounts}

    refusal = _send(client, case)

    assert refusal.code == "VALIDATION"
    assert expected_field in refusal.fields, refusal
    assert {a: ledger.balance(a)[0] for a in accounts} == before
    assert ledger.totals() == totals


def test_soap_keeps_xs_decimal_lexical_space(live: Live,
                                             clients: dict[str, Rest | Soap | Grpc]) -> None:
    """SOAP reads Amount as xs:decimal (XML Schema Part 2, 3.2.3): "+1.00" is 1.00 there, and
    is booked once; REST and gRPC, whose grammar has no '+', refused it in the table."""
    soap = clients["soap"]
    assert isinstance(soap, Soap)
    ledger = live.core.ledger
    before = ledger.balance(soap.debtor)[0], ledger.balance(soap.creditor)[0]
    security = Token("legacy", live.adapter.legacy_password).xml()
    body = (f"<b:TransferFunds><b:RequestId>{uuid.uuid4()}</b:RequestId>"
            f"<b:Debtor><b:AccountId>{soap.debtor}</b:AccountId></b:Debtor>"
            f"<b:Creditor><b:AccountId>{soap.creditor}</b:AccountId></b:Creditor>"
            "<b:Amount> +1.00 </b:Amount><b:Currency>EUR</b:Currency>"
            "<b:EndToEndId>XS-DECIMAL</b:EndToEndId></b:TransferFunds>")
    reply = soap.http.post(live.adapter.soap_url, content=envelope(body, security),
                           headers={"content-type": "text/xml; charset=utf-8"})
    assert reply.status_code == 200, reply.text
    assert b"<tns:Amount>1.00</tns:Amount>" in reply.content
    assert (ledger.balance(soap.debtor)[0], ledger.balance(soap.creditor)[0]) == (
        before[0] - 100, before[1] + 100)
