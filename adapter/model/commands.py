"""Canonical commands and queries: everything one service call needs, validated once.

An edge builds one of these from the wire (`adapter.frontends.validation.build`) and hands it
to a service, which trusts it: the idempotency key, the payment id and the history cursor are
checked here, by their canonical types (model.identifiers), for every protocol alike.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from adapter.model.identifiers import IdempotencyKey, PaymentId
from adapter.model.payments import BillPaymentRequest, TransferRequest


class TransferCommand(BaseModel):
    """Move money between two accounts, at most once per (caller, key)."""

    model_config = ConfigDict(frozen=True)

    key: IdempotencyKey
    request: TransferRequest


class BillPaymentCommand(BaseModel):
    """Pay a registered biller, at most once per (caller, key)."""

    model_config = ConfigDict(frozen=True)

    key: IdempotencyKey
    request: BillPaymentRequest


class GetPaymentQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: PaymentId

