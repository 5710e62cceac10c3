"""`python -m bench.storebench` runs and reports (a smoke test: no speed is asserted)."""

from __future__ import annotations

import re

import pytest

from bench import storebench


def test_storebench_reports_cpu_and_commits_per_payment(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert storebench.main(["--payments", "400", "--chunk", "200", "--concurrency", "8"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for done, line in zip((200, 400), lines, strict=True):
        match = re.fullmatch(r"\s*(\d+) payments:\s+\d+ us CPU per payment, "
                             r"(\d\.\d{3}) commits per payment", line)
        assert match is not None, line
        assert int(match.group(1)) == done
        assert 0 < float(match.group(2)) <= 2.0  # group commit: never more than one per write


def test_storebench_compare_reports_every_backend(capsys: pytest.CaptureFixture[str]) -> None:
    """`--compare` runs SQLite, psycopg 3 and asyncpg on a real PostgreSQL and prints each
    round and the medians with their ratios (no speed is asserted)."""
    from tests.harness.postgres import server_url

    url = server_url()  # skips without a server (fails under CI=true)
    assert storebench.main(["--compare", "--database-url", url, "--payments", "60",
                            "--rounds", "1", "--concurrency", "4", "--pool-size", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[2] for line in lines[:3]] == ["sqlite", "psycopg", "asyncpg"]
    assert re.fullmatch(r"round 1 psycopg +\d+ payments/s, +\d+ us CPU per payment here, "
                        r"PostgreSQL +\d+ us CPU per payment", lines[1]), lines[1]
    assert lines[3] == ("medians of 1 rounds, 60 payments each, concurrency 4, "
                        "2 connections:")
    assert [line.split()[0] for line in lines[4:]] == ["sqlite", "psycopg", "asyncpg"]
