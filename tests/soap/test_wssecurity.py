"""UsernameToken rules without sockets: parsing, the freshness window, replayed nonces.

The nonce stores themselves are tested by tests/contract/test_nonces.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from adapter.frontends.soap.wssecurity import (
    MAX_AGE,
    NONCE_RETENTION,
    UsernameTokenVerifier,
    parse_token,
)
from adapter.model.errors import Unauthenticated
from adapter.ports.nonces import NonceStore
from adapter.provision import provision
from adapter.services.clients import ClientRegistry
from adapter.stores.memory import MemoryNonceStore
from adapter.stores.sqlite import SqliteNonceStore

from .conftest import Token


def header(xml: str) -> list[etree._Element]:
    return [etree.fromstring(xml)]


def test_digest_without_nonce_is_refused() -> None:
    """A PasswordDigest token lacking its Nonce is UNAUTHENTICATED."""
    xml = Token("legacy", "pw").xml()
    xml = xml[:xml.index("<wsse:Nonce>")] + xml[xml.index("<wsu:Created>"):]
    with pytest.raises(Unauthenticated, match="needs a Nonce and a Created"):
        parse_token(header(xml))


def test_naive_created_is_refused() -> None:
    """A Created without a time zone is UNAUTHENTICATED."""
    xml = Token("legacy", "pw").xml().replace("Z</wsu:Created>", "</wsu:Created>")
    with pytest.raises(Unauthenticated, match="time zone"):
        parse_token(header(xml))


def test_created_at_the_edge_of_the_window(tmp_path: Path) -> None:
    """A token 4:59 old is accepted; 5:01 old is refused as stale."""
    provisioned = provision(tmp_path)
    caller = ClientRegistry.load(provisioned.clients_file).get("legacy")
    assert caller is not None
    verifier = UsernameTokenVerifier(provisioned.pki_dir / "secrets.key",
                                     MemoryNonceStore(NONCE_RETENTION))
    now = datetime.now(UTC).replace(microsecond=0)
    fresh = Token("legacy", provisioned.legacy_password, created=now - timedelta(seconds=299))
    stale = Token("legacy", provisioned.legacy_password,
                  created=now - timedelta(seconds=MAX_AGE + 1))
    asyncio.run(verifier.verify(caller, header(fresh.xml())))
    with pytest.raises(Unauthenticated, match="older than 5 minutes"):
        asyncio.run(verifier.verify(caller, header(stale.xml())))


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_replayed_nonce_is_refused_through_the_nonce_port(tmp_path: Path,
                                                            backend: str) -> None:
    """The verifier remembers an accepted nonce in its store: the same token again is
    UNAUTHENTICATED, a fresh nonce passes, and a store kept too briefly is refused."""
    provisioned = provision(tmp_path)
    caller = ClientRegistry.load(provisioned.clients_file).get("legacy")
    assert caller is not None
    nonces: NonceStore = (MemoryNonceStore(NONCE_RETENTION) if backend == "memory" else
                          SqliteNonceStore(tmp_path / "n.sqlite", retention=NONCE_RETENTION))
    verifier = UsernameTokenVerifier(provisioned.pki_dir / "secrets.key", nonces)
    token = Token("legacy", provisioned.legacy_password, nonce=b"r" * 16).xml()

    async def scenario() -> None:
        await verifier.verify(caller, header(token))
        with pytest.raises(Unauthenticated, match="Nonce was already used"):
            await verifier.verify(caller, header(token))
        await verifier.verify(caller, header(
            Token("legacy", provisioned.legacy_password, nonce=b"s" * 16).xml()))
        await nonces.aclose()

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="must remember nonces 360 s"):
        UsernameTokenVerifier(provisioned.pki_dir / "secrets.key",
                              MemoryNonceStore(NONCE_RETENTION - 1))


def test_concurrent_copies_of_one_password_share_one_hash(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """32 requests at once with the same not-yet-remembered PasswordText all pass on ONE
    scrypt, through a gate with two slots and no queue; a wrong password sent concurrently still
    fails for every copy."""
    from adapter.security import credentials
    from adapter.security.hash_gate import HashGate

    provisioned = provision(tmp_path)
    caller = ClientRegistry.load(provisioned.clients_file).get("legacy")
    assert caller is not None
    verifier = UsernameTokenVerifier(provisioned.pki_dir / "secrets.key",
                                     MemoryNonceStore(NONCE_RETENTION),
                                     gate=HashGate(workers=2, max_waiting=0))
    hashed: list[str] = []
    real_verify = credentials.verify_password

    def counting(password: str, stored: str) -> bool:
        hashed.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(credentials, "verify_password", counting)

    async def scenario() -> list[BaseException | None]:
        good = [verifier.verify(caller, header(
            Token("legacy", provisioned.legacy_password, digest=False).xml()))
            for _ in range(32)]
        bad = [verifier.verify(caller, header(Token("legacy", "wrong", digest=False).xml()))
               for _ in range(4)]
        return await asyncio.gather(*good, *bad, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert outcomes[:32] == [None] * 32
    assert all(isinstance(o, Unauthenticated) for o in outcomes[32:])
    assert sorted(hashed) == sorted([provisioned.legacy_password, "wrong"])
