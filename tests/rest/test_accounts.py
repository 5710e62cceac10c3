"""Account resources over mutual TLS: list, one account, balances, transactions."""

from __future__ import annotations

import httpx

from tests.rest.conftest import PARTNER2_IBAN, PARTNER_IBAN, Bank, new_key, transfer_body


def _amount(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def test_list_accounts_shows_exactly_the_callers_accounts(partner: httpx.Client) -> None:
    """The partner sees its two accounts, with Berlin Group fields and links."""
    r = partner.get("/v1/accounts")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"accounts": [
        {"resourceId": "10000001", "iban": PARTNER_IBAN, "currency": "EUR",
         "name": "Alice GmbH", "product": "current", "cashAccountType": "CACC",
         "status": "enabled", "_links": {
             "balances": {"href": "/v1/accounts/10000001/balances"},
             "transactions": {"href": "/v1/accounts/10000001/transactions"}}},
        {"resourceId": "10000002", "iban": PARTNER2_IBAN, "currency": "EUR",
         "name": "Bob Ltd", "product": "current", "cashAccountType": "CACC",
         "status": "enabled", "_links": {
             "balances": {"href": "/v1/accounts/10000002/balances"},
             "transactions": {"href": "/v1/accounts/10000002/transactions"}}},
    ]}


def test_internal_caller_lists_every_account(internal: httpx.Client) -> None:
    """A caller granted all accounts sees every account of the core."""
    r = internal.get("/v1/accounts")
    assert r.status_code == 200
    ids = {a["resourceId"] for a in r.json()["accounts"]}
    assert {"10000001", "10000002", "10000003", "10000004", "10000005"} <= ids


def test_get_account_by_id_and_by_iban(partner: httpx.Client) -> None:
    """An account is reachable by its internal id and by its IBAN, with the same body."""
    by_id = partner.get("/v1/accounts/10000001")
    by_iban = partner.get(f"/v1/accounts/{PARTNER_IBAN}")
    assert by_id.status_code == by_iban.status_code == 200
    assert by_id.json() == by_iban.json()
    assert by_id.json()["account"]["resourceId"] == "10000001"
    assert by_id.json()["account"]["iban"] == PARTNER_IBAN


def test_balances_match_the_ledger(bank: Bank, partner: httpx.Client) -> None:
    """Booked is the ledger's balance; available adds the 500.00 overdraft of 10000002."""
    r = partner.get("/v1/accounts/10000002/balances")
    booked, available, currency = bank.core.ledger.balance("10000002")
    assert available == booked + 50000
    assert r.status_code == 200
    body = r.json()
    assert body["account"] == {"id": "10000002", "iban": "DE02120300000000202051"}
    assert [(b["balanceType"], b["balanceAmount"]) for b in body["balances"]] == [
        ("interimBooked", {"currency": currency, "amount": _amount(booked)}),
        ("interimAvailable", {"currency": currency, "amount": _amount(available)}),
    ]


def test_transactions_page_with_cursor_and_dates(partner: httpx.Client) -> None:
    """Three new debits come back newest first, two per page, and the cursor continues."""
    e2es = [f"PAGE-{new_key()[:8]}" for _ in range(3)]
    for i, e2e in enumerate(e2es):
        r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                         json=transfer_body(f"0.0{i + 1}", debtor=PARTNER2_IBAN,
                                            creditor=PARTNER_IBAN, e2e=e2e))
        assert r.status_code == 201, r.text
    first = partner.get("/v1/accounts/10000002/transactions", params={"limit": 2})
    assert first.status_code == 200
    page1 = first.json()["transactions"]
    assert [t["endToEndId"] for t in page1["booked"]] == [e2es[2], e2es[1]]
    assert page1["booked"][0]["transactionAmount"] == {"currency": "EUR", "amount": "-0.03"}
    assert page1["booked"][0]["creditDebitIndicator"] == "DBIT"
    assert page1["booked"][0]["creditorAccount"] == {"id": "10000001", "iban": PARTNER_IBAN}
    second = partner.get(page1["_links"]["next"]["href"])
    assert second.status_code == 200
    assert second.json()["transactions"]["booked"][0]["endToEndId"] == e2es[0]
    today = page1["booked"][0]["valueDate"]
    same_day = partner.get("/v1/accounts/10000002/transactions",
                           params={"limit": 1, "dateFrom": today, "dateTo": today})
    assert same_day.json()["transactions"]["booked"][0]["endToEndId"] == e2es[2]
    future = partner.get("/v1/accounts/10000002/transactions",
                         params={"dateFrom": "2999-01-01"})
    assert future.status_code == 200
    assert future.json()["transactions"] == {"booked": [], "pending": [],
                                             "_links": {"next": None}}


def test_credit_shows_the_debtor_as_counterparty(partner: httpx.Client) -> None:
    """On the creditor's side the entry is a positive CRDT naming the debtor account."""
    e2e = f"CRDT-{new_key()[:8]}"
    r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                     json=transfer_body("1.25", e2e=e2e))
    assert r.status_code == 201
    entry = partner.get("/v1/accounts/10000002/transactions",
                        params={"limit": 1}).json()["transactions"]["booked"][0]
    assert entry["endToEndId"] == e2e
    assert entry["transactionAmount"] == {"currency": "EUR", "amount": "1.25"}
    assert entry["creditDebitIndicator"] == "CRDT"
    assert entry["debtorAccount"] == {"id": "10000001", "iban": PARTNER_IBAN}
    assert entry["creditorAccount"] is None


def test_bad_history_parameters_name_the_parameter(partner: httpx.Client) -> None:
    """limit out of range, a bad date and a reversed range are 400s naming the parameter."""
    cases = [({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"),
             ({"dateFrom": "yesterday"}, "dateFrom"),
             ({"dateFrom": "2026-02-01", "dateTo": "2026-01-01"}, "dateFrom"),
             # Issue 12.2: the core could not take a year before 1000 ("malformed", no field);
             # and query text is read as the document states it, not leniently.
             ({"dateFrom": "0218-07-15"}, "dateFrom"), ({"dateTo": "0999-12-31"}, "dateTo"),
             ({"dateFrom": "1654646400"}, "dateFrom"),
             ({"dateFrom": "2026-01-05T00:00:00"}, "dateFrom"),
             ({"limit": "+5"}, "limit"), ({"limit": " 5"}, "limit"), ({"limit": "05"}, "limit"),
             ({"limit": "5.0"}, "limit")]
    for params, field in cases:
        r = partner.get("/v1/accounts/10000001/transactions", params=params)
        assert r.status_code == 400, params
        assert r.json()["code"] == "VALIDATION"
        assert [v["field"] for v in r.json()["violations"]] == [field]


def test_partner_cannot_read_another_callers_account(partner: httpx.Client,
                                                     legacy: httpx.Client) -> None:
    """Each registered caller is refused (403) on the other's accounts, by id or IBAN."""
    for client, path in [(partner, "/v1/accounts/10000003"),
                         (partner, "/v1/accounts/10000003/balances"),
                         (partner, "/v1/accounts/10000003/transactions"),
                         (legacy, "/v1/accounts/10000001"),
                         (legacy, f"/v1/accounts/{PARTNER_IBAN}/balances")]:
        r = client.get(path)
        assert r.status_code == 403, path
        assert r.json()["code"] == "FORBIDDEN"


def test_unknown_account_is_404(internal: httpx.Client) -> None:
    """An account the core does not know is ACCOUNT_NOT_FOUND."""
    r = internal.get("/v1/accounts/99999999")
    assert r.status_code == 404
    assert r.json()["code"] == "ACCOUNT_NOT_FOUND"


def test_malformed_account_id_is_400(partner: httpx.Client) -> None:
    """A path segment that is neither an account id nor an IBAN is refused by name."""
    r = partner.get("/v1/accounts/bad!id")
    assert r.status_code == 400
    assert r.json()["violations"][0]["field"] == "account_id"
