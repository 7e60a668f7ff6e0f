"""Read-only views a person gets in the chat: their own reflections over time."""

from __future__ import annotations

from collections import defaultdict

from bot.engine.core import Turn
from bot.engine.messages import Reply


def my_reflections(turn: Turn) -> list[Reply]:
    """Your own scale answers per theme and quarter (latest answer per question counts)."""
    if turn.member_id is None:
        return [Reply(turn.text("no_reflections"))]
    rows = turn.store.member_answers(turn.member_id)
    followups = turn.engine.hooks.get("followups")
    extra: list[str] = followups(turn) if followups is not None else []
    if not rows:
        return [Reply("\n\n".join([turn.text("no_reflections"), *extra]))]
    latest: dict[tuple[str, str], dict] = {}
    for row in rows:  # ordered by time: later answers win
        latest[(row["period"], row["question_id"])] = row
    per: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for (period, _), row in latest.items():
        if row["scale"] is not None:
            per[row["theme_id"]][period].append(row["scale"])
    pp = turn.content.praatplaat
    lines = ["Jouw reflecties (gemiddelde per kwartaal, alleen voor jou):"]
    for theme in pp.themes:
        periods = per.get(theme.id)
        if not periods:
            continue
        cells = [
            f"{p.replace('-', ' ')}: {sum(v) / len(v):.1f}".replace(".", ",")
            for p, v in sorted(periods.items())
        ]
        lines.append(f"• {theme.title} — " + "; ".join(cells))
    lines.extend(extra)
    return [Reply("\n".join(lines))]
