"""Reload without restart: run a reload when a watched file changes or when asked (SIGHUP).

The watch polls each file's (mtime in ns, size, inode) every `interval` seconds: a handful of
`stat` calls per second, no dependency, and it sees changes on every filesystem, including the
bind mounts and network filesystems where inotify (what `watchfiles` would use) misses them.
A file replaced by rename (how `pki` and the clients file are written) changes its inode, so
even a rewrite within one mtime tick is seen.

Invariants:
- Rule 1: one reload at a time, on the owner's event loop; a request (SIGHUP) while one runs
  leads to exactly one more after it.
- Rule 2: a failed reload is one log line naming what failed; the owner keeps serving with
  what it had, and the next change (or request) tries again.
- Rule 3: `generation` counts completed attempts and `failures` the failed ones, and `loaded`
  is the files' signature a successful attempt started from, all under a condition variable:
  `wait_loaded()` waits, with a deadline and no sleeping, until the files as they are now have
  been loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("adapter.reload")

Signature = tuple[tuple[int, int, int] | None, ...]


def load_each(parts: Iterable[tuple[str, Callable[[], object]]]) -> None:
    """Run every (name, load) part, each on its own, so one that fails holds back none of the
    others (a broken clients file must not hold back a revocation); then raise one error
    naming every part that failed (Rule 2's log line)."""
    failed: list[str] = []
    for what, load in parts:
        try:
            load()
        except Exception as exc:
            failed.append(f"{what}: {exc}")
    if failed:
        raise RuntimeError("; ".join(failed))


def signature(paths: Iterable[Path]) -> Signature:
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class Reloader:
    def __init__(self, name: str, paths: Callable[[], Iterable[Path]],
                 reload: Callable[[], None], interval: float | None) -> None:
        """`interval` None: no watch, reload on `request()` only."""
        self.name = name
        self._paths = paths
        self._reload = reload
        self._interval = interval
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._done = threading.Condition()
        self.generation = 0
        self.failures = 0
        self.loaded: Signature | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        baseline = signature(self._paths())
        self.loaded = baseline  # the owner loaded these files as it started
        self._task = asyncio.create_task(self._run(baseline), name=f"reload:{self.name}")

    def request(self) -> None:
        """Reload now (a SIGHUP handler calls this); safe from any thread."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self, seen: Signature) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            asked = self._wake.is_set()
            self._wake.clear()
            now = signature(self._paths())
            if not asked and now == seen:
                continue
            seen = now
            self._attempt("SIGHUP" if asked else "a file change", now)

    def _attempt(self, why: str, files: Signature) -> None:
        ok = True
        try:
            self._reload()
        except Exception as exc:  # Rule 2: anything the files can do to a loader
            ok = False
            log.error("%s: reload after %s failed (what failed keeps serving what it had): "
                      "%s: %s", self.name, why, type(exc).__name__, exc)
        else:
            log.info("%s: reloaded after %s", self.name, why)
        with self._done:
            self.generation += 1
            if ok:
                self.loaded = files
            else:
                self.failures += 1
            self._done.notify_all()

    def wait_for(self, generation: int, timeout: float) -> bool:
        """Block (another thread) until `generation` attempts are done, or `timeout` s pass."""
        with self._done:
            return self._done.wait_for(lambda: self.generation >= generation, timeout)

    def wait_loaded(self, timeout: float) -> bool:
        """Block (another thread) until the files as they are now have been loaded, or
        `timeout` s pass; False on the deadline."""
        target = signature(self._paths())
        with self._done:
            return self._done.wait_for(lambda: self.loaded == target, timeout)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
