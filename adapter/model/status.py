"""The payment status lifecycle, as a table.

    RECEIVED ──> ACCEPTED ──> BOOKED ──> REVERSED
       │            │  ▲         ▲
       │            │  └─────────┼────────┐
       ▼            ▼            │        │
    REJECTED <── IN_DOUBT ───────┘ ──> REVERSED

Invariants:
- Rule 1: the only moves are the ones in `TRANSITIONS`; anything else raises
  `IllegalTransition` and leaves the payment as it was.
- Rule 2: REJECTED and REVERSED are final. BOOKED is final except for a reversal.
- Rule 3: IN_DOUBT means the core may or may not have booked the payment (its answer was
  lost). It is left only by asking the core (status query or reversal), never by sending the
  payment again blindly.
- Rule 4: each state carries its ISO 20022 ExternalPaymentTransactionStatus1Code. pain.002 has no
  code for a reversal; REVERSED reports CANC (cancelled), the closest there is.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    BOOKED = "booked"
    REJECTED = "rejected"
    IN_DOUBT = "in_doubt"
    REVERSED = "reversed"

    @property
    def iso20022(self) -> str:
        return ISO20022_CODES[self]

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self] or self is PaymentStatus.BOOKED


ISO20022_CODES: dict[PaymentStatus, str] = {
    PaymentStatus.RECEIVED: "RCVD",  # Received
    PaymentStatus.ACCEPTED: "ACTC",  # AcceptedTechnicalValidation
    PaymentStatus.BOOKED: "ACSC",  # AcceptedSettlementCompleted
    PaymentStatus.REJECTED: "RJCT",  # Rejected
    PaymentStatus.IN_DOUBT: "PDNG",  # Pending
    PaymentStatus.REVERSED: "CANC",  # Cancelled
}

TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.RECEIVED: frozenset({PaymentStatus.ACCEPTED, PaymentStatus.REJECTED}),
    PaymentStatus.ACCEPTED: frozenset(
        {PaymentStatus.BOOKED, PaymentStatus.REJECTED, PaymentStatus.IN_DOUBT}
    ),
    PaymentStatus.IN_DOUBT: frozenset(
        {PaymentStatus.BOOKED, PaymentStatus.REJECTED, PaymentStatus.REVERSED}
    ),
    PaymentStatus.BOOKED: frozenset({PaymentStatus.REVERSED}),
    PaymentStatus.REJECTED: frozenset(),
    PaymentStatus.REVERSED: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, current: PaymentStatus, target: PaymentStatus) -> None:
        super().__init__(f"a payment cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_transition(current: PaymentStatus, target: PaymentStatus) -> PaymentStatus:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)
    return target
