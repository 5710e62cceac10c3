"""Canonical error -> gRPC status, in one place, for every RPC of the gRPC front-end.

The status code is found by walking the error's class hierarchy (most specific first), so a
new subclass of the canonical tree inherits its parent's code (errors.py Rule 2). The rich
status follows the gRPC richer error model (`google.rpc.Status` in the `grpc-status-details-bin`
trailer, as grpc/grpc examples/python/errors/server.py does):

- `ErrorInfo`: reason = the canonical code (stable), domain = DOMAIN, metadata correlation_id
  and, when the error is about a payment, payment_id; when it ends an event stream
  (SLOW_CONSUMER, SHUTTING_DOWN), resume_cursor.
- `BadRequest`: one field violation per problem, for VALIDATION only, named by the field's
  path in banking.proto.

Idempotency conflicts: a reused request_id with a different payload is ALREADY_EXISTS (the key
exists and belongs to another request: retrying cannot help); a retry while the first call
runs is ABORTED (a concurrency conflict: retry the same call a little later).
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import StatusCode
from grpc_status import rpc_status

from adapter.model import errors

DOMAIN = "bank-adapter"

STATUS_FOR: dict[type[errors.AdapterError], StatusCode] = {
    errors.ValidationError: StatusCode.INVALID_ARGUMENT,
    errors.NotFound: StatusCode.NOT_FOUND,
    errors.Unauthenticated: StatusCode.UNAUTHENTICATED,
    errors.Forbidden: StatusCode.PERMISSION_DENIED,
    # The bank refused it for the account's state (funds, currency, block): AIP-193's
    # FAILED_PRECONDITION, "the system is not in a state required for the operation".
    errors.BusinessRuleError: StatusCode.FAILED_PRECONDITION,
    errors.DuplicateRequest: StatusCode.ALREADY_EXISTS,
    errors.IdempotencyConflict: StatusCode.ALREADY_EXISTS,
    errors.RequestInProgress: StatusCode.ABORTED,
    # The stream outran its consumer's buffer: a resource of the server ran out for it.
    errors.SlowConsumer: StatusCode.RESOURCE_EXHAUSTED,
    errors.RateLimited: StatusCode.RESOURCE_EXHAUSTED,
    errors.TooManyStreams: StatusCode.RESOURCE_EXHAUSTED,
    errors.ClientError: StatusCode.INVALID_ARGUMENT,
    # "May be returned even if the operation has completed": exactly an in-doubt payment.
    errors.CoreTimeout: StatusCode.DEADLINE_EXCEEDED,
    errors.DeadlineExceeded: StatusCode.DEADLINE_EXCEEDED,
    errors.CoreUnavailable: StatusCode.UNAVAILABLE,
    errors.StoreUnavailable: StatusCode.UNAVAILABLE,
    errors.ShuttingDown: StatusCode.UNAVAILABLE,
    errors.AdapterError: StatusCode.INTERNAL,
}


def status_code_for(exc: errors.AdapterError) -> StatusCode:
    for cls in type(exc).__mro__:
        code = STATUS_FOR.get(cls)
        if code is not None:
            return code
    return StatusCode.INTERNAL


def _packed(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest
            | error_details_pb2.RetryInfo) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def rich_status(code: StatusCode, message: str, reason: str, correlation_id: str | None,
                extra: dict[str, str] | None = None,
                violations: tuple[errors.FieldViolation, ...] = (),
                retry_after: float | None = None) -> status_pb2.Status:
    metadata = {"correlation_id": correlation_id or ""}
    if extra:
        metadata.update(extra)
    details = [_packed(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN,
                                                   metadata=metadata))]
    if violations:
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ])))
    if retry_after is not None:
        delay = error_details_pb2.RetryInfo()
        delay.retry_delay.FromNanoseconds(int(retry_after * 1e9))
        details.append(_packed(delay))
    return status_pb2.Status(code=code.value[0], message=message, details=details)


def to_grpc_status(exc: errors.AdapterError, correlation_id: str) -> grpc.Status:
    """The `grpc.Status` to abort with for a canonical error (see the module docstring)."""
    exc.with_correlation(correlation_id)
    extra = {}
    if exc.payment_id:
        extra["payment_id"] = exc.payment_id
    if exc.resume_cursor is not None:
        extra["resume_cursor"] = exc.resume_cursor
    retry_after = exc.retry_after if isinstance(exc, errors.RateLimited) else None
    status = rich_status(status_code_for(exc), exc.message, exc.code, exc.correlation_id,
                         extra, exc.violations, retry_after)
    return rpc_status.to_status(status)

