"""The session: one signed-on ISO 8583 link to the core, kept up, watched, and gated.

Owns: connecting (through `channel`), the 0800/70=001 sign-on, the 0800/70=301 echoes that
probe the link (`liveness` decides when and judges the answers), answering the core's own
0800s, the read loop (frames -> codec -> mux), reconnecting with backoff, and the gate every
request passes before it is sent. It knows nothing of postings or reversals: messages in,
messages out.

The link's states (h11 `_state.py` style; any other event in a state is a bug and raises):

    state        event        next         meaning
    IDLE         START        CONNECTING   first attempt under way
    CONNECTING   SIGNED_ON    UP           connected, 0810/39=00 received
    CONNECTING   FAILED       DOWN         connect, TLS or sign-on failed
    UP           LOST         CONNECTING   the connection closed: reconnect at once
    UP           DEAD         DOWN         `max_echo_failures` echoes unanswered
    DOWN         SIGNED_ON    UP
    DOWN         FAILED       DOWN         still failing; retried with backoff
    any          CLOSE        CLOSED       final

Invariants:
- Rule 1 (the gate): a request is sent only in UP and only while `liveness` says ALIVE;
  otherwise it is refused with `LinkDown` / `LinkUnhealthy` (both `NotSent`) before anything
  leaves, so its caller knows it was not delivered. Echoes and sign-ons bypass the gate: they
  are how the link is judged.
- Rule 2: a request arriving in IDLE or CONNECTING waits for that attempt's result, at most
  min(its timeout, `connect_timeout`); in DOWN it is refused at once (the last attempt failed
  and the next is a backoff away), so a dead core costs its callers no waiting.
- Rule 3: leaving UP is the first step of a teardown: nothing is admitted onto a connection
  being closed; then every request in flight fails with `ConnectionLost` (`mux`, Rule 3).
- Rule 4: UP requires a sign-on answered with field 39 = 00; each sign-on resets the backoff
  and the liveness record.
- Rule 5: a frame that does not decode is dropped and counted; the framing stays in sync. A
  framing error closes the connection (`channel`, Rule 2).
- Rule 6: every state transition and every change of the reported liveness verdict wakes
  `wait_until`'s waiters, who look again: health is waited for, never polled.
- Rule 7: each connect takes the TLS context as it is then (a `ReloadableClientContext`'s
  `current`): after a reload of the link's certificate the next reconnect presents the new
  one, and the connection up at the time keeps its own until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum

from adapter.connectors.iso8583 import mapping
from adapter.connectors.iso8583.channel import Backoff, ChannelClosed, IsoChannel
from adapter.connectors.iso8583.codec import Codec, CodecError, Message
from adapter.connectors.iso8583.exceptions import UNANSWERED, LinkDown, LinkUnhealthy
from adapter.connectors.iso8583.framing import FramingError
from adapter.connectors.iso8583.liveness import Liveness, Verdict
from adapter.connectors.iso8583.mux import Mux
from adapter.connectors.iso8583.options import IsoOptions
from adapter.connectors.iso8583.spec import Mti, NetworkCode, ResponseCode
from adapter.connectors.iso8583.stan import StanSequence
from adapter.infra.tls import ReloadableClientContext

log = logging.getLogger("adapter.connectors.iso8583")


class LinkState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    CLOSED = "closed"


class LinkEvent(StrEnum):
    START = "start"
    SIGNED_ON = "signed on"
    FAILED = "failed"
    LOST = "lost"
    DEAD = "dead"
    CLOSE = "close"


# An 0800 with no reply: not sent, not answered, or the connection failed under it.
_NO_REPLY: tuple[type[Exception], ...] = (*UNANSWERED, OSError)  # ChannelClosed is an OSError

S, E = LinkState, LinkEvent
TRANSITIONS: dict[LinkState, dict[LinkEvent, LinkState]] = {
    S.IDLE: {E.START: S.CONNECTING, E.CLOSE: S.CLOSED},
    S.CONNECTING: {E.SIGNED_ON: S.UP, E.FAILED: S.DOWN, E.CLOSE: S.CLOSED},
    S.UP: {E.LOST: S.CONNECTING, E.DEAD: S.DOWN, E.CLOSE: S.CLOSED},
    S.DOWN: {E.SIGNED_ON: S.UP, E.FAILED: S.DOWN, E.CLOSE: S.CLOSED},
    S.CLOSED: {},
}


class IsoSession:
    def __init__(
        self,
        options: IsoOptions,
        ssl_context: ssl.SSLContext | ReloadableClientContext,
        *,
        on_unmatched: Callable[[Message, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self._ssl = ssl_context
        self._clock = clock
        self.codec = Codec(options.bitmap)
        self.mux = Mux(on_unmatched, clock=clock)
        self.stans = StanSequence(options.terminal_id, self.mux.in_flight)
        self.liveness = Liveness(timeout=options.liveness_timeout,
                                 echo_interval=options.echo_interval, clock=clock)
        self._backoff = Backoff(options.backoff_initial, options.backoff_max)
        self.state = LinkState.IDLE
        self._changed = asyncio.Event()  # set (and replaced) at every change (Rule 6)
        self._channel: IsoChannel | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._reported = Verdict.ALIVE
        self.connections = 0  # sessions signed on (tests, metrics)
        self.decode_errors = 0

    @property
    def terminal_id(self) -> str:
        return self.options.terminal_id

    # -- the state table ---------------------------------------------------------------------

    def _fire(self, event: LinkEvent) -> None:
        try:
            new = TRANSITIONS[self.state][event]
        except KeyError:
            raise RuntimeError(f"iso8583 link: {event} is not allowed in state {self.state}"
                               ) from None
        if new is not self.state:
            log.debug("iso8583 link %s -> %s (%s)", self.state, new, event)
        self.state = new
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, done: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until `done()` holds, looking again at each transition or verdict change
        (Rule 6); `done()` after at most `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not done():
                    await self._changed.wait()
        return done()

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self.state is LinkState.IDLE:
            self._fire(LinkEvent.START)
            self._supervisor = asyncio.create_task(self._supervise(), name="iso8583-session")

    async def wait_up(self, timeout: float | None = None) -> bool:
        """Start if needed; True once signed on (False if not within `timeout`)."""
        self.start()
        return await self.wait_until(lambda: self.state is LinkState.UP, timeout)

    async def wait_signed_on(self, sessions: int, timeout: float | None = None) -> bool:
        """True once `sessions` connections have signed on in all and the link is UP now
        (tests, operators: "the link has reconnected"); False if not within `timeout`."""
        self.start()
        return await self.wait_until(
            lambda: self.connections >= sessions and self.state is LinkState.UP, timeout)

    async def aclose(self) -> None:
        if self.state is LinkState.CLOSED:
            return
        self._fire(LinkEvent.CLOSE)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        self.mux.fail_all("the connector is closing")

    # -- health and the gate (Rules 1, 2) ----------------------------------------------------

    def verdict(self) -> Verdict:
        verdict = self.liveness.verdict(self.mux.oldest_registered_at)
        if verdict is not self._reported and self.state is LinkState.UP:
            if verdict is Verdict.ALIVE:
                log.info("iso8583 link to %s answering again", self._where())
            else:
                log.warning("iso8583 link to %s %s: nothing received for %.1fs; "
                            "new requests are refused", self._where(), verdict,
                            self.liveness.silence())
            self._reported = verdict
            self._wake()
        return verdict

    def healthy(self) -> bool:
        """Signed on, and the core answers (`liveness`)."""
        return self.state is LinkState.UP and self.verdict() is Verdict.ALIVE

    def admit(self, timeout: float) -> Awaitable[None] | None:
        """None if a request may be sent now; raise `NotSent` (nothing sent) if not. Before
        the link's first attempt has ended (Rule 2), an awaitable that does the same once it
        has: the common case, a link that is up, awaits nothing."""
        if self.state is LinkState.UP:
            self._check_alive()
            return None
        return self._admit_when_connected(timeout)

    async def _admit_when_connected(self, timeout: float) -> None:
        self.start()
        if self.state is LinkState.CONNECTING:
            await self.wait_until(lambda: self.state is not LinkState.CONNECTING,
                                   max(0.0, min(timeout, self.options.connect_timeout)))
        if self.state is not LinkState.UP:
            raise LinkDown(f"the link to the core is {self.state}")
        self._check_alive()

    def _check_alive(self) -> None:
        verdict = self.verdict()
        if verdict is not Verdict.ALIVE:
            raise LinkUnhealthy(f"the core is not answering ({verdict})")

    async def request(self, message: Message, timeout: float) -> Message:
        """Send through the gate and await the matched reply. `NotSent` if it certainly did
        not leave; the mux's errors if it did (or may have)."""
        deadline = self._clock() + timeout
        pending = self.admit(timeout)
        if pending is not None:
            await pending
        channel = self._channel
        if channel is None:  # torn down between the state change and now
            raise LinkDown("the connection to the core is closed")

        async def send(m: Message) -> None:
            try:
                await channel.send(self.codec.encode(m))
            except (ChannelClosed, OSError) as exc:
                raise LinkDown("the connection to the core is closed") from exc

        return await self.mux.request(message, send, max(0.001, deadline - self._clock()))

    async def echo(self) -> bool:
        """One 0800/301 on the current session now: True if answered with 39 = 00."""
        channel = self._channel
        if channel is None or self.state is not LinkState.UP:
            return False
        return await self._probe(channel)

    # -- the connection (Rules 3, 4) ---------------------------------------------------------

    async def _supervise(self) -> None:
        o = self.options
        while self.state is not LinkState.CLOSED:
            try:
                tls = self._ssl  # Rule 7: the context as it is at this connect
                context = tls.current if isinstance(tls, ReloadableClientContext) else tls
                channel = await IsoChannel.connect(o.host, o.port, context,
                                                   server_hostname=o.peer_name,
                                                   timeout=o.connect_timeout)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                if self.state is LinkState.CLOSED:
                    return
                self._fire(LinkEvent.FAILED)
                delay = self._backoff.next_delay()
                log.warning("iso8583 connect to %s:%s failed (%s); retry in %.2fs",
                            o.host, o.port, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            self._channel = channel
            reader = asyncio.create_task(self._read_loop(channel), name="iso8583-reader")
            outcome = LinkEvent.LOST
            try:
                outcome = await self._run(channel, reader)
            except Exception:
                log.exception("iso8583 session failed")
            finally:
                if self.state is not LinkState.CLOSED:
                    if self.state is not LinkState.UP and outcome is LinkEvent.LOST:
                        outcome = LinkEvent.FAILED  # lost before it was ever signed on
                    self._fire(outcome)  # Rule 3: first, before any await
                self._channel = None
                reader.cancel()
                await channel.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                self.mux.fail_all("the connection to the core was lost")
            if self.state is not LinkState.CLOSED:
                await asyncio.sleep(self._backoff.next_delay())

    async def _run(self, channel: IsoChannel, reader: asyncio.Task[None]) -> LinkEvent:
        """Sign on, then probe the link as `liveness` asks until the connection ends."""
        reply = await self._network(NetworkCode.SIGN_ON, channel)
        if reply is None or reply.get("39") != ResponseCode.APPROVED:
            log.warning("iso8583 sign-on refused or unanswered (%s)",
                        None if reply is None else reply.get("39"))
            return LinkEvent.FAILED
        self.connections += 1
        self._backoff.reset()
        self.liveness.signed_on()
        self._reported = Verdict.ALIVE
        self._fire(LinkEvent.SIGNED_ON)
        log.info("iso8583 signed on to %s as terminal %s", channel.peer(), self.terminal_id)
        # A request registered while we wait can make a probe due sooner (`liveness`, Rule
        # 4): look again at least this often.
        tick = self.liveness.timeout / 4
        while not reader.done():
            wait = self.liveness.probe_in(self.mux.oldest_registered_at())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, tick)):
                        await asyncio.shield(reader)
                continue
            if not await self._probe(channel) \
                    and self.liveness.echo_failures >= self.options.max_echo_failures:
                log.error("iso8583 core not answering echoes (%d in a row); reconnecting",
                          self.liveness.echo_failures)
                return LinkEvent.DEAD
        return LinkEvent.LOST

    async def _probe(self, channel: IsoChannel) -> bool:
        echo = asyncio.ensure_future(self._network(NetworkCode.ECHO, channel))
        # While the echo is owed the verdict may turn STALLED by time alone (liveness Rule
        # 2): look when it would, so the change is reported then (Rule 6), not at the echo's
        # end.
        while not echo.done():
            # Before the task's first step the echo is not registered yet: it is, now.
            owed = self.mux.oldest_registered_at() or self._clock()
            await asyncio.wait({echo}, timeout=self.liveness.stalled_in(owed))
            self.verdict()
        reply = echo.result()
        ok = reply is not None and reply.get("39") == ResponseCode.APPROVED
        if ok:
            self.liveness.echo_answered()
        else:
            self.liveness.echo_failed()
            log.warning("iso8583 echo failed (%d in a row)", self.liveness.echo_failures)
        self.verdict()  # log a change now, not at the next health check
        return ok

    async def _network(self, code: str, channel: IsoChannel) -> Message | None:
        """An 0800 on `channel`, past the gate; None if it got no reply."""
        try:
            msg = mapping.network_request(code, self.stans.next(), self.terminal_id, _now())
            return await self.mux.request(msg, lambda m: channel.send(self.codec.encode(m)),
                                          self.options.network_timeout)
        except _NO_REPLY:
            return None

    async def _read_loop(self, channel: IsoChannel) -> None:
        try:
            async for frame in channel.frames():
                self.liveness.received()
                if self._reported is not Verdict.ALIVE:
                    self.verdict()  # answering again: report it now (Rule 6)
                try:
                    msg = self.codec.decode(frame)
                except CodecError as exc:
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
            await channel.send(self.codec.encode(reply))

    def _where(self) -> str:
        return f"{self.options.host}:{self.options.port}"


def _now() -> datetime:
    return datetime.now(UTC)
