"""The server processes of a benchmark run: the bare echoes and the adapter.

    python -m bench.servers echo-rest  --pki-dir DIR
    python -m bench.servers echo-soap  --pki-dir DIR
    python -m bench.servers echo-grpc  --pki-dir DIR
    python -m bench.servers adapter    --state-dir DIR --connector soap|iso8583 \
                                       --core-soap-port P --core-iso-port Q
                                       [--core-nodes H:S:I ... --core-balance B]

Each binds port 0 on loopback, prints one line `READY {"http": port, "grpc": port}` on stdout
once it accepts connections, and runs until SIGTERM.

The echoes are the frameworks with nothing of the adapter in them, served exactly as the adapter
serves its front-ends, so a ratio to them isolates the adapter's own cost:
- REST: a Starlette route returning a fixed JSON body, on the adapter's `HttpsServer`
  (uvicorn, uvloop, httptools, the same mutual-TLS server context from `adapter.infra.tls`).
- SOAP: a spyne Soap11 application with one `Echo` operation behind the same `SpyneAsgi` bridge
  the adapter uses (spyne on the event loop), on the same `HttpsServer`.
- gRPC: a grpc.aio server implementing `BankingService.GetBalance` and `TransferFunds` by
  returning prebuilt messages, with the adapter's server credentials (client auth required).
  Same method names and messages as the adapter, so the load client is byte-for-byte the same.

All run on uvloop, as `bank-adapter up` does.
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from adapter.infra import tls
from adapter.infra.gctune import freeze_startup_objects

ECHO_BALANCE_JSON = (
    b'{"account":{"iban":"DE89370400440532013000"},"balances":[{"balanceType":"closingBooked",'
    b'"balanceAmount":{"currency":"EUR","amount":"10000.00"}},{"balanceType":"interimAvailable",'
    b'"balanceAmount":{"currency":"EUR","amount":"10000.00"}}]}'
)
ECHO_TRANSFER_JSON = (
    b'{"transactionStatus":"ACSC","paymentId":"00000000-0000-4000-8000-000000000000",'
    b'"_links":{"self":{"href":"/v1/transfers/00000000-0000-4000-8000-000000000000"}}}'
)
SOAP_ECHO_TNS = "urn:bank:bench:echo:v1"


def _announce(**ports: int) -> None:
    """Called by every server once it is listening: the echoes get the adapter's GC settings
    too (`bank-adapter up` and core_sim freeze start-up's objects), so ratios stay fair."""
    freeze_startup_objects()
    print("READY " + json.dumps(ports), flush=True)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _server_tls(pki_dir: Path) -> Any:
    return tls.server_context(tls.TlsFiles.from_dir(pki_dir, "server"))


# -- REST echo ------------------------------------------------------------------------------


def rest_echo_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def balances(request: Request) -> Response:
        return Response(ECHO_BALANCE_JSON, media_type="application/json")

    async def transfers(request: Request) -> Response:
        # Read the body as any real handler must; the answer stays fixed.
        await request.body()
        return Response(ECHO_TRANSFER_JSON, status_code=201, media_type="application/json")

    return Starlette(routes=[
        Route("/v1/accounts/{account_id}/balances", balances, methods=["GET"]),
        Route("/v1/transfers", transfers, methods=["POST"]),
    ])


async def serve_rest_echo(args: argparse.Namespace) -> None:
    from adapter.frontends.https import HttpsServer

    server = HttpsServer(rest_echo_app(), _server_tls(args.pki_dir), args.host, 0)
    await server.start()
    _announce(http=server.port)
    await _until_signalled()
    await server.stop()


# -- SOAP echo ------------------------------------------------------------------------------


def soap_echo_app() -> Any:
    from spyne import Application, Service, Unicode, rpc
    from spyne.protocol.soap import Soap11

    from adapter.infra.spyne_asgi import SpyneAsgi
    from adapter.infra.spyne_process import configure_spyne_process

    class EchoService(Service):  # type: ignore[misc]
        @rpc(Unicode, _returns=Unicode, _out_variable_name="Text")
        def Echo(ctx, Text):
            return Text

    app = Application([EchoService], tns=SOAP_ECHO_TNS, name="EchoService",
                      in_protocol=Soap11(validator="soft"), out_protocol=Soap11())
    configure_spyne_process()  # as the adapter and core_sim do, so the ratio stays fair
    spyne_app = SpyneAsgi(app)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        await spyne_app(scope, receive, send)

    return asgi


async def serve_soap_echo(args: argparse.Namespace) -> None:
    from adapter.frontends.https import HttpsServer

    server = HttpsServer(soap_echo_app(), _server_tls(args.pki_dir), args.host, 0)
    await server.start()
    _announce(http=server.port)
    await _until_signalled()
    await server.stop()


# -- gRPC echo ------------------------------------------------------------------------------


def grpc_echo_handlers() -> Any:
    import grpc

    from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb

    balance = pb.Balance(
        account_id="10000001",
        booked=pb.Money(amount="10000.00", currency="EUR"),
        available=pb.Money(amount="10000.00", currency="EUR"),
    )
    balance.as_of.GetCurrentTime()
    payment = pb.Payment(payment_id="00000000-0000-4000-8000-000000000000",
                         iso20022_status="ACSC")

    def unary(reply: Any, request_type: Any) -> Any:
        async def handler(request: Any, context: Any) -> Any:
            return reply

        return grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=request_type.FromString,
            response_serializer=type(reply).SerializeToString)

    return grpc.method_handlers_generic_handler("bank.adapter.v1.BankingService", {
        "GetBalance": unary(balance, pb.GetBalanceRequest),
        "TransferFunds": unary(payment, pb.TransferFundsRequest),
    })


async def serve_grpc_echo(args: argparse.Namespace) -> None:
    import grpc

    from adapter.frontends.grpc.server import OPTIONS

    server = grpc.aio.server(options=OPTIONS)
    server.add_generic_rpc_handlers((grpc_echo_handlers(),))
    creds = tls.grpc_server_credentials(tls.TlsFiles.from_dir(args.pki_dir, "server"))
    port = server.add_secure_port(f"{args.host}:0", creds)
    await server.start()
    _announce(grpc=port)
    await _until_signalled()
    await server.stop(1)


# -- the adapter ----------------------------------------------------------------------------


async def serve_adapter(args: argparse.Namespace) -> None:
    """`bank-adapter up --no-core`, on port 0, announcing its ports."""
    from adapter.app import AdapterApp
    from adapter.config import Settings, env_defaults

    # The tuning knobs (BANK_ADAPTER_SQLITE_LINGER_MS, ...) come from the environment, as
    # for `bank-adapter up`; what the benchmark wires itself is set here.
    settings = Settings.model_validate({
        # The load runs as a handful of callers far above any real caller's rate: the rate
        # limit step runs (and costs what it costs) but never refuses, unless the
        # environment sets limits of its own.
        "rate_limit_default": "1000000/second", "rate_limit_operations": (),
        **env_defaults(),
        "state_dir": args.state_dir, "host": args.host, "http_port": 0, "grpc_port": 0,
        "core_host": args.host, "core_soap_port": args.core_soap_port,
        "core_iso_port": args.core_iso_port, "core_connector": args.connector,
        "log_level": args.log_level,
        **({"core_nodes": tuple(args.core_nodes), "core_balance": args.core_balance}
           if args.core_nodes else {}),
    })
    app = AdapterApp(settings)
    await app.start()
    assert app.grpc_port is not None
    _announce(http=app.http_port, grpc=app.grpc_port)
    try:
        await _until_signalled()
    finally:
        await app.stop()


SERVERS: dict[str, Callable[[argparse.Namespace], Awaitable[None]]] = {
    "echo-rest": serve_rest_echo,
    "echo-soap": serve_soap_echo,
    "echo-grpc": serve_grpc_echo,
    "adapter": serve_adapter,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__)
    p.add_argument("kind", choices=sorted(SERVERS))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--pki-dir", type=Path)
    p.add_argument("--state-dir", type=Path)
    p.add_argument("--connector", choices=["soap", "iso8583"], default="soap")
    p.add_argument("--core-soap-port", type=int, default=0)
    p.add_argument("--core-iso-port", type=int, default=0)
    p.add_argument("--core-nodes", action="append", default=[],
                   help="a core node host:soap_port:iso_port (repeat): the adapter's pool")
    p.add_argument("--core-balance", default="round-robin")
    p.add_argument("--log-level", default="warning")
    args = p.parse_args(argv)
    level = getattr(logging, args.log_level.upper(), logging.WARNING)
    if args.kind == "adapter":
        from adapter.infra import logmask
        from adapter.provision import provision

        logmask.install(level)
        provision(args.state_dir)
    else:
        logging.basicConfig(level=level)
    import uvloop

    uvloop.run(SERVERS[args.kind](args))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
