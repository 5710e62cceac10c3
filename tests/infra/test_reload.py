"""adapter.infra.reload: the file watch, requests (SIGHUP) and what a failed reload leaves."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from adapter.infra.reload import Reloader


def test_a_replaced_file_is_seen_even_with_the_same_mtime(tmp_path: Path) -> None:
    """A rename over the watched file with the old mtime and size (only the inode differs)
    triggers one reload; `wait_loaded` then holds for the files as they are."""
    watched = tmp_path / "ca.crl"
    watched.write_text("one")
    stamp = watched.stat().st_mtime_ns
    calls: list[str] = []

    async def scenario() -> None:
        reloader = Reloader("t", lambda: (watched,), lambda: calls.append(watched.read_text()),
                            0.01)
        await reloader.start()
        replacement = tmp_path / "new"
        replacement.write_text("two")
        os.utime(replacement, ns=(stamp, stamp))
        os.replace(replacement, watched)
        assert await asyncio.to_thread(reloader.wait_loaded, 5)
        await reloader.stop()

    asyncio.run(scenario())
    assert calls == ["two"]


def test_without_a_watch_only_a_request_reloads_and_a_failure_keeps_loaded(
        tmp_path: Path) -> None:
    """interval None: a change and a request make exactly one reload; a reload that raises is
    counted and leaves `loaded` at the last good files, so `wait_loaded` does not hold."""
    watched = tmp_path / "clients.json"
    watched.write_text("{}")
    fail = [False]
    calls: list[int] = []

    def reload() -> None:
        calls.append(1)
        if fail[0]:
            raise ValueError("broken file")

    async def scenario() -> None:
        reloader = Reloader("t", lambda: (watched,), reload, None)
        await reloader.start()
        good = reloader.loaded
        watched.write_text('{"a": 1}')
        reloader.request()
        assert await asyncio.to_thread(reloader.wait_for, 1, 5)
        assert (reloader.failures, len(calls)) == (0, 1)
        assert reloader.loaded != good
        loaded = reloader.loaded
        fail[0] = True
        watched.write_text("not json")
        reloader.request()
        assert await asyncio.to_thread(reloader.wait_for, 2, 5)
        assert (reloader.failures, reloader.loaded) == (1, loaded)
        assert not await asyncio.to_thread(reloader.wait_loaded, 0.05)
        await reloader.stop()

    asyncio.run(scenario())
