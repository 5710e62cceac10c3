"""The `bank.adapter.v1.BankingService` servicer: proto -> canonical -> service -> proto.

Each RPC is a translation only. What every RPC shares is the one call pipeline
(services/pipeline.py), entered through `_unary` (or `WatchTransactions` for the stream) with
this edge's table (`BankingServicer.edge`):
- the caller is the CN of the verified client certificate (`context.auth_context()`); the
  `authorization` metadata, if any, is handed to the pipeline's resolvers too;
- the correlation id is the caller's `x-request-id` metadata, or a new one;
- every string field of the request message and every text metadata value is checked for
  control characters (INVALID_ARGUMENT naming the field);
- the caller's remaining deadline becomes the RequestContext deadline, so it bounds the
  core call; a payment already sent to the core finishes even if the RPC is cancelled
  (PaymentService Rule 3), so an expired deadline never leaves a half-done payment;
- a canonical error is turned into a status once (errors.to_grpc_status), including the
  stream's SLOW_CONSUMER, SHUTTING_DOWN and TOO_MANY_STREAMS (the caps of
  `services.stream_slots`, per caller and per connection); anything else is logged and
  reported as INTERNAL without internals.

Handlers run directly on the event loop: no thread hop, no interceptor.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from adapter.frontends.grpc import convert
from adapter.frontends.grpc.errors import to_grpc_status
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.frontends.grpc.wire import MalformedRequest
from adapter.model.errors import (
    AdapterError,
    FieldViolation,
    ShuttingDown,
    Unauthenticated,
    ValidationError,
)
from adapter.model.events import TransactionEvent
from adapter.model.identifiers import HISTORY_CURSOR
from adapter.model.text import CONTROL_RE
from adapter.security.identity import cn_from_grpc_auth_context, grpc_peer_address
from adapter.services.banking import BankingServices
from adapter.services.clients import Operation
from adapter.services.context import RequestContext
from adapter.services.pipeline import Call, Edge
from adapter.services.principal import Credentials
from adapter.services.stream_slots import StreamSlots

STREAM_CURSOR = "stream-cursor"  # initial metadata of WatchTransactions: its start position

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[["BankingServicer", Req, RequestContext], Awaitable[Resp]]

# Canonical field names of errors raised by the services, by their path in banking.proto.
FIELD_NAMES = {HISTORY_CURSOR: "page_token"}
# RPC -> the canonical operation it performs (rate limits are set per operation).
KINDS = {"GetAccount": Operation.READ, "ListAccounts": Operation.READ,
         "GetBalance": Operation.READ, "ListTransactions": Operation.READ,
         "GetPayment": Operation.READ, "TransferFunds": Operation.TRANSFER,
         "PayBill": Operation.BILL_PAYMENT, "WatchTransactions": Operation.WATCH,
         # CustomerAdminService (frontends/grpc/customer_admin.py) shares this edge.
         "UnlockCustomer": Operation.CUSTOMER_ADMIN, "ListDevices": Operation.CUSTOMER_ADMIN,
         "RevokeDevice": Operation.CUSTOMER_ADMIN, "ResetOtp": Operation.CUSTOMER_ADMIN}


_STRING, _MESSAGE = FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE


def _string_values(message: Any, out: list[str]) -> None:
    """Every string set anywhere in `message`, without its field path (`_strings`)."""
    for field, value in message.ListFields():
        kind = field.type
        if kind == _STRING:
            if field.is_repeated:
                out.extend(value)
            else:
                out.append(value)
        elif kind == _MESSAGE:
            for item in (value if field.is_repeated else (value,)):
                _string_values(item, out)


def _strings(message: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(proto field path, value) of every string set anywhere in `message`."""
    if not isinstance(message, Message):
        return
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == _STRING:
            values = value if field.is_repeated else (value,)
            for item in values:
                yield path, item
        elif field.type == _MESSAGE:
            items = value if field.is_repeated else (value,)
            for item in items:
                yield from _strings(item, path + ".")


class Rpc:
    """The edge's own view of a call (`Call.raw`): the request, its context, and the
    context's auth properties, read once (grpc builds a new dict on every `auth_context()`)."""

    __slots__ = ("auth", "context", "request")

    def __init__(self, request: Any, context: grpc.aio.ServicerContext,
                 auth: Mapping[str, Sequence[bytes]]) -> None:
        self.request = request
        self.context = context
        self.auth = auth


async def _render(error: AdapterError, call: Call) -> NoReturn:
    context: grpc.aio.ServicerContext = call.raw.context
    await context.abort_with_status(to_grpc_status(error, call.correlation_id))
    raise AssertionError("unreachable: abort_with_status raises")


def revocation_check(revoked: Callable[[bytes], bool]) -> Callable[[Call], Awaitable[None]]:
    """An edge check refusing a call whose client certificate a CRL lists: grpc's credentials
    take no CRL (adapter.infra.revocation), so revocation is checked here, on every call; a
    stream admitted before the revocation runs to its end."""

    async def refuse_revoked(call: Call) -> None:
        pem = call.raw.auth.get("x509_pem_cert")
        if pem and revoked(pem[0]):
            raise Unauthenticated("this client certificate has been revoked")

    return refuse_revoked


async def _refuse_malformed(call: Call) -> None:
    """Bytes that were not a message of the method's type (wire.MalformedRequest)."""
    request = call.raw.request
    if isinstance(request, MalformedRequest):
        raise request.error()


def grpc_call(edge: Edge, operation: str, request: Any,
              context: grpc.aio.ServicerContext) -> Call:
    """What this edge reads of an RPC for the pipeline (see the module docstring); every
    servicer of the listener (BankingService, CustomerAdminService) enters through it."""
    metadata: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):  # "-bin" values are bytes and carry no text
            metadata[key] = value
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining

    def texts() -> Iterable[tuple[str, str]]:
        # One search over every value; only a hit pays for naming each field (as REST's
        # header texts do).
        values: list[str] = []
        if isinstance(request, Message):
            _string_values(request, values)
        values.extend(metadata.values())
        if CONTROL_RE.search("".join(values)) is None:
            return ()
        return [*_strings(request), *metadata.items()]

    auth = context.auth_context()
    return Call(
        edge, operation,
        Credentials(cn_from_grpc_auth_context(auth), metadata.get("authorization")),
        correlation_header=metadata.get("x-request-id"), deadline=deadline,
        texts=texts, raw=Rpc(request, context, auth), peer=grpc_peer_address(context.peer()))


def grpc_edge(revoked: Callable[[bytes], bool] | None = None) -> Edge:
    """The gRPC edge's table, shared by every servicer of the listener: its rendering, its
    own checks (a revoked certificate when a CRL is given, malformed request bytes) and the
    canonical operation of each RPC."""
    checks = (_refuse_malformed,) if revoked is None else (
        revocation_check(revoked), _refuse_malformed)
    return Edge("grpc", _render, FIELD_NAMES, checks=checks, kinds=KINDS)


def _unary(fn: Handler[Req, Resp]) -> Callable[..., Awaitable[Resp]]:
    operation = fn.__name__

    @functools.wraps(fn)
    async def handler(self: BankingServicer, request: Req,
                      context: grpc.aio.ServicerContext) -> Resp:
        call = grpc_call(self.edge, operation, request, context)
        # A partial, not a lambda: one Python frame fewer per call.
        result: Resp = await self._services.pipeline.run(
            call, functools.partial(fn, self, request))
        return result

    return handler


class BankingServicer(pb_grpc.BankingServiceServicer):
    def __init__(self, services: BankingServices, streams: StreamSlots, *,
                 revoked: Callable[[bytes], bool] | None = None) -> None:
        self._services = services
        # Open WatchTransactions per caller and per connection (the peer's address and port:
        # one HTTP/2 connection), refused beyond the caps with TOO_MANY_STREAMS.
        self.streams = streams
        self._watchers: set[asyncio.Task[Any]] = set()
        self.closing = False
        self.edge = grpc_edge(revoked)

    def _call(self, operation: str, request: Any, context: grpc.aio.ServicerContext) -> Call:
        return grpc_call(self.edge, operation, request, context)

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
        command = convert.transfer_command(request)
        result = await self._services.payments.transfer(ctx, command)
        return convert.payment(result.payment, replayed=result.replayed)

    @_unary
    async def PayBill(self, request: pb.PayBillRequest, ctx: RequestContext) -> pb.Payment:
        command = convert.bill_payment_command(request)
        result = await self._services.payments.pay_bill(ctx, command)
        return convert.payment(result.payment, replayed=result.replayed)

    @_unary
    async def GetPayment(self, request: pb.GetPaymentRequest, ctx: RequestContext) -> pb.Payment:
        query = convert.payment_query(request)
        return convert.payment(await self._services.payments.get_payment(ctx, query))

    # -- events ----------------------------------------------------------------------------

    async def WatchTransactions(  # type: ignore[override]
        self, request: pb.WatchTransactionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.TransactionEvent]:
        pipeline = self._services.pipeline
        call = self._call("WatchTransactions", request, context)
        task = asyncio.current_task()
        assert task is not None
        self._watchers.add(task)
        last = 0
        try:
            ctx = await pipeline.admit(call)
            caller = ctx.caller
            caller.require(Operation.WATCH)
            for account_id in request.account_ids:
                caller.require_account(account_id)
            # Held until the stream ends, however it ends; refused before anything is sent.
            with self.streams.hold(caller.id, context.peer()):
                head = await self._services.events.head()
                last = convert.parse_cursor(request.cursor) if request.cursor else head
                if last > head:
                    raise ValidationError(
                        "invalid request: cursor: ahead of the stream",
                        violations=(FieldViolation("cursor", "ahead of the newest event"),),
                    )
                # The start position is fixed from here on (later events are replayed from
                # the outbox if need be): tell the client, so it knows it will miss nothing it
                # does next.
                await context.send_initial_metadata(((STREAM_CURSOR, str(last)),))
                wanted = frozenset(request.account_ids)

                def accept(event: TransactionEvent) -> bool:
                    accounts = event.accounts()
                    if wanted:
                        return any(a in wanted for a in accounts)
                    return any(caller.may_use_account(a) for a in accounts)

                # A consumer that falls behind gets the bus's SLOW_CONSUMER (a canonical error
                # with its resume cursor), answered below like any other error.
                async for event in self._services.events.stream(last, accept):
                    yield convert.event(event)
                    last = event.seq
        except asyncio.CancelledError:
            if not self.closing:
                raise
            # Server shutdown: end the stream with a status a client reconnects on.
            await pipeline.fail(call, ShuttingDown(resume_cursor=str(last)))
        except Exception as exc:
            await pipeline.fail(call, exc)
        finally:
            self._watchers.discard(task)

    async def end_watchers(self, timeout: float = 2.0) -> None:
        """End every event stream with SHUTTING_DOWN and its resume cursor, and wait (at most
        `timeout`) until each has written that status: stopping the server before then would
        cancel the calls with a bare UNAVAILABLE and no cursor."""
        self.closing = True
        tasks = tuple(self._watchers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
