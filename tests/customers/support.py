"""Shared pieces of the customer tests: a settable clock, cheap Argon2 parameters, a service
on a given store, and a customer enrolled with a software device."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from adapter.ports.customers import CustomerStorePort
from adapter.services.customers import totp
from adapter.services.customers.devices import DeviceKeys, RelyingParty
from adapter.services.customers.dpop import ProofRequest
from adapter.services.customers.passwords import PasswordVerifier
from adapter.services.customers.service import CustomerPolicy, CustomerService, Tokens
from examples.device import SoftwareDevice

ORIGIN = "https://localhost"
RP_ID = "localhost"
PASSWORD = "correct horse battery"
LOGIN_URL = "https://localhost/v1/customer/login"


class Clock:
    """A clock the test moves by hand: no sleeps."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    @property
    def ts(self) -> int:
        return int(self.now.timestamp())


def cheap_hasher() -> PasswordHasher:
    # Tests check behaviour, not cost: RFC 9106 parameters would make each test seconds long.
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_service(store: CustomerStorePort, clock: Clock, **policy: object) -> CustomerService:
    return CustomerService(
        store, PasswordVerifier(cheap_hasher()),
        DeviceKeys(RelyingParty(RP_ID, "bank-adapter", (ORIGIN,))), Fernet.generate_key(),
        policy=CustomerPolicy(**policy),  # type: ignore[arg-type]
        clock=clock)


@dataclass
class Enrolled:
    username: str
    customer_id: str
    secret: str
    device: SoftwareDevice


async def enrol(service: CustomerService, clock: Clock, username: str = "alice",
                accounts: frozenset[str] = frozenset({"10000001"})) -> Enrolled:
    new = await service.add_customer(username, PASSWORD, accounts)
    device = SoftwareDevice(ORIGIN, RP_ID)
    cid, options = await service.start_enrolment(
        username, PASSWORD, totp.code_at(new.totp_secret, clock.now))
    await service.finish_enrolment(cid, device.register(options), "test phone")
    clock.advance(seconds=30)  # the next TOTP step, for tests that enrol again
    return Enrolled(username, new.customer.customer_id, new.totp_secret, device)


async def login(service: CustomerService, clock: Clock, who: Enrolled,
                password: str = PASSWORD) -> Tokens:
    cid, options = await service.start_login()
    return await service.finish_login(
        who.username, password, cid, who.device.assert_(options),
        who.device.dpop("POST", LOGIN_URL, iat=clock.ts), ProofRequest("POST", LOGIN_URL))
