"""The OpenAPI 3.1 document, generated from the wire models (wire.py) at start-up.

Schemas come from pydantic (JSON Schema 2020-12, which OpenAPI 3.1 uses as is): request
models in validation mode, responses in serialisation mode, so the document describes
exactly what is parsed and what is written. The request schemas are then narrowed to the
canonical model's rules (input_schema.py), so that what the document accepts the server
accepts and what it refuses the server refuses, naming the field (issue 12.2). Paths,
parameters, status codes and the links between operations (a created payment is read back
at its `paymentId`) are stated here, beside the problem codes each operation can answer with.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from adapter.frontends.rest import input_schema, openapi_customer, wire
from adapter.services.idempotency import KEY_TTL
from adapter.services.metrics import CONTENT_TYPE as METRICS_MEDIA_TYPE

REF = "#/components/schemas/{model}"

_REQUESTS: tuple[type[BaseModel], ...] = (wire.TransferInitiation, wire.BillPaymentInitiation)
API_VERSION = "1.0.0"

_RESPONSES: tuple[type[BaseModel], ...] = (
    wire.ApiIndex, wire.AccountList, wire.AccountResponse, wire.BalancesResponse,
    wire.TransactionsResponse, wire.PaymentResource, wire.Health, wire.Readiness, wire.Problem,
)

_DESCRIPTION = f"""\
REST API of the bank's integration adapter for fintech partners, shaped like Berlin Group
NextGenPSD2. Every connection is mutual TLS: the caller is the common name of its client
certificate, which must be registered with the adapter.

Amounts are decimal strings with a currency: `{{"amount": "12.50", "currency": "EUR"}}`;
a JSON number for an amount is refused.

Every POST needs an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a retry
with the same key and body replays the first answer (status and body; header
`Idempotent-Replayed: true`), the same key with another body is refused (422
IDEMPOTENCY_CONFLICT), a retry while the first is still running is refused (409
REQUEST_IN_PROGRESS). Keys are scoped to the caller and expire
{int(KEY_TTL.total_seconds() // 3600)} hours after first use.

Errors are `application/problem+json` (RFC 9457) with `code`, the stable canonical error code,
and `correlation_id`, the request's `X-Request-ID` (sent by the caller, or made when absent;
a malformed one is refused). A 400 names each offending field in `violations`.

The schemas state the canonical input rules. What JSON Schema cannot state is refused by
the server with the field named: the format `iban` (ISO 13616: after removing spaces and
upper-casing, the country's length and mod-97 check digits), a transfer's debtor and
creditor being different accounts (400), `dateFrom` not after `dateTo` (400), a `cursor`
the core did not make (400); the account's currency, funds and status are business
refusals (422).

The routes under `/v1/customer/` serve the customers of the bank's mobile app, relayed by
its back-end (security `mobileRelay`); those behind a session also need the customer's
DPoP-bound access token and a DPoP proof by the device (`dpopToken`, `dpopProof`), and every
401 there carries a `WWW-Authenticate: DPoP` challenge.
"""


_REQUEST_ID_HEADER = {"X-Request-ID": {"$ref": "#/components/headers/XRequestID"}}


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": REF.format(model="Problem")}
    return {"description": description, "headers": _REQUEST_ID_HEADER,
            "content": {"application/problem+json": {"schema": schema}}}


def _ok(model: type[BaseModel], description: str, **headers: Any) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"description": description, "headers": {**_REQUEST_ID_HEADER, **headers},
            "content": {"application/json": {"schema": schema}}}


_COMMON_ERRORS = {
    "400": _problem("VALIDATION: the request is malformed; `violations` names each field"),
    "401": _problem("UNAUTHENTICATED: no client certificate reached the application"),
    "403": _problem("FORBIDDEN: the certificate is not registered, or may not use this account"),
    "500": _problem("INTERNAL"),
    "503": _problem("CORE_UNAVAILABLE: the core banking system cannot be reached; retry"),
    "504": _problem("CORE_TIMEOUT: the core did not answer in time; a payment is then pending "
                    "and `paymentId` names it"),
    "default": _problem("any other error, in the same problem+json shape"),
}

_ACCOUNT_ID = {
    "name": "account_id", "in": "path", "required": True,
    "description": "the internal account id (e.g. 10000001) or the account's IBAN",
    "schema": input_schema.account_path(),
}
_REQUEST_ID = {"$ref": "#/components/parameters/XRequestID"}
_IDEMPOTENCY_KEY = {"$ref": "#/components/parameters/IdempotencyKey"}


def _get(op_id: str, summary: str, model: type[BaseModel], params: list[dict[str, Any]],
         *extra: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _ok(model, summary)}
    notes = {"404": "ACCOUNT_NOT_FOUND / PAYMENT_NOT_FOUND"}
    for code in extra:
        responses[code] = _problem(notes.get(code, code))
    responses.update(_COMMON_ERRORS)
    return {"get": {"operationId": op_id, "summary": summary,
                    "parameters": [*params, _REQUEST_ID], "responses": responses}}


# OpenAPI links: a created payment is read back at its id, which is how a client (and a
# stateful fuzzer) goes from POST to GET.
_PAYMENT_LINKS = {"GetPaymentById": {
    "operationId": "getPayment",
    "parameters": {"payment_id": "$response.body#/paymentId"},
    "description": "the payment just created, by its `paymentId`"}}


def _post(op_id: str, summary: str, model: type[BaseModel],
          example: dict[str, Any]) -> dict[str, Any]:
    created = _ok(wire.PaymentResource,
                  "the payment was booked, or settled after the core did not answer in time "
                  "(ACSC, or RJCT / CANC with reasonCode CORE_TIMEOUT and nothing moved); "
                  "or the replay of it",
                  Location={"schema": {"type": "string"},
                            "description": "the payment resource"},
                  **{"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]},
                                             "description": "present on a replay"}})
    responses: dict[str, Any] = {
        "201": {**created, "links": _PAYMENT_LINKS},
        "404": _problem("ACCOUNT_NOT_FOUND / BILLER_NOT_FOUND"),
        "409": _problem("REQUEST_IN_PROGRESS: the first request with this key is still running; "
                        "DUPLICATE_REQUEST"),
        "413": _problem("PAYLOAD_TOO_LARGE"),
        "415": _problem("UNSUPPORTED_MEDIA_TYPE: send Content-Type: application/json"),
        "422": _problem("INSUFFICIENT_FUNDS, CURRENCY_MISMATCH, ACCOUNT_BLOCKED, REJECTED, or "
                        "IDEMPOTENCY_CONFLICT (this key was used with another body)"),
    }
    responses.update(_COMMON_ERRORS)
    return {"post": {
        "operationId": op_id, "summary": summary,
        "parameters": [_IDEMPOTENCY_KEY, _REQUEST_ID],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": REF.format(model=model.__name__)}, "example": example}}},
        "responses": responses,
    }}


# The demo partner's accounts (README "Demo accounts and callers").
_TRANSFER_EXAMPLE = {
    "debtorAccount": {"iban": "DE89370400440532013000"},
    "creditorAccount": {"id": "10000002"},
    "instructedAmount": {"currency": "EUR", "amount": "12.50"},
    "endToEndIdentification": "INV-2026-0042",
    "remittanceInformationUnstructured": "invoice 42"}
_BILL_EXAMPLE = {
    "debtorAccount": {"id": "10000001"}, "billerId": "ELEC01",
    "customerReference": "CUST-778812",
    "instructedAmount": {"currency": "EUR", "amount": "45.00"},
    "endToEndIdentification": "BILL-2026-0007"}


def build_openapi() -> dict[str, Any]:
    models = [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _RESPONSES]
    _, top = models_json_schema(models, by_alias=True, ref_template=REF)  # type: ignore[arg-type]
    schemas = top.get("$defs", {})
    input_schema.narrow_requests(schemas)
    date = {"type": "string", "format": "date", "pattern": input_schema.DATE_PATTERN}
    query = [
        {"name": "limit", "in": "query", "description": "page size, 1 to 100",
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        {"name": "cursor", "in": "query",
         "description": "opaque: a value from `_links.next` of the previous page; any other "
                        "value is refused (400 naming `cursor`)",
         "schema": {"type": "string", "pattern": input_schema.CURSOR_PATTERN}},
        {"name": "dateFrom", "in": "query",
         "description": "first value date (inclusive), 1000-01-01 to 9999-12-31",
         "schema": date},
        {"name": "dateTo", "in": "query",
         "description": "last value date (inclusive), not before `dateFrom`",
         "schema": date},
    ]
    schemas.update(openapi_customer.schemas())
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "bank-adapter REST API", "version": API_VERSION,
                 "description": _DESCRIPTION},
        "servers": [{"url": "https://localhost:8443"}],
        "security": [{"mutualTLS": []}],
        "paths": {
            "/v1": {"get": {"operationId": "apiIndex",
                            "summary": "the index of this API: a link to each resource",
                            "responses": {"200": _ok(wire.ApiIndex, "the index")}}},
            "/v1/accounts": _get("listAccounts", "the accounts this caller may use",
                                 wire.AccountList, []),
            "/v1/accounts/{account_id}": _get("getAccount", "one account",
                                              wire.AccountResponse, [_ACCOUNT_ID], "404"),
            "/v1/accounts/{account_id}/balances": _get(
                "getBalances", "booked and available balances", wire.BalancesResponse,
                [_ACCOUNT_ID], "404"),
            "/v1/accounts/{account_id}/transactions": _get(
                "listTransactions", "booked transactions, newest first, cursor-paged",
                wire.TransactionsResponse, [_ACCOUNT_ID, *query], "404"),
            "/v1/transfers": _post("createTransfer", "a credit transfer between two accounts",
                                   wire.TransferInitiation, _TRANSFER_EXAMPLE),
            "/v1/bill-payments": _post("createBillPayment", "a payment to a registered biller",
                                       wire.BillPaymentInitiation, _BILL_EXAMPLE),
            "/v1/payments/{payment_id}": _get(
                "getPayment", "a payment and its ISO 20022 status", wire.PaymentResource,
                [{"name": "payment_id", "in": "path", "required": True,
                  "description": "the `paymentId` of a payment this caller may see",
                  "schema": {"type": "string",
                             "pattern": input_schema.PAYMENT_ID_PATTERN}}], "404"),
            "/metrics": {"get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics, for a caller granted the `metrics` operation",
                "parameters": [_REQUEST_ID],
                "responses": {
                    "200": {"description": "the text exposition format",
                            "headers": _REQUEST_ID_HEADER,
                            "content": {METRICS_MEDIA_TYPE: {
                                "schema": {"type": "string"}}}},
                    **_COMMON_ERRORS}}},
            "/healthz": {"get": {"operationId": "health", "summary": "liveness",
                                 "responses": {"200": _ok(wire.Health, "the process serves")}}},
            "/readyz": {"get": {"operationId": "readiness",
                                "summary": "readiness: the process serves, the core and the "
                                           "adapter's database are usable",
                                "responses": {"200": _ok(wire.Readiness, "ready"),
                                              "503": _problem(
                                                  "CORE_UNAVAILABLE: the core cannot be "
                                                  "reached, or STORE_UNAVAILABLE: the "
                                                  "adapter's database does not answer; retry")}}},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"mutualTLS": {
                "type": "mutualTLS",
                "description": "a client certificate from the bank's CA; its CN is the caller"}},
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": True,
                    "description": "1 to 255 visible ASCII characters, unique per caller and "
                                   "operation; kept for 24 hours",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                               "pattern": r"^[\x21-\x7e]+$"}},
                "XRequestID": {
                    "name": "X-Request-ID", "in": "header", "required": False,
                    "description": "the correlation id, echoed; made by the adapter when "
                                   "absent; anything else than 1 to 128 visible ASCII "
                                   "characters is refused (400 naming X-Request-ID)",
                    "schema": {"type": "string", "pattern": input_schema.REQUEST_ID_PATTERN}},
            },
            "headers": {"XRequestID": {"description": "the request's correlation id",
                                       "schema": {"type": "string"}}},
        },
    }
    # The customers of the mobile app (issue 15): their routes and security schemes.
    document["paths"].update(openapi_customer.paths(query))
    document["components"]["securitySchemes"].update(openapi_customer.SCHEMES)
    return document


@cache
def openapi_document() -> bytes:
    """Built on first use, not at start: its remittance pattern reads the interpreter's whole
    Unicode database (about 60 ms), and most processes are never asked for the document."""
    return json.dumps(build_openapi(), separators=(",", ":")).encode()
