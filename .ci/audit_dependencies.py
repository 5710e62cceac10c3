"""pip-audit of the installed environment, or one line saying why it could not run.

    .venv/bin/python .ci/audit_dependencies.py        (a step of the test command and .ci/run)

Owns: choosing a vulnerability service that answers, and the accepted exceptions.

Invariants:
- Rule 1: a service is used only if it proves it answers: asked about requests 2.19.0
  (CVE-2018-18074, listed by every advisory database), it must name at least one advisory.
  A mirror that serves package metadata without advisories proves nothing and counts as
  unreachable. PyPI's JSON API is asked first, then OSV.
- Rule 2: when no service answers, the step prints "pip-audit skipped: ..." and succeeds, on
  a developer's machine and under CI alike (the machines of this project reach no advisory
  database today); when one answers, pip-audit runs with --strict: a known vulnerability,
  or a dependency it cannot audit, fails the run (exit 1).
- Rule 3: the only accepted vulnerabilities are the ids in `pip-audit-exceptions.txt` beside
  this file, one per line with the reason after it; a line without a reason is an error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

EXCEPTIONS = Path(__file__).with_name("pip-audit-exceptions.txt")
PROBE_NAME, PROBE_VERSION = "requests", "2.19.0"
TIMEOUT = 10.0


def _get_json(request: urllib.request.Request) -> object:
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.loads(response.read())


def pypi_answers() -> bool:
    url = f"https://pypi.org/pypi/{PROBE_NAME}/{PROBE_VERSION}/json"
    try:
        data = _get_json(urllib.request.Request(url))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("vulnerabilities"))


def osv_answers() -> bool:
    body = json.dumps({"package": {"name": PROBE_NAME, "ecosystem": "PyPI"},
                       "version": PROBE_VERSION}).encode()
    request = urllib.request.Request("https://api.osv.dev/v1/query", data=body,
                                     headers={"content-type": "application/json"})
    try:
        data = _get_json(request)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("vulns"))


def accepted_exceptions(path: Path = EXCEPTIONS) -> list[str]:
    """The vulnerability ids accepted (Rule 3); `#` starts a comment."""
    ids = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path}:{number}: {vuln_id} has no reason; write why it is "
                             "accepted after the id")
        ids.append(vuln_id)
    return ids


def main() -> int:
    ignored = accepted_exceptions()
    service = "pypi" if pypi_answers() else "osv" if osv_answers() else None
    if service is None:
        print("pip-audit skipped: no vulnerability service answered (PyPI's JSON API named no "
              f"advisory for {PROBE_NAME} {PROBE_VERSION}, and api.osv.dev was not reachable); "
              "the step audits the environment wherever one answers", flush=True)
        return 0
    command = [sys.executable, "-m", "pip_audit", "--service", service, "--strict",
               "--skip-editable", "--progress-spinner", "off"]
    for vuln_id in ignored:
        command += ["--ignore-vuln", vuln_id]
    print(f"pip-audit against {service}, {len(ignored)} accepted exception(s)", flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
