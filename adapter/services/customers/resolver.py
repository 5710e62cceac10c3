"""The call pipeline's principal resolver for the customer API (`/v1/customer/...`).

An edge marks a call as one of the customer API by `Credentials.attributes[API] == CUSTOMER`
and, for a route behind a token, `attributes[TOKEN] == REQUIRED`; it also hands over the
`DPoP` header (`attributes[DPOP]`, several fields joined by ", " as HTTP combines them) and
the request's method and URI as the proof must name them (`METHOD`, `HTU`, RFC 9449
section 4.3 items 8-9). The resolver answers, in this order:

- Rule 1: a call that is not of the customer API is not its kind (None): a DPoP token sent
  to the partner API or gRPC is never a customer there, so no route outside the customer API
  (which runs strong customer authentication per payment) can act for a customer.
- Rule 2: the relay's certificate first, every time: none -> UNAUTHENTICATED, unknown ->
  FORBIDDEN, a caller without the `relay_customers` operation -> FORBIDDEN; a customer's
  valid token and proof are not enough from any other caller.
- Rule 3: an open route (enrolment, login, refresh) acts for the relay itself, which owns no
  account and may do nothing but relay; the customer's own proofs are in the body.
- Rule 4: a route behind a token acts for the customer: `Authorization: DPoP <token>` with
  exactly one DPoP proof by the device key the token is bound to (CustomerService.authenticate),
  else INVALID_TOKEN / INVALID_DPOP_PROOF, which the edge answers with a `WWW-Authenticate`
  challenge.
"""

from __future__ import annotations

from collections.abc import Awaitable

from adapter.services.clients import ClientRegistry, Operation
from adapter.services.customers.dpop import InvalidDpopProof, ProofRequest
from adapter.services.customers.errors import InvalidToken, RelayRequired
from adapter.services.customers.service import CustomerService
from adapter.services.principal import Credentials, Principal

API = "api"
CUSTOMER = "customer"
TOKEN = "token"
REQUIRED = "required"
DPOP = "dpop"
METHOD = "method"
HTU = "htu"


class CustomerResolver:
    def __init__(self, customers: CustomerService, clients: ClientRegistry) -> None:
        self._customers = customers
        self._clients = clients

    def __call__(self, credentials: Credentials
                 ) -> Principal | Awaitable[Principal | None] | None:
        # Sync until the token must be looked up: every call of every edge passes here, and
        # most are not of the customer API (Rule 1).
        attributes = credentials.attributes
        if attributes.get(API) != CUSTOMER:  # Rule 1
            return None
        relay = self._clients.authenticate(credentials.certificate_cn)  # Rule 2
        if Operation.RELAY_CUSTOMERS not in relay.operations:
            raise RelayRequired()
        if attributes.get(TOKEN) != REQUIRED:  # Rule 3
            return relay
        scheme, _, token = (credentials.authorization or "").partition(" ")
        if scheme.lower() != "dpop" or not token.strip():
            # RFC 9449 section 7.1: a DPoP-bound token travels as `Authorization: DPoP ...`;
            # a Bearer one would be usable without the device.
            raise InvalidToken("send the access token as 'Authorization: DPoP <token>' with "
                               "a DPoP proof")
        proof = attributes.get(DPOP)
        if proof is not None and "," in proof:  # a compact JWS has no comma: two headers
            raise InvalidDpopProof("exactly one DPoP header is allowed")
        request = ProofRequest(attributes.get(METHOD, ""), attributes.get(HTU, ""))
        return self._customers.authenticate(token.strip(), proof, request)


__all__ = ["API", "CUSTOMER", "DPOP", "HTU", "METHOD", "REQUIRED", "TOKEN", "CustomerResolver"]
