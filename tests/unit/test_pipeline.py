"""The call pipeline (services/pipeline.py): the order of its steps, its one error path, and
its principal resolvers, with an edge table written for the test."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapter.model.errors import (
    AdapterError,
    DeadlineExceeded,
    FieldViolation,
    Forbidden,
    Unauthenticated,
    ValidationError,
)
from adapter.services.clients import Caller, ClientRegistry, Operation
from adapter.services.context import RequestContext
from adapter.services.pipeline import Call, Edge, Pipeline
from adapter.services.principal import Credentials

PARTNER = Caller(id="partner", accounts=frozenset({"A1"}), operations=frozenset({Operation.READ}))


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.rendered: list[AdapterError] = []
        self.outcomes: list[tuple[str, str | None]] = []

    def step(self, name: str) -> Any:
        async def step(call: Call) -> None:
            self.seen.append(name)
        return step

    async def render(self, error: AdapterError, call: Call) -> str:
        self.rendered.append(error)
        return f"rendered {error.code}"

    def observe(self, call: Call, error: AdapterError | None) -> None:
        self.outcomes.append((call.operation, None if error is None else error.code))


def setup(*, now: float = 100.0, **edge: Any) -> tuple[Pipeline, Edge, Recorder]:
    rec = Recorder()
    pipeline = Pipeline([ClientRegistry([PARTNER]).resolve], observers=[rec.observe],
                        monotonic=lambda: now)
    return pipeline, Edge("test", rec.render, **edge), rec


def call(edge: Edge, cn: str | None = "partner", **kwargs: Any) -> Call:
    return Call(edge, "Op", Credentials(cn), **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_steps_run_in_order_and_the_handler_gets_the_principal() -> None:
    """Edge checks before authentication, edge verifiers after, then the service call."""
    pipeline, _, rec = setup()
    edge = Edge("ordered", rec.render, checks=(rec.step("check"),),
                verifiers=(rec.step("verify"),))

    async def handler(ctx: RequestContext) -> str:
        rec.seen.append(f"handler {ctx.caller.id} {ctx.correlation_id}")
        return "ok"

    assert run(pipeline.run(call(edge, correlation_header="trace-1"), handler)) == "ok"
    assert rec.seen == ["check", "verify", "handler partner trace-1"]
    assert rec.outcomes == [("Op", None)]


def test_a_refusing_step_stops_the_call_and_is_rendered_once() -> None:
    """A check that raises keeps the handler from running; the edge renders the error."""
    pipeline, _, rec = setup()

    async def refuse(c: Call) -> None:
        raise ValidationError("no")

    edge = Edge("refusing", rec.render, checks=(refuse,))

    async def handler(ctx: RequestContext) -> str:
        raise AssertionError("must not run")

    assert run(pipeline.run(call(edge), handler)) == "rendered VALIDATION"
    assert [e.code for e in rec.rendered] == ["VALIDATION"]
    assert rec.rendered[0].correlation_id is not None
    assert rec.outcomes == [("Op", "VALIDATION")]


def test_control_characters_are_refused_before_authentication() -> None:
    """A control character in any listed text is VALIDATION naming it, even from a stranger;
    a tab is allowed in header values only."""
    pipeline, edge, rec = setup()

    async def handler(ctx: RequestContext) -> str:
        return "ok"

    texts = [("cursor", "a\x0bb"), ("limit", "20")]
    run(pipeline.run(call(edge, cn="stranger", texts=lambda: texts), handler))
    assert rec.rendered[-1].violations == (
        FieldViolation("cursor", "control character U+000B is not allowed"),)
    assert run(pipeline.run(call(edge, header_texts=lambda: [("User-Agent", "a\tb")]),
                            handler)) == "ok"
    run(pipeline.run(call(edge, header_texts=lambda: [("X-Request-ID", "a\rb")]), handler))
    assert rec.rendered[-1].violations[0].field == "X-Request-ID"


@pytest.mark.parametrize(("cn", "error"), [(None, Unauthenticated), ("stranger", Forbidden)])
def test_certificate_resolver_refuses_missing_and_unknown_callers(
        cn: str | None, error: type[AdapterError]) -> None:
    pipeline, edge, rec = setup()

    async def handler(ctx: RequestContext) -> str:
        return "ok"

    run(pipeline.run(call(edge, cn=cn), handler))
    assert type(rec.rendered[-1]) is error


def test_an_added_resolver_is_asked_before_the_certificate() -> None:
    """A second kind of principal (a customer token) plugs in without touching an edge."""
    pipeline, edge, _ = setup()
    customer = Caller(id="customer:alice", accounts=frozenset({"A9"}))

    async def tokens(credentials: Credentials) -> Caller | None:
        return customer if credentials.authorization == "Bearer alice" else None

    pipeline.add_resolver(tokens)

    async def handler(ctx: RequestContext) -> str:
        return ctx.caller.id

    with_token = Call(edge, "Op", Credentials("partner", "Bearer alice"))
    assert run(pipeline.run(with_token, handler)) == "customer:alice"
    assert run(pipeline.run(call(edge), handler)) == "partner"


def test_an_expired_deadline_is_refused_before_the_handler() -> None:
    pipeline, edge, rec = setup(now=100.0)

    async def handler(ctx: RequestContext) -> str:
        raise AssertionError("must not run")

    run(pipeline.run(call(edge, deadline=99.0), handler))
    assert type(rec.rendered[-1]) is DeadlineExceeded


def test_foreign_exceptions_become_internal_and_violations_take_edge_names() -> None:
    """Nothing foreign reaches the edge; a service's canonical field names are translated."""
    pipeline, edge, rec = setup(field_names={"HistoryQuery.cursor": "page_token"})

    async def broken(ctx: RequestContext) -> str:
        raise KeyError("internal detail")

    async def refused(ctx: RequestContext) -> str:
        raise ValidationError(violations=(FieldViolation("HistoryQuery.cursor", "bad"),))

    run(pipeline.run(call(edge), broken))
    assert rec.rendered[-1].code == "INTERNAL"
    assert "internal detail" not in rec.rendered[-1].message
    run(pipeline.run(call(edge), refused))
    assert rec.rendered[-1].violations == (FieldViolation("page_token", "bad"),)


def test_passthrough_exceptions_reach_the_edge_untouched() -> None:
    pipeline, _, rec = setup()
    edge = Edge("pass", rec.render, passthrough=(ConnectionResetError,))

    async def gone(ctx: RequestContext) -> str:
        raise ConnectionResetError()

    with pytest.raises(ConnectionResetError):
        run(pipeline.run(call(edge), gone))
    assert rec.rendered == []
