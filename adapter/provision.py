"""First-start provisioning of a state folder: the dev PKI, the demo clients file and the
demo legacy caller's WS-Security password. Everything is created only when missing, so a
restart never rotates a key or a password under a running integration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from adapter.security import credentials, pki
from adapter.services.clients import (
    ALL_ACCOUNTS,
    Caller,
    ClientRegistry,
    Operation,
    Role,
    WsSecurityCredential,
    write_clients_file,
)

PARTNER_ACCOUNTS = frozenset({"10000001", "10000002"})
LEGACY_ACCOUNTS = frozenset({"10000003", "10000004", "10000005"})
LEGACY_USERNAME = "legacy"
PAYMENTS = frozenset({Operation.READ, Operation.TRANSFER, Operation.BILL_PAYMENT})


@dataclass(frozen=True)
class Provisioned:
    pki_dir: Path
    clients_file: Path
    legacy_password: str
    created: list[str]


def demo_callers(legacy_ws: WsSecurityCredential) -> list[Caller]:
    return [
        Caller(id="partner", role=Role.PARTNER, accounts=PARTNER_ACCOUNTS, operations=PAYMENTS),
        Caller(id="legacy", role=Role.LEGACY, accounts=LEGACY_ACCOUNTS, operations=PAYMENTS,
               ws_security=legacy_ws),
        # The demo internal service is the bank's payment hub: it sees every account, may
        # move money and may watch the event stream.
        Caller(id="internal", role=Role.INTERNAL, accounts=frozenset({ALL_ACCOUNTS}),
               operations=PAYMENTS | {Operation.WATCH}),
    ]


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


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
