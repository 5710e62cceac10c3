"""Transaction events: what the services announce when a payment reaches an outcome.

One event source for all protocols: a transfer made over REST or SOAP is seen on the gRPC
stream. `seq` is the event's position in the durable outbox, so a consumer resumes from it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from adapter.model.money import Money
from adapter.model.payments import Payment, PaymentKind
from adapter.model.status import PaymentStatus
from adapter.model.trusted import trusted


class EventType(StrEnum):
    BOOKED = "booked"
    REJECTED = "rejected"
    REVERSED = "reversed"


EVENT_FOR_STATUS = {
    PaymentStatus.BOOKED: EventType.BOOKED,
    PaymentStatus.REJECTED: EventType.REJECTED,
    PaymentStatus.REVERSED: EventType.REVERSED,
}


class TransactionEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int = 0  # assigned by the store when the event is written
    type: EventType
    payment_id: str
    kind: PaymentKind
    status: PaymentStatus
    debtor_account_id: str
    creditor_account_id: str | None = None
    biller_id: str | None = None
    amount: Money
    end_to_end_id: str
    reason_code: str | None = None
    occurred_at: datetime

    @classmethod
    def for_payment(cls, payment: Payment) -> TransactionEvent | None:
        event_type = EVENT_FOR_STATUS.get(payment.status)
        if event_type is None:
            return None
        return trusted(  # the payment's values are canonical already
            cls,
            seq=0,
            type=event_type,
            payment_id=payment.payment_id,
            kind=payment.kind,
            status=payment.status,
            debtor_account_id=payment.debtor_account_id,
            creditor_account_id=payment.creditor_account_id,
            biller_id=payment.biller_id,
            amount=payment.amount,
            end_to_end_id=payment.end_to_end_id,
            reason_code=payment.reason_code,
            occurred_at=payment.updated_at,
        )

    def accounts(self) -> tuple[str, ...]:
        if self.creditor_account_id is None:
            return (self.debtor_account_id,)
        return (self.debtor_account_id, self.creditor_account_id)
