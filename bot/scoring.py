"""A person's own theme scores, the way reports score a theme: one direction, enough items.

``/mijnreflecties`` and the end-of-round summary show a member their own answers per theme. A
theme's figure there follows the same rule as the team's reports
(:meth:`bot.content.Theme.score_items`): only the theme's score items are averaged (never items
of opposite direction), a theme with too few of them gets no average, and the items outside the
score are shown on their own, with their direction when higher is worse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.nl import format_number

__all__ = ["own_theme_text"]


_nl = format_number  # a mean the Dutch way (bot.nl)


def own_theme_text(theme: Any, scales: Mapping[str, int]) -> str | None:
    """One person's scale answers on one theme (question id -> 1..5) in words: "gemiddeld 3,7",
    plus the items that are not averaged ("opdrachten-1: 4, hoger is minder goed"); None when
    none of them is a scale answer."""
    if not scales:
        return None
    parts: list[str] = []
    score_ids = [q.id for q in theme.score_items()] if theme.can_score() else []
    scored = [scales[qid] for qid in score_ids if qid in scales]
    if scored:
        parts.append(f"gemiddeld {_nl(sum(scored) / len(scored))}")
    numbers = {q.id: f"{theme.number}.{i}" for i, q in enumerate(theme.questions, 1)}
    for q in theme.scale_items():
        if q.id in scales and q.id not in score_ids:
            note = ", hoger is minder goed" if q.higher_is_better is False else ""
            parts.append(f"vraag {numbers[q.id]}: {scales[q.id]}{note}")
    return ", ".join(parts) or None
