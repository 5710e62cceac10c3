"""Start-up failures of `bank-adapter up` and `bank-adapter core-sim`, run as the real
commands: each is exactly one line on stderr naming what and where, a non-zero exit, no
process left behind, and nothing created that the failure made pointless."""

from __future__ import annotations

import json
from pathlib import Path

from adapter.provision import provision
from tests.e2e.up_process import (
    clean_env,
    free_port_args,
    listening_socket,
    processes_naming,
    run_cli,
)

QUIET = ("--log-level", "warning")


def _up(state: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = run_cli("up", "--state-dir", str(state), *args, *QUIET, env=env)
    assert processes_naming(str(state)) == []
    return done.returncode, done.stderr


def _ports(**fixed: int) -> list[str]:
    args = free_port_args()
    for name, port in fixed.items():
        args[args.index("--" + name.replace("_", "-")) + 1] = str(port)
    return args


def test_adapter_https_port_in_use(tmp_path: Path) -> None:
    """The HTTPS port taken: one line naming the address and the flag; the core child stopped."""
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        code, err = _up(tmp_path / "s", *_ports(http_port=port))
    assert code == 1
    assert err == (f"bank-adapter up: cannot listen for HTTPS (REST and SOAP) on 127.0.0.1:"
                   f"{port}: address already in use (--http-port, BANK_ADAPTER_HTTP_PORT)\n")


def test_adapter_grpc_port_in_use(tmp_path: Path) -> None:
    """The gRPC port taken: the OS reason, not grpc's bare "Failed to bind"."""
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        code, err = _up(tmp_path / "s", *_ports(grpc_port=port))
    assert code == 1
    assert err == (f"bank-adapter up: cannot listen for gRPC on 127.0.0.1:{port}: address "
                   f"already in use (--grpc-port, BANK_ADAPTER_GRPC_PORT)\n")


def test_core_soap_port_in_use(tmp_path: Path) -> None:
    """The core's SOAP port taken: the child's error relayed under `up`'s own flag; the
    adapter never started (no adapter.db)."""
    state = tmp_path / "s"
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        code, err = _up(state, *_ports(core_soap_port=port))
    assert code == 1
    assert err == (f"bank-adapter up: the simulated core did not start: cannot listen for SOAP "
                   f"on 127.0.0.1:{port}: address already in use "
                   f"(--core-soap-port, BANK_ADAPTER_CORE_SOAP_PORT)\n")
    assert not (state / "adapter.db").exists()


def test_core_iso_port_in_use(tmp_path: Path) -> None:
    """The core's ISO 8583 port taken: named as such, under --core-iso-port."""
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        code, err = _up(tmp_path / "s", *_ports(core_iso_port=port))
    assert code == 1
    assert err == (f"bank-adapter up: the simulated core did not start: cannot listen for "
                   f"ISO 8583 on 127.0.0.1:{port}: address already in use "
                   f"(--core-iso-port, BANK_ADAPTER_CORE_ISO_PORT)\n")


def test_port_out_of_range_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    """--http-port 70000: exit 2, one line with the allowed range, no state folder made."""
    code, err = _up(tmp_path / "s", "--http-port", "70000")
    assert code == 2
    assert err == ("bank-adapter up: error: argument --http-port: invalid value '70000': input "
                   "should be less than or equal to 65535 (see bank-adapter up --help)\n")
    assert not (tmp_path / "s").exists()


def test_a_bad_environment_variable_names_the_variable(tmp_path: Path) -> None:
    """BANK_ADAPTER_GRPC_PORT=http: exit 2, the variable named, nothing made."""
    code, err = _up(tmp_path / "s", env=clean_env(BANK_ADAPTER_GRPC_PORT="http"))
    assert code == 2
    assert err == ("bank-adapter up: error: environment variable BANK_ADAPTER_GRPC_PORT: "
                   "invalid value 'http': input should be a valid integer, unable to parse "
                   "string as an integer (see bank-adapter up --help)\n")
    assert not (tmp_path / "s").exists()


def test_a_state_folder_that_cannot_be_written(tmp_path: Path) -> None:
    """A state folder under a regular file: one line naming the folder and the reason.
    (Under a read-only parent the probe write fails the same way; as root it would not.)"""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    code, err = _up(blocker / "state", *free_port_args())
    assert code == 1
    assert err == (f"bank-adapter up: the state folder {blocker / 'state'} is not writable: "
                   f"not a directory (--state-dir, BANK_ADAPTER_STATE_DIR)\n")


def test_a_malformed_clients_file(tmp_path: Path) -> None:
    """clients.json that is not JSON: one line naming the file and where it breaks; neither
    the core nor the adapter started (no core.db, no adapter.db)."""
    state = tmp_path / "s"
    provision(state)
    (state / "clients.json").write_text('{"clients": [\n  {"id": "partner",,}\n]}\n')
    code, err = _up(state, *free_port_args())
    assert code == 1
    assert err.startswith(f"bank-adapter up: the clients file {state / 'clients.json'} is "
                          f"not valid: Invalid JSON: ")
    assert "line 2 column 20" in err and err.count("\n") == 1
    assert not (state / "core.db").exists() and not (state / "adapter.db").exists()


def test_a_clients_file_with_a_wrong_operation(tmp_path: Path) -> None:
    """A well-formed file with an unknown operation: the entry and the allowed ones named."""
    state = tmp_path / "s"
    provision(state)
    body = json.loads((state / "clients.json").read_text())
    body["clients"][1]["operations"] = ["steal"]
    (state / "clients.json").write_text(json.dumps(body))
    code, err = _up(state, *free_port_args())
    assert code == 1
    assert err == (f"bank-adapter up: the clients file {state / 'clients.json'} is not valid: "
                   "clients[1].operations[0]: Input should be 'read', 'transfer', "
                   "'bill_payment', 'watch', 'relay_customers', 'metrics' or 'customer_admin'\n")


def test_core_sim_without_its_pki_creates_nothing(tmp_path: Path) -> None:
    """`bank-adapter core-sim` with no PKI: the missing file named, no ledger made."""
    pki_dir, db = tmp_path / "pki", tmp_path / "ledger" / "core.db"
    done = run_cli("core-sim", "--pki-dir", str(pki_dir), "--db", str(db))
    assert done.returncode == 1
    assert done.stderr == (f"bank-adapter core-sim: error: the PKI file {pki_dir / 'core.crt'} "
                           f"is missing; create the PKI with `bank-adapter pki init --dir "
                           f"{pki_dir}` (--pki-dir)\n")
    assert not db.parent.exists()


def test_core_sim_with_a_corrupt_key_creates_nothing(tmp_path: Path, pki_dir: Path) -> None:
    """A PKI whose core.key is not a key: one line naming the folder, no ledger made."""
    broken = tmp_path / "pki"
    broken.mkdir()
    for name in ("core-link-ca.crt", "core-link-ca.crl", "core.crt"):
        (broken / name).write_bytes((pki_dir / name).read_bytes())
    (broken / "core.key").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    db = tmp_path / "ledger" / "core.db"
    done = run_cli("core-sim", "--pki-dir", str(broken), "--db", str(db))
    assert done.returncode == 1
    assert done.stderr.startswith(f"bank-adapter core-sim: error: cannot load the core's "
                                  f"certificate and key from {broken}: ")
    assert done.stderr.endswith(" (--pki-dir)\n") and done.stderr.count("\n") == 1
    assert not db.parent.exists()


def test_core_sim_port_in_use(tmp_path: Path, pki_dir: Path) -> None:
    """`bank-adapter core-sim` on a taken SOAP port: one line, exit 1, nothing left running."""
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        done = run_cli("core-sim", "--pki-dir", str(pki_dir), "--db", str(tmp_path / "core.db"),
                       "--soap-port", str(port), "--iso-port", "0", "--log-level", "warning")
    assert done.returncode == 1
    assert done.stderr == (f"bank-adapter core-sim: error: cannot listen for SOAP on "
                           f"127.0.0.1:{port}: address already in use (--soap-port)\n")
    assert processes_naming(str(tmp_path)) == []
