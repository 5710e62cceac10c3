"""The customer resolver's rules on the in-memory store (services/customers/resolver.py):
only calls of the customer API are its kind, the relay's certificate is judged first, open
routes act for the relay, token routes for the customer with exactly one proof."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from adapter.model.errors import Forbidden, Unauthenticated
from adapter.services.clients import Caller, ClientRegistry, Operation
from adapter.services.customers import resolver as attr
from adapter.services.customers.dpop import InvalidDpopProof
from adapter.services.customers.errors import InvalidToken, RelayRequired
from adapter.services.customers.principal import CustomerPrincipal
from adapter.services.customers.resolver import CustomerResolver
from adapter.services.principal import Credentials
from adapter.stores.customers_memory import MemoryCustomerStore
from tests.customers.support import Clock, enrol, login, make_service

URL = "https://localhost/v1/customer/accounts"
CLIENTS = ClientRegistry([
    Caller(id="mobile", operations=frozenset({Operation.RELAY_CUSTOMERS})),
    Caller(id="partner", accounts=frozenset({"10000001"}),
           operations=frozenset({Operation.READ})),
])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def resolve(resolver: CustomerResolver, credentials: Credentials) -> Any:
    """The resolver's answer, awaited when it must wait (a token lookup): it answers at once
    when it can, as the pipeline expects."""
    answer = resolver(credentials)
    return run(answer) if inspect.isawaitable(answer) else answer


@pytest.fixture
def setup() -> tuple[CustomerResolver, Any, Any, Clock]:
    clock = Clock()
    service = make_service(MemoryCustomerStore(), clock)

    async def go() -> tuple[Any, Any]:
        who = await enrol(service, clock)
        return who, await login(service, clock, who)
    who, tokens = run(go())
    return CustomerResolver(service, CLIENTS), who, tokens, clock


def creds(cn: str | None, token: str | None, proof: str | None, *, api: bool = True,
          required: bool = True) -> Credentials:
    attributes = {attr.METHOD: "GET", attr.HTU: URL}
    if api:
        attributes[attr.API] = attr.CUSTOMER
    if required:
        attributes[attr.TOKEN] = attr.REQUIRED
    if proof is not None:
        attributes[attr.DPOP] = proof
    return Credentials(cn, None if token is None else f"DPoP {token}", attributes)


def test_outside_the_customer_api_a_customer_token_is_not_its_kind(setup: Any) -> None:
    """Rule 1: the same token and a valid proof on the partner API or gRPC: None, so the
    certificate resolver judges the caller alone."""
    resolver, who, tokens, clock = setup
    proof = who.device.dpop("GET", URL, access_token=tokens.access_token, iat=clock.ts)
    assert resolve(resolver, creds("mobile", tokens.access_token, proof, api=False)) is None


def test_the_relay_is_judged_first(setup: Any) -> None:
    """Rule 2: no certificate, an unknown one, a caller without relay_customers: refused,
    before the token is even looked at."""
    resolver, who, tokens, clock = setup
    proof = who.device.dpop("GET", URL, access_token=tokens.access_token, iat=clock.ts)
    with pytest.raises(Unauthenticated):
        resolve(resolver, creds(None, tokens.access_token, proof))
    with pytest.raises(Forbidden, match="not registered"):
        resolve(resolver, creds("stranger", tokens.access_token, proof))
    with pytest.raises(RelayRequired):
        resolve(resolver, creds("partner", tokens.access_token, proof))
    # The proof was not spent by the refusals: the relay can still use it.
    assert isinstance(resolve(resolver, creds("mobile", tokens.access_token, proof)),
                      CustomerPrincipal)


def test_an_open_route_acts_for_the_relay(setup: Any) -> None:
    resolver, *_ = setup
    principal = resolve(resolver, creds("mobile", None, None, required=False))
    assert principal == CLIENTS.get("mobile")


def test_a_token_route_needs_a_dpop_token_and_one_proof(setup: Any) -> None:
    """Rule 4: Bearer, no token, two proofs: refused; the right token and proof: the
    customer, bound to the device key."""
    resolver, who, tokens, clock = setup
    proof = who.device.dpop("GET", URL, access_token=tokens.access_token, iat=clock.ts)
    bearer = Credentials("mobile", f"Bearer {tokens.access_token}", creds(
        "mobile", None, proof).attributes)
    with pytest.raises(InvalidToken):
        resolve(resolver, bearer)
    with pytest.raises(InvalidToken):
        resolve(resolver, creds("mobile", None, proof))
    with pytest.raises(InvalidDpopProof, match="exactly one"):
        resolve(resolver, creds("mobile", tokens.access_token, f"{proof}, {proof}"))
    principal = resolve(resolver, creds("mobile", tokens.access_token, proof))
    assert isinstance(principal, CustomerPrincipal)
    assert principal.id == f"customer:{who.customer_id}"
    assert principal.accounts == frozenset({"10000001"}) and not principal.all_accounts


def test_without_the_resolver_no_certificate_opens_a_customer_route(setup: Any) -> None:
    """The customer edge's own guard (frontends/rest/customer.py `_admitted`): were the
    resolver missing, a certificate caller would reach no open route but as a relay and no
    token route at all."""
    from adapter.frontends.rest.customer import _admitted
    from adapter.services.context import RequestContext

    partner, mobile = CLIENTS.get("partner"), CLIENTS.get("mobile")
    assert partner is not None and mobile is not None
    for token in (False, True):
        with pytest.raises(RelayRequired):
            _admitted(RequestContext(partner), token=token)
    assert _admitted(RequestContext(mobile), token=False).caller is mobile
    with pytest.raises(InvalidToken):
        _admitted(RequestContext(mobile), token=True)
