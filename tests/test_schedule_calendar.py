"""Calendar: tip slots on Dutch working days, DST, per-team overrides, working time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from bot.schedule.calendar import (
    AMSTERDAM,
    TeamSchedule,
    is_working_day,
    is_working_time,
    month_period,
    next_working_time,
    nth_working_day,
    quarter_of,
    quarter_slot,
    quarter_start,
    tip_slot,
    working_days,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        # Nieuwjaarsdag on Thursday 1 Jan 2026 -> Friday 2 Jan
        (2026, 1, date(2026, 1, 2)),
        # 1 Jan 2027 is a Friday holiday -> Monday 4 Jan (weekend in between)
        (2027, 1, date(2027, 1, 4)),
        # 1 Jan 2028 is a Saturday -> Monday 3 Jan
        (2028, 1, date(2028, 1, 3)),
        # months starting on a weekend
        (2026, 2, date(2026, 2, 2)),   # Sun 1 Feb
        (2026, 8, date(2026, 8, 3)),   # Sat 1 Aug
        (2026, 11, date(2026, 11, 2)),  # Sun 1 Nov
        (2027, 5, date(2027, 5, 3)),   # Sat 1 May
        # ordinary months
        (2026, 7, date(2026, 7, 1)),
        (2026, 4, date(2026, 4, 1)),
        # Easter Monday 17 Apr 2028 is late, 1 Apr 2028 is Saturday -> Monday 3 Apr
        (2028, 4, date(2028, 4, 3)),
    ],
)
def test_default_slot_first_working_day_at_nine(year: int, month: int, expected: date) -> None:
    slot = tip_slot(year, month, None)
    assert slot is not None
    assert slot.tzinfo is not None
    local_slot = slot.astimezone(AMSTERDAM)
    assert local_slot.date() == expected
    assert (local_slot.hour, local_slot.minute) == (9, 0)


def test_first_working_day_that_is_a_holiday() -> None:
    # 1 Jan 2029 is a Monday (Nieuwjaarsdag) -> Tuesday 2 Jan
    assert nth_working_day(2029, 1) == date(2029, 1, 2)
    # 1 April 2024 was Easter Monday -> Tuesday 2 April
    slot = tip_slot(2024, 4)
    assert slot is not None and slot.astimezone(AMSTERDAM).date() == date(2024, 4, 2)
    # 1 June 2028 is Thursday, a working day; Pinkstermaandag (5 June) does not matter
    assert nth_working_day(2028, 6) == date(2028, 6, 1)
    assert nth_working_day(2028, 6, 3) == date(2028, 6, 6)


def test_holidays_are_not_working_days() -> None:
    for day in [
        date(2026, 1, 1),   # Nieuwjaarsdag
        date(2026, 4, 6),   # Tweede Paasdag
        date(2026, 4, 27),  # Koningsdag (Monday)
        date(2026, 5, 14),  # Hemelvaart
        date(2026, 5, 25),  # Tweede Pinksterdag
        date(2026, 12, 25), date(2026, 12, 26),
        date(2027, 4, 27),  # Koningsdag (Tuesday)
        date(2028, 4, 27),  # Koningsdag (Thursday)
    ]:
        assert not is_working_day(day), day
    assert is_working_day(date(2026, 4, 28))
    assert not is_working_day(date(2026, 7, 4))  # Saturday


def test_koningsdag_shifts_nth_working_day() -> None:
    # April 2027: 27th (Tuesday) is Koningsdag, so the 19th working day is the 28th
    days = working_days(2027, 4)
    assert date(2027, 4, 27) not in days
    assert tip_slot(2027, 4, TeamSchedule(day=18)).astimezone(AMSTERDAM).date() == date(2027, 4, 26)  # type: ignore[union-attr]
    assert tip_slot(2027, 4, TeamSchedule(day=19)).astimezone(AMSTERDAM).date() == date(2027, 4, 28)  # type: ignore[union-attr]
    # April 2028 has Good Friday, Easter Monday and Koningsdag (Thursday 27th): 17 working days;
    # day 17 is Friday 28 April, and a higher day falls back to that last working day
    assert len(working_days(2028, 4)) == 17
    assert nth_working_day(2028, 4, 16) == date(2028, 4, 26)
    assert nth_working_day(2028, 4, 17) == date(2028, 4, 28)
    assert nth_working_day(2028, 4, 20) == date(2028, 4, 28)


def test_koningsdag_on_sunday_moves_to_saturday() -> None:
    # 27 April 2025 was a Sunday: Koningsdag was Saturday 26 April (no working day lost)
    assert not is_working_day(date(2025, 4, 26))
    assert is_working_day(date(2025, 4, 25))
    assert is_working_day(date(2025, 4, 28))


def test_dst_winter_and_summer_offsets() -> None:
    # winter (CET, +01:00): 09:00 local = 08:00 UTC
    assert tip_slot(2026, 1) == utc(2026, 1, 2, 8, 0)
    assert tip_slot(2026, 3) == utc(2026, 3, 2, 8, 0)   # Mon 2 March, before the change (29 Mar)
    # summer (CEST, +02:00): 07:00 UTC
    assert tip_slot(2026, 4) == utc(2026, 4, 1, 7, 0)
    assert tip_slot(2026, 10) == utc(2026, 10, 1, 7, 0)  # Thu 1 Oct, before 25 Oct change
    assert tip_slot(2026, 11) == utc(2026, 11, 2, 8, 0)
    # a slot right after the spring change: 2027-03-29 is Easter Monday; day 20 of March 2027
    # lies after the change on Sunday 28 March -> summer time
    slot = tip_slot(2027, 3, TeamSchedule(day=20))
    assert slot is not None
    assert slot.astimezone(AMSTERDAM).date() == date(2027, 3, 30)
    assert slot == utc(2027, 3, 30, 7, 0)
    # and a slot in late October after the autumn change (25 Oct 2026) -> winter time
    slot = tip_slot(2026, 10, TeamSchedule(day=20))
    assert slot == utc(2026, 10, 28, 8, 0)


def test_per_team_override() -> None:
    slot = tip_slot(2026, 7, TeamSchedule(day=3, time="14:30"))
    assert slot == local(2026, 7, 3, 14, 30)
    assert slot == utc(2026, 7, 3, 12, 30)
    # day 3 of January 2026: Fri 2, Mon 5, Tue 6
    assert tip_slot(2026, 1, TeamSchedule(day=3, time="14:30")) == utc(2026, 1, 6, 13, 30)
    assert tip_slot(2026, 7, TeamSchedule(off=True)) is None
    # the quarterly invite ignores off/day, keeps the time
    assert quarter_slot(2026, 3, TeamSchedule(off=True, day=3, time="14:30")) == utc(
        2026, 7, 1, 12, 30
    )


def test_schedule_json_roundtrip_and_validation() -> None:
    assert TeamSchedule().to_json() is None
    s = TeamSchedule(day=3, time="14:30")
    assert TeamSchedule.from_json(s.to_json()) == s
    assert TeamSchedule.from_json('{"off": true}') == TeamSchedule(off=True)
    # lenient parsing of the stored column
    assert TeamSchedule.from_json("not json") == TeamSchedule()
    assert TeamSchedule.from_json('{"day": 99, "time": "25:00"}') == TeamSchedule()
    for bad in (TeamSchedule(day=0), TeamSchedule(day=21), TeamSchedule(time="9"),
                TeamSchedule(time="03:00"), TeamSchedule(time="23:30")):
        with pytest.raises(ValueError):
            bad.validate()
    assert TeamSchedule(day=20, time="07:00").validate()


def test_working_time() -> None:
    assert is_working_time(local(2026, 7, 1, 9, 0))
    assert is_working_time(local(2026, 7, 1, 16, 59))
    assert not is_working_time(local(2026, 7, 1, 8, 59))
    assert not is_working_time(local(2026, 7, 1, 17, 0))
    assert not is_working_time(local(2026, 7, 4, 12, 0))  # Saturday
    assert not is_working_time(local(2026, 4, 27, 12, 0))  # Koningsdag
    # UTC input: 07:30 UTC in summer = 09:30 local
    assert is_working_time(utc(2026, 7, 1, 7, 30))
    assert not is_working_time(utc(2026, 1, 5, 7, 30))  # 08:30 local in winter


def test_next_working_time() -> None:
    assert next_working_time(local(2026, 7, 1, 10, 0)) == local(2026, 7, 1, 10, 0)
    assert next_working_time(local(2026, 7, 1, 7, 0)) == local(2026, 7, 1, 9, 0)
    assert next_working_time(local(2026, 7, 1, 17, 0)) == local(2026, 7, 2, 9, 0)
    assert next_working_time(local(2026, 7, 3, 18, 0)) == local(2026, 7, 6, 9, 0)  # Fri -> Mon
    assert next_working_time(local(2026, 4, 24, 18, 0)) == local(2026, 4, 28, 9, 0)  # Koningsdag
    assert next_working_time(local(2026, 12, 24, 17, 30)) == local(2026, 12, 28, 9, 0)
    # across the autumn DST change (Sun 25 Oct 2026): Saturday evening -> Monday 09:00 CET
    assert next_working_time(local(2026, 10, 24, 20, 0)) == utc(2026, 10, 26, 8, 0)


def test_periods() -> None:
    assert quarter_of(utc(2026, 7, 1, 7)) == "2026-Q3"
    # 31 Dec 23:30 UTC is already 1 Jan local
    assert quarter_of(utc(2026, 12, 31, 23, 30)) == "2027-Q1"
    assert month_period(utc(2026, 6, 30, 22, 30)) == "2026-07"
    assert quarter_start(utc(2026, 8, 15)) == local(2026, 7, 1)


@time_machine.travel(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), tick=False)
def test_time_travel_around_autumn_change() -> None:
    now = datetime.now(UTC)
    # 01:30 UTC on 25 Oct 2026 is 02:30 CET (after the change at 01:00 UTC), a Sunday
    assert now.astimezone(AMSTERDAM).utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    assert not is_working_time(now)
    assert next_working_time(now) == utc(2026, 10, 26, 8, 0)
    nxt = tip_slot(2026, 11)
    assert nxt is not None and nxt > now and nxt == utc(2026, 11, 2, 8, 0)


@time_machine.travel(datetime(2027, 3, 28, 0, 59, tzinfo=UTC), tick=False)
def test_time_travel_around_spring_change() -> None:
    now = datetime.now(UTC)
    assert now.astimezone(AMSTERDAM).utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    # Easter Monday 29 March 2027 -> next working time is Tue 30 March 09:00 CEST = 07:00 UTC
    assert next_working_time(now) == utc(2027, 3, 30, 7, 0)
    assert tip_slot(2027, 4) == utc(2027, 4, 1, 7, 0)
