"""Exports of one team's report: CSV and XLSX for Dutch Excel, the mirror picture, a PDF.

Every export goes through :func:`bot.reports.service.team_report_for`, so it is access-checked
(when a member asks), written to the audit log (``member_id=None``: the operator on the command
line) and built from the team's published snapshots, like every other view. The tables hold what
a view shows (mean with one decimal, the number of people as a band, the spread in words where
allowed), never a member id, an individual answer, an exact count or a free text. Hidden cells
are listed with empty numbers and the reason in words.

Spreadsheets open as they are in a Dutch Excel, by double-click: the CSV is UTF-8 with a BOM,
``;`` between cells, a decimal comma, Dutch headers, the question text next to its id and
"ja"/"nee"; the XLSX has the same columns, real numbers and local (Dutch) times. The dashboard's
downloads use :func:`csv_bytes` and :func:`xlsx_bytes` from here too, and every cell goes through
:mod:`bot.spreadsheet` (no cell a spreadsheet would run as a formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.reports.aggregate import (
    LEVEL_GROUP,
    LEVEL_QUESTION,
    LEVEL_THEME,
    LEVEL_TOTAL,
    REASONS_NL,
    TeamReport,
    period_label_nl,
    report_to_rows,
)
from bot.reports.demo import DEMO_NOTE
from bot.reports.mirror import GROUP_LABELS, TEAM, build_mirror
from bot.reports.service import team_report_for
from bot.spreadsheet import safe_row, safe_values
from bot.store import Store

__all__ = ["COLUMNS", "FORMATS", "csv_bytes", "export_columns", "export_report", "export_rows",
           "notes_nl", "pack_export_rows", "xlsx_bytes"]

FORMATS = ("csv", "xlsx", "png", "pdf")

#: the columns of a report export, in Dutch
COLUMNS = (
    "Team", "Ronde", "Pakket", "Niveau", "Groep", "Thema nr.", "Thema", "Vraag-id", "Vraag",
    "Hoger is beter", "Getoond", "Reden", "Aantal mensen (ongeveer)", "Gemiddelde (1-5)",
    "Spreiding", "Versie",
)
LEVELS_NL = {"participation": "deelname", LEVEL_TOTAL: "totaal", LEVEL_THEME: "thema",
             LEVEL_QUESTION: "vraag", LEVEL_GROUP: "groep per vraag", "role": "rol (oud)",
             "mirror": "spiegel: thema per groep"}
SPREAD_NL = {"weinig verschil": "meningen dicht bij elkaar",
             "veel verschil": "meningen lopen uiteen"}
MEAN_COLUMN = "Gemiddelde (1-5)"


def export_columns() -> list[str]:
    return list(COLUMNS)


def _yes_no(value: bool | None) -> str:
    if value is None:
        return "geen van beide"
    return "ja" if value else "nee"


def export_rows(report: TeamReport, content: Any, team_name: str = "", *,
                pack: str = "praatplaat", pack_obj: Any = None) -> list[dict]:
    """One row per cell of the view (plus participation), and per round the mirror's theme
    figures per group ("spiegel"), with Dutch values. ``Gemiddelde`` stays a float here; the
    CSV writes it with a decimal comma, the XLSX as a number. ``pack``/``pack_obj``: another
    content pack's report (its own rows, its units and questions; no mirror figures)."""
    rows: list[dict] = []
    units: dict[str, tuple[str, str]] = {}
    questions: dict[str, tuple[str, bool | None]] = {}
    if pack_obj is None:
        for theme in content.praatplaat.themes:
            units[theme.id] = (str(theme.number), theme.title)
            for q in theme.questions:
                questions[q.id] = (q.text, q.higher_is_better)
    else:
        for unit in getattr(pack_obj, "units", []):
            units[unit.id] = ("", str(getattr(unit, "title", unit.id)))
            for q in unit.questions:
                questions[q.id] = (q.text, getattr(q, "higher_is_better", None))

    def theme_info(theme_id: str | None) -> tuple[str, str]:
        if not theme_id:
            return "", ""
        return units.get(theme_id, ("", theme_id))

    def question_info(question_id: str | None) -> tuple[str, bool | None]:
        if not question_id:
            return "", None
        return questions.get(question_id, ("", None))

    for raw in report_to_rows(report):
        level = raw["level"]
        number, title = theme_info(raw["theme_id"])
        text, direction = question_info(raw["question_id"])
        if level == LEVEL_THEME and raw["theme_id"]:
            direction = report.directions.get(raw["theme_id"], True)
        elif level == LEVEL_TOTAL:
            direction = True
        reason = raw["reason"]
        people = raw["n_band"]
        if level == "participation":
            people = report.participation_text.get(raw["period"]) or people
            size = report.team_size.get(raw["period"])
            if size and people:
                people = f"{people} van de {size}"
        role = raw["role"]
        rows.append({
            "Team": team_name, "Ronde": period_label_nl(raw["period"]), "Pakket": pack,
            "Niveau": LEVELS_NL.get(level, level),
            "Groep": GROUP_LABELS.get(role, role) if role else "",
            "Thema nr.": number, "Thema": title, "Vraag-id": raw["question_id"] or "",
            "Vraag": text, "Hoger is beter": _yes_no(direction) if level != "participation"
            else "",
            "Getoond": _yes_no(bool(raw["shown"])),
            "Reden": REASONS_NL.get(reason, reason) if reason else "",
            "Aantal mensen (ongeveer)": people or "",
            MEAN_COLUMN: raw["mean"],
            "Spreiding": SPREAD_NL.get(raw["spread"] or "", raw["spread"] or ""),
            "Versie": raw["version"] or "",
        })
    for period in report.periods if pack_obj is None else []:
        mirror = build_mirror(report, content, period)
        if mirror is None:
            continue
        for row in mirror.rows:
            if row.question_id is not None:
                continue  # a theme without a score: its question is in the rows above
            for group, value in row.values.items():
                if group == TEAM:
                    continue
                rows.append({
                    "Team": team_name, "Ronde": mirror.label, "Pakket": pack,
                    "Niveau": LEVELS_NL["mirror"],
                    "Groep": GROUP_LABELS.get(group, group), "Thema nr.": row.number,
                    "Thema": row.title, "Vraag-id": "", "Vraag": "",
                    "Hoger is beter": _yes_no(row.direction),
                    "Getoond": _yes_no(value.shown), "Reden": value.reason or "",
                    "Aantal mensen (ongeveer)": "", MEAN_COLUMN: value.mean,
                    "Spreiding": "", "Versie": report.versions.get(period, ""),
                })
    return rows


def pack_export_rows(store: Store, member_id: int | None, team_id: int, *, action: str, k: int,
                     periods: list[str] | None = None, now: datetime | None = None,
                     content: Any = None, team_name: str = "") -> list[dict]:
    """The rows of every other content pack the team answered, each pack its own rows (the
    same access check and audit as the Praatplaat's view): never a total across packs."""
    from bot.reports.service import pack_reports_for

    rows: list[dict] = []
    for pack, report in pack_reports_for(store, member_id, team_id, action=action, k=k,
                                         now=now, content=content):
        label = str(getattr(pack, "id", ""))
        rows += [r for r in export_rows(report, content, team_name, pack=label, pack_obj=pack)
                 if periods is None or r["Ronde"] in {period_label_nl(p) for p in periods}]
    return rows


def notes_nl(report: TeamReport, team_name: str, attribution: str) -> list[str]:
    """The "about this file" lines of a spreadsheet (times in Dutch local time)."""
    from bot.periods import AMSTERDAM

    made = datetime.now(UTC).astimezone(AMSTERDAM)
    lines = [
        f"Teamspiegel – teamrapport {team_name}",
        f"Gemaakt op {made:%d-%m-%Y %H:%M} (Nederlandse tijd)",
    ]
    if report.demo:
        lines.append(f"{DEMO_NOTE}: dit is een voorbeeld, geen echt team.")
    lines += [
        "Alleen afgesloten rondes: de cijfers van een ronde liggen vast zodra die sluit.",
        f"Alleen groepen van minstens {report.k} mensen worden getoond; een lege cel is "
        "verborgen (zie de kolom Reden).",
        "Alleen totalen: geen namen, geen losse antwoorden, geen teksten.",
        "Niveau: totaal, thema (alleen vragen met dezelfde richting), vraag, groep per vraag "
        "(uitvoering, management, beleid) en spiegel: het thema per groep, het gemiddelde van "
        "de vraaggemiddelden van die groep.",
        "Gemiddelde: 1 tot 5, één decimaal. Hoger is beter: ja, nee (hoger is minder goed) of "
        "geen van beide. Aantal mensen: ongeveer. Spreiding: alleen in woorden, en alleen "
        "waar dat niemand verraadt.",
        "Uitvoering: professionals. Management: teamleiders en managers. Beleid: "
        "beleidsmedewerkers en bestuurders.",
        attribution,
    ]
    return lines


def _nl_number(value: object) -> object:
    """A decimal comma for Dutch spreadsheets (a plain minus: a spreadsheet reads it)."""
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    return value


def csv_bytes(rows: Sequence[dict], columns: Sequence[str]) -> bytes:
    """Rows as CSV for Dutch Excel: UTF-8 with BOM, ``;``, decimal comma, CRLF."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore",
                            delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(safe_row({key: _nl_number(value) for key, value in row.items()}))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_bytes(rows: Sequence[dict], columns: Sequence[str], notes: Sequence[str], *,
               sheet: str = "Teamrapport", about: str = "Over dit bestand") -> bytes:
    """Rows as an XLSX workbook: the table (numbers as numbers), and a sheet that explains it."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    mean_col = list(columns).index(MEAN_COLUMN) + 1 if MEAN_COLUMN in columns else None
    for row in rows:
        ws.append(safe_values(row.get(c) for c in columns))
        if mean_col is not None:
            ws.cell(ws.max_row, mean_col).number_format = "0.0"
    widths = {"Thema": 40, "Vraag": 60, "Reden": 36, "Versie": 30, "Spreiding": 24,
              "Aantal mensen (ongeveer)": 14, "Niveau": 22}
    for i, name in enumerate(columns, 1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = widths.get(name, 12)
    info = wb.create_sheet(about)
    for line in notes:
        info.append(safe_values([line]))
    info.column_dimensions["A"].width = 110
    info["A1"].font = Font(bold=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_report(
    store: Store, team_id: int, fmt: str, out_path: str | Path, *, k: int,
    member_id: int | None = None, periods: list[str] | None = None,
    now: datetime | None = None,
) -> Path:
    """Write one team's report as ``csv``, ``xlsx``, ``png`` (the mirror) or ``pdf`` (one page
    for the MT or the council); returns the path.

    Raises :class:`~bot.reports.service.AccessDenied` when ``member_id`` may not read the team
    (the refusal is audited, nothing is written).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from bot.content import get_content

    content = get_content()
    report = team_report_for(store, member_id, team_id, action=f"export_{fmt}", k=k,
                             periods=periods, now=now, content=content)
    team = store.get_team(team_id)
    name = str(team["name"]) if team else str(team_id)
    path = Path(out_path)
    if fmt == "png":
        from bot.reports.charts import mirror_png

        path.write_bytes(mirror_png(build_mirror(report, content), name,
                                    source=content.praatplaat.source.attribution()))
        return path
    if fmt == "pdf":
        from bot.reports.pdf import team_pdf

        path.write_bytes(team_pdf(report, content, name, store.team_actions(team_id)))
        return path
    columns = export_columns()
    rows = export_rows(report, content, name)
    if not report.demo:
        rows += pack_export_rows(store, member_id, team_id, action=f"export_{fmt}", k=k,
                                 periods=periods, now=now, content=content, team_name=name)
    if fmt == "csv":
        path.write_bytes(csv_bytes(rows, columns))
    else:
        path.write_bytes(xlsx_bytes(rows, columns,
                                    notes_nl(report, name, content.praatplaat.source.attribution())))
    return path
