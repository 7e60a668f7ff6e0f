"""The store's timestamps: ISO 8601 UTC strings to the second (sortable, readable)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["utcnow"]

_NOW: tuple[int, str] = (-1, "")


def utcnow() -> str:
    """Now, as the store writes timestamps."""
    global _NOW
    second = int(time.time())
    cached = _NOW
    if cached[0] != second:  # formatting costs more than a turn's SQL; once per second
        cached = _NOW = (second, datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds"))
    return cached[1]
