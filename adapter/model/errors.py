"""The one canonical error tree. Every failure the adapter reports is one of these.

Invariants:
- Rule 1: `code` is stable: callers and dashboards key on it. Never rename one; add new ones.
- Rule 2: an error is created once, here or by mapping a foreign exception at a boundary
  (`raise ... from exc`), and translated once per edge (REST, SOAP, gRPC) by walking the class
  hierarchy, so a new subclass inherits its parent's translation.
- Rule 3: `message` is safe to show to the caller: no stack trace, no internal host names, no
  full account numbers. `correlation_id` ties it to the adapter's logs.

    AdapterError
    ├── ClientError                 the request is wrong or not allowed; retrying will not help
    │   ├── ValidationError         VALIDATION (with per-field violations)
    │   ├── NotFound
    │   │   ├── AccountNotFound     ACCOUNT_NOT_FOUND
    │   │   ├── PaymentNotFound     PAYMENT_NOT_FOUND
    │   │   └── BillerNotFound      BILLER_NOT_FOUND
    │   ├── Unauthenticated         UNAUTHENTICATED
    │   ├── Forbidden               FORBIDDEN
    │   ├── BusinessRuleError       the bank refused it
    │   │   ├── InsufficientFunds   INSUFFICIENT_FUNDS
    │   │   ├── CurrencyMismatch    CURRENCY_MISMATCH
    │   │   └── AccountBlocked      ACCOUNT_BLOCKED
    │   ├── DuplicateRequest        DUPLICATE_REQUEST  (the core already has this reference)
    │   ├── IdempotencyConflict     IDEMPOTENCY_CONFLICT (same key, different payload)
    │   ├── RequestInProgress       REQUEST_IN_PROGRESS (same key, first call still running)
    │   ├── SlowConsumer            SLOW_CONSUMER (an event stream fell behind; resume)
    │   └── TooManyStreams          TOO_MANY_STREAMS (a cap on open event streams is reached)
    └── ServerError                 the adapter or the core failed; the caller may retry
        ├── CoreTimeout             CORE_TIMEOUT
        ├── CoreUnavailable         CORE_UNAVAILABLE
        ├── StoreUnavailable        STORE_UNAVAILABLE (the adapter's own database; readiness)
        ├── DeadlineExceeded        DEADLINE_EXCEEDED
        ├── ShuttingDown            SHUTTING_DOWN (an event stream ended by a stop; resume)
        └── InternalError           INTERNAL

An error that ends an event stream carries `resume_cursor`: the position to resume from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class AdapterError(Exception):
    code: ClassVar[str] = "INTERNAL"
    default_message: ClassVar[str] = "internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        correlation_id: str | None = None,
        violations: tuple[FieldViolation, ...] = (),
        payment_id: str | None = None,
        resume_cursor: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.correlation_id = correlation_id
        self.violations = violations
        self.payment_id = payment_id
        self.resume_cursor = resume_cursor
        super().__init__(self.message)

    def with_correlation(self, correlation_id: str) -> AdapterError:
        if self.correlation_id is None:
            self.correlation_id = correlation_id
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ClientError(AdapterError):
    code = "BAD_REQUEST"
    default_message = "the request cannot be processed"


class ValidationError(ClientError):
    code = "VALIDATION"
    default_message = "the request is invalid"


class NotFound(ClientError):
    code = "NOT_FOUND"
    default_message = "not found"


class AccountNotFound(NotFound):
    code = "ACCOUNT_NOT_FOUND"
    default_message = "account not found"


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"
    default_message = "payment not found"


class BillerNotFound(NotFound):
    code = "BILLER_NOT_FOUND"
    default_message = "biller not found"


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"
    default_message = "the caller could not be authenticated"


class Forbidden(ClientError):
    code = "FORBIDDEN"
    default_message = "the caller is not allowed to do this"


class BusinessRuleError(ClientError):
    code = "REJECTED"
    default_message = "the bank refused the request"


class InsufficientFunds(BusinessRuleError):
    code = "INSUFFICIENT_FUNDS"
    default_message = "insufficient funds"


class CurrencyMismatch(BusinessRuleError):
    code = "CURRENCY_MISMATCH"
    default_message = "the currency does not match the account"


class AccountBlocked(BusinessRuleError):
    code = "ACCOUNT_BLOCKED"
    default_message = "the account is blocked"


class DuplicateRequest(ClientError):
    code = "DUPLICATE_REQUEST"
    default_message = "a different request with this reference was already processed"


class IdempotencyConflict(ClientError):
    code = "IDEMPOTENCY_CONFLICT"
    default_message = "this idempotency key was used with a different request"


class RequestInProgress(ClientError):
    code = "REQUEST_IN_PROGRESS"
    default_message = "a request with this idempotency key is still being processed"


class SlowConsumer(ClientError):
    """The consumer read the event stream slower than events arrived and was cut off."""

    code = "SLOW_CONSUMER"
    default_message = ("the consumer fell behind the event stream; resume from resume_cursor")


class TooManyStreams(ClientError):
    """The caller, or its connection, already holds as many open event streams as allowed;
    the message names the limit. Closing one frees its slot."""

    code = "TOO_MANY_STREAMS"
    default_message = "too many open event streams; close one first"


class RateLimited(ClientError):
    """Too many requests (or too many failed authentications) from this caller for now.
    `retry_after` is the seconds after which a retry may succeed (REST Retry-After, gRPC
    RetryInfo, SOAP RetryAfter). `lockout` marks a refusal because the subject failed too
    often (counted as a lockout, not as a rate-limited call, by services.intrusion)."""

    code = "RATE_LIMITED"
    default_message = "too many requests from this client; retry later"

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0,
                 lockout: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.lockout = lockout


class ServerError(AdapterError):
    code = "INTERNAL"
    default_message = "internal error"


class CoreTimeout(ServerError):
    code = "CORE_TIMEOUT"
    default_message = "the core banking system did not answer in time"


class CoreUnavailable(ServerError):
    code = "CORE_UNAVAILABLE"
    default_message = "the core banking system is unavailable"


class StoreUnavailable(ServerError):
    code = "STORE_UNAVAILABLE"
    default_message = "the adapter's database is unavailable"


class DeadlineExceeded(ServerError):
    code = "DEADLINE_EXCEEDED"
    default_message = "the caller's deadline expired"


class ShuttingDown(ServerError):
    code = "SHUTTING_DOWN"
    default_message = "the server is shutting down; resume from resume_cursor"


class InternalError(ServerError):
    code = "INTERNAL"
    default_message = "internal error"


def _all_subclasses(cls: type[AdapterError]) -> list[type[AdapterError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _all_subclasses(sub)
    return out


BY_CODE: dict[str, type[AdapterError]] = {
    c.code: c for c in _all_subclasses(AdapterError) if c.__module__ == __name__
}
"""Code -> the most specific class of this module (subclasses come later and win).
Used to rebuild a stored outcome for an idempotent replay."""
