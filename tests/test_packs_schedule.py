"""The tip series of a content pack (``tips-2017``) and the team's choice in the schedule.

A real SQLite file and the real content; the planner is called with fixed clocks (no waiting).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.content import Pack, get_content
from bot.packs import choose_packs
from bot.schedule.calendar import AMSTERDAM, quarter_slot
from bot.schedule.planner import plan_due, set_team_schedule
from bot.schedule.series import KIND_SERIES, series_tip
from bot.store import Conversation, Store

CONTENT = get_content()
TIPS = CONTENT.pack("tips-2017")
assert isinstance(TIPS, Pack)
# July 2026: the first working day is Wednesday 1 July, 09:00 CEST = 07:00 UTC; a week later,
# Wednesday 8 July, is a working day too
JULY_SLOT = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
JULY_SERIES = JULY_SLOT + timedelta(days=7)
AUGUST_SLOT = datetime(2026, 8, 3, 7, 0, tzinfo=UTC)  # Monday 3 August


def member(store: Store, team: int, uid: str, role: str) -> int:
    mid = store.get_or_create_member("telegram", uid)
    store.join_team(mid, team, role)
    store.save_conversation(Conversation(None, "telegram", f"chat-{uid}", mid, "menu.main"))
    return mid


def rows(store: Store, kind: str) -> list[dict[str, Any]]:
    return store._all("SELECT * FROM outbox WHERE kind = ? ORDER BY id", (kind,))


def team_with_series(store: Store, *, calendar: bool = True) -> int:
    team = store.create_team("Gemeente Oost")
    for uid, role in (("pro", "professional"), ("boss", "manager"), ("pol", "beleid"),
                      ("wh", "bestuurder")):
        member(store, team, uid, role)
    choose_packs(store, CONTENT, team, on=["tips-2017"], off=[] if calendar else ["kalender"])
    with store.transaction():  # switched on in June
        store.conn.execute("UPDATE team_pack_choices SET chosen_at = ? WHERE pack_id = ?",
                           ("2026-06-15T10:00:00+00:00", "tips-2017"))
    store.link_chat("telegram", "-100", team, None)
    return team


def test_series_goes_a_week_after_the_calendar_to_its_audience(store: Store) -> None:
    team_with_series(store)
    plan_due(store, JULY_SLOT, content=CONTENT)
    assert rows(store, KIND_SERIES) == []  # the calendar's day: its tip only
    # July's calendar tip speaks to policy, the board and team leaders (not professionals):
    # 3 members + the group
    assert sorted(r["chat_id"] for r in rows(store, "tip")) == [
        "-100", "chat-boss", "chat-pol", "chat-wh"]
    plan_due(store, JULY_SERIES - timedelta(seconds=1), content=CONTENT)
    assert rows(store, KIND_SERIES) == []
    result = plan_due(store, JULY_SERIES, content=CONTENT)
    assert result.counts[KIND_SERIES] == 3 and result.counts["tip"] == 0
    got = rows(store, KIND_SERIES)
    # for policy and the board (the tips address municipalities), and the team's group chat
    assert sorted(r["chat_id"] for r in got) == ["-100", "chat-pol", "chat-wh"]
    assert {r["period"] for r in got} == {"tips-2017:2026-07"}
    assert all(r["not_before"] == JULY_SERIES.isoformat(timespec="seconds") for r in got)
    private = json.loads(next(r for r in got if r["chat_id"] == "chat-pol")["payload"])
    first = TIPS.series()[0]
    assert private[0]["text"].startswith(f"💡 {TIPS.title}, tip 1: {first.title}")
    assert f"„{first.quote.strip()}” — {first.quote_role}" in private[1]["text"]
    assert TIPS.source.attribution() in private[1]["text"]
    assert private[1]["choices"] == [["Beantwoord de vraag", f"go:pack:tips-2017:{first.id}"]]
    group = json.loads(next(r for r in got if r["chat_id"] == "-100")["payload"])
    assert f"Om samen over te praten: {first.question}" in group[1]["text"]
    assert "choices" not in group[1] or not group[1]["choices"]
    # exactly once: again, and from a second process
    assert plan_due(store, JULY_SERIES + timedelta(hours=1), content=CONTENT).total == 0
    other = Store(store.path)
    try:
        assert plan_due(other, JULY_SERIES, content=CONTENT).total == 0
    finally:
        other.close()
    # August brings the second tip
    plan_due(store, AUGUST_SLOT + timedelta(days=7), content=CONTENT)
    august = [r for r in rows(store, KIND_SERIES) if r["period"] == "tips-2017:2026-08"]
    assert len(august) == 3
    assert TIPS.series()[1].title in json.loads(august[0]["payload"])[0]["text"]


def test_series_instead_of_the_calendar(store: Store) -> None:
    team_with_series(store, calendar=False)
    result = plan_due(store, JULY_SLOT, content=CONTENT)
    assert rows(store, "tip") == []  # the calendar is off for this team
    assert result.counts[KIND_SERIES] == 3  # at the team's tip slot itself


def test_series_follows_the_team_schedule(store: Store) -> None:
    team = team_with_series(store, calendar=False)
    set_team_schedule(store, team, off=True)
    for day in range(0, 10):
        plan_due(store, JULY_SLOT + timedelta(days=day), content=CONTENT)
    assert rows(store, KIND_SERIES) == [] and rows(store, "tip") == []


def test_the_order_of_a_series(store: Store) -> None:
    from bot.schedule.calendar import TeamSchedule

    schedule = TeamSchedule()
    started = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)  # after June's slot: July is the first
    assert series_tip(TIPS, started, 2026, 6, schedule, after_calendar=False) is None
    numbers = [series_tip(TIPS, started, 2026 + (m > 12), (m - 1) % 12 + 1, schedule,
                          after_calendar=False).number  # type: ignore[union-attr]
               for m in range(7, 7 + 10)]
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 8, 1, 2]  # and over again
    early = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # before July's slot: July is the first
    assert series_tip(TIPS, early, 2026, 7, schedule, after_calendar=False).number == 1  # type: ignore[union-attr]
    assert started.astimezone(AMSTERDAM).month == 6


def test_a_team_without_the_praatplaat_gets_no_quarterly_invite(store: Store) -> None:
    team = store.create_team("Beleidsteam")
    member(store, team, "pol", "beleid")
    other = store.create_team("Wijkteam")
    member(store, other, "pro", "professional")
    choose_packs(store, CONTENT, team, on=["sturing"], off=["praatplaat"])
    plan_due(store, quarter_slot(2026, 3), content=CONTENT)  # the day after the tip's
    invites = rows(store, "invite")
    assert [r["chat_id"] for r in invites] == ["chat-pro"]


def test_schedule_overview_and_preview_show_the_series(store: Store) -> None:
    from bot.schedule.planner import schedule_overview
    from bot.schedule.series import preview_series_tip

    team_with_series(store)
    text = schedule_overview(store, JULY_SLOT - timedelta(days=1), months=2, content=CONTENT)
    first, second = TIPS.series()[:2]
    assert f"reeks      wo 8 jul 2026 09:00  tips-2017 1: {first.title}" in text
    assert f"tips-2017 2: {second.title}" in text
    preview = preview_series_tip(CONTENT, "tips-2017", 2)
    assert second.question in preview and "[Beantwoord de vraag]" in preview
    assert f"Om samen over te praten: {second.question}" in preview
