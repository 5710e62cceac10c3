"""The `bank.adapter.v1.BankingService` servicer: proto -> canonical -> service -> proto.

Each RPC is a translation only. What every RPC shares is in `_unary`:
- the caller is the CN of the verified client certificate (`context.auth_context()`);
- the caller's remaining deadline becomes the RequestContext deadline, so it bounds the
  core call; a payment already sent to the core finishes even if the RPC is cancelled
  (PaymentService Rule 3), so an expired deadline never leaves a half-done payment;
- a canonical error is turned into a status once (errors.to_grpc_status); anything else is
  logged and reported as INTERNAL without internals.

Handlers run directly on the event loop: no thread hop, no interceptor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_status import rpc_status

from adapter.frontends.grpc import convert
from adapter.frontends.grpc.errors import SLOW_CONSUMER, rich_status, to_grpc_status
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.frontends.grpc.wire import MalformedRequest
from adapter.model.errors import AdapterError, FieldViolation, InternalError, ValidationError
from adapter.model.events import TransactionEvent
from adapter.security.identity import cn_from_grpc_auth_context
from adapter.services.banking import BankingServices
from adapter.services.clients import Operation
from adapter.services.context import RequestContext, new_correlation_id
from adapter.services.events import SlowConsumer
from adapter.services.idempotency import KEY_RE

log = logging.getLogger("adapter.grpc")

STREAM_CURSOR = "stream-cursor"  # initial metadata of WatchTransactions: its start position

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[["BankingServicer", Req, RequestContext], Awaitable[Resp]]


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, correlation_id: str) -> None:
    if not isinstance(exc, AdapterError):
        log.exception("unexpected error in a gRPC handler [%s]", correlation_id, exc_info=exc)
        exc = InternalError()
    await context.abort_with_status(to_grpc_status(exc, correlation_id))


def _unary(fn: Handler[Req, Resp]) -> Callable[..., Awaitable[Resp]]:
    @functools.wraps(fn)
    async def handler(self: BankingServicer, request: Req,
                      context: grpc.aio.ServicerContext) -> Resp:
        correlation_id = new_correlation_id()
        try:
            ctx = self._context(context, correlation_id)
            if isinstance(request, MalformedRequest):
                raise request.error()
            return await fn(self, request, ctx)
        except Exception as exc:
            await _abort(context, exc, correlation_id)
            raise  # unreachable: abort_with_status raises

    return handler


def _request_id(value: str) -> tuple[FieldViolation, ...]:
    # The service checks the key too, but under its own field name; check it here so the
    # violation names the proto field and is reported together with the body's violations.
    if KEY_RE.match(value):
        return ()
    return (FieldViolation("request_id", "1 to 255 visible ASCII characters"),)


def _validated(build: Callable[[Any], Resp], request: Any) -> Resp:
    key_problems = _request_id(request.request_id)
    try:
        value = build(request)
    except ValidationError as exc:
        if not key_problems:
            raise
        violations = key_problems + exc.violations
    else:
        if not key_problems:
            return value
        violations = key_problems
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
    raise ValidationError(f"invalid request: {summary}", violations=violations)


class BankingServicer(pb_grpc.BankingServiceServicer):
    def __init__(self, services: BankingServices) -> None:
        self._services = services
        self._watchers: set[asyncio.Task[Any]] = set()
        self.closing = False

    def _context(self, context: grpc.aio.ServicerContext, correlation_id: str) -> RequestContext:
        caller = self._services.clients.authenticate(
            cn_from_grpc_auth_context(context.auth_context()))
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        return RequestContext(caller=caller, correlation_id=correlation_id, deadline=deadline)

    # -- accounts --------------------------------------------------------------------------

    @_unary
    async def GetAccount(self, request: pb.GetAccountRequest,
                         ctx: RequestContext) -> pb.Account:
        ref = convert.account_ref(request)
        return convert.account(await self._services.accounts.get_account(ctx, ref))

    @_unary
    async def ListAccounts(self, request: pb.ListAccountsRequest,
                           ctx: RequestContext) -> pb.ListAccountsResponse:
        accounts = await self._services.accounts.list_accounts(ctx)
        return pb.ListAccountsResponse(accounts=[convert.account(a) for a in accounts])

    @_unary
    async def GetBalance(self, request: pb.GetBalanceRequest,
                         ctx: RequestContext) -> pb.Balance:
        ref = convert.account_ref(request)
        return convert.balance(await self._services.accounts.get_balance(ctx, ref))

    @_unary
    async def ListTransactions(self, request: pb.ListTransactionsRequest,
                               ctx: RequestContext) -> pb.ListTransactionsResponse:
        ref = convert.account_ref(request)
        query = convert.history_query(request)
        page = await self._services.accounts.list_transactions(ctx, ref, query)
        return convert.transaction_page(page)

    # -- payments --------------------------------------------------------------------------

    @_unary
    async def TransferFunds(self, request: pb.TransferFundsRequest,
                            ctx: RequestContext) -> pb.Payment:
        transfer = _validated(convert.transfer_request, request)
        result = await self._services.payments.transfer(ctx, transfer, request.request_id)
        return convert.payment(result.payment, replayed=result.replayed)

    @_unary
    async def PayBill(self, request: pb.PayBillRequest, ctx: RequestContext) -> pb.Payment:
        bill = _validated(convert.bill_payment_request, request)
        result = await self._services.payments.pay_bill(ctx, bill, request.request_id)
        return convert.payment(result.payment, replayed=result.replayed)

    @_unary
    async def GetPayment(self, request: pb.GetPaymentRequest, ctx: RequestContext) -> pb.Payment:
        if not request.payment_id:
            raise convert.required("payment_id")
        return convert.payment(await self._services.payments.get_payment(ctx, request.payment_id))

    # -- events ----------------------------------------------------------------------------

    async def WatchTransactions(  # type: ignore[override]
        self, request: pb.WatchTransactionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TransactionEvent]:
        correlation_id = new_correlation_id()
        task = asyncio.current_task()
        assert task is not None
        self._watchers.add(task)
        last = 0
        try:
            ctx = self._context(context, correlation_id)
            if isinstance(request, MalformedRequest):
                raise request.error()
            caller = ctx.caller
            caller.require(Operation.WATCH)
            for account_id in request.account_ids:
                caller.require_account(account_id)
            head = await self._services.events.head()
            last = convert.parse_cursor(request.cursor) if request.cursor else head
            if last > head:
                raise ValidationError(
                    "invalid request: cursor: ahead of the stream",
                    violations=(FieldViolation("cursor", "ahead of the newest event"),),
                )
            # The start position is fixed from here on (later events are replayed from the
            # outbox if need be): tell the client, so it knows it will miss nothing it does next.
            await context.send_initial_metadata(((STREAM_CURSOR, str(last)),))
            wanted = frozenset(request.account_ids)

            def accept(event: TransactionEvent) -> bool:
                accounts = event.accounts()
                if wanted:
                    return any(a in wanted for a in accounts)
                return any(caller.may_use_account(a) for a in accounts)

            async for event in self._services.events.stream(last, accept):
                yield convert.event(event)
                last = event.seq
        except SlowConsumer:
            status = rich_status(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "the consumer fell behind the event stream; resume from resume_cursor",
                SLOW_CONSUMER, correlation_id, {"resume_cursor": str(last)},
            )
            await context.abort_with_status(rpc_status.to_status(status))
        except asyncio.CancelledError:
            if not self.closing:
                raise
            # Server shutdown: end the stream with a status a client reconnects on.
            status = rich_status(
                grpc.StatusCode.UNAVAILABLE, "the server is shutting down; resume from "
                "resume_cursor", "SHUTTING_DOWN", correlation_id, {"resume_cursor": str(last)},
            )
            await context.abort_with_status(rpc_status.to_status(status))
        except Exception as exc:
            await _abort(context, exc, correlation_id)
        finally:
            self._watchers.discard(task)

    def cancel_watchers(self) -> None:
        self.closing = True
        for task in tuple(self._watchers):
            task.cancel()
