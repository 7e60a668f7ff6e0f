"""Tip series of content packs (``tips:`` of a pack, e.g. ``tips-2017``): one tip a month.

A team that switches a pack with tips on gets one of its tips a month, in the pack's order,
starting with the first month whose slot comes after the moment it was switched on, and
starting over after the last tip. The series is an alternative to the Verjaardagskalender (with
the calendar off it goes out at the team's tip slot) or an extra (with the calendar on, a week
later, on a working day at the same time). A team whose tips are off (``teamspiegel team
schedule TEAM --off``) gets no series tips either.

Rows go to the outbox like the calendar's (kind ``series``, period ``<pack>:<YYYY-MM>``, so the
dedup key makes them exactly once): privately to members whose role is in the tip's audience,
with a button that asks the tip's question, and to the team's linked group chats.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.content import ROLES, Pack, SeriesTip
from bot.engine.flows import default_dialogues
from bot.engine.messages import Choice, Link, Reply, reply_to_payload
from bot.schedule.calendar import (
    AMSTERDAM,
    TeamSchedule,
    is_working_time,
    next_working_time,
    tip_slot,
)

if TYPE_CHECKING:
    from bot.content import Content
    from bot.store import Store

__all__ = ["KIND_SERIES", "SERIES_GAP", "plan_series", "preview_series_tip", "series_replies",
           "series_tip"]

KIND_SERIES = "series"
#: with the calendar on too, a series tip goes this long after the calendar tip
SERIES_GAP = timedelta(days=7)
#: how long after its slot a missed series tip is still sent (as the calendar's tip)
CATCH_UP = timedelta(days=5)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def series_slot(year: int, month: int, schedule: TeamSchedule, *, after_calendar: bool
                ) -> datetime | None:
    """When a series tip goes out: the team's tip slot, or a week later on a working day when
    the calendar tip also goes out that month. None when the team's tips are off."""
    slot = tip_slot(year, month, schedule)
    if slot is None or not after_calendar:
        return slot
    later = slot + SERIES_GAP
    return later if is_working_time(later) else next_working_time(later)


def _months_from(start: tuple[int, int], year: int, month: int) -> int:
    return (year - start[0]) * 12 + (month - start[1])


def series_tip(pack: Pack, started: datetime, year: int, month: int, schedule: TeamSchedule,
               *, after_calendar: bool) -> SeriesTip | None:
    """The tip of ``pack`` for (year, month) of a team that switched it on at ``started``:
    the first tip in the first month whose slot lies after ``started``, then one a month in
    order, over again after the last. None before that first month."""
    tips = pack.series()
    if not tips:
        return None
    local = started.astimezone(AMSTERDAM)
    first = (local.year, local.month)
    slot = series_slot(first[0], first[1], schedule, after_calendar=after_calendar)
    if slot is None or slot < started:
        first = (first[0], first[1] + 1) if first[1] < 12 else (first[0] + 1, 1)
    n = _months_from(first, year, month)
    return None if n < 0 else tips[n % len(tips)]


def series_replies(pack: Pack, tip: SeriesTip, *, group: bool,
                   private_link: str | None = None) -> list[Reply]:
    """One series tip as chat messages: title and text, then the quote with its speaker, the
    source and the tip's question (ours: no quotation marks). Privately with a button that asks
    the question; in a group chat with a link to the private chat."""
    from bot.engine.packs import go_value

    texts = default_dialogues()
    first = Reply(text="\n\n".join([
        texts.text("series_tip_head", pack=pack.title, n=tip.number, title=tip.title),
        tip.text.strip()]))
    quote = f"„{tip.quote.strip()}” — {tip.quote_role.strip()}"
    source = pack.source.attribution()
    if group:
        links = [Link(texts.text("tip_reply_privately"), private_link)] if private_link else []
        return [first, Reply(text="\n\n".join([
            quote, source, texts.text("tip_talk_together", question=tip.question)]), links=links)]
    second = Reply(text="\n\n".join([quote, source,
                                      texts.text("tip_think_about", question=tip.question)]),
                   choices=[Choice(texts.text("series_tip_answer"), go_value(pack.id, tip.id))],
                   expects="choice")
    return [first, second]


def _payload(replies: list[Reply]) -> str:
    return json.dumps([reply_to_payload(r) for r in replies], ensure_ascii=False,
                      separators=(",", ":"))


def plan_series(
    store: Store,
    now: datetime,
    teams: list[dict[str, Any]],
    content: Content,
    links: Callable[[str, str], str | None] | None,
    plats: list[str] | None,
) -> tuple[int, int]:
    """Plan the due series tips of every team (private rows, group rows). Exactly once: the
    outbox's dedup key ``{platform}:{chat}:series:{pack}:{YYYY-MM}``."""
    from bot.packs import PackLibrary

    lib = PackLibrary(store, content)
    local = now.astimezone(AMSTERDAM)
    months = [(local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12),
              (local.year, local.month)]
    private = groups = 0
    for team in teams:
        team_id = int(team["id"])
        if team.get("is_demo"):
            continue
        series = [p for p in lib.enabled(team_id) if isinstance(p, Pack) and p.tips]
        if not series:
            continue
        schedule = TeamSchedule.from_json(team.get("tip_schedule"))
        calendar_on = lib.is_enabled(team_id, "kalender")
        for pack in series:
            chosen = store.pack_chosen_at(team_id, pack.id)
            if chosen is None:
                continue
            started = datetime.fromisoformat(chosen)
            for year, month in months:
                slot = series_slot(year, month, schedule, after_calendar=calendar_on)
                if slot is None or not slot <= now < slot + CATCH_UP:
                    continue
                tip = series_tip(pack, started, year, month, schedule,
                                 after_calendar=calendar_on)
                if tip is None:
                    continue
                period = f"{pack.id}:{year}-{month:02d}"
                not_before = slot if now.astimezone(AMSTERDAM).date() == slot.date() else (
                    next_working_time(now))
                roles = [r for r in ROLES if tip.for_role(r)]
                private += store.enqueue_member_rows(
                    team_ids=[team_id], kind=KIND_SERIES, period=period,
                    payload=_payload(series_replies(pack, tip, group=False)),
                    not_before=_iso(not_before), now=_iso(now), platforms=plats, roles=roles,
                )
                for platform in store.team_chat_platforms(team_id, plats):
                    link = links(platform, period) if links else None
                    groups += store.enqueue_group_rows(
                        team_id=team_id, platform=platform, kind=KIND_SERIES, period=period,
                        payload=_payload(series_replies(pack, tip, group=True,
                                                        private_link=link)),
                        not_before=_iso(not_before), now=_iso(now),
                    )
    return private, groups


def preview_series_tip(content: Content, pack_id: str, number: int) -> str:
    """``teamspiegel tips preview --pack ID --number N``: a series tip as members and a team
    chat see it. KeyError (Dutch) for an unknown pack or number."""
    from bot.schedule.tips import _render

    try:
        pack = content.pack(pack_id)
    except KeyError:
        raise KeyError(f"Pakket {pack_id!r} ken ik niet.") from None
    tips = pack.series() if isinstance(pack, Pack) else []
    tip = next((t for t in tips if t.number == number), None)
    if tip is None or not isinstance(pack, Pack):
        raise KeyError(f"Pakket {pack_id!r} heeft geen tip {number} "
                       f"(wel: {', '.join(str(t.number) for t in tips) or 'geen tips'}).")
    private = series_replies(pack, tip, group=False)
    group = series_replies(pack, tip, group=True, private_link="https://t.me/<bot>")
    return "\n".join([f"== Privéchat ({pack.title}, tip {tip.number}) ==", _render(private),
                      "", "== Teamgroep ==", _render(group)])
