"""The sans-IO parts of the link: liveness verdicts and probes on an injected clock, the
session's state table, STAN allocation, the options' limits and the exception map."""

from __future__ import annotations

import dataclasses
import re

import pytest

from adapter.connectors.iso8583.exceptions import (
    POSTING,
    READ,
    RECORD_BEFORE_SENDING,
    RECORD_REPLY,
    ExceptionMap,
    LinkDown,
    LinkUnhealthy,
    NotSent,
    StanExhausted,
    map_exceptions,
)
from adapter.connectors.iso8583.liveness import Liveness, Verdict
from adapter.connectors.iso8583.mux import ConnectionLost, DuplicateKey, MuxError, MuxTimeout
from adapter.connectors.iso8583.options import IsoOptions
from adapter.connectors.iso8583.session import TRANSITIONS, LinkEvent, LinkState
from adapter.connectors.iso8583.stan import StanSequence
from adapter.model.errors import AdapterError, CoreTimeout, CoreUnavailable
from adapter.ports.core import CoreOutcomeUnknown
from adapter.ports.reversals import ReversalStoreError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def nothing_in_flight() -> None:
    return None


def liveness(clock: Clock) -> Liveness:
    return Liveness(timeout=2.0, echo_interval=1.0, clock=clock)


# -- verdicts ----------------------------------------------------------------------------------


def test_an_idle_link_is_alive_however_long_it_is_quiet() -> None:
    """Rule 2: owing nothing, a quiet link is never STALLED (it is probed instead)."""
    clock = Clock()
    live = liveness(clock)
    clock.now += 3600
    assert live.verdict(nothing_in_flight) is Verdict.ALIVE


def test_a_request_unanswered_on_a_silent_link_stalls_it_after_the_timeout() -> None:
    """Rule 2: silent for more than 2 s with a request 2 s old: STALLED; at 2 s: not yet."""
    clock = Clock()
    live = liveness(clock)
    sent = clock.now
    clock.now += 2.0
    assert live.verdict(lambda: sent) is Verdict.ALIVE
    clock.now += 0.001
    assert live.verdict(lambda: sent) is Verdict.STALLED


def test_a_request_just_sent_on_a_quiet_link_is_not_stalled() -> None:
    """Rule 2: the request itself must have waited the whole timeout."""
    clock = Clock()
    live = liveness(clock)
    clock.now += 60
    assert live.verdict(lambda: clock.now - 1.9) is Verdict.ALIVE
    assert live.verdict(lambda: clock.now - 2.1) is Verdict.STALLED


def test_any_byte_received_revives_a_stalled_link() -> None:
    """Rule 3: a reply (or any frame) ends STALLED at once."""
    clock = Clock()
    live = liveness(clock)
    sent = clock.now
    clock.now += 5
    assert live.verdict(lambda: sent) is Verdict.STALLED
    live.received()
    assert live.verdict(lambda: sent) is Verdict.ALIVE


def test_the_oldest_request_is_only_looked_up_when_the_link_is_quiet() -> None:
    """Bytes arriving: the verdict costs one clock read, the mux is not asked."""
    clock = Clock()
    live = liveness(clock)
    asked: list[int] = []

    def oldest() -> float:
        asked.append(1)
        return clock.now - 100

    live.received()
    assert live.verdict(oldest) is Verdict.ALIVE and asked == []
    clock.now += 2.5
    assert live.verdict(oldest) is Verdict.STALLED and asked == [1]


def test_a_failed_echo_lasts_until_an_echo_is_answered() -> None:
    """Rule 1: ECHO_FAILED survives later bytes (a late reply); an answered echo clears it."""
    clock = Clock()
    live = liveness(clock)
    live.echo_failed()
    live.received()
    assert live.verdict(nothing_in_flight) is Verdict.ECHO_FAILED
    live.echo_failed()
    assert live.echo_failures == 2
    live.echo_answered()
    assert live.verdict(nothing_in_flight) is Verdict.ALIVE and live.echo_failures == 0


def test_a_new_session_forgets_the_old_one() -> None:
    """Signing on clears the echo failures and the silence."""
    clock = Clock()
    live = liveness(clock)
    live.echo_failed()
    clock.now += 10
    live.signed_on()
    assert live.verdict(lambda: clock.now - 10) is Verdict.ALIVE
    assert live.silence() == 0


# -- probes (Rule 4) ---------------------------------------------------------------------------


def test_an_idle_link_is_probed_one_echo_interval_after_the_last_byte() -> None:
    """The heartbeat: 1 s after the last byte or echo, whichever is later."""
    clock = Clock()
    live = liveness(clock)
    assert live.probe_in(None) == 1.0
    clock.now += 0.4
    live.received()
    assert live.probe_in(None) == pytest.approx(1.0)
    clock.now += 1.0
    assert live.probe_in(None) == pytest.approx(0.0)
    live.echo_answered()
    clock.now += 0.25
    assert live.probe_in(None) == pytest.approx(0.75)


def test_a_link_owing_a_reply_is_probed_at_half_the_timeout() -> None:
    """With a long heartbeat, an unanswered request gets the link probed 1 s (timeout / 2)
    after the later of its registration and the last byte, before it could be STALLED."""
    clock = Clock()
    live = Liveness(timeout=2.0, echo_interval=30.0, clock=clock)
    clock.now += 10
    sent = clock.now
    assert live.probe_in(sent) == pytest.approx(1.0)
    clock.now += 0.5
    live.received()  # a reply to something else
    assert live.probe_in(sent) == pytest.approx(1.0)
    assert live.probe_in(None) == pytest.approx(30.0)


def test_idle_detection_bound_is_echo_interval_plus_timeout() -> None:
    """Options Rule 3: quiet from t, echo at t+1, unanswered: STALLED just after t+3."""
    clock = Clock()
    live = liveness(clock)
    clock.now += live.probe_in(None)
    echo_sent = clock.now
    clock.now = echo_sent + 2.0
    assert live.verdict(lambda: echo_sent) is Verdict.ALIVE
    clock.now += 0.01
    assert live.verdict(lambda: echo_sent) is Verdict.STALLED
    assert clock.now - 1000.0 == pytest.approx(3.01)


# -- the session's state table -----------------------------------------------------------------


def test_every_state_can_close_and_closed_is_final() -> None:
    """CLOSE is allowed everywhere but CLOSED; CLOSED has no way out."""
    for state in LinkState:
        if state is LinkState.CLOSED:
            assert TRANSITIONS[state] == {}
        else:
            assert TRANSITIONS[state][LinkEvent.CLOSE] is LinkState.CLOSED


def test_only_a_sign_on_leads_up_and_a_lost_session_waits_only_once() -> None:
    """UP is reached only by SIGNED_ON; LOST leads to CONNECTING (callers wait for one
    attempt), a failed attempt or dead echoes to DOWN (callers refused at once)."""
    into_up = {(s, e) for s, row in TRANSITIONS.items() for e, n in row.items()
               if n is LinkState.UP}
    assert into_up == {(LinkState.CONNECTING, LinkEvent.SIGNED_ON),
                       (LinkState.DOWN, LinkEvent.SIGNED_ON)}
    assert TRANSITIONS[LinkState.UP][LinkEvent.LOST] is LinkState.CONNECTING
    assert TRANSITIONS[LinkState.UP][LinkEvent.DEAD] is LinkState.DOWN
    assert TRANSITIONS[LinkState.CONNECTING][LinkEvent.FAILED] is LinkState.DOWN
    assert LinkEvent.LOST not in TRANSITIONS[LinkState.DOWN]


# -- STAN allocation ---------------------------------------------------------------------------


def test_stans_run_from_000001_skip_keys_in_flight_and_wrap_past_999999() -> None:
    """Rules 1 and 2: never 000000, never a key in flight, 999999 then 000001."""
    busy = {("000002", "ADAPTER1")}
    stans = StanSequence("ADAPTER1", busy.__contains__)
    assert [stans.next(), stans.next()] == ["000001", "000003"]
    stans._last = 999_998
    assert [stans.next(), stans.next()] == ["999999", "000001"]


def test_stans_exhausted_is_refused_before_sending() -> None:
    """Rule 3: every STAN in flight: StanExhausted, a NotSent."""
    stans = StanSequence("ADAPTER1", lambda key: True)
    with pytest.raises(StanExhausted):
        stans.next()


# -- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"terminal_id": "SHORT"}, "terminal id (field 41) is 8 characters, not 5"),
        ({"liveness_timeout": 0}, "liveness_timeout must be greater than 0, not 0"),
        ({"echo_interval": -1.0}, "echo_interval must be greater than 0, not -1.0"),
        ({"max_echo_failures": 0}, "max_echo_failures must be at least 1"),
        ({"backoff_initial": 2.0, "backoff_max": 1.0}, "backoff_max must not be below"),
        ({"synchronous": "OFF"}, "synchronous must be one of NORMAL, FULL"),
        ({"port": 70000}, "port 70000 is outside 0..65535"),
    ],
)
def test_options_refuse_impossible_values(change: dict[str, object], message: str) -> None:
    """Rule 1: an IsoOptions that exists is valid."""
    values: dict[str, object] = {"host": "127.0.0.1", "port": 7583, **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        IsoOptions(**values)  # type: ignore[arg-type]


def test_options_are_frozen() -> None:
    """Rule 2: a variant is made with replace, the original is untouched."""
    options = IsoOptions("127.0.0.1", 7583)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.port = 1  # type: ignore[misc]
    assert dataclasses.replace(options, port=1).port == 1 and options.port == 7583
    assert options.peer_name == "127.0.0.1"


# -- the exception map -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "foreign", "canonical", "message"),
    [
        (READ, LinkDown("down"), CoreUnavailable, "the core banking system is unavailable"),
        (READ, LinkUnhealthy("stalled"), CoreUnavailable,
         "the core banking system is unavailable"),
        (READ, StanExhausted("x"), CoreUnavailable, "no free STAN: too many requests in flight"),
        (READ, DuplicateKey("x"), CoreUnavailable, "too many requests in flight"),
        (READ, MuxTimeout("x"), CoreTimeout, "the core banking system did not answer in time"),
        (READ, ConnectionLost("x", sent=True), CoreTimeout,
         "the core banking system did not answer in time"),
        (POSTING, LinkUnhealthy("stalled"), CoreUnavailable,
         "the core banking system is unavailable"),
        (POSTING, MuxTimeout("x"), CoreOutcomeUnknown,
         "the core banking system did not answer in time"),
        (POSTING, ConnectionLost("x", sent=True), CoreOutcomeUnknown,
         "the core banking system did not answer in time"),
        (RECORD_BEFORE_SENDING, ReversalStoreError("disk full"), CoreUnavailable,
         "the posting could not be recorded before sending"),
        (RECORD_REPLY, ReversalStoreError("disk full"), CoreOutcomeUnknown,
         "the posting's reply could not be recorded"),
    ],
)
def test_foreign_exceptions_map_to_exactly_one_canonical_error(
    table: ExceptionMap, foreign: Exception, canonical: type[AdapterError], message: str
) -> None:
    """Rules 2 and 3: the exact canonical class and message, raised from the foreign one."""
    with pytest.raises(AdapterError) as info, map_exceptions(table):
        raise foreign
    assert type(info.value) is canonical
    assert info.value.message == message
    assert info.value.__cause__ is foreign


def test_an_unmapped_exception_passes_through() -> None:
    """Rule 4: a bug shows as itself, not as a core error."""
    with pytest.raises(KeyError), map_exceptions(POSTING):
        raise KeyError("bug")
    with pytest.raises(MuxError), map_exceptions(POSTING):
        raise MuxError("MTI 0210 expects no reply")


def test_a_table_must_list_the_most_specific_class_first() -> None:
    """Rule 1: a subclass after its base could never match: refused when the table is built."""
    with pytest.raises(ValueError, match="LinkDown is listed after NotSent"):
        ExceptionMap((NotSent, CoreUnavailable, None), (LinkDown, CoreUnavailable, "down"))


def test_stalled_in_is_when_rule_2_turns_the_verdict_by_time_alone() -> None:
    """Nothing owed: None; a request registered at 1 s on a link last heard at 0 s turns
    STALLED just past 3 s; once it has, no further change is due (None)."""
    clock = Clock()
    live = Liveness(timeout=2.0, echo_interval=1.0, clock=clock)
    start = clock.now
    assert live.stalled_in(None) is None
    clock.now = start + 1.0
    assert live.stalled_in(start + 1.0) == pytest.approx(2.0 + 1e-3)
    clock.now = start + 3.0 + 1e-3
    assert live.verdict(lambda: start + 1.0) is Verdict.STALLED
    assert live.stalled_in(start + 1.0) is None
