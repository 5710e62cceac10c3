"""Settings: one place for every knob, read from flags and `BANK_ADAPTER_*` environment
variables, with embedded defaults that run on one machine (SQLite, a generated dev PKI).

Layout of the state folder (stable: operators and scripts rely on it):

    STATE/pki/        ca.crt ca.key server.* core.* adapter-client.* partner.* legacy.* internal.*
    STATE/pki/legacy.password   the demo legacy caller's WS-Security password (0600)
    STATE/pki/secrets.key       the key that seals stored WS-Security passwords (0600)
    STATE/clients.json          who may call, in which role, on which accounts
    STATE/adapter.db            idempotency keys, payment journal, event outbox
    STATE/customers.db          customers of the mobile app: hashes, sealed TOTP, devices,
                                sessions, security audit trail and alert outbox (0600)
    STATE/demo-customers.json   the demo customers' passwords and TOTP secrets (0600)
    STATE/core.db               the simulated core's ledger
    STATE/iso8583-reversals.sqlite   ISO 8583 reversals still owed to the core
"""

from __future__ import annotations

import os
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "BANK_ADAPTER_"


class ConnectorKind(StrEnum):
    SOAP = "soap"
    ISO8583 = "iso8583"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    state_dir: Path = Path("bank-adapter-state")
    host: str = "127.0.0.1"
    http_port: int = Field(default=8443, ge=0, le=65535)
    grpc_port: int = Field(default=9443, ge=0, le=65535)
    core_host: str = "127.0.0.1"
    core_soap_port: int = Field(default=7443, ge=0, le=65535)
    core_iso_port: int = Field(default=7583, ge=0, le=65535)
    core_connector: ConnectorKind = ConnectorKind.SOAP
    core_timeout: float = Field(default=5.0, gt=0)
    resolve_timeout: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    iso_terminal_id: str = Field(default="ADAPTER1", min_length=8, max_length=8)
    iso_bitmap: str = Field(default="ascii", pattern="^(ascii|binary)$")
    iso_echo_interval: float = Field(default=30.0, gt=0)
    # NORMAL: commits survive a process crash; FULL: also a power loss (an fsync per commit).
    sqlite_synchronous: str = Field(default="NORMAL", pattern="^(NORMAL|FULL)$")
    # Under load, at most one commit per linger (adapter/stores/group_commit.py, "Pacing").
    sqlite_linger_ms: float = Field(default=2.0, ge=0, le=100)
    log_level: str = "info"
    # Customers of the mobile app (adapter/services/customers; README "Authentication API").
    customer_rp_id: str = Field(default="localhost", description="WebAuthn relying party id")
    customer_origin: str = Field(default="https://localhost",
                                 description="the app's WebAuthn origin")
    customer_public_base_url: str | None = Field(
        default=None, description="the URL the app addresses (DPoP htu); default: this host")
    customer_idle_seconds: float = Field(default=300, gt=0, le=3600,
                                         description="session inactivity limit (RTS 4(3)(d))")
    customer_access_ttl_seconds: float = Field(default=300, gt=0, le=3600)
    customer_sca_threshold: Decimal = Field(default=Decimal("30.00"), ge=0,
                                            description="SCA exemption limit (RTS art. 16)")
    customer_lock_seconds: float = Field(default=900, gt=0,
                                         description="first lock time; grows 4x per lock")
    customer_password_workers: int = Field(default=1, ge=1, le=8,
                                           description="threads hashing passwords")
    # Argon2id parameters; the defaults are RFC 9106 section 4's second recommended option.
    customer_argon2_time_cost: int = Field(default=3, ge=1, le=10)
    customer_argon2_memory_kib: int = Field(default=65536, ge=1024, le=1048576)
    customer_argon2_parallelism: int = Field(default=4, ge=1, le=16)

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def clients_file(self) -> Path:
        return self.state_dir / "clients.json"

    @property
    def adapter_db(self) -> Path:
        return self.state_dir / "adapter.db"

    @property
    def customers_db(self) -> Path:
        return self.state_dir / "customers.db"

    @property
    def core_db(self) -> Path:
        return self.state_dir / "core.db"

    @property
    def core_soap_url(self) -> str:
        return f"https://{self.core_host}:{self.core_soap_port}/core/v1"


def env_defaults(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Settings given as BANK_ADAPTER_<FIELD> environment variables (flags override them)."""
    environ = dict(os.environ if environ is None else environ)
    out = {}
    for name in Settings.model_fields:
        value = environ.get(ENV_PREFIX + name.upper())
        if value is not None:
            out[name] = value
    return out
