"""A software device: what the mobile app's secure hardware does, in Python.

It holds one P-256 key pair and plays a WebAuthn authenticator with user verification
(W3C Web Authentication Level 2, sections 6.1 and 6.5: authenticator data, `none`
attestation, assertion signatures), and signs DPoP proofs (RFC 9449 section 4.2) with the
same key. A real app keeps the key in the Secure Enclave or StrongBox behind the biometric;
here `user_verified` stands for the biometric check having passed.

Used by examples/mobile_device.py and by the tests (the software authenticator the task
asks for), written with `cryptography` and `cbor2` only, plus joserfc for the JWS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftwareDevice:
    def __init__(self, origin: str, rp_id: str, *, key: ec.EllipticCurvePrivateKey | None = None,
                 credential_id: bytes | None = None, sign_count: int = 0) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.credential_id = credential_id or os.urandom(32)
        self.sign_count = sign_count
        numbers = self.key.public_key().public_numbers()
        self._x = numbers.x.to_bytes(32, "big")
        self._y = numbers.y.to_bytes(32, "big")
        self._jose = ECKey.import_key(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    # -- state, for examples/mobile_device.py's --state-dir ---------------------------------

    def to_json(self) -> dict[str, Any]:
        pem = self.key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        return {"origin": self.origin, "rp_id": self.rp_id, "key": pem.decode(),
                "credential_id": b64url(self.credential_id), "sign_count": self.sign_count}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SoftwareDevice:
        key = serialization.load_pem_private_key(data["key"].encode(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(data["origin"], data["rp_id"], key=key,
                   credential_id=b64url_decode(data["credential_id"]),
                   sign_count=data["sign_count"])

    # -- keys ------------------------------------------------------------------------------

    @property
    def credential_b64(self) -> str:
        return b64url(self.credential_id)

    def public_jwk(self) -> dict[str, str]:
        return {"kty": "EC", "crv": "P-256", "x": b64url(self._x), "y": b64url(self._y)}

    def cose_key(self) -> bytes:
        # RFC 9053 section 7.1.1: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: self._x, -3: self._y})

    # -- WebAuthn --------------------------------------------------------------------------

    def _client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": b64url(challenge),
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def _auth_data(self, flags: int, rp_id: str | None, attested: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big") + attested

    def register(self, options: dict[str, Any], *, user_verified: bool = True,
                 origin: str | None = None) -> dict[str, Any]:
        """navigator.credentials.create() with `none` attestation (section 8.7)."""
        challenge = b64url_decode(options["challenge"])
        attested = (bytes(16) + len(self.credential_id).to_bytes(2, "big")
                    + self.credential_id + self.cose_key())
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if user_verified else 0)
        auth_data = self._auth_data(flags, None, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": self.credential_b64, "rawId": self.credential_b64, "type": "public-key",
                "response": {"clientDataJSON": b64url(self._client_data(
                    "webauthn.create", challenge, origin)),
                    "attestationObject": b64url(attestation)}}

    def assert_(self, options: dict[str, Any], *, user_verified: bool = True,
                origin: str | None = None, rp_id: str | None = None,
                challenge: bytes | None = None, count: int | None = None) -> dict[str, Any]:
        """navigator.credentials.get(): the signature over authenticator data and the
        client data's hash (section 6.3.3 step 11)."""
        self.sign_count = self.sign_count + 1 if count is None else count
        signed = challenge if challenge is not None else b64url_decode(options["challenge"])
        client_data = self._client_data("webauthn.get", signed, origin)
        auth_data = self._auth_data(FLAG_UP | (FLAG_UV if user_verified else 0), rp_id)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {"id": self.credential_b64, "rawId": self.credential_b64, "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature), "userHandle": None}}

    # -- DPoP ------------------------------------------------------------------------------

    def dpop(self, method: str, url: str, *, access_token: str | None = None,
             iat: int | None = None, jti: str | None = None,
             header: dict[str, Any] | None = None) -> str:
        """A DPoP proof JWT (RFC 9449 section 4.2) for one request."""
        claims: dict[str, Any] = {"htm": method, "htu": url.split("?", 1)[0],
                                  "iat": int(time.time()) if iat is None else iat,
                                  "jti": jti or uuid.uuid4().hex}
        if access_token is not None:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        protected = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk()}
        if header:
            protected.update(header)
        return jws.serialize_compact(protected, json.dumps(claims).encode(), self._jose,
                                     algorithms=["ES256", "HS256"])
