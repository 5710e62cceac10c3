"""The REST front-end: routes, the REST edge of the call pipeline, and nothing else.

Every resource handler runs through the one call pipeline (services/pipeline.py) with this
edge's table (`RestApi.edge`):
- the correlation id is the caller's `X-Request-ID` (or a new one when absent), echoed on
  every answer; a malformed one is refused (400 naming it), as the OpenAPI document says;
- the caller's identity is the client certificate from the ASGI TLS extension (see
  frontends/https.py) plus the `Authorization` header, for resolvers that read a token:
  no certificate -> 401, a certificate the clients file does not know -> 403;
- every query parameter and header value is one of the texts the pipeline checks for control
  characters (400 naming the parameter);
- every canonical error becomes problem+json through problems.py (`render`), once.

Handlers run on the event loop, call the services directly and write responses with
pydantic's serialiser: no thread hop, no second parse.

POST requests need `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): the key is
a canonical type (model.identifiers) carried in the command; its semantics live in
services/idempotency.py and are the same for SOAP and gRPC. Keys are scoped to the caller and
expire 24 hours after first use (`KEY_TTL`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlencode

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.config import Settings
from adapter.frontends.rest import wire
from adapter.frontends.rest.body import read_json
from adapter.frontends.rest.headers import header
from adapter.frontends.rest.openapi import API_VERSION, openapi_document
from adapter.frontends.rest.problems import (
    MethodNotAllowed,
    RouteNotFound,
    problem_response,
)
from adapter.model import Account, AccountRef, Payment
from adapter.model.errors import (
    AdapterError,
    ClientError,
    FieldViolation,
    ValidationError,
)
from adapter.model.identifiers import HISTORY_CURSOR
from adapter.model.text import HEADER_CONTROL_BYTES_RE, HEADER_CONTROL_RE
from adapter.model.trusted import trusted
from adapter.security.identity import cn_from_asgi_scope, peer_of
from adapter.services.banking import BankingServices
from adapter.services.clients import Operation
from adapter.services.context import RequestContext
from adapter.services.customers.service import CustomerService
from adapter.services.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from adapter.services.pipeline import CORRELATION_ID_RE, Call, Edge, correlation_id_from
from adapter.services.principal import Credentials

JSON = "application/json"

Handler = Callable[[Request, RequestContext], Awaitable[Response]]

# Header names as the API documents them (Starlette hands them lower-cased).
HEADER_NAMES = {"idempotency-key": "Idempotency-Key", "x-request-id": "X-Request-ID",
                "content-type": "Content-Type", "content-length": "Content-Length",
                "authorization": "Authorization"}
REQUEST_ID_RULE = "1 to 128 visible ASCII characters"
# Canonical field names of errors raised by the services, in this API's vocabulary.
FIELD_NAMES = {HISTORY_CURSOR: "cursor"}
# Route -> the canonical operation it performs (rate limits are set per operation).
KINDS = {
    "GET /v1/accounts": Operation.READ, "GET /v1/accounts/{account_id}": Operation.READ,
    "GET /v1/accounts/{account_id}/balances": Operation.READ,
    "GET /v1/accounts/{account_id}/transactions": Operation.READ,
    "GET /v1/payments/{payment_id}": Operation.READ,
    "POST /v1/transfers": Operation.TRANSFER, "POST /v1/bill-payments": Operation.BILL_PAYMENT,
    "GET /metrics": Operation.METRICS,
}


def correlation_id(header: str | None) -> str:
    return correlation_id_from(header)


def json_response(model: BaseModel, ctx: RequestContext, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    out = {"x-request-id": ctx.correlation_id}
    if headers:
        out.update(headers)
    return Response(model.model_dump_json(by_alias=True), status_code=status, media_type=JSON,
                    headers=out)


def _header_name(name: str) -> str:
    return HEADER_NAMES.get(name) or "-".join(part.capitalize() for part in name.split("-"))


def request_texts(request: Request) -> Callable[[], Iterable[tuple[str, str]]]:
    def texts() -> Iterable[tuple[str, str]]:
        if request.scope.get("query_string"):  # most requests have none: skip the parse
            for name, value in request.query_params.multi_items():
                yield "query", name
                yield name, value
        for key, value in request.path_params.items():
            if isinstance(value, str):
                yield key, value
    return texts


def header_texts(request: Request) -> Callable[[], Iterable[tuple[str, str]]]:
    def texts() -> Iterable[tuple[str, str]]:
        raw: list[tuple[bytes, bytes]] = request.scope["headers"]
        # One search over every value (tab is allowed, so it joins them); only a hit pays
        # for naming each header.
        if HEADER_CONTROL_BYTES_RE.search(b"\t".join(value for _, value in raw)) is None:
            return ()
        return [(_header_name(name.decode("latin-1")), value.decode("latin-1"))
                for name, value in raw]
    return texts


def _request_id_well_formed(call: Call) -> None:
    """The document's X-Request-ID pattern is enforced, not quietly replaced (issue 12.2): a
    caller tracing with a malformed id learns it at once. The answer carries a made id."""
    header = call.correlation_header
    if header is not None and HEADER_CONTROL_RE.search(header):
        return  # refuse_control names the control character itself, as for any header
    if header is not None and not CORRELATION_ID_RE.fullmatch(header):
        raise ValidationError("invalid request: X-Request-ID: " + REQUEST_ID_RULE, violations=(
            FieldViolation("X-Request-ID", REQUEST_ID_RULE),))


async def _render(error: AdapterError, call: Call) -> Response:
    return problem_response(error, call.correlation_id)


class RestApi:
    def __init__(self, services: BankingServices, settings: Settings) -> None:
        self._services = services
        self._max_body = settings.max_body_bytes
        self._index = wire.api_index(API_VERSION).model_dump_json(by_alias=True).encode()
        self.edge = Edge("rest", _render, FIELD_NAMES, checks=(_request_id_well_formed,),
                         passthrough=(ClientDisconnect,), kinds=KINDS)

    # -- the REST edge of the call pipeline ----------------------------------------------

    def _endpoint(self, template: str, handler: Handler,
                  ) -> Callable[[Request], Awaitable[Response]]:
        pipeline = self._services.pipeline
        edge = self.edge

        async def endpoint(request: Request) -> Response:
            scope = request.scope
            call = Call(
                edge, template,
                Credentials(cn_from_asgi_scope(scope), header(scope, b"authorization"),
                            {"method": scope["method"]}),
                correlation_header=header(scope, b"x-request-id"), texts=request_texts(request),
                header_texts=header_texts(request), raw=request, peer=peer_of(scope),
            )
            try:
                return await pipeline.run(call, lambda ctx: handler(request, ctx))
            except ClientDisconnect:
                # Nobody is left to answer; the status only shows in tests and traces.
                return Response(status_code=499, headers={"x-request-id": call.correlation_id})

        return endpoint

    async def http_exception(self, request: Request, exc: Exception) -> Response:
        """Routing refusals (no such path, wrong method) in the same problem+json shape."""
        cid = correlation_id(request.headers.get("x-request-id"))
        assert isinstance(exc, HTTPException)
        error: AdapterError
        headers = None
        if exc.status_code == 404:
            error = RouteNotFound(f"no resource at {request.url.path}")
        elif exc.status_code == 405:
            error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
            headers = exc.headers
        else:
            error = ClientError(exc.detail)
        return problem_response(error, cid, dict(headers) if headers else None)

    # -- accounts ------------------------------------------------------------------------

    async def list_accounts(self, request: Request, ctx: RequestContext) -> Response:
        accounts = await self._services.accounts.list_accounts(ctx)
        body = trusted(wire.AccountList, accounts=[wire.account_out(a) for a in accounts])
        return json_response(body, ctx)

    async def _account(self, request: Request, ctx: RequestContext) -> Account:
        """The path's account, authorised; later reads name it by id (the directory caches
        it, so this costs no extra core call) and answers show both its id and IBAN."""
        ref = wire.account_ref_from_path(request.path_params["account_id"])
        return await self._services.accounts.get_account(ctx, ref)

    async def get_account(self, request: Request, ctx: RequestContext) -> Response:
        account = await self._account(request, ctx)
        return json_response(
            trusted(wire.AccountResponse, account=wire.account_out(account)), ctx)

    async def get_balances(self, request: Request, ctx: RequestContext) -> Response:
        account = await self._account(request, ctx)
        balance = await self._services.accounts.get_balance(ctx, AccountRef(id=account.id))
        return json_response(wire.balances_out(balance, account), ctx)

    async def list_transactions(self, request: Request, ctx: RequestContext) -> Response:
        segment = request.path_params["account_id"]
        account = await self._account(request, ctx)
        query = wire.parse_history_query(dict(request.query_params))
        page = await self._services.accounts.list_transactions(
            ctx, AccountRef(id=account.id), query)
        next_href = None
        if page.next_cursor is not None:
            params = {"cursor": page.next_cursor, "limit": str(query.limit)}
            if query.from_date is not None:
                params["dateFrom"] = query.from_date.isoformat()
            if query.to_date is not None:
                params["dateTo"] = query.to_date.isoformat()
            next_href = f"/v1/accounts/{segment}/transactions?{urlencode(params)}"
        return json_response(wire.transactions_out(page, account, next_href), ctx)

    # -- payments ------------------------------------------------------------------------

    async def create_transfer(self, request: Request, ctx: RequestContext) -> Response:
        body = await read_json(request, self._max_body)
        command = wire.parse_transfer(body, header(request.scope, b"idempotency-key"))
        result = await self._services.payments.transfer(ctx, command)
        return self._created(result.payment, result.replayed, ctx)

    async def create_bill_payment(self, request: Request, ctx: RequestContext) -> Response:
        body = await read_json(request, self._max_body)
        command = wire.parse_bill_payment(body, header(request.scope, b"idempotency-key"))
        result = await self._services.payments.pay_bill(ctx, command)
        return self._created(result.payment, result.replayed, ctx)

    @staticmethod
    def _created(payment: Payment, replayed: bool, ctx: RequestContext) -> Response:
        headers = {"location": f"/v1/payments/{payment.payment_id}"}
        if replayed:
            headers["idempotent-replayed"] = "true"
        return json_response(wire.payment_out(payment), ctx, 201, headers)

    async def get_payment(self, request: Request, ctx: RequestContext) -> Response:
        query = wire.parse_payment_query(request.path_params["payment_id"])
        payment = await self._services.payments.get_payment(ctx, query)
        return json_response(wire.payment_out(payment), ctx)

    # -- the process ---------------------------------------------------------------------

    async def metrics(self, request: Request, ctx: RequestContext) -> Response:
        """Prometheus text exposition, for callers granted the `metrics` operation."""
        ctx.caller.require(Operation.METRICS)
        return Response(self._services.metrics.exposition(), media_type=None, headers={
            "content-type": METRICS_CONTENT_TYPE, "x-request-id": ctx.correlation_id})

    # -- service documents ---------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        """GET /v1, the URL the banner prints: a link to each resource (issue 12.6)."""
        return Response(self._index, media_type=JSON, headers={
            "x-request-id": correlation_id(request.headers.get("x-request-id"))})

    async def openapi(self, request: Request) -> Response:
        return Response(openapi_document(), media_type=JSON, headers={
            "x-request-id": correlation_id(request.headers.get("x-request-id"))})

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers. It does not look at the core (a dead core must not
        get the adapter restarted)."""
        return Response(b'{"status":"ok"}', media_type=JSON, headers={
            "x-request-id": correlation_id(request.headers.get("x-request-id"))})

    async def readyz(self, request: Request) -> Response:
        """Readiness: the core and the adapter's database are usable too, as gRPC health
        reports it (services.health)."""
        rid = correlation_id(request.headers.get("x-request-id"))
        error = (await self._services.health.readiness()).error()
        if error is not None:
            return problem_response(error, rid)
        return Response(b'{"status":"ready"}', media_type=JSON, headers={"x-request-id": rid})

    def routes(self) -> list[Route]:
        def route(method: str, path: str, handler: Handler) -> Route:
            return Route(path, self._endpoint(f"{method} {path}", handler), methods=[method])

        return [
            route("GET", "/v1/accounts", self.list_accounts),
            route("GET", "/v1/accounts/{account_id}", self.get_account),
            route("GET", "/v1/accounts/{account_id}/balances", self.get_balances),
            route("GET", "/v1/accounts/{account_id}/transactions", self.list_transactions),
            route("POST", "/v1/transfers", self.create_transfer),
            route("POST", "/v1/bill-payments", self.create_bill_payment),
            route("GET", "/v1/payments/{payment_id}", self.get_payment),
            route("GET", "/metrics", self.metrics),
            # Reachable by any certificate of our CA, registered or not: they describe the
            # API and the process, not anyone's accounts.
            Route("/v1", self.index, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]


def build_rest_app(services: BankingServices, settings: Settings,
                   customers: CustomerService | None = None) -> Starlette:
    api = RestApi(services, settings)
    routes = api.routes()
    if customers is not None:
        from adapter.frontends.rest.customer import CustomerApi

        routes += CustomerApi(customers, services, settings).routes()
    app = Starlette(routes=routes,
                    exception_handlers={HTTPException: api.http_exception})
    # "/v1/accounts/" is not "/v1/accounts": a 404, not a redirect a client may not follow.
    app.router.redirect_slashes = False
    return app
