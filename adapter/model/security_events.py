"""Security events: an intrusion signal crossed its threshold for one subject in one window.

`seq` is the event's position in the security-event log (adapter.ports.security_events),
assigned when it is appended. A subject is a source address or an identity (a principal id,
or the CN of a certificate the clients file does not know); neither is secret, and no account
number, password, key or token is ever part of an event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Signal(StrEnum):
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"  # any handshake that did not complete
    CERTIFICATE_REFUSED = "certificate_refused"  # failed verification, or an unknown CN
    AUTHENTICATION_FAILED = "authentication_failed"  # UNAUTHENTICATED (WS-Security, tokens)
    RATE_LIMITED = "rate_limited"  # a call refused by the caller's rate limit
    LOCKOUT = "lockout"  # a check refused because its subject is locked out


SubjectKind = Literal["source", "identity"]


class SecurityEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int = 0
    signal: Signal
    subject_kind: SubjectKind
    subject: str
    count: int  # signals counted in the window when the threshold was reached
    threshold: int
    window_start: datetime
    window_seconds: float
    occurred_at: datetime
