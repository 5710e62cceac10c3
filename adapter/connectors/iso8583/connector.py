"""The ISO 8583 connector: `CorePort` over one mutual-TLS connection to the core's host.

Owns: the connection's life (connect, 0800 sign-on, 0800 echo when idle, reconnect with
backoff), the STAN sequence, sending requests through the mux, mapping replies to canonical
values and errors, and driving reversals (0420/0421 until 0430) from the persistent store.

Invariants:
- Rule 1 (with `write_ahead`, the default): a 0200 posting leaves only after its ARMED row is
  committed (`reversals`, Rule 1), and its outcome is returned only after the row is
  disarmed (deleted, committed) or marked PENDING. Both writes are group-committed with the
  other postings (`reversals`, Rule 4). Without `write_ahead` the caller's own journal is the
  write-ahead log (the adapter's payment journal holds every posting ACCEPTED before it is
  sent, and its resolver calls `resolve` for any it finds unsettled after a restart): the
  store then only holds the postings that need reversing, written when one is found.
- Rule 2: a 0200 posting without a reply (timeout, connection lost after sending) raises
  `CoreOutcomeUnknown` and is reversed; it is never sent again. If it certainly did not leave,
  `CoreUnavailable`.
- Rule 3: `resolve` returns REVERSED only after the core acknowledged a 0420/0421 with a 0430;
  until then the reversal stays PENDING and is retried in the background, also after restart.
- Rule 4: each (field 11 STAN, field 41 terminal id) is in flight at most once (the mux
  refuses duplicates; the STAN sequence skips keys still in flight).
- Rule 5: account numbers appear in logs and errors only masked.
- Reads with no ISO 8583 message (list/get account, history) go to the `reads` port, if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from adapter.connectors.iso8583 import mapping
from adapter.connectors.iso8583.channel import Backoff, ChannelClosed, IsoChannel
from adapter.connectors.iso8583.codec import Codec, CodecError, Message
from adapter.connectors.iso8583.framing import FramingError
from adapter.connectors.iso8583.mux import ConnectionLost, DuplicateKey, Mux, MuxTimeout
from adapter.connectors.iso8583.reversals import ReversalState, ReversalStore
from adapter.connectors.iso8583.spec import (
    STAN_MODULUS,
    TERMINAL_ID_LEN,
    BitmapEncoding,
    Mti,
    NetworkCode,
    ResponseCode,
)
from adapter.model import Account, AccountRef, Balance, HistoryQuery, TransactionPage
from adapter.model.errors import CoreTimeout, CoreUnavailable, DuplicateRequest
from adapter.ports.core import (
    CoreBooking,
    CoreBookingState,
    CoreOutcomeUnknown,
    CorePort,
    CorePosting,
)
from adapter.security.tls import TlsFiles, client_context
from adapter.stores.group_commit import LINGER

log = logging.getLogger(__name__)

ReversalCallback = Callable[[str], Awaitable[None] | None]


class NotSent(Exception):
    """The request certainly did not leave (no connection)."""


class IsoCoreConnector:
    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        store: ReversalStore,
        *,
        terminal_id: str = "ADAPTER1",
        server_hostname: str | None = None,
        bitmap: BitmapEncoding = BitmapEncoding.ASCII_HEX,
        reads: CorePort | None = None,
        echo_interval: float = 30.0,
        network_timeout: float = 5.0,
        max_echo_failures: int = 3,
        reversal_timeout: float = 5.0,
        reversal_retry: float = 2.0,
        connect_timeout: float = 5.0,
        backoff: Backoff | None = None,
        on_reversed: ReversalCallback | None = None,
        write_ahead: bool = True,
    ) -> None:
        if len(terminal_id) != TERMINAL_ID_LEN:
            raise ValueError(f"terminal id (field 41) is {TERMINAL_ID_LEN} characters")
        self.host = host
        self.port = port
        self._ssl = ssl_context
        self._server_hostname = server_hostname or host
        self.store = store
        self.terminal_id = terminal_id
        self.codec = Codec(bitmap)
        self.mux = Mux(self._on_unmatched)
        self._reads = reads
        self.echo_interval = echo_interval
        self.network_timeout = network_timeout
        self.max_echo_failures = max_echo_failures
        self.reversal_timeout = reversal_timeout
        self.reversal_retry = reversal_retry
        self.connect_timeout = connect_timeout
        self._backoff = backoff or Backoff()
        self.on_reversed = on_reversed
        self.write_ahead = write_ahead

        self._stan = 0
        self._channel: IsoChannel | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._echo_failures = 0
        self._last_rx = time.monotonic()
        self._supervisor: asyncio.Task[None] | None = None
        self._reverser: asyncio.Task[None] | None = None
        self._reversal_wake = asyncio.Event()
        self._reversal_locks: dict[str, asyncio.Lock] = {}
        self._live: set[str] = set()  # references whose 0200 is in flight in this process
        self.connections = 0  # how many times a session was established (tests, metrics)
        self.decode_errors = 0

    @classmethod
    def create(
        cls,
        host: str,
        port: int,
        pki_dir: Path,
        state_dir: Path,
        *,
        client_name: str = "adapter-client",
        server_hostname: str = "localhost",
        synchronous: str = "NORMAL",
        linger: float = LINGER,
        **options: object,
    ) -> IsoCoreConnector:
        """The composition root's factory: mTLS client context from `adapter.security.tls`,
        the reversal store in `state_dir`. Call `await start()` (or just use it: the first
        call starts it)."""
        pki = Path(pki_dir)
        ctx = client_context(TlsFiles.from_dir(pki, client_name), pki / "ca.crt")
        store = ReversalStore.in_dir(Path(state_dir), synchronous=synchronous, linger=linger)
        return cls(host, port, ctx, store, server_hostname=server_hostname,
                   **options)  # type: ignore[arg-type]

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._supervisor is None:
            self._closing = False
            self._supervisor = asyncio.create_task(self._supervise(), name="iso8583-supervisor")
            self._reverser = asyncio.create_task(self._reverse_loop(), name="iso8583-reversals")

    async def wait_ready(self, timeout: float) -> bool:
        await self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        return self._ready.is_set()

    async def aclose(self) -> None:
        self._closing = True
        self._ready.clear()
        for task in (self._supervisor, self._reverser):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._supervisor = self._reverser = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        self.mux.fail_all("the connector is closing")
        self.store.close()

    @property
    def signed_on(self) -> bool:
        """Connected and signed on now (no I/O: a pool of nodes reads it per request)."""
        return self._ready.is_set()

    async def healthy(self) -> bool:
        """Connected, signed on, and the last echo (if any) was answered."""
        return self._ready.is_set() and self._echo_failures == 0

    # -- the connection ---------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._closing:
            try:
                channel = await IsoChannel.connect(
                    self.host, self.port, self._ssl, server_hostname=self._server_hostname,
                    timeout=self.connect_timeout)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                delay = self._backoff.next_delay()
                log.warning("iso8583 connect to %s:%s failed (%s); retry in %.2fs",
                            self.host, self.port, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            self._channel = channel
            reader = asyncio.create_task(self._read_loop(channel), name="iso8583-reader")
            try:
                await self._session(channel, reader)
            except Exception:
                log.exception("iso8583 session failed")
            finally:
                self._ready.clear()
                await channel.close()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                self._channel = None
                self.mux.fail_all("the connection to the core was lost")
            if not self._closing:
                await asyncio.sleep(self._backoff.next_delay())

    async def _session(self, channel: IsoChannel, reader: asyncio.Task[None]) -> None:
        reply = await self._network(NetworkCode.SIGN_ON, channel)
        if reply is None or reply.get("39") != ResponseCode.APPROVED:
            log.warning("iso8583 sign-on refused or unanswered (%s)",
                        None if reply is None else reply.get("39"))
            return
        self.connections += 1
        self._echo_failures = 0
        self._backoff.reset()
        self._ready.set()
        self._reversal_wake.set()
        log.info("iso8583 signed on to %s as terminal %s", channel.peer(), self.terminal_id)
        while not reader.done():
            idle = time.monotonic() - self._last_rx
            wait = self.echo_interval - idle
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await asyncio.shield(reader)
                continue
            reply = await self._network(NetworkCode.ECHO, channel)
            if reply is not None and reply.get("39") == ResponseCode.APPROVED:
                self._echo_failures = 0
            else:
                self._echo_failures += 1
                self._last_rx = time.monotonic()  # space the next echo one interval out
                log.warning("iso8583 echo failed (%d in a row)", self._echo_failures)
                if self._echo_failures >= self.max_echo_failures:
                    log.error("iso8583 core not answering echoes; reconnecting")
                    return

    async def _network(self, code: str, channel: IsoChannel) -> Message | None:
        msg = mapping.network_request(code, self._next_stan(), self.terminal_id, _now())
        try:
            return await self.mux.request(msg, lambda m: self._send_on(channel, m),
                                          self.network_timeout)
        except (MuxTimeout, ConnectionLost, ChannelClosed, OSError):
            return None

    async def echo(self) -> bool:
        """One 0800/301 on the current connection: True if the core answered 00."""
        channel = self._channel
        if channel is None or not self._ready.is_set():
            return False
        reply = await self._network(NetworkCode.ECHO, channel)
        ok = reply is not None and reply.get("39") == ResponseCode.APPROVED
        self._echo_failures = 0 if ok else self._echo_failures + 1
        return ok

    async def _read_loop(self, channel: IsoChannel) -> None:
        try:
            async for frame in channel.frames():
                self._last_rx = time.monotonic()
                try:
                    msg = self.codec.decode(frame)
                except CodecError as exc:
                    # The frame boundary is intact, so the stream stays in sync: drop it.
                    self.decode_errors += 1
                    log.warning("iso8583 undecodable frame of %d bytes dropped: %s",
                                len(frame), exc)
                    continue
                if msg.get("t") == Mti.NETWORK_REQUEST:
                    await self._answer_network(channel, msg)
                    continue
                self.mux.deliver(msg)
        except FramingError as exc:
            log.error("iso8583 framing error, closing the connection: %s", exc)
        except (OSError, ssl.SSLError) as exc:
            log.warning("iso8583 connection error: %s", type(exc).__name__)

    async def _answer_network(self, channel: IsoChannel, msg: Message) -> None:
        """The core may echo us too (0800 -> 0810 39=00)."""
        reply: Message = {k: msg[k] for k in ("7", "11", "41", "70") if k in msg}
        reply.update({"t": Mti.NETWORK_RESPONSE, "39": ResponseCode.APPROVED})
        with contextlib.suppress(ChannelClosed, OSError, CodecError):
            await self._send_on(channel, reply)

    async def _send_on(self, channel: IsoChannel, msg: Message) -> None:
        await channel.send(self.codec.encode(msg))

    def _next_stan(self) -> str:
        for _ in range(STAN_MODULUS):
            self._stan = self._stan % (STAN_MODULUS - 1) + 1  # 000001..999999, never 000000
            stan = f"{self._stan:06d}"
            if not self.mux.in_flight((stan, self.terminal_id)):
                return stan
        raise CoreUnavailable("no free STAN: too many requests in flight")

    async def _request(self, msg: Message, timeout: float) -> Message:
        """Send and await the matched reply. NotSent if it certainly did not leave."""
        deadline = time.monotonic() + timeout
        if not self._ready.is_set():
            await self.start()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(timeout, self.connect_timeout))):
                    await self._ready.wait()
        channel = self._channel
        if channel is None or not self._ready.is_set():
            raise NotSent("not connected to the core")
        remaining = max(0.001, deadline - time.monotonic())

        async def send(m: Message) -> None:
            try:
                await self._send_on(channel, m)
            except (ChannelClosed, OSError) as exc:
                raise NotSent("the connection to the core is closed") from exc

        return await self.mux.request(msg, send, remaining)

    async def request(self, message: Message, *, timeout: float) -> Message:
        """One raw request/reply through the mux (fields 11 and 41 must be set; see
        `next_stan`). For tools and benchmarks; the port methods build their own messages."""
        try:
            return await self._request(message, timeout)
        except NotSent as exc:
            raise CoreUnavailable() from exc

    def next_stan(self) -> str:
        return self._next_stan()

    # -- reads ------------------------------------------------------------------------------

    def _reads_port(self) -> CorePort:
        if self._reads is None:
            raise CoreUnavailable("account lookups and history are not available over ISO 8583 "
                                  "and no read connector is configured")
        return self._reads

    async def list_accounts(self, *, timeout: float) -> list[Account]:
        return await self._reads_port().list_accounts(timeout=timeout)

    async def get_account(self, ref: AccountRef, *, timeout: float) -> Account:
        return await self._reads_port().get_account(ref, timeout=timeout)

    async def get_history(self, account_id: str, query: HistoryQuery, *,
                          timeout: float) -> TransactionPage:
        return await self._reads_port().get_history(account_id, query, timeout=timeout)

    async def get_balance(self, account_id: str, *, timeout: float) -> Balance:
        msg = mapping.balance_request(account_id, self._next_stan(), self.terminal_id, _now())
        try:
            reply = await self._request(msg, timeout)
        except NotSent as exc:
            raise CoreUnavailable() from exc
        except (MuxTimeout, ConnectionLost) as exc:
            raise CoreTimeout() from exc
        return mapping.balance_from_reply(reply, account_id, _now())

    # -- postings ---------------------------------------------------------------------------

    async def post(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        reference = posting.reference
        msg = mapping.financial_request(posting, self._next_stan(), self.terminal_id, _now())
        if reference in self._live:
            raise DuplicateRequest("this reference is already in flight to the core")
        # Live from before its row is armed until after its row is disarmed or PENDING: the
        # reversal loop never takes the ARMED row of a posting in flight for an orphan.
        self._live.add(reference)
        try:
            return await self._post_live(reference, msg, timeout)
        finally:
            self._live.discard(reference)

    async def _post_live(self, reference: str, msg: Message, timeout: float) -> CoreBooking:
        if self.write_ahead:
            try:
                may_send = await self.store.arm(reference, msg)  # committed first (Rule 1)
            except sqlite3.Error as exc:
                raise CoreUnavailable("the posting could not be recorded before sending") from exc
        else:  # the caller's journal wrote ahead; a row here means a reversal exists
            may_send = self.store.get(reference) is None
        if not may_send:
            # The reference is already being (or was) reversed: sending it could only be
            # refused by the core (a reversed reference is fenced) or race the reversal.
            raise DuplicateRequest("this reference was already sent to the core and reversed")
        try:
            reply = await self._request(msg, timeout)
        except NotSent as exc:
            await self._disarm(reference)
            raise CoreUnavailable() from exc
        except DuplicateKey as exc:
            await self._disarm(reference)
            raise CoreUnavailable("too many requests in flight") from exc
        except (MuxTimeout, ConnectionLost, asyncio.CancelledError) as exc:
            self.store.mark_pending(reference, None if self.write_ahead else msg)
            self._reversal_wake.set()
            log.warning("iso8583 posting %s without reply (%s): reversal scheduled",
                        reference, type(exc).__name__)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise CoreOutcomeUnknown() from exc
        # The disarm is committed before the caller hears the outcome: a restart can never
        # reverse a posting its caller was told is booked.
        await self._disarm(reference)
        return mapping.booking_from_reply(reply, reference)

    async def _disarm(self, reference: str) -> None:
        if not self.write_ahead:
            return
        try:
            await self.store.disarm(reference)
        except sqlite3.Error as exc:
            # The ARMED row stays and will be reversed: the outcome must not be reported.
            self._reversal_wake.set()
            raise CoreOutcomeUnknown("the posting's reply could not be recorded") from exc

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        deadline = time.monotonic() + timeout
        record = self.store.get(posting.reference)
        if record is None:
            # Never sent by this adapter's store (or lost before arming): fence it anyway, so
            # a late original can never book (the core tombstones an unknown reversal).
            original = mapping.financial_request(posting, "000000", self.terminal_id, _now())
            self.store.mark_pending(posting.reference, original)
        elif record.state is ReversalState.ARMED:
            self.store.mark_pending(posting.reference)
        while True:
            if await self._reverse_once(posting.reference, deadline):
                return CoreBooking(reference=posting.reference, state=CoreBookingState.REVERSED)
            if time.monotonic() >= deadline:
                raise CoreOutcomeUnknown("the reversal is not acknowledged yet; it is retried")
            await asyncio.sleep(min(self.reversal_retry, max(0.0, deadline - time.monotonic())))

    async def _reverse_once(self, reference: str, deadline: float | None = None) -> bool:
        """One 0420 (0421 on repeats) for `reference`; True once it is REVERSED."""
        lock = self._reversal_locks.setdefault(reference, asyncio.Lock())
        async with lock:
            record = self.store.get(reference)
            if record is None:
                return False
            if record.state is ReversalState.REVERSED:
                return True
            timeout = self.reversal_timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                return False
            attempt = self.store.count_attempt(reference)
            msg = mapping.reversal_advice(record.original, self._next_stan(), _now(),
                                          repeat=attempt > 1)
            try:
                reply = await self._request(msg, timeout)
            except (NotSent, MuxTimeout, ConnectionLost, DuplicateKey) as exc:
                log.warning("iso8583 reversal %s attempt %d unanswered (%s)",
                            reference, attempt, type(exc).__name__)
                return False
            code = reply.get("39")
            if code != ResponseCode.APPROVED:
                log.warning("iso8583 reversal %s refused with %s; retried later", reference, code)
                return False
            self.store.mark_reversed(reference)
            log.info("iso8583 posting %s reversed after %d attempt(s)", reference, attempt)
        self._reversal_locks.pop(reference, None)
        await self._notify_reversed(reference)
        return True

    async def _notify_reversed(self, reference: str) -> None:
        if self.on_reversed is None:
            return
        try:
            result = self.on_reversed(reference)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_reversed hook failed for %s", reference)

    async def _reverse_loop(self) -> None:
        """Drive every outstanding reversal (including those found at start-up) to 0430."""
        while True:
            await self._ready.wait()
            outstanding = self.store.outstanding()
            for record in outstanding:
                if record.state is ReversalState.ARMED and self._is_live(record.reference):
                    continue
                if record.state is ReversalState.ARMED:
                    self.store.mark_pending(record.reference)
                with contextlib.suppress(Exception):
                    await self._reverse_once(record.reference)
            self._reversal_wake.clear()
            if not self.store.outstanding() or not outstanding:
                await self._reversal_wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.reversal_retry):
                        await self._reversal_wake.wait()

    def _is_live(self, reference: str) -> bool:
        """An ARMED row whose 0200 is still in flight in this process is not orphaned."""
        return reference in self._live

    def _on_unmatched(self, message: Message, reason: str) -> None:
        if message.get("t") == Mti.FINANCIAL_RESPONSE and message.get("39") == "00":
            # A late approval: the posting is already PENDING reversal (Rule 2), which will
            # undo it; nothing else to do but make that visible.
            log.warning("iso8583 late approval for %s: its reversal undoes it",
                        message.get("37", "?"))


def _now() -> datetime:
    return datetime.now(UTC)

