"""``teamspiegel report TEAM --format csv|xlsx|png`` through the command line's ``main()`` (in
process) on a tmp database."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.content import get_content
from bot.reports.cli import REFUSED
from bot.reports.export import COLUMNS as EXPORT_COLUMNS
from bot.store import Store
from tests.cli import clean_env, run_cli

PP = get_content().praatplaat
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECRET_TEXT = "Persoonlijk: mijn leidinggevende luistert niet"
SHARED_TEXT = "We zouden vaker samen huisbezoeken moeten doen"


def _answer(store: Store, member: int, team: int, period: str, qid: str,
            scale: int | None = None, text: str | None = None, share: bool = False) -> None:
    run = store.start_run(member, team, "tour", period)
    store.save_answer(run_id=run, member_id=member, team_id=team, role="professional",
                      theme_id=PP.theme_of(qid).id, question_id=qid, period=period,
                      content_version="test", scale=scale, text=text)
    if share:
        store.set_answer_share(run, qid, True)


@pytest.fixture
def db(tmp_path: Path) -> dict[str, Any]:
    """Team Noord: 4 answering professionals (one answers a question alone) and a manager;
    team Zuid: its own manager."""
    path = tmp_path / "teamspiegel.db"
    store = Store(path)
    noord = store.create_team("Wijkteam Noord")
    zuid = store.create_team("Wijkteam Zuid")
    with store.transaction():
        pros = [store.get_or_create_member("telegram", f"geheim-{i}", f"Naam{i}")
                for i in range(4)]
        mgr_noord = store.get_or_create_member("telegram", "baas-noord", "BaasNoord")
        mgr_zuid = store.get_or_create_member("telegram", "baas-zuid", "BaasZuid")
        for m in pros:
            store.join_team(m, noord, "professional")
        store.join_team(mgr_noord, noord, "manager")
        store.join_team(mgr_zuid, zuid, "manager")
        # read rights are granted, never chosen with the role
        store.grant_access(noord, mgr_noord, "reader", by=None, via="cli")
        store.grant_access(zuid, mgr_zuid, "reader", by=None, via="cli")
        for period in ("2026-Q2", "2026-Q3"):
            for i, m in enumerate(pros[:3]):
                _answer(store, m, noord, period, "regie-1", scale=2 + i)
                _answer(store, m, noord, period, "samenhang-1", scale=4)
                _answer(store, m, noord, period, "verandering-4",
                        text=SHARED_TEXT if i else SECRET_TEXT, share=bool(i))
        _answer(store, pros[3], noord, "2026-Q3", "bekend-1", scale=1)  # alone: hidden
    store.close()
    return {"path": path, "noord": noord, "zuid": zuid, "pros": pros, "mgr_noord": mgr_noord,
            "mgr_zuid": mgr_zuid, "tmp": tmp_path}


def teamspiegel(db: dict[str, Any], *argv: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--db", str(db["path"]), *argv, env=clean_env(), cwd=db["tmp"])


def audit(db: dict[str, Any]) -> list[dict[str, Any]]:
    store = Store(db["path"])
    try:
        return store.audit_entries()
    finally:
        store.close()


def assert_no_personal_data(text: str) -> None:
    for word in ("geheim-", "baas-", "Naam", "BaasNoord", "member", SECRET_TEXT, SHARED_TEXT,
                 "huisbezoeken"):
        assert word not in text, word


def test_csv_export_holds_aggregates_only(db: dict[str, Any]) -> None:
    out = db["tmp"] / "noord.csv"
    proc = teamspiegel(db, "report", "Wijkteam Noord", "--format", "csv", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "opgeslagen" in proc.stdout and "minstens 3 mensen" in proc.stdout
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Dutch Excel reads it right
    raw = data.decode("utf-8-sig")
    assert_no_personal_data(raw)
    rows = list(csv.DictReader(io.StringIO(raw), delimiter=";"))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert not any("member" in c for c in rows[0])
    people = "Aantal mensen (ongeveer)"
    for row in rows:
        if row["Niveau"] != "deelname":
            assert row[people] in ("", "minder dan 3", "3-4"), row  # a band, never a count
    regie = [r for r in rows if r["Niveau"] == "vraag" and r["Vraag-id"] == "regie-1"]
    assert {r["Ronde"] for r in regie} == {"Q2 2026", "Q3 2026"}
    by_period = {r["Ronde"]: r for r in regie}
    assert by_period["Q2 2026"]["Gemiddelde (1-5)"] == "3,0"  # a decimal comma
    assert by_period["Q2 2026"][people] == "3-4"
    # in Q3 one person answered 'bekend' alone: that theme is hidden, and so is the smallest
    # other theme (regie), or the total minus the shown themes would give that person's answer
    assert by_period["Q3 2026"]["Getoond"] == "nee"
    assert by_period["Q3 2026"]["Gemiddelde (1-5)"] == ""
    assert regie[0]["Thema"] == "Regie voeren" and regie[0]["Vraag"].startswith("Is bij jullie vastgelegd")
    bekend = [r for r in rows if r["Vraag-id"] == "bekend-1"]
    assert bekend and all(r["Getoond"] == "nee" and r["Gemiddelde (1-5)"] == "" for r in bekend)
    assert bekend[-1]["Reden"] == "te weinig mensen"
    assert {r["Versie"] for r in rows} == {f"algoritme 2; {get_content().version}"}
    [entry] = [e for e in audit(db) if e["action"] == "export_csv"]
    assert entry["actor_member_id"] is None and entry["team_id"] == db["noord"]


def test_xlsx_export_has_header_and_note(db: dict[str, Any]) -> None:
    out = db["tmp"] / "noord.xlsx"
    proc = teamspiegel(db, "report", str(db["noord"]), "--format", "xlsx", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    wb = openpyxl.load_workbook(out)
    ws = wb["Teamrapport"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["Team", "Ronde", "Pakket", "Niveau"] and "Gemiddelde (1-5)" in header
    values = [str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    notes = [str(v) for row in wb["Over dit bestand"].iter_rows(values_only=True) for v in row
             if v is not None]
    assert any("minstens 3 mensen" in n for n in notes)
    assert any(n.startswith("Bron: Praatplaat") for n in notes)
    assert_no_personal_data("\n".join(values + notes))
    assert "n" not in header and "sd" not in header
    n_col, level = header.index("Aantal mensen (ongeveer)"), header.index("Niveau")
    assert all(row[n_col] in (None, "", "minder dan 3", "3-4")
               for row in ws.iter_rows(min_row=2, values_only=True) if row[level] != "deelname")
    assert any(e["action"] == "export_xlsx" and e["actor_member_id"] is None
               for e in audit(db))


def test_png_export(db: dict[str, Any]) -> None:
    out = db["tmp"] / "noord.png"
    proc = teamspiegel(db, "report", "wijkteam noord", "--format", "png", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert any(e["action"] == "export_png" for e in audit(db))


def test_default_output_name(db: dict[str, Any]) -> None:
    proc = teamspiegel(db, "report", "Wijkteam Noord")
    assert proc.returncode == 0, proc.stderr
    [made] = list(db["tmp"].glob("teamrapport-wijkteam-noord-*.csv"))
    assert made.name in proc.stdout


def test_as_member_of_own_team(db: dict[str, Any]) -> None:
    out = db["tmp"] / "own.csv"
    proc = teamspiegel(db, "report", "Wijkteam Noord", "--as-member", str(db["mgr_noord"]),
                       "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert any(e["action"] == "export_csv" and e["actor_member_id"] == db["mgr_noord"]
               for e in audit(db))


@pytest.mark.parametrize("who", ["mgr_zuid", "professional"])
def test_as_member_of_another_team_is_refused(db: dict[str, Any], who: str) -> None:
    member = db["pros"][0] if who == "professional" else db[who]
    out = db["tmp"] / "leak.xlsx"
    proc = teamspiegel(db, "report", "Wijkteam Noord", "--format", "xlsx", "--as-member",
                       str(member), "-o", str(out))
    assert proc.returncode == 1
    assert proc.stderr.strip() == REFUSED
    assert proc.stdout == ""
    assert not out.exists()
    # the same words for a team that does not exist: a refusal tells nothing about the team
    other = teamspiegel(db, "report", "Bestaat Niet", "--format", "xlsx", "--as-member",
                        str(member), "-o", str(out))
    assert other.returncode == 1 and other.stderr == proc.stderr and other.stdout == ""
    assert "Noord" not in proc.stderr + other.stderr
    denied = [e for e in audit(db) if e["action"] == "export_xlsx:denied"]
    assert [e["actor_member_id"] for e in denied] == [member, member]
    assert [e["team_id"] for e in denied] == [db["noord"], None]
    assert not any(e["action"] == "export_xlsx" for e in audit(db))


def test_operator_unknown_team(db: dict[str, Any]) -> None:
    proc = teamspiegel(db, "report", "Bestaat Niet")
    assert proc.returncode == 1
    assert "bestaat niet" in proc.stderr


def test_web_command_is_registered(db: dict[str, Any]) -> None:
    proc = teamspiegel(db, "--help")
    assert proc.returncode == 0
    assert "het dashboard starten" in proc.stdout
    assert "teamrapport exporteren" in proc.stdout
