"""Request header values by name, from one table per request.

Starlette's `Headers.get` scans the raw list once per lookup and raises (and catches) a
KeyError for an absent header; a resource call reads five names, so the first lookup builds
a name -> value table in the ASGI scope and the others are dictionary lookups. The first of
repeated headers wins, as with `Headers.get`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

_TABLE = "adapter.headers"  # the scope key; ASGI leaves names outside the spec to servers


def header(scope: MutableMapping[str, Any], name: bytes) -> str | None:
    """The value of the header `name` (lower-case, as ASGI hands names over), or None."""
    table: dict[bytes, bytes] | None = scope.get(_TABLE)
    if table is None:
        table = scope[_TABLE] = dict(reversed(scope["headers"]))
    value = table.get(name)
    return None if value is None else value.decode("latin-1")
