"""The team's mirror next to a team conversation, and the history of its conversations.

* :func:`session_mirror` is the engine's ``session_mirror`` hook (:mod:`bot.engine.session`):
  what the mirror of the team's last published round says about a theme, as a *linked group*
  may see it: every figure from ``k + 1`` people, the rule of every figure shown in a group chat
  (:mod:`bot.schedule.results`), so nobody in the group can take their own answer out. It names
  the theme with the widest gap between the groups (``/gesprek`` without a theme starts there).
* :func:`session_history` is what the dashboard shows of a team's conversations: per
  conversation its round, subject and, per vote, how many voted and the counts kept (only those
  of votes that reached the threshold; never who voted what). A conversation's results are the
  team's, kept apart from the members' answers and never averaged with them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.engine.session import SessionMirror
from bot.reports.aggregate import format_number_nl, period_label_nl
from bot.reports.mirror import TEAM, build_mirror, row_line
from bot.reports.service import team_report

__all__ = ["install", "session_history", "session_mirror"]


def session_mirror(store: Any, team_id: int, theme_id: str | None, k: int, *,
                   content: Any, now: datetime | None = None) -> SessionMirror | None:
    """The mirror of the team's last published round as a linked group sees it; None when there
    is none or it shows no figure."""
    report = team_report(store, team_id, k=max(3, int(k)) + 1, last=2,
                         now=now or datetime.now(UTC), content=content)
    mirror = build_mirror(report, content)
    if mirror is None or not mirror.has_numbers():
        return None
    widest = mirror.gaps[0].row.theme_id if mirror.gaps else None
    lines: dict[str, list[str]] = {}
    for row in mirror.rows:
        lines.setdefault(row.theme_id, []).append("• " + row_line(row, mirror.columns()))
    for gap in mirror.gaps:
        lines.setdefault(gap.row.theme_id, []).append("• " + gap.sentence())
    means = {str(r.question_id): float(mean)
             for rows in mirror.questions.values() for r in rows
             if r.question_id and TEAM in r.values
             and (mean := r.values[TEAM].mean) is not None}
    return SessionMirror(period_label_nl(mirror.period), widest, lines, means)


def session_history(store: Any, team_id: int, *, limit: int = 10) -> list[dict[str, Any]]:
    """The team's conversations, newest first, with their votes' results as kept."""
    out: list[dict[str, Any]] = []
    for session in store.team_sessions(team_id, limit=limit):
        votes = []
        for item in store.session_items(int(session["id"])):
            if "options" not in item["body"] or item["opened_at"] is None:
                continue
            result = json.loads(item["result"]) if item["result"] else None
            options = [(str(v), str(label), (result or {}).get(str(v), 0))
                       for v, label in item["body"]["options"]]
            mean = None
            values = [v for v, _, _ in options]
            if result and values == ["1", "2", "3", "4", "5"]:
                counted = sum(n for _, _, n in options)
                if counted:
                    mean = format_number_nl(sum(int(v) * n for v, _, n in options) / counted)
            votes.append({"question": item["body"]["question"], "voters": int(item["voters"]),
                          "options": options if result else None, "mean": mean,
                          "status": item["status"]})
        out.append({"id": int(session["id"]), "title": session["title"],
                    "period": period_label_nl(str(session["period"])),
                    "started_at": session["started_at"], "status": session["status"],
                    "vote": session["vote"], "threshold": int(session["threshold"]),
                    "votes": votes, "actions": store.session_actions(int(session["id"]))})
    return out


def install(engine: Any, settings: Any = None) -> None:
    """The engine's ``session_mirror`` hook."""

    def hook(team_id: int, theme_id: str | None, k: int) -> SessionMirror | None:
        return session_mirror(engine.store, team_id, theme_id, k, content=engine.content,
                              now=engine.clock())

    engine.plugins.session_mirror = hook
