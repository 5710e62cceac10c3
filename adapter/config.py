"""Settings: one place for every knob, read from flags and `BANK_ADAPTER_*` environment
variables, with embedded defaults that run on one machine (SQLite, a generated dev PKI).

Layout of the state folder (stable: operators and scripts rely on it):

    STATE/pki/        ca.crt ca.key server.* core.* adapter-client.* partner.* legacy.* internal.*
    STATE/pki/legacy.password   the demo legacy caller's WS-Security password (0600)
    STATE/pki/secrets.key       the key that seals stored WS-Security passwords (0600)
    STATE/clients.json          who may call, in which role, on which accounts
    STATE/adapter.db            idempotency keys, payment journal, event outbox
    STATE/core.db               the simulated core's ledger
    STATE/iso8583-reversals.sqlite   ISO 8583 reversals still owed to the core
"""

from __future__ import annotations

import os
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
    # Bounds per HTTPS client before it is authorised (frontends/http_guard.py).
    http_max_head_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    http_max_headers: int = Field(default=100, ge=8, le=1000)
    http_head_timeout: float = Field(default=10.0, gt=0)
    http_idle_timeout: float = Field(default=30.0, gt=0)
    http_max_connections: int = Field(default=1024, ge=1)
    http_max_connections_per_client: int = Field(default=128, ge=1)
    # The opt-in plain-HTTP listener for probes without a client certificate
    # (frontends/health_http.py): /healthz and /readyz only. None: off.
    health_port: int | None = Field(default=None, ge=0, le=65535)
    health_host: str = "127.0.0.1"

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
