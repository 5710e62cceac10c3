"""A flood of wrong passwords against the balance inquiry it must not starve.

    PYTHONPATH=. python -m bench.password_flood [--seconds 10] [--flooders 16]

Starts a core_sim and an adapter on loopback (port 0, production Argon2id parameters),
measures the p99 of a partner's balance inquiry alone, then again while `--flooders` clients
post wrong passwords to /v1/customer/login as fast as they can; prints the wrong-password
rate (answered, and refused as busy) and both p99s. Bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from adapter.security import pki
from tests.rest.conftest import start_bank


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] * 1000 if len(samples) > 2 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--flooders", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pki.init(tmp / "pki")
        with start_bank(tmp, tmp / "pki") as bank:
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
            counts = {"401": 0, "503": 0, "other": 0}
            lock = threading.Lock()
            until = time.monotonic() + args.seconds

            def flood(n: int) -> None:
                with bank.client("mobile") as c:
                    while time.monotonic() < until:
                        # A different username each time: lockout would otherwise answer
                        # without hashing after 5 attempts.
                        r = c.post("/v1/customer/login", json={
                            "username": f"guess{n}-{time.monotonic_ns()}", "password": "nope",
                            "challengeId": "0" * 32, "assertion": {"id": "A" * 22}})
                        key = str(r.status_code) if str(r.status_code) in counts else "other"
                        with lock:
                            counts[key] += 1

            threads = [threading.Thread(target=flood, args=(i,)) for i in range(args.flooders)]
            for t in threads:
                t.start()
            loaded: list[float] = []
            inquiries(until, loaded)
            for t in threads:
                t.join()
    print(f"wrong passwords answered: {counts['401'] / args.seconds:.1f}/s (401), "
          f"refused busy: {counts['503'] / args.seconds:.1f}/s (503), other: {counts['other']}")
    print(f"balance inquiry p99: alone {_p99(alone):.1f} ms ({len(alone)} calls), "
          f"under the flood {_p99(loaded):.1f} ms ({len(loaded)} calls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
