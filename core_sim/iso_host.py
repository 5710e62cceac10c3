"""The simulated core's ISO 8583 host: 0200, 0420/0421 and 0800 on the same ledger as SOAP.

Owns: the listener (mutual TLS, 2-byte length framing, the adapter's codec), answering each
request, and the mapping of ledger outcomes to field 39. The ledger is synchronous, so a request
is answered inline, in arrival order, as its frame is read; only while latency is injected does
each delayed request get its own task, so slow requests do not hold up the connection.

| request            | what the host does                                 | reply        |
|--------------------|----------------------------------------------------|--------------|
| 0200, 3 = 30xxxx   | `ledger.balance(102)`                              | 0210, 54     |
| 0200, 3 = 40xxxx   | `ledger.post_transfer(37, 102 -> 103, 4, 49)`      | 0210, 48 TX  |
| 0200, 3 = 50xxxx   | `ledger.post_transfer(37, 102 -> biller 103, ...)` | 0210, 48 TX  |
| 0420 / 0421        | `ledger.reverse(37)` (booked: undone; unknown:     | 0430, 39=00  |
|                    | fenced; already reversed: no change)               |              |
| 0800, 70 = any     | nothing                                            | 0810, 39=00  |

Invariants:
- Rule 1: faults (`core_sim.faults`) apply to postings in their documented order: delay, fail
  (39 = 96, nothing booked), book, drop the reply ("reset" aborts the connection, "hang" never
  answers). Latency also applies to balance inquiries and reversals.
- Rule 2: an undecodable frame is logged and dropped; the framing stays in sync. A framing
  error closes the connection (the stream cannot be resynchronised).
- Rule 3: account numbers are logged masked only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque

from adapter.connectors.iso8583 import mapping
from adapter.connectors.iso8583.channel import ChannelClosed, IsoChannel
from adapter.connectors.iso8583.codec import Codec, CodecError, Message
from adapter.connectors.iso8583.framing import FramingError
from adapter.connectors.iso8583.masking import mask
from adapter.connectors.iso8583.spec import (
    AMOUNT_TYPE_AVAILABLE,
    AMOUNT_TYPE_LEDGER,
    RESPONSE_MTI,
    BitmapEncoding,
    Mti,
    ResponseCode,
)
from adapter.model import Money
from adapter.model.currencies import BY_NUMERIC
from core_sim.faults import FaultSettings
from core_sim.ledger import Ledger, LedgerError

log = logging.getLogger("core_sim.iso_host")

RC = ResponseCode
# The requests that injected latency delays (Rule 1); network management is never delayed.
DELAYED = frozenset({Mti.FINANCIAL_REQUEST, Mti.REVERSAL_ADVICE, Mti.REVERSAL_ADVICE_REPEAT})
ECHOED = ("3", "4", "7", "11", "12", "13", "37", "41", "49", "102", "103")


class IsoHost:
    def __init__(
        self,
        ledger: Ledger,
        faults: FaultSettings,
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        bitmap: BitmapEncoding = BitmapEncoding.ASCII_HEX,
    ) -> None:
        self.ledger = ledger
        self.faults = faults
        self._ssl = ssl_context
        self.host = host
        self._port = port
        self.codec = Codec(bitmap)
        self._server: asyncio.Server | None = None
        self._connections: set[IsoChannel] = set()
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
        for channel in list(self._connections):
            await channel.close()
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
        for channel in list(self._connections):
            await channel.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = IsoChannel(reader, writer)
        self._connections.add(channel)
        try:
            async for frame in channel.frames():
                try:
                    msg = self.codec.decode(frame)
                except CodecError as exc:
                    self.decode_errors += 1
                    log.warning("ISO host dropped an undecodable frame (%d bytes): %s",
                                len(frame), exc)
                    continue
                self.received.append(msg)
                self.received_event.set()
                if self.faults.stop_answering:
                    continue  # the node is silent: nothing applied, nothing answered
                if self.faults.latency_ms > 0 and msg.get("t") in DELAYED:
                    task = asyncio.create_task(self._handle_later(channel, writer, msg))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    continue
                await self._send(channel, self._answer(msg, writer))
        except FramingError as exc:
            log.warning("ISO host closed a connection on a framing error: %s", exc)
        except (OSError, ssl.SSLError):
            pass
        finally:
            self._connections.discard(channel)
            await channel.close()

    async def _handle_later(self, channel: IsoChannel, writer: asyncio.StreamWriter,
                            msg: Message) -> None:
        await self.faults.delay()
        await self._send(channel, self._answer(msg, writer))

    async def _send(self, channel: IsoChannel, reply: Message | None) -> None:
        if reply is None:
            return
        with contextlib.suppress(ChannelClosed, OSError, CodecError):
            await channel.send(self.codec.encode(reply))

    def _answer(self, msg: Message, writer: asyncio.StreamWriter) -> Message | None:
        try:
            return self._reply_to(msg, writer)
        except Exception:
            log.exception("ISO host failed on %s", msg.get("t"))
            return _reply(msg, RC.SYSTEM_MALFUNCTION) if msg.get("t") in RESPONSE_MTI else None

    def _reply_to(self, msg: Message, writer: asyncio.StreamWriter) -> Message | None:
        """The reply (None: no reply); any latency was applied before (Rule 1)."""
        mti = msg.get("t")
        if mti == Mti.NETWORK_REQUEST:
            return _reply(msg, RC.APPROVED) if self.answer_network else None
        if mti in (Mti.REVERSAL_ADVICE, Mti.REVERSAL_ADVICE_REPEAT):
            return self._reverse(msg)
        if mti != Mti.FINANCIAL_REQUEST:
            log.warning("ISO host ignores MTI %s", mti)
            return None
        code = msg.get("3", "")[:2]
        if code == "30":
            return self._balance(msg)
        if code not in ("40", "50"):
            return _reply(msg, RC.INVALID_TRANSACTION)
        if self.faults.should_fail():
            return _reply(msg, RC.SYSTEM_MALFUNCTION)
        reply = self._post(msg, biller=code == "50")
        if self.faults.should_drop():
            log.info("ISO host drops the reply to %s (%s)", msg.get("37"), self.faults.drop_mode)
            if self.faults.drop_mode == "reset":
                writer.transport.abort()
            return None
        return reply

    def _balance(self, msg: Message) -> Message:
        account = msg.get("102")
        if not account:
            return _reply(msg, RC.FORMAT_ERROR)
        try:
            booked, available, currency = self.ledger.balance(account)
        except LedgerError as exc:
            return _reply(msg, mapping.CODE_TO_RESPONSE.get(exc.code, RC.DO_NOT_HONOUR))
        reply = _reply(msg, RC.APPROVED)
        reply["54"] = (
            mapping.additional_amount(AMOUNT_TYPE_LEDGER, Money.from_minor(booked, currency))
            + mapping.additional_amount(AMOUNT_TYPE_AVAILABLE,
                                        Money.from_minor(available, currency))
        )
        return reply

    def _post(self, msg: Message, *, biller: bool) -> Message:
        try:
            reference, debtor, other = msg["37"], msg["102"], msg["103"]
            amount = int(msg["4"])
            private = mapping.unpack_tlv(msg.get("48", ""))
        except (KeyError, ValueError):
            return _reply(msg, RC.FORMAT_ERROR)
        currency = BY_NUMERIC.get(msg.get("49", ""))
        if currency is None:
            return _reply(msg, RC.INVALID_TRANSACTION)
        if amount <= 0:
            return _reply(msg, RC.INVALID_AMOUNT)
        try:
            posting = self.ledger.post_transfer(
                reference, debtor, amount, currency.code, private.get("E2", ""),
                creditor_id=None if biller else other, biller_id=other if biller else None,
                customer_reference=private.get("CR"), remittance=private.get("RI"),
            )
        except LedgerError as exc:
            log.info("ISO host refused %s from %s: %s", reference, mask(debtor), exc.code)
            return _reply(msg, mapping.CODE_TO_RESPONSE.get(exc.code, RC.DO_NOT_HONOUR))
        reply = _reply(msg, RC.APPROVED)
        reply["48"] = mapping.pack_tlv({
            "TX": posting.transaction_id,
            "BT": posting.booked_at.isoformat() if posting.booked_at else None,
        })
        return reply

    def _reverse(self, msg: Message) -> Message | None:
        reference = msg.get("37")
        if not reference:
            return _reply(msg, RC.FORMAT_ERROR)
        currency = BY_NUMERIC.get(msg.get("49", ""))
        try:
            self.ledger.reverse(
                reference, debtor_id=msg.get("102"),
                amount_minor=int(msg["4"]) if msg.get("4", "").isdigit() else None,
                currency=currency.code if currency else None,
            )
        except LedgerError as exc:
            return _reply(msg, mapping.CODE_TO_RESPONSE.get(exc.code, RC.DO_NOT_HONOUR))
        if self.drop_reversals > 0:
            self.drop_reversals -= 1
            return None
        return _reply(msg, RC.APPROVED)


def _reply(msg: Message, code: str) -> Message:
    """The response MTI, the request's echoed fields, field 39 (and 70 for 0810)."""
    reply: Message = {k: msg[k] for k in ECHOED if k in msg}
    if "70" in msg:
        reply["70"] = msg["70"]
    if msg.get("t") in (Mti.REVERSAL_ADVICE, Mti.REVERSAL_ADVICE_REPEAT):
        reply.pop("102", None)
        reply.pop("103", None)
    reply["t"] = RESPONSE_MTI.get(msg.get("t", ""), "9999")
    reply["39"] = code
    return reply
