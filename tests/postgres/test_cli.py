"""`bank-adapter db status|migrate` and `bank-adapter up --database-url`, run as the real
commands against a real PostgreSQL: where the database stands, migrating it, and the
one-line refusals (a newer schema, an unreachable server, a URL that is not PostgreSQL's),
none of which shows the URL's password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapter.provision import provision
from tests.e2e.up_process import clean_env, free_port_args, processes_naming, run_cli
from tests.harness.postgres import fresh_database_url

QUIET = ("--log-level", "warning")
FLAG = "(--database-url, BANK_ADAPTER_DATABASE_URL)"
PENDING = ("0001_journal, 0002_store_rules, 0003_customers, 0004_security_events, "
           "0005_rate_limit_budgets")


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as value:
        yield value


def test_status_then_migrate_then_status(url: str) -> None:
    """A fresh database: nothing applied, five pending; migrate applies them and makes this
    month's partitions and two ahead; status then lists versions and partitions."""
    fresh = run_cli("db", "status", "--database-url", url)
    assert (fresh.returncode, fresh.stderr) == (0, "")
    assert fresh.stdout.splitlines() == [
        f"database: {url}",
        f"schema version 0 of 5: pending {PENDING}", "applied: none", f"pending: {PENDING}",
        "partitions: none"]
    done = run_cli("db", "migrate", env=clean_env(BANK_ADAPTER_DATABASE_URL=url))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["applied 0001_journal", "applied 0002_store_rules",
                         "applied 0003_customers", "applied 0004_security_events",
                         "applied 0005_rate_limit_budgets"]
    assert len([x for x in lines if x.startswith("created partition ")]) == 6
    assert lines[-1] == "schema version 5: up to date"
    again = run_cli("db", "migrate", "--database-url", url)
    assert again.stdout == "schema version 5: up to date\n"
    status = run_cli("db", "status", "--database-url", url).stdout.splitlines()
    assert status[1:3] == ["schema version 5: up to date", "applied:"]
    assert [x.split()[0] for x in status[3:8]] == ["0001_journal", "0002_store_rules",
                                                   "0003_customers", "0004_security_events",
                                                   "0005_rate_limit_budgets"]
    assert status[8:10] == ["pending: none", "partitions:"]
    assert re.fullmatch(r"  payments: payments_p\d{6} \(~0 rows\), payments_p\d{6} \(~0 rows\), "
                        r"payments_p\d{6} \(~0 rows\)", status[10]), status[10]


def _make_newer(url: str) -> None:
    run_cli("db", "migrate", "--database-url", url)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")


def test_a_newer_database_stops_up_with_one_line(url: str, tmp_path: Path) -> None:
    """`up` on a database a newer adapter migrated: one line naming the database, its
    version and the setting; exit 1; nothing left running, no SQLite journal made."""
    _make_newer(url)
    state = tmp_path / "s"
    done = run_cli("up", "--state-dir", str(state), "--database-url", url,
                   *free_port_args(), *QUIET)
    assert processes_naming(str(state)) == []
    assert (done.returncode, done.stderr) == (1, (
        f"bank-adapter up: the database at {url} has schema version 99: NEWER than this "
        f"adapter (knows up to 5); upgrade bank-adapter {FLAG}\n"))
    assert not (state / "adapter.db").exists()
    status = run_cli("db", "status", "--database-url", url)
    assert status.returncode == 1
    assert status.stdout.splitlines()[1] == ("schema version 99: NEWER than this adapter "
                                            "(knows up to 5); upgrade bank-adapter")
    migrate = run_cli("db", "migrate", "--database-url", url)
    assert (migrate.returncode, migrate.stdout) == (1, "")
    assert migrate.stderr == (f"bank-adapter db migrate: the database at {url} has schema "
                              "version 99: NEWER than this adapter (knows up to 5); upgrade "
                              "bank-adapter\n")


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    """Nothing listens on port 1: `up` exits 1 and `db status` 2, each with one line that
    names the database with its password masked."""
    url = "postgresql://bank:s3cret-pw@127.0.0.1:1/bank"
    up = run_cli("up", "--state-dir", str(tmp_path / "s"), "--database-url", url,
                 *free_port_args(), *QUIET)
    status = run_cli("db", "status", "--database-url", url)
    assert up.returncode == 1 and status.returncode == 2
    for err in (up.stderr, status.stderr):
        assert len(err.splitlines()) == 1 and "s3cret-pw" not in err
        assert "postgresql://bank:***@127.0.0.1:1/bank" in err and "refused" in err
    assert up.stderr.startswith("bank-adapter up: cannot use the database: PostgreSQL at ")
    assert up.stderr.endswith(f"{FLAG}\n")


def test_a_url_that_is_not_postgresql_is_refused_before_anything_is_made(
        tmp_path: Path) -> None:
    """A MySQL URL: exit 2, one line naming the flag and what is allowed; no state folder."""
    state = tmp_path / "s"
    up = run_cli("up", "--state-dir", str(state), "--database-url", "mysql://u:pw@h/db")
    env = run_cli("db", "status", env=clean_env(BANK_ADAPTER_DATABASE_URL="sqlite:///x.db"))
    assert (up.returncode, up.stderr) == (2, (
        "bank-adapter up: error: argument --database-url: invalid value 'mysql://u:***@h/db':"
        " a PostgreSQL URL must start with postgresql:// (postgresql://user@host:5432/dbname)"
        " (see bank-adapter up --help)\n"))
    assert not state.exists()
    assert (env.returncode, env.stderr) == (2, (
        "bank-adapter db status: --database-url / BANK_ADAPTER_DATABASE_URL: invalid value "
        "'sqlite:///x.db': a PostgreSQL URL must start with postgresql:// "
        "(postgresql://user@host:5432/dbname)\n"))


def test_customers_cli_manages_customers_in_the_database(url: str, tmp_path: Path) -> None:
    """`bank-adapter customers --database-url URL add|list`: the customer is a row of the
    database's `customers` table (no customers.db is made), listed back by the CLI."""
    state = tmp_path / "s"
    provision(state)  # the state folder's secrets key seals the TOTP secrets
    added = run_cli("customers", "--state-dir", str(state), "--database-url", url, "add",
                    "Carol", "--accounts", "10000003")
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[0] == "added carol owning 10000003"
    listed = run_cli("customers", "--state-dir", str(state), "list",
                     env=clean_env(BANK_ADAPTER_DATABASE_URL=url))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split() == ["carol", "10000003", "0", "-"]
    assert not (state / "customers.db").exists()
    with psycopg.connect(url) as con:
        assert con.execute("SELECT username FROM customers").fetchall() == [("carol",)]
