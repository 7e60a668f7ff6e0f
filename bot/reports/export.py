"""Exports of one team's report: CSV, XLSX (aggregates only) and the PNG chart.

Every export goes through :func:`bot.reports.service.team_report_for`, so it is access-checked
(when a member asks), written to the audit log (``member_id=None``: the operator on the command
line) and built from the team's published snapshots, like every other view. The tables come from
:func:`bot.reports.aggregate.report_to_rows`: what a view shows (mean with one decimal, the number
of people as a band, the spread in words where allowed), never a member id, an individual answer,
an exact count or a free text. Hidden cells are listed with empty numbers and their reason.

The dashboard's downloads use :func:`csv_bytes` and :func:`xlsx_bytes` from here too, so every
report CSV/XLSX is written in this one module, and every cell through :mod:`bot.spreadsheet`
(no cell a spreadsheet would run as a formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.reports.aggregate import EXPORT_COLUMNS, REASONS_NL, TeamReport, report_to_rows
from bot.reports.charts import theme_chart_png
from bot.reports.demo import DEMO_NOTE
from bot.reports.service import team_report_for, theme_titles
from bot.spreadsheet import safe_row, safe_values
from bot.store import Store

__all__ = ["FORMATS", "csv_bytes", "export_columns", "export_report", "export_rows",
           "notes_nl", "pack_export_rows", "xlsx_bytes"]

FORMATS = ("csv", "xlsx", "png")


def export_columns() -> list[str]:
    """The columns of ``report_to_rows`` plus a readable theme title and a Dutch reason, and
    the content pack each row belongs to (each pack its own rows: never a total across packs)."""
    columns = list(EXPORT_COLUMNS)
    columns.insert(columns.index("theme_id"), "pack")
    columns.insert(columns.index("theme_id") + 1, "theme_title")
    columns.insert(columns.index("reason") + 1, "reason_nl")
    return columns


def export_rows(report: TeamReport, titles: dict[str, str],
                pack: str = "praatplaat") -> list[dict]:
    """``report_to_rows`` with a theme title and a Dutch reason next to the ids."""
    rows = report_to_rows(report)
    for row in rows:
        theme_id = row.get("theme_id")
        row["pack"] = pack
        row["theme_title"] = titles.get(theme_id, theme_id) if theme_id else None
        reason = row.get("reason")
        row["reason_nl"] = REASONS_NL.get(reason, reason) if reason else None
    return rows


def pack_export_rows(store: Store, member_id: int | None, team_id: int, *, action: str, k: int,
                     periods: list[str] | None = None, now: datetime | None = None,
                     content: object | None = None) -> list[dict]:
    """The rows of every other content pack the team answered, each pack its own rows (the
    same access check and audit as the Praatplaat's view)."""
    from bot.reports.service import pack_reports_for

    rows: list[dict] = []
    for pack, report in pack_reports_for(store, member_id, team_id, action=action, k=k,
                                         now=now, content=content):
        titles = {u.id: u.title for u in pack.units}  # type: ignore[attr-defined]
        rows += [r for r in export_rows(report, titles, pack=pack.id)  # type: ignore[attr-defined]
                 if periods is None or r["period"] in periods]
    return rows


def notes_nl(report: TeamReport, team_name: str, attribution: str) -> list[str]:
    """The "about this file" lines of a spreadsheet."""
    lines = [
        f"Teamspiegel – teamrapport {team_name}",
        f"Gemaakt op {datetime.now(UTC).strftime('%d-%m-%Y %H:%M')} UTC",
    ]
    if report.demo:
        lines.append(f"{DEMO_NOTE}: dit is een voorbeeld, geen echt team.")
    lines += [
        "Alleen afgesloten rondes: de cijfers van een ronde liggen vast zodra die sluit.",
        f"Alleen groepen van minstens {report.k} mensen worden getoond; een lege cel is "
        "verborgen (zie de kolom reason_nl).",
        "Alleen totalen: geen namen, geen losse antwoorden, geen teksten.",
        "mean = gemiddelde (1-5, één decimaal), n_band = aantal mensen (ongeveer), "
        "spread = hoeveel de antwoorden verschillen (alleen waar dat niemand verraadt), "
        "version = versie van de berekening en van de vragen.",
        attribution,
    ]
    return lines


def csv_bytes(rows: Sequence[dict], columns: Sequence[str]) -> bytes:
    """Rows as UTF-8 CSV (header first, CRLF line ends)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(safe_row(row) for row in rows)
    return buf.getvalue().encode("utf-8")


def xlsx_bytes(rows: Sequence[dict], columns: Sequence[str], notes: Sequence[str], *,
               sheet: str = "Teamrapport", about: str = "Over dit bestand") -> bytes:
    """Rows as an XLSX workbook: the table, and a sheet that explains it."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for row in rows:
        ws.append(safe_values(row.get(c) for c in columns))
    widths = {"theme_title": 40, "reason_nl": 40, "question_id": 18, "theme_id": 16,
              "version": 36, "spread": 16}
    for i, name in enumerate(columns, 1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = widths.get(name, 11)
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
    """Write one team's report as ``csv``, ``xlsx`` or ``png``; returns the path.

    Raises :class:`~bot.reports.service.AccessDenied` when ``member_id`` may not read the team
    (the refusal is audited, nothing is written).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from bot.content import get_content

    content = get_content()
    report = team_report_for(store, member_id, team_id, action=f"export_{fmt}", k=k,
                             periods=periods, now=now, content=content)
    titles = theme_titles(content)
    path = Path(out_path)
    if fmt == "png":
        path.write_bytes(theme_chart_png(report, titles))
        return path
    columns = export_columns()
    rows = export_rows(report, titles)
    if not report.demo:
        rows += pack_export_rows(store, member_id, team_id, action=f"export_{fmt}", k=k,
                                 periods=periods, now=now, content=content)
    if fmt == "csv":
        path.write_bytes(csv_bytes(rows, columns))
    else:
        team = store.get_team(team_id)
        name = str(team["name"]) if team else str(team_id)
        path.write_bytes(xlsx_bytes(rows, columns,
                                    notes_nl(report, name, content.praatplaat.source.attribution())))
    return path
