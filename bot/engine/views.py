"""Read-only views a person gets in the chat: their own reflections over time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bot.engine.messages import Reply
from bot.engine.turn import Turn
from bot.scoring import own_theme_text


def my_reflections(turn: Turn) -> list[Reply]:
    """Your own scale answers per theme and quarter (latest answer per question counts)."""
    if turn.member_id is None:
        return [Reply(turn.text("no_reflections"))]
    rows = turn.store.member_answers(turn.member_id)
    followups = turn.engine.plugins.followups
    extra: list[str] = followups(turn) if followups is not None else []
    if not rows:
        return [Reply("\n\n".join([turn.text("no_reflections"), *extra]))]
    latest: dict[tuple[str, str, str], dict] = {}
    for row in rows:  # ordered by time: later answers win
        latest[(row.get("pack") or "praatplaat", row["period"], row["question_id"])] = row
    per: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for (pack, period, qid), row in latest.items():
        if row["scale"] is not None and pack == "praatplaat":
            per[row["theme_id"]][period][qid] = row["scale"]
    texts = _own_texts(row for (pack, _, _), row in latest.items() if pack == "praatplaat")
    pp = turn.content.praatplaat
    lines = [turn.text("mine_title")]
    for theme in pp.themes:
        periods = per.get(theme.id)
        if not periods and theme.id not in texts:
            continue
        cells = [f"{p.replace('-', ' ')}: {text}" for p, scales in sorted((periods or {}).items())
                 if (text := own_theme_text(theme, scales))]
        if cells or theme.id in texts:
            lines.append(f"• {theme.title} — "
                         + ("; ".join(cells) or turn.text("mine_texts_only")))
            lines.extend(texts.get(theme.id, []))
    if texts:
        lines.append(turn.text("mine_more_texts"))
    lines += _pack_lines(turn, [row for (pack, _, _), row in latest.items()
                                if pack != "praatplaat"])
    lines.extend(extra)
    return [Reply("\n".join(lines))]


#: how much of each of your own texts /mijnreflecties shows (all of it: /mijngegevens)
TEXT_SHOWN = 200


def _own_texts(rows: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Per theme: your own texts of the latest quarter in which you wrote any for it (every
    theme, also those with open questions only), shortened, with the quarter."""
    by_theme: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        text = (row.get("text") or "").strip()
        if text:
            short = text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1].rstrip() + "…"
            by_theme[row["theme_id"]][row["period"]].append(short)
    out: dict[str, list[str]] = {}
    for theme_id, periods in by_theme.items():
        period = max(periods)
        out[theme_id] = [f"  {period.replace('-', ' ')}: “{t}”" for t in periods[period]]
    return out


def _pack_lines(turn: Turn, rows: list[dict]) -> list[str]:
    """Your answers in other content packs: per pack, per theme, case or tip, how many you
    answered per quarter and your own mean where there is a scale (each pack on its own)."""
    from bot.packs import library

    lib = library(turn.engine)
    by_pack: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in rows:
        by_pack[(row["pack"], int(row["team_id"]))].append(row)
    lines: list[str] = []
    for (pack_id, team_id), items in by_pack.items():
        pack = lib.for_answer(team_id, pack_id, None)
        if pack is None:
            continue
        lines += ["", f"{pack.title}:"]
        units: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for row in items:
            units[row["theme_id"]][row["period"]].append(row)
        order = {u.id: i for i, u in enumerate(pack.units)}
        for unit_id in sorted(units, key=lambda u: order.get(u, len(order))):
            try:
                title = pack.theme(unit_id).title
            except KeyError:
                title = unit_id
            cells = []
            for period, answers in sorted(units[unit_id].items()):
                scales = [a["scale"] for a in answers if a["scale"] is not None]
                n = len(answers)
                cell = f"{period.replace('-', ' ')}: {n} antwoord{'en' if n != 1 else ''}"
                if scales:
                    cell += f", {sum(scales) / len(scales):.1f}".replace(".", ",")
                cells.append(cell)
            lines.append(f"• {title} — " + "; ".join(cells))
    return lines
