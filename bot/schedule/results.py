"""Results back to the team: when a round is published, the team hears what it said.

For every team whose latest round was published in the past :data:`WINDOW`, the schedule's tick
plans (exactly once, by the outbox's dedup key ``{platform}:{chat}:results:{period}:team{id}``):

- one message per member, in their private chat: the team's mirror as *that member* may see it
  (every cell from at least ``k`` people besides them, the same rules as every view), the largest
  gaps, what the team does with it ("Wat we ermee doen") and the way back: ``/teamspiegel``;
- one message per linked team chat: the same summary, with every cell from at least ``k + 1``
  people, so that no member of the group can take their own answer out and read ``k - 1`` others;
- once a month, the owners of a team with open actions are asked for an update
  (:func:`plan_action_updates`).

Never an individual answer, never who took part. The messages go out at :data:`SEND_AT` on the
first working day after publication (a round closes at midnight; the monthly tip and the new
round's invitation go out in the morning: this comes after them, not in the same minute).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time, timedelta
from typing import Any

from bot.engine.messages import Reply, reply_to_payload
from bot.engine.team_actions import FEATURE, describe_action
from bot.reports.aggregate import MIN_K, period_label_nl
from bot.reports.mirror import build_mirror, mirror_lines

__all__ = ["KIND_ACTIONS", "KIND_RESULTS", "SEND_AT", "WINDOW", "plan_action_updates",
           "plan_results", "results_text", "update_replies"]

log = logging.getLogger(__name__)

KIND_RESULTS = "results"
KIND_ACTIONS = "actions"
#: rounds published this long ago are still announced (a bot that was down catches up)
WINDOW = timedelta(days=5)
SEND_AT = time(13, 0)


def _send_at(published: datetime) -> datetime:
    """:data:`SEND_AT` on the first working day at or after ``published`` (local time)."""
    from bot.schedule.calendar import AMSTERDAM, is_working_day

    local = published.astimezone(AMSTERDAM)
    day = local.date()
    if local.time() > SEND_AT:
        day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, SEND_AT, tzinfo=AMSTERDAM)


def results_text(name: str, report: Any, content: Any, store: Any, team_id: int, *,
                 group: bool = False) -> str | None:
    """The message about a team's latest published round; None when nothing is published."""
    from bot.reports.chat import action_lines

    mirror = build_mirror(report, content)
    if mirror is None:
        return None
    lines = [f"De teamspiegel van {name} over {period_label_nl(mirror.period)} staat klaar."]
    if mirror.participation:
        lines.append(f"Deelname: {mirror.participation}.")
    who = "elk lid van deze groep" if group else "jou"
    lines.append(f"Alleen groepscijfers van minstens {report.k if not group else report.k - 1} "
                 f"mensen naast {who}; nooit wie wat antwoordde.")
    lines += [""] + mirror_lines(mirror)
    lines += action_lines(store, team_id, content)
    lines += ["", "Alles zien, met de plaat en per vraag: /teamspiegel"]
    return "\n".join(lines)


def _payload(text: str) -> str:
    return json.dumps([reply_to_payload(Reply(text))], ensure_ascii=False,
                      separators=(",", ":"))


def plan_results(store: Any, now: datetime, *, content: Any, k: int = MIN_K,
                 platforms: list[str] | None = None) -> int:
    """Plan the results messages of rounds published in the past :data:`WINDOW`, and the
    owners' monthly update question. Returns the rows planned."""
    from bot.reports.service import team_report
    from bot.schedule.calendar import next_working_time
    from bot.schedule.planner import iso

    planned = 0
    now_s = iso(now)
    for snap in store.recent_snapshots(iso(now - WINDOW)):
        team_id, period = int(snap["team_id"]), str(snap["period"])
        team = store.get_team(team_id)
        if team is None:
            continue
        name = str(team["name"])
        # 13:00 on the first working day after publication; a late tick (the bot was down)
        # waits for working time, never a message at night
        not_before = iso(max(_send_at(datetime.fromisoformat(str(snap["published_at"]))),
                             next_working_time(now)))
        before = planned
        with store.transaction():
            members = [m for m in store.member_chats(team_id, now_s)
                       if platforms is None or m["platform"] in platforms]
            # one message per member *and team*: someone in two teams hears about both
            key_period = f"{period}:team{team_id}"
            keys = [f"{m['platform']}:{m['chat_id']}:{KIND_RESULTS}:{key_period}"
                    for m in members]
            done = store.outbox_by_keys(keys)
            for m, key in zip(members, keys, strict=True):
                if key in done:
                    continue
                report = team_report(store, team_id, k=k, viewer=int(m["member_id"]),
                                     last=2, now=now, content=content)
                text = results_text(name, report, content, store, team_id)
                if text is None:
                    continue
                planned += int(store.enqueue_row(
                    platform=m["platform"], chat_id=m["chat_id"], kind=KIND_RESULTS,
                    period=key_period, payload=_payload(text), not_before=not_before, now=now_s,
                    member_id=int(m["member_id"]), team_id=team_id))
            plats = store.team_chat_platforms(team_id, platforms)
            if plats:
                report = team_report(store, team_id, k=k + 1, last=2, now=now, content=content)
                text = results_text(name, report, content, store, team_id, group=True)
                for platform in plats if text else []:
                    planned += store.enqueue_group_rows(
                        team_id=team_id, platform=platform, kind=KIND_RESULTS, period=key_period,
                        payload=_payload(text or ""), not_before=not_before, now=now_s)
            if planned > before:
                store.audit("results_planned", team_id=team_id, detail=period)
    planned += plan_action_updates(store, now, content=content, platforms=platforms)
    if planned:
        log.info("planned %d results/actions message(s)", planned)
    return planned


def update_replies(team_name: str, rows: list[dict[str, Any]], content: Any) -> list[Any]:
    """The monthly question to an owner: are these actions still open?"""
    lines = [f"{FEATURE} van {team_name}: {len(rows)} "
             f"{'actie staat' if len(rows) == 1 else 'acties staan'} nog open."]
    lines += ["• " + describe_action(r, content) for r in rows[:5]]
    lines.append("Is er iets klaar of veranderd? Werk het bij met /watwedoen of op het "
                 "dashboard, dan ziet je team het ook.")
    return [Reply("\n".join(lines))]


def plan_action_updates(store: Any, now: datetime, *, content: Any,
                        platforms: list[str] | None = None) -> int:
    """Once a month (with the monthly tip's month as period), ask each owner of a team with
    open actions for an update, in their private chat. The outbox's dedup key makes it once."""
    from bot.engine.messages import reply_to_payload
    from bot.schedule.calendar import AMSTERDAM, is_working_time, next_working_time
    from bot.schedule.planner import iso

    local = now.astimezone(AMSTERDAM)
    if local.day < 3 or not is_working_time(now):
        return 0  # after the tip (first working day), in working hours
    period = f"{local.year}-{local.month:02d}"
    planned = 0
    with store.transaction():
        for team in store.schedule_teams():
            if team["is_demo"]:
                continue
            rows = store.team_actions(int(team["id"]), status="open")
            if not rows:
                continue
            payload = json.dumps([reply_to_payload(r) for r in
                                  update_replies(str(team["name"]), rows, content)],
                                 ensure_ascii=False, separators=(",", ":"))
            for owner in store.owner_chats(int(team["id"]), iso(now)):
                if platforms is not None and owner["platform"] not in platforms:
                    continue
                planned += int(store.enqueue_row(
                    platform=owner["platform"], chat_id=owner["chat_id"], kind=KIND_ACTIONS,
                    period=f"{period}:team{team['id']}", payload=payload,
                    not_before=iso(next_working_time(now)), now=iso(now),
                    member_id=int(owner["member_id"]), team_id=int(team["id"])))
    return planned
