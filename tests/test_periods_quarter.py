"""quarter_of remembers the bounds of the last quarter it was asked about (issue 15: a turn
asks about the same quarter several times); it must agree with the plain rule everywhere,
around every quarter's first midnight in Dutch time, in any time zone and in any order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from bot import periods
from bot.periods import AMSTERDAM, quarter_of


def plain(moment: datetime) -> str:
    local = moment.astimezone(AMSTERDAM) if moment.tzinfo else moment
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def test_quarter_of_agrees_with_the_plain_rule() -> None:
    zones = [UTC, AMSTERDAM, timezone(timedelta(hours=5)), timezone(timedelta(hours=-11))]
    moments: list[datetime] = []
    for year in (2025, 2026, 2027):
        for month in (1, 3, 4, 6, 7, 9, 10, 12):
            edge = datetime(year, month, 1, tzinfo=AMSTERDAM)
            moments += [edge + timedelta(seconds=s) for s in (-3601, -1, 0, 1, 3600)]
    rng = random.Random(15)
    moments += [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(4 * 10**7))
                for _ in range(2000)]
    moments += [m.astimezone(rng.choice(zones)) for m in list(moments)]
    moments += [m.replace(tzinfo=None) for m in moments[:200]]  # naive: taken as it reads
    for order in (moments, sorted(moments, key=lambda m: m.replace(tzinfo=None)),
                  rng.sample(moments, len(moments))):
        for m in order:
            assert quarter_of(m) == plain(m), m


def test_the_remembered_quarter_is_used_and_replaced() -> None:
    inside = datetime(2026, 5, 14, 12, tzinfo=UTC)
    assert quarter_of(inside) == "2026-Q2"
    assert periods._last_quarter is not None and periods._last_quarter[2] == "2026-Q2"
    # the first moment of Q3 in Dutch time is still June 30th in UTC
    q3 = datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert quarter_of(q3 - timedelta(microseconds=1)) == "2026-Q2"
    assert quarter_of(q3) == "2026-Q3" and periods._last_quarter[2] == "2026-Q3"
