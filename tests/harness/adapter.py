"""Run the whole adapter (HTTPS + gRPC + services + store + connector) in a background thread
with its own event loop, on port 0, against a given core.

Tests talk to it over real sockets and real mutual TLS, exactly as a caller would.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from adapter.app import AdapterApp
from adapter.config import Settings
from adapter.infra.tls import TlsFiles
from adapter.ports.core import CorePort
from adapter.provision import provision

T = TypeVar("T")


@dataclass
class RunningAdapter:
    app: AdapterApp
    loop: asyncio.AbstractEventLoop
    state_dir: Path
    pki_dir: Path
    legacy_password: str

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.app.http_port}"

    @property
    def soap_url(self) -> str:
        return f"{self.base_url}/soap/v1"

    @property
    def grpc_target(self) -> str:
        return f"localhost:{self.app.grpc_port}"

    @property
    def ca(self) -> Path:
        return self.pki_dir / "ca.crt"

    def client(self, name: str) -> TlsFiles:
        return TlsFiles.from_dir(self.pki_dir, name)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the adapter's loop (to read its store, or its services)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def services(self) -> Any:
        return self.app.services


@contextmanager
def run_adapter(
    tmp: Path,
    pki_dir: Path,
    *,
    core: CorePort | None = None,
    core_soap_url: str | None = None,
    wall_clock: Callable[[], float] = time.time,
    **overrides: Any,
) -> Iterator[RunningAdapter]:
    """Start an adapter whose state folder is `tmp` and whose PKI is a copy of `pki_dir`;
    `wall_clock` is what its rate limits and intrusion windows read (a test moves it)."""
    state_dir = tmp / "adapter-state"
    shutil.copytree(pki_dir, state_dir / "pki", dirs_exist_ok=True)
    provisioned = provision(state_dir)
    values: dict[str, Any] = {"state_dir": state_dir, "http_port": 0, "grpc_port": 0}
    if core_soap_url is not None:
        host_port = core_soap_url.split("//", 1)[1].split("/", 1)[0]
        values["core_host"], port = host_port.rsplit(":", 1)
        values["core_soap_port"] = int(port)
    values.update(overrides)
    settings = Settings(**values)
    app = AdapterApp(settings, core=core, wall_clock=wall_clock)

    loop = asyncio.new_event_loop()
    started: Future[None] = Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                await app.start()
            except BaseException as exc:
                started.set_exception(exc)
                raise
            started.set_result(None)

        loop.run_until_complete(boot())
        loop.run_forever()

    thread = threading.Thread(target=serve, name="adapter", daemon=True)
    thread.start()
    try:
        started.result(30)
        yield RunningAdapter(app, loop, state_dir, state_dir / "pki", provisioned.legacy_password)
    finally:
        if started.done() and started.exception() is None:
            asyncio.run_coroutine_threadsafe(app.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
