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
