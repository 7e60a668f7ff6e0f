""""Wat we ermee doen": what a team does with its results, as actions.

One name everywhere (chat, dashboard, monthly tip, PDF): **Wat we ermee doen**. An action has a
theme, what will be done, who does it (a role from :data:`bot.store.actions.WHO`, never a person's
answers), by when, and a status (open or done). Readers of the team write and update them (on the
dashboard, or ``/watwedoen`` in the chat); members see them with ``/teamspiegel`` and
``/mijnreflecties``; the monthly tip names the open ones, and a team's owners are asked once a
month to bring them up to date (:func:`plan_action_updates`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.engine.team_actions import FEATURE, describe_action, parse_due, tip_note

__all__ = [
    "FEATURE",
    "KIND_ACTIONS",
    "describe_action",
    "parse_due",
    "plan_action_updates",
    "tip_note",
]

KIND_ACTIONS = "actions"


def update_replies(team_name: str, rows: list[dict[str, Any]], content: Any) -> list[Any]:
    """The monthly question to an owner: are these actions still open?"""
    from bot.engine.messages import Reply

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
