"""The REST front-end: routes, the per-request envelope, and nothing else.

Every resource handler runs inside one envelope (`RestApi._endpoint`) that:
- takes the correlation id from `X-Request-ID` (or makes one) and echoes it on every answer;
- authenticates the caller from its client certificate (ASGI TLS extension, see
  frontends/https.py): no certificate -> 401, a certificate the clients file does not know
  -> 403;
- turns every canonical error into problem+json through problems.py, and anything else into
  a bare INTERNAL problem (the stack trace goes to the log, never to the caller).

Handlers run on the event loop, call the services directly and write responses with
pydantic's serialiser: no thread hop, no second parse.

POST requests need `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): its
semantics live in services/idempotency.py and are the same for SOAP and gRPC. Keys are
scoped to the caller and expire 24 hours after first use (`KEY_TTL`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
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
from adapter.frontends.rest.openapi import openapi_document
from adapter.frontends.rest.problems import (
    MethodNotAllowed,
    RouteNotFound,
    problem_response,
    status_for,
)
from adapter.logmask import mask_text
from adapter.model import Account, AccountRef, Payment
from adapter.model.errors import AdapterError, ClientError, CoreUnavailable, InternalError
from adapter.security.identity import cn_from_asgi_scope
from adapter.services.banking import BankingServices
from adapter.services.context import RequestContext
from adapter.services.customers.service import CustomerService
from adapter.services.health import core_usable
from adapter.services.idempotency import check_key

log = logging.getLogger("adapter.rest")

JSON = "application/json"
# Echoed in a header and written to logs: visible ASCII only, bounded.
REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")

Handler = Callable[[Request, RequestContext], Awaitable[Response]]


def correlation_id(header: str | None) -> str:
    if header is not None and REQUEST_ID_RE.match(header):
        return header
    return uuid.uuid4().hex


def json_response(model: BaseModel, ctx: RequestContext, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    out = {"x-request-id": ctx.correlation_id}
    if headers:
        out.update(headers)
    return Response(model.model_dump_json(by_alias=True), status_code=status, media_type=JSON,
                    headers=out)


class RestApi:
    def __init__(self, services: BankingServices, settings: Settings) -> None:
        self._services = services
        self._max_body = settings.max_body_bytes
        self._openapi = openapi_document()

    # -- the envelope --------------------------------------------------------------------

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        clients = self._services.clients

        async def endpoint(request: Request) -> Response:
            cid = correlation_id(request.headers.get("x-request-id"))
            try:
                caller = clients.authenticate(cn_from_asgi_scope(request.scope))
                return await handler(request, RequestContext(caller, cid))
            except AdapterError as exc:
                return self._problem(exc, cid, request)
            except ClientDisconnect:
                # Nobody is left to answer; the status only shows in tests and traces.
                return Response(status_code=499, headers={"x-request-id": cid})
            except Exception:
                log.exception("unexpected error on %s %s [%s]", request.method,
                              mask_text(request.url.path), cid)
                return problem_response(InternalError(correlation_id=cid), cid)

        return endpoint

    @staticmethod
    def _problem(exc: AdapterError, cid: str, request: Request) -> Response:
        status = status_for(exc)
        # A path may hold an IBAN: logs never show one whole.
        path = mask_text(request.url.path)
        if status >= 500:
            log.warning("%s %s failed: %s (%s) [%s]", request.method, path, exc.code,
                        exc.message, cid)
        else:
            log.debug("%s %s refused: %s [%s]", request.method, path, exc.code, cid)
        return problem_response(exc, cid)

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
        body = wire.AccountList.model_construct(accounts=[wire.account_out(a) for a in accounts])
        return json_response(body, ctx)

    async def _account(self, request: Request, ctx: RequestContext) -> Account:
        """The path's account, authorised; later reads name it by id (the directory caches
        it, so this costs no extra core call) and answers show both its id and IBAN."""
        ref = wire.account_ref_from_path(request.path_params["account_id"])
        return await self._services.accounts.get_account(ctx, ref)

    async def get_account(self, request: Request, ctx: RequestContext) -> Response:
        account = await self._account(request, ctx)
        return json_response(
            wire.AccountResponse.model_construct(account=wire.account_out(account)), ctx)

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

    @staticmethod
    def _idempotency_key(request: Request) -> str:
        return check_key(request.headers.get("idempotency-key"), "Idempotency-Key")

    async def create_transfer(self, request: Request, ctx: RequestContext) -> Response:
        key = self._idempotency_key(request)
        transfer = wire.parse_transfer(await read_json(request, self._max_body))
        result = await self._services.payments.transfer(ctx, transfer, key)
        return self._created(result.payment, result.replayed, ctx)

    async def create_bill_payment(self, request: Request, ctx: RequestContext) -> Response:
        key = self._idempotency_key(request)
        bill = wire.parse_bill_payment(await read_json(request, self._max_body))
        result = await self._services.payments.pay_bill(ctx, bill, key)
        return self._created(result.payment, result.replayed, ctx)

    @staticmethod
    def _created(payment: Payment, replayed: bool, ctx: RequestContext) -> Response:
        headers = {"location": f"/v1/payments/{payment.payment_id}"}
        if replayed:
            headers["idempotent-replayed"] = "true"
        return json_response(wire.payment_out(payment), ctx, 201, headers)

    async def get_payment(self, request: Request, ctx: RequestContext) -> Response:
        payment = await self._services.payments.get_payment(ctx, request.path_params["payment_id"])
        return json_response(wire.payment_out(payment), ctx)

    # -- service documents ---------------------------------------------------------------

    async def openapi(self, request: Request) -> Response:
        return Response(self._openapi, media_type=JSON, headers={
            "x-request-id": correlation_id(request.headers.get("x-request-id"))})

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers. It does not look at the core (a dead core must not
        get the adapter restarted)."""
        return Response(b'{"status":"ok"}', media_type=JSON, headers={
            "x-request-id": correlation_id(request.headers.get("x-request-id"))})

    async def readyz(self, request: Request) -> Response:
        """Readiness: the core is usable too, as gRPC health reports it."""
        rid = correlation_id(request.headers.get("x-request-id"))
        if not await core_usable(self._services.core):
            return problem_response(
                CoreUnavailable("the core banking system is not usable; retry later"), rid)
        return Response(b'{"status":"ready"}', media_type=JSON, headers={"x-request-id": rid})

    def routes(self) -> list[Route]:
        e = self._endpoint
        return [
            Route("/v1/accounts", e(self.list_accounts), methods=["GET"]),
            Route("/v1/accounts/{account_id}", e(self.get_account), methods=["GET"]),
            Route("/v1/accounts/{account_id}/balances", e(self.get_balances), methods=["GET"]),
            Route("/v1/accounts/{account_id}/transactions", e(self.list_transactions),
                  methods=["GET"]),
            Route("/v1/transfers", e(self.create_transfer), methods=["POST"]),
            Route("/v1/bill-payments", e(self.create_bill_payment), methods=["POST"]),
            Route("/v1/payments/{payment_id}", e(self.get_payment), methods=["GET"]),
            # Reachable by any certificate of our CA, registered or not: they describe the
            # API and the process, not anyone's accounts.
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
