"""The REST API of the bank's mobile app: /v1/customer/...

Who calls: the bank's mobile back-end, over mutual TLS with its own client certificate (the
`relay_customers` operation in the clients file). It relays the app's requests; every
customer proof (password, TOTP, WebAuthn assertion, DPoP proof) is the app's own and is
verified by the adapter, so the relay alone cannot act for a customer (README,
"Authentication API", threat model).

Every route runs through the one call pipeline (services/pipeline.py) with this API's edge
(`CustomerApi.edge`), so correlation id, the control-character check, the deadline, any
later step (rate limits) and the one error path apply here as on every other route. The
principal is found by the customer resolver (services/customers/resolver.py):
- the relay's certificate: unknown -> 403, not a relay -> 403;
- for routes behind a token: `Authorization: DPoP <token>` plus a `DPoP` proof (RFC 9449
  section 7.1) by the device key the token is bound to, else 401;
- the edge's rendering adds to problem+json (problems.py) a `WWW-Authenticate: DPoP`
  challenge naming the error on every 401 (`invalid_token`, `invalid_dpop_proof`,
  `insufficient_user_authentication` of RFC 9470 for a payment that needs its own SCA),
  503 with Retry-After when password checks are saturated, and `Cache-Control: no-store`.

Account and payment routes call the existing AccountService and PaymentService with the
customer as the principal (services/customers/principal.py): a customer sees and moves only
its own accounts, by the same checks every other caller passes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.config import Settings
from adapter.frontends import validation
from adapter.frontends.rest import wire
from adapter.frontends.rest.app import FIELD_NAMES, header_texts, request_texts
from adapter.frontends.rest.body import read_json
from adapter.frontends.rest.problems import problem_response
from adapter.model import AccountRef, BillPaymentRequest, PaymentStatus, TransferRequest
from adapter.model.commands import BillPaymentCommand, TransferCommand
from adapter.model.errors import (
    AdapterError,
    FieldViolation,
    Unauthenticated,
    ValidationError,
)
from adapter.model.identifiers import IdempotencyKey
from adapter.model.trusted import trusted
from adapter.security.identity import cn_from_asgi_scope, peer_of
from adapter.services.banking import BankingServices
from adapter.services.clients import Caller, Operation
from adapter.services.context import RequestContext
from adapter.services.customers import resolver as attr
from adapter.services.customers.dpop import InvalidDpopProof, ProofRequest
from adapter.services.customers.errors import InvalidToken, RelayRequired, ScaRequired
from adapter.services.customers.passwords import PasswordCheckBusy
from adapter.services.customers.principal import CustomerPrincipal
from adapter.services.customers.sca import PaymentSummary
from adapter.services.customers.service import CustomerService, Tokens
from adapter.services.pipeline import Call, Edge
from adapter.services.principal import Credentials, Principal

PREFIX = "/v1/customer"
JSON = "application/json"
# Route -> the canonical operation it performs, as on the partner API: a customer's reads
# and payments spend the customer's own budget for them (rate limits are per principal and
# operation). The other routes are their own operation; the open ones (enrolment, login,
# refresh) act for the relay, so their budget is the relay's, and a customer's own bound
# on guessing is the lockout.
KINDS = {
    f"GET {PREFIX}/accounts": Operation.READ,
    f"GET {PREFIX}/accounts/{{account_id}}/balances": Operation.READ,
    f"GET {PREFIX}/accounts/{{account_id}}/transactions": Operation.READ,
    f"GET {PREFIX}/payments/{{payment_id}}": Operation.READ,
    f"POST {PREFIX}/transfers": Operation.TRANSFER,
    f"POST {PREFIX}/bill-payments": Operation.BILL_PAYMENT,
}

Handler = Callable[[Request, RequestContext], Awaitable[Response]]


def _challenge_header(exc: AdapterError) -> str:
    """RFC 9449 section 7.1 and RFC 6750 section 3: the scheme, its algorithms, the error."""
    parts = ['DPoP algs="ES256"']
    if isinstance(exc, ScaRequired):
        parts.append('error="insufficient_user_authentication"')  # RFC 9470 section 3
    elif isinstance(exc, InvalidDpopProof):
        parts.append('error="invalid_dpop_proof"')
    elif isinstance(exc, InvalidToken):
        parts.append('error="invalid_token"')
    description = exc.message.replace("\\", "").replace('"', "'")
    if len(parts) > 1:
        parts.append(f'error_description="{description}"')
    return ", ".join(parts)


async def _render(error: AdapterError, call: Call) -> Response:
    """The customer API's problem+json: no-store, and the challenge a 401 owes (RFC 6750
    section 3, RFC 9449 section 7.1); 503 with Retry-After when password checks are full."""
    headers = {"cache-control": "no-store"}
    if isinstance(error, PasswordCheckBusy):
        response = problem_response(error, call.correlation_id, {"retry-after": "1", **headers})
        response.status_code = 503
        return response
    if isinstance(error, Unauthenticated):
        headers["www-authenticate"] = _challenge_header(error)
    return problem_response(error, call.correlation_id, headers)


def _one_proof(request: Request) -> str | None:
    """The DPoP header of a token request (login, refresh): RFC 9449 section 4.3 item 1,
    exactly one field (a resource request's is checked by the resolver)."""
    proofs = request.headers.getlist("dpop")
    if len(proofs) > 1:
        raise InvalidDpopProof("exactly one DPoP header is allowed")
    return proofs[0] if proofs else None


def _admitted(ctx: RequestContext, *, token: bool) -> RequestContext:
    """The context a handler may act on: the customer behind a token route, the relay on an
    open one. The resolver guarantees both; this holds even if it were not registered (the
    certificate resolver alone must never open a customer route)."""
    caller: Principal = ctx.caller
    if isinstance(caller, CustomerPrincipal):
        if token:
            return ctx
        raise RelayRequired()
    if not isinstance(caller, Caller) or Operation.RELAY_CUSTOMERS not in caller.operations:
        raise RelayRequired()
    if token:
        raise InvalidToken("a DPoP-bound access token is required")
    return ctx


def _json(body: Any, cid: str, status: int = 200, headers: dict[str, str] | None = None,
          ) -> Response:
    out = {"x-request-id": cid, "cache-control": "no-store"}
    if headers:
        out.update(headers)
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type=JSON, headers=out)


def _model(model: Any, cid: str, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    out = {"x-request-id": cid, "cache-control": "no-store"}
    if headers:
        out.update(headers)
    return Response(model.model_dump_json(by_alias=True), status_code=status, media_type=JSON,
                    headers=out)


def _tokens(tokens: Tokens) -> dict[str, Any]:
    # RFC 9449 section 5: token_type DPoP.
    return {"access_token": tokens.access_token, "token_type": "DPoP",
            "expires_in": tokens.expires_in, "refresh_token": tokens.refresh_token}


def _object(value: Any) -> dict[str, Any]:
    """The parsed body (body.read_json refused bad JSON and duplicate members) as an object."""
    if not isinstance(value, dict):
        raise ValidationError("the request body must be a JSON object", violations=(
            FieldViolation("body", "a JSON object"),))
    return value


def _ref_key(ref: AccountRef) -> str:
    return f"iban:{ref.iban}" if ref.iban is not None else f"id:{ref.id}"


def transfer_summary(request: TransferRequest) -> PaymentSummary:
    return PaymentSummary("transfer", request.amount.amount, request.amount.currency,
                          _ref_key(request.creditor), _ref_key(request.debtor))


def bill_summary(request: BillPaymentRequest) -> PaymentSummary:
    return PaymentSummary("bill_payment", request.amount.amount, request.amount.currency,
                          f"biller:{request.biller_id}/{request.customer_reference}",
                          _ref_key(request.debtor))


class CustomerApi:
    def __init__(self, customers: CustomerService, services: BankingServices,
                 settings: Settings) -> None:
        self._customers = customers
        self._services = services
        self._max_body = min(settings.max_body_bytes, 64 * 1024)
        self._public_base = settings.customer_public_base_url
        self.edge = Edge("rest-customer", _render, FIELD_NAMES,
                         passthrough=(ClientDisconnect,), kinds=KINDS)

    # -- the customer API's edge of the call pipeline ------------------------------------

    def _proof_request(self, request: Request) -> ProofRequest:
        # RFC 9449 section 4.3 item 9: htu is the URI without query and fragment. Behind the
        # mobile back-end the app addresses the back-end's public URL, so that is configured.
        base = self._public_base or f"{request.url.scheme}://{request.url.netloc}"
        return ProofRequest(request.method, base.rstrip("/") + request.url.path)

    def _endpoint(self, template: str, handler: Handler, *, token: bool,
                  ) -> Callable[[Request], Awaitable[Response]]:
        pipeline = self._services.pipeline
        edge = self.edge

        async def endpoint(request: Request) -> Response:
            headers = request.headers
            attributes = {attr.API: attr.CUSTOMER, attr.METHOD: request.method,
                          attr.HTU: self._proof_request(request).uri}
            if token:
                attributes[attr.TOKEN] = attr.REQUIRED
            proofs = headers.getlist("dpop")
            if proofs:
                attributes[attr.DPOP] = ", ".join(proofs)  # RFC 9110 section 5.3
            call = Call(
                edge, template,
                Credentials(cn_from_asgi_scope(request.scope), headers.get("authorization"),
                            attributes),
                correlation_header=headers.get("x-request-id"),
                texts=request_texts(request), header_texts=header_texts(request),
                raw=request, peer=peer_of(request.scope))

            async def run(ctx: RequestContext) -> Response:
                return await handler(request, _admitted(ctx, token=token))

            try:
                return await pipeline.run(call, run)
            except ClientDisconnect:
                # Nobody is left to answer; the status only shows in tests and traces.
                return Response(status_code=499, headers={"x-request-id": call.correlation_id})

        return endpoint

    async def _body(self, request: Request) -> dict[str, Any]:
        return _object(await read_json(request, self._max_body))

    # -- authentication --------------------------------------------------------------------

    async def enrolment_start(self, request: Request, ctx: RequestContext) -> Response:
        body = await self._body(request)
        challenge_id, options = await self._customers.start_enrolment(
            body.get("username"), body.get("password"), body.get("otp"))
        return _json({"challengeId": challenge_id, "publicKey": options}, ctx.correlation_id)

    async def enrolment_finish(self, request: Request, ctx: RequestContext) -> Response:
        body = await self._body(request)
        device = await self._customers.finish_enrolment(
            body.get("challengeId"), body.get("credential"), body.get("deviceName"))
        return _json({"deviceId": device.credential_id, "name": device.name},
                     ctx.correlation_id, 201)

    async def login_start(self, request: Request, ctx: RequestContext) -> Response:
        challenge_id, options = await self._customers.start_login()
        return _json({"challengeId": challenge_id, "publicKey": options}, ctx.correlation_id)

    async def login(self, request: Request, ctx: RequestContext) -> Response:
        body = await self._body(request)
        tokens = await self._customers.finish_login(
            body.get("username"), body.get("password"), body.get("challengeId"),
            body.get("assertion"), _one_proof(request), self._proof_request(request))
        return _json(_tokens(tokens), ctx.correlation_id)

    async def token(self, request: Request, ctx: RequestContext) -> Response:
        body = await self._body(request)
        tokens = await self._customers.refresh(
            body.get("refresh_token"), _one_proof(request),
            self._proof_request(request))
        return _json(_tokens(tokens), ctx.correlation_id)

    async def logout(self, request: Request, ctx: RequestContext) -> Response:
        assert isinstance(ctx.caller, CustomerPrincipal)
        await self._customers.logout(ctx.caller)
        return Response(status_code=204, headers={"x-request-id": ctx.correlation_id})

    # -- devices ---------------------------------------------------------------------------

    async def list_devices(self, request: Request, ctx: RequestContext) -> Response:
        assert isinstance(ctx.caller, CustomerPrincipal)
        devices = await self._customers.store.list_devices(ctx.caller.customer_id)
        return _json({"devices": [
            {"deviceId": d.credential_id, "name": d.name, "createdAt": d.created_at.isoformat(),
             "current": d.jkt == ctx.caller.device_jkt}
            for d in devices if d.revoked_at is None]}, ctx.correlation_id)

    async def remove_device(self, request: Request, ctx: RequestContext) -> Response:
        assert isinstance(ctx.caller, CustomerPrincipal)
        await self._customers.revoke_device(ctx.caller.customer_id,
                                            request.path_params["device_id"], by="customer")
        return Response(status_code=204, headers={"x-request-id": ctx.correlation_id})

    # -- own accounts ----------------------------------------------------------------------

    async def list_accounts(self, request: Request, ctx: RequestContext) -> Response:
        accounts = await self._services.accounts.list_accounts(ctx)
        return _model(trusted(wire.AccountList,
            accounts=[wire.account_out(a) for a in accounts]), ctx.correlation_id)

    async def get_balances(self, request: Request, ctx: RequestContext) -> Response:
        ref = wire.account_ref_from_path(request.path_params["account_id"])
        account = await self._services.accounts.get_account(ctx, ref)
        balance = await self._services.accounts.get_balance(ctx, AccountRef(id=account.id))
        return _model(wire.balances_out(balance, account), ctx.correlation_id)

    async def list_transactions(self, request: Request, ctx: RequestContext) -> Response:
        ref = wire.account_ref_from_path(request.path_params["account_id"])
        account = await self._services.accounts.get_account(ctx, ref)
        query = wire.parse_history_query(dict(request.query_params))
        page = await self._services.accounts.list_transactions(
            ctx, AccountRef(id=account.id), query)
        return _model(wire.transactions_out(page, account, None), ctx.correlation_id)

    # -- own payments ----------------------------------------------------------------------

    def _payment(self, body: dict[str, Any], kind: str) -> tuple[Any, PaymentSummary]:
        payment = body.get("payment")
        if not isinstance(payment, dict):
            raise ValidationError("the body needs a 'payment' object", violations=(
                FieldViolation("payment", "an object"),))
        if kind == "transfer":
            transfer = wire.parse_transfer_request(payment)
            return transfer, transfer_summary(transfer)
        bill = wire.parse_bill_payment_request(payment)
        return bill, bill_summary(bill)

    async def sca_challenge(self, request: Request, ctx: RequestContext) -> Response:
        assert isinstance(ctx.caller, CustomerPrincipal)
        body = await self._body(request)
        kind = body.get("kind", "transfer")
        if kind not in ("transfer", "bill_payment"):
            raise ValidationError("kind must be transfer or bill_payment", violations=(
                FieldViolation("kind", "transfer or bill_payment"),))
        payment, summary = self._payment(body, kind)
        # Never a challenge for an account that is not the customer's (FORBIDDEN first).
        await self._services.accounts.get_account(ctx, payment.debtor)
        challenge_id, options = await self._customers.sca_challenge(ctx.caller, summary)
        # The text the app shows before the biometric: art. 5(1)(a) RTS.
        return _json({"challengeId": challenge_id, "publicKey": options,
                      "text": summary.text}, ctx.correlation_id, 201)

    async def _pay(self, request: Request, ctx: RequestContext, kind: str) -> Response:
        principal = ctx.caller
        assert isinstance(principal, CustomerPrincipal)
        key = validation.value(IdempotencyKey, request.headers.get("idempotency-key"),
                               "Idempotency-Key")
        body = await self._body(request)
        payment, summary = self._payment(body, kind)
        # Ownership before SCA: another customer's account is FORBIDDEN, not a step-up.
        await self._services.accounts.get_account(ctx, payment.debtor)
        # A retry of a payment already made replays it (the service checks it is the same
        # payment): its one-time SCA code was spent by the first attempt.
        replay = await self._services.storage.keys.get(principal.id, key) is not None
        authorised = "replay" if replay else await self._customers.authorise_payment(
            principal, summary, body.get("sca"))
        payments = self._services.payments
        if kind == "transfer":
            result = await payments.transfer(ctx, TransferCommand(key=key, request=payment))
        else:
            result = await payments.pay_bill(ctx, BillPaymentCommand(key=key, request=payment))
        if result.payment.status is PaymentStatus.BOOKED and not result.replayed:
            await self._customers.payment_booked(principal, summary, authorised)
        headers = {"location": f"{PREFIX}/payments/{result.payment.payment_id}",
                   "sca": authorised}
        if result.replayed:
            headers["idempotent-replayed"] = "true"
        return _model(wire.payment_out(result.payment), ctx.correlation_id, 201, headers)

    async def transfer(self, request: Request, ctx: RequestContext) -> Response:
        return await self._pay(request, ctx, "transfer")

    async def bill_payment(self, request: Request, ctx: RequestContext) -> Response:
        return await self._pay(request, ctx, "bill_payment")

    async def get_payment(self, request: Request, ctx: RequestContext) -> Response:
        payment = await self._services.payments.get_payment(
            ctx, wire.parse_payment_query(request.path_params["payment_id"]))
        return _model(wire.payment_out(payment), ctx.correlation_id)

    def routes(self) -> list[Route]:
        def route(method: str, path: str, handler: Handler, *, token: bool = True) -> Route:
            template = f"{method} {PREFIX}{path}"
            return Route(PREFIX + path, self._endpoint(template, handler, token=token),
                         methods=[method])

        return [
            route("POST", "/enrolment/start", self.enrolment_start, token=False),
            route("POST", "/enrolment/finish", self.enrolment_finish, token=False),
            route("POST", "/login/start", self.login_start, token=False),
            route("POST", "/login", self.login, token=False),
            route("POST", "/token", self.token, token=False),
            route("POST", "/logout", self.logout),
            route("GET", "/devices", self.list_devices),
            route("DELETE", "/devices/{device_id}", self.remove_device),
            route("GET", "/accounts", self.list_accounts),
            route("GET", "/accounts/{account_id}/balances", self.get_balances),
            route("GET", "/accounts/{account_id}/transactions", self.list_transactions),
            route("POST", "/sca/challenges", self.sca_challenge),
            route("POST", "/transfers", self.transfer),
            route("POST", "/bill-payments", self.bill_payment),
            route("GET", "/payments/{payment_id}", self.get_payment),
        ]
