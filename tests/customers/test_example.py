"""examples/mobile_device.py plays the device against a running adapter and exits 0, and
the ledger shows its two transfers booked once each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adapter.customer_root import _seed, demo_credentials
from tests.customers.conftest import CustomerBank


def test_mobile_device_example_runs_against_the_adapter(cbank: CustomerBank,
                                                        tmp_path: Path) -> None:
    adapter = cbank.bank.adapter
    # The demo customers as `bank-adapter up` seeds them, with this adapter's cheap hashing.
    if not demo_credentials(adapter.state_dir):
        adapter.run(_seed(adapter.app.settings))
    a1, a2 = cbank.booked("10000001"), cbank.booked("10000002")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "mobile_device.py"), "--state-dir",
         str(adapter.state_dir), "--url", adapter.base_url],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "logged in: access token bound to the device key (DPoP)"
    assert "(sca: exempt)" in lines[3] and "(sca: sca)" in lines[4]
    assert lines[-1] == "logged out"
    assert (cbank.booked("10000001"), cbank.booked("10000002")) == (a1 - 10100, a2 + 10100)

