"""What `bank-adapter up` prints once everything listens: endpoints, demo accounts and
copy-paste calls that use the demo client certificates."""

from __future__ import annotations

from typing import Any

from adapter.config import Settings
from adapter.customer_root import customer_banner as customer_lines
from core_sim.demo_data import DEMO_ACCOUNTS

TRANSFER_BODY = (
    '{"debtorAccount": {"iban": "DE89370400440532013000"}, '
    '"creditorAccount": {"iban": "DE02120300000000202051"}, '
    '"instructedAmount": {"currency": "EUR", "amount": "12.50"}, '
    '"endToEndIdentification": "INV-2026-0042", '
    '"remittanceInformationUnstructured": "invoice 42"}'
)


def banner(settings: Settings, app: Any, legacy_password: str) -> str:
    pki = settings.pki_dir
    http = f"https://localhost:{app.http_port}"
    curl = f"curl --cert {pki}/partner.crt --key {pki}/partner.key --cacert {pki}/ca.crt"
    accounts = "\n".join(
        f"  {a.account_id}  {a.currency}  {(a.iban or '-'):<28} {a.balance:>12}  {a.name}"
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

Demo callers (client certificates in {pki}):
  partner   accounts 10000001, 10000002 (REST)
  legacy    accounts 10000003-10000005; WS-Security user 'legacy', password {legacy_password}
            (also in {pki}/legacy.password)
  internal  every account, and the gRPC event stream

{customer_lines(settings)}
Demo accounts:
{accounts}

Try:
  {curl} {http}/v1/accounts
  {curl} {http}/v1/accounts/10000001/balances
  {curl} -X POST {http}/v1/transfers -H 'Content-Type: application/json' \\
      -H "Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')" \\
      -d '{TRANSFER_BODY}'

Press Ctrl-C to stop.
"""
