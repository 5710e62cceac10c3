"""What `bank-adapter up` prints once everything listens: endpoints, demo accounts with their
current balances, and copy-paste calls that use the demo client certificates.

Invariants:
- Rule 1: the banner holds no secret and no full IBAN (it goes to stdout, and stdout ends up
  in terminals, CI logs and tickets): it names the file that holds the legacy caller's
  password, and shows IBANs masked with `adapter.infra.logmask.mask`. Account ids stay whole: the
  copy-paste calls need them, and they are the demo's public data.
- Rule 2: balances are the core's current ones, read at start-up, not the seed table; an
  account the core cannot answer for shows "-".
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from adapter.config import Settings
from adapter.customer_root import customer_banner as customer_lines
from adapter.infra.logmask import mask, mask_url_password
from adapter.ports.core import CorePort
from core_sim.demo_data import DEMO_ACCOUNTS

# Accounts by internal id (AccountReference `id`), so the example carries no IBAN (Rule 1).
TRANSFER_BODY = (
    '{"debtorAccount": {"id": "10000001"}, '
    '"creditorAccount": {"id": "10000002"}, '
    '"instructedAmount": {"currency": "EUR", "amount": "12.50"}, '
    '"endToEndIdentification": "INV-2026-0042", '
    '"remittanceInformationUnstructured": "invoice 42"}'
)


async def current_balances(core: CorePort, *, timeout: float) -> dict[str, Decimal | None]:
    """Rule 2: each demo account's booked balance as the core holds it now (None: no answer)."""

    async def one(account_id: str) -> Decimal | None:
        try:
            return (await core.get_balance(account_id, timeout=timeout)).booked.amount
        except Exception:  # an unknown or unreachable account shows "-" (Rule 2)
            return None

    ids = [a.account_id for a in DEMO_ACCOUNTS]
    return dict(zip(ids, await asyncio.gather(*(one(i) for i in ids)), strict=True))


def store_line(settings: Settings) -> str:
    """Where the journal, keys, outbox, reversals, nonces and customers are kept."""
    if settings.database_url is None:
        return f"SQLite files in {settings.state_dir}"
    return f"PostgreSQL at {mask_url_password(settings.database_url)}"


def banner(settings: Settings, app: Any, balances: dict[str, Decimal | None]) -> str:
    pki = settings.pki_dir
    http = f"https://localhost:{app.http_port}"
    curl = f"curl --cert {pki}/partner.crt --key {pki}/partner.key --cacert {pki}/ca.crt"

    def balance(account_id: str) -> str:
        value = balances.get(account_id)
        return "-" if value is None else str(value)

    accounts = "\n".join(
        f"  {a.account_id}  {a.currency}  {mask(a.iban) or '-':<28} "
        f"{balance(a.account_id):>12}  {a.name}"
        + (f"  (biller {a.biller_id})" if a.biller_id else "")
        + ("  [blocked]" if a.status == "blocked" else "")
        for a in DEMO_ACCOUNTS
    )
    return f"""
bank-adapter is up (state folder: {settings.state_dir})

  REST   {http}/v1            OpenAPI {http}/openapi.json
  SOAP   {http}/soap/v1       WSDL    {http}/soap/v1?wsdl
  gRPC   localhost:{app.grpc_port}        bank.adapter.v1.BankingService (reflection on)
  core   {settings.core_soap_url} (SOAP), {settings.core_host}:{settings.core_iso_port} (ISO 8583);
         the adapter uses the {settings.core_connector.value} connector
  store  {store_line(settings)}

Demo callers (client certificates in {pki}):
  partner   accounts 10000001, 10000002 (REST)
  legacy    accounts 10000003-10000005; WS-Security user 'legacy', password in
            {pki}/legacy.password
  internal  every account, and the gRPC event stream

{customer_lines(settings)}
Demo accounts (current balances):
{accounts}

Try:
  {curl} {http}/v1/accounts
  {curl} {http}/v1/accounts/10000001/balances
  {curl} -X POST {http}/v1/transfers -H 'Content-Type: application/json' \\
      -H "Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')" \\
      -d '{TRANSFER_BODY}'

Press Ctrl-C to stop.
"""
