"""The composition root: settings -> stores -> core connector -> services -> front-ends.

Stores, by `--database-url`:
- unset (SQLite, the default): the payment storage (keys, journal, outbox) in
  STATE/adapter.db; the ISO 8583 connector's reversal store (STATE/iso8583-reversals.sqlite),
  made here and handed to it; WS-Security nonces in this process's memory (one serving
  process: a restart forgets them, and a token's 5-minute Created window bounds what that
  allows); customers in STATE/customers.db.
- a PostgreSQL URL: all of them in that database (adapter.stores.postgres), over one pool
  opened (migrated, partitioned) before anything else starts; nonces are then shared by every
  process on the database. A database newer than this code stops the start-up.
Rate-limit budgets are in memory, in the database or in Redis (`--rate-limit-storage`);
security events in STATE/security-events.sqlite, or with a URL in the database.

One process, one event loop: the HTTPS listener (REST, and SOAP under /soap/v1) and the gRPC
server share it, and so do the services, the store and the connector's connections.

Reload without restart (`reload()`: SIGHUP in `bank-adapter up`, or a change of the files seen
every `reload_interval` seconds by `adapter.infra.reload`): the server certificate, the callers'
CA and CRL for both listeners, the clients file, and the core link's client certificate, key
and CA (`adapter-client.*`, `core-link-ca.crt`: one `ReloadableClientContext` shared by every
connector this root builds; new core connections present the new certificate, open ones keep
theirs until they reconnect). Each part loads on its own, so a broken clients file does not
hold back a revocation; a part that fails keeps what it had.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from adapter.config import (
    RATE_STORAGE_NEEDS_DATABASE,
    ConnectorKind,
    Settings,
    StartupError,
    os_reason,
)
from adapter.connectors.factory import build_core
from adapter.connectors.pool.pool import CorePool
from adapter.customer_root import build_customer_service
from adapter.frontends.http_guard import HttpLimits, uvicorn_options
from adapter.frontends.https import HttpsServer
from adapter.frontends.soap.asgi import SOAP_PATH
from adapter.frontends.soap.wssecurity import NONCE_RETENTION
from adapter.infra import tls
from adapter.infra.reload import Reloader, load_each
from adapter.infra.revocation import CrlSource, RevocationList
from adapter.infra.spyne_process import configure_spyne_process
from adapter.infra.trust_domains import LINK_CLIENT
from adapter.model.security_events import SecurityEvent, Signal
from adapter.ports.core import CorePort
from adapter.ports.nonces import NonceStore
from adapter.ports.rate_limits import RateLimitStore
from adapter.ports.reversals import ReversalStore
from adapter.ports.security_events import SecurityEventLog
from adapter.ports.storage import PaymentStorage
from adapter.services.banking import BankingServices
from adapter.services.clients import ClientRegistry
from adapter.services.customers.resolver import CustomerResolver
from adapter.services.customers.service import CustomerService
from adapter.services.intrusion import IntrusionMonitor
from adapter.services.rate_limits import RateLimiter, RatePolicy
from adapter.services.resolver import Resolver
from adapter.stores.memory import MemoryNonceStore
from adapter.stores.memory.rate_limits import MemoryRateLimitStore
from adapter.stores.postgres import (
    PostgresDatabase,
    PostgresNonceStore,
    PostgresOutboxWakeups,
    PostgresReversalStore,
    PostgresStore,
    PostgresTerminalClaims,
)
from adapter.stores.postgres.configured import open_database
from adapter.stores.postgres.customers import PostgresCustomerStore
from adapter.stores.postgres.rate_limits import PostgresRateLimitStore
from adapter.stores.postgres.security_events import PostgresSecurityEventLog
from adapter.stores.sqlite import SqliteStore
from adapter.stores.sqlite.reversals import SqliteReversalStore
from adapter.stores.sqlite.security_events import SqliteSecurityEventLog

log = logging.getLogger("adapter")


class HttpDispatch:
    """REST at the root, SOAP under /soap/v1, on one HTTPS listener. A prefix test is all
    the routing this needs; a Starlette Mount would add a router pass to every request."""

    def __init__(self, rest: ASGIApp, soap: ASGIApp) -> None:
        self._rest = rest
        self._soap = soap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if path == SOAP_PATH or path.startswith(SOAP_PATH + "/"):
            await self._soap(scope, receive, send)
        else:
            await self._rest(scope, receive, send)


def build_http_app(services: BankingServices, settings: Settings, *,
                   nonces: NonceStore, customers: CustomerService | None = None) -> ASGIApp:
    from adapter.frontends.rest import build_rest_app
    from adapter.frontends.soap import build_soap_app

    return HttpDispatch(build_rest_app(services, settings, customers),
                        build_soap_app(services, settings, nonces=nonces))


def reversal_stores(settings: Settings, database: PostgresDatabase | None = None,
                    ) -> Callable[[Path], ReversalStore]:
    """Where an ISO 8583 connector keeps the reversals it still owes, given the folder it
    would use: SQLite in that folder, or, with a database, that database's rows scoped to the
    folder's place in the state folder ("" for the one core, the node's folder in a pool)."""
    def make(folder: Path) -> ReversalStore:
        if database is not None:
            scope = Path(folder).relative_to(settings.state_dir).as_posix()
            return PostgresReversalStore(database, scope="" if scope == "." else scope)
        return SqliteReversalStore.in_dir(folder, synchronous=settings.sqlite_synchronous,
                                          linger=settings.sqlite_linger_ms / 1000)
    return make


def rate_limit_store(storage: str, database: PostgresDatabase | None = None
                     ) -> RateLimitStore:
    """`memory`: this process only; `database`: the adapter's PostgreSQL, shared by every
    process on it (a StartupError without one); `redis://host:port/db` (or rediss://): every
    process naming that server shares the budgets (the settings model has checked the form)."""
    if storage == "memory":
        return MemoryRateLimitStore()
    if storage == "database":
        if database is None:
            raise StartupError(RATE_STORAGE_NEEDS_DATABASE, setting="database_url")
        return PostgresRateLimitStore(database)
    from adapter.stores.redis import RedisRateLimitStore

    return RedisRateLimitStore(storage)


def load_clients(path: Path) -> ClientRegistry:
    """The clients file, or a StartupError naming the file and its first problem."""
    try:
        return ClientRegistry.load(path)
    except OSError as exc:
        raise StartupError(f"cannot read the clients file {path}: {os_reason(exc)}") from exc
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StartupError(f"the clients file {path} is not valid: "
                           f"{where.lstrip('.') + ': ' if where else ''}{first['msg']}{more}"
                           ) from exc


def _listen_error(what: str, host: str, port: int, setting: str, exc: OSError) -> StartupError:
    # A host that is not an address of this machine is the host's fault, not the port's.
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        setting = "host"
    return StartupError(f"cannot listen for {what} on {host}:{port}: {os_reason(exc)}",
                        setting=setting)


def _probe_bind(host: str, port: int, *, reuse_port: bool = False) -> None:
    """Bind and release the gRPC address first: grpc reports a failed bind as a bare
    RuntimeError (and a C-core log line), while the OS error says why. With `reuse_port`
    (`--workers N`) the probe shares the port as the other workers do."""
    if port == 0:
        return
    with socket.create_server((host, port), family=socket.AF_INET6 if ":" in host
                              else socket.AF_INET, reuse_port=reuse_port):
        pass


def _link_tls(pki_dir: Path) -> tls.ReloadableClientContext:
    """The adapter's client side of the core link, or a StartupError naming the files."""
    files = tls.TlsFiles.from_dir(pki_dir, LINK_CLIENT)
    try:
        return tls.ReloadableClientContext(files)
    except ssl.SSLError as exc:  # an OSError too: first
        reason = exc.reason or str(exc)
    except OSError as exc:
        reason = os_reason(exc)
    raise StartupError(f"cannot load the core-link certificate {files.cert}, its key or the CA "
                       f"{files.ca}: {reason}", setting="state_dir")


TERMINAL_CLAIM_WAIT = 5.0


async def _claim_terminal(claims: PostgresTerminalClaims, terminal_id: str) -> bool:
    """Claim the terminal id, asking again for up to TERMINAL_CLAIM_WAIT seconds: a process
    restarted right after a crash may start before the server has ended the dead one's
    session (and so its lock)."""
    deadline = asyncio.get_running_loop().time() + TERMINAL_CLAIM_WAIT
    while not await claims.claim(terminal_id):
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.2)  # a pace for asking again, bounded by the deadline
    return True


class AdapterApp:
    """Everything the adapter runs, started and stopped together."""

    def __init__(self, settings: Settings, *, core: CorePort | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._given_core = core
        # Read by the rate limits and the intrusion windows (seconds since the epoch: Redis
        # budgets are shared with other processes); tests move it by hand.
        self._wall_clock = wall_clock
        self.services: BankingServices | None = None
        self.https: HttpsServer | None = None
        self.grpc: Any = None
        self.grpc_port: int | None = None
        self.health_http: HttpsServer | None = None
        self._resolver: Resolver | None = None
        self._wakeups: PostgresOutboxWakeups | None = None
        self._terminals: PostgresTerminalClaims | None = None
        self._nonces: NonceStore | None = None
        self._store: PaymentStorage | None = None
        self.database: PostgresDatabase | None = None
        self.customers: CustomerService | None = None
        self.intrusion: IntrusionMonitor | None = None
        self.security_events: SecurityEventLog | None = None
        self._limiter: RateLimiter | None = None
        self.core_pool: CorePool | None = None  # with --core-nodes (status, metrics, tests)
        self.https_tls: tls.ReloadableServerContext | None = None
        # The core link's client side, reloaded with the rest; None with a given core.
        self.link_tls: tls.ReloadableClientContext | None = None
        self._https_revocation: RevocationList | None = None
        self.reloader: Reloader | None = None
        self._clients: ClientRegistry | None = None

    @property
    def http_port(self) -> int:
        assert self.https is not None
        return self.https.port

    def _wake_resolver(self, _reference: str) -> None:
        if self.services is not None:
            self.services.payments.in_doubt_found.set()

    async def start(self) -> None:
        """Start everything, or (on any failure, or a cancellation) stop what had started and
        raise: a bind failure or a bad clients file is a StartupError."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        s = self.settings
        configure_spyne_process()  # the adapter's SOAP front-end runs on spyne
        clients = load_clients(s.clients_file)
        self._clients = clients
        self.database = db = await open_database(s)
        store: PaymentStorage = SqliteStore(
            s.adapter_db, synchronous=s.sqlite_synchronous, linger=s.sqlite_linger_ms / 1000
        ) if db is None else PostgresStore(db)
        self._store = store
        if db is not None and s.core_connector is ConnectorKind.ISO8583 \
                and self._given_core is None:
            # (field 41, field 11) must never be shared by two live processes on one core:
            # the terminal id is claimed before the first ISO 8583 message can leave.
            self._terminals = PostgresTerminalClaims(db)
            if not await _claim_terminal(self._terminals, s.iso_terminal_id):
                raise StartupError(
                    f"the ISO 8583 terminal id {s.iso_terminal_id} is in use by another "
                    "running adapter on this database: give each process its own",
                    setting="iso_terminal_id")
        if self._given_core is None:
            self.link_tls = _link_tls(s.pki_dir)
        core = self._given_core or await build_core(
            s, reversal_stores=reversal_stores(s, db), on_reversed=self._wake_resolver,
            link_tls=self.link_tls)
        self._limiter = RateLimiter(
            RatePolicy.parse(s.rate_limit_default, s.rate_limit_operations),
            rate_limit_store(s.rate_limit_storage, db), clock=self._wall_clock)
        services = BankingServices.build(
            core, store, clients, core_timeout=s.core_timeout,
            resolve_timeout=s.resolve_timeout, rate_limiter=self._limiter)
        self.services = services
        self.security_events = SqliteSecurityEventLog.in_dir(
            s.state_dir, synchronous=s.sqlite_synchronous, linger=s.sqlite_linger_ms / 1000
        ) if db is None else PostgresSecurityEventLog(db)
        metrics = services.metrics
        if isinstance(core, CorePool):
            self.core_pool = core
            metrics.watch_core_nodes(core.snapshot)

        def on_event(event: SecurityEvent) -> None:
            metrics.event(event)

        def on_signal(signal: Signal) -> None:
            metrics.signal(signal)

        self.intrusion = IntrusionMonitor(
            IntrusionMonitor.thresholds_from(s.intrusion_thresholds), s.intrusion_window,
            self.security_events, clock=self._wall_clock, on_signal=on_signal,
            on_event=on_event)
        services.pipeline.add_observer(self.intrusion.observe)
        if db is not None:
            # Several processes share this database: live events come from its outbox, woken
            # by LISTEN/NOTIFY, so a watcher here sees what any process booked.
            self._wakeups = await PostgresOutboxWakeups.start(db)
            await services.events.follow(self._wakeups)
        # Grace: longer than a first attempt may run (the core's timeout, then one
        # resolution), so the resolver never takes a payment from a live first attempt.
        # Lease: longer than settling a batch (one resolution each, concurrently).
        self._resolver = Resolver(
            services.payments, store.journal, store.keys,
            grace=s.core_timeout + s.resolve_timeout + 5, lease=2 * s.resolve_timeout + 5)
        self._resolver.start()
        self._nonces = MemoryNonceStore(NONCE_RETENTION) if db is None \
            else PostgresNonceStore(db, retention=NONCE_RETENTION)
        server_tls = tls.TlsFiles.from_dir(s.pki_dir, "server")
        self.https_tls = tls.ReloadableServerContext(server_tls)
        assert server_tls.crl is not None
        self._https_revocation = RevocationList([CrlSource(server_tls.ca, server_tls.crl)])
        self.customers = build_customer_service(
            s, store=None if db is None else PostgresCustomerStore(db))
        # Customer tokens are resolved before the certificate caller (for the customer API
        # only: services/customers/resolver.py Rule 1).
        services.pipeline.add_resolver(CustomerResolver(self.customers, clients))
        limits = HttpLimits(
            max_head_bytes=s.http_max_head_bytes, max_headers=s.http_max_headers,
            head_timeout=s.http_head_timeout, idle_timeout=s.http_idle_timeout,
            max_connections=s.http_max_connections,
            max_connections_per_client=s.http_max_connections_per_client)
        try:
            self.https = HttpsServer(
                build_http_app(services, s, nonces=self._nonces, customers=self.customers),
                self.https_tls.listener, s.host, s.http_port,
                options=uvicorn_options(limits), handshake_timeout=s.http_head_timeout,
                on_handshake_failure=self.intrusion.handshake_failed,
                revocations=self._https_revocation, reuse_port=s.workers > 1,
            )
        except OSError as exc:
            raise _listen_error("HTTPS (REST and SOAP)", s.host, s.http_port, "http_port",
                                exc) from exc
        await self.https.start()
        log.info("adapter HTTPS listening on https://%s:%d", s.host, self.https.port)
        from adapter.frontends.grpc import start_grpc_server

        try:
            _probe_bind(s.host, s.grpc_port, reuse_port=s.workers > 1)
            self.grpc = await start_grpc_server(services, s, customers=self.customers)
        except OSError as exc:
            raise _listen_error("gRPC", s.host, s.grpc_port, "grpc_port", exc) from exc
        except RuntimeError as exc:  # grpc's "Failed to bind", lost the race with the probe
            raise StartupError(f"cannot listen for gRPC on {s.host}:{s.grpc_port}",
                               setting="grpc_port") from exc
        self.grpc_port = self.grpc.port
        log.info("adapter gRPC listening on %s:%d", s.host, self.grpc_port)
        link_files = self.link_tls.paths() if self.link_tls is not None else ()
        self.reloader = Reloader(
            "adapter", lambda: (*server_tls.paths(), s.clients_file, *link_files), self.reload,
            s.reload_interval)
        await self.reloader.start()
        if s.health_port is not None:
            from adapter.frontends.health_http import build_health_app

            self.health_http = HttpsServer(
                build_health_app(services.health.readiness), None,
                s.health_host, s.health_port, reuse_port=s.workers > 1)
            await self.health_http.start()
            log.info("plain-HTTP health listener on http://%s:%d (/healthz, /readyz only)",
                     s.health_host, self.health_http.port)

    def reload(self) -> None:
        """Load the listeners' certificate, CA and CRL and the clients file again; each part
        on its own (see the module docstring). Raises naming every part that failed."""
        parts: list[tuple[str, Callable[[], object]]] = []
        if self.https_tls is not None and self._https_revocation is not None:
            parts.append(("HTTPS certificate, CA and CRL", self.https_tls.reload))
            parts.append(("HTTPS CRL for open connections", self._https_revocation.reload))
        if self.grpc is not None:
            parts.append(("gRPC CRL", self.grpc.revocation.reload))
            parts.append(("gRPC certificate and CA", self.grpc.credentials.reload))
        if self.link_tls is not None:
            parts.append(("core-link client certificate, key and CA", self.link_tls.reload))
        if self._clients is not None:
            registry = self._clients
            parts.append(("clients file", lambda: registry.replace_with(
                load_clients(self.settings.clients_file))))
        load_each(parts)

    async def stop(self) -> None:
        """Stop what runs; safe after a partial start and when called twice."""
        reloader, self.reloader = self.reloader, None
        if reloader is not None:
            await reloader.stop()
        grpc, self.grpc = self.grpc, None
        https = self.https  # kept: its port stays readable; its stop() is idempotent
        resolver, self._resolver = self._resolver, None
        services, self.services = self.services, None
        store, self._store = self._store, None
        nonces, self._nonces = self._nonces, None
        customers, self.customers = self.customers, None
        health_http, self.health_http = self.health_http, None
        database, self.database = self.database, None
        intrusion, self.intrusion = self.intrusion, None
        security_events, self.security_events = self.security_events, None
        limiter, self._limiter = self._limiter, None
        wakeups, self._wakeups = self._wakeups, None
        if health_http is not None:
            await health_http.stop()
        if grpc is not None:
            await grpc.stop()
        if https is not None:
            await https.stop()
        if resolver is not None:
            await resolver.stop()
        if services is not None:
            await services.events.aclose()
            await services.core.aclose()
        if wakeups is not None:
            await wakeups.aclose()
        terminals, self._terminals = self._terminals, None
        if terminals is not None:  # after the core's connections: nothing more is sent
            await terminals.aclose()
        if store is not None:
            await store.aclose()
        if intrusion is not None:
            await intrusion.flush()
        if security_events is not None:
            await security_events.aclose()
        if limiter is not None:
            await limiter.aclose()
        if nonces is not None:
            await nonces.aclose()
        if customers is not None:
            await customers.store.aclose()
            customers.passwords.close()
        if database is not None:  # last: every store above was over it
            await database.aclose()
