"""The call pipeline: what every request of every edge goes through, once, in one order.

    edge (REST | SOAP | gRPC) reads the wire into a `Call`, names its `Edge` table
      -> steps, in order (`Pipeline.steps_for`):
           correlate          the caller's correlation id if well formed, else a new one
           <edge checks>      the protocol's own refusals (SOAP: SOAPAction, mustUnderstand)
           refuse_control     no control character in any text value the edge lists
           authenticate       the principal resolvers, in order; the certificate caller last
           rate_limit         the principal's budget for the call's canonical operation
                              (services/rate_limits.py): RATE_LIMITED, nothing done
           <edge verifiers>   checks that need the principal (SOAP: the WS-Security token)
           deadline           a deadline that has already passed is refused before any work
      -> the service call, with RequestContext(principal, correlation id, deadline)
      -> on any exception: one canonical error (a foreign exception becomes INTERNAL and its
         traceback goes to the log), carrying the correlation id, its violations named in the
         edge's vocabulary, rendered once by the edge's `render`
      -> observers, with the call and its error (None on success): the log line; metrics and
         audit hook in here

A new cross-cutting rule (customer tokens, audit) is one new step, resolver or observer
here, and every edge has it. The rate limit goes before the edge's verifiers, so a flood of
WS-Security tokens is refused before a single password hash.

Invariants:
- Rule 1: no service is called before every step has passed.
- Rule 2: every failure leaves as exactly one canonical error (model.errors), rendered once by
  the edge; no foreign exception text and no traceback reaches a caller.
- Rule 3: the correlation id is fixed by the first step, before anything can fail, and is on
  every answer and every log line of the call.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from adapter.model.errors import (
    AdapterError,
    DeadlineExceeded,
    FieldViolation,
    InternalError,
    ServerError,
    Unauthenticated,
)
from adapter.model.text import HEADER_CONTROL_RE, refuse_control_characters
from adapter.services.context import RequestContext, new_correlation_id
from adapter.services.principal import Credentials, Principal, PrincipalResolver
from adapter.services.rate_limits import RateLimiter

log = logging.getLogger("adapter.pipeline")

T = TypeVar("T")

NO_CREDENTIALS = "no credentials this adapter accepts were presented"

# Echoed in a header and written to logs: visible ASCII only, bounded.
CORRELATION_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")

# A step refuses by raising. One with nothing to wait for may be a plain function (it
# returns None): most are, and each await of a coroutine costs more than the step's work.
Step = Callable[["Call"], Awaitable[None] | None]
Observer = Callable[["Call", AdapterError | None], None]
Texts = Callable[[], Iterable[tuple[str, str]]]


def _none() -> Iterable[tuple[str, str]]:
    return ()


@dataclass(frozen=True)
class Edge:
    """One front-end's translation table: how it names fields, how it renders an error, and
    the checks only its protocol has."""

    name: str
    render: Callable[[AdapterError, Call], Awaitable[Any]]
    # Canonical field name (as services name them) -> the edge's own name for it.
    field_names: Mapping[str, str] = field(default_factory=dict)
    checks: tuple[Step, ...] = ()
    verifiers: tuple[Step, ...] = ()
    # Exceptions that are not failures of the call but the edge's own business (the caller
    # went away): re-raised to the edge untouched.
    passthrough: tuple[type[Exception], ...] = ()
    # The edge's operation (route template, RPC name) -> the canonical operation it performs
    # (services.clients.Operation values), which rate limits are set by; unlisted: itself.
    kinds: Mapping[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Call:
    """One request on its way through the pipeline: what the edge read, what steps found."""

    edge: Edge
    operation: str  # stable and free of caller data (a route template, an RPC name)
    credentials: Credentials
    correlation_header: str | None = None
    deadline: float | None = None  # monotonic seconds
    texts: Texts = _none  # every text value, as (edge field name, value)
    header_texts: Texts = _none  # HTTP header values: horizontal tab is allowed there
    raw: Any = None  # the edge's own request, for the edge's checks and verifiers
    peer: str = "-"  # the network address the request came from (intrusion signals)
    # Set by the steps:
    correlation_id: str = ""
    principal: Principal | None = None
    started: float = 0.0  # monotonic seconds, when the first step ran
    elapsed: float = 0.0  # seconds from the first step to the outcome, set before observers

    @property
    def kind(self) -> str:
        """The canonical operation this call performs (`Edge.kinds`)."""
        return self.edge.kinds.get(self.operation, self.operation)


def correlation_id_from(header: str | None) -> str:
    """The caller's correlation id if well formed, else a new one. A malformed one is replaced,
    not refused: an answer must carry one to be traceable (refuse_control still refuses one
    holding a control character, when the edge lists it among its texts)."""
    if header is not None and CORRELATION_ID_RE.fullmatch(header):
        return header
    return new_correlation_id()


def renamed(violations: tuple[FieldViolation, ...],
            names: Mapping[str, str]) -> tuple[FieldViolation, ...]:
    """Violations with canonical field paths replaced by the edge's (longest prefix wins)."""
    if not names:
        return violations
    out = []
    for v in violations:
        path = v.field
        for internal in sorted(names, key=len, reverse=True):
            if path == internal or path.startswith(internal + "."):
                path = names[internal] + path[len(internal):]
                break
        out.append(FieldViolation(path, v.description))
    return tuple(out)


class Pipeline:
    def __init__(self, resolvers: Sequence[PrincipalResolver], *,
                 observers: Sequence[Observer] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 rate_limiter: RateLimiter | None = None) -> None:
        self._resolvers = list(resolvers)
        self.rate_limiter = rate_limiter
        self._observers = list(observers if observers is not None else (log_outcome,))
        self._monotonic = monotonic
        self._steps: dict[str, tuple[Step, ...]] = {}

    def add_resolver(self, resolver: PrincipalResolver) -> None:
        """Ask `resolver` before those already there (the certificate resolver stays last)."""
        self._resolvers.insert(0, resolver)

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: Observer) -> None:
        self._observers.remove(observer)

    # -- the steps, in order -------------------------------------------------------------

    def steps_for(self, edge: Edge) -> tuple[Step, ...]:
        steps = self._steps.get(edge.name)
        if steps is None:
            steps = (self.correlate, *edge.checks, self.refuse_control, self.authenticate,
                     self.rate_limit, *edge.verifiers, self.check_deadline)
            self._steps[edge.name] = steps
        return steps

    def correlate(self, call: Call) -> None:
        call.correlation_id = correlation_id_from(call.correlation_header)

    def refuse_control(self, call: Call) -> None:
        # An edge's texts may answer () when a prefilter found nothing (gRPC, REST headers).
        if texts := call.texts():
            refuse_control_characters(texts)
        if call.header_texts is not _none and (texts := call.header_texts()):
            refuse_control_characters(texts, pattern=HEADER_CONTROL_RE)

    def authenticate(self, call: Call) -> Awaitable[None] | None:
        resolvers = self._resolvers
        for resolver in resolvers:
            found = resolver(call.credentials)
            if found is None:
                continue
            if isinstance(found, Awaitable):
                return self._authenticate_awaiting(call, found,
                                                   resolvers[resolvers.index(resolver) + 1:])
            call.principal = found
            return None
        raise Unauthenticated(NO_CREDENTIALS)

    @staticmethod
    async def _authenticate_awaiting(call: Call, pending: Awaitable[Principal | None],
                                     rest: Sequence[PrincipalResolver]) -> None:
        found = await pending
        for resolver in rest:
            if found is not None:
                break
            answer = resolver(call.credentials)
            found = await answer if isinstance(answer, Awaitable) else answer
        if found is None:
            raise Unauthenticated(NO_CREDENTIALS)
        call.principal = found

    def rate_limit(self, call: Call) -> Awaitable[None] | None:
        if self.rate_limiter is not None and call.principal is not None:
            return self.rate_limiter.check(call.principal.id, call.kind)
        return None

    def check_deadline(self, call: Call) -> None:
        if call.deadline is not None and call.deadline <= self._monotonic():
            raise DeadlineExceeded()

    # -- running a call ------------------------------------------------------------------

    async def admit(self, call: Call) -> RequestContext:
        """Run every step (Rule 1); the context for the service call. Raises on refusal."""
        call.started = self._monotonic()
        for step in self.steps_for(call.edge):
            pending = step(call)
            if pending is not None:
                await pending
        assert call.principal is not None
        return RequestContext(call.principal, call.correlation_id, call.deadline)

    async def run(self, call: Call, handler: Callable[[RequestContext], Awaitable[T]]) -> T:
        """Admit the call, run `handler`, and answer any failure through the edge (Rule 2)."""
        try:
            # admit()'s steps, inline: one coroutine fewer on every call of every edge.
            call.started = self._monotonic()
            for step in self.steps_for(call.edge):
                pending = step(call)
                if pending is not None:
                    await pending
            assert call.principal is not None
            result = await handler(
                RequestContext(call.principal, call.correlation_id, call.deadline))
        except Exception as exc:
            if isinstance(exc, call.edge.passthrough):
                raise
            rendered: T = await self.fail(call, exc)
            return rendered
        self.finish(call, None)
        return result

    async def fail(self, call: Call, exc: Exception) -> Any:
        """The one way out for a failure: canonical error, observers, the edge's rendering."""
        error = self.canonical(call, exc)
        self.finish(call, error)
        return await call.edge.render(error, call)

    def canonical(self, call: Call, exc: Exception) -> AdapterError:
        if not call.correlation_id:
            call.correlation_id = new_correlation_id()
        if isinstance(exc, AdapterError):
            error = exc
        else:
            log.error("%s %s failed unexpectedly [%s]", call.edge.name, call.operation,
                      call.correlation_id, exc_info=exc)
            error = InternalError()
        error.with_correlation(call.correlation_id)
        if error.violations:
            error.violations = renamed(error.violations, call.edge.field_names)
        return error

    def finish(self, call: Call, error: AdapterError | None) -> None:
        call.elapsed = self._monotonic() - call.started
        for observer in self._observers:
            try:
                observer(call, error)
            except Exception:
                log.exception("observer %r failed [%s]", observer, call.correlation_id)


def log_outcome(call: Call, error: AdapterError | None) -> None:
    """The one log line of a finished call. Refusals at debug: a caller's mistakes must not
    flood the log; server-side failures at warning. No caller data but the principal id."""
    who = call.principal.id if call.principal is not None else "-"
    if error is None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s by %s ok in %.1f ms [%s]", call.edge.name, call.operation, who,
                      call.elapsed * 1000, call.correlation_id)
    elif isinstance(error, ServerError):
        log.warning("%s %s by %s failed: %s (%s) [%s]", call.edge.name, call.operation, who,
                    error.code, error.message, call.correlation_id)
    else:
        log.debug("%s %s by %s refused: %s [%s]", call.edge.name, call.operation, who,
                  error.code, call.correlation_id)
