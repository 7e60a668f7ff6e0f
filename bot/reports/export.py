"""Exports of one team's report: CSV, XLSX (aggregates only) and the PNG chart.

Every export goes through :func:`bot.reports.service.team_report_for`, so it is access-checked
(when a member asks) and written to the audit log (``member_id=None``: the operator on the
command line). The tables come from :func:`bot.reports.aggregate.report_to_rows`: aggregates
only, never a member id, an individual answer or a free text. Hidden cells are listed with
empty numbers and their reason.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from bot.reports.aggregate import EXPORT_COLUMNS, REASONS_NL, TeamReport, report_to_rows
from bot.reports.charts import theme_chart_png
from bot.reports.service import team_report_for, theme_titles
from bot.spreadsheet import safe_row, safe_values
from bot.store import Store

__all__ = ["FORMATS", "export_columns", "export_report", "export_rows"]

FORMATS = ("csv", "xlsx", "png")


def export_columns() -> list[str]:
    """The columns of ``report_to_rows`` plus a readable theme title and a Dutch reason."""
    columns = list(EXPORT_COLUMNS)
    columns.insert(columns.index("theme_id") + 1, "theme_title")
    columns.insert(columns.index("reason") + 1, "reason_nl")
    return columns


def export_rows(report: TeamReport, titles: dict[str, str]) -> list[dict]:
    """``report_to_rows`` with a theme title and a Dutch reason next to the ids."""
    rows = report_to_rows(report)
    for row in rows:
        theme_id = row.get("theme_id")
        row["theme_title"] = titles.get(theme_id, theme_id) if theme_id else None
        reason = row.get("reason")
        row["reason_nl"] = REASONS_NL.get(reason, reason) if reason else None
    return rows


def _notes(report: TeamReport, team_name: str, attribution: str) -> list[str]:
    return [
        f"Teamspiegel – teamrapport {team_name}",
        f"Gemaakt op {datetime.now(UTC).strftime('%d-%m-%Y %H:%M')} UTC",
        f"Alleen groepen van minstens {report.k} mensen worden getoond; een lege cel is verborgen "
        "(zie de kolom reason_nl).",
        "Alleen totalen: geen namen, geen losse antwoorden, geen teksten.",
        "mean = gemiddelde (1-5), sd = spreiding (standaardafwijking), n = aantal mensen, "
        "n_answers = aantal antwoorden, low/mid/high = aantal mensen met 1-2 / 3 / 4-5.",
        attribution,
    ]


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(safe_row(row))


def _write_xlsx(path: Path, rows: list[dict], columns: list[str], notes: list[str]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Teamrapport"
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for row in rows:
        ws.append(safe_values(row.get(c) for c in columns))
    widths = {"theme_title": 40, "reason_nl": 40, "question_id": 18, "theme_id": 16}
    for i, name in enumerate(columns, 1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = widths.get(name, 11)
    info = wb.create_sheet("Over dit bestand")
    for line in notes:
        info.append(safe_values([line]))
    info.column_dimensions["A"].width = 110
    info["A1"].font = Font(bold=True)
    wb.save(path)


def export_report(
    store: Store, team_id: int, fmt: str, out_path: str | Path, *, k: int,
    member_id: int | None = None, periods: list[str] | None = None,
) -> Path:
    """Write one team's report as ``csv``, ``xlsx`` or ``png``; returns the path.

    Raises :class:`~bot.reports.service.AccessDenied` when ``member_id`` may not read the team
    (the refusal is audited, nothing is written).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from bot.content import get_content

    report = team_report_for(store, member_id, team_id, action=f"export_{fmt}", k=k,
                             periods=periods)
    content = get_content()
    titles = theme_titles(content)
    path = Path(out_path)
    if fmt == "png":
        path.write_bytes(theme_chart_png(report, titles))
        return path
    columns = export_columns()
    rows = export_rows(report, titles)
    if fmt == "csv":
        _write_csv(path, rows, columns)
    else:
        team = store.get_team(team_id)
        name = str(team["name"]) if team else str(team_id)
        _write_xlsx(path, rows, columns,
                    _notes(report, name, content.praatplaat.source.attribution()))
    return path
