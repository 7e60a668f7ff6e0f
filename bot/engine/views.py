"""Read-only views a person gets in the chat: their own reflections over time."""

from __future__ import annotations

from collections import defaultdict

from bot.engine.core import Turn
from bot.engine.messages import Reply
from bot.scoring import own_theme_text


def my_reflections(turn: Turn) -> list[Reply]:
    """Your own scale answers per theme and quarter (latest answer per question counts)."""
    if turn.member_id is None:
        return [Reply(turn.text("no_reflections"))]
    rows = turn.store.member_answers(turn.member_id)
    followups = turn.engine.hooks.get("followups")
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
    pp = turn.content.praatplaat
    lines = ["Jouw reflecties (per kwartaal, alleen voor jou):"]
    for theme in pp.themes:
        periods = per.get(theme.id)
        if not periods:
            continue
        cells = [f"{p.replace('-', ' ')}: {text}" for p, scales in sorted(periods.items())
                 if (text := own_theme_text(theme, scales))]
        if cells:
            lines.append(f"• {theme.title} — " + "; ".join(cells))
    lines += _pack_lines(turn, [row for (pack, _, _), row in latest.items()
                                if pack != "praatplaat"])
    lines.extend(extra)
    return [Reply("\n".join(lines))]


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
