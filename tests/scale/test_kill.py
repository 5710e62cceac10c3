"""Kill test: two adapter replicas on one PostgreSQL behind HAProxy, 32 callers sending
transfers, one replica SIGKILLed mid-run and started again. Afterwards every key has exactly
one outcome, every transfer answered as booked is booked once in the core's ledger, the totals
per currency are unchanged, and nothing is left PDNG once the resolver's lease has lapsed.
Run for both connectors (ISO 8583 and SOAP)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from adapter.infra import tls
from adapter.infra.tls import TlsFiles
from tests.harness.core import RunningCore
from tests.harness.postgres import fresh_database_url
from tests.harness.replicas import AdapterProcess, Haproxy, StateTemplate, haproxy_binary

CALLERS = 32
PER_CALLER = 6
KILL_AFTER = CALLERS * PER_CALLER // 3  # outcomes before the kill
AMOUNT = Decimal("1.00")
DEBTOR, CREDITOR = "10000001", "10000002"
# Short timeouts keep the resolver's grace (core + resolve + 5 s) and lease (2 x resolve
# + 5 s) short, so the run, the take-over of the dead replica's payments and the checks fit
# in about a minute.
CORE_TIMEOUT, RESOLVE_TIMEOUT = 1.0, 2.0
SETTLED_WITHIN = (CORE_TIMEOUT + RESOLVE_TIMEOUT + 5) + (2 * RESOLVE_TIMEOUT + 5) + 5 + 10
# A caller tries again (same key) after these: the request may or may not have been done.
TRANSIENT = {"REQUEST_IN_PROGRESS", "CORE_TIMEOUT", "CORE_UNAVAILABLE", "DEADLINE_EXCEEDED",
             "SHUTTING_DOWN", "RATE_LIMITED", "INTERNAL"}
FINAL_STATUSES = {"ACSC", "RJCT", "CANC"}


@dataclass
class Answer:
    """The last thing a caller learnt for its key: an ISO 20022 status or an error code."""
    status: str | None
    code: str | None
    payment_id: str | None


@dataclass
class Deployment:
    lb: Haproxy
    replicas: list[AdapterProcess]
    template: StateTemplate
    url: str
    core: RunningCore


@pytest.fixture(params=["iso8583", "soap"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path, pki_dir: Path,
               core_sim: RunningCore) -> Iterator[Deployment]:
    haproxy_binary()
    with fresh_database_url() as url:
        template = StateTemplate(tmp_path, pki_dir)
        replicas = [
            AdapterProcess(name, template, core_host=core_sim.host,
                           core_soap_port=core_sim.soap_port, core_iso_port=core_sim.iso_port,
                           extra=["--database-url", url, "--core-connector", request.param,
                                  "--core-timeout", str(CORE_TIMEOUT),
                                  "--resolve-timeout", str(RESOLVE_TIMEOUT),
                                  # (41, 11) never collides: a terminal id per replica.
                                  "--iso-terminal-id", terminal])
            for name, terminal in (("adapter1", "REPLICA1"), ("adapter2", "REPLICA2"))]
        lb = Haproxy(tmp_path, replicas, template.check_pem, template.pki / "ca.crt")
        try:
            for replica in replicas:
                replica.start()
            lb.start()
            lb.wait_states({(b, s): "UP" for b in ("adapter_https", "adapter_grpc")
                            for s in ("adapter1", "adapter2")})
            yield Deployment(lb, replicas, template, url, core_sim)
        finally:
            lb.stop()
            for replica in replicas:
                replica.stop()


def _client(d: Deployment) -> httpx.Client:
    ctx = tls.client_context(TlsFiles.from_dir(d.template.pki, "partner"),
                             d.template.pki / "ca.crt")
    return httpx.Client(verify=ctx, timeout=10, base_url=f"https://localhost:{d.lb.https_port}")


def _body(key: str) -> dict[str, object]:
    return {"debtorAccount": {"id": DEBTOR}, "creditorAccount": {"id": CREDITOR},
            "instructedAmount": {"currency": "EUR", "amount": str(AMOUNT)},
            "endToEndIdentification": key[:35]}


def send_until_final(client: httpx.Client, key: str, deadline: float,
                     counts: Counter[str]) -> Answer:
    """What a real client does: POST under one key until the answer is final, retrying on
    transport errors and on answers that say "not known yet", with the same key."""
    while time.monotonic() < deadline:
        try:
            reply = client.post("/v1/transfers", json=_body(key),
                                headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            counts[f"transport:{type(exc).__name__}"] += 1
            continue
        data = reply.json()
        if reply.status_code in (200, 201):
            return Answer(data["transactionStatus"], None, data["paymentId"])
        code, payment_id = data.get("code"), data.get("paymentId")
        counts[code or str(reply.status_code)] += 1
        if code == "CORE_TIMEOUT" and payment_id:
            # The outcome of a timed-out payment is stored once it is resolved: reversed or
            # not booked is final (the same key keeps answering CORE_TIMEOUT for it).
            try:
                status = client.get(f"/v1/payments/{payment_id}").json()["transactionStatus"]
            except httpx.TransportError:
                continue
            if status in ("RJCT", "CANC"):
                return Answer(status, code, payment_id)
        if code not in TRANSIENT:
            return Answer(None, code, payment_id)
        time.sleep(0.2)  # a client's back-off before trying again, not a synchronisation
    return Answer(None, "UNFINISHED", None)


def _journal(url: str) -> dict[str, tuple[str, str, str]]:
    """key -> (key state, payment status, core reference), read straight from PostgreSQL."""
    with psycopg.connect(url) as con:
        rows = con.execute(
            "SELECT k.key, k.state, p.status, p.core_reference FROM idempotency_keys k"
            " JOIN payments p ON p.payment_id = k.payment_id WHERE k.caller_id = 'partner'"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _unsettled(url: str) -> int:
    with psycopg.connect(url) as con:
        row = con.execute("SELECT count(*) FROM payments"
                          " WHERE status IN ('accepted', 'in_doubt')").fetchone()
    return int(row[0]) if row else -1


def test_killing_a_replica_mid_run_moves_no_money_twice_and_loses_none(
        deployment: Deployment) -> None:
    """32 callers through HAProxy; replica 1 SIGKILLed after a third of the outcomes and
    started again: one outcome per key, booked once, totals unchanged, nothing PDNG."""
    d = deployment
    ledger = d.core.ledger
    totals_before = ledger.totals()
    debtor_before, creditor_before = ledger.balance(DEBTOR)[0], ledger.balance(CREDITOR)[0]
    answers: dict[str, Answer] = {}
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    kill_now = threading.Event()
    deadline = time.monotonic() + 50

    def caller(i: int) -> None:
        with _client(d) as client:
            for n in range(PER_CALLER):
                key = f"kill-{i:02d}-{n}"
                answer = send_until_final(client, key, deadline, counts)
                with lock:
                    answers[key] = answer
                    if len(answers) >= KILL_AFTER:
                        kill_now.set()

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(CALLERS)]
    for t in threads:
        t.start()
    assert kill_now.wait(40), f"only {len(answers)} answers before the kill point"
    d.replicas[0].kill()
    d.replicas[0].start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)

    # Every key got a final answer, and it is what the journal holds for the key.
    assert len(answers) == CALLERS * PER_CALLER
    unfinished = [k for k, a in answers.items() if a.code == "UNFINISHED"]
    assert unfinished == [], (unfinished, counts)
    stop_at = time.monotonic() + SETTLED_WITHIN
    while _unsettled(d.url) and time.monotonic() < stop_at:
        time.sleep(0.2)  # the resolvers work on their own clock; this only watches
    assert _unsettled(d.url) == 0  # nothing PDNG after the lease time
    journal = _journal(d.url)
    assert sorted(journal) == sorted(answers)  # exactly one record per key
    booked_refs = []
    for key, answer in answers.items():
        state, status, reference = journal[key]
        assert state == "completed", (key, state, status)
        if answer.status == "ACSC":
            assert status == "booked", (key, answer, status)
            booked_refs.append(reference)
        else:
            assert answer.status in ("RJCT", "CANC") or answer.code is not None, answer
            assert status in ("rejected", "reversed"), (key, answer, status)
        posting = ledger.transfer_status(reference)
        if status == "booked":
            assert posting is not None and posting.state == "booked"
            assert ledger.entry_count(reference) == 2  # booked once
        else:  # never booked, or booked and reversed: no money moved
            assert posting is None or posting.state in ("cancelled", "reversed")
            assert ledger.entry_count(reference) in (0, 4)
    booked = len(booked_refs)
    assert booked > 0
    print(f"booked {booked} of {len(answers)}; retried after: {dict(counts)}")
    minor = int(AMOUNT * 100)
    assert ledger.balance(DEBTOR)[0] == debtor_before - booked * minor
    assert ledger.balance(CREDITOR)[0] == creditor_before + booked * minor
    assert ledger.totals() == totals_before
    # A replay of a key, through either replica, answers the stored outcome.
    with _client(d) as client:
        for key in list(answers)[:: CALLERS // 4]:
            reply = client.post("/v1/transfers", json=_body(key),
                                headers={"Idempotency-Key": key})
            answer = answers[key]
            if answer.status in FINAL_STATUSES:
                # Booked, or settled unbooked by the resolver: the payment in its final
                # status, as the first final answer had it (issue 13 item 8).
                assert reply.status_code in (200, 201), (key, answer, reply.text)
                assert (reply.json()["transactionStatus"], reply.json()["paymentId"]) == (
                    answer.status, answer.payment_id)
            else:
                assert reply.status_code >= 400 and reply.json()["code"] == answer.code, (
                    key, answer, reply.text)
