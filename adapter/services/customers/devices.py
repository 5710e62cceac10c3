"""The device key, the biometric factor: WebAuthn (W3C Web Authentication Level 2) through the
`webauthn` package.

The app registers one P-256 key pair per device (COSE alg -7, ES256) whose private key never
leaves the device's secure hardware and is unlocked by the user's biometric; the same key
signs the app's DPoP proofs (RFC 9449), so every token is bound to the device that logged in.

Invariants:
- Rule 1: registration asks for `none` attestation (section 5.4.7): the adapter trusts the
  device because the customer enrolled it with password and TOTP, not because of its maker.
- Rule 2: every registration and assertion must carry the UV flag (section 6.1, bit 2):
  a device key used without the biometric is refused.
- Rule 3: the signature counter only grows (section 6.1.1): a count that does not is a
  cloned authenticator and is refused; the store's update is conditional on the count read.
- Rule 4: only ES256 keys are accepted, the algorithm DPoP proofs are checked with.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import cbor2
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from adapter.model.errors import FieldViolation, Unauthenticated, ValidationError

ES256 = COSEAlgorithmIdentifier.ECDSA_SHA_256


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_from_cose(cose_key: bytes) -> dict[str, str]:
    """The RFC 7517 JWK of a COSE EC2 P-256 key (RFC 9053 section 7.1: kty 2, crv 1)."""
    key = cbor2.loads(cose_key)
    if key.get(1) != 2 or key.get(-1) != 1 or key.get(3) != int(ES256):
        raise ValueError("not an ES256 P-256 COSE key")
    return {"crv": "P-256", "kty": "EC", "x": b64url(key[-2]), "y": b64url(key[-3])}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 section 3.2: SHA-256 over the required members in lexicographic order, no
    whitespace; for an EC key they are crv, kty, x, y."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True)
class RegisteredKey:
    credential_id: str
    public_key: bytes
    jkt: str
    sign_count: int


class DeviceKeys:
    def __init__(self, rp: RelyingParty) -> None:
        self.rp = rp

    def registration_options(self, challenge: bytes, user_id: bytes, username: str,
                             exclude: list[str]) -> dict[str, Any]:
        from webauthn.helpers.structs import PublicKeyCredentialDescriptor

        options = generate_registration_options(
            rp_id=self.rp.rp_id, rp_name=self.rp.name, user_name=username, user_id=user_id,
            challenge=challenge,
            attestation=AttestationConveyancePreference.NONE,  # Rule 1
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.REQUIRED),  # Rule 2
            supported_pub_key_algs=[ES256],  # Rule 4
            exclude_credentials=[PublicKeyCredentialDescriptor(id=_b64url_decode(c))
                                 for c in exclude],
        )
        parsed: dict[str, Any] = json.loads(options_to_json(options))
        return parsed

    def authentication_options(self, challenge: bytes) -> dict[str, Any]:
        # No allowCredentials: the options are the same for every username, so they reveal
        # neither whether a customer exists nor which devices it has.
        options = generate_authentication_options(
            rp_id=self.rp.rp_id, challenge=challenge,
            user_verification=UserVerificationRequirement.REQUIRED)
        parsed: dict[str, Any] = json.loads(options_to_json(options))
        return parsed

    def verify_registration(self, credential: dict[str, Any], challenge: bytes) -> RegisteredKey:
        try:
            verified = verify_registration_response(
                credential=credential, expected_challenge=challenge,
                expected_rp_id=self.rp.rp_id, expected_origin=list(self.rp.origins),
                require_user_verification=True, supported_pub_key_algs=[ES256])
            jwk = jwk_from_cose(verified.credential_public_key)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise DeviceRefused(f"the device registration was refused: {_reason(exc)}") from exc
        return RegisteredKey(credential_id=b64url(verified.credential_id),
                             public_key=verified.credential_public_key,
                             jkt=jwk_thumbprint(jwk), sign_count=verified.sign_count)

    def verify_assertion(self, credential: dict[str, Any], challenge: bytes, public_key: bytes,
                         sign_count: int) -> int:
        """The assertion's new sign count; DeviceRefused for anything wrong (Rules 2, 3)."""
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=challenge,
                expected_rp_id=self.rp.rp_id, expected_origin=list(self.rp.origins),
                credential_public_key=public_key, credential_current_sign_count=sign_count,
                require_user_verification=True)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise DeviceRefused(f"the device signature was refused: {_reason(exc)}") from exc
        return int(verified.new_sign_count)


def credential_id_of(credential: Any) -> str:
    """The `id` of a WebAuthn credential JSON object, checked for shape before any lookup."""
    if not isinstance(credential, dict):
        raise ValidationError("the credential must be a JSON object",
                              violations=(FieldViolation("credential", "a JSON object"),))
    cid = credential.get("id")
    if not isinstance(cid, str) or not 16 <= len(cid) <= 1366 or not _is_b64url(cid):
        raise ValidationError("the credential id must be base64url",
                              violations=(FieldViolation("credential.id", "base64url"),))
    return cid


class DeviceRefused(Unauthenticated):
    code = "DEVICE_AUTHENTICATION_FAILED"
    default_message = "the device could not be authenticated"


def _reason(exc: Exception) -> str:
    # The library's messages name what failed (challenge, origin, UV flag, counter) and hold
    # no secret; they are cut short so an oversized field is never echoed back.
    text = str(exc) or type(exc).__name__
    return text[:160]


def _is_b64url(value: str) -> bool:
    return all(c.isalnum() or c in "-_" for c in value)


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
