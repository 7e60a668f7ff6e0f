"""A printable "gespreksplaat" for the team meeting: one theme's mirror, its questions as
prompts, and the matching tip of the Verjaardagskalender (PDF and PNG).

The Praatplaat is meant as the start of a conversation. The plate puts on one page what the
team said about one theme (the theme and every scale question, per group: the same view as the
dashboard), the theme's sub-questions as discussion prompts, and a tip from the calendar that
fits the theme. Which tip fits which theme is *our* choice (:data:`THEME_TIP`, with the reason),
not the sources'; the plate says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.reports.aggregate import TeamReport
from bot.reports.mirror import Mirror, MirrorRow, build_mirror
from bot.themes import OUR_CHOICE, THEME_TIP, tip_for

__all__ = ["THEME_TIP", "gespreksplaat_pdf", "gespreksplaat_png", "plate_rows", "tip_for"]

def plate_rows(mirror: Mirror | None, theme_id: str) -> list[MirrorRow]:
    """The theme's row (when it has a score) and one row per scale question."""
    if mirror is None:
        return []
    rows = [r for r in mirror.rows if r.theme_id == theme_id and r.question_id is None]
    return rows + mirror.questions.get(theme_id, [])


def _prompts(theme: Any) -> list[str]:
    return [f"{theme.number}.{i} {q.text}" for i, q in enumerate(theme.questions, 1)]


def _tip_lines(tip: Any) -> list[str]:
    return [f"{tip.month_name.capitalize()}: {tip.title}", tip.text,
            f"“{tip.quote}” – {tip.quote_role}", OUR_CHOICE]


def gespreksplaat_png(report: TeamReport, content: Any, team_name: str, theme_id: str) -> bytes:
    from bot.reports.charts import mirror_png

    theme = content.praatplaat.theme(theme_id)
    mirror = build_mirror(report, content)
    rows = plate_rows(mirror, theme_id)
    plate = replace(mirror, rows=rows, gaps=[g for g in mirror.gaps if g.row in rows]) \
        if mirror is not None else None
    sections = [("Praat erover", _prompts(theme))]
    tip = tip_for(content, theme_id)
    if tip is not None:
        sections.append(("Tip van de Verjaardagskalender", _tip_lines(tip)))
    title = f"Gespreksplaat {theme.number}. {theme.title} – {team_name}"
    if mirror is not None:
        title += f" · {mirror.label}"
    source = content.praatplaat.source.attribution()
    if tip is not None:
        source += ". " + content.kalender.source.attribution()
    return mirror_png(plate, team_name, title=title, sections=sections, source=source,
                      empty_text="Nog geen cijfers over dit thema in een afgesloten ronde.")


def gespreksplaat_pdf(report: TeamReport, content: Any, team_name: str, theme_id: str) -> bytes:
    from bot.reports.pdf import FONT, MUTED, mirror_table, new_pdf, paragraph, wrap_mm

    theme = content.praatplaat.theme(theme_id)
    mirror = build_mirror(report, content)
    rows = plate_rows(mirror, theme_id)
    pdf = new_pdf()
    pdf.set_title(f"Gespreksplaat {theme.title}")
    pdf.set_font(FONT, "B", 18)
    for line in wrap_mm(pdf, f"{theme.number}. {theme.title}", pdf.epw):
        pdf.cell(pdf.epw, 8, line, new_x="LMARGIN", new_y="NEXT")
    paragraph(pdf, f"Gespreksplaat voor het teamoverleg – {team_name}"
              + (f" – {mirror.label}" if mirror else ""), size=10, color=MUTED)
    if report.demo:
        paragraph(pdf, "Voorbeeld met verzonnen antwoorden.", size=10, bold=True)
    paragraph(pdf, theme.intro + (" (inleiding van Teamspiegel)" if theme.is_ours("intro")
                                  else ""), size=10)
    pdf.ln(2)
    if mirror is not None and rows and any(v.shown for r in rows for v in r.values.values()):
        paragraph(pdf, "Wat jullie zeiden (gemiddelde van 1 tot 5, per groep)", size=12,
                  bold=True)
        mirror_table(pdf, mirror, rows, label_w=92, size=9)
        for gap in mirror.gaps:
            if gap.row in rows:
                paragraph(pdf, "• " + gap.sentence(), size=10)
    else:
        paragraph(pdf, f"Nog geen cijfers over dit thema: we tonen pas iets vanaf "
                       f"{report.k} mensen in een afgesloten ronde.", size=10)
    pdf.ln(3)
    paragraph(pdf, "Praat erover", size=12, bold=True)
    for prompt in _prompts(theme):
        paragraph(pdf, prompt, size=10.5, bottom=250)
        pdf.ln(1)
    tip = tip_for(content, theme_id)
    if tip is not None:
        pdf.ln(2)
        paragraph(pdf, "Tip van de Verjaardagskalender", size=12, bold=True, bottom=270)
        for i, line in enumerate(_tip_lines(tip)):
            paragraph(pdf, line, size=9.5 if i else 10.5, bold=i == 0,
                      color=MUTED if i == 3 else (29, 38, 48), bottom=278)
    pdf.set_y(282)
    sources = content.praatplaat.source.attribution()
    if tip is not None:
        sources += ". " + content.kalender.source.attribution()
    paragraph(pdf, sources, size=7, color=MUTED, bottom=294)
    return bytes(pdf.output())
