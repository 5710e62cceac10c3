"""The customer use cases: enrol a device, log in, refresh, log out, authenticate a request,
strong customer authentication of a payment, and the bank's own administration.

Invariants:
- Rule 1: two factors of different kinds for every login (PSD2 RTS art. 4): device key with
  user verification (possession + inherence) plus password (knowledge); or, to enrol a new
  device, password plus TOTP (knowledge + possession of the enrolled secret).
- Rule 2: every failed authentication attempt (password, TOTP, device signature, DPoP proof
  at login, SCA signature, and malformed, replayed or expired device data or challenges of a
  login, an enrolment or an SCA) counts toward lockout, whatever factor failed; a refusal
  changes nothing else.
- Rule 3: tokens are opaque, random (256 bits) and stored only as SHA-256 digests; an access
  token is valid only with a DPoP proof by the device key its session is bound to, for
  `access_ttl`, while the session has seen activity within `idle_limit` (RTS art. 4(3)(d)).
- Rule 4: a refresh token is used once; presenting a used one again revokes its whole session
  (the token family), since either the customer or a thief holds a copy.
- Rule 5: every security-relevant change is in the audit trail; new device, first login from
  a device, lockout, password or OTP change and device removal are also alerts (outbox).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapter.model.errors import FieldViolation, NotFound, ValidationError
from adapter.ports.customers import (
    Challenge,
    CustomerRecord,
    CustomerStorePort,
    DeviceRecord,
    LockState,
    SecurityEvent,
    SessionRecord,
)
from adapter.services.customers import lockout, totp
from adapter.services.customers.devices import DeviceKeys, DeviceRefused, credential_id_of
from adapter.services.customers.dpop import DpopVerifier, InvalidDpopProof, ProofRequest
from adapter.services.customers.errors import (
    ChallengeRefused,
    CustomerLocked,
    InvalidToken,
    ScaRequired,
)
from adapter.services.customers.passwords import PasswordVerifier
from adapter.services.customers.principal import AuthLevel, CustomerPrincipal
from adapter.services.customers.sca import NONCE_BYTES, PaymentSummary, challenge_bytes, linked_to

USERNAME_MAX = 64
PASSWORD_MAX = 256
DEVICE_NAME_MAX = 64
PASSWORD_MIN = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AlertKind:
    NEW_DEVICE = "new_device"
    LOGIN_NEW_DEVICE = "login_from_new_device"
    LOCKED = "customer_locked"
    PASSWORD_CHANGED = "password_changed"
    OTP_CHANGED = "otp_changed"
    DEVICE_REMOVED = "device_removed"


@dataclass(frozen=True)
class CustomerPolicy:
    access_ttl: timedelta = timedelta(minutes=5)
    idle_limit: timedelta = timedelta(minutes=5)
    session_max: timedelta = timedelta(hours=12)
    challenge_ttl: timedelta = timedelta(minutes=2)
    sca_threshold: Decimal = Decimal("30.00")
    lockout: lockout.LockoutPolicy = field(default_factory=lockout.LockoutPolicy)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


@dataclass(frozen=True)
class NewCustomer:
    customer: CustomerRecord
    totp_secret: str
    otpauth_uri: str


def _text(value: Any, name: str, limit: int, *, minimum: int = 1) -> str:
    if not isinstance(value, str) or not minimum <= len(value) <= limit or any(
            ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValidationError(
            f"{name} must be a string of {minimum} to {limit} printable characters",
            violations=(FieldViolation(name, f"{minimum} to {limit} printable characters"),))
    return value


def _worse(counted: Exception, specific: Exception) -> Exception:
    """A failure that locked the customer is answered with the lock; otherwise with the
    specific refusal (what was wrong with the signature or proof)."""
    return counted if isinstance(counted, CustomerLocked) else specific


class CustomerService:
    def __init__(self, store: CustomerStorePort, passwords: PasswordVerifier,
                 devices: DeviceKeys, sealing_key: bytes, *,
                 policy: CustomerPolicy | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.passwords = passwords
        self.devices = devices
        self.policy = policy or CustomerPolicy()
        self._key = sealing_key
        self._clock = clock
        self.dpop = DpopVerifier(store)

    def now(self) -> datetime:
        return self._clock()

    # -- administration (CLI, gRPC admin) --------------------------------------------------

    async def add_customer(self, username: str, password: str,
                           accounts: frozenset[str]) -> NewCustomer:
        username = _text(username, "username", USERNAME_MAX).lower()
        _text(password, "password", PASSWORD_MAX, minimum=PASSWORD_MIN)
        secret = totp.new_secret()
        record = CustomerRecord(
            customer_id=uuid.uuid4().hex, username=username,
            password_hash=await self.passwords.hash(password),
            totp_sealed=totp.seal_secret(secret, self._key), accounts=accounts,
            created_at=self.now())
        await self.store.add_customer(record)
        await self._event(record.customer_id, "customer_created",
                          {"accounts": sorted(accounts)})
        return NewCustomer(record, secret, totp.provisioning_uri(secret, username))

    async def customer(self, username: Any) -> CustomerRecord:
        """The customer of this username (checked for shape first), or NOT_FOUND."""
        name = _text(username, "username", USERNAME_MAX)
        record = await self.store.find_customer(name.lower())
        if record is None:
            raise NotFound(f"no customer {name!r}")
        return record

    async def unlock(self, username: Any, by: str) -> bool:
        """Lift any lock and reset the failure count (audited); whether a lock was in force."""
        record = await self.customer(username)
        state = await self.store.get_lock(record.username)
        was_locked = state.permanent or (state.locked_until is not None
                                         and self.now() < state.locked_until)
        await self.store.save_lock(record.username, LockState())
        await self._event(record.customer_id, "customer_unlocked",
                          {"by": by, "was_locked": was_locked})
        return was_locked

    async def devices_of(self, username: Any) -> list[DeviceRecord]:
        """Every device the customer registered, revoked ones included, oldest first."""
        record = await self.customer(username)
        return sorted(await self.store.list_devices(record.customer_id),
                      key=lambda d: (d.created_at, d.credential_id))

    async def reset_otp(self, username: Any, by: str) -> tuple[str, str]:
        record = await self.customer(username)
        secret = totp.new_secret()
        await self.store.set_totp(record.customer_id, totp.seal_secret(secret, self._key))
        await self._event(record.customer_id, AlertKind.OTP_CHANGED, {"by": by}, alert=True)
        return secret, totp.provisioning_uri(secret, record.username)

    async def change_password(self, username: str, password: str, by: str) -> None:
        record = await self.customer(username)
        _text(password, "password", PASSWORD_MAX, minimum=PASSWORD_MIN)
        await self.store.set_password_hash(record.customer_id,
                                           await self.passwords.hash(password))
        await self.store.revoke_sessions_of(record.customer_id, self.now())
        await self._event(record.customer_id, AlertKind.PASSWORD_CHANGED, {"by": by},
                          alert=True)

    async def revoke_device(self, customer_id: str, credential_id: Any, by: str) -> bool:
        """Revoke the customer's device and end its sessions (an alert); False if it was
        revoked already. Another customer's device is NOT_FOUND, as an unknown one."""
        if not isinstance(credential_id, str) or not 1 <= len(credential_id) <= 1366:
            raise ValidationError("the device id must be 1 to 1366 characters", violations=(
                FieldViolation("device_id", "1 to 1366 characters"),))
        device = await self.store.get_device(credential_id)
        if device is None or device.customer_id != customer_id:
            raise NotFound("no such device for this customer")
        now = self.now()
        if not await self.store.revoke_device(credential_id, now):
            return False
        await self.store.revoke_sessions_of(customer_id, now, credential_id)
        await self._event(customer_id, AlertKind.DEVICE_REMOVED,
                          {"device": device.name, "by": by}, alert=True)
        return True

    # -- failures and lockout (Rule 2) -----------------------------------------------------

    async def _check_lock(self, username: str) -> LockState:
        state = await self.store.get_lock(username)
        lockout.check(self.policy.lockout, state, self.now())
        return state

    async def _failed(self, username: str, state: LockState, customer_id: str | None,
                      why: str) -> Exception:
        now = self.now()
        new, locked = lockout.after_failure(self.policy.lockout, state, now)
        await self.store.save_lock(username, new)
        if customer_id is not None:
            await self._event(customer_id, "authentication_failed", {"factor": why})
            if locked:
                await self._event(customer_id, AlertKind.LOCKED, {
                    "until": new.locked_until.isoformat() if new.locked_until else None,
                    "permanent": new.permanent}, alert=True)
        return lockout.failure_error(self.policy.lockout, new, now)

    async def _succeeded(self, username: str, state: LockState) -> None:
        if state.failures:
            await self.store.save_lock(username, lockout.after_success(state))

    async def _first_factor(self, username: Any, password: Any
                            ) -> tuple[str, LockState, CustomerRecord | None, bool]:
        """Lock check and password, always one Argon2 verification (passwords Rule 3)."""
        name = _text(username, "username", USERNAME_MAX).lower()
        secret = _text(password, "password", PASSWORD_MAX)
        state = await self._check_lock(name)
        customer = await self.store.find_customer(name)
        ok, rehashed = await self.passwords.verify(
            customer.password_hash if customer else None, secret)
        if ok and customer is not None and rehashed is not None:
            await self.store.set_password_hash(customer.customer_id, rehashed)
        return name, state, customer, ok

    # -- enrolment: password + TOTP, then the new device key --------------------------------

    async def start_enrolment(self, username: Any, password: Any, code: Any,
                              ) -> tuple[str, dict[str, Any]]:
        name, state, customer, ok = await self._first_factor(username, password)
        now = self.now()
        if ok and customer is not None:
            step = totp.matching_step(totp.unseal_secret(customer.totp_sealed, self._key),
                                      code if isinstance(code, str) else "", now)
            ok = step is not None and await self.store.accept_totp_step(
                customer.customer_id, step)
        if not ok or customer is None:
            raise await self._failed(name, state, customer.customer_id if customer else None,
                                     "password or otp")
        await self._succeeded(name, state)
        challenge = await self._challenge("enrol", customer.customer_id)
        devices = await self.store.list_devices(customer.customer_id)
        options = self.devices.registration_options(
            challenge.challenge, customer.customer_id.encode(), customer.username,
            [d.credential_id for d in devices if d.revoked_at is None])
        return challenge.challenge_id, options

    async def finish_enrolment(self, challenge_id: Any, credential: Any,
                               device_name: Any) -> DeviceRecord:
        name = _text(device_name, "deviceName", DEVICE_NAME_MAX)
        challenge = await self._take(challenge_id, "enrol", None)
        assert challenge.customer_id is not None
        customer = await self.store.get_customer(challenge.customer_id)
        assert customer is not None
        state = await self._check_lock(customer.username)
        try:
            credential_id_of(credential)
            key = self.devices.verify_registration(credential, challenge.challenge)
        except (ValidationError, DeviceRefused) as exc:
            raise _worse(await self._failed(customer.username, state, customer.customer_id,
                                            "device registration"), exc) from None
        if await self.store.get_device(key.credential_id) is not None:
            raise ValidationError("this device key is registered already", violations=(
                FieldViolation("credential.id", "registered already"),))
        device = DeviceRecord(credential_id=key.credential_id, customer_id=customer.customer_id,
                              public_key=key.public_key, jkt=key.jkt,
                              sign_count=key.sign_count, name=name, created_at=self.now())
        await self.store.add_device(device)
        await self._event(customer.customer_id, AlertKind.NEW_DEVICE,
                          {"device": name, "credential": key.credential_id[:8]}, alert=True)
        return device

    # -- login: device key with user verification + password ------------------------------

    async def start_login(self) -> tuple[str, dict[str, Any]]:
        challenge = await self._challenge("login", None)
        return challenge.challenge_id, self.devices.authentication_options(challenge.challenge)

    async def finish_login(self, username: Any, password: Any, challenge_id: Any,
                           assertion: Any, proof: str | None, request: ProofRequest) -> Tokens:
        try:
            credential_id = credential_id_of(assertion)
        except ValidationError as exc:
            # Rule 2: malformed device data is a failed attempt too; no hash is spent on it,
            # for a known or an unknown username alike.
            name = _text(username, "username", USERNAME_MAX).lower()
            _text(password, "password", PASSWORD_MAX)
            state = await self._check_lock(name)
            known = await self.store.find_customer(name)
            raise _worse(await self._failed(name, state, known.customer_id if known else None,
                                            "device data"), exc) from None
        name, state, customer, ok = await self._first_factor(username, password)
        cid = customer.customer_id if customer else None
        try:
            challenge = await self._take(challenge_id, "login", None)
        except ChallengeRefused as exc:
            # Rule 2: a replayed, unknown or expired challenge counts; with a wrong password
            # the answer is the password's, so the refusal is no password oracle.
            failed = await self._failed(name, state, cid, "password" if not ok else "challenge")
            raise (failed if not ok else _worse(failed, exc)) from None
        device = await self.store.get_device(credential_id)
        if (not ok or customer is None or device is None or device.revoked_at is not None
                or device.customer_id != customer.customer_id):
            raise await self._failed(name, state, cid, "password or device")
        try:
            count = self.devices.verify_assertion(assertion, challenge.challenge,
                                                  device.public_key, device.sign_count)
            jkt = await self.dpop.verify(proof, request, self.now(), expected_jkt=device.jkt)
        except (DeviceRefused, InvalidDpopProof) as exc:
            raise _worse(await self._failed(name, state, cid, "device"), exc) from None
        if not await self.store.advance_sign_count(device.credential_id, device.sign_count,
                                                   count):
            raise await self._failed(name, state, cid, "device sign count")
        await self._succeeded(name, state)
        first = not await self._had_session(device)
        tokens = await self._new_session(customer, device, jkt, AuthLevel.DEVICE_AND_PASSWORD)
        await self._event(customer.customer_id, "login", {
            "device": device.name, "credential": device.credential_id[:8]})
        if first:
            await self._event(customer.customer_id, AlertKind.LOGIN_NEW_DEVICE,
                              {"device": device.name}, alert=True)
        return tokens

    async def _had_session(self, device: DeviceRecord) -> bool:
        trail = await self.store.audit_trail(device.customer_id)
        mark = device.credential_id[:8]
        return any(e.kind == "login" and e.detail.get("credential") == mark for e in trail)

    async def _new_session(self, customer: CustomerRecord, device: DeviceRecord, jkt: str,
                           level: AuthLevel) -> Tokens:
        now = self.now()
        access, refresh = "at_" + secrets.token_urlsafe(32), "rt_" + secrets.token_urlsafe(32)
        session = SessionRecord(
            session_id=uuid.uuid4().hex, customer_id=customer.customer_id,
            credential_id=device.credential_id, jkt=jkt, auth_level=level.value,
            created_at=now, last_seen=now, access_hash=token_digest(access),
            access_expires=now + self.policy.access_ttl, refresh_hash=token_digest(refresh))
        await self.store.add_session(session)
        return Tokens(access, refresh, int(self.policy.access_ttl.total_seconds()),
                      session.session_id)

    # -- tokens (Rules 3, 4) ---------------------------------------------------------------

    async def refresh(self, refresh_token: Any, proof: str | None,
                      request: ProofRequest) -> Tokens:
        if not isinstance(refresh_token, str) or len(refresh_token) > 128:
            raise InvalidToken("the refresh token is unknown")
        found = await self.store.session_by_refresh(token_digest(refresh_token))
        if found is None:
            raise InvalidToken("the refresh token is unknown")
        session, used = found
        now = self.now()
        await self.dpop.verify(proof, request, now, expected_jkt=session.jkt)
        if used:
            # Rule 4: a replayed refresh token revokes the family.
            await self.store.revoke_session(session.session_id, now)
            await self._event(session.customer_id, "refresh_token_replayed",
                              {"session": session.session_id[:8]})
            raise InvalidToken("this refresh token was used already; the session is revoked")
        self._live(session, now)
        access, refresh = "at_" + secrets.token_urlsafe(32), "rt_" + secrets.token_urlsafe(32)
        if not await self.store.rotate(session.session_id, session.refresh_hash,
                                       token_digest(access), now + self.policy.access_ttl,
                                       token_digest(refresh)):
            await self.store.revoke_session(session.session_id, now)
            raise InvalidToken("this refresh token was used already; the session is revoked")
        return Tokens(access, refresh, int(self.policy.access_ttl.total_seconds()),
                      session.session_id)

    def _live(self, session: SessionRecord, now: datetime) -> None:
        if session.revoked_at is not None:
            raise InvalidToken("the session has ended (logged out or revoked)")
        if now - session.last_seen > self.policy.idle_limit:
            raise InvalidToken("the session ended after "
                               f"{int(self.policy.idle_limit.total_seconds())} seconds "
                               "without activity; log in again")
        if now - session.created_at > self.policy.session_max:
            raise InvalidToken("the session reached its maximum length; log in again")

    async def authenticate(self, access_token: str | None, proof: str | None,
                           request: ProofRequest) -> CustomerPrincipal:
        """The principal of a resource request: token, its session, the DPoP proof of the
        session's device key (Rule 3); activity is recorded."""
        if not access_token or len(access_token) > 128:
            raise InvalidToken("a DPoP-bound access token is required")
        session = await self.store.session_by_access(token_digest(access_token))
        if session is None:
            raise InvalidToken()
        now = self.now()
        self._live(session, now)
        if now >= session.access_expires:
            raise InvalidToken("the access token has expired; refresh it")
        await self.dpop.verify(proof, request, now, expected_jkt=session.jkt,
                               access_token=access_token)
        if now - session.last_seen > self.policy.idle_limit:
            raise InvalidToken("the session ended without activity; log in again")
        customer = await self.store.get_customer(session.customer_id)
        device = await self.store.get_device(session.credential_id)
        if customer is None or device is None or device.revoked_at is not None:
            raise InvalidToken("the session's device was removed")
        lockout.check(self.policy.lockout, await self.store.get_lock(customer.username), now)
        await self.store.touch_session(session.session_id, now)
        return CustomerPrincipal.for_customer(
            customer_id=customer.customer_id, username=customer.username,
            accounts=customer.accounts, device_jkt=session.jkt, session_id=session.session_id,
            auth_level=AuthLevel(session.auth_level))

    async def logout(self, principal: CustomerPrincipal) -> None:
        await self.store.revoke_session(principal.session_id, self.now())
        await self._event(principal.customer_id, "logout", {})

    # -- strong customer authentication per payment ----------------------------------------

    async def needs_sca(self, principal: CustomerPrincipal, summary: PaymentSummary) -> bool:
        own = summary.payee.startswith("id:") and summary.payee[3:] in principal.accounts
        known = own or await self.store.is_known_payee(principal.customer_id, summary.payee)
        small = summary.amount <= self.policy.sca_threshold
        return not (small and known)

    async def sca_challenge(self, principal: CustomerPrincipal,
                            summary: PaymentSummary) -> tuple[str, dict[str, Any]]:
        nonce = secrets.token_bytes(NONCE_BYTES)
        challenge = Challenge(
            challenge_id=uuid.uuid4().hex, purpose="sca",
            challenge=challenge_bytes(nonce, summary),
            expires_at=self.now() + self.policy.challenge_ttl,
            customer_id=principal.customer_id, binding=principal.session_id)
        await self.store.put_challenge(challenge)
        options = self.devices.authentication_options(challenge.challenge)
        options["allowCredentials"] = [{"type": "public-key", "id": (
            await self._session_device(principal)).credential_id}]
        return challenge.challenge_id, options

    async def _session_device(self, principal: CustomerPrincipal) -> DeviceRecord:
        for device in await self.store.list_devices(principal.customer_id):
            if device.jkt == principal.device_jkt and device.revoked_at is None:
                return device
        raise InvalidToken("the session's device was removed")

    async def authorise_payment(self, principal: CustomerPrincipal, summary: PaymentSummary,
                                sca: Any) -> str:
        """'exempt' or 'sca' once the payment may go to the services; ScaRequired (RFC 9470)
        or a refusal that counts toward lockout otherwise."""
        if sca is None:
            if await self.needs_sca(principal, summary):
                raise ScaRequired()
            await self._event(principal.customer_id, "sca_exempt", {
                "amount": f"{summary.amount:f}", "currency": summary.currency,
                "reason": "own account (RTS art. 15)" if summary.payee.startswith("id:")
                and summary.payee[3:] in principal.accounts
                else "low value to a trusted payee (RTS art. 13, 16)"})
            return "exempt"
        state = await self._check_lock(principal.username)
        try:
            if not isinstance(sca, dict):
                raise ValidationError("sca must be an object with challengeId and assertion",
                                      violations=(FieldViolation("sca", "an object"),))
            assertion = sca.get("assertion")
            credential_id = credential_id_of(assertion)
            challenge = await self._take(sca.get("challengeId"), "sca", principal.customer_id)
        except (ValidationError, ChallengeRefused) as exc:
            # Rule 2: malformed, replayed or expired SCA data is a failed authentication.
            raise _worse(await self._failed(principal.username, state, principal.customer_id,
                                            "sca data"), exc) from None
        assert isinstance(assertion, dict)
        device = await self._session_device(principal)
        if (challenge.binding != principal.session_id or credential_id != device.credential_id
                or not linked_to(challenge.challenge, summary)):
            # Art. 5(1)(d): any change to the amount or payee invalidates the code.
            raise await self._failed(principal.username, state, principal.customer_id,
                                     "sca dynamic linking")
        try:
            count = self.devices.verify_assertion(assertion, challenge.challenge,
                                                  device.public_key, device.sign_count)
        except DeviceRefused as exc:
            raise _worse(await self._failed(principal.username, state, principal.customer_id,
                                            "sca"), exc) from None
        if not await self.store.advance_sign_count(device.credential_id, device.sign_count,
                                                   count):
            raise await self._failed(principal.username, state, principal.customer_id,
                                     "sca sign count")
        await self._succeeded(principal.username, state)
        await self._event(principal.customer_id, "sca_authenticated", {
            "amount": f"{summary.amount:f}", "currency": summary.currency})
        return "sca"

    async def payment_booked(self, principal: CustomerPrincipal, summary: PaymentSummary,
                             authorised: str) -> None:
        if authorised == "sca":
            # RTS art. 13: the payee becomes trusted by a payment the customer authenticated.
            await self.store.add_payee(principal.customer_id, summary.payee)

    # -- helpers ---------------------------------------------------------------------------

    async def _challenge(self, purpose: str, customer_id: str | None) -> Challenge:
        challenge = Challenge(challenge_id=uuid.uuid4().hex, purpose=purpose,
                              challenge=secrets.token_bytes(32),
                              expires_at=self.now() + self.policy.challenge_ttl,
                              customer_id=customer_id)
        await self.store.put_challenge(challenge)
        return challenge

    async def _take(self, challenge_id: Any, purpose: str,
                    customer_id: str | None) -> Challenge:
        if not isinstance(challenge_id, str) or len(challenge_id) != 32:
            raise ChallengeRefused("challengeId must be the 32-character id the server issued")
        challenge = await self.store.take_challenge(challenge_id)
        if challenge is None or challenge.purpose != purpose:
            raise ChallengeRefused()
        if customer_id is not None and challenge.customer_id != customer_id:
            raise ChallengeRefused("the challenge was issued to another customer")
        if self.now() >= challenge.expires_at:
            raise ChallengeRefused("the challenge has expired; request a new one")
        return challenge

    async def _event(self, customer_id: str, kind: str, detail: dict[str, Any], *,
                     alert: bool = False) -> SecurityEvent:
        return await self.store.record_event(SecurityEvent(
            customer_id=customer_id, kind=kind, at=self.now(), detail=detail, alert=alert))


__all__ = ["AlertKind", "CustomerPolicy", "CustomerService", "NewCustomer", "Tokens"]
