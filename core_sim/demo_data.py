"""The simulated core's demo accounts and billers, as data.

`Ledger.seed_demo()` loads exactly this table; the README and `bank-adapter up` print it.
Amounts are decimal strings in the account's currency (never floats); IBANs are mod-97 valid
(ISO 13616, `core_sim.iban`).
Accounts 10000001 and 10000002 belong to the demo "partner" caller, 10000003 to "legacy"; the
"internal" caller sees every account.
"""

from __future__ import annotations

from dataclasses import dataclass

from core_sim.iban import make_iban


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    name: str
    currency: str
    iban: str | None
    balance: str
    overdraft: str = "0"
    status: str = "enabled"  # enabled | blocked
    kind: str = "customer"  # customer | biller
    biller_id: str | None = None


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("10000001", "Alice GmbH", "EUR", "DE89370400440532013000", "10000.00"),
    DemoAccount("10000002", "Bob Ltd", "EUR", "DE02120300000000202051", "2500.00", "500.00"),
    DemoAccount("10000003", "Carol AG", "EUR", make_iban("DE", "500105170000000003"), "5000.00"),
    DemoAccount("10000004", "Dave Inc", "USD", make_iban("GB", "NWBK60161331926819"), "8000.00"),
    DemoAccount("10000005", "Eiko KK", "JPY", None, "1000000"),
    DemoAccount("10000006", "Frank SE", "EUR", make_iban("DE", "500105170000000006"), "0.00",
                status="blocked"),
    DemoAccount("90000001", "City Power", "EUR", make_iban("DE", "500105170090000001"), "0.00",
                kind="biller", biller_id="ELEC01"),
    DemoAccount("90000002", "Telco One", "EUR", make_iban("DE", "500105170090000002"), "0.00",
                kind="biller", biller_id="TELCO01"),
)


def demo_table_markdown() -> str:
    """The demo accounts as a markdown table (README, `bank-adapter up`)."""
    lines = [
        "| account id | name | currency | IBAN | balance | overdraft | status | biller id |",
        "| --- | --- | --- | --- | ---: | ---: | --- | --- |",
    ]
    for a in DEMO_ACCOUNTS:
        lines.append(
            f"| {a.account_id} | {a.name} | {a.currency} | {a.iban or '-'} | {a.balance} | "
            f"{a.overdraft} | {a.status} | {a.biller_id or '-'} |"
        )
    return "\n".join(lines)
