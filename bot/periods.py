"""Period labels used across the store, reports and schedule."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
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


def next_quarter(period: str) -> str:
    """``2026-Q4`` -> ``2027-Q1``."""
    year, _, quarter = period.partition("-Q")
    y, q = int(year), int(quarter)
    return f"{y + 1}-Q1" if q == 4 else f"{y}-Q{q + 1}"


def quarter_last_day(period: str) -> date | None:
    """The last day of a quarter label (``2026-Q3`` -> 30 September 2026); None for others."""
    year, sep, quarter = period.partition("-Q")
    if not (sep and year.isdigit() and quarter in ("1", "2", "3", "4")):
        return None
    y, q = int(year), int(quarter)
    return date(y + 1, 1, 1) - timedelta(days=1) if q == 4 else date(y, 3 * q + 1, 1) - timedelta(days=1)


def open_period(moment: datetime, closed: Collection[str]) -> str:
    """The period a new answer counts for: the quarter of ``moment``, or the first quarter after
    it that was not closed early (a team's round can be published before its quarter ends; what
    is answered after that counts for the next one)."""
    period = quarter_of(moment)
    while period in closed:
        period = next_quarter(period)
    return period
