"""The services a front-end receives: one object, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from adapter.ports.clock import Clock, system_clock
from adapter.ports.core import CorePort
from adapter.ports.storage import PaymentStorage
from adapter.services.accounts import AccountService
from adapter.services.clients import ClientRegistry
from adapter.services.directory import AccountDirectory
from adapter.services.events import EventBus
from adapter.services.health import HealthService
from adapter.services.metrics import AdapterMetrics
from adapter.services.payments import PaymentService
from adapter.services.pipeline import Pipeline, log_outcome
from adapter.services.rate_limits import RateLimiter


@dataclass
class BankingServices:
    clients: ClientRegistry
    accounts: AccountService
    payments: PaymentService
    events: EventBus
    health: HealthService
    pipeline: Pipeline
    core: CorePort
    storage: PaymentStorage
    metrics: AdapterMetrics

    @classmethod
    def build(cls, core: CorePort, storage: PaymentStorage, clients: ClientRegistry, *,
              core_timeout: float = 5.0, resolve_timeout: float = 10.0,
              event_queue_size: int = 1000, clock: Clock = system_clock,
              rate_limiter: RateLimiter | None = None) -> BankingServices:
        directory = AccountDirectory(core)
        metrics = AdapterMetrics()
        if rate_limiter is not None:
            limiter = rate_limiter
            metrics.count_storage_errors(lambda: limiter.storage_errors)
        events = EventBus(storage.outbox, queue_size=event_queue_size)
        return cls(
            clients=clients,
            accounts=AccountService(core, directory, core_timeout=core_timeout),
            payments=PaymentService(core, storage.journal, storage.keys, directory, events,
                                    core_timeout=core_timeout, resolve_timeout=resolve_timeout,
                                    clock=clock),
            events=events,
            health=HealthService(core, storage),
            # The certificate caller is the last resolver; customer tokens go before it.
            pipeline=Pipeline([clients.resolve], observers=(log_outcome, metrics.observe),
                              rate_limiter=rate_limiter),
            core=core,
            storage=storage,
            metrics=metrics,
        )
