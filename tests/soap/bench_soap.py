"""Throughput of the SOAP front-end's execution paths, measured in one run.

    .venv/bin/python -m tests.soap.bench_soap [--seconds 5] [--connections 32]

Each variant serves GetBalance (PasswordDigest UsernameToken, fresh nonce per call) over real
mutual TLS from its own server process (uvloop), against an in-memory core, so the figures
compare the front-end paths and not the core. The load comes from two client processes with
16 keep-alive connections each (closed loop), on the same machine.

Variants:
- thread-hop: spyne's pipeline in a worker thread, the service coroutine sent back to the
  loop with run_coroutine_threadsafe (what spyne's WsgiApplication behind a WSGI bridge does);
- loop-schema-validation: spyne inline on the event loop, with spyne's soft schema
  validation on top of the canonical model's;
- loop: the shipped path (adapter.infra.spyne_asgi, spyne inline on the event loop, the canonical
  model as the one validation).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import multiprocessing
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VARIANTS = ("thread-hop", "loop-schema-validation", "loop")


def _build(variant: str, state_dir: Path) -> tuple[Any, Any]:
    """(the SOAP endpoint for `variant`, settings); call on the loop that will serve it."""
    from adapter.config import Settings
    from adapter.frontends import soap
    from adapter.frontends.soap.wssecurity import NONCE_RETENTION
    from adapter.infra.spyne_asgi import AsgiMethodContext, SpyneAsgi
    from adapter.infra.spyne_process import configure_spyne_process
    from adapter.provision import provision
    from adapter.services.banking import BankingServices
    from adapter.services.clients import ClientRegistry
    from adapter.stores.memory import MemoryNonceStore
    from adapter.stores.sqlite import SqliteStore
    from tests.fakes import FakeCore

    configure_spyne_process()  # this script is its own composition root
    provision(state_dir)
    settings = Settings(state_dir=state_dir, http_port=0)

    class ThreadHop(SpyneAsgi):  # type: ignore[misc]
        def _run(self, scope: Any, body: bytes, loop: asyncio.AbstractEventLoop) -> Any:
            ctx = AsgiMethodContext(self, scope, self.app.out_protocol.mime_type)
            ctx.in_string = [body]
            p_ctx = self.generate_contexts(ctx)[0]
            if p_ctx.in_error is None:
                self.get_in_object(p_ctx)
            if p_ctx.in_error is None:
                self.get_out_object(p_ctx)
                out = p_ctx.out_object
                if p_ctx.out_error is None:
                    try:
                        value = asyncio.run_coroutine_threadsafe(out[0], loop).result()
                        p_ctx.out_object = [value]
                    except Exception as exc:
                        p_ctx.out_error = exc
                        p_ctx.fire_event("method_exception_object")
            error = p_ctx.in_error or p_ctx.out_error
            if error is not None:
                p_ctx.out_error = error
            self.get_out_string(p_ctx)
            status = 500 if error is not None else 200
            return status, b"".join(p_ctx.out_string)

        async def handle(self, scope: Any, body: bytes) -> tuple[int, bytes]:
            loop = asyncio.get_running_loop()
            result: tuple[int, bytes] = await loop.run_in_executor(
                None, self._run, scope, body, loop)
            return result

    core = FakeCore()
    core.add("10000003", "EUR", "5000.00")
    services = BankingServices.build(core, SqliteStore(state_dir / "adapter.db"),
                                     ClientRegistry.load(settings.clients_file))
    endpoint = soap.build_soap_app(services, settings,
                                   nonces=MemoryNonceStore(NONCE_RETENTION))
    app = endpoint.bridge.app
    if variant == "thread-hop":
        endpoint.bridge = ThreadHop(app, max_body=settings.max_body_bytes)
    elif variant == "loop-schema-validation":
        app.in_protocol.set_validator("soft")
    return endpoint, settings


def _serve(variant: str, state_dir: Path) -> None:
    import uvloop

    from adapter.frontends.https import HttpsServer
    from adapter.infra import tls

    async def main() -> None:
        endpoint, settings = _build(variant, state_dir)
        server = HttpsServer(endpoint, tls.server_context(tls.TlsFiles.from_dir(
            settings.pki_dir, "server")), "127.0.0.1", 0)
        await server.start()
        print(server.port, flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


def _body(password: str) -> bytes:
    from adapter.frontends.soap.types import TNS

    return (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:b="{TNS}"><s:Header>{_token(password)}</s:Header><s:Body>'
            "<b:GetBalance><b:Account><b:AccountId>10000003</b:AccountId></b:Account>"
            "</b:GetBalance></s:Body></s:Envelope>").encode()


def in_process(variant: str, calls: int) -> float:
    """Microseconds of server work per call: the endpoint's handler called in a loop, no
    network, so other load on the machine distorts it less than the closed-loop figure."""
    import uvloop

    async def main(tmp: Path) -> float:
        endpoint, _ = _build(variant, tmp)
        password = (tmp / "pki" / "legacy.password").read_text().strip()
        scope = {"type": "http", "method": "POST", "path": "/soap/v1",
                 "headers": [(b"soapaction", b'"GetBalance"')],
                 "extensions": {"tls": {"client_cert_name": "CN=legacy"}}}
        bodies = [_body(password) for _ in range(calls + 100)]
        for body in bodies[:100]:
            await endpoint.bridge.handle(scope, body)
        start = time.perf_counter()
        for body in bodies[100:]:
            status, _ = await endpoint.bridge.handle(scope, body)
            assert status == 200
        return (time.perf_counter() - start) / calls * 1e6

    with tempfile.TemporaryDirectory() as tmp:
        return uvloop.run(main(Path(tmp)))


def _token(password: str) -> str:
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode())
                              .digest()).decode()
    from adapter.frontends.soap.wssecurity import PASSWORD_DIGEST, WSSE, WSU

    return (f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>legacy</wsse:Username><wsse:Password Type=\"{PASSWORD_DIGEST}\">"
            f"{digest}</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}"
            f"</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken>"
            "</wsse:Security>")


def _load(port: int, state_dir: str, threads: int, seconds: float, out: Any) -> None:
    pki = Path(state_dir) / "pki"
    password = (pki / "legacy.password").read_text().strip()
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(pki / "legacy.crt", pki / "legacy.key")
    counts = [0] * threads
    errors = [0] * threads
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPSConnection("localhost", port, context=context)
        while time.monotonic() < deadline:
            body = _body(password)
            conn.request("POST", "/soap/v1", body, {"content-type": "text/xml",
                                                    "soapaction": '"GetBalance"'})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                counts[i] += 1
            else:
                errors[i] += 1
        conn.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((sum(counts), sum(errors)))


def measure(variant: str, seconds: float, connections: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "tests.soap.bench_soap", "--serve",
                                   variant, "--state", tmp], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            queue: Any = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=_load, args=(
                port, tmp, connections // 2, seconds, queue)) for _ in range(2)]
            for p in procs:
                p.start()
            results = [queue.get() for _ in procs]
            for p in procs:
                p.join()
        finally:
            server.terminate()
            server.wait()
    done = sum(r[0] for r in results)
    return done / seconds, sum(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=VARIANTS)
    parser.add_argument("--state", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.state)
        return
    for variant in args.variants.split(","):
        rate, errors = measure(variant, args.seconds, args.connections)
        micros = in_process(variant, 3000)
        print(f"{variant:24s} {rate:6.0f} calls/s over mTLS (errors={errors})   "
              f"{micros:5.0f} us/call in-process ({1e6 / micros:5.0f} calls/s/core)", flush=True)


if __name__ == "__main__":
    main()
