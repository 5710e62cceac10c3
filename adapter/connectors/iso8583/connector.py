"""The ISO 8583 connector: `CorePort` over a session, a reverser and the reversal store.

Owns: the port's methods and nothing below them: a balance inquiry or posting is built by
`mapping`, sent through the `session`, its reply mapped back, and every failure turned into
a canonical error by the `exceptions` map. The session owns the link (and its liveness), the
reverser owns undoing postings without a reply, the store owns the rows. Reads with no ISO
8583 message (list/get account, history) go to the `reads` port, if any; the connector owns
it (the factory builds it for this connector alone) and closes it with itself.

Invariants:
- Rule 1 (with `write_ahead`, the option's default): a 0200 posting leaves only after its
  ARMED row is committed (`reversals`, Rule 1), and its outcome is returned only after the
  row is disarmed (deleted, committed) or marked PENDING. Without `write_ahead` the caller's
  own journal is the write-ahead log (the adapter's payment journal holds every posting
  ACCEPTED before it is sent, and its resolver calls `resolve` for any it finds unsettled
  after a restart): the store then only holds the postings that need reversing.
- Rule 2: a posting refused at the gate (link down or the core not answering: `session`,
  Rule 1) raises `CoreUnavailable` at once, before any row is written: provably not sent.
- Rule 3: a 0200 posting without a reply (timeout, connection lost after sending) raises
  `CoreOutcomeUnknown` and is reversed; it is never sent again (`reverser`).
- Rule 4: account numbers appear in logs and errors only masked.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from adapter.connectors.iso8583 import mapping
from adapter.connectors.iso8583.codec import Message
from adapter.connectors.iso8583.exceptions import (
    POSTING,
    READ,
    RECORD_BEFORE_SENDING,
    RECORD_REPLY,
    map_exceptions,
)
from adapter.connectors.iso8583.options import IsoOptions
from adapter.connectors.iso8583.reverser import ReversalCallback, Reverser, log_late_reply
from adapter.connectors.iso8583.session import IsoSession, LinkState
from adapter.infra.tls import ReloadableClientContext, TlsFiles
from adapter.model import Account, AccountRef, Balance, HistoryQuery, TransactionPage
from adapter.model.errors import CoreUnavailable, DuplicateRequest
from adapter.ports.core import CoreBooking, CoreOutcomeUnknown, CorePort, CorePosting
from adapter.ports.reversals import ReversalStore

log = logging.getLogger("adapter.connectors.iso8583")


class IsoCoreConnector:
    def __init__(
        self,
        options: IsoOptions,
        ssl_context: ssl.SSLContext | ReloadableClientContext,
        store: ReversalStore,
        *,
        reads: CorePort | None = None,
        on_reversed: ReversalCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.store = store
        self._reads = reads
        self._clock = clock
        self.session = IsoSession(options, ssl_context, on_unmatched=log_late_reply,
                                  clock=clock)
        self.reverser = Reverser(options, self.session, store, on_reversed=on_reversed,
                                 clock=clock)

    @classmethod
    def create(cls, options: IsoOptions, pki_dir: Path, store: ReversalStore, *,
               reads: CorePort | None = None,
               on_reversed: ReversalCallback | None = None,
               tls: ReloadableClientContext | None = None) -> IsoCoreConnector:
        """The composition root's factory: the mTLS client context from `adapter.infra.tls`
        (`tls`, the link's reloadable context the root shares, or one of its own from
        `pki_dir`) and the reversal store it is given (the root chooses the backend). Call
        `await start()` (or just use it: the first call starts it)."""
        if tls is None:
            tls = ReloadableClientContext(TlsFiles.from_dir(Path(pki_dir), options.client_name))
        return cls(options, tls, store, reads=reads, on_reversed=on_reversed)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self.session.start()
        self.reverser.start()

    async def wait_ready(self, timeout: float) -> bool:
        await self.start()
        return await self.session.wait_up(timeout)

    async def aclose(self) -> None:
        await self.reverser.aclose()
        await self.session.aclose()
        await self.store.aclose()
        if self._reads is not None:
            await self._reads.aclose()

    @property
    def signed_on(self) -> bool:
        """Connected and signed on now (no I/O: a pool of nodes reads it per request)."""
        return self.session.state is LinkState.UP

    async def healthy(self) -> bool:
        """Signed on and the core answering: `liveness` (readiness uses this)."""
        return self.session.healthy()

    async def wait_health(self, healthy: bool, timeout: float) -> bool:
        """Wait until `healthy()` answers `healthy`, woken by the link's own changes (session
        Rule 6); False if not within `timeout` (operators' tools, tests)."""
        return await self.session.wait_until(lambda: self.session.healthy() is healthy,
                                             timeout)

    async def echo(self) -> bool:
        """One 0800/301 now: True if the core answered 00."""
        return await self.session.echo()

    # -- reads -------------------------------------------------------------------------------

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
        self.reverser.start()
        with map_exceptions(READ):
            msg = mapping.balance_request(account_id, self.session.stans.next(),
                                          self.options.terminal_id, _now())
            reply = await self.session.request(msg, timeout)
        return mapping.balance_from_reply(reply, account_id, _now())

    # -- postings ----------------------------------------------------------------------------

    async def post(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        self.reverser.start()
        deadline = self._clock() + timeout
        with map_exceptions(POSTING):
            pending = self.session.admit(timeout)  # Rule 2: refused before anything is written
            if pending is not None:
                await pending
            msg = mapping.financial_request(posting, self.session.stans.next(),
                                            self.options.terminal_id, _now())
        with self.reverser.sending(posting.reference):
            return await self._post(posting.reference, msg, deadline)

    async def _post(self, reference: str, msg: Message, deadline: float) -> CoreBooking:
        if self.options.write_ahead:
            with map_exceptions(RECORD_BEFORE_SENDING):
                may_send = await self.store.arm(reference, msg)  # committed first (Rule 1)
        else:  # the caller's journal wrote ahead; a row here means a reversal exists
            may_send = await self.store.get(reference) is None
        if not may_send:
            # The reference is already being (or was) reversed: sending it could only be
            # refused by the core (a reversed reference is fenced) or race the reversal.
            raise DuplicateRequest("this reference was already sent to the core and reversed")
        try:
            with map_exceptions(POSTING):
                reply = await self.session.request(msg, max(0.001, deadline - self._clock()))
        except CoreUnavailable:
            await self._disarm(reference)
            raise
        except (CoreOutcomeUnknown, asyncio.CancelledError) as exc:
            await self.reverser.owed(reference, msg)
            log.warning("iso8583 posting %s without reply (%s): reversal scheduled",
                        reference, type(exc.__cause__ or exc).__name__)
            raise
        # The disarm is committed before the caller hears the outcome: a restart can never
        # reverse a posting its caller was told is booked.
        await self._disarm(reference)
        return mapping.booking_from_reply(reply, reference)

    async def _disarm(self, reference: str) -> None:
        if not self.options.write_ahead:
            return
        try:
            with map_exceptions(RECORD_REPLY):
                await self.store.disarm(reference)
        except CoreOutcomeUnknown:
            self.reverser.wake()  # the ARMED row stays and will be reversed
            raise

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        self.reverser.start()
        return await self.reverser.resolve(posting, timeout=timeout)


def _now() -> datetime:
    return datetime.now(UTC)
