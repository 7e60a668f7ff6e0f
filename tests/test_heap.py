"""The heap after start-up is out of the garbage collector's sight (bot/engine/heap.py)."""

from __future__ import annotations

import gc
import weakref

from bot.engine.heap import settle_heap


def test_settle_heap_freezes_what_lives_and_collects_what_does_not() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    kept = [Node()]
    garbage = weakref.ref(Node())  # garbage in a cycle
    assert garbage() is not None
    try:
        frozen = settle_heap()
        assert frozen == gc.get_freeze_count() > 0
        tracked = gc.get_objects()  # the collector's generations, not the frozen ones
        assert not any(o is kept for o in tracked)
        assert garbage() is None  # collected, not frozen
        fresh = [Node()]  # made after start-up: still the collector's
        assert any(o is fresh for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())
