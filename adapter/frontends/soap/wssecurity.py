"""WS-Security UsernameToken (OASIS WSS UsernameToken Profile 1.1) for legacy SOAP callers.

Mutual TLS has already named the caller (the certificate CN); the token proves, on top, that
the calling system holds that caller's WS-Security password.

Invariants:
- Rule 1: every SOAP request carries exactly one `wsse:Security` header with exactly one
  `wsse:UsernameToken`; its Username is the caller's own (`Caller.ws_security.username`),
  else FORBIDDEN. A caller without a WS-Security credential cannot use SOAP (FORBIDDEN).
- Rule 2: PasswordDigest (profile section 3.1: Base64(SHA-1(nonce + created + password)))
  requires Nonce and Created. PasswordText may omit both (zeep and most stacks send neither;
  the channel is mutual TLS); when present they are checked exactly as for a digest. A Nonce
  without a Created is refused: it could not be remembered for a bounded time.
- Rule 3: Created must carry a time zone and be no older than `MAX_AGE` (5 minutes) and no
  further in the future than `FUTURE_SKEW` (60 s, WSS4J's default allowance for clock skew).
- Rule 4: a Nonce is accepted once per username. It is remembered only after the password
  checked out, for MAX_AGE + FUTURE_SKEW after arrival: a token accepted at time A has
  Created <= A + FUTURE_SKEW, so from A + MAX_AGE + FUTURE_SKEW on it is refused as stale
  anyway. The remembering is the nonce port's (`adapter.ports.nonces`): in this process's
  bounded memory by default (`adapter.stores.memory.nonces`: when full, new nonces are
  refused, fail closed, which only a sustained rate above about 2,800 calls/s per process
  can cause), or in a database the processes share.
- Rule 5: passwords are never held in the clients file in clear. PasswordText is checked
  against the scrypt hash; a successful check is remembered as an HMAC under a per-process
  random key, so the 50 ms scrypt runs once per password, not once per call (and a wrong
  password always pays it, off the event loop). PasswordDigest needs the password itself:
  it is unsealed (Fernet, `STATE/pki/secrets.key`) once and kept in memory only.
- Rule 6: no password, digest or nonce is ever logged or echoed in a fault.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from adapter.model.errors import Forbidden, InternalError, Unauthenticated
from adapter.ports.nonces import NonceStore
from adapter.security import credentials
from adapter.security.hash_gate import HashGate
from adapter.services.clients import Caller, WsSecurityCredential

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT = f"{_PROFILE}#PasswordText"
PASSWORD_DIGEST = f"{_PROFILE}#PasswordDigest"
_BASE64 = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0"
           "#Base64Binary")

MAX_AGE = 300.0
FUTURE_SKEW = 60.0
# How long a nonce must be remembered (Rule 4): what a NonceStore is built with.
NONCE_RETENTION = MAX_AGE + FUTURE_SKEW
NONCE_BYTES = (8, 64)

_REFUSED = "the WS-Security UsernameToken was not accepted"


@dataclass(frozen=True)
class UsernameToken:
    username: str
    password: str
    digest: bool
    nonce: bytes | None
    created_text: str | None
    created: datetime | None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip()


def parse_token(header: Sequence[etree._Element] | None) -> UsernameToken:
    """The UsernameToken of the request's SOAP header (Rules 1 and 2), or UNAUTHENTICATED."""
    securities = [h for h in header or () if h.tag == f"{{{WSSE}}}Security"]
    if not securities:
        raise Unauthenticated("a WS-Security UsernameToken is required")
    if len(securities) > 1:
        raise Unauthenticated("exactly one wsse:Security header is allowed")
    tokens = securities[0].findall(f"{{{WSSE}}}UsernameToken")
    if len(tokens) != 1:
        raise Unauthenticated("exactly one wsse:UsernameToken is required")
    token = tokens[0]
    username = _text(token.find(f"{{{WSSE}}}Username"))
    password_el = token.find(f"{{{WSSE}}}Password")
    if not username or password_el is None:
        raise Unauthenticated("the UsernameToken needs a Username and a Password")
    kind = password_el.get("Type", PASSWORD_TEXT)
    if kind not in (PASSWORD_TEXT, PASSWORD_DIGEST):
        raise Unauthenticated("the Password Type must be PasswordText or PasswordDigest")
    digest = kind == PASSWORD_DIGEST
    nonce = _nonce(token.find(f"{{{WSSE}}}Nonce"))
    created_text = _text(token.find(f"{{{WSU}}}Created"))
    created = _created(created_text) if created_text is not None else None
    if digest and (nonce is None or created is None):
        raise Unauthenticated("a PasswordDigest needs a Nonce and a Created")
    if nonce is not None and created is None:
        raise Unauthenticated("a Nonce needs a Created")
    # A password is compared as given: whitespace may be part of it.
    password = password_el.text or ""
    return UsernameToken(username, password.strip() if digest else password, digest, nonce,
                         created_text, created)


def _nonce(element: etree._Element | None) -> bytes | None:
    if element is None:
        return None
    if element.get("EncodingType", _BASE64) != _BASE64:
        raise Unauthenticated("the Nonce must be Base64Binary")
    try:
        value = base64.b64decode(_text(element) or "", validate=True)
    except (binascii.Error, ValueError):
        raise Unauthenticated("the Nonce is not valid base64") from None
    if not NONCE_BYTES[0] <= len(value) <= NONCE_BYTES[1]:
        raise Unauthenticated(f"the Nonce must be {NONCE_BYTES[0]} to {NONCE_BYTES[1]} bytes")
    return value


def _created(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Unauthenticated("Created is not an xs:dateTime") from None
    if value.tzinfo is None:
        raise Unauthenticated("Created must carry a time zone (use UTC, 'Z')")
    return value


class UsernameTokenVerifier:
    """Checks a request's UsernameToken for an already mTLS-authenticated caller."""

    def __init__(self, sealing_key_file: Path, nonces: NonceStore, *,
                 clock: Callable[[], float] = time.time, gate: HashGate | None = None) -> None:
        if nonces.retention < NONCE_RETENTION:
            raise ValueError(f"the nonce store must remember nonces {NONCE_RETENTION:.0f} s")
        self._sealing_key_file = sealing_key_file
        self._gate = gate or HashGate(name="ws-security-scrypt")
        self._sealing_key: bytes | None = None
        self.nonces = nonces
        self._clock = clock
        self._hmac_key = os.urandom(32)
        self._text_ok: set[bytes] = set()
        self._text_checking: dict[bytes, asyncio.Task[bool]] = {}
        self._unsealed: dict[str, str] = {}

    async def verify(self, caller: Caller, header: Sequence[etree._Element] | None) -> None:
        token = parse_token(header)
        if token.created is not None:
            self._check_fresh(token.created)
        credential = caller.ws_security
        if credential is None:
            raise Forbidden("this client has no WS-Security credential; SOAP requires one")
        if not hmac.compare_digest(token.username.encode(), credential.username.encode()):
            raise Forbidden("the UsernameToken does not belong to this client certificate")
        ok = (self._digest_ok(token, credential) if token.digest
              else await self._text_ok_for(token.password, credential))
        if not ok:
            raise Unauthenticated(_REFUSED)
        if token.nonce is not None and not await self.nonces.add(
                token.username, token.nonce, now=self._clock()):
            raise Unauthenticated("this UsernameToken Nonce was already used")

    def _check_fresh(self, created: datetime) -> None:
        age = self._clock() - created.astimezone(UTC).timestamp()
        if age > MAX_AGE:
            raise Unauthenticated("the UsernameToken is older than 5 minutes (Created)")
        if age < -FUTURE_SKEW:
            raise Unauthenticated("the UsernameToken's Created is in the future")

    async def _text_ok_for(self, password: str, credential: WsSecurityCredential) -> bool:
        mark = hmac.digest(self._hmac_key, credential.password_hash.encode() + b"\0"
                           + password.encode(), "sha256")
        if mark in self._text_ok:
            return True
        # Single flight: a client that opens 32 connections at once sends 32 copies of a
        # password not yet remembered; they share one scrypt instead of filling the gate's
        # queue (which refused half of them as RATE_LIMITED).
        check = self._text_checking.get(mark)
        if check is None:
            check = asyncio.ensure_future(self._check_text(mark, password, credential))
            self._text_checking[mark] = check
            check.add_done_callback(lambda done: self._forget_check(mark, done))
        return await asyncio.shield(check)

    async def _check_text(self, mark: bytes, password: str,
                          credential: WsSecurityCredential) -> bool:
        # scrypt takes about 50 ms: off the loop, and bounded by the gate (a flood of wrong
        # passwords costs at most the gate's workers, and throttles that caller).
        if not await self._gate.check(
                credential.username,
                lambda: credentials.verify_password(password, credential.password_hash)):
            return False
        if len(self._text_ok) > 10_000:
            self._text_ok.clear()
        self._text_ok.add(mark)
        return True

    def _forget_check(self, mark: bytes, done: asyncio.Task[bool]) -> None:
        self._text_checking.pop(mark, None)
        if not done.cancelled():
            done.exception()  # retrieved here, so a check whose waiters all left logs nothing

    def _digest_ok(self, token: UsernameToken, credential: WsSecurityCredential) -> bool:
        assert token.nonce is not None and token.created_text is not None
        password = self._password(credential)
        expected = base64.b64encode(hashlib.sha1(
            token.nonce + token.created_text.encode() + password.encode()).digest())
        return hmac.compare_digest(expected, token.password.encode())

    def _password(self, credential: WsSecurityCredential) -> str:
        password = self._unsealed.get(credential.password_sealed)
        if password is None:
            if self._sealing_key is None:
                try:
                    self._sealing_key = self._sealing_key_file.read_bytes().strip()
                except OSError:
                    raise InternalError("the WS-Security sealing key is missing") from None
            try:
                password = credentials.unseal(credential.password_sealed, self._sealing_key)
            except Exception:
                raise InternalError("a stored WS-Security password cannot be unsealed") from None
            self._unsealed[credential.password_sealed] = password
        return password
