"""DPoP proofs (RFC 9449): every token request and every resource request carries a JWT
signed by the device key, so a token is useless without the device that holds it.

Invariants (RFC 9449 section 4.3, the checks in order):
- Rule 1: exactly one `DPoP` header, a compact JWS of three parts, at most 4096 bytes.
- Rule 2: header `typ` is `dpop+jwt`, `alg` is `ES256` (never `none`, never symmetric),
  `jwk` is a public EC P-256 key with no private member (`d`).
- Rule 3: the signature verifies with that `jwk`; its RFC 7638 thumbprint must be the one the
  token (or, at login, the device) is bound to: another device's proof is refused.
- Rule 4: `htm` and `htu` equal this request's method and URI (no query, no fragment):
  a proof made for another endpoint or another server (audience) is refused.
- Rule 5: `iat` is within `window` of the server's clock (clock skew beyond it is refused);
  `jti` is seen once per key within the window (store port Rule 2).
- Rule 6: on a resource request `ath` is base64url(SHA-256(access token)).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from adapter.model.errors import Unauthenticated
from adapter.ports.customers import CustomerStorePort
from adapter.services.customers.devices import b64url, jwk_thumbprint

MAX_PROOF_BYTES = 4096
ALGORITHM = "ES256"


class InvalidDpopProof(Unauthenticated):
    code = "INVALID_DPOP_PROOF"
    default_message = "the DPoP proof is invalid"


@dataclass(frozen=True)
class ProofRequest:
    method: str
    uri: str  # scheme://host[:port]/path, as the server sees itself addressed


def access_token_hash(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def _b64json(part: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDpopProof("the DPoP proof is not a JWS of JSON parts") from exc
    if not isinstance(value, dict):
        raise InvalidDpopProof("the DPoP proof's parts must be JSON objects")
    return value


class DpopVerifier:
    def __init__(self, store: CustomerStorePort, *, window: timedelta = timedelta(seconds=60)):
        self._store = store
        self._window = window

    async def verify(self, proof: str | None, request: ProofRequest, now: datetime, *,
                     expected_jkt: str | None, access_token: str | None = None) -> str:
        """The proof's key thumbprint, once every rule holds; `expected_jkt` None accepts any
        key (the caller then compares it with the device it found)."""
        if not proof:
            raise InvalidDpopProof("a DPoP proof header is required (RFC 9449)")
        if len(proof) > MAX_PROOF_BYTES or proof.count(".") != 2:  # Rule 1
            raise InvalidDpopProof("the DPoP proof must be one compact JWS of at most 4096 bytes")
        header = _b64json(proof.split(".", 1)[0])
        if header.get("typ") != "dpop+jwt":  # Rule 2
            raise InvalidDpopProof("the DPoP proof's typ must be dpop+jwt")
        if header.get("alg") != ALGORITHM:
            raise InvalidDpopProof("the DPoP proof must be signed with ES256")
        jwk = header.get("jwk")
        if (not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") != "EC"
                or jwk.get("crv") != "P-256"):
            raise InvalidDpopProof("the DPoP proof's jwk must be a public P-256 key")
        try:
            key = ECKey.import_key(jwk)
            token = jws.deserialize_compact(proof, key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:  # Rule 3
            raise InvalidDpopProof("the DPoP proof's signature does not verify") from exc
        jkt = jwk_thumbprint(jwk)
        if expected_jkt is not None and jkt != expected_jkt:
            raise InvalidDpopProof("the DPoP proof is signed by another key than the "
                                   "token is bound to")
        claims = _claims(token.payload)
        if claims.get("htm") != request.method or claims.get("htu") != request.uri:  # Rule 4
            raise InvalidDpopProof("the DPoP proof was made for another method or URI")
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise InvalidDpopProof("the DPoP proof needs an integer iat")
        issued = datetime.fromtimestamp(iat, now.tzinfo)
        if abs(issued - now) > self._window:  # Rule 5
            raise InvalidDpopProof("the DPoP proof's iat is outside the accepted clock window")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise InvalidDpopProof("the DPoP proof needs a jti of 8 to 128 characters")
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            raise InvalidDpopProof("the DPoP proof's ath does not match the access token")
        if not await self._store.remember_jti(jkt, jti, now, now + 2 * self._window):
            raise InvalidDpopProof("this DPoP proof was used already")
        return jkt


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise InvalidDpopProof("the DPoP proof's payload is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidDpopProof("the DPoP proof's payload must be a JSON object")
    return value
