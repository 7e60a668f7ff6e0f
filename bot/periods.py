"""Period labels used across the store, reports and schedule."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def quarter_of(moment: datetime) -> str:
    """``2026-Q3`` for a moment, counted in Dutch local time."""
    local = moment.astimezone(AMSTERDAM) if moment.tzinfo else moment
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def month_of(moment: datetime) -> str:
    """``2026-07`` for a moment, counted in Dutch local time."""
    local = moment.astimezone(AMSTERDAM) if moment.tzinfo else moment
    return f"{local.year}-{local.month:02d}"
