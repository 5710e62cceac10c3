"""The REST front-end for fintech partners: Starlette over the services, mutual TLS,
Idempotency-Key, RFC 9457 problems and a generated OpenAPI 3.1 document.

    app.py       routes and the per-request envelope (correlation id, caller, errors)
    wire.py      the JSON shapes (Berlin Group NextGenPSD2 names) <-> canonical model
    body.py      reading a JSON body within the size limit
    problems.py  canonical error -> problem+json, by class hierarchy
    openapi.py   the OpenAPI document, generated from wire.py
"""

from adapter.frontends.rest.app import build_rest_app

__all__ = ["build_rest_app"]
