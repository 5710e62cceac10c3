"""One-time codes: TOTP (RFC 6238) with SHA-1, 6 digits, 30-second steps (what every
authenticator app reads from an `otpauth://` URI), secrets sealed at rest.

Invariants:
- Rule 1: a code is accepted for the current step or one step either side (RFC 6238
  section 5.2: "at most one time step is allowed as the network delay"); anything further is
  refused as clock skew beyond the window.
- Rule 2: a code is accepted at most once: the store keeps the last accepted step and
  refuses that step and every earlier one (RFC 6238 section 5.2: "the verifier MUST NOT
  accept the second attempt of the OTP after the successful validation"). The check and the
  update are one conditional write (port Rule 2).
- Rule 3: the comparison is constant-time (pyotp uses hmac.compare_digest).
"""

from __future__ import annotations

import re
from datetime import datetime

import pyotp

from adapter.security import credentials

STEP_SECONDS = 30
DIGITS = 6
WINDOW_STEPS = 1
CODE_RE = re.compile(r"^[0-9]{6}$")
ISSUER = "bank-adapter"


def new_secret() -> str:
    """160 random bits, base32 (RFC 4226 section 4, R6: the shared secret is 160 bits)."""
    return pyotp.random_base32(32)


def seal_secret(secret: str, key: bytes) -> str:
    return credentials.seal(secret, key)


def unseal_secret(sealed: str, key: bytes) -> str:
    return credentials.unseal(sealed, key)


def provisioning_uri(secret: str, username: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app enrols from (as a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER)


def code_at(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(at)


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step whose code `code` is, within the window (Rule 1); None if none is."""
    if not CODE_RE.match(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now_step = totp.timecode(at)
    found = None
    # Check every step of the window, whatever matched first, so the time taken does not
    # tell which step matched.
    for offset in range(-WINDOW_STEPS, WINDOW_STEPS + 1):
        step = now_step + offset
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            found = step
    return found
