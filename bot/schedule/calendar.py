"""When things are due: working days, tip slots and quarters in Dutch local time (pure functions).

All returned moments are timezone-aware (Europe/Amsterdam). Functions accept aware datetimes in
any zone; a naive datetime is taken to be Amsterdam local time.

Working days are Monday to Friday minus the Dutch public holidays known to the ``holidays``
package (Nieuwjaarsdag, Goede Vrijdag, Pasen, Koningsdag, Hemelvaart, Pinksteren, Kerst, and
Bevrijdingsdag in the years it is a day off).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from datetime import time as dt_time  # "time" is also a field of TeamSchedule

import holidays

from bot.periods import AMSTERDAM, month_of, quarter_of

__all__ = [
    "AMSTERDAM",
    "DEFAULT_TIME",
    "MAX_DAY",
    "TeamSchedule",
    "WORK_END",
    "cadence_includes",
    "WORK_START",
    "is_holiday",
    "is_working_day",
    "is_working_time",
    "month_period",
    "next_working_day",
    "next_working_time",
    "nth_working_day",
    "parse_hhmm",
    "quarter_of",
    "quarter_period",
    "quarter_slot",
    "quarter_start",
    "tip_slot",
    "working_days",
]

log = logging.getLogger(__name__)

WORK_START = time(9, 0)
WORK_END = time(17, 0)
DEFAULT_TIME = "09:00"
#: Highest "Nth working day" a team may choose. Months have 17 (April 2028) to 23 working days; an
#: N that a month does not reach falls back to that month's last working day.
MAX_DAY = 20
#: A team may pick a delivery time in this range (no messages at night).
EARLIEST_TIME = time(7, 0)
LATEST_TIME = time(21, 0)


def cadence_includes(cadence: str | None, quarter: int) -> bool:
    """Whether a team whose rounds come at ``cadence`` (``teams.reflection_cadence``: quarter,
    half, year; anything else means paused) gets a new round's invitation in ``quarter``."""
    key = cadence or "quarter"
    return (key == "quarter" or (key == "half" and quarter in (1, 3))
            or (key == "year" and quarter == 1))


def parse_hhmm(value: str) -> time:
    """``"14:30"`` -> ``time(14, 30)``; ValueError for anything else."""
    text = value.strip()
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[1]) != 2:
        raise ValueError(f"tijd {value!r} is geen UU:MM (bijvoorbeeld 09:00)")
    hour, minute = int(parts[0]), int(parts[1])
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"tijd {value!r} bestaat niet")
    return time(hour, minute)


@dataclass(frozen=True, slots=True)
class TeamSchedule:
    """A team's override of the monthly tip slot (``teams.tip_schedule`` JSON).

    ``off``: no monthly tips. ``day``: the Nth working day of the month (None = the first).
    ``time``: local delivery time ``HH:MM``.
    """

    off: bool = False
    day: int | None = None
    time: str = DEFAULT_TIME

    def validate(self) -> TeamSchedule:
        """Raise ValueError (Dutch message) when a field is out of range; returns self."""
        if self.day is not None and (
            isinstance(self.day, bool) or not isinstance(self.day, int) or not 1 <= self.day <= MAX_DAY
        ):
            raise ValueError(f"dag moet een getal van 1 tot en met {MAX_DAY} zijn (de N-de werkdag)")
        at = parse_hhmm(self.time)
        if not EARLIEST_TIME <= at <= LATEST_TIME:
            raise ValueError(
                f"kies een tijd tussen {EARLIEST_TIME:%H:%M} en {LATEST_TIME:%H:%M}"
            )
        return self

    @property
    def at(self) -> dt_time:
        return parse_hhmm(self.time)

    @property
    def is_default(self) -> bool:
        return self == TeamSchedule()

    def to_json(self) -> str | None:
        """The column value: None for the default schedule."""
        if self.is_default:
            return None
        data = asdict(self)
        if not self.off:
            data.pop("off")
        if self.day is None:
            data.pop("day")
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> TeamSchedule:
        """Parse the column leniently: a bad field falls back to its default (and is logged)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("ignoring unreadable tip_schedule %r", text)
            return cls()
        if not isinstance(data, dict):
            log.warning("ignoring tip_schedule that is not an object: %r", text)
            return cls()
        off = bool(data.get("off", False))
        day = data.get("day")
        if day is not None and (
            isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= MAX_DAY
        ):
            log.warning("ignoring tip_schedule day %r", day)
            day = None
        at = data.get("time") or DEFAULT_TIME
        try:
            parse_hhmm(str(at))
        except ValueError:
            log.warning("ignoring tip_schedule time %r", at)
            at = DEFAULT_TIME
        return cls(off=off, day=day, time=str(at))

    def describe(self) -> str:
        """Dutch one-liner for the CLI, e.g. ``3e werkdag om 14:30``."""
        if self.off:
            return "uit"
        which = "1e werkdag" if self.day is None else f"{self.day}e werkdag"
        return f"{which} om {self.time}"


@functools.lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NL", years=year).keys())


def is_holiday(day: date) -> bool:
    return day in _holidays(day.year)


def is_working_day(day: date) -> bool:
    """Monday-Friday and not a Dutch public holiday."""
    return day.weekday() < 5 and not is_holiday(day)


@functools.lru_cache(maxsize=256)
def working_days(year: int, month: int) -> tuple[date, ...]:
    """All working days of a month, in order."""
    day = date(year, month, 1)
    out = []
    while day.month == month:
        if is_working_day(day):
            out.append(day)
        day += timedelta(days=1)
    return tuple(out)


def nth_working_day(year: int, month: int, n: int = 1) -> date:
    """The Nth working day of a month (the last one when the month has fewer)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    days = working_days(year, month)
    return days[min(n, len(days)) - 1]


def _local(dt: datetime) -> datetime:
    return dt.astimezone(AMSTERDAM) if dt.tzinfo else dt.replace(tzinfo=AMSTERDAM)


def _at(day: date, at: time) -> datetime:
    # zoneinfo picks the right UTC offset for that date (CET +01:00 / CEST +02:00)
    return datetime.combine(day, at, tzinfo=AMSTERDAM)


def tip_slot(year: int, month: int, schedule: TeamSchedule | None = None) -> datetime | None:
    """When the monthly tip goes out for a team; None when the team switched tips off.

    Default: the first working day at 09:00 Amsterdam time. With ``schedule.day`` = N: the Nth
    working day; with ``schedule.time``: that local time.
    """
    schedule = schedule or TeamSchedule()
    if schedule.off:
        return None
    return _at(nth_working_day(year, month, schedule.day or 1), schedule.at)


def quarter_slot(year: int, quarter: int, schedule: TeamSchedule | None = None) -> datetime:
    """The quarterly reflection invite: the first working day of the quarter that is not the day
    of that month's tip, at the team's tip time.

    The invite and the monthly tip never arrive together: with the default schedule (the tip on
    the first working day) the invite goes out on the second working day. With tips off, or on
    a later day, it goes out on the first working day.
    """
    if not 1 <= quarter <= 4:
        raise ValueError("quarter must be 1..4")
    schedule = schedule or TeamSchedule()
    month = 3 * quarter - 2
    tip = tip_slot(year, month, schedule)
    day = next(d for d in working_days(year, month) if tip is None or d != tip.date())
    return _at(day, schedule.at)


def next_working_day(day: date) -> date:
    """The first working day after ``day``."""
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def quarter_start(dt: datetime) -> datetime:
    """Midnight (Amsterdam) of the first day of the quarter ``dt`` falls in."""
    local = _local(dt)
    month = 3 * ((local.month - 1) // 3) + 1
    return datetime(local.year, month, 1, tzinfo=AMSTERDAM)


def is_working_time(dt: datetime) -> bool:
    """A working day, 09:00 <= local time < 17:00 Amsterdam."""
    local = _local(dt)
    return is_working_day(local.date()) and WORK_START <= local.time() < WORK_END


def next_working_time(dt: datetime) -> datetime:
    """``dt`` itself when it is working time, else the start of the next working period."""
    local = _local(dt)
    if is_working_time(local):
        return local
    day = local.date()
    if not (is_working_day(day) and local.time() < WORK_START):
        day += timedelta(days=1)
        while not is_working_day(day):
            day += timedelta(days=1)
    return _at(day, WORK_START)


def month_period(dt: datetime) -> str:
    """``2026-07``: the month of ``dt`` in Dutch local time."""
    return month_of(dt)


def quarter_period(year: int, quarter: int) -> str:
    return f"{year}-Q{quarter}"
