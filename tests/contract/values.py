"""Canonical values the storage contract suites write: payments and their keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from adapter.model import Money, Payment, PaymentKind, PaymentStatus
from adapter.model.identifiers import new_core_reference, new_payment_id
from adapter.ports.idempotency import IdempotencyRecord, KeyState
from tests.contract.conftest import T0


def payment(at: datetime = T0, amount: str = "1.00") -> Payment:
    return Payment.model_construct(
        payment_id=new_payment_id(), kind=PaymentKind.TRANSFER, status=PaymentStatus.ACCEPTED,
        caller_id="partner", debtor_account_id="A1", debtor_iban=None, creditor_account_id="A2",
        creditor_iban=None, biller_id=None, customer_reference=None,
        amount=Money(amount=Decimal(amount), currency="EUR"), end_to_end_id="E2E",
        remittance=None, core_reference=new_core_reference(), core_transaction_id=None,
        reason_code=None, reason_message=None, created_at=at - timedelta(seconds=1),
        updated_at=at, booked_at=None)


def key_for(p: Payment, key: str = "key-1", caller_id: str = "partner", *,
            locked_for: timedelta = timedelta(seconds=20),
            ttl: timedelta = timedelta(hours=24)) -> IdempotencyRecord:
    return IdempotencyRecord(
        caller_id=caller_id, key=key, fingerprint="f" * 64, state=KeyState.IN_PROGRESS,
        payment_id=p.payment_id, created_at=p.created_at,
        locked_until=p.created_at + locked_for, expires_at=p.created_at + ttl)
