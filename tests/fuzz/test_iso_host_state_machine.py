"""A hypothesis state machine against the core's ISO 8583 host: 0200 postings and balance
inquiries, 0420 reversals and 0800 echoes in any order, on a few references that collide on
purpose, checked against a model of the ledger after every step.

Invariants (checked after every step, exactly, in minor units):
- a reference books at most once: a repeat with the same details is approved without a
  second booking, with other details it is 94 and moves nothing;
- a reversal of a booked posting restores both balances exactly; a second reversal changes
  nothing;
- a reversal of an unknown reference moves nothing and fences it: it is answered 00 (the
  host's documented "fenced" rule, so the acquirer stops repeating it) and a late original
  under that reference is refused (94), never booked;
- every balance equals the model's, a balance inquiry reports it, and the ledger's totals
  per currency never change.

Two transports drive the same machine: the host's decision alone (`IsoHost.answer`, sans
IO, with every message through the core's codec both ways), and a real mutual-TLS socket to
a started host with the 2-byte framing. Examples are bounded by the "ci" profile
(tests/conftest.py); `pytest --fuzz` runs many more.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from adapter.infra.tls import TlsFiles, client_context, server_context
from core_sim.faults import FaultSettings
from core_sim.iso8583.codec import Codec, Message
from core_sim.iso_host import IsoHost
from core_sim.ledger import Ledger
from tests.core_sim.test_iso_messages import BALANCE, ECHO, REVERSAL, TRANSFER

EUR_ACCOUNTS = ("10000001", "10000002", "10000003")  # enabled, EUR, in the demo seed
OVERDRAFT = {"10000001": 0, "10000002": 50_000, "10000003": 0}
codec = Codec()
TEMPLATES = {name: codec.decode(raw) for name, raw in
             (("transfer", TRANSFER), ("reversal", REVERSAL), ("echo", ECHO),
              ("balance", BALANCE))}

Exchange = Callable[[Message], Message | None]


class Sansio:
    """The host's decision alone: encode -> decode -> answer -> encode -> decode."""

    def __init__(self, host: IsoHost) -> None:
        self._host = host

    def __call__(self, request: Message) -> Message | None:
        reply = self._host.answer(codec.decode(codec.encode(request)))
        return None if reply is None else codec.decode(codec.encode(reply))


class OverTls:
    """One mutual-TLS connection to a started host; a request, then its framed reply."""

    def __init__(self, port: int, pki_dir: Path) -> None:
        link = TlsFiles.from_dir(pki_dir, "adapter-client")  # the core link's own CA
        context = client_context(link, link.ca)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._sock: ssl.SSLSocket = context.wrap_socket(raw, server_hostname="localhost")

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            assert chunk, "the host closed the connection"
            data += chunk
        return data

    def __call__(self, request: Message) -> Message | None:
        payload = codec.encode(request)
        self._sock.sendall(len(payload).to_bytes(2, "big") + payload)
        length = int.from_bytes(self._read(2), "big")
        return codec.decode(self._read(length))

    def close(self) -> None:
        self._sock.close()


@dataclass
class Booking:
    debtor: str
    creditor: str
    amount: int


class IsoHostMachine(RuleBasedStateMachine):
    """The model: what each reference became, and every balance; see the module docstring."""

    ledger: Ledger
    exchange: Exchange

    def __init__(self) -> None:
        super().__init__()
        self.prefix = uuid.uuid4().hex[:6].upper()  # each example has references of its own
        self.stan = 0
        self.booked: dict[str, Booking] = {}
        self.reversed: set[str] = set()  # booked, then reversed
        self.fenced: set[str] = set()  # reversed before any posting
        self.balances = {a: self.ledger.balance(a)[0] for a in EUR_ACCOUNTS}
        self.totals = self.ledger.totals()

    def reference(self, n: int) -> str:
        return f"SM{self.prefix}{n:04d}"

    def request(self, template: str, **fields: str) -> Message:
        self.stan += 1
        msg = dict(TEMPLATES[template])
        msg["11"] = f"{self.stan % 1_000_000:06d}"
        msg.update(fields)
        return msg

    def send(self, msg: Message) -> Message:
        reply = self.exchange(msg)
        assert reply is not None, f"{msg['t']} was not answered"
        assert reply["11"] == msg["11"]
        return reply

    @initialize()
    def start(self) -> None:
        pass

    @rule(n=st.integers(0, 5), pair=st.permutations(EUR_ACCOUNTS),
          amount=st.integers(1, 400_000))
    def post(self, n: int, pair: list[str], amount: int) -> None:
        ref = self.reference(n)
        debtor, creditor = pair[0], pair[1]
        reply = self.send(self.request("transfer", **{
            "37": ref, "4": f"{amount:012d}", "102": debtor, "103": creditor}))
        code = reply["39"]
        if ref in self.reversed or ref in self.fenced:
            assert code == "94", f"a reversed or fenced reference was answered {code}"
        elif ref in self.booked:
            same = self.booked[ref] == Booking(debtor, creditor, amount)
            assert code == ("00" if same else "94")
        elif self.balances[debtor] - amount < -OVERDRAFT[debtor]:
            assert code == "51"
        else:
            assert code == "00"
            self.booked[ref] = Booking(debtor, creditor, amount)
            self.balances[debtor] -= amount
            self.balances[creditor] += amount

    @rule(n=st.integers(0, 5))
    def reverse(self, n: int) -> None:
        ref = self.reference(n)
        known = self.booked.get(ref)
        debtor, creditor, amount = ((known.debtor, known.creditor, known.amount) if known
                                    else ("10000001", "10000002", 1050))
        reply = self.send(self.request("reversal", **{
            "37": ref, "4": f"{amount:012d}", "102": debtor, "103": creditor}))
        assert (reply["t"], reply["39"]) == ("0430", "00")
        if known is not None and ref not in self.reversed:
            self.reversed.add(ref)
            self.balances[known.debtor] += known.amount
            self.balances[known.creditor] -= known.amount
        elif known is None:
            self.fenced.add(ref)

    @rule()
    def echo(self) -> None:
        reply = self.send(self.request("echo"))
        assert (reply["t"], reply["39"], reply["70"]) == ("0810", "00", "301")

    @rule(account=st.sampled_from(EUR_ACCOUNTS))
    def balance(self, account: str) -> None:
        reply = self.send(self.request("balance", **{"102": account}))
        assert (reply["t"], reply["39"]) == ("0210", "00")
        # Field 54: type 01 (ledger balance), currency 978, C/D sign, 12 digits.
        ledger_amount = reply["54"][:20]
        assert ledger_amount[:7] == "0001978"
        sign = 1 if ledger_amount[7] == "C" else -1
        assert sign * int(ledger_amount[8:]) == self.balances[account]

    @invariant()
    def ledger_matches_the_model(self) -> None:
        assert {a: self.ledger.balance(a)[0] for a in EUR_ACCOUNTS} == self.balances
        assert self.ledger.totals() == self.totals


def run_machine(ledger: Ledger, make_exchange: Callable[[], Exchange],
                close: Callable[[Exchange], None], **limits: int) -> None:
    class Bound(IsoHostMachine):
        def __init__(self) -> None:
            self.ledger = ledger
            self.exchange = make_exchange()
            super().__init__()

        def teardown(self) -> None:
            close(self.exchange)

    Bound.TestCase.settings = settings(settings(), **limits)  # type: ignore[arg-type]
    Bound.TestCase().runTest()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite")
    led.seed_demo()
    yield led
    led.close()


def test_host_decisions_keep_the_ledger_model(ledger: Ledger, pki_dir: Path) -> None:
    """The machine on `IsoHost.answer` (sans IO): the profile's examples, 30 steps each."""
    host = IsoHost(ledger, FaultSettings(), server_context(TlsFiles.from_dir(pki_dir, "core")))
    run_machine(ledger, lambda: Sansio(host), lambda _: None, stateful_step_count=30)


def test_host_over_mutual_tls_keeps_the_ledger_model(ledger: Ledger, pki_dir: Path) -> None:
    """The same machine over a real TLS connection per example (fewer, shorter examples)."""
    host = IsoHost(ledger, FaultSettings(), server_context(TlsFiles.from_dir(pki_dir, "core")))
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(host.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="iso-host", daemon=True)
    thread.start()
    assert ready.wait(15), "the ISO host did not start"
    try:
        def close(exchange: Exchange) -> None:
            assert isinstance(exchange, OverTls)
            exchange.close()

        max_examples = max(15, settings().max_examples // 20)  # --fuzz: 150
        run_machine(ledger, lambda: OverTls(host.port, pki_dir), close,
                    max_examples=max_examples, stateful_step_count=20)
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        loop.close()
