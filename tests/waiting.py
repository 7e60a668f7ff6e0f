"""Waiting in tests: for progress, never for the clock.

This machine may be idle or running five test suites and a CPU burner at once; a test must
pass on both. So no test asserts how long something took (speed belongs in ``bench/``), and
a wait gives up only when nothing has moved for a long time:

* :func:`wait_for_progress` (and :func:`await_progress`): until ``done()``, failing only when
  ``progress()`` (a count of delivered messages, handled rows, ...) stood still for ``stall``
  seconds. A slow machine makes a wait longer, never a failure.
* :func:`until` (and :func:`await_until`): one event that either comes or does not (a reply,
  a log line, a server that is up). Bounded by :data:`PATIENCE`, far beyond what a loaded
  machine needs; it matters only when something is broken.

``TEAMSPIEGEL_TEST_PATIENCE`` (seconds) changes both bounds, e.g. on an emulated CPU.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

#: seconds a single awaited event may take; only a broken bot or server reaches it
PATIENCE = float(os.environ.get("TEAMSPIEGEL_TEST_PATIENCE") or 120)
#: seconds without any progress before a long wait gives up
STALL = PATIENCE


def wait_for_progress(progress: Callable[[], object], done: Callable[[], bool], what: str, *,
                      stall: float = STALL, check: Callable[[], None] | None = None,
                      on_stall: Callable[[], str] | None = None, poll: float = 0.05) -> None:
    """Until ``done()``; fail only when ``progress()`` did not change for ``stall`` seconds.
    ``check()`` runs on every round (e.g. "the bot process is still alive"); ``on_stall()``
    adds its text (a log tail) to the failure."""
    last, since = progress(), time.monotonic()
    while not done():
        if check is not None:
            check()
        time.sleep(poll)
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall:
            extra = on_stall() if on_stall is not None else ""
            raise AssertionError(f"no progress for {stall:.0f} s waiting for {what} ({now})\n"
                                 f"{extra}")


async def await_progress(progress: Callable[[], object], done: Callable[[], bool], what: str, *,
                         stall: float = STALL, check: Callable[[], None] | None = None,
                         on_stall: Callable[[], str] | None = None, poll: float = 0.05) -> None:
    """:func:`wait_for_progress` inside an event loop (the loop keeps running meanwhile)."""
    last, since = progress(), time.monotonic()
    while not done():
        if check is not None:
            check()
        await asyncio.sleep(poll)
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall:
            extra = on_stall() if on_stall is not None else ""
            raise AssertionError(f"no progress for {stall:.0f} s waiting for {what} ({now})\n"
                                 f"{extra}")


def until(done: Callable[[], object], what: str, *, patience: float = PATIENCE,
          poll: float = 0.05) -> None:
    """Until ``done()`` is true; fail after ``patience`` seconds (something is broken)."""
    end = time.monotonic() + patience
    while not done():
        assert time.monotonic() < end, f"waited {patience:.0f} s for {what}"
        time.sleep(poll)


async def await_until(done: Callable[[], object], what: str, *, patience: float = PATIENCE,
                      poll: float = 0.05) -> None:
    """:func:`until` inside an event loop."""
    end = time.monotonic() + patience
    while not done():
        assert time.monotonic() < end, f"waited {patience:.0f} s for {what}"
        await asyncio.sleep(poll)
