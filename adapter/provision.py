"""First-start provisioning of a state folder: the dev PKI, the demo clients file and the
demo legacy caller's WS-Security password. Everything is created only when missing, so a
restart never rotates a key or a password under a running integration.

Invariants:
- Rule 1: secrets (keys, the password, the clients file, every SQLite file and its -wal/-shm)
  are readable by their owner only (0600); `restrict_sqlite_files` repairs files an older
  version created 0644.
- Rule 2: `check_state_dir` proves the folder writable before anything is made in it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from adapter.config import StartupError, os_reason
from adapter.security import credentials, pki
from adapter.services.clients import (
    ALL_ACCOUNTS,
    Caller,
    ClientRegistry,
    Operation,
    WsSecurityCredential,
    write_clients_file,
)

PARTNER_ACCOUNTS = frozenset({"10000001", "10000002"})
LEGACY_ACCOUNTS = frozenset({"10000003", "10000004", "10000005"})
LEGACY_USERNAME = "legacy"
PAYMENTS = frozenset({Operation.READ, Operation.TRANSFER, Operation.BILL_PAYMENT})
SQLITE_FILES = ("*.db", "*.db-wal", "*.db-shm", "*.sqlite", "*.sqlite-wal", "*.sqlite-shm")


@dataclass(frozen=True)
class Provisioned:
    pki_dir: Path
    clients_file: Path
    legacy_password: str
    created: list[str]


def demo_callers(legacy_ws: WsSecurityCredential) -> list[Caller]:
    return [
        Caller(id="partner", accounts=PARTNER_ACCOUNTS, operations=PAYMENTS),
        Caller(id="legacy", accounts=LEGACY_ACCOUNTS, operations=PAYMENTS,
               ws_security=legacy_ws),
        # The demo internal service is the bank's payment hub: it sees every account, may
        # move money, may watch the event stream, may read the metrics and administers the
        # app's customers.
        Caller(id="internal", accounts=frozenset({ALL_ACCOUNTS}),
               operations=PAYMENTS | {Operation.WATCH, Operation.METRICS,
                                      Operation.CUSTOMER_ADMIN}),
    ]


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def check_state_dir(state_dir: Path) -> None:
    """Make the folder if missing and prove it writable (Rule 2), or raise a StartupError
    naming it. A probe file is the test: permission bits do not tell (root, ACLs, ro mounts)."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=state_dir, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StartupError(f"the state folder {state_dir} is not writable: {os_reason(exc)}",
                           setting="state_dir") from exc


def restrict_sqlite_files(state_dir: Path) -> None:
    """Rule 1 for SQLite files made before it held (new ones are made 0600 under umask 077)."""
    for pattern in SQLITE_FILES:
        for path in state_dir.glob(pattern):
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)


def provision(state_dir: Path) -> Provisioned:
    state_dir.mkdir(parents=True, exist_ok=True)
    pki_dir = state_dir / "pki"
    created = [item.name for item in pki.init(pki_dir) if item.created]
    sealing_key = credentials.load_or_create_sealing_key(pki_dir / "secrets.key")
    password_file = pki_dir / "legacy.password"
    if password_file.exists():
        password = password_file.read_text().strip()
    else:
        password = credentials.new_password()
        _write_secret(password_file, password)
        created.append("legacy.password")
    clients_file = state_dir / "clients.json"
    if not clients_file.exists():
        ws = WsSecurityCredential(
            username=LEGACY_USERNAME,
            password_hash=credentials.hash_password(password),
            password_sealed=credentials.seal(password, sealing_key),
        )
        write_clients_file(clients_file, demo_callers(ws))
        created.append("clients.json")
    from adapter.customer_root import provision_customers

    created += provision_customers(state_dir)
    return Provisioned(pki_dir, clients_file, password, created)


def register_client(state_dir: Path, caller: Caller) -> None:
    """Add (or replace) one caller in the clients file: onboarding after `pki issue`."""
    path = state_dir / "clients.json"
    callers = ClientRegistry.load(path).callers() if path.exists() else []
    callers = [c for c in callers if c.id != caller.id] + [caller]
    write_clients_file(path, callers)
