"""`--core-nodes` grammar, the pool's status file and `bank-adapter status`, and
`core-sim --nodes N` (real processes on one ledger)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.connectors.pool.nodes import NodeAddress, parse_nodes
from adapter.connectors.pool.status import read_status, render_table
from tests.harness.nodes import READY, ROOT
from tests.pool.test_pool import make_pool, posting, run


def test_node_grammar():
    """host:soap:iso[:weight], weight 1 by default; each refusal names what is wrong."""
    assert NodeAddress.parse("10.0.0.7:7443:7583:5") == NodeAddress("10.0.0.7", 7443, 7583, 5)
    assert NodeAddress.parse("core-a:7443:7583").weight == 1
    with pytest.raises(ValueError, match="expected host:soap_port:iso_port"):
        NodeAddress.parse("core-a:7443")
    with pytest.raises(ValueError, match="the ISO 8583 port must be a whole number from 1 "
                                         "to 65535, not '70000'"):
        NodeAddress.parse("core-a:7443:70000")
    with pytest.raises(ValueError, match="the weight must be a whole number from 1 to 1000"):
        NodeAddress.parse("core-a:7443:7583:0")
    with pytest.raises(ValueError, match="is not a host name"):
        NodeAddress.parse("core_a!:7443:7583")
    with pytest.raises(ValueError, match="given more than once"):
        parse_nodes(["a:1:2", "a:1:2:3"])


def test_status_file_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The pool writes its per-node state; `bank-adapter status` prints it as a table."""
    pool, fakes, _, _ = make_pool(count=2, failures_to_open=1)
    pool._status_path = tmp_path / "core-nodes.json"
    fakes[0].script.append("unavailable")
    run(pool.post(posting("S1"), timeout=1))
    pool._write_status()
    assert main(["status", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["node", "weight", "health", "link", "breaker", "in_flight",
                              "requests", "errors", "failovers", "ejections", "usable"]
    assert out[1].split() == ["127.0.0.1:7000:8000", "1", "up", "up", "open", "0", "1", "1",
                              "1", "1", "False"]
    assert out[2].split() == ["127.0.0.1:7001:8001", "1", "up", "up", "closed", "0", "1", "0",
                              "0", "0", "True"]
    assert re.match(r"balance None; 1 of 2 nodes usable; as of \d+\.\d s ago", out[3])
    status = read_status(tmp_path)
    assert render_table(status, now=status["written_at"] + 2).endswith("as of 2.0 s ago")


def test_status_without_a_pool_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """No status file: exit 2 and one line saying why."""
    assert main(["status", "--state-dir", str(tmp_path)]) == 2
    assert "is the adapter running with --core-nodes?" in capsys.readouterr().err


def test_core_sim_runs_several_nodes_on_one_ledger(pki_dir: Path, tmp_path: Path):
    """`core-sim --nodes 2` starts two nodes (each its own ready line and ports) on one ledger
    file, and SIGTERM stops both."""
    cmd = [sys.executable, "-m", "adapter.cli", "core-sim", "--nodes", "2", "--db",
           str(tmp_path / "core.db"), "--pki-dir", str(pki_dir), "--soap-port", "0",
           "--iso-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.stdout is not None
    ready = []
    try:
        for line in proc.stdout:
            match = READY.match(line)
            if match:
                ready.append((line.split("node ")[-1].strip(), match.group(1), match.group(2)))
            if len(ready) == 2:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert sorted(r[0] for r in ready) == ["node1", "node2"]
    assert len({r[1] for r in ready}) == 2 and len({r[2] for r in ready}) == 2
    assert code == 0
    assert (tmp_path / "core.db").exists()
