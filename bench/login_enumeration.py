"""Username enumeration by timing: a wrong password for a customer against any password for a
username nobody has, over the real customer API.

    PYTHONPATH=. python -m bench.login_enumeration [--rounds 40]

Starts a core_sim and an adapter on loopback (port 0, production Argon2id parameters), adds
one customer, then times `POST /v1/customer/login` with a wrong password, alternating the
known and the unknown username round by round (so drift of a shared machine hits both alike).
The lock state of both usernames is cleared between rounds, outside the timed request, so
every timed attempt is a full check rather than a refusal of a locked username. Prints the
median and p90 of each and the ratio of the medians (1.00 = indistinguishable).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from adapter.ports.customers import LockState
from adapter.security import pki
from examples.device import SoftwareDevice
from examples.mobile_device import MobileApp
from tests.rest.conftest import start_bank

KNOWN, UNKNOWN = "victim", "nobody-has-this-name"


def _ms(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=10)[q - 1] * 1000 if q < 10 else max(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pki.init(tmp / "pki")
        with start_bank(tmp, tmp / "pki") as bank:
            customers = bank.adapter.app.customers
            assert customers is not None
            bank.run(customers.add_customer(KNOWN, "the right password", frozenset()),
                     timeout=60)
            times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
            with bank.client("mobile") as http:
                app = MobileApp(http, SoftwareDevice("https://localhost", "localhost"))
                for i in range(args.rounds):
                    order = (KNOWN, UNKNOWN) if i % 2 == 0 else (UNKNOWN, KNOWN)
                    for username in order:
                        for name in (KNOWN, UNKNOWN):
                            bank.run(customers.store.save_lock(name, LockState()))
                        start = app.call("POST", "/v1/customer/login/start", auth=False,
                                         proof=False, expect=200).json()
                        body = {"username": username, "password": "a wrong password",
                                "challengeId": start["challengeId"],
                                "assertion": app.device.assert_(start["publicKey"])}
                        t0 = time.perf_counter()
                        r = app.call("POST", "/v1/customer/login", body, auth=False)
                        times[username].append(time.perf_counter() - t0)
                        assert r.status_code == 401, r.text
    known, unknown = times[KNOWN], times[UNKNOWN]
    print(f"rounds {args.rounds}, production Argon2id parameters, one hashing thread")
    for label, samples in (("known username, wrong password", known),
                           ("unknown username", unknown)):
        print(f"  {label:<32} median {statistics.median(samples) * 1000:7.1f} ms   "
              f"p90 {_ms(samples, 9):7.1f} ms")
    ratio = statistics.median(unknown) / statistics.median(known)
    print(f"  median ratio unknown/known: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
