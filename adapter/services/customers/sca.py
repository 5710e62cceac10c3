"""Strong customer authentication per payment, with dynamic linking (PSD2 RTS art. 5).

The challenge the device signs *contains* the payment: its bytes are 16 random bytes followed
by SHA-256 of the payment's text ("transfer 1250.00 EUR to iban:DE02..."), which the app shows
the customer before the biometric unlocks the key (art. 5(1)(a): the payer is made aware of
the amount and the payee). The adapter keeps the digest with the challenge and, when the
payment arrives, recomputes it from the payment as submitted: a different amount or payee
gives another digest and the authentication code is refused (art. 5(1)(c), 5(1)(d)).

Invariants:
- Rule 1: a challenge authorises exactly one payment (one-time, store port Rule 2), of one
  customer, from the device of the session that asked for it, within `ttl`.
- Rule 2: a payment is exempt when its amount is at most the threshold *and* its payee is one
  the customer paid before with SCA (art. 13 trusted beneficiaries, art. 16 low value) or is
  the customer's own account (art. 15); every exemption is written to the audit trail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

NONCE_BYTES = 16


@dataclass(frozen=True)
class PaymentSummary:
    """What the customer approves: the dynamic-linking text and the payee's key."""

    kind: str  # transfer | bill_payment
    amount: Decimal
    currency: str
    payee: str  # iban:..., id:... or biller:<id>/<customer reference>
    debtor: str

    @property
    def text(self) -> str:
        return (f"{self.kind} {self.amount:f} {self.currency} from {self.debtor} "
                f"to {self.payee}")

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.text.encode()).digest()


def challenge_bytes(nonce: bytes, summary: PaymentSummary) -> bytes:
    return nonce + summary.digest


def linked_to(challenge: bytes, summary: PaymentSummary) -> bool:
    return len(challenge) == NONCE_BYTES + 32 and challenge[NONCE_BYTES:] == summary.digest
