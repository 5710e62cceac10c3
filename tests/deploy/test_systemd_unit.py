"""deploy/bank-adapter.service passes `systemd-analyze verify` and keeps its hardening.

systemd-analyze reads the unit offline (no running systemd needed). It refuses a unit whose
ExecStart is not executable, so the test points ExecStart at this checkout's own
`bank-adapter` script and checks everything else exactly as shipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "bank-adapter.service"
SHIPPED_EXEC = "/opt/bank-adapter/bin/bank-adapter"


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing: .ci/run installs the 'systemd' package")
        pytest.skip("systemd-analyze not installed (apt-get install systemd) to verify the unit")
    return tool


@pytest.fixture
def unit_here(tmp_path: Path) -> Path:
    script = Path(sys.executable).with_name("bank-adapter")
    if not script.exists():
        message = f"{script} missing: install the project (pip install -e .)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    text = UNIT.read_text()
    assert SHIPPED_EXEC in text
    out = tmp_path / "bank-adapter.service"
    out.write_text(text.replace(SHIPPED_EXEC, str(script)))
    return out


def test_unit_verifies_without_warnings(unit_here: Path) -> None:
    """verify exits 0 and prints nothing: an unknown or misspelt directive is a warning there."""
    tool = _systemd_analyze()
    done = subprocess.run([tool, "verify", str(unit_here)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
    assert done.stdout.strip() == ""


def test_verify_catches_a_misspelt_directive(unit_here: Path) -> None:
    """The check above can fail: a misspelt hardening directive shows up on stderr."""
    tool = _systemd_analyze()
    unit_here.write_text(unit_here.read_text().replace("NoNewPrivileges=", "NoNewPrivilegez="))
    done = subprocess.run([tool, "verify", str(unit_here)], capture_output=True, text=True,
                          timeout=60)
    assert "Unknown key 'NoNewPrivilegez'" in done.stderr


def test_exposure_is_low(unit_here: Path) -> None:
    """`systemd-analyze security` scores the sandbox: 2.0 or lower is systemd's 'OK' band."""
    tool = _systemd_analyze()
    done = subprocess.run([tool, "security", "--offline=yes", "--no-pager", str(unit_here)],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout + done.stderr)
    assert match is not None, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.0


def test_hardening_options_present() -> None:
    """The options an operator's review looks for are in the shipped file, as written."""
    text = UNIT.read_text()
    for line in ("DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=bank-adapter",
                 "NoNewPrivileges=yes", "UMask=0077", "ExecStart=" + SHIPPED_EXEC + " up"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
