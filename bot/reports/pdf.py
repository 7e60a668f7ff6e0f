"""A one-page team report as PDF, for the MT or the council (fpdf2).

One A4 page: the mirror of the latest published round (themes x groups, coloured in each item's
direction, with trends), the largest gaps in plain Dutch, what rose and fell, a few texts the
team shared, "Wat we ermee doen", and the sources. Built from the same view as every other
export (:func:`bot.reports.service.team_report_for`), so it shows nothing a reader may not see.
When something does not fit, it is left out (never a second page, never cut mid-word):
texts first, then actions.

The font is DejaVu Sans as shipped with matplotlib (Dutch letters, arrows, dashes), so the PDF
needs no system fonts.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.reports.aggregate import TeamReport, summary_nl
from bot.reports.charts import HEAT_COLORS, heat_color, mirror_legend, value_text
from bot.reports.mirror import GROUP_LABELS, Mirror, MirrorRow, build_mirror

__all__ = ["font_dir", "new_pdf", "team_pdf"]

FONT = "DejaVu"
INK = (29, 38, 48)
MUTED = (77, 89, 102)
LINE = (183, 194, 205)


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def new_pdf() -> Any:
    """An A4 portrait document with DejaVu Sans (regular and bold), one page, no page breaks."""
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(12, 12, 12)
    pdf.add_font(FONT, "", str(font_dir() / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(font_dir() / "DejaVuSans-Bold.ttf"))
    pdf.set_creator("Teamspiegel")
    pdf.add_page()
    pdf.set_text_color(*INK)
    return pdf


def rgb(hex_color: str) -> tuple[int, int, int]:
    value = hex_color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def wrap_mm(pdf: Any, text: str, width: float) -> list[str]:
    """Lines of ``text`` that fit ``width`` mm in the current font, broken between words."""
    words = text.split()
    lines: list[str] = []
    line = ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if pdf.get_string_width(candidate) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines or [""]


def paragraph(pdf: Any, text: str, *, size: float = 9, bold: bool = False,
              color: tuple[int, int, int] = INK, bottom: float = 285) -> bool:
    """Write a wrapped paragraph if it fits above ``bottom`` mm; False (and nothing written)
    when it does not."""
    pdf.set_font(FONT, "B" if bold else "", size)
    lines = wrap_mm(pdf, text, pdf.epw)
    height = len(lines) * size * 0.45
    if pdf.get_y() + height > bottom:
        return False
    pdf.set_text_color(*color)
    for line in lines:
        pdf.cell(pdf.epw, size * 0.45, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    return True


def mirror_table(pdf: Any, mirror: Mirror, rows: list[MirrorRow], *, label_w: float = 78,
                 size: float = 8.5) -> None:
    """The mirror as a coloured table: a label column and one column per group."""
    columns = mirror.columns()
    col_w = (pdf.epw - label_w) / len(columns)
    line_h = size * 0.42
    pdf.set_font(FONT, "B", size)
    pdf.set_draw_color(*LINE)
    x0 = pdf.l_margin
    pdf.cell(label_w, line_h + 1.5, "Thema", border="B")
    for col in columns:
        pdf.cell(col_w, line_h + 1.5, GROUP_LABELS.get(col, col), border="B", align="C")
    pdf.ln()
    for row in rows:
        label = f"{row.number}. {row.title}"
        if row.question_id is not None and row.note:
            label += " (één vraag)"
        if row.direction is False:
            label += " – hoger is minder goed"
        pdf.set_font(FONT, "B" if row.question_id is None else "", size)
        lines = wrap_mm(pdf, label, label_w - 2)
        height = max(len(lines) * line_h + 1.6, 6.0)
        y = pdf.get_y()
        pdf.set_xy(x0, y + 0.8)
        for line in lines:
            pdf.cell(label_w, line_h, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", size)
        for i, col in enumerate(columns):
            value = row.values[col]
            pdf.set_fill_color(*rgb(heat_color(value, row.direction)))
            pdf.set_xy(x0 + label_w + i * col_w + 0.5, y + 0.4)
            pdf.set_font(FONT, "B" if col == "team" else "", size)
            pdf.set_text_color(*(INK if value.shown else MUTED))
            pdf.cell(col_w - 1, height - 0.8, value_text(value), border=1, align="C", fill=True)
        pdf.set_text_color(*INK)
        pdf.set_xy(x0, y + height)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return textwrap.shorten(text, limit, placeholder="…", break_long_words=False)


def team_pdf(report: TeamReport, content: Any, team_name: str,
             actions: list[dict[str, Any]] | None = None) -> bytes:
    """The one-page team report (see the module docstring)."""
    from bot.engine.team_actions import FEATURE, describe_action
    from bot.periods import AMSTERDAM

    titles = {t.id: t.title for t in content.praatplaat.themes}
    mirror = build_mirror(report, content)
    pdf = new_pdf()
    pdf.set_title(f"Teamspiegel {team_name}")
    pdf.set_font(FONT, "B", 16)
    head = f"Teamspiegel – {team_name}" + (f" – {mirror.label}" if mirror else "")
    for line in wrap_mm(pdf, head, pdf.epw):
        pdf.cell(pdf.epw, 7, line, new_x="LMARGIN", new_y="NEXT")
    if report.demo:
        paragraph(pdf, "Voorbeeld met verzonnen antwoorden: dit is geen echt team.", bold=True)
    summary = [line for line in summary_nl(report, titles).split("\n")
               if not line.startswith("Voorbeeld met")]
    for line in summary:
        paragraph(pdf, line, size=9, color=MUTED)
    pdf.ln(2)
    bottom = 262.0  # the footer below this line
    if mirror is not None and mirror.has_numbers():
        paragraph(pdf, "De spiegel: hoe uitvoering, management en beleid elk thema zien "
                       "(gemiddelde van 1 tot 5)", size=11, bold=True)
        pdf.ln(1)
        mirror_table(pdf, mirror, mirror.rows)
        pdf.ln(2)
        if mirror.gaps:
            paragraph(pdf, "Grootste verschillen", size=11, bold=True, bottom=bottom)
            for gap in mirror.gaps:
                paragraph(pdf, "• " + gap.sentence(), size=9, bottom=bottom)
            pdf.ln(1.5)
    elif mirror is not None:
        paragraph(pdf, f"Nog te weinig antwoorden per groep voor de spiegel: we tonen pas iets "
                       f"vanaf {report.k} mensen.", size=10)
    else:
        paragraph(pdf, "Nog geen afgesloten ronde: de spiegel komt als een ronde sluit.",
                  size=10)
    open_actions = [a for a in (actions or []) if a.get("status") == "open"][:5]
    if open_actions or actions:
        if paragraph(pdf, FEATURE, size=11, bold=True, bottom=bottom - 6):
            for row in (open_actions or (actions or [])[:3]):
                if not paragraph(pdf, "• " + describe_action(row, content), size=9,
                                 bottom=bottom):
                    break
            pdf.ln(1.5)
    if mirror is not None:
        texts = [t for t in report.texts if t.period == mirror.period]
        if texts and paragraph(pdf, "Wat collega's deelden (anoniem, met toestemming)", size=11,
                               bold=True, bottom=bottom - 6):
            for item in texts[:4]:
                if not paragraph(pdf, f"“{_short(item.text, 220)}”", size=9, bottom=bottom):
                    break
    # footer: what the signs mean, privacy, sources
    pdf.set_y(bottom + 1)
    pdf.set_draw_color(*LINE)
    pdf.line(pdf.l_margin, bottom, pdf.l_margin + pdf.epw, bottom)
    notes = mirror_legend(mirror) if mirror is not None else []
    notes.append(f"Alleen afgesloten rondes en groepen van minstens {report.k} mensen; nooit "
                 "wie wat antwoordde. Teksten alleen als de schrijver ze wilde delen.")
    notes.append(content.praatplaat.source.attribution() + ". Teamspiegel, gemaakt op "
                 f"{datetime.now(UTC).astimezone(AMSTERDAM):%d-%m-%Y}.")
    for note in notes:
        paragraph(pdf, note, size=7, color=MUTED, bottom=292)
    return bytes(pdf.output())


def legend_colors() -> dict[str, tuple[int, int, int]]:
    return {name: rgb(color) for name, color in HEAT_COLORS.items()}
