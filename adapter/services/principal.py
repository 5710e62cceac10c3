"""Who a request acts for: the principal every service authorises against.

Two kinds are foreseen, and the services see only this interface:
- a client (`services.clients.Caller`, kind "client"): an institution named by the common name
  of its verified client certificate and granted operations and accounts in the clients file;
- a customer of the mobile app (kind "customer"), named by a customer token that a resolver
  checks, relayed by a registered client; that resolver plugs into the call pipeline
  (`Pipeline.add_resolver`) without a change to any service.

Invariants:
- Rule 1: `id` scopes everything a principal owns in the adapter's state (idempotency keys,
  payment ownership), so ids of different kinds never collide: a non-client kind prefixes its
  ids with its kind ("customer:...").
- Rule 2: `require` and `require_account` raise FORBIDDEN with a message that never says
  whether an account exists (no enumeration).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from adapter.services.clients import Operation


class Principal(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def accounts(self) -> frozenset[str]: ...

    @property
    def all_accounts(self) -> bool: ...

    def may_use_account(self, account_id: str) -> bool: ...

    def require(self, operation: Operation) -> None: ...

    def require_account(self, account_id: str) -> None: ...


@dataclass(frozen=True)
class Credentials:
    """What an edge read about who is calling; a resolver turns it into a principal.

    `certificate_cn` is the CN of the client certificate TLS verified (every edge has one:
    mutual TLS is mandatory). `authorization` is the caller's Authorization header (REST) or
    `authorization` metadata (gRPC), if any. `attributes` holds whatever else a resolver may
    need and only the edge can read (a DPoP proof, the HTTP method and target URI)."""

    certificate_cn: str | None
    authorization: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


PrincipalResolver = Callable[
    [Credentials], "Principal | Awaitable[Principal | None] | None"]
"""Returns the principal these credentials name, None when they are not of its kind, or
raises UNAUTHENTICATED / FORBIDDEN when they are of its kind but not good. A resolver that
can answer at once (a certificate looked up in memory, credentials not of its kind) returns
the answer itself; one that must wait (a token looked up in a store) returns an awaitable of
it: most calls then await nothing on their way in."""
