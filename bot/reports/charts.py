"""The mirror as one compact picture: a traffic-light grid of themes x groups, with trends.

One image instead of a long column of dots: per theme a full-width title (wrapped at word
boundaries, never cut), and under it one coloured box per column (Team, Uitvoering, Management,
Beleid) with the mean (one decimal, as the view shows it) and an arrow against the previous
round. Colours say how good a figure is *in the item's direction* (for an item where higher is
worse, a 4 is red); the number is always written too, so colour is never the only cue. A hidden
cell is a grey dash. Drawn for a phone: at 390 px wide no text is smaller than 12 px
(:data:`MIN_TEXT_PX_AT_390`, checked by the tests).

The PNG uses matplotlib's Agg canvas directly (no pyplot, no display, no global state), with the
DejaVu Sans font that matplotlib ships (it has the arrows and Dutch letters).
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

from bot.nl import format_number
from bot.reports.mirror import (
    GROUP_LABELS,
    GROUPS_NOTE,
    TEAM,
    Mirror,
    MirrorRow,
    MirrorValue,
    goodness,
    trend_symbol,
)

__all__ = [
    "HEAT_COLORS",
    "MIN_TEXT_PX_AT_390",
    "heat_color",
    "mirror_png",
    "value_text",
]

TEXT = "#1d2630"
MUTED = "#4d5966"
#: background per level: good, middling, needs attention, no direction, hidden
HEAT_COLORS = {"good": "#cdebd3", "mid": "#fbe6b0", "low": "#f7cdc8", "neutral": "#dfe6ee",
               "hidden": "#f3f5f7"}

WIDTH_PX = 780
DPI = 100
FONT_PT = 18.0  # 25 px in the image: 12.5 px when the image is shown 390 px wide
TITLE_PT = 21.0
#: the smallest text of the picture, in px, when the picture is shown 390 px wide
MIN_TEXT_PX_AT_390 = FONT_PT * DPI / 72 * 390 / WIDTH_PX


def heat_color(value: MirrorValue, direction: bool | None) -> str:
    """The background of one box: by how good the mean is in the item's direction."""
    if value.mean is None:
        return HEAT_COLORS["hidden"]
    good = goodness(value.mean, direction)
    if good is None:
        return HEAT_COLORS["neutral"]
    if good >= 3.5:
        return HEAT_COLORS["good"]
    if good >= 2.5:
        return HEAT_COLORS["mid"]
    return HEAT_COLORS["low"]


def value_text(value: MirrorValue) -> str:
    """"3,4 ▲", "3,4" or "–"."""
    if value.mean is None:
        return "–"
    text = format_number(value.mean)
    symbol = trend_symbol(value.trend())
    return f"{text} {symbol}" if symbol else text


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    size: float
    bold: bool = False
    color: str = TEXT


def _wrap(text: str, size: float, width_px: float) -> list[str]:
    """Wrap at word boundaries for a width in px (DejaVu Sans: about 0.6 em per character)."""
    chars = max(8, int(width_px / (size * DPI / 72 * 0.6)))
    return textwrap.wrap(text, chars, break_long_words=False, break_on_hyphens=False) or [text]


def mirror_legend(mirror: Mirror) -> list[str]:
    """The notes under the picture (and under the PDF's table)."""
    notes = []
    if mirror.previous:
        notes.append(f"▲ ▼ = hoger of lager dan {_period(mirror.previous)}; = is gelijk.")
    notes.append("Groen = gaat goed, geel = middel, rood = aandacht. Waar hoger minder goed is, "
                 "kleurt een hoog cijfer rood.")
    notes.append(f"– = niet te tonen: minder dan {mirror.k} mensen, of verborgen voor de privacy.")
    notes.append(GROUPS_NOTE)
    return notes


def _period(period: str) -> str:
    from bot.reports.aggregate import period_label_nl

    return period_label_nl(period)


def mirror_png(mirror: Mirror | None, team_name: str, *, source: str = "",
               empty_text: str = "Nog geen afgesloten ronde: cijfers komen als de ronde sluit.",
               title: str | None = None,
               sections: list[tuple[str, list[str]]] | None = None) -> bytes:
    """The mirror as PNG bytes (780 px wide). ``title`` replaces the heading; ``sections``
    (heading, lines) are written under the grid (the gespreksplaat's prompts and tip)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    pad = 16.0
    inner = WIDTH_PX - 2 * pad
    px = DPI / 72
    line_px = FONT_PT * px * 1.3
    title_px = TITLE_PT * px * 1.3
    box_h = FONT_PT * px * 2.0
    head: list[_Line] = []
    heading = title or (f"Teamspiegel {team_name}" + (f" · {mirror.label}" if mirror else ""))
    for part in _wrap(heading, TITLE_PT, inner):
        head.append(_Line(part, TITLE_PT, True))
    if mirror is not None and mirror.demo:
        head.append(_Line("Voorbeeld met verzonnen antwoorden", FONT_PT, True, MUTED))
    if mirror is not None and mirror.participation:
        for part in _wrap(f"Deelname: {mirror.participation}", FONT_PT, inner):
            head.append(_Line(part, FONT_PT, False, MUTED))

    columns = mirror.columns() if mirror is not None else []
    rows: list[tuple[list[str], MirrorRow]] = []
    notes: list[str] = []
    if mirror is not None and mirror.has_numbers():
        for row in mirror.rows:
            label = f"{row.number}. {row.title}"
            if row.note:
                label += " (één vraag)"
            if row.direction is False:
                label += " – hoger is minder goed"
            rows.append((_wrap(label, FONT_PT, inner), row))
        for note in mirror_legend(mirror):
            notes += _wrap(note, FONT_PT * 0.8 if False else FONT_PT, inner)
    body: list[_Line] = []
    for head_text, lines in sections or []:
        body += [_Line(part, FONT_PT, True) for part in _wrap(head_text, FONT_PT, inner)]
        for line in lines:
            body += [_Line(part, FONT_PT) for part in _wrap(line, FONT_PT, inner)]
    if source:
        notes += _wrap(source, FONT_PT, inner)

    height = pad + sum(title_px if ln.size == TITLE_PT else line_px for ln in head) + pad / 2
    if rows:
        height += line_px  # column heads
        height += sum(len(lines) * line_px + box_h + pad for lines, _ in rows)
    else:
        height += 2 * line_px
    height += (len(notes) + len(body) + len(sections or [])) * line_px + pad
    fig = Figure(figsize=(WIDTH_PX / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.set_facecolor("white")

    def y(pos: float) -> float:  # from the top, in px -> figure fraction
        return 1 - pos / height

    def text(x: float, top: float, value: str, size: float, *, bold: bool = False,
             color: str = TEXT, ha: str = "left") -> None:
        fig.text(x / WIDTH_PX, y(top), value, fontsize=size, fontweight="bold" if bold else None,
                 color=color, ha=ha, va="top", family="DejaVu Sans")

    top = pad
    for ln in head:
        text(pad, top, ln.text, ln.size, bold=ln.bold, color=ln.color)
        top += title_px if ln.size == TITLE_PT else line_px
    top += pad / 2
    col_w = inner / max(len(columns), 1)
    if rows:
        for i, col in enumerate(columns):
            text(pad + col_w * i + col_w / 2, top, GROUP_LABELS.get(col, col), FONT_PT,
                 bold=True, ha="center")
        top += line_px
        for lines, row in rows:
            for line in lines:
                text(pad, top, line, FONT_PT, bold=row.question_id is None)
                top += line_px
            for i, col in enumerate(columns):
                value = row.values.get(col, MirrorValue(None))
                x0 = pad + col_w * i + 3
                fig.patches.append(Rectangle(
                    (x0 / WIDTH_PX, y(top + box_h)), (col_w - 6) / WIDTH_PX, box_h / height,
                    transform=fig.transFigure, facecolor=heat_color(value, row.direction),
                    edgecolor="#b7c2cd", linewidth=0.8))
                text(x0 + (col_w - 6) / 2, top + box_h * 0.22, value_text(value), FONT_PT,
                     bold=col == TEAM, ha="center", color=TEXT if value.shown else MUTED)
            top += box_h + pad
    else:
        for part in _wrap(empty_text, FONT_PT, inner):
            text(pad, top, part, FONT_PT)
            top += line_px
    for ln in body:
        if ln.bold and top > pad:
            top += line_px / 2
        text(pad, top, ln.text, ln.size, bold=ln.bold)
        top += line_px
    for note in notes:
        text(pad, top, note, FONT_PT, color=MUTED)
        top += line_px
    buf = io.BytesIO()
    fig.canvas.print_png(buf)  # type: ignore[attr-defined]  # FigureCanvasAgg
    return buf.getvalue()
