"""The clients file: who may call the adapter, which operations, on which accounts.

A caller is identified by the common name (CN) of its client certificate, already verified
against the callers' CA and CRL by TLS. A running adapter reloads the file when it changes
(`replace_with`, called by `adapter.app.AdapterApp.reload`). The clients file (JSON) maps
that CN to the operations and accounts it may use. Anything not granted is FORBIDDEN: there
is no default client.

    {"clients": [
      {"id": "partner", "accounts": ["10000001", "10000002"],
       "operations": ["read", "transfer", "bill_payment"]},
      {"id": "internal", "accounts": ["*"],
       "operations": ["customer_admin", "read", "watch"]}
    ]}

A `role` member, which files written by earlier versions carry, is ignored: no decision ever
depended on it; what a caller may do is its operations and accounts.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from adapter.model.errors import Forbidden, Unauthenticated
from adapter.services.principal import Credentials

ALL_ACCOUNTS = "*"


class Operation(StrEnum):
    READ = "read"  # accounts, balances, history, payment status
    TRANSFER = "transfer"
    BILL_PAYMENT = "bill_payment"
    WATCH = "watch"  # the gRPC transaction event stream
    # The bank's mobile back-end: relays customer requests to /v1/customer. It acts only with a
    # customer's own proofs (adapter/services/customers), never on its certificate alone.
    RELAY_CUSTOMERS = "relay_customers"
    # Reading the adapter's Prometheus metrics (GET /metrics on the mutual-TLS listener).
    METRICS = "metrics"
    # Internal services administering mobile-app customers over gRPC (CustomerAdminService):
    # unlock, list and revoke devices, reset the TOTP secret. Accounts do not limit it.
    CUSTOMER_ADMIN = "customer_admin"


class WsSecurityCredential(BaseModel):
    """A legacy caller's WS-Security UsernameToken secret (see security.credentials)."""

    username: str
    password_hash: str
    password_sealed: str


class Caller(BaseModel):
    """A registered client: a `services.principal.Principal` of kind "client"."""

    # extra="ignore": an old file's `role` member loads (see the module docstring).
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: ClassVar[str] = "client"

    id: str = Field(description="the client certificate's CN")
    accounts: frozenset[str] = frozenset()
    operations: frozenset[Operation] = frozenset()
    ws_security: WsSecurityCredential | None = None

    @property
    def all_accounts(self) -> bool:
        return ALL_ACCOUNTS in self.accounts

    def may_use_account(self, account_id: str) -> bool:
        return self.all_accounts or account_id in self.accounts

    def require(self, operation: Operation) -> None:
        if operation not in self.operations:
            raise Forbidden(f"this client may not perform '{operation.value}'")

    def require_account(self, account_id: str) -> None:
        if not self.may_use_account(account_id):
            # Same message whether the account exists or not: no account enumeration.
            raise Forbidden("this client may not use this account")


class ClientsFile(BaseModel):
    clients: list[Caller]


class ClientRegistry:
    def __init__(self, callers: list[Caller]) -> None:
        self._by_id = {c.id: c for c in callers}

    @classmethod
    def load(cls, path: Path) -> ClientRegistry:
        return cls(ClientsFile.model_validate_json(path.read_bytes()).clients)

    def replace_with(self, other: ClientRegistry) -> None:
        """Serve `other`'s callers from now on (a reloaded clients file): one reference swap,
        so a lookup sees the old file or the new one, never a mix."""
        self._by_id = other._by_id

    def callers(self) -> list[Caller]:
        return list(self._by_id.values())

    def get(self, client_id: str) -> Caller | None:
        return self._by_id.get(client_id)

    def authenticate(self, cert_cn: str | None) -> Caller:
        """The caller for a verified certificate CN; FORBIDDEN if the CN is not registered."""
        if cert_cn is None:
            # TLS admits no connection without a certificate: None is one revoked since.
            raise Unauthenticated("a valid client certificate is required: none was presented "
                                  "or it has been revoked")
        caller = self._by_id.get(cert_cn)
        if caller is None:
            raise Forbidden("this client certificate is not registered with the adapter")
        return caller

    def resolve(self, credentials: Credentials) -> Caller:
        """The call pipeline's principal resolver for certificate callers (always the last)."""
        return self.authenticate(credentials.certificate_cn)

    def by_ws_username(self, username: str) -> Caller | None:
        for caller in self._by_id.values():
            if caller.ws_security is not None and caller.ws_security.username == username:
                return caller
        return None


def write_clients_file(path: Path, callers: list[Caller]) -> None:
    """Write atomically (rename) with mode 0600: the file holds sealed secrets."""
    body = ClientsFile(clients=callers).model_dump(mode="json", exclude_none=True)
    for entry in body["clients"]:
        entry["accounts"] = sorted(entry["accounts"])
        entry["operations"] = sorted(entry["operations"])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".clients-")
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
