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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    # A pool of core nodes on one ledger (adapter/connectors/pool); empty: the one core above.
    core_nodes: tuple[str, ...] = Field(
        default=(), description="a core node as host:soap_port:iso_port[:weight]; repeat the "
        "flag for each node (env: comma-separated); replaces --core-host and its ports")
    # The values of adapter.connectors.pool.strategies.BalanceKind (config imports no connector).
    core_balance: Literal["round-robin", "least-outstanding", "weighted-round-robin",
                          "primary-secondary"] = Field(
        default="round-robin", description="how requests are spread over the core "
        "nodes: round-robin, least-outstanding, weighted-round-robin or primary-secondary")
    core_health_interval: float = Field(
        default=1.0, gt=0, le=3600,
        description="seconds between active health checks of each core node")
    core_health_timeout: float = Field(
        default=1.0, gt=0, le=60, description="seconds a core node's health check may take")
    core_eject_after: int = Field(
        default=5, ge=1, le=1000,
        description="consecutive failed calls that eject a core node (open its breaker)")
    core_eject_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="first ejection time of a core node, in "
        "seconds; each further ejection adds as much, up to --core-eject-max-seconds")
    core_eject_max_seconds: float = Field(
        default=30.0, gt=0, le=86400, description="longest ejection time of a core node")
    core_half_open_probes: int = Field(
        default=1, ge=1, le=100,
        description="calls let through at once to a core node whose ejection has ended")

    @field_validator("core_nodes", mode="before")
    @classmethod
    def _split_nodes(cls, value: object) -> object:
        # The environment variable carries every node in one comma-separated string.
        if isinstance(value, str):
            return tuple(v for v in (p.strip() for p in value.split(",")) if v)
        return value

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
