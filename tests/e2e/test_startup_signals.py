"""A stop that reaches `bank-adapter up` at any moment of its start-up stops every child:
the test hook pauses start-up at a named stage, the test signals it there, and then no
process naming the state folder is left and every port it had is free."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from adapter.startup import PAUSE_ENV, STAGES
from tests.e2e.up_process import (
    PAUSED,
    UpProcess,
    clean_env,
    free_port_args,
    port_is_free,
    processes_naming,
)


def _pause(state: Path, stage: str) -> tuple[UpProcess, int | None, list[int]]:
    up = UpProcess(state, *free_port_args(), "--log-level", "warning",
                   env=clean_env(**{PAUSE_ENV: stage}))
    match = PAUSED.match(up.wait_for(lambda line: line.startswith("bank-adapter up: paused")))
    assert match is not None and match.group(1) == stage
    pid = None if match.group(2) == "none" else int(match.group(2))
    ports = [] if match.group(3) == "none" else [int(p) for p in match.group(3).split()]
    return up, pid, ports


@pytest.mark.parametrize("stage", STAGES)
def test_sigterm_at_each_startup_stage_stops_the_core_child(tmp_path: Path, stage: str) -> None:
    """SIGTERM to `up` paused at STAGE: exit 0, no banner, the child gone, its ports free."""
    state = tmp_path / "state"
    up, core_pid, ports = _pause(state, stage)
    try:
        if stage == "provisioned":
            assert core_pid is None and ports == []
        else:
            assert core_pid is not None
            os.kill(core_pid, 0)  # the child is running while `up` is paused
            assert len(ports) == {"core-started": 0, "core-ready": 2, "listening": 4}[stage]
        up.signal(signal.SIGTERM)
        assert up.wait() == 0
    finally:
        up.kill()
    assert not any("bank-adapter is up" in line for line in up.seen)
    assert processes_naming(str(state)) == []
    assert [p for p in ports if not port_is_free(p)] == []
    if stage == "provisioned":
        assert not (state / "core.db").exists()  # the core was never started
    assert "Traceback" not in "".join(up.stderr)


def test_ctrl_c_to_the_whole_group_while_listening_stops_everything(tmp_path: Path) -> None:
    """SIGINT to the process group (a terminal's Ctrl-C reaches parent and child at once)."""
    state = tmp_path / "state"
    up, _, ports = _pause(state, "listening")
    try:
        up.signal(signal.SIGINT, group=True)
        assert up.wait() == 0
    finally:
        up.kill()
    assert processes_naming(str(state)) == []
    assert [p for p in ports if not port_is_free(p)] == []
    assert "Traceback" not in "".join(up.stderr)


def test_a_second_up_starts_on_the_ports_the_stopped_one_had(tmp_path: Path) -> None:
    """After a stop at core-ready, `up` on the same fixed ports starts (no "in use")."""
    state = tmp_path / "state"
    first, _, ports = _pause(state, "core-ready")
    try:
        first.signal(signal.SIGTERM)
        assert first.wait() == 0
    finally:
        first.kill()
    soap, iso = ports
    second = UpProcess(state, "--http-port", "0", "--grpc-port", "0", "--core-soap-port",
                       str(soap), "--core-iso-port", str(iso), "--log-level", "warning",
                       env=clean_env(**{PAUSE_ENV: "listening"}))
    try:
        line = second.wait_for(lambda line: line.startswith("bank-adapter up: paused"))
        match = PAUSED.match(line)
        assert match is not None and [int(p) for p in match.group(3).split()][:2] == [soap, iso]
        second.signal(signal.SIGTERM)
        assert second.wait() == 0
    finally:
        second.kill()
    assert processes_naming(str(state)) == []
