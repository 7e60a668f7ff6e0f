"""A team's actions ("Wat we ermee doen") as people type and read them.

The engine's dialogue (``/watwedoen``) parses a typed deadline; the chat, the dashboard, the
monthly tip and the PDF describe an action the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.store.actions import WHO

__all__ = ["FEATURE", "describe_action", "parse_due", "tip_note"]

#: the one name of the feature everywhere (chat, dashboard, monthly tip, PDF)
FEATURE = "Wat we ermee doen"
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
