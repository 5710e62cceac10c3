"""The README's examples, run exactly as printed (issue 12, "done when"): a README that drifts
from the code fails CI.

A block is an example when the line before its ```sh fence is
`<!-- README example NAME: run by tests/e2e/test_readme_examples.py -->`. Every such block,
in the README's order, runs in ONE bash (so a later block uses what an earlier one set, as
in a terminal) against a fresh `bank-adapter up` in a temporary state folder on free ports;
the test sets only `STATE` and `API`, which the examples read with a default
(`STATE=${STATE:-bank-adapter-state}`). Between blocks the harness prints a marker line, so
each block's output is known.

Every block must exit 0, and no JSON document it prints may be a problem (RFC 9457): an
example that answers an error is a broken example. Known blocks are checked further, exactly
(values, the payment read back by its captured id, and the ledger's balances).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adapter.frontends.rest.openapi import build_openapi
from tests.e2e.up_process import UpProcess, clean_env, free_port_args

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(
    r"^<!-- README example (?P<name>[a-z0-9-]+): run by tests/e2e/test_readme_examples\.py -->"
    r"\n```sh\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
SEPARATOR = "<<<README example {name}>>>"
READY = "Press Ctrl-C to stop."


def examples() -> list[tuple[str, str]]:
    """(name, shell text) of every marked block, in order."""
    return [(m["name"], m["body"]) for m in EXAMPLE.finditer(README.read_text())]


def _documents(text: str) -> tuple[list[Any], str]:
    """The JSON documents `text` holds one after another (curl writes no newline after a
    body), and what follows them."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    rest = text.lstrip()
    while rest[:1] in ("{", "["):
        value, end = decoder.raw_decode(rest)
        found.append(value)
        rest = rest[end:].lstrip()
    return found, rest


def _required(tool: str) -> None:
    if shutil.which(tool) is None:
        message = f"the README's examples need {tool} on PATH: install it (apt-get install {tool})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _balance(state: Path, account_id: str) -> int:
    con = sqlite3.connect(f"file:{state / 'core.db'}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT balance_minor FROM accounts WHERE id = ?",
                               (account_id,)).fetchone()[0])
    finally:
        con.close()


def test_the_marked_blocks_are_found() -> None:
    """The REST section's three examples are marked (a lost marker would silently skip one)."""
    names = [name for name, _ in examples()]
    assert {"rest-reads", "rest-transfer", "rest-bill-payment"} <= set(names), names
    assert len(names) == len(set(names)), names


def test_readme_examples_run_as_printed(tmp_path: Path) -> None:
    for tool in ("bash", "curl", "python3"):
        _required(tool)
    state = tmp_path / "state"
    up = UpProcess(state, *free_port_args())
    try:
        banner = up.wait_for(lambda line: READY in line)
        port = re.search(r"REST\s+https://localhost:(\d+)/v1", "".join(up.seen))
        assert port is not None, banner
        script = "".join(f"printf '\\n{SEPARATOR.format(name=name)}\\n'\n{body}"
                         for name, body in examples())
        env = clean_env(STATE=str(state), API=f"https://localhost:{port[1]}")
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
        balances = {a: _balance(state, a) for a in ("10000001", "10000002", "90000001")}
    finally:
        up.signal(15)
        code = up.wait()
    assert run.returncode == 0, run.stdout + run.stderr
    assert code == 0, "".join(up.stderr)

    outputs = dict(re.findall(r"<<<README example ([a-z0-9-]+)>>>\n(.*?)(?=\n<<<README|\Z)",
                              run.stdout, re.DOTALL))
    assert list(outputs) == [name for name, _ in examples()], run.stdout
    parsed = {name: _documents(text) for name, text in outputs.items()}
    for name, (documents, _) in parsed.items():
        for document in documents:
            assert not (isinstance(document, dict)
                        and str(document.get("type", "")).startswith("urn:bank-adapter:problem")), (
                name, document)

    # rest-reads: the index, the partner's accounts, a balance, the (empty) history.
    (index, accounts, balances_doc, history), rest = parsed["rest-reads"]
    assert rest == ""
    assert index["_links"]["accounts"] == {"href": "/v1/accounts"}
    assert [a["resourceId"] for a in accounts["accounts"]] == ["10000001", "10000002"]
    assert balances_doc["balances"][0]["balanceAmount"] == {"currency": "EUR",
                                                            "amount": "10000.00"}
    assert history["transactions"]["booked"] == []

    # rest-transfer: the payment, and the same payment read back by its captured id.
    (created, read_back), rest = parsed["rest-transfer"]
    assert rest == ""
    assert (created["transactionStatus"], created["instructedAmount"]) == (
        "ACSC", {"currency": "EUR", "amount": "12.50"})
    assert read_back["paymentId"] == created["paymentId"]
    assert read_back["transactionId"] == created["transactionId"]
    assert read_back["transactionStatus"] == "ACSC"

    # rest-bill-payment: booked to the biller; then the document's paths.
    (bill,), rest = parsed["rest-bill-payment"]
    assert (bill["transactionStatus"], bill["billerId"]) == ("ACSC", "ELEC01")
    assert rest.split() == sorted(build_openapi()["paths"])

    # The ledger moved exactly what the examples paid, once.
    assert balances == {"10000001": 1_000_000 - 1250 - 4500, "10000002": 250_000 + 1250,
                        "90000001": 4500}
