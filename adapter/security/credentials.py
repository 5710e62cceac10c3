"""Stored caller secrets (the WS-Security password of a legacy caller).

A PasswordText token can be checked against a one-way hash (scrypt). A PasswordDigest token
(OASIS WSS UsernameToken Profile 1.1, section 3.1) cannot: the server must recompute
Base64(SHA-1(nonce + created + password)) and so must know the password. The password is
therefore also kept sealed with Fernet under a key in the state folder (mode 0600), so the
clients file never holds it in clear and is useless without that key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def new_password() -> str:
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def load_or_create_sealing_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def seal(password: str, key: bytes) -> str:
    return Fernet(key).encrypt(password.encode()).decode()


def unseal(token: str, key: bytes) -> str:
    return Fernet(key).decrypt(token.encode()).decode()


__all__ = ["Fernet", "InvalidToken", "hash_password", "load_or_create_sealing_key",
           "new_password", "seal", "unseal", "verify_password"]
