"""UsernameToken rules without sockets: parsing, the freshness window, the nonce cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from adapter.frontends.soap.wssecurity import (
    MAX_AGE,
    NonceCache,
    UsernameTokenVerifier,
    parse_token,
)
from adapter.model.errors import InternalError, Unauthenticated
from adapter.provision import provision
from adapter.services.clients import ClientRegistry

from .conftest import Token


def header(xml: str) -> list[etree._Element]:
    return [etree.fromstring(xml)]


def test_nonce_is_accepted_once() -> None:
    """A nonce is refused the second time for the same user, accepted for another user."""
    cache = NonceCache()
    assert (cache.add("legacy", b"n" * 16), cache.add("legacy", b"n" * 16),
            cache.add("other", b"n" * 16)) == (True, False, True)


def test_nonce_is_forgotten_after_the_window() -> None:
    """An entry is dropped once its Created could no longer pass the freshness check."""
    now = [1000.0]
    cache = NonceCache(retention=360, bucket_seconds=10, clock=lambda: now[0])
    cache.add("legacy", b"a" * 16)
    now[0] += 360 + 20
    assert (cache.add("legacy", b"b" * 16), len(cache)) == (True, 1)


def test_full_nonce_cache_fails_closed() -> None:
    """When the cache is full a new nonce is refused, never an old one evicted."""
    cache = NonceCache(max_entries=2)
    cache.add("legacy", b"a" * 16)
    cache.add("legacy", b"b" * 16)
    with pytest.raises(InternalError):
        cache.add("legacy", b"c" * 16)
    assert cache.add("legacy", b"a" * 16) is False


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
    verifier = UsernameTokenVerifier(provisioned.pki_dir / "secrets.key")
    now = datetime.now(UTC).replace(microsecond=0)
    fresh = Token("legacy", provisioned.legacy_password, created=now - timedelta(seconds=299))
    stale = Token("legacy", provisioned.legacy_password,
                  created=now - timedelta(seconds=MAX_AGE + 1))
    asyncio.run(verifier.verify(caller, header(fresh.xml())))
    with pytest.raises(Unauthenticated, match="older than 5 minutes"):
        asyncio.run(verifier.verify(caller, header(stale.xml())))
