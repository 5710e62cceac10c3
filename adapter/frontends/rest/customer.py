"""The REST API of the bank's mobile app: /v1/customer/...

Who calls: the bank's mobile back-end, over mutual TLS with its own client certificate (role
`mobile` in the clients file). It relays the app's requests; every customer proof (password,
TOTP, WebAuthn assertion, DPoP proof) is the app's own and is verified here, so the relay
alone cannot act for a customer (README, "Authentication API", threat model).

The envelope (`CustomerApi._endpoint`), for every route:
- the relay's certificate: none -> 401, unknown -> 403, not a `mobile` caller -> 403;
- for routes behind a token: `Authorization: DPoP <token>` plus a `DPoP` proof (RFC 9449
  section 7.1) by the device key the token is bound to, or 401 with a `WWW-Authenticate: DPoP`
  challenge naming the error (`invalid_token`, `invalid_dpop_proof`,
  `insufficient_user_authentication` of RFC 9470 for a payment that needs its own SCA);
- every canonical error as problem+json (problems.py); nothing else leaks.

Account and payment routes call the existing AccountService and PaymentService with the
customer as the principal (services/customers/principal.py): a customer sees and moves only
its own accounts, by the same checks every other caller passes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.config import Settings
from adapter.frontends import validation
from adapter.frontends.rest import wire
from adapter.frontends.rest.body import read_json
from adapter.frontends.rest.problems import problem_response, status_for
from adapter.infra.logmask import mask_text
from adapter.model import AccountRef, BillPaymentRequest, PaymentStatus, TransferRequest
from adapter.model.commands import BillPaymentCommand, TransferCommand
from adapter.model.errors import (
    AdapterError,
    FieldViolation,
    Forbidden,
    InternalError,
    Unauthenticated,
    ValidationError,
)
from adapter.model.identifiers import IdempotencyKey
from adapter.security.identity import cn_from_asgi_scope
from adapter.services.banking import BankingServices
from adapter.services.clients import Operation
from adapter.services.context import RequestContext
from adapter.services.customers.dpop import InvalidDpopProof, ProofRequest
from adapter.services.customers.errors import InvalidToken, ScaRequired
from adapter.services.customers.passwords import PasswordCheckBusy
from adapter.services.customers.principal import CustomerPrincipal
from adapter.services.customers.sca import PaymentSummary
from adapter.services.customers.service import CustomerService, Tokens

log = logging.getLogger("adapter.rest.customer")

PREFIX = "/v1/customer"
JSON = "application/json"

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

    # -- the envelope ----------------------------------------------------------------------

    def _proof_request(self, request: Request) -> ProofRequest:
        # RFC 9449 section 4.3 item 9: htu is the URI without query and fragment. Behind the
        # mobile back-end the app addresses the back-end's public URL, so that is configured.
        base = self._public_base or f"{request.url.scheme}://{request.url.netloc}"
        return ProofRequest(request.method, base.rstrip("/") + request.url.path)

    def _endpoint(self, handler: Handler, *, token: bool) -> Callable[[Request],
                                                                      Awaitable[Response]]:
        from adapter.frontends.rest.app import correlation_id

        clients = self._services.clients

        async def endpoint(request: Request) -> Response:
            cid = correlation_id(request.headers.get("x-request-id"))
            try:
                relay = clients.authenticate(cn_from_asgi_scope(request.scope))
                if Operation.RELAY_CUSTOMERS not in relay.operations:
                    raise Forbidden("customer routes are served only to the bank's mobile "
                                    "back-end")
                if token:
                    principal = await self._principal(request)
                    return await handler(request, RequestContext(principal, cid))
                return await handler(request, RequestContext(relay, cid))
            except AdapterError as exc:
                return self._problem(exc, cid, request)
            except ClientDisconnect:
                return Response(status_code=499, headers={"x-request-id": cid})
            except Exception:
                log.exception("unexpected error on %s %s [%s]", request.method,
                              mask_text(request.url.path), cid)
                return problem_response(InternalError(correlation_id=cid), cid)

        return endpoint

    async def _principal(self, request: Request) -> CustomerPrincipal:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "dpop" or not token:
            # RFC 9449 section 7.1: a DPoP-bound token travels as `Authorization: DPoP ...`;
            # a Bearer one would be usable without the device.
            raise InvalidToken("send the access token as 'Authorization: DPoP <token>' with "
                               "a DPoP proof")
        proofs = request.headers.getlist("dpop")
        if len(proofs) > 1:
            raise InvalidDpopProof("exactly one DPoP header is allowed")
        return await self._customers.authenticate(
            token.strip(), proofs[0] if proofs else None, self._proof_request(request))

    @staticmethod
    def _problem(exc: AdapterError, cid: str, request: Request) -> Response:
        headers: dict[str, str] = {"cache-control": "no-store"}
        if isinstance(exc, PasswordCheckBusy):
            response = problem_response(exc, cid, {"retry-after": "1", **headers})
            response.status_code = 503
            return response
        if isinstance(exc, Unauthenticated):
            headers["www-authenticate"] = _challenge_header(exc)
        status = status_for(exc)
        log.debug("%s %s refused: %s (%d) [%s]", request.method, mask_text(request.url.path),
                  exc.code, status, cid)
        return problem_response(exc, cid, headers)

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
            body.get("assertion"), request.headers.get("dpop"), self._proof_request(request))
        return _json(_tokens(tokens), ctx.correlation_id)

    async def token(self, request: Request, ctx: RequestContext) -> Response:
        body = await self._body(request)
        tokens = await self._customers.refresh(
            body.get("refresh_token"), request.headers.get("dpop"),
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
        return _model(wire.AccountList.model_construct(
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
        def open_(h: Handler) -> Callable[[Request], Awaitable[Response]]:
            return self._endpoint(h, token=False)

        def auth(h: Handler) -> Callable[[Request], Awaitable[Response]]:
            return self._endpoint(h, token=True)

        p = PREFIX
        return [
            Route(f"{p}/enrolment/start", open_(self.enrolment_start), methods=["POST"]),
            Route(f"{p}/enrolment/finish", open_(self.enrolment_finish), methods=["POST"]),
            Route(f"{p}/login/start", open_(self.login_start), methods=["POST"]),
            Route(f"{p}/login", open_(self.login), methods=["POST"]),
            Route(f"{p}/token", open_(self.token), methods=["POST"]),
            Route(f"{p}/logout", auth(self.logout), methods=["POST"]),
            Route(f"{p}/devices", auth(self.list_devices), methods=["GET"]),
            Route(f"{p}/devices/{{device_id}}", auth(self.remove_device), methods=["DELETE"]),
            Route(f"{p}/accounts", auth(self.list_accounts), methods=["GET"]),
            Route(f"{p}/accounts/{{account_id}}/balances", auth(self.get_balances),
                  methods=["GET"]),
            Route(f"{p}/accounts/{{account_id}}/transactions", auth(self.list_transactions),
                  methods=["GET"]),
            Route(f"{p}/sca/challenges", auth(self.sca_challenge), methods=["POST"]),
            Route(f"{p}/transfers", auth(self.transfer), methods=["POST"]),
            Route(f"{p}/bill-payments", auth(self.bill_payment), methods=["POST"]),
            Route(f"{p}/payments/{{payment_id}}", auth(self.get_payment), methods=["GET"]),
        ]
