"""`CorePool`: a `CorePort` over several core nodes on one ledger, one connector per node.

Owns: choosing a node for each call (a `strategies` strategy over the usable nodes), the
per-node breaker bookkeeping of every call, failing over where that is safe, the readiness
event, the health-check schedule (`health`), and the routing of `resolve` to the node that
was sent the posting.

Invariants (the port's contract, `adapter.ports.core`, is what makes them safe):
- Rule 1 (failover only where safe): a call that raised `CoreUnavailable` certainly did not
  book anything (connection refused, TLS failure, not signed on, declined before
  processing), so it is tried on the next usable node while its deadline lasts. A posting
  whose outcome is unknown (timeout after sending, connection lost, any other error) is
  NEVER sent to another node: `CoreOutcomeUnknown` is raised, tagged with the node
  (`core_node`), and the payment service resolves it.
- Rule 2: reads (accounts, balances, history) move no money and are also retried on another
  node after a timeout, while the deadline lasts.
- Rule 3: `resolve` goes first to the node that was sent the posting (if it is usable), else
  to any usable node: every node books on the same ledger and `resolve` is idempotent there
  (status query + fence, or a reversal), so it may fail over on any server error.
- Rule 4 (no busy polling): when no node is usable the call fails with CORE_UNAVAILABLE at
  once. Only while some node has had no health verdict yet (start-up) does a caller wait, on
  the readiness event, until its own monotonic deadline.
- Rule 5: every admitted call ends its breaker ticket exactly once (success, failure, or
  release if cancelled) and decrements `in_flight` exactly once.
- Rule 6: one call = one deadline: `timeout` covers choosing, every failover attempt and the
  wait for readiness; each node gets only what is left of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from adapter.connectors.pool.breaker import Clock, Ticket
from adapter.connectors.pool.health import HealthOptions, Probe, check_all
from adapter.connectors.pool.nodes import Health, Node
from adapter.connectors.pool.strategies import BalanceKind, Strategy
from adapter.model import Account, AccountRef, Balance, HistoryQuery, TransactionPage
from adapter.model.errors import ClientError, CoreTimeout, CoreUnavailable, ServerError
from adapter.ports.core import CoreBooking, CoreOutcomeUnknown, CorePort, CorePosting

log = logging.getLogger(__name__)

T = TypeVar("T")
Call = Callable[[CorePort, float], Awaitable[T]]

# How many references of in-doubt postings remember their node for `resolve` (Rule 3). Older
# ones are forgotten and resolved at any node, which is equally correct (one ledger).
SENT_TO_MEMORY = 10_000


class CorePool:
    """The pool; `start()` runs the first health round and the schedule, `aclose()` ends
    them and closes every node's connectors."""

    def __init__(self, nodes: Sequence[Node], strategy: Strategy, probes: dict[str, Probe], *,
                 health: HealthOptions | None = None, clock: Clock = time.monotonic,
                 closers: Sequence[Callable[[], Awaitable[None]]] = (),
                 status_path: Path | None = None, balance: BalanceKind | None = None) -> None:
        if not nodes:
            raise ValueError("a pool needs at least one core node")
        self.nodes = list(nodes)
        self.strategy = strategy
        self.balance = balance
        self._probes = probes
        self.health_options = health or HealthOptions()
        self._clock = clock
        self._closers = list(closers)
        self._status_path = status_path
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()  # pulsed (set, then replaced) after every call/round
        self._checker: asyncio.Task[None] | None = None
        self._sent_to: OrderedDict[str, str] = OrderedDict()

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._checker is None:
            self._checker = asyncio.create_task(self._check_loop(), name="core-pool-health")

    async def check_now(self) -> None:
        """One health round of every node, now (start-up, tests)."""
        await check_all(self.nodes, self._probes, self.health_options)
        self._refresh_ready()

    async def _check_loop(self) -> None:
        while True:
            try:
                await self.check_now()
                self._write_status()
            except Exception:
                log.exception("core pool health round failed")
            await asyncio.sleep(self.health_options.interval)  # the schedule, not a sync

    async def wait_ready(self, timeout: float) -> bool:
        """True once some node is usable, False if none became usable within `timeout`."""
        await self.start()
        self._refresh_ready()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        return self._ready.is_set()

    async def aclose(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        for close in self._closers:
            try:
                await close()
            except Exception:
                log.exception("closing a core node's connector failed")

    async def healthy(self) -> bool:
        """Readiness: true while at least one node is usable."""
        return self._refresh_ready()

    def snapshot(self) -> list[dict[str, object]]:
        """Per node: health, breaker, in flight, requests, errors (status, metrics)."""
        return [n.snapshot() for n in self.nodes]

    # -- choosing ---------------------------------------------------------------------------

    def _refresh_ready(self) -> bool:
        usable = any(n.usable() for n in self.nodes)
        if usable:
            self._ready.set()
        else:
            self._ready.clear()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return usable

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait, without polling, until `predicate()` holds after some call or health round;
        False if it did not within `timeout` (operators' tools, tests)."""
        deadline = self._clock() + timeout
        while True:
            changed = self._changed
            if predicate():
                return True
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    def _choose(self, tried: set[str], prefer: str | None) -> tuple[Node, Ticket] | None:
        candidates = [n for n in self.nodes if n.name not in tried and n.usable()]
        while candidates:
            preferred = [n for n in candidates if n.name == prefer]
            node = preferred[0] if preferred else self.strategy.pick(candidates)
            ticket = node.breaker.admit()
            if ticket is not None:
                return node, ticket
            candidates.remove(node)  # raced to its probe limit since `usable()`
        return None

    async def _wait_for_a_node(self, deadline: float) -> bool:
        """Rule 4: wait only while some node has no verdict yet; False: do not wait."""
        if not any(n.health is Health.STARTING for n in self.nodes):
            return False
        remaining = deadline - self._clock()
        if remaining <= 0:
            return False
        await self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await self._ready.wait()
        return self._ready.is_set()

    # -- the call loop ----------------------------------------------------------------------

    async def _call(self, call: Call[T], *, timeout: float, posting: bool = False,
                    prefer: str | None = None, settling: bool = False) -> tuple[T, Node]:
        deadline = self._clock() + timeout
        tried: set[str] = set()
        last: Exception | None = None
        while True:
            chosen = self._choose(tried, prefer)
            if chosen is None:
                if not tried and await self._wait_for_a_node(deadline):
                    continue
                if last is not None:
                    raise last
                raise CoreUnavailable("no core node is usable now")
            node, ticket = chosen
            remaining = deadline - self._clock()
            if remaining <= 0:
                node.breaker.release(ticket)
                if last is not None:
                    raise last
                raise CoreUnavailable("no time left to reach a core node")
            node.in_flight += 1
            node.stats.requests += 1
            try:
                result = await call(node.port, remaining)
            except CoreUnavailable as exc:  # Rule 1: nothing was booked; the next node
                self._failed(node, ticket)
                node.stats.failovers += 1
                tried.add(node.name)
                last = exc
                continue
            except ClientError:
                node.breaker.success(ticket)  # the node answered; the request was refused
                node.stats.answered += 1
                raise
            except asyncio.CancelledError:
                node.breaker.release(ticket)
                raise
            except Exception as exc:
                self._failed(node, ticket)
                if posting and not settling:
                    raise self._unknown(exc, node) from exc  # Rule 1: never elsewhere
                if isinstance(exc, ServerError):  # Rules 2, 3: reads and resolve move on
                    tried.add(node.name)
                    last = exc
                    continue
                raise
            else:
                node.breaker.success(ticket)
                node.stats.answered += 1
                return result, node
            finally:
                node.in_flight -= 1
                self._refresh_ready()

    def _failed(self, node: Node, ticket: Ticket) -> None:
        node.stats.errors += 1
        node.breaker.failure(ticket)

    def _unknown(self, exc: Exception, node: Node) -> CoreOutcomeUnknown:
        if isinstance(exc, CoreOutcomeUnknown):
            unknown = exc
        else:
            unknown = CoreOutcomeUnknown(
                exc.message if isinstance(exc, CoreTimeout) else None)
        unknown.core_node = node.name
        return unknown

    # -- CorePort ---------------------------------------------------------------------------

    async def list_accounts(self, *, timeout: float) -> list[Account]:
        result, _ = await self._call(lambda p, t: p.list_accounts(timeout=t), timeout=timeout)
        return result

    async def get_account(self, ref: AccountRef, *, timeout: float) -> Account:
        result, _ = await self._call(lambda p, t: p.get_account(ref, timeout=t), timeout=timeout)
        return result

    async def get_balance(self, account_id: str, *, timeout: float) -> Balance:
        result, _ = await self._call(lambda p, t: p.get_balance(account_id, timeout=t),
                                     timeout=timeout)
        return result

    async def get_history(self, account_id: str, query: HistoryQuery, *,
                          timeout: float) -> TransactionPage:
        result, _ = await self._call(lambda p, t: p.get_history(account_id, query, timeout=t),
                                     timeout=timeout)
        return result

    async def post(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        try:
            booking, node = await self._call(lambda p, t: p.post(posting, timeout=t),
                                             timeout=timeout, posting=True)
        except CoreOutcomeUnknown as exc:
            self._remember(posting.reference, exc.core_node)
            raise
        return booking.model_copy(update={"node": node.name})

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        prefer = self._sent_to.get(posting.reference)
        booking, node = await self._call(lambda p, t: p.resolve(posting, timeout=t),
                                         timeout=timeout, posting=True, prefer=prefer,
                                         settling=True)
        self._sent_to.pop(posting.reference, None)
        return booking.model_copy(update={"node": node.name})

    def sent_to(self, reference: str) -> str | None:
        """The node an in-doubt posting was sent to, while remembered (Rule 3)."""
        return self._sent_to.get(reference)

    def _remember(self, reference: str, node: str | None) -> None:
        if node is None:
            return
        self._sent_to[reference] = node
        while len(self._sent_to) > SENT_TO_MEMORY:
            self._sent_to.popitem(last=False)

    # -- visible state ----------------------------------------------------------------------

    def _write_status(self) -> None:
        """The per-node table for `bank-adapter status`, replaced atomically each round."""
        if self._status_path is None:
            return
        body = json.dumps({"written_at": time.time(),
                           "balance": None if self.balance is None else self.balance.value,
                           "nodes": self.snapshot()})
        tmp = self._status_path.with_suffix(".tmp")
        try:
            tmp.write_text(body)
            os.replace(tmp, self._status_path)
        except OSError as exc:
            log.warning("could not write the core pool status file: %s", exc)
