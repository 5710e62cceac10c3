"""`bank-adapter up` as an operator runs it: a real process tree, real ports, real mutual TLS."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapter.infra.tls import TlsFiles, client_context, grpc_channel_credentials
from core_sim.demo_data import DEMO_ACCOUNTS

READY = "Press Ctrl-C to stop."
IBAN_1, IBAN_2 = "DE89370400440532013000", "DE02120300000000202051"
UNKNOWN_IBAN = "DE75512108001245126199"


def _read_until_ready(proc: subprocess.Popen[str],
                      lines: queue.Queue[str | None], limit: float = 60) -> str:
    seen = []
    while True:
        line = lines.get(timeout=limit)
        assert line is not None, "bank-adapter up exited early:\n" + "".join(seen)
        seen.append(line)
        if READY in line:
            return "".join(seen)


def _port(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match is not None, text
    return int(match.group(1))


def _start_up(state: Path) -> tuple[subprocess.Popen[str], queue.Queue[str | None]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANK_ADAPTER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapter.cli", "up", "--state-dir", str(state),
         "--http-port", "0", "--grpc-port", "0", "--core-soap-port", "0",
         "--core-iso-port", "0", "--log-level", "debug"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _banner_balances(banner: str) -> dict[str, str]:
    """Account id -> the balance column of the banner's demo account table."""
    found = re.findall(r"^  (\d{8})  [A-Z]{3}  \S+\s+(\S+)  ", banner, re.MULTILINE)
    return dict(found)


def _assert_no_secret(banner: str, password: str, state: Path | None = None) -> None:
    assert password not in banner
    if state is not None:  # the demo customers' passwords stay in their 0600 file
        customers = json.loads((state / "demo-customers.json").read_text())["customers"]
        assert customers and all(c["password"] not in banner for c in customers)
    for account in DEMO_ACCOUNTS:
        if account.iban:
            assert account.iban not in banner, f"the banner shows {account.iban} in full"
            assert "*" * (len(account.iban) - 4) + account.iban[-4:] in banner
    assert re.search(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b", banner) is None


def test_up_serves_all_three_protocols_and_stops_cleanly(tmp_path: Path) -> None:
    """`up` provisions a state folder, serves REST, SOAP and gRPC, and exits 0 on SIGTERM."""
    state = tmp_path / "state"
    proc, lines = _start_up(state)
    try:
        banner = _read_until_ready(proc, lines)
        http_port = _port(r"REST\s+https://localhost:(\d+)/v1", banner)
        grpc_port = _port(r"gRPC\s+localhost:(\d+)", banner)
        password = (state / "pki" / "legacy.password").read_text().strip()
        assert f"password in\n            {state / 'pki' / 'legacy.password'}\n" in banner
        _assert_no_secret(banner, password, state)
        assert _banner_balances(banner) == {a.account_id: a.balance for a in DEMO_ACCOUNTS}
        for name in ("ca", "server", "core", "adapter-client", "partner", "legacy", "internal"):
            assert (state / "pki" / f"{name}.crt").exists()
        assert (state / "clients.json").exists() and (state / "core.db").exists()

        pki = state / "pki"
        ctx = client_context(TlsFiles.from_dir(pki, "partner"), pki / "ca.crt")
        with httpx.Client(verify=ctx, base_url=f"https://localhost:{http_port}") as http:
            accounts = http.get("/v1/accounts")
            assert accounts.status_code == 200
            ids = [a["resourceId"] for a in accounts.json()["accounts"]]
            assert ids == ["10000001", "10000002"]
            wsdl = http.get("/soap/v1?wsdl")
            assert wsdl.status_code == 200 and b"TransferFunds" in wsdl.content
            paid = http.post("/v1/transfers", headers={"Idempotency-Key": "up-1"}, json={
                "debtorAccount": {"iban": IBAN_1}, "creditorAccount": {"iban": IBAN_2},
                "instructedAmount": {"currency": "EUR", "amount": "1.00"},
                "endToEndIdentification": "UP-1"})
            assert paid.status_code == 201
            unknown = http.get(f"/v1/accounts/{UNKNOWN_IBAN}/balances")
            assert unknown.status_code == 404

        creds = grpc_channel_credentials(TlsFiles.from_dir(pki, "internal"), pki / "ca.crt")
        with grpc.secure_channel(f"localhost:{grpc_port}", creds) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING

        # Every SQLite file and its -wal/-shm, open and written to right now, is 0600.
        sqlite_files = sorted(p.name for p in state.glob("*.db*"))
        assert sqlite_files == ["adapter.db", "adapter.db-shm", "adapter.db-wal",
                                "core.db", "core.db-shm", "core.db-wal",
                                "customers.db", "customers.db-shm", "customers.db-wal"]
        modes = {n: oct(stat.S_IMODE((state / n).stat().st_mode)) for n in sqlite_files}
        assert set(modes.values()) == {"0o600"}, modes
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    logs = []
    while (line := lines.get(timeout=10)) is not None:
        logs.append(line)
    text = "".join(logs)
    assert "payment" in text and "accepted" in text  # the debug log did record the payment
    for secret in (IBAN_1, IBAN_2, UNKNOWN_IBAN, "10000001", "10000002", password):
        assert secret not in text, f"a log line shows {secret!r} in full"

    # A restart shows the balances the ledger holds now, not the seed table.
    proc, lines = _start_up(state)
    try:
        banner = _read_until_ready(proc, lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    balances = _banner_balances(banner)
    assert (balances["10000001"], balances["10000002"]) == ("9999.00", "2501.00")
    assert balances["10000003"] == "5000.00"
    _assert_no_secret(banner, password)
