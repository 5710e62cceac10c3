"""A real PostgreSQL for the tests: a fresh schema per use, dropped afterwards.

The server is BANK_ADAPTER_TEST_DATABASE_URL (default: the project machines' PostgreSQL 15,
postgresql://postgres@127.0.0.1:5432/test). Without a reachable server the PostgreSQL tests
skip, saying how to enable them, except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    url = os.environ.get("BANK_ADAPTER_TEST_DATABASE_URL", DEFAULT_URL)
    try:
        with psycopg.connect(url, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        message = (f"PostgreSQL not reachable at {url} ({str(exc).strip()[:80]}): start it "
                   "(pg_ctlcluster --skip-systemctl-redirect 15 main start) or set "
                   "BANK_ADAPTER_TEST_DATABASE_URL")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@contextmanager
def fresh_schema() -> Iterator[tuple[str, str]]:
    """(server url, schema name): an empty schema of its own, dropped on exit."""
    url = server_url()
    schema = f"ba_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield url, schema
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def schema_url(url: str, schema: str) -> str:
    """`url` with every session's search_path set to `schema` (libpq `options`), so the
    adapter, given only a URL, works inside the test's own schema."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@contextmanager
def fresh_database_url() -> Iterator[str]:
    """A URL whose sessions work in an empty schema of their own, dropped on exit."""
    with fresh_schema() as (url, schema):
        yield schema_url(url, schema)
