"""Fixtures for the customer REST tests: a real core_sim and a real adapter over real mutual
TLS, customers added through the adapter's own service, and the app played by
examples/mobile_device.py's MobileApp with a software device.

Argon2 runs with cheap parameters here (each test would otherwise spend seconds hashing);
the production parameters are tested in test_passwords.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import pytest

from adapter.frontends.grpc.gen.bank.adapter.v1 import customer_admin_pb2_grpc as admin_grpc
from adapter.infra.tls import TlsFiles, grpc_channel_credentials
from adapter.services.customers import totp
from adapter.services.customers.service import CustomerService, NewCustomer
from examples.device import SoftwareDevice
from examples.mobile_device import MobileApp
from tests.customers.support import ORIGIN, PASSWORD, RP_ID
from tests.rest.conftest import Bank, start_bank

T = TypeVar("T")
AdminCall = Callable[[admin_grpc.CustomerAdminServiceStub], Coroutine[Any, Any, T]]

CHEAP_ARGON2 = {"customer_argon2_time_cost": 1, "customer_argon2_memory_kib": 1024,
                "customer_argon2_parallelism": 1}


@dataclass
class CustomerBank:
    bank: Bank

    @property
    def customers(self) -> CustomerService:
        service = self.bank.adapter.app.customers
        assert service is not None
        return service

    def add(self, username: str, accounts: set[str]) -> NewCustomer:
        new: NewCustomer = self.bank.run(self.customers.add_customer(
            username, PASSWORD, frozenset(accounts)))
        return new

    def app(self, cert: str | None = "mobile") -> MobileApp:
        return MobileApp(self.bank.client(cert), SoftwareDevice(ORIGIN, RP_ID))

    def enrolled(self, new: NewCustomer, *, login: bool = True) -> MobileApp:
        app = self.app()
        otp = totp.code_at(new.totp_secret, self.customers.now())
        app.enrol(new.customer.username, PASSWORD, otp)
        if login:
            r = app.login(new.customer.username, PASSWORD)
            assert r.status_code == 200, r.text
        return app

    def store(self, coro: Any) -> Any:
        return self.bank.run(coro)

    def booked(self, account_id: str) -> int:
        return self.bank.booked(account_id)

    def admin(self, fn: AdminCall[T], cert: str = "internal") -> T:
        """Run `fn` with a CustomerAdminService stub on a gRPC channel (mutual TLS) that
        presents `cert`, on a fresh event loop."""
        adapter = self.bank.adapter

        async def go() -> T:
            creds = grpc_channel_credentials(TlsFiles.from_dir(adapter.pki_dir, cert),
                                             adapter.ca)
            async with grpc.aio.secure_channel(adapter.grpc_target, creds) as channel:
                return await fn(admin_grpc.CustomerAdminServiceStub(channel))

        return asyncio.run(go())


@pytest.fixture(scope="package")
def cbank(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CustomerBank]:
    with start_bank(tmp_path_factory.mktemp("customers"), pki_dir, **CHEAP_ARGON2) as bank:
        yield CustomerBank(bank)


@pytest.fixture
def partner(cbank: CustomerBank) -> Iterator[httpx.Client]:
    with cbank.bank.client("partner") as c:
        yield c
