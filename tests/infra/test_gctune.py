"""Start-up's objects are frozen out of the collector's walks; later garbage is still freed."""

from __future__ import annotations

import gc
import weakref

from adapter.infra.gctune import freeze_startup_objects


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can free it


def test_freeze_keeps_startup_objects_out_and_still_collects_later_cycles() -> None:
    try:
        before = _Node()
        frozen = freeze_startup_objects()
        assert frozen > 0
        assert not any(o is before for o in gc.get_objects())  # skipped by every walk
        later = _Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None  # created after the freeze: collected as usual
    finally:
        gc.unfreeze()
