"""Settings: one place for every knob of the adapter, with embedded defaults that run on one
machine (SQLite, a generated dev PKI).

Owns the `Settings` model. Every field carries a `description=`; `adapter.cli_settings`
generates from the fields, and only from them, the `bank-adapter up` flags, the
`BANK_ADAPTER_*` environment variables and the README's settings table.

Invariants:
- Rule 1: a field is a setting: it has a flag `--field-name`, an environment variable
  `BANK_ADAPTER_FIELD_NAME` and a description, and nothing else reads the environment for it.
- Rule 2: a field's type and constraints are the whole of its validation (the CLI validates a
  flag or a variable against exactly that), so a refused value is refused everywhere alike.
- Rule 3: a list-valued field's items validate from one string each (a repeatable flag, or
  one item of a comma-separated variable).

Layout of the state folder (stable: operators and scripts rely on it):

    STATE/pki/        ca.crt ca.key ca.crl (the callers' CA) server.* partner.* legacy.* internal.*
                      core-link-ca.crt .key .crl (the core link's CA) core.* adapter-client.*
                      core-operator.*; revoked/ and superseded/ hold retired certificates
    STATE/pki/legacy.password   the demo legacy caller's WS-Security password (0600)
    STATE/pki/secrets.key       the key that seals stored WS-Security passwords (0600)
    STATE/clients.json          who may call, in which role, on which accounts
    STATE/adapter.db            idempotency keys, payment journal, event outbox
    STATE/customers.db          customers of the mobile app: hashes, sealed TOTP, devices,
                                sessions, security audit trail and alert outbox (0600)
    STATE/demo-customers.json   the demo customers' passwords and TOTP secrets (0600)
    STATE/core.db               the simulated core's ledger
    STATE/iso8583-reversals.sqlite   ISO 8583 reversals still owed to the core
    STATE/security-events.sqlite     intrusion thresholds crossed (services/intrusion.py)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from adapter.model.rates import parse_operation_rate, parse_rate

ENV_PREFIX = "BANK_ADAPTER_"
# Rule 3: the separator of a list-valued environment variable.
LIST_SEPARATOR = ","

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


# libpq's two URI schemes (PostgreSQL docs, 34.1.1.2 "Connection URIs").
DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")


def _postgres_url(value: str) -> str:
    if not value.startswith(DATABASE_URL_SCHEMES):
        raise ValueError("a PostgreSQL URL must start with postgresql:// "
                         "(postgresql://user@host:5432/dbname)")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_postgres_url)]


# The intrusion signals (services/intrusion.py) a threshold can be set for.
INTRUSION_SIGNALS = ("tls_handshake_failed", "certificate_refused", "authentication_failed",
                     "rate_limited", "lockout")


def _rate(text: str) -> str:
    parse_rate(text)
    return text.strip()


def _operation_rate(text: str) -> str:
    parse_operation_rate(text)
    return text.strip()


# `database` is the --database-url PostgreSQL (adapter/stores/postgres/rate_limits.py).
RATE_STORAGE_NAMES = ("memory", "database")
RATE_STORAGE_NEEDS_DATABASE = ("--rate-limit-storage database keeps the budgets in the "
                               "PostgreSQL database: give --database-url postgresql://...")


def _rate_storage(text: str) -> str:
    if text not in RATE_STORAGE_NAMES and not text.startswith(("redis://", "rediss://")):
        raise ValueError(f"{text!r}: use memory, database or a redis:// (rediss://) URL")
    return text


def _threshold(text: str) -> str:
    signal, sep, count = text.partition("=")
    if not sep or signal.strip() not in INTRUSION_SIGNALS or not count.strip().isdigit() \
            or int(count) < 1:
        raise ValueError(f"{text!r} is not SIGNAL=N with N >= 1 and SIGNAL one of "
                         + ", ".join(INTRUSION_SIGNALS))
    return f"{signal.strip()}={int(count)}"


RateText = Annotated[str, AfterValidator(_rate)]
OperationRate = Annotated[str, AfterValidator(_operation_rate)]
RateStorage = Annotated[str, AfterValidator(_rate_storage)]
Threshold = Annotated[str, AfterValidator(_threshold)]


class ConnectorKind(StrEnum):
    SOAP = "soap"
    ISO8583 = "iso8583"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    state_dir: Path = Field(
        default=Path("bank-adapter-state"), json_schema_extra={"metavar": "DIR"},
        description="folder of the PKI, the clients file and the databases")
    host: str = Field(
        default="127.0.0.1", min_length=1, json_schema_extra={"metavar": "HOST"},
        description="address the adapter's HTTPS and gRPC listeners bind to")
    http_port: int = Field(
        default=8443, ge=0, le=65535, json_schema_extra={"metavar": "PORT"},
        description="the adapter's HTTPS port, REST and SOAP under /soap/v1; 0 picks a free port")
    grpc_port: int = Field(
        default=9443, ge=0, le=65535, json_schema_extra={"metavar": "PORT"},
        description="the adapter's gRPC port; 0 picks a free port")
    core_host: str = Field(
        default="127.0.0.1", min_length=1, json_schema_extra={"metavar": "HOST"},
        description="address of the core: the simulated core binds to it, the adapter calls it")
    core_soap_port: int = Field(
        default=7443, ge=0, le=65535, json_schema_extra={"metavar": "PORT"},
        description="the core's SOAP port; 0 lets the simulated core pick a free one")
    core_iso_port: int = Field(
        default=7583, ge=0, le=65535, json_schema_extra={"metavar": "PORT"},
        description="the core's ISO 8583 port; 0 lets the simulated core pick a free one")
    core_connector: ConnectorKind = Field(
        default=ConnectorKind.SOAP,
        description="how the adapter talks to the core")
    core_timeout: float = Field(
        default=5.0, gt=0, json_schema_extra={"metavar": "SECONDS"},
        description="seconds the adapter waits for the core before it resolves the call")
    resolve_timeout: float = Field(
        default=10.0, gt=0, json_schema_extra={"metavar": "SECONDS"},
        description="seconds one resolution of an unanswered posting (status query or "
                    "reversal) may take before the payment is left in doubt for the resolver")
    max_body_bytes: int = Field(
        default=256 * 1024, gt=0, json_schema_extra={"metavar": "BYTES"},
        description="largest REST or SOAP request body accepted, in bytes; a larger one gets 413")
    iso_terminal_id: str = Field(
        default="ADAPTER1", min_length=8, max_length=8,
        description="ISO 8583 field 41, the card acceptor terminal id, ans 8")
    iso_bitmap: Literal["ascii", "binary"] = Field(
        default="ascii",
        description="ISO 8583 bitmap encoding: ascii is 16 hex characters, binary 8 bytes")
    # A stopped core is reported within echo interval + liveness timeout
    # (adapter/connectors/iso8583/liveness.py).
    iso_echo_interval: float = Field(
        default=1.0, gt=0, json_schema_extra={"metavar": "SECONDS"},
        description="seconds of idleness before an ISO 8583 echo test: 0800 with field 70 = 301")
    iso_liveness_timeout: float = Field(
        default=2.0, gt=0, json_schema_extra={"metavar": "SECONDS"},
        description="an ISO 8583 link owing a reply with nothing received for this many "
                    "seconds is unhealthy: new postings are refused at once")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="durability of the adapter's SQLite files: NORMAL survives a process "
                    "crash, FULL also a power loss, at an fsync per commit")
    sqlite_linger_ms: float = Field(
        default=2.0, ge=0, le=100, json_schema_extra={"metavar": "MS"},
        description="under load, at most one journal commit per this many ms, holding every "
                    "write queued meanwhile; 0 means one commit per event-loop turn")
    log_level: LogLevel = Field(
        default="info",
        description="least severe log record written to stderr")
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
    # The PostgreSQL store (adapter/stores/postgres; README "PostgreSQL"). None: SQLite files
    # in the state folder, as `bank-adapter up` has always run.
    database_url: DatabaseUrl | None = Field(
        default=None, json_schema_extra={"metavar": "URL", "allowed": "postgresql://..."},
        description="PostgreSQL for the payment journal, keys, outbox, ISO 8583 reversals, "
                    "WS-Security nonces and customers, as postgresql://user@host:5432/dbname; "
                    "unset: SQLite files in the state folder")
    database_pool_size: int = Field(
        default=10, ge=1, le=100, json_schema_extra={"metavar": "N"},
        description="most PostgreSQL connections this process opens (with --database-url)")
    # Customers of the mobile app (adapter/services/customers; README "Authentication API").
    customer_rp_id: str = Field(default="localhost", description="WebAuthn relying party id")
    customer_origin: str = Field(default="https://localhost",
                                 description="the app's WebAuthn origin")
    customer_public_base_url: str | None = Field(
        default=None, description="the URL the app addresses (DPoP htu); default: this host")
    customer_idle_seconds: float = Field(default=300, gt=0, le=3600,
                                         description="session inactivity limit (RTS 4(3)(d))")
    customer_access_ttl_seconds: float = Field(
        default=300, gt=0, le=3600, description="lifetime of a customer's access token, seconds")
    customer_sca_threshold: Decimal = Field(default=Decimal("30.00"), ge=0,
                                            description="SCA exemption limit (RTS art. 16)")
    customer_lock_seconds: float = Field(default=900, gt=0,
                                         description="first lock time; grows 4x per lock")
    customer_password_workers: int = Field(default=1, ge=1, le=8,
                                           description="threads hashing passwords")
    # Argon2id parameters; the defaults are RFC 9106 section 4's second recommended option.
    customer_argon2_time_cost: int = Field(
        default=3, ge=1, le=10, description="Argon2id passes (RFC 9106 second option: 3)")
    customer_argon2_memory_kib: int = Field(
        default=65536, ge=1024, le=1048576,
        description="Argon2id memory in KiB (RFC 9106 second option: 64 MiB)")
    customer_argon2_parallelism: int = Field(
        default=4, ge=1, le=16, description="Argon2id lanes (RFC 9106 second option: 4)")
    # Bounds per HTTPS client before it is authorised (frontends/http_guard.py).
    http_max_head_bytes: int = Field(
        default=16 * 1024, ge=1024, le=1024 * 1024, json_schema_extra={"metavar": "BYTES"},
        description="largest HTTPS request line and header fields; more gets 431")
    http_max_headers: int = Field(
        default=100, ge=8, le=1000, json_schema_extra={"metavar": "N"},
        description="most header fields in one HTTPS request; more gets 431")
    http_head_timeout: float = Field(
        default=10.0, gt=0, json_schema_extra={"metavar": "SECONDS"},
        description="seconds a client has to send a whole request head; then 408 and close")
    http_idle_timeout: float = Field(
        default=30.0, gt=0, json_schema_extra={"metavar": "SECONDS"},
        description="seconds an idle keep-alive HTTPS connection stays open")
    http_max_connections: int = Field(
        default=1024, ge=1, json_schema_extra={"metavar": "N"},
        description="most open HTTPS connections in all; one more is closed at once")
    http_max_connections_per_client: int = Field(
        default=128, ge=1, json_schema_extra={"metavar": "N"},
        description="most open HTTPS connections from one peer address")
    # Caps on open event streams (services/stream_slots.py): gRPC WatchTransactions today.
    # Per connection below HTTP/2's 100 concurrent streams, so unary calls always fit beside.
    stream_max_per_connection: int = Field(
        default=16, ge=1, le=99, json_schema_extra={"metavar": "N"},
        description="most open event streams (gRPC WatchTransactions) on one connection; one "
                    "more is RESOURCE_EXHAUSTED TOO_MANY_STREAMS")
    stream_max_per_caller: int = Field(
        default=64, ge=1, json_schema_extra={"metavar": "N"},
        description="most open event streams of one caller over all its connections; one "
                    "more is RESOURCE_EXHAUSTED TOO_MANY_STREAMS")
    # Reload without restart (adapter/infra/reload.py); SIGHUP reloads at once as well.
    reload_interval: float = Field(
        default=1.0, gt=0, le=3600, json_schema_extra={"metavar": "SECONDS"},
        description="seconds between looks at the PKI files and the clients file: a changed "
                    "certificate, CA, CRL or clients file is loaded without a restart "
                    "(SIGHUP loads at once)")
    # The opt-in plain-HTTP listener for probes without a client certificate
    # (frontends/health_http.py): /healthz and /readyz only. None: off.
    health_port: int | None = Field(
        default=None, ge=0, le=65535, json_schema_extra={"metavar": "PORT"},
        description="plain-HTTP listener for probes, /healthz and /readyz only; unset: off")
    health_host: str = Field(
        default="127.0.0.1", min_length=1, json_schema_extra={"metavar": "HOST"},
        description="address the plain-HTTP health listener binds to (loopback by default)")
    # Several serving processes on this machine (adapter/workers.py): each binds the HTTPS and
    # gRPC ports with SO_REUSEPORT, and the kernel spreads new connections over them.
    workers: int = Field(
        default=1, ge=1, le=64, json_schema_extra={"metavar": "N"},
        description="serving processes sharing the HTTPS and gRPC ports (SO_REUSEPORT); "
                    "more than 1 needs --database-url")

    # Rate limits per caller and canonical operation (services/rate_limits.py; README
    # "Rate limits, intrusion signals and metrics").
    rate_limit_default: RateText = Field(
        default="1000/second", json_schema_extra={"metavar": "RATE"},
        description="each caller's rate for each operation without a rule of its own: "
                    "N/second, N/minute, N/hour or N/day (a burst of N, then one every "
                    "period/N), or none")
    rate_limit_operations: tuple[OperationRate, ...] = Field(
        default=("transfer=100/second", "bill_payment=100/second"),
        json_schema_extra={"metavar": "OPERATION=RATE"},
        description="an operation's own rate as OPERATION=RATE (read, transfer, "
                    "bill_payment, watch, metrics, customer_admin, relay_customers); repeat the "
                    "flag for each")
    rate_limit_storage: RateStorage = Field(
        default="memory", json_schema_extra={"metavar": "STORAGE",
                                             "allowed": "memory, database, redis://..."},
        description="where budgets are kept: memory (this process only), database (the "
                    "--database-url PostgreSQL, shared by every process on it) or a redis:// "
                    "URL that every adapter process shares; more than one worker with a rate "
                    "set needs database or redis://")
    # Intrusion signals (services/intrusion.py).
    intrusion_window: float = Field(
        default=60.0, gt=0, le=86400, json_schema_extra={"metavar": "SECONDS"},
        description="the window intrusion signals are counted in, per source address and "
                    "per identity")
    intrusion_thresholds: tuple[Threshold, ...] = Field(
        default=("tls_handshake_failed=20", "certificate_refused=10",
                 "authentication_failed=10", "rate_limited=100", "lockout=1"),
        json_schema_extra={"metavar": "SIGNAL=N"},
        description="signals from one source or identity within a window that append a "
                    "security event (once per window); repeat the flag for each")

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


class StartupError(Exception):
    """A start-up failure the operator can fix. The message says what failed and where, in
    one line; `setting` names the field to change (the CLI adds its flag and variable)."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


def os_reason(exc: OSError) -> str:
    """`[Errno 98] Address already in use` -> `address already in use`. From the errno:
    socket.create_server and asyncio rewrite strerror into a longer sentence."""
    text = os.strerror(exc.errno) if exc.errno else exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def env_name(field: str) -> str:
    """Rule 1: `core_timeout` -> `BANK_ADAPTER_CORE_TIMEOUT`."""
    return ENV_PREFIX + field.upper()


def is_list_field(field: str, model: type[BaseModel] = Settings) -> bool:
    annotation = model.model_fields[field].annotation
    return getattr(annotation, "__origin__", None) in (list, tuple, frozenset, set)


def env_defaults(environ: Mapping[str, str] | None = None,
                 model: type[BaseModel] = Settings) -> dict[str, str | list[str]]:
    """The settings given as environment variables, unvalidated: a list-valued one split on
    commas (Rule 3; an empty variable is an empty list). Flags override these."""
    environ = os.environ if environ is None else environ
    out: dict[str, str | list[str]] = {}
    for name in model.model_fields:
        value = environ.get(env_name(name))
        if value is None:
            continue
        if is_list_field(name, model):
            out[name] = [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]
        else:
            out[name] = value
    return out

