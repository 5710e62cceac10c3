"""The simulated core's ISO 8583 host: 0200, 0420/0421 and 0800 on the same ledger as SOAP.

Owns: the listener (mutual TLS, the core's own framing, codec and message definitions in
`core_sim.iso8583`, nothing of the adapter's ISO 8583 code), answering each request, and the
mapping of ledger outcomes to field 39. The ledger is synchronous, so a request is answered
inline, in arrival order, as its frame is read; only while latency is injected does each
delayed request get its own task, so slow requests do not hold up the connection.

| request            | what the host does                                 | reply        |
|--------------------|----------------------------------------------------|--------------|
| 0200, 3 = 30xxxx   | `ledger.balance(102)`                              | 0210, 54     |
| 0200, 3 = 40xxxx   | `ledger.post_transfer(37, 102 -> 103, 4, 49)`      | 0210, 48 TX  |
| 0200, 3 = 50xxxx   | `ledger.post_transfer(37, 102 -> biller 103, ...)` | 0210, 48 TX  |
| 0420 / 0421        | `ledger.reverse(37)` (booked: undone; unknown:     | 0430, 39=00  |
|                    | fenced; already reversed: no change)               |              |
| 0800, 70 = 001/002/301 | nothing                                        | 0810, 39=00  |
| any other request  | nothing                                            | 39 = 12      |

Invariants:
- Rule 1: faults (`core_sim.faults`) apply to postings in their documented order: delay, fail
  (39 = 96, nothing booked), book, drop the reply ("reset" aborts the connection, "hang" never
  answers). Latency also applies to balance inquiries and reversals.
- Rule 2: an undecodable frame is logged and dropped; the framing stays in sync. A framing
  error closes the connection (the stream cannot be resynchronised).
- Rule 3: a request of the wrong shape (`messages.Shape`) or with a malformed field inside
  (`elements`) is answered 39 = 30 and books nothing; an unsupported currency is 39 = 12.
- Rule 4: account numbers are logged masked only (`adapter.infra.logmask`).
- Rule 5: TLS (the core-link CA and its CRL) admits the connection; then only the identities
  in `CORE_ISO_IDENTITIES` (the adapter's link certificate) are served; any other certificate
  of the domain (the operator's) has its connection closed before a frame is read.
- Rule 6: a connection's reads are bounded (`FrameStream` Rule 4): a frame begun must be
  finished within `read_timeout` seconds and a connection may stay silent between frames for
  `idle_timeout` seconds; either ends the connection, and replies still owed on it are
  dropped (the adapter resolves what it sent, as for any lost connection).
- Rule 7: revocation reaches open connections (`core_sim.server` Rule 6). Before each frame
  is handled, the connection's peer is checked against the CRL as last reloaded (a
  `PeerCheck`: an integer compare until the next reload). The exchange in flight when the
  CRL changes is finished (a request answered inline was answered before the next frame is
  read; a delayed one's reply is still sent). The first frame read after the certificate is
  revoked is refused with field 39 = 63 (ISO 8583:1987 "security violation"), nothing of it
  applied (no posting, reversal or echo answered 00); then the replies still owed on the
  connection are sent and the connection is closed. A refusal with a code rather than a
  silent close: a posting closed unanswered is in doubt at the adapter, which would owe a
  reversal it can no longer send with a revoked certificate; 63 tells it for certain that
  nothing was booked. A frame that does not decode there is not answered; the connection
  is closed all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque

from adapter.infra.logmask import mask
from adapter.infra.revocation import PeerCheck, RevocationList
from adapter.infra.tls import peer_cn
from adapter.infra.trust_domains import CORE_ISO_IDENTITIES
from core_sim.currencies import BY_ALPHA, BY_NUMERIC
from core_sim.faults import FaultSettings
from core_sim.iso8583 import elements
from core_sim.iso8583.codec import Codec, Message, MessageError
from core_sim.iso8583.elements import ElementError
from core_sim.iso8583.messages import (
    ECHO_FINANCIAL,
    ECHO_NETWORK,
    ECHO_REVERSAL,
    NETWORK_CODES,
    REVERSALS,
    SHAPE_BALANCE,
    SHAPE_NETWORK,
    SHAPE_POSTING,
    SHAPE_REVERSAL,
    Mti,
    ProcessingCode,
    ResponseCode,
    Shape,
    response_mti,
)
from core_sim.iso8583.stream import FrameStream, FramingError, IdleTimeout
from core_sim.ledger import Ledger, LedgerError

log = logging.getLogger("core_sim.iso_host")

RC = ResponseCode
# Rule 6's defaults. The adapter writes each frame whole in one TLS record, so a frame still
# unfinished after seconds is a broken or hostile peer; it echoes (0800) after a second of
# silence, so five silent minutes mean a link nobody uses.
READ_TIMEOUT = 5.0
IDLE_TIMEOUT = 300.0
# The requests that injected latency delays (Rule 1); network management is never delayed.
DELAYED = frozenset({Mti.FINANCIAL_REQUEST, *REVERSALS})

# Ledger refusal code -> field 39 (interface document, the "field 39" table read backwards).
LEDGER_RESPONSE: dict[str, str] = {
    "ACCOUNT_NOT_FOUND": RC.NO_SUCH_ACCOUNT,
    "BILLER_NOT_FOUND": RC.NO_SUCH_ISSUER,
    "INSUFFICIENT_FUNDS": RC.INSUFFICIENT_FUNDS,
    "CURRENCY_MISMATCH": RC.NOT_PERMITTED,
    "ACCOUNT_BLOCKED": RC.RESTRICTED,
    "DUPLICATE_REQUEST": RC.DUPLICATE_TRANSMISSION,
    "VALIDATION": RC.INVALID_TRANSACTION,
}


def ledger_response(exc: LedgerError) -> str:
    return LEDGER_RESPONSE.get(exc.code, RC.DO_NOT_HONOUR)


class IsoHost:
    def __init__(
        self,
        ledger: Ledger,
        faults: FaultSettings,
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        binary_bitmap: bool = False,
        read_timeout: float = READ_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        revocations: RevocationList | None = None,
    ) -> None:
        """`revocations`: the CRL open connections are checked against (Rule 7); None: the
        handshake's check only."""
        if read_timeout <= 0 or idle_timeout <= 0:
            raise ValueError("the ISO 8583 read and idle timeouts must be above 0 seconds")
        self.ledger = ledger
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.faults = faults
        self._ssl = ssl_context
        self._revocations = revocations
        self.host = host
        self._port = port
        self.codec = Codec(binary_bitmap=binary_bitmap)
        self._server: asyncio.Server | None = None
        self._connections: set[FrameStream] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Test switches, host-only (the shared FaultSettings stay the SOAP service's too).
        self.answer_network = True  # False: 0800s go unanswered (echo failures)
        self.drop_reversals = 0  # this many 0420/0421 go unanswered (after being applied)
        self.received: deque[Message] = deque(maxlen=1000)
        self.received_event = asyncio.Event()  # set on every message received
        self.decode_errors = 0

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._port,
                                                  ssl=self._ssl)
        log.info("ISO 8583 host listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for stream in list(self._connections):
            await stream.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def drop_connections(self) -> None:
        """Close every adapter connection (tests: reconnect, restart)."""
        for stream in list(self._connections):
            await stream.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_cn(writer.get_extra_info)
        if peer not in CORE_ISO_IDENTITIES:  # Rule 5
            log.warning("ISO host refused a connection from certificate %r: not an identity "
                        "it serves", peer)
            writer.transport.abort()
            return
        stream = FrameStream(reader, writer)
        check = None if self._revocations is None else PeerCheck(
            self._revocations, writer.get_extra_info("ssl_object"))
        owed: set[asyncio.Task[None]] = set()  # this connection's delayed replies (Rule 7)
        self._connections.add(stream)
        try:
            while (frame := await stream.read(idle_timeout=self.idle_timeout,
                                              read_timeout=self.read_timeout)) is not None:
                if check is not None and check.revoked():
                    await self._refuse_revoked(stream, frame, peer, owed)
                    break
                try:
                    msg = self.codec.decode(frame)
                except MessageError as exc:
                    self.decode_errors += 1
                    log.warning("ISO host dropped an undecodable frame (%d bytes): %s",
                                len(frame), exc)
                    continue
                self.received.append(msg)
                self.received_event.set()
                if self.faults.stop_answering:
                    continue  # the node is silent: nothing applied, nothing answered
                if self.faults.latency_ms > 0 and msg["t"] in DELAYED:
                    task = asyncio.create_task(self._answer_later(stream, msg))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    owed.add(task)
                    task.add_done_callback(owed.discard)
                    continue
                await self._send(stream, self.answer(msg, stream.transport))
        except FramingError as exc:
            log.warning("ISO host closed a connection on a framing error: %s", exc)
        except IdleTimeout as exc:
            log.info("ISO host closed an idle connection: %s", exc)
        except (OSError, ssl.SSLError):
            pass
        finally:
            self._connections.discard(stream)
            await stream.close()

    async def _refuse_revoked(self, stream: FrameStream, frame: bytes, peer: str | None,
                              owed: set[asyncio.Task[None]]) -> None:
        """Rule 7: 39 = 63 to `frame` (if it is a request that decodes), the owed replies,
        then the caller closes the connection."""
        try:
            msg: Message | None = self.codec.decode(frame)
        except MessageError:
            msg = None
        mti = msg["t"] if msg is not None else None
        log.warning("ISO host refused %s on an open connection: the certificate %r has been "
                    "revoked; closing the connection", mti or "an undecodable frame", peer)
        if msg is not None and response_mti(msg["t"]) is not None:
            await self._send(stream, _reply(msg, RC.SECURITY_VIOLATION))
        if owed:
            await asyncio.wait(set(owed))

    async def _answer_later(self, stream: FrameStream, msg: Message) -> None:
        await self.faults.delay(msg["t"])  # counted by MTI (faults Rule 4)
        await self._send(stream, self.answer(msg, stream.transport))

    async def _send(self, stream: FrameStream, reply: Message | None) -> None:
        if reply is None:
            return
        with contextlib.suppress(OSError, MessageError, FramingError):
            await stream.send(self.codec.encode(reply))

    def answer(self, msg: Message, transport: asyncio.BaseTransport | None = None
               ) -> Message | None:
        """The reply to one decoded request (None: no reply). `transport` is aborted by an
        injected "reset"; any latency was applied before (Rule 1)."""
        try:
            return self._reply_to(msg, transport)
        except Exception:
            log.exception("ISO host failed on %s", msg["t"])
            return _reply(msg, RC.SYSTEM_MALFUNCTION)

    def _reply_to(self, msg: Message, transport: asyncio.BaseTransport | None) -> Message | None:
        mti = msg["t"]
        if response_mti(mti) is None:
            log.warning("ISO host ignores MTI %s: not a request or advice", mti)
            return None
        if mti == Mti.NETWORK_REQUEST:
            return self._network(msg)
        if mti in REVERSALS:
            return self._reverse(msg)
        if mti != Mti.FINANCIAL_REQUEST:
            log.warning("ISO host does not support MTI %s", mti)
            return _reply(msg, RC.INVALID_TRANSACTION)
        kind = msg.get("3", "")[:2]
        if kind == ProcessingCode.BALANCE_INQUIRY:
            return self._balance(msg)
        if kind not in (ProcessingCode.TRANSFER, ProcessingCode.PAYMENT):
            return _reply(msg, RC.INVALID_TRANSACTION if "3" in msg else RC.FORMAT_ERROR)
        if (refused := _shape_refusal(msg, SHAPE_POSTING)) is not None:
            return refused
        if self.faults.should_fail():
            return _reply(msg, RC.SYSTEM_MALFUNCTION)
        reply = self._post(msg, biller=kind == ProcessingCode.PAYMENT)
        if self.faults.should_drop():
            log.info("ISO host drops the reply to %s (%s)", msg["37"], self.faults.drop_mode)
            if self.faults.drop_mode == "reset" and transport is not None:
                transport.abort()  # type: ignore[attr-defined]
            return None
        return reply

    def _network(self, msg: Message) -> Message | None:
        if (refused := _shape_refusal(msg, SHAPE_NETWORK)) is not None:
            return refused
        if not self.answer_network:
            return None
        if msg["70"] not in NETWORK_CODES:
            return _reply(msg, RC.INVALID_TRANSACTION)
        return _reply(msg, RC.APPROVED)

    def _balance(self, msg: Message) -> Message:
        if (refused := _shape_refusal(msg, SHAPE_BALANCE)) is not None:
            return refused
        try:
            booked, available, alpha = self.ledger.balance(msg["102"])
        except LedgerError as exc:
            return _reply(msg, ledger_response(exc))
        cur = BY_ALPHA[alpha]
        reply = _reply(msg, RC.APPROVED)
        reply["54"] = (elements.additional_amount(elements.LEDGER_BALANCE, booked, cur)
                       + elements.additional_amount(elements.AVAILABLE_BALANCE, available, cur))
        return reply

    def _post(self, msg: Message, *, biller: bool) -> Message:
        try:
            amount = elements.parse_amount(msg["4"])
            private = elements.parse_tlv(msg.get("48", ""))
        except ElementError as exc:
            log.info("ISO host refused %s: %s", msg["37"], exc)
            return _reply(msg, RC.FORMAT_ERROR)
        try:
            cur = elements.currency(msg["49"])
        except ElementError:
            return _reply(msg, RC.INVALID_TRANSACTION)
        if amount == 0:
            return _reply(msg, RC.INVALID_AMOUNT)
        reference, debtor, other = msg["37"], msg["102"], msg["103"]
        try:
            posting = self.ledger.post_transfer(
                reference, debtor, amount, cur.alpha, private.get("E2", ""),
                creditor_id=None if biller else other, biller_id=other if biller else None,
                customer_reference=private.get("CR"), remittance=private.get("RI"),
            )
        except LedgerError as exc:
            log.info("ISO host refused %s from %s: %s", reference, mask(debtor), exc.code)
            return _reply(msg, ledger_response(exc))
        reply = _reply(msg, RC.APPROVED)
        reply["48"] = elements.pack_tlv({
            "TX": posting.transaction_id,
            "BT": posting.booked_at.isoformat() if posting.booked_at else None,
        })
        return reply

    def _reverse(self, msg: Message) -> Message | None:
        if (refused := _shape_refusal(msg, SHAPE_REVERSAL)) is not None:
            return refused
        try:
            original = elements.parse_original_data(msg["90"])
            amount = elements.parse_amount(msg["4"])
        except ElementError as exc:
            log.info("ISO host refused the reversal of %s: %s", msg["37"], exc)
            return _reply(msg, RC.FORMAT_ERROR)
        if original.mti != Mti.FINANCIAL_REQUEST:
            log.info("ISO host refused the reversal of %s: field 90 names MTI %s",
                     msg["37"], original.mti)
            return _reply(msg, RC.FORMAT_ERROR)
        cur = BY_NUMERIC.get(msg.get("49", ""))
        try:
            self.ledger.reverse(msg["37"], debtor_id=msg["102"], amount_minor=amount,
                                currency=cur.alpha if cur else None)
        except LedgerError as exc:
            return _reply(msg, ledger_response(exc))
        if self.drop_reversals > 0:
            self.drop_reversals -= 1
            return None
        return _reply(msg, RC.APPROVED)


def _shape_refusal(msg: Message, shape: Shape) -> Message | None:
    """39 = 30 if `msg` lacks a field it must carry or carries one it may not (Rule 3)."""
    fault = shape.fault(msg.keys())
    if fault is None:
        return None
    log.info("ISO host refused a %s: %s", msg["t"], fault)
    return _reply(msg, RC.FORMAT_ERROR)


def _reply(msg: Message, code: str) -> Message:
    """The response MTI, the request's echoed fields and field 39. `msg` is a request or an
    advice (`_reply_to` answers nothing else)."""
    mti = msg["t"]
    answer = response_mti(mti)
    assert answer is not None
    echoed = (ECHO_NETWORK if mti == Mti.NETWORK_REQUEST
              else ECHO_REVERSAL if mti in REVERSALS else ECHO_FINANCIAL)
    reply: Message = {k: msg[k] for k in echoed if k in msg}
    reply["t"] = answer
    reply["39"] = code
    return reply
