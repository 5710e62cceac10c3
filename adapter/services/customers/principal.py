"""The customer as a principal of the existing account and payment services.

The services authorise through the `Caller` interface (`require`, `require_account`,
`may_use_account`, `all_accounts`, `id`). A `CustomerPrincipal` *is* a Caller, so the services
run unchanged with a customer in the request context, and it carries what only a customer has:
the customer id, the device key's thumbprint its token is bound to and its authentication level.

Invariants:
- Rule 1: a customer's account set is exactly the accounts the customer store says it owns;
  never the wildcard, so `all_accounts` is always False.
- Rule 2: `id` is `customer:<customer_id>` (a random UUID), so idempotency keys and payment
  ownership are scoped to the customer, never to the relay that carried the request: two
  customers behind one mobile back-end never share a key space or see each other's payments.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import field_validator

from adapter.services.clients import ALL_ACCOUNTS, Caller, Operation

CUSTOMER_ID_PREFIX = "customer:"
CUSTOMER_OPERATIONS = frozenset({Operation.READ, Operation.TRANSFER, Operation.BILL_PAYMENT})


class AuthLevel(StrEnum):
    """What the session's login proved (RTS art. 4: two independent elements)."""

    DEVICE_AND_PASSWORD = "device+password"
    PASSWORD_AND_OTP = "password+otp"


class CustomerPrincipal(Caller):
    customer_id: str
    username: str
    device_jkt: str
    session_id: str
    auth_level: AuthLevel

    @field_validator("accounts")
    @classmethod
    def _no_wildcard(cls, value: frozenset[str]) -> frozenset[str]:
        if ALL_ACCOUNTS in value:
            raise ValueError("a customer never owns every account")
        return value

    @classmethod
    def for_customer(cls, *, customer_id: str, username: str, accounts: frozenset[str],
                     device_jkt: str, session_id: str,
                     auth_level: AuthLevel) -> CustomerPrincipal:
        return cls(id=CUSTOMER_ID_PREFIX + customer_id, accounts=accounts,
                   operations=CUSTOMER_OPERATIONS, customer_id=customer_id, username=username,
                   device_jkt=device_jkt, session_id=session_id, auth_level=auth_level)
