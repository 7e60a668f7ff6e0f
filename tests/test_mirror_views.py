"""The mirror in every view: chat, dashboard, CSV, XLSX and PDF, on real SQLite files.

Two teams answered Q4 2025 and Q1 2026 (the clock stands in Q2 2026):

- "Wijkteam Spiegel": 4 professionals, 3 managers, 3 policy officers (one of them answering as
  bestuurder); regie voeren is seen as 2,5 by uitvoering, 3,0 by management and 4,0 by beleid;
- "Wijkteam Klein": 4 professionals, 3 managers and 2 policy officers: beleid is below k and is
  hidden in every view (and one more group with it, so that it cannot be subtracted).

A policy officer ("Bea", a reader of both teams but not of "Wijkteam Ander") reads them side by
side; she never sees a team she may not read. The PDF is rendered to PNG with pdftoppm and its
text read with pdftotext (Debian's poppler-utils, installed by scripts/test.sh).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.reports.chat import install
from bot.store import Store
from bot.web import create_app
from tests.people import Person
from tests.web_support import Clock, login, nl_float, read_csv

PP = get_content().praatplaat
START = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: per layer: (role of each member, regie level, samenhang level)
LAYERS = {
    "uitvoering": (["professional"] * 4, [2, 3, 2, 3], 3),
    "management": (["manager"] * 3, [3, 3, 3], 4),
    "beleid": (["beleid", "beleid", "bestuurder"], [4, 4, 4], 4),
}
GAP = "Beleid ziet regie voeren als 4,0, de uitvoering als 2,5."


@dataclass
class MirrorSeed:
    spiegel: int
    klein: int
    ander: int
    bea: int  # reader of spiegel and klein (answers in neither)
    member: int  # a professional of spiegel
    ander_reader: int


def _answer(store: Store, mid: int, team: int, period: str, role: str,
            scales: dict[str, int]) -> None:
    run = store.start_run(mid, team, "tour", period)
    for qid, scale in scales.items():
        store.save_answer(run_id=run, member_id=mid, team_id=team, role=role,
                          theme_id=PP.theme_of(qid).id, question_id=qid, period=period,
                          content_version="test", scale=scale)
    store.finish_run(run)


def _join(store: Store, name: str, team: int, role: str, platform: str = "console") -> int:
    mid = store.get_or_create_member(platform, name)
    store.set_consent(mid)
    store.join_team(mid, team, role)
    return mid


def _team(store: Store, name: str, beleid: int) -> tuple[int, list[int]]:
    team = store.create_team(name)
    members = []
    for group, (roles, regie, samenhang) in LAYERS.items():
        for i, role in enumerate(roles[:beleid] if group == "beleid" else roles):
            mid = _join(store, f"{name}-{group}-{i}", team, role)
            members.append(mid)
            for period, shift in (("2025-Q4", -1 if group == "uitvoering" else 0),
                                  ("2026-Q1", 0)):
                level = max(1, regie[i] + shift)
                _answer(store, mid, team, period, role, {
                    "regie-1": level, "regie-2": level, "regie-3": level,
                    "samenhang-1": samenhang, "samenhang-2": samenhang,
                    "samenhang-3": samenhang, "samenhang-4": samenhang,
                    # "working from different assignments": higher is worse
                    "opdrachten-1": 5 if group == "uitvoering" else 2,
                })
    return team, members


def seed_mirror(store: Store) -> MirrorSeed:
    with store.transaction():
        spiegel, members = _team(store, "Wijkteam Spiegel", beleid=3)
        klein, _ = _team(store, "Wijkteam Klein", beleid=2)
        ander, _ = _team(store, "Wijkteam Ander", beleid=3)
        bea = _join(store, "bea", spiegel, "beleid")
        store.join_team(bea, klein, "beleid")
        store.join_team(bea, ander, "beleid")  # a member there, but no read right
        for team in (spiegel, klein):
            store.grant_access(team, bea, "reader", by=None, via="cli")
        ander_reader = _join(store, "ander-lezer", ander, "manager")
        store.grant_access(ander, ander_reader, "reader", by=None, via="cli")
    return MirrorSeed(spiegel, klein, ander, bea, members[0], ander_reader)


@pytest.fixture
def mseed(store: Store) -> MirrorSeed:
    return seed_mirror(store)


@pytest.fixture
def client(store: Store, settings: Settings, mseed: MirrorSeed) -> Iterator[TestClient]:
    app = create_app(store, settings, clock=Clock(START))
    with TestClient(app, follow_redirects=False) as c:
        yield c


def _text(html: str) -> str:
    import re
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --------------------------------------------------------------------------------------------
# Dashboard


def test_dashboard_shows_the_gap_per_theme(client: TestClient, store: Store, settings: Settings,
                                           mseed: MirrorSeed) -> None:
    login(client, store, settings, mseed.bea)
    r = client.get(f"/team/{mseed.spiegel}")
    assert r.status_code == 200
    html = r.text
    text = _text(html)
    assert GAP in text
    # the regie row: team, uitvoering, management, beleid (with trends against Q4 2025)
    row = html[html.index('data-row="4"'):]
    row = row[:row.index("</tbody>")]
    for group, mean in (("team", "3.1"), ("uitvoering", "2.5"), ("management", "3.0"),
                        ("beleid", "4.0")):
        assert f'data-group="{group}" data-mean="{mean}"' in row, (group, row)
    assert "▲" in row  # uitvoering rose from 1,5 to 2,5
    # theme 2 has one scale item, where higher is worse: said so, and no theme score
    assert "2.1. Omgaan met conflicterende opdrachten" in text
    assert "hoger is minder goed" in text and "(één vraag)" in text
    assert "Deelname: 10 van de 11 teamleden" not in text  # one non-participant: no exact count
    assert "8 of meer van de 11 teamleden" in text


def test_a_group_below_k_is_hidden_on_the_dashboard(client: TestClient, store: Store,
                                                    settings: Settings,
                                                    mseed: MirrorSeed) -> None:
    login(client, store, settings, mseed.bea)
    html = client.get(f"/team/{mseed.klein}").text
    assert 'data-group="beleid" data-mean' not in html  # two policy officers: never a number
    assert "Beleid ziet" not in html
    theme = client.get(f"/team/{mseed.klein}/thema/regie").text
    assert 'data-group="beleid" data-mean' not in theme
    assert 'data-group="uitvoering" data-mean="2.5"' in theme  # the biggest group stays


def test_the_mirror_across_teams_never_includes_a_team_the_reader_may_not_read(
    client: TestClient, store: Store, settings: Settings, mseed: MirrorSeed,
) -> None:
    login(client, store, settings, mseed.bea)
    r = client.get("/")
    text = _text(r.text)
    assert "De spiegel naast elkaar" in text
    assert "Wijkteam Spiegel" in text and "Wijkteam Klein" in text
    assert "Wijkteam Ander" not in text  # a member there, but without a read right
    assert client.get(f"/team/{mseed.ander}").status_code == 403


def test_theme_page_has_each_question_per_group_and_the_plate(
    client: TestClient, store: Store, settings: Settings, mseed: MirrorSeed,
) -> None:
    login(client, store, settings, mseed.bea)
    html = client.get(f"/team/{mseed.spiegel}/thema/regie").text
    for qid in ("4.1", "4.2", "4.3"):
        assert f'data-row="{qid}"' in html
    png = client.get(f"/team/{mseed.spiegel}/thema/regie/gespreksplaat.png")
    assert png.status_code == 200 and png.content.startswith(PNG_MAGIC)
    pdf = client.get(f"/team/{mseed.spiegel}/thema/regie/gespreksplaat.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = pdf_text(pdf.content)
    assert "Praat erover" in text and "Tip van de Verjaardagskalender" in text
    assert "Stel sociaal team samen" in text  # January's tip goes with regie voeren
    assert client.get(f"/team/{mseed.ander}/thema/regie/gespreksplaat.pdf").status_code == 403


# --------------------------------------------------------------------------------------------
# Exports


def test_csv_for_dutch_excel_shows_the_gap_and_hides_a_small_group(
    client: TestClient, store: Store, settings: Settings, mseed: MirrorSeed,
) -> None:
    login(client, store, settings, mseed.bea)
    rows = read_csv(client.get(f"/team/{mseed.spiegel}/export.csv").content)
    mirror = [r for r in rows if r["Niveau"] == "spiegel: thema per groep"
              and r["Ronde"] == "Q1 2026" and r["Thema"] == "Regie voeren"]
    assert {r["Groep"]: nl_float(r["Gemiddelde (1-5)"]) for r in mirror} == {
        "Uitvoering": 2.5, "Management": 3.0, "Beleid": 4.0}
    groups = [r for r in rows if r["Niveau"] == "groep per vraag" and r["Vraag-id"] == "regie-1"
              and r["Ronde"] == "Q1 2026"]
    assert {r["Groep"] for r in groups} == {"Uitvoering", "Management", "Beleid"}
    assert all(r["Vraag"].startswith("Is bij jullie vastgelegd") for r in groups)
    opdrachten = next(r for r in rows if r["Vraag-id"] == "opdrachten-1")
    assert opdrachten["Hoger is beter"] == "nee"

    small = read_csv(client.get(f"/team/{mseed.klein}/export.csv").content)
    beleid = [r for r in small if r["Groep"] == "Beleid"]
    assert beleid and all(r["Getoond"] == "nee" and r["Gemiddelde (1-5)"] == ""
                          for r in beleid)


def test_xlsx_holds_the_same_mirror(client: TestClient, store: Store, settings: Settings,
                                    mseed: MirrorSeed) -> None:
    login(client, store, settings, mseed.bea)
    wb = openpyxl.load_workbook(io.BytesIO(client.get(
        f"/team/{mseed.spiegel}/export.xlsx").content))
    values = list(wb["Teamspiegel"].iter_rows(values_only=True))
    header = values[0]
    recs = [dict(zip(header, row, strict=True)) for row in values[1:]]
    beleid = next(r for r in recs if r["Niveau"] == "spiegel: thema per groep"
                  and r["Ronde"] == "Q1 2026" and r["Thema"] == "Regie voeren"
                  and r["Groep"] == "Beleid")
    assert beleid["Gemiddelde (1-5)"] == 4.0
    small = openpyxl.load_workbook(io.BytesIO(client.get(
        f"/team/{mseed.klein}/export.xlsx").content))
    rows = list(small["Teamspiegel"].iter_rows(values_only=True))
    g, m = rows[0].index("Groep"), rows[0].index("Gemiddelde (1-5)")
    assert all(row[m] is None for row in rows[1:] if row[g] == "Beleid")


def pdf_text(data: bytes) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) is needed: scripts/test.sh"
    proc = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                          check=True, timeout=60)
    return " ".join(proc.stdout.decode("utf-8").split())


def test_the_pdf_is_one_page_with_the_mirror(client: TestClient, store: Store,
                                             settings: Settings, mseed: MirrorSeed,
                                             tmp_path: Path) -> None:
    login(client, store, settings, mseed.bea)
    r = client.get(f"/team/{mseed.spiegel}/rapport.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    path = tmp_path / "rapport.pdf"
    path.write_bytes(r.content)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert "Pages:           1" in info.stdout
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(tmp_path / "page")],
                   check=True, timeout=60)
    page = (tmp_path / "page-1.png").read_bytes()
    assert page.startswith(PNG_MAGIC) and len(page) > 5_000
    text = pdf_text(r.content)
    assert "Teamspiegel – Wijkteam Spiegel – Q1 2026" in text
    assert GAP in text
    for word in ("Uitvoering", "Management", "Beleid", "Bron: Praatplaat"):
        assert word in text
    small = pdf_text(client.get(f"/team/{mseed.klein}/rapport.pdf").content)
    assert "Beleid" in small and "Beleid ziet" not in small


# --------------------------------------------------------------------------------------------
# Chat


@pytest.fixture
def chat(engine: Engine, store: Store, mseed: MirrorSeed) -> Engine:
    engine.clock = lambda: START
    install(engine, Settings(db_path=Path(store.path)))
    return engine


def _person(engine: Engine, user: str, store: Store) -> Person:
    """A seeded member as a chat user: a conversation in the menu."""
    from bot.store import Conversation

    mid = store.member_id("console", user)
    assert mid is not None
    team = store.memberships(mid)[0]
    with store.transaction():
        store.save_conversation(Conversation(None, "console", user, mid, "menu.main",
                                             {"role": team["role"], "team_id": team["team_id"],
                                              "consented": True}))
    return Person(engine, user)


def test_spiegel_in_the_chat(chat: Engine, store: Store, mseed: MirrorSeed) -> None:
    bea = _person(chat, "bea", store)
    replies = bea.type("/spiegel")
    text = bea.text()
    assert "Teamspiegel Wijkteam Spiegel (Q1 2026)" in text
    assert GAP in text
    assert "Teamspiegel Wijkteam Klein" in text
    assert "Wijkteam Ander" not in text
    assert "Teams naast elkaar" in text
    assert any(r.image and r.image[1].startswith(PNG_MAGIC) for r in replies)
    klein = text[text.index("Teamspiegel Wijkteam Klein"):text.index("Teamspiegel Wijkteam Spiegel")]
    assert "beleid –" in klein and "Beleid ziet" not in klein


def test_teamspiegel_for_every_member(chat: Engine, store: Store, mseed: MirrorSeed) -> None:
    user = store.get_member(mseed.member)["platform_user_id"]
    member = _person(chat, user, store)
    member.type("/teamspiegel")
    text = member.text()
    assert "Teamspiegel Wijkteam Spiegel (Q1 2026)" in text
    assert "Dit zei jullie team samen" in text and GAP in text
    member.type("/spiegel")  # no read right: the mirror of all teams is not theirs
    assert "leesrecht" in member.text()


def test_gespreksplaat_in_the_chat(chat: Engine, store: Store, mseed: MirrorSeed) -> None:
    bea = _person(chat, "bea", store)
    bea.type("/gespreksplaat")
    assert "/gespreksplaat 4 – Regie voeren" in bea.text()
    replies = bea.type("/gespreksplaat regie")
    plates = [r for r in replies if r.document]
    assert len(plates) == 2  # one per team Bea reads, never Wijkteam Ander
    assert all(r.image[1].startswith(PNG_MAGIC) for r in plates)
    text = pdf_text(plates[-1].document[1])
    assert "Regie voeren" in text and "Praat erover" in text
    assert "Wijkteam Ander" not in bea.text()
