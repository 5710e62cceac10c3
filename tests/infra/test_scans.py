"""The scans of the test command: the README's command is `.ci/run`'s, both run bandit against
the checked-in baseline and the dependency audit, and the audit's exceptions carry reasons."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def readme_test_command() -> str:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```sh\n(python3 -m venv .venv && .*?)\n```", text)
    commands = [b for b in blocks if "pytest" in b]
    assert len(commands) == 1, commands
    return commands[0]


def ci_test_command() -> str:
    lines = [line for line in (REPO / ".ci/run").read_text().splitlines()
             if line.startswith("python3 -m venv .venv && ")]
    assert len(lines) == 1, lines
    return lines[0].removesuffix(" || exit $?")


def audit_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_dependencies",
                                                  REPO / ".ci/audit_dependencies.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_test_command_is_the_ci_command_and_scans() -> None:
    """One command in both places, with bandit on the product code against its baseline and
    the dependency audit before the suite."""
    command = readme_test_command()
    assert command == ci_test_command()
    steps = command.split(" && ")
    assert steps.index(".venv/bin/bandit -q -c pyproject.toml -r adapter core_sim "
                       "-b .bandit-baseline.json") < steps.index(".venv/bin/python -m pytest -q")
    assert ".venv/bin/python .ci/audit_dependencies.py" in steps


def test_bandit_baseline_holds_only_reviewed_findings() -> None:
    """The baseline names product files only and no high-confidence finding of a shell or an
    unsafe deserialiser (those are fixed, never baselined)."""
    results = json.loads((REPO / ".bandit-baseline.json").read_text())["results"]
    assert results
    for r in results:
        assert r["filename"].startswith(("adapter/", "core_sim/")), r["filename"]
        assert r["test_id"] not in {"B102", "B301", "B307", "B506", "B602", "B605"}, r


def test_audit_exceptions_need_a_reason(tmp_path: Path) -> None:
    """Rule 3: an accepted vulnerability id without a reason stops the step; comments and
    blank lines are ignored; the checked-in list parses."""
    audit = audit_module()
    assert audit.accepted_exceptions() == []
    listed = tmp_path / "exceptions.txt"
    listed.write_text("# comment\n\nPYSEC-2099-1 only in the docs build, never installed\n")
    assert audit.accepted_exceptions(listed) == ["PYSEC-2099-1"]
    listed.write_text("GHSA-xxxx-yyyy-zzzz\n")
    with pytest.raises(SystemExit) as info:
        audit.accepted_exceptions(listed)
    assert "GHSA-xxxx-yyyy-zzzz has no reason" in str(info.value)
