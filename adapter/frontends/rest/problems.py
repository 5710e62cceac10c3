"""Canonical errors -> RFC 9457 problem details (`application/problem+json`), in one place.

The HTTP status of an error is found by walking its class hierarchy (its MRO) until a class
in `STATUS` is met, the way starlette/exceptions.py finds a handler: a new subclass of the
canonical tree inherits its parent's status without a line here.

A problem body carries RFC 9457's members (`type`, `title`, `status`, `detail`) and three
extension members: `code` (the stable canonical code, what callers key on), `correlation_id`
(the request's X-Request-ID, tying the answer to the adapter's logs), and, when present,
`violations` (one per refused field) and `paymentId` (the payment the error is about, so a
caller can look it up after a 504). Nothing else is said: no exception text other than the
canonical message, which errors.py Rule 3 keeps safe to show.

Errors that exist only on HTTP (wrong media type, body too large, no such route) are
subclasses of the canonical tree defined here, so they follow the same path.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import Response

from adapter.model import errors as e

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:bank-adapter:problem:"


class UnsupportedMediaType(e.ClientError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "the request body must be application/json"


class PayloadTooLarge(e.ClientError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "the request body is too large"


class RouteNotFound(e.NotFound):
    code = "NOT_FOUND"
    default_message = "no such resource"


class MethodNotAllowed(e.ClientError):
    code = "METHOD_NOT_ALLOWED"
    default_message = "this method is not allowed on this resource"


# Most specific first is not needed: the MRO walk meets the most specific class first.
STATUS: dict[type[e.AdapterError], int] = {
    e.AdapterError: 500,
    e.ClientError: 400,
    e.ValidationError: 400,
    e.NotFound: 404,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.BusinessRuleError: 422,
    # The core already holds a different request under this reference: a state conflict.
    e.DuplicateRequest: 409,
    # draft-ietf-httpapi-idempotency-key-header section 2.7: 422 for a key reused with a
    # different payload, 409 for a retry while the original request is still processing.
    e.IdempotencyConflict: 422,
    e.RequestInProgress: 409,
    # Event streams' errors, for the streaming edges to come (SSE): RFC 6585 section 4 and
    # RFC 9110 section 15.6.4.
    e.SlowConsumer: 429,
    e.TooManyStreams: 429,
    e.ShuttingDown: 503,
    e.RateLimited: 429,
    e.ServerError: 500,
    e.CoreTimeout: 504,
    e.CoreUnavailable: 503,
    e.StoreUnavailable: 503,
    e.DeadlineExceeded: 504,
    e.InternalError: 500,
    UnsupportedMediaType: 415,
    PayloadTooLarge: 413,
    MethodNotAllowed: 405,
}

TITLES: dict[int, str] = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def status_for(exc: e.AdapterError) -> int:
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)  # type: ignore[call-overload]
        if status is not None:
            return status
    return 500


def problem_type(code: str) -> str:
    return TYPE_PREFIX + code.lower().replace("_", "-")


def problem_body(exc: e.AdapterError, correlation_id: str) -> tuple[int, dict[str, Any]]:
    status = status_for(exc)
    body: dict[str, Any] = {
        "type": problem_type(exc.code),
        "title": type(exc).default_message[:1].upper() + type(exc).default_message[1:],
        "status": status,
        "detail": exc.message,
        "code": exc.code,
        "correlation_id": exc.correlation_id or correlation_id,
    }
    if exc.violations:
        body["violations"] = [
            {"field": v.field, "description": v.description} for v in exc.violations
        ]
    if exc.payment_id is not None:
        body["paymentId"] = exc.payment_id
    return status, body


def problem_response(exc: e.AdapterError, correlation_id: str,
                     headers: dict[str, str] | None = None) -> Response:
    status, body = problem_body(exc, correlation_id)
    out = {"x-request-id": correlation_id}
    if status == 413:
        # The rest of an oversized body is not wanted: close rather than drain it.
        out["connection"] = "close"
    if isinstance(exc, e.RateLimited):
        # RFC 9110 §10.2.3: delay-seconds, a whole number, rounded up.
        out["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    if headers:
        out.update(headers)
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers=out)
