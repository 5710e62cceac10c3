"""`bank-adapter up --workers N`: N worker processes share the HTTPS and gRPC ports, a worker
killed while serving is started again, a stop at any moment leaves no worker behind, and a
caller's rate-limit budget is one for all the workers (`--rate-limit-storage database`), which
`up` insists on."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import select
import signal
import ssl
import urllib.request
from pathlib import Path

import pytest

from adapter.startup import PAUSE_ENV
from tests.e2e.up_process import (
    PAUSED,
    UpProcess,
    clean_env,
    free_port_args,
    port_is_free,
    processes_naming,
    run_cli,
)
from tests.harness.postgres import fresh_schema, schema_url

WORKERS = re.compile(r"^bank-adapter up: (\d+) workers, pids ([\d ]+)$")
REST_PORT = re.compile(r"REST +https://localhost:(\d+)/v1")
# More than one worker with a rate set needs budgets the workers share (adapter.startup Rule 7).
SHARED_BUDGETS = ("--rate-limit-storage", "database")


def _get_accounts(state: Path, port: int) -> int:
    pki = state / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "partner.crt"), str(pki / "partner.key"))
    with urllib.request.urlopen(f"https://localhost:{port}/v1/accounts", context=ctx,
                                timeout=10) as response:
        return int(response.status)


def _wait_exited(pid: int, limit: float = 10) -> None:
    """Return once process `pid` (not our child) has exited: its pidfd becomes readable."""
    fd = os.pidfd_open(pid)
    try:
        assert select.select([fd], [], [], limit)[0], f"pid {pid} still running"
    finally:
        os.close(fd)


def _wait_stderr(up: UpProcess, text: str, *, count: int, limit: float = 15) -> None:
    """Return once `text` appeared `count` times on up's stderr (its workers' logs pass
    through it), woken by each line up's pump reads."""
    assert up.wait_stderr(text, count=count, limit=limit), "".join(up.stderr[-20:])


def _worker_pids(state: Path) -> list[int]:
    return sorted(int(line.split(":", 1)[0]) for line in processes_naming(str(state))
                  if "adapter.workers" in line)


def test_more_than_one_worker_without_a_database_url_is_refused_in_one_line(
        tmp_path: Path) -> None:
    """--workers 2 on SQLite: exit 1, one line naming --database-url, nothing created."""
    state = tmp_path / "state"
    result = run_cli("up", "--state-dir", str(state), "--workers", "2", *free_port_args())
    assert result.returncode == 1
    assert result.stderr == (
        "bank-adapter up: --workers 2 needs a PostgreSQL database shared by the workers: "
        "give --database-url postgresql://... (--database-url, BANK_ADAPTER_DATABASE_URL)\n")
    assert not state.exists()


def test_more_than_one_worker_with_budgets_in_memory_is_refused_in_one_line(
        tmp_path: Path) -> None:
    """--workers 2 with a rate set and --rate-limit-storage memory (the default): exit 1,
    one line naming the shared storages, before anything starts (the database named is never
    contacted: nothing listens on its port)."""
    state = tmp_path / "state"
    result = run_cli("up", "--state-dir", str(state), "--workers", "2", *free_port_args(),
                     "--database-url", "postgresql://nobody@127.0.0.1:1/none",
                     "--rate-limit-default", "none", "--rate-limit-operations", "read=5/hour")
    assert result.returncode == 1
    assert result.stderr == (
        "bank-adapter up: --workers 2 with --rate-limit-storage memory gives each worker "
        "budgets of its own, so a caller gets 2 times its rate: give --rate-limit-storage "
        "database (or a redis:// URL) (--rate-limit-storage, "
        "BANK_ADAPTER_RATE_LIMIT_STORAGE)\n")
    assert not state.exists()


def test_budgets_in_the_database_without_a_database_url_are_refused_in_one_line(
        tmp_path: Path) -> None:
    """--rate-limit-storage database on SQLite: exit 1, one line naming --database-url."""
    state = tmp_path / "state"
    result = run_cli("up", "--state-dir", str(state), "--rate-limit-storage", "database",
                     *free_port_args())
    assert result.returncode == 1
    assert result.stderr == (
        "bank-adapter up: --rate-limit-storage database keeps the budgets in the PostgreSQL "
        "database: give --database-url postgresql://... (--database-url, "
        "BANK_ADAPTER_DATABASE_URL)\n")
    assert not state.exists()


def _socket_owner(server_port: int, client_port: int, pids: list[int]) -> int:
    """The pid among `pids` holding the server side of the loopback connection from
    `client_port`: its inode in /proc/net/tcp, then the process with an fd on that inode."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if (state == "01" and int(local.split(":")[1], 16) == server_port
                and int(remote.split(":")[1], 16) == client_port):
            inode = fields[9]
    assert inode is not None, f"no server socket for client port {client_port}"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
    raise AssertionError(f"no worker of {pids} holds socket {inode}")


def _read_accounts_once(state: Path, port: int, pids: list[int],
                        ) -> tuple[int, str | None, dict[str, object], int]:
    """GET /v1/accounts as partner on a connection of its own: (status, Retry-After, the
    JSON body, the pid of the worker that answered)."""
    pki = state / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "partner.crt"), str(pki / "partner.key"))
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.connect()
        assert conn.sock is not None
        client_port = conn.sock.getsockname()[1]
        conn.request("GET", "/v1/accounts")
        response = conn.getresponse()
        body = json.loads(response.read())
        # Kept alive: the worker that answered still holds its side of the connection.
        owner = _socket_owner(port, client_port, pids)
        return response.status, response.getheader("Retry-After"), body, owner
    finally:
        conn.close()


def test_two_workers_spend_one_budget_through_the_database(tmp_path: Path) -> None:
    """read=5/hour over --workers 2 with --rate-limit-storage database: 25 reads, each on a
    new connection (so the kernel spreads them over both workers): exactly the first 5 pass
    and every later one is 429 RATE_LIMITED with Retry-After, from both workers (each worker
    that refuses has spent less than 5 itself: the budget is the database's)."""
    state = tmp_path / "state"
    with fresh_schema() as (url, schema):
        up = UpProcess(state, *free_port_args(), "--workers", "2", "--log-level", "warning",
                       "--database-url", schema_url(url, schema), *SHARED_BUDGETS,
                       "--rate-limit-default", "none", "--rate-limit-operations",
                       "read=5/hour")
        try:
            match = REST_PORT.search(up.wait_for(lambda line: REST_PORT.search(line)
                                                 is not None))
            assert match is not None
            port = int(match.group(1))
            workers = WORKERS.match(up.wait_for(lambda line: WORKERS.match(line) is not None))
            assert workers is not None
            pids = [int(p) for p in workers.group(2).split()]
            answers = [_read_accounts_once(state, port, pids) for _ in range(25)]
            up.signal(signal.SIGTERM)
            assert up.wait() == 0
        finally:
            up.kill()
    assert [status for status, *_ in answers] == [200] * 5 + [429] * 20
    for _status, retry_after, body, _pid in answers[5:]:
        assert retry_after is not None and 700 <= int(retry_after) <= 720
        assert (body["code"], body["status"], body["detail"]) == (
            "RATE_LIMITED", 429, "too many read requests from this client (limit 5/hour); "
            f"retry in {retry_after} s")
    assert {pid for *_, pid in answers[5:]} == set(pids)
    assert "Traceback" not in "".join(up.stderr)


def test_two_workers_share_the_port_and_a_killed_one_is_started_again(tmp_path: Path) -> None:
    """Two workers listen on one HTTPS port; SIGKILL one: the port still answers, the parent
    starts it again; SIGHUP leaves both serving; SIGTERM to `up` then leaves no process and
    frees every port."""
    state = tmp_path / "state"
    with fresh_schema() as (url, schema):
        up = UpProcess(state, *free_port_args(), "--workers", "2", "--log-level", "info",
                       "--database-url", schema_url(url, schema), *SHARED_BUDGETS)
        try:
            banner = up.wait_for(lambda line: REST_PORT.search(line) is not None)
            match = REST_PORT.search(banner)
            assert match is not None
            port = int(match.group(1))
            line = up.wait_for(lambda line: WORKERS.match(line) is not None)
            pids_match = WORKERS.match(line)
            assert pids_match is not None and pids_match.group(1) == "2"
            pids = sorted(int(p) for p in pids_match.group(2).split())
            assert _worker_pids(state) == pids
            assert _get_accounts(state, port) == 200
            os.kill(pids[0], signal.SIGKILL)
            # Connections already queued on the dying worker's socket are reset with it (a
            # client retries them); once it is gone the kernel hands new ones to the other.
            _wait_exited(pids[0])
            assert _get_accounts(state, port) == 200  # the other worker answers meanwhile
            again = up.wait_for(lambda line: "started again" in line)
            new_pid = int(again.rsplit("pid ", 1)[1].rstrip(")\n"))
            assert sorted(_worker_pids(state)) == sorted([pids[1], new_pid])
            assert _get_accounts(state, port) == 200
            # SIGHUP is passed on to the workers, which reload their files (its default
            # action would end them): both are still there and serving.
            up.signal(signal.SIGHUP)
            _wait_stderr(up, "reloaded after SIGHUP", count=2)  # one line per worker
            assert _get_accounts(state, port) == 200
            assert sorted(_worker_pids(state)) == sorted([pids[1], new_pid])
            up.signal(signal.SIGTERM)
            assert up.wait() == 0
        finally:
            up.kill()
    assert processes_naming(str(state)) == []
    assert port_is_free(port)
    assert "Traceback" not in "".join(up.stderr)


def test_sigterm_while_paused_listening_stops_every_worker(tmp_path: Path) -> None:
    """With --workers 2, paused at `listening`: SIGTERM leaves no worker and frees the ports."""
    state = tmp_path / "state"
    with fresh_schema() as (url, schema):
        up = UpProcess(state, *free_port_args(), "--workers", "2", "--log-level", "warning",
                       "--database-url", schema_url(url, schema), *SHARED_BUDGETS,
                       env=clean_env(**{PAUSE_ENV: "listening"}))
        try:
            match = PAUSED.match(up.wait_for(lambda line: line.startswith(
                "bank-adapter up: paused")))
            assert match is not None and match.group(1) == "listening"
            ports = [int(p) for p in match.group(3).split()]
            assert len(ports) == 4
            assert len(_worker_pids(state)) == 2
            up.signal(signal.SIGTERM)
            assert up.wait() == 0
        finally:
            up.kill()
    assert processes_naming(str(state)) == []
    assert [p for p in ports if not port_is_free(p)] == []


@pytest.mark.parametrize(("base", "index", "workers", "expected"), [
    ("ADAPTER1", 1, 1, "ADAPTER1"), ("ADAPTER1", 1, 2, "ADAPTE01"),
    ("HOSTB001", 12, 16, "HOSTB012")])
def test_each_worker_has_its_own_terminal_id(base: str, index: int, workers: int,
                                             expected: str) -> None:
    """Field 41 of worker i of N: the base for one worker, else six characters and i."""
    from adapter.workers import terminal_id

    assert terminal_id(base, index, workers) == expected


def test_workers_stop_by_themselves_when_up_is_killed(tmp_path: Path) -> None:
    """SIGKILL to `up` alone (no stop path runs): each worker sees its stdin pipe end and
    stops (Rule 3 of adapter.workers), so no worker serves on without its parent."""
    state = tmp_path / "state"
    with fresh_schema() as (url, schema):
        up = UpProcess(state, *free_port_args(), "--workers", "2", "--log-level", "warning",
                       "--database-url", schema_url(url, schema), *SHARED_BUDGETS)
        try:
            line = up.wait_for(lambda line: WORKERS.match(line) is not None)
            match = WORKERS.match(line)
            assert match is not None
            pids = [int(p) for p in match.group(2).split()]
            os.kill(up.proc.pid, signal.SIGKILL)
            for pid in pids:
                _wait_exited(pid, limit=30)
            assert _worker_pids(state) == []
        finally:
            # up is dead already: kill what is left of its process group (the core child,
            # and the workers if this test failed) directly.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(up.proc.pid, signal.SIGKILL)
            up.proc.wait(10)
