"""Per-process CPU and memory, read from /proc (Linux), for servers the benchmark started.

What this module owns:
- CPU seconds of a process (user + system, every thread) from `/proc/PID/stat`.
- Resident memory now (`VmRSS`) and its peak (`VmHWM`) from `/proc/PID/status`, and the reset
  of that peak (`clear_refs` value 5, Linux 4.0+) so each scenario reports its own peak even
  when one server process serves several scenarios in a row.
- A sampler thread that records RSS over time, for the long-run memory check.

Invariant: every reading is of one process id; a process that has exited reads as None rather
than raising, so a crashed server shows up as missing figures, not as a benchmark crash.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used so far (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(b")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def _status_kb(pid: int, key: bytes) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, b"VmRSS:")
    return None if kb is None else kb / 1024


def peak_rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, b"VmHWM:")
    return None if kb is None else kb / 1024


def reset_peak_rss(pid: int) -> bool:
    """Set VmHWM back to the current RSS (proc(5), clear_refs "5"); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


@dataclass
class CpuWindow:
    """CPU seconds of several processes between `start()` and `stop()`."""

    pids: dict[str, int]
    started: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    t0: float = 0.0
    elapsed: float = 0.0

    def start(self) -> None:
        self.t0 = time.perf_counter()
        for name, pid in self.pids.items():
            value = cpu_seconds(pid)
            if value is not None:
                self.started[name] = value

    def stop(self) -> None:
        self.elapsed = time.perf_counter() - self.t0
        for name, pid in self.pids.items():
            value = cpu_seconds(pid)
            if value is not None and name in self.started:
                self.used[name] = value - self.started[name]


class RssSampler:
    """Samples VmRSS of each process every `interval` seconds in a daemon thread."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        while True:
            now = time.monotonic() - self._t0
            for name, pid in self.pids.items():
                value = rss_mb(pid)
                if value is not None:
                    self.samples[name].append((now, value))
            # Event.wait is the sampling clock here, not a synchronisation with anything.
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(RuntimeError):
            self._thread.join(5)
