"""Is the database usable right now? Says so once when it stops, and once when it is back.

A locked database (another writer past the busy timeout), a full disk or an I/O error makes
every write fail until it passes. Logging each failure with a traceback would fill the log with
the same story once a second; :class:`StoreHealth` tells it once (ERROR, no traceback) and once
more when a write succeeds again (WARNING, with how long it took). Callers that catch an outage
(:func:`is_outage`) log nothing themselves and simply retry later.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

__all__ = ["StoreHealth", "is_outage"]

log = logging.getLogger("bot.store")


def is_outage(exc: BaseException) -> bool:
    """True for database errors that pass by themselves (locked, busy, full disk, I/O error,
    read-only file), as opposed to a bug (a bad statement, a constraint)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return not any(bug in text for bug in ("syntax error", "no such table", "no such column",
                                           "has no column", "no such savepoint"))


class StoreHealth:
    """Tracks outages of one database file; see the module docstring."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.down_since: float | None = None
        self.failures = 0
        self.outages = 0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException) -> None:
        """A statement failed with an outage error (see :func:`is_outage`)."""
        with self._lock:
            self.failures += 1
            if self.down_since is not None:
                return
            self.down_since = time.monotonic()
            self.outages += 1
        log.error("database %s unavailable (%s: %s); retrying quietly until it is back",
                  self.path, type(exc).__name__, exc)

    def ok(self) -> None:
        """A write succeeded."""
        if self.down_since is None:
            return
        with self._lock:
            since, self.down_since = self.down_since, None
            failures, self.failures = self.failures, 0
        if since is not None:
            log.warning("database %s available again after %.0f s (%d failed attempts)",
                        self.path, time.monotonic() - since, failures)
