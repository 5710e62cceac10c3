"""A flood of wrong passwords against the balance inquiry it must not starve.

    PYTHONPATH=. python -m bench.password_flood [--seconds 10] [--flooders 16] [--rate 50]
                                                [--processes 2] [--argon2-parallelism N]
                                                [--target customer|wssecurity]

Starts a core_sim and an adapter on loopback (port 0, production Argon2id parameters),
measures the p99 of a partner's balance inquiry alone, then again while `--flooders` clients
post wrong passwords (`--target customer`: to /v1/customer/login, a new username each time;
`--target wssecurity`: SOAP GetBalance calls of the legacy client with a wrong PasswordText,
issue 13 item 4's flood): as fast as they can, or, with `--rate R`, R
attempts per second offered in all whatever the answers take (an open loop: the attempts are
paced by one schedule per process, so a slow answer does not slow the flood as long as a
flooder is free). The flooders run in `--processes` child processes, so their TLS and JSON
work does not share the adapter's interpreter lock (the adapter runs in this process, as
in the tests' harness). Prints the wrong-password rate (offered, answered, refused as
busy), both p99s and their ratio. Bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from adapter.infra import tls
from adapter.security import pki
from tests.rest.conftest import start_bank

COUNTED = ("401", "503")
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-"
                 "profile-1.0#PasswordText")
WRONG_TEXT_ENVELOPE = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:b="urn:bank:adapter:soap:v1"><s:Header>'
    f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
    "<wsse:Username>legacy</wsse:Username>"
    f'<wsse:Password Type="{PASSWORD_TEXT}">not-the-password</wsse:Password>'
    "</wsse:UsernameToken></wsse:Security></s:Header><s:Body><b:GetBalance><b:Account>"
    "<b:AccountId>10000001</b:AccountId></b:Account></b:GetBalance></s:Body></s:Envelope>"
).encode()


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] * 1000 if len(samples) > 2 else float("nan")


def _flood(base_url: str, pki_dir: str, flooders: int, rate: float, start: float,
           until: float, tag: int, out: multiprocessing.Queue,  # type: ignore[type-arg]
           target: str = "customer") -> None:
    """One child process: `flooders` threads posting wrong passwords until `until` (wall
    clock), at `rate` per second in all for this process (0: as fast as answered)."""
    counts = dict.fromkeys((*COUNTED, "other", "failed"), 0)
    lock = threading.Lock()
    ticket = [0]
    context = tls.client_context(
        tls.TlsFiles.from_dir(Path(pki_dir), "mobile" if target == "customer" else "legacy"),
        Path(pki_dir) / "ca.crt")

    def pace() -> bool:
        """Wait for the next attempt's slot of the schedule; False once the flood is over."""
        if rate <= 0:
            return time.time() < until
        with lock:
            at = start + ticket[0] / rate
            ticket[0] += 1
        if at >= until:
            return False
        time.sleep(max(0.0, at - time.time()))
        return True

    def flooder(n: int) -> None:
        with httpx.Client(verify=context, base_url=base_url, timeout=30) as c:
            while pace():
                # A different username each time: lockout would otherwise answer without
                # hashing after 5 attempts.
                try:
                    if target == "customer":
                        r = c.post("/v1/customer/login", json={
                            "username": f"guess{tag}-{n}-{time.monotonic_ns()}",
                            "password": "nope", "challengeId": "0" * 32,
                            "assertion": {"id": "A" * 22}})
                        key = str(r.status_code) if str(r.status_code) in COUNTED else "other"
                    else:
                        r = c.post("/soap/v1", content=WRONG_TEXT_ENVELOPE, headers={
                            "content-type": "text/xml; charset=utf-8",
                            "soapaction": '"GetBalance"'})
                        # A wrong password is UNAUTHENTICATED (hashed); past the gate's
                        # per-client throttle it is RATE_LIMITED, refused without hashing.
                        key = ("401" if b"<tns:Code>UNAUTHENTICATED<" in r.content else
                               "503" if b"<tns:Code>RATE_LIMITED<" in r.content else "other")
                except httpx.HTTPError:
                    key = "failed"
                with lock:
                    counts[key] += 1

    threads = [threading.Thread(target=flooder, args=(i,)) for i in range(flooders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--flooders", type=int, default=16, help="flooder threads in all")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="wrong passwords offered per second in all (0: as fast as the "
                             "flooders get answers)")
    parser.add_argument("--processes", type=int, default=2,
                        help="child processes the flooders are spread over")
    parser.add_argument("--target", choices=("customer", "wssecurity"), default="customer",
                        help="customer logins (Argon2id) or the legacy client's WS-Security "
                             "PasswordText (scrypt)")
    parser.add_argument("--argon2-parallelism", type=int, default=None,
                        help="the adapter's customer_argon2_parallelism (default: its own)")
    args = parser.parse_args(argv)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process running threads
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pki.init(tmp / "pki")
        overrides = ({} if args.argon2_parallelism is None
                     else {"customer_argon2_parallelism": args.argon2_parallelism})
        with start_bank(tmp, tmp / "pki", **overrides) as bank:
            customers = bank.adapter.app.customers
            assert customers is not None
            bank.run(customers.add_customer("victim", "the right password", frozenset()),
                     timeout=60)

            def inquiries(until: float, out: list[float]) -> None:
                with bank.client("partner") as c:
                    while time.monotonic() < until:
                        t = time.perf_counter()
                        assert c.get("/v1/accounts/10000001/balances").status_code == 200
                        out.append(time.perf_counter() - t)

            alone: list[float] = []
            inquiries(time.monotonic() + args.seconds / 2, alone)
            queue = spawn.Queue()
            # The children need a moment to import; the flood starts for all at once.
            start = time.time() + 3.0
            until = start + args.seconds
            procs = [
                spawn.Process(target=_flood, args=(
                    bank.adapter.base_url, str(bank.adapter.pki_dir),
                    max(1, args.flooders // args.processes), args.rate / args.processes,
                    start, until, p, queue, args.target))
                for p in range(args.processes)
            ]
            for proc in procs:
                proc.start()
            time.sleep(max(0.0, start - time.time()))
            loaded: list[float] = []
            inquiries(time.monotonic() + args.seconds, loaded)
            counts = dict.fromkeys((*COUNTED, "other", "failed"), 0)
            for _ in procs:
                for key, value in queue.get(timeout=120).items():
                    counts[key] += value
            for proc in procs:
                proc.join(30)
    offered = sum(counts.values()) / args.seconds
    print(f"wrong passwords offered: {offered:.1f}/s; answered: "
          f"{counts['401'] / args.seconds:.1f}/s (401 / UNAUTHENTICATED), "
          f"refused without hashing: {counts['503'] / args.seconds:.1f}/s (503 busy / "
          f"RATE_LIMITED), other: {counts['other']}, "
          f"failed: {counts['failed']}")
    print(f"balance inquiry p99: alone {_p99(alone):.1f} ms ({len(alone)} calls), "
          f"under the flood {_p99(loaded):.1f} ms ({len(loaded)} calls); "
          f"ratio {_p99(loaded) / _p99(alone):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
