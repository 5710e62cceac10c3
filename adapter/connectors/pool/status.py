"""`bank-adapter status`: the pool's per-node state as a table, read from the state folder.

The running adapter's pool rewrites `STATE/core-nodes.json` (atomically) after every health
round; this module reads it and draws the table. No network call: it works while the adapter
is overloaded, and it shows how old the figures are.

Invariant: the table names nodes by host and ports only; nothing secret is in the file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from adapter.connectors.pool.build import STATUS_FILE

COLUMNS = ("node", "weight", "health", "link", "breaker", "in_flight", "requests", "errors",
           "failovers", "ejections", "usable")


def read_status(state_dir: Path) -> dict[str, Any]:
    path = Path(state_dir) / STATUS_FILE
    if not path.exists():
        raise ValueError(f"no {path}: is the adapter running with --core-nodes?")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def render_table(status: dict[str, Any], *, now: float | None = None) -> str:
    rows = [[str(node.get(c, "")) for c in COLUMNS] for node in status.get("nodes", [])]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    age = (now if now is not None else time.time()) - float(status.get("written_at", 0))
    usable = sum(1 for n in status.get("nodes", []) if n.get("usable"))
    lines.append(f"balance {status.get('balance')}; {usable} of {len(rows)} nodes usable; "
                 f"as of {age:.1f} s ago")
    return "\n".join(lines)
