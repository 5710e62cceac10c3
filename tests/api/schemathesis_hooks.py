"""What schemathesis needs to know about this API beyond what JSON Schema can say.

Loaded by the schemathesis run (SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks):
- the document's `iban` format (ISO 13616: the country's length and mod-97 check digits):
  half of the IBANs made are the demo partner's own, so generated payments reach the core
  and book; the others are valid IBANs of no account here (404);
- the rules between two values that the document states in words, which a positive case
  (one the fuzzer believes valid) must honour too, or the server's correct 400 reads as a
  failure: a history `cursor` is opaque (only the server makes one: a positive case carries
  none; negative ones keep theirs), `dateFrom` is not after `dateTo`, and a transfer's two
  accounts differ, and an `Idempotency-Key` is not reused for another body (a generator
  draws the same few keys again and again: each would be IDEMPOTENCY_CONFLICT, and no
  payment would reach the core). A case is only changed where it breaks such a rule, and
  schemathesis validates it again against the document after this hook.
"""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation

from adapter.model.accounts import IBAN_LENGTHS, make_iban

# The demo partner's accounts, by id and by IBAN.
PARTNER_ACCOUNTS = {"10000001": "DE89370400440532013000", "10000002": "DE02120300000000202051"}
_ACCOUNT_OF = {**{i: i for i in PARTNER_ACCOUNTS}, **{v: k for k, v in PARTNER_ACCOUNTS.items()}}


def _any_valid_iban() -> st.SearchStrategy[str]:
    alphabet = string.ascii_uppercase + string.digits
    return st.sampled_from(sorted(IBAN_LENGTHS)).flatmap(
        lambda country: st.text(alphabet, min_size=IBAN_LENGTHS[country] - 4,
                                max_size=IBAN_LENGTHS[country] - 4)
        .map(lambda bban: make_iban(country, bban)))


schemathesis.openapi.format("iban", st.one_of(st.sampled_from(sorted(PARTNER_ACCOUNTS.values())),
                                              _any_valid_iban()))


def _account(ref: Any) -> str | None:
    """The account an AccountReference names, as far as this run can tell."""
    if not isinstance(ref, dict):
        return None
    for key in ("id", "iban"):
        value = ref.get(key)
        if isinstance(value, str):
            return _ACCOUNT_OF.get(value.replace(" ", "").upper(), value)
    return None


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    meta = case.meta
    label = case.operation.label
    if label == "GET /v1/accounts/{account_id}/transactions" and isinstance(case.query, dict) and (
            meta is None or not meta.is_negative_at(ParameterLocation.QUERY)):
        case.query.pop("cursor", None)
        low, high = case.query.get("dateFrom"), case.query.get("dateTo")
        if isinstance(low, str) and isinstance(high, str) and low > high:
            case.query["dateFrom"], case.query["dateTo"] = high, low
    if case.method.upper() == "POST" and isinstance(case.headers, dict) and (
            meta is None or not meta.is_negative_at(ParameterLocation.HEADER)) and \
            isinstance(case.headers.get("Idempotency-Key"), str):
        # The same key and body stay the same key (a replay); another body gets another key.
        text = json.dumps([case.headers["Idempotency-Key"], case.body], sort_keys=True)
        case.headers["Idempotency-Key"] = hashlib.sha256(text.encode()).hexdigest()
    if label == "POST /v1/transfers" and isinstance(case.body, dict) and (
            meta is None or not meta.is_negative_at(ParameterLocation.BODY)):
        debtor = _account(case.body.get("debtorAccount"))
        if debtor is not None and debtor == _account(case.body.get("creditorAccount")):
            other = "10000002" if debtor == "10000001" else "10000001"
            case.body["creditorAccount"] = {"id": other}
    return case
