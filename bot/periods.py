"""Period labels used across the store, reports and schedule."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


#: the quarter of the last aware moment asked for: its bounds in UTC and its label (a turn
#: asks about the same quarter over and over; the time zone conversion is the cost)
_last_quarter: tuple[datetime, datetime, str] | None = None


def quarter_of(moment: datetime) -> str:
    """``2026-Q3`` for a moment, counted in Dutch local time."""
    global _last_quarter
    if not moment.tzinfo:
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    last = _last_quarter
    if last is not None and last[0] <= moment < last[1]:
        return last[2]
    local = moment.astimezone(AMSTERDAM)
    first = (local.month - 1) // 3 * 3 + 1
    label = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    # local midnight of the quarter's first day (never inside a DST change) to the next one's
    start = datetime(local.year, first, 1, tzinfo=AMSTERDAM).astimezone(UTC)
    end = (datetime(local.year + 1, 1, 1, tzinfo=AMSTERDAM) if first == 10
           else datetime(local.year, first + 3, 1, tzinfo=AMSTERDAM)).astimezone(UTC)
    _last_quarter = (start, end, label)
    return label


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
