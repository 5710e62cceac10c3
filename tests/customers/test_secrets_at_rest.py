"""A stolen customers.db holds no usable secret: passwords only as Argon2id hashes, TOTP
secrets sealed with pki/secrets.key, tokens only as SHA-256 digests (ports/customers.py)."""

from __future__ import annotations

import base64

from adapter.services.customers.service import token_digest
from tests.customers.conftest import CustomerBank
from tests.customers.support import PASSWORD


def test_the_database_files_hold_no_secret_in_clear(cbank: CustomerBank) -> None:
    """After enrolment, login and a refresh, neither customers.db nor its WAL contains the
    password, the TOTP secret (base32 or raw) or any token issued; the hash and the token
    digests are there (the right files were read)."""
    new = cbank.add("rest-heidi", {"10000001"})
    app = cbank.enrolled(new)
    first = (app.access_token, app.refresh_token)
    assert app.refresh().status_code == 200
    tokens = [*first, app.access_token, app.refresh_token]
    assert all(tokens)
    state = cbank.bank.adapter.state_dir
    data = b"".join(p.read_bytes() for p in sorted(state.glob("customers.db*")))
    secret = new.totp_secret
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    for clear in (PASSWORD.encode(), secret.encode(), raw, *(t.encode() for t in tokens
                                                             if t is not None)):
        assert clear not in data
    assert b"$argon2id$v=19$" in data
    assert token_digest(app.access_token or "").encode() in data
