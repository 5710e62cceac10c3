"""The requests the load workers send, pre-encoded so that building one costs a string format.

A request is described by a small JSON-able dict (`{"op": "rest_transfer", ...}`) so the parent
can hand it to worker processes; `build_http` / `build_grpc` turn it into a function
`seq -> bytes` and the check for a good answer.

What varies per request, and why:
- REST transfer: `Idempotency-Key` is unique per request (run id, worker, sequence), else the
  adapter would replay the first answer instead of booking.
- SOAP: `RequestId` likewise; the WS-Security UsernameToken is PasswordText with a fresh Nonce
  (the adapter refuses a replayed Nonce) and a current Created (it refuses one older than five
  minutes). Created is formatted once per second: that is its precision on the wire anyway.
- gRPC transfer: `request_id` is field 1 of TransferFundsRequest; the message is the encoded
  field 1 followed by the other fields encoded once (protobuf allows fields in any order, and a
  parser sees the same message), so no protobuf object is built per request.

A transfer counts as good only when it was booked: the answer must carry the ISO 20022 status
ACSC, not merely a 2xx (a PDNG or RJCT payment is an error for this benchmark).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Callable
from typing import Any

JSON_CT = "application/json"
SOAP_CT = "text/xml; charset=utf-8"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
_B64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
ADAPTER_SOAP_TNS = "urn:bank:adapter:soap:v1"
ECHO_SOAP_TNS = "urn:bank:bench:echo:v1"
GRPC_SERVICE = "/bank.adapter.v1.BankingService/"

Maker = Callable[[int], bytes]


# -- HTTP -------------------------------------------------------------------------------------


def _http(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: localhost"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if method == "POST":
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def rest_balance(req: dict[str, Any], worker: int, run_id: str) -> Maker:
    payload = _http("GET", f"/v1/accounts/{req['account']}/balances", {})
    return lambda seq: payload


def rest_history(req: dict[str, Any], worker: int, run_id: str) -> Maker:
    payload = _http("GET", f"/v1/accounts/{req['account']}/transactions?limit={req['limit']}", {})
    return lambda seq: payload


def rest_transfer(req: dict[str, Any], worker: int, run_id: str) -> Maker:
    body = (
        f'{{"debtorAccount":{{"id":"{req["debtor"]}"}},'
        f'"creditorAccount":{{"id":"{req["creditor"]}"}},'
        f'"instructedAmount":{{"currency":"{req["currency"]}","amount":"{req["amount"]}"}},'
        '"endToEndIdentification":"BENCH-E2E"}'
    ).encode()
    head = (f"POST /v1/transfers HTTP/1.1\r\nhost: localhost\r\ncontent-type: {JSON_CT}\r\n"
            f"content-length: {len(body)}\r\nidempotency-key: ")
    prefix = f"{run_id}-{worker}-"

    def make(seq: int) -> bytes:
        return (head + prefix + str(seq) + "\r\n\r\n").encode() + body

    return make


class _Clock:
    """xs:dateTime of now, in UTC, recomputed at most once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._text


def _soap_maker(req: dict[str, Any], worker: int, run_id: str, tns: str, action: str,
                body_template: str) -> Maker:
    """An envelope with a UsernameToken; `body_template` may use {rid}."""
    clock = _Clock()
    # 16-byte nonce: 8 random bytes fixed per worker (so two runs never collide) + worker +
    # sequence (so no two requests of a run collide).
    salt = hashlib.blake2b(run_id.encode(), digest_size=8).digest()
    header = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:t="{tns}"><soapenv:Header>'
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f'<wsse:Username>{req["username"]}</wsse:Username>'
        f'<wsse:Password Type="{_PROFILE}#PasswordText">{req["password"]}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{_B64}">'
    )
    http_head = (f"POST {req['path']} HTTP/1.1\r\nhost: localhost\r\ncontent-type: {SOAP_CT}\r\n"
                 f'soapaction: "{action}"\r\ncontent-length: ')
    prefix = f"{run_id}-{worker}-"

    def make(seq: int) -> bytes:
        nonce = base64.b64encode(salt + struct.pack(">HIH", worker, seq & 0xFFFFFFFF,
                                                    seq >> 32 & 0xFFFF)).decode()
        body = (header + nonce + "</wsse:Nonce><wsu:Created>" + clock.now()
                + "</wsu:Created></wsse:UsernameToken></wsse:Security></soapenv:Header>"
                "<soapenv:Body>" + body_template.format(rid=prefix + str(seq))
                + "</soapenv:Body></soapenv:Envelope>").encode()
        return (http_head + str(len(body)) + "\r\n\r\n").encode() + body

    return make


def soap_balance(req: dict[str, Any], worker: int, run_id: str) -> Maker:
    body = (f"<t:GetBalance><t:Account><t:AccountId>{req['account']}</t:AccountId>"
            "</t:Account></t:GetBalance>")
    return _soap_maker(req, worker, run_id, ADAPTER_SOAP_TNS, "GetBalance", body)


def soap_transfer(req: dict[str, Any], worker: int, run_id: str) -> Maker:
    # {rid} stays a placeholder for _soap_maker: the braces are doubled in the f-string.
    body = (
        "<t:TransferFunds><t:RequestId>{rid}</t:RequestId>"
        f"<t:Debtor><t:AccountId>{req['debtor']}</t:AccountId></t:Debtor>"
        f"<t:Creditor><t:AccountId>{req['creditor']}</t:AccountId></t:Creditor>"
        f"<t:Amount>{req['amount']}</t:Amount><t:Currency>{req['currency']}</t:Currency>"
        "<t:EndToEndId>BENCH-E2E</t:EndToEndId></t:TransferFunds>"
    )
    return _soap_maker(req, worker, run_id, ADAPTER_SOAP_TNS, "TransferFunds", body)


def soap_echo(req: dict[str, Any], worker: int, run_id: str) -> Maker:
    """The spyne echo, with the same WS-Security header as the adapter's requests (spyne parses
    it either way) and a body of about the same size as a TransferFunds."""
    body = ("<t:Echo><t:Text>{rid} 10000003 10000001 0.01 EUR BENCH-E2E ACSC"
            "</t:Text></t:Echo>")
    return _soap_maker(req, worker, run_id, ECHO_SOAP_TNS, "Echo", body)


HTTP_BUILDERS: dict[str, Callable[[dict[str, Any], int, str], Maker]] = {
    "rest_balance": rest_balance,
    "rest_history": rest_history,
    "rest_transfer": rest_transfer,
    "soap_balance": soap_balance,
    "soap_transfer": soap_transfer,
    "soap_echo": soap_echo,
}


def build_http(req: dict[str, Any], worker: int, run_id: str
               ) -> tuple[Maker, frozenset[int], bytes | None]:
    """(request maker, good statuses, a marker a good body must contain, or None)."""
    marker = req.get("expect_body")
    return (HTTP_BUILDERS[req["op"]](req, worker, run_id), frozenset(req["expect_status"]),
            marker.encode() if marker else None)


# -- gRPC -------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def build_grpc(req: dict[str, Any], worker: int, run_id: str
               ) -> tuple[str, Maker, bytes | None]:
    """(method path, request maker, a marker a good reply must contain, or None)."""
    from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb

    marker = req.get("expect_body")
    expect = marker.encode() if marker else None
    op = req["op"]
    if op == "grpc_balance":
        payload = pb.GetBalanceRequest(account=pb.AccountRef(id=req["account"])).SerializeToString()
        return GRPC_SERVICE + "GetBalance", (lambda seq: payload), expect
    if op == "grpc_history":
        payload = pb.ListTransactionsRequest(account=pb.AccountRef(id=req["account"]),
                                             page_size=req["limit"]).SerializeToString()
        return GRPC_SERVICE + "ListTransactions", (lambda seq: payload), expect
    if op == "grpc_transfer":
        rest = pb.TransferFundsRequest(
            debtor=pb.AccountRef(id=req["debtor"]), creditor=pb.AccountRef(id=req["creditor"]),
            amount=pb.Money(amount=req["amount"], currency=req["currency"]),
            end_to_end_id="BENCH-E2E",
        ).SerializeToString()
        prefix = f"{run_id}-{worker}-".encode()

        def make(seq: int) -> bytes:
            rid = prefix + str(seq).encode()
            return b"\x0a" + _varint(len(rid)) + rid + rest

        return GRPC_SERVICE + "TransferFunds", make, expect
    raise ValueError(f"unknown gRPC op {op!r}")
