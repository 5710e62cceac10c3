"""The opt-in plain-HTTP health listener for load balancers and orchestrators.

A probe from HAProxy, systemd or a container runtime usually holds no client certificate, so
it cannot use the mTLS `/healthz` and `/readyz`. This listener answers exactly those two paths
without TLS, and nothing else (every other path and method is 404/405 with an empty body).

Invariants:
- Rule 1: off unless `health_port` is set; bound to `health_host`, loopback by default. It
  tells a caller only whether the process is alive and whether the core and the adapter's
  database are usable (the code of the first that is not), never an account, a payment or a
  configuration value.
- Rule 2: `/readyz` asks the same readiness check as the mTLS `/readyz` and gRPC health, so
  every probe agrees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.services.health import Readiness

JSON = "application/json"


def build_health_app(readiness: Callable[[], Awaitable[Readiness]]) -> Starlette:
    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def readyz(request: Request) -> Response:
        error = (await readiness()).error()
        if error is None:
            return Response(b'{"status":"ready"}', media_type=JSON)
        return Response(b'{"status":"not ready","code":"%s"}' % error.code.encode(),
                        status_code=503, media_type=JSON)

    async def refuse(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return Response(status_code=404 if status != 405 else 405)

    app = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET", "HEAD"]),
                Route("/readyz", readyz, methods=["GET", "HEAD"])],
        exception_handlers={404: refuse, 405: refuse},
    )
    app.router.redirect_slashes = False
    return app
