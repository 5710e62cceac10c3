"""The customer side's composition root and first-start provisioning.

`build_customer_service` wires settings -> customer store -> the customer service.
`provision_customers` (called by provision.provision) gives a state folder the mobile
back-end's client certificate (`mobile`), registered with the relay_customers operation,
when missing.
`seed_demo_customers` (called by `bank-adapter up`) adds two demo customers when missing,
alice (owns 10000001) and bob (owns 10000002), and writes their passwords and TOTP secrets
to demo-customers.json (0600) for `examples/mobile_device.py` and the banner. It is not part
of provision(): two Argon2id hashes at RFC 9106 cost take seconds on a small machine, and
every test adapter provisions a state folder.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapter.config import Settings
from adapter.ports.customers import CustomerStorePort
from adapter.security import credentials, pki
from adapter.services.clients import Caller, ClientRegistry, Operation, write_clients_file
from adapter.services.customers.devices import DeviceKeys, RelyingParty
from adapter.services.customers.lockout import LockoutPolicy
from adapter.services.customers.passwords import PasswordVerifier, hasher_for
from adapter.services.customers.service import CustomerPolicy, CustomerService
from adapter.stores.customers_sqlite import SqliteCustomerStore
from adapter.stores.postgres.configured import open_database
from adapter.stores.postgres.customers import PostgresCustomerStore

MOBILE_RELAY = "mobile"
DEMO_FILE = "demo-customers.json"
# (username, owned account, the other's account as a trusted payee: RTS art. 13)
DEMO_CUSTOMERS = (
    ("alice", "10000001", ("id:10000002", "iban:DE02120300000000202051")),
    ("bob", "10000002", ("id:10000001", "iban:DE89370400440532013000")),
)


def customer_policy(settings: Settings) -> CustomerPolicy:
    return CustomerPolicy(
        access_ttl=timedelta(seconds=settings.customer_access_ttl_seconds),
        idle_limit=timedelta(seconds=settings.customer_idle_seconds),
        sca_threshold=settings.customer_sca_threshold,
        lockout=LockoutPolicy(base_lock=timedelta(seconds=settings.customer_lock_seconds)))


def build_customer_service(settings: Settings, passwords: PasswordVerifier | None = None,
                           *, store: CustomerStorePort | None = None) -> CustomerService:
    """The customer service on `store` (default: SQLite, STATE/customers.db)."""
    key = credentials.load_or_create_sealing_key(settings.pki_dir / "secrets.key")
    return CustomerService(
        store or SqliteCustomerStore(settings.customers_db),
        passwords or PasswordVerifier(
            hasher_for(settings.customer_argon2_time_cost, settings.customer_argon2_memory_kib,
                       settings.customer_argon2_parallelism),
            workers=settings.customer_password_workers),
        DeviceKeys(RelyingParty(settings.customer_rp_id, "bank-adapter",
                                (settings.customer_origin,))),
        key, policy=customer_policy(settings))


def demo_credentials(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / DEMO_FILE
    if not path.exists():
        return []
    data: list[dict[str, Any]] = json.loads(path.read_text())["customers"]
    return data


def provision_customers(state_dir: Path) -> list[str]:
    created: list[str] = []
    pki_dir = state_dir / "pki"
    if pki.issue(pki_dir, MOBILE_RELAY).created:
        created.append(f"{MOBILE_RELAY}.crt")
    clients_file = state_dir / "clients.json"
    try:
        callers = ClientRegistry.load(clients_file).callers()
    except (OSError, ValueError):
        # An unreadable or invalid file is reported, naming its problem, by the start-up
        # check that follows (app.load_clients); it is never rewritten here.
        return created
    if all(c.id != MOBILE_RELAY for c in callers):
        # The relay itself owns no account and may do nothing on its certificate alone:
        # customer routes act only for the customer whose token and proofs it carries.
        write_clients_file(clients_file, [*callers, Caller(id=MOBILE_RELAY,
                                  operations=frozenset({Operation.RELAY_CUSTOMERS}))])
        created.append("clients.json: mobile")
    return created


def seed_demo_customers(settings: Settings) -> bool:
    """True if the demo customers were created now (they are kept across restarts)."""
    if (settings.state_dir / DEMO_FILE).exists():
        return False
    asyncio.run(_seed(settings))
    return True


async def open_customer_service(settings: Settings) -> CustomerService:
    """The customer service on the store the settings pick: PostgreSQL with a
    `database_url` (the store owns the database it opens; closed with the store), else
    SQLite in the state folder. A refused database is a StartupError."""
    database = await open_database(settings)
    if database is None:
        return build_customer_service(settings)
    return build_customer_service(
        settings, store=PostgresCustomerStore(database, owns_database=True))


async def _seed(settings: Settings) -> None:
    service = await open_customer_service(settings)
    out = []
    try:
        for username, account, payees in DEMO_CUSTOMERS:
            existing = await service.store.find_customer(username)
            if existing is not None:
                continue
            password = credentials.new_password()
            new = await service.add_customer(username, password, frozenset({account}))
            for payee in payees:
                await service.store.add_payee(new.customer.customer_id, payee)
            out.append({"username": username, "password": password,
                        "totp_secret": new.totp_secret, "otpauth_uri": new.otpauth_uri,
                        "accounts": [account]})
    finally:
        await service.store.aclose()
        service.passwords.close()
    path = settings.state_dir / DEMO_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"customers": out}, fh, indent=2)
        fh.write("\n")


def customer_banner(settings: Settings) -> str:
    """The banner's lines about the mobile app's demo customers."""
    lines = ["Demo customers of the mobile app (REST /v1/customer, via the 'mobile' relay"
             " certificate;", f"  passwords and TOTP secrets in {settings.state_dir / DEMO_FILE}):"]
    for c in demo_credentials(settings.state_dir):
        # Where the password is, never the password (printed output is kept like logs).
        lines.append(f"  {c['username']:<9} owns {', '.join(c['accounts'])}")
    lines.append("  play the app: python examples/mobile_device.py --state-dir "
                 f"{settings.state_dir}")
    return "\n".join(lines) + "\n"


__all__ = ["build_customer_service", "customer_banner", "demo_credentials",
           "open_customer_service", "provision_customers", "seed_demo_customers"]
