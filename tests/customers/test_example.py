"""examples/mobile_device.py plays the device against a running adapter, and against a
running `bank-adapter up` as the README says, and exits 0; the ledger shows its two transfers
booked once each."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from adapter.customer_root import _seed, demo_credentials
from tests.customers.conftest import CustomerBank
from tests.e2e.up_process import UpProcess, free_port_args


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



def test_mobile_device_example_runs_against_bank_adapter_up(tmp_path: Path) -> None:
    """The README's own steps: `bank-adapter up` seeds the demo customers (production Argon2id
    parameters), then `examples/mobile_device.py --state-dir DIR` plays alice's device against
    it and exits 0; the banner says where the passwords are and `up` stops cleanly."""
    state = tmp_path / "state"
    up = UpProcess(state, *free_port_args())
    try:
        up.wait_for(lambda line: "Press Ctrl-C to stop." in line)
        banner = "".join(up.seen)
        found = re.search(r"REST\s+https://localhost:(\d+)/v1", banner)
        assert found is not None, banner
        port = int(found.group(1))
        assert f"passwords and TOTP secrets in {state / 'demo-customers.json'}" in banner
        assert "  alice     owns 10000001\n" in banner and "  bob       owns 10000002\n" in banner
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run(
            [sys.executable, str(root / "examples" / "mobile_device.py"), "--state-dir",
             str(state), "--url", f"https://localhost:{port}"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert lines[1] == "logged in: access token bound to the device key (DPoP)"
        assert lines[2] == "balance of 10000001: 10000.00"
        assert lines[-2] == "balance of 10000001: 9899.00"
        assert lines[-1] == "logged out"
    finally:
        up.signal(signal.SIGTERM)
        code = up.wait()
        up.kill()
    assert code == 0, "".join(up.stderr)
