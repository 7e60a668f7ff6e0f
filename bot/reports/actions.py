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
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.store.actions import WHO

__all__ = [
    "FEATURE",
    "KIND_ACTIONS",
    "describe_action",
    "parse_due",
    "plan_action_updates",
    "tip_note",
]

FEATURE = "Wat we ermee doen"
KIND_ACTIONS = "actions"
#: actions named in the monthly tip at most
TIP_ACTIONS = 3


def _date_nl(value: str | None) -> str:
    if not value:
        return ""
    try:
        day = datetime.fromisoformat(str(value)[:10]).date()
    except ValueError:
        return ""
    return f"{day.day}-{day.month}-{day.year}"


def parse_due(text: str, today: date) -> date | None:
    """A deadline as typed: "2026-10-01", "1-10-2026" or "1-10" (this year or the next).
    Raises ValueError (Dutch message) for something that is no date or lies in the past."""
    raw = text.strip()
    if not raw:
        return None
    try:
        if "-" in raw and len(raw.split("-")[0]) == 4:
            day = date.fromisoformat(raw)
        else:
            parts = [int(p) for p in raw.replace("/", "-").split("-")]
            if len(parts) == 2:
                day = date(today.year, parts[1], parts[0])
                if day < today:
                    day = date(today.year + 1, parts[1], parts[0])
            elif len(parts) == 3:
                day = date(parts[2], parts[1], parts[0])
            else:
                raise ValueError
    except ValueError:
        raise ValueError("Schrijf de datum als dag-maand-jaar, bijvoorbeeld 1-10-2026.") from None
    if day < today:
        raise ValueError("Die datum is al voorbij. Kies een datum vanaf vandaag.")
    return day


def describe_action(row: dict[str, Any], content: Any) -> str:
    """"Regie voeren: maandelijks casusoverleg met beleid (het hele team, vóór 1-10-2026)"."""
    try:
        title = content.praatplaat.theme(str(row["theme_id"])).title
    except (AttributeError, KeyError):
        title = str(row["theme_id"])
    extra = []
    if row.get("who"):
        extra.append(WHO.get(str(row["who"]), str(row["who"])))
    if row.get("status") == "done":
        when = _date_nl(row.get("done_at"))
        extra.append("klaar" + (f" op {when}" if when else ""))
    elif row.get("due"):
        extra.append(f"vóór {_date_nl(row['due'])}")
    text = f"{title}: {row['text']}"
    return text + (f" ({', '.join(extra)})" if extra else "")


def tip_note(store: Any, team_id: int, content: Any, now: datetime) -> str | None:
    """What the monthly tip says about the team's actions: the open ones (at most three), and
    those done in the past month; None when there are none."""
    since = (now - timedelta(days=35)).astimezone(UTC).strftime("%Y-%m-%d")
    rows = store.team_actions(team_id, limit=20)
    open_rows = [r for r in rows if r["status"] == "open"][:TIP_ACTIONS]
    done = [r for r in rows if r["status"] == "done" and str(r.get("done_at") or "") >= since]
    if not open_rows and not done:
        return None
    lines = [f"{FEATURE}:"]
    lines += ["• " + describe_action(r, content) for r in open_rows]
    lines += ["• " + describe_action(r, content) for r in done[:2]]
    lines.append("Alles zien: /teamspiegel")
    return "\n".join(lines)


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
