"""Reports of a team that answers several content packs: each pack its own section.

A real Engine on a real SQLite file with the report hooks installed. The Praatplaat and every
other pack are published as separate snapshots when the team's round closes; no number of one
pack is ever averaged with another's, and the anonymity rules (k others, texts only with
consent and from k people) hold in every pack's section.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.content import Pack, get_content
from bot.engine.core import Engine
from bot.packs import choose_packs
from bot.reports.chat import install
from bot.reports.service import (
    AccessDenied,
    pack_reports_for,
    snapshot_kind,
    team_report,
)
from bot.store import Store
from tests.people import Person
from tests.test_reports_chat import grant

CONTENT = get_content()
PP = CONTENT.praatplaat
BU = CONTENT.pack("beleidsuitgangspunten")
CASUS = CONTENT.pack("casus")
assert isinstance(BU, Pack) and isinstance(CASUS, Pack)
Q = "2026-Q3"
NOW = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # Q4 2026: Q3 has closed


def answer(store: Store, person: Person, team_id: int, pack: str, scope: str,
           scales: dict[str, int], texts: dict[str, tuple[str, bool]] | None = None) -> None:
    """One run of ``person`` in Q3 in one pack, stored as the reflection flow stores it."""
    obj = CONTENT.pack(pack)
    with store.transaction():
        run = store.start_run(person.id, team_id, scope, Q, pack=pack,
                              pack_version=str(obj.version))
        role = store.role_in_team(person.id, team_id) or "professional"
        items = [(q, s, None) for q, s in scales.items()]
        items += [(q, None, t) for q, (t, _) in (texts or {}).items()]
        for qid, scale, text in items:
            store.save_answer(run_id=run, member_id=person.id, team_id=team_id, role=role,
                              theme_id=obj.theme_of(qid).id, question_id=qid, period=Q,
                              content_version=f"{pack}={obj.version}", scale=scale, text=text,
                              pack=pack, pack_version=str(obj.version))
        for qid, (_, share) in (texts or {}).items():
            store.set_answer_share(run, qid, share)


@pytest.fixture
def hooked(engine: Engine, store: Store) -> Engine:
    engine.clock = lambda: NOW
    install(engine, Settings(db_path=Path(store.path)))
    return engine


@pytest.fixture
def oost(hooked: Engine, store: Store) -> dict:
    """Wijkteam Oost uses the cases and the policy principles. Three professionals answer the
    Praatplaat with 5s and Robert's case; three policy officers answer zelfredzaamheid with 1s."""
    team_id = store.create_team("Wijkteam Oost")
    code = store.create_invite(team_id)
    choose_packs(store, CONTENT, team_id, on=["casus", "beleidsuitgangspunten"])
    reader = grant(store, team_id, Person(hooked, "lezer").onboard("manager", code))
    pros = [Person(hooked, f"pro{i}").onboard("professional", code) for i in range(3)]
    pols = [Person(hooked, f"pol{i}").onboard("beleid", code) for i in range(3)]
    for i, p in enumerate(pros):
        answer(store, p, team_id, "praatplaat", "tour", {"regie-1": 5, "regie-2": 5})
        answer(store, p, team_id, "casus", "robert", {},
               {"robert-1": (f"Robert zelf laten kiezen {i}", True),
                "robert-2": (f"Alleen voor mij {i}", False)})
    for p in pols:
        answer(store, p, team_id, "beleidsuitgangspunten", "tour", {"zelfredzaamheid-1": 1},
               {"zelfredzaamheid-1": ("Te weinig tijd", True)})
    # only two share a text of the Apeldoorn case: below k, never shown
    for p in pros[:2]:
        answer(store, p, team_id, "casus", "apeldoorn", {},
               {"apeldoorn-1": ("Apeldoorn-geheim", True)})
    return {"id": team_id, "reader": reader, "pros": pros, "pols": pols}


def test_every_pack_is_published_as_its_own_snapshot(store: Store, oost: dict) -> None:
    team_id = oost["id"]
    praatplaat = team_report(store, team_id, now=NOW)
    # the Praatplaat's numbers are the Praatplaat's only: no policy officer's 1 in them
    [total] = [c for c in praatplaat.totals if c.period == Q]
    assert total.shown and total.mean == 5.0
    assert {c.theme_id for c in praatplaat.themes if c.period == Q} <= {t.id for t in PP.themes}
    assert not [t for t in praatplaat.texts if t.theme_id in ("robert", "zelfredzaamheid")]
    kinds = {r[0] for r in store.conn.execute(
        "SELECT kind FROM snapshots WHERE team_id = ? AND period = ?", (team_id, Q))}
    assert kinds == {"reflection", "reflection:casus", "reflection:beleidsuitgangspunten"}
    assert snapshot_kind("casus") == "reflection:casus"
    bu = team_report(store, team_id, now=NOW, pack="beleidsuitgangspunten")
    [cell] = [c for c in bu.questions if c.question_id == "zelfredzaamheid-1" and c.period == Q]
    assert cell.shown and cell.mean == 1.0
    [bu_total] = [c for c in bu.totals if c.period == Q]
    assert bu_total.mean == 1.0  # the pack's own total, from its own answers only
    version = store.conn.execute(
        "SELECT content_version FROM snapshots WHERE kind = 'reflection:casus'").fetchone()[0]
    assert version == f"casus={CASUS.version}"


def test_pack_sections_in_rapport(hooked: Engine, store: Store, oost: dict) -> None:
    reader: Person = oost["reader"]
    reader.type("/rapport")
    texts = [r.text for r in reader.last]
    casus = next(t for t in texts if t.startswith(f"{CASUS.title} – Wijkteam Oost"))
    bu = next(t for t in texts if t.startswith(f"{BU.title} – Wijkteam Oost"))
    # shared by three: shown, without a name; kept private or shared by two: never
    assert "Robert zelf laten kiezen" in casus and "• Robert" in casus
    assert "Alleen voor mij" not in "\n".join(texts)
    assert "Apeldoorn-geheim" not in "\n".join(texts)
    assert CASUS.source.attribution() in casus
    assert "gemiddeld 1,0" in bu and "Te weinig tijd" in bu
    # and the Praatplaat block still says 5,0 over all its themes
    assert "Gemiddeld over de thema's: 5,0" in texts[0]
    audit = [a["action"] for a in store.audit_entries(oost["id"])]
    assert "chat_report:packs" in audit


def test_a_viewer_is_not_counted_in_a_pack_section(hooked: Engine, store: Store,
                                                   oost: dict) -> None:
    """k counts people other than the reader: a policy officer who answered and may read sees
    the pack's cell from only two others, so it is hidden for them."""
    pol: Person = oost["pols"][0]
    grant(store, oost["id"], pol)
    [(pack, report)] = [(p, r) for p, r in pack_reports_for(
        store, pol.id, oost["id"], action="test", now=NOW) if p.id == "beleidsuitgangspunten"]
    [cell] = [c for c in report.questions if c.question_id == "zelfredzaamheid-1"]
    assert not cell.shown


def test_pack_reports_need_a_read_right(hooked: Engine, store: Store, oost: dict) -> None:
    pro: Person = oost["pros"][0]
    with pytest.raises(AccessDenied):
        pack_reports_for(store, pro.id, oost["id"], action="test", now=NOW)
    assert any(a["action"] == "test:packs:denied" for a in store.audit_entries(oost["id"]))
    pro.type("/rapport")
    assert hooked.dialogues.text("not_manager") in "\n".join(r.text for r in pro.last)


def test_exports_list_each_pack_in_its_own_rows(store: Store, oost: dict, tmp_path) -> None:  # noqa: ANN001
    import csv

    from bot.reports.export import export_report

    path = export_report(store, oost["id"], "csv", tmp_path / "oost.csv", k=3,
                         member_id=oost["reader"].id, now=NOW)
    from bot.reports.aggregate import period_label_nl

    # a CSV for Dutch Excel: BOM, ';', Dutch headers and a decimal comma
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines(),
                               delimiter=";"))
    packs = {r["Pakket"] for r in rows}
    assert packs == {"praatplaat", "casus", "beleidsuitgangspunten"}
    totals = {r["Pakket"]: r["Gemiddelde (1-5)"] for r in rows
              if r["Niveau"] == "totaal" and r["Ronde"] == period_label_nl(Q)}
    assert totals["praatplaat"] == "5,0" and totals["beleidsuitgangspunten"] == "1,0"
    [cell] = [r for r in rows if r["Vraag-id"] == "zelfredzaamheid-1" and r["Niveau"] == "vraag"]
    assert cell["Thema"] == "Zelfredzaamheid"
    # aggregates only: no text of anybody in any pack's rows
    assert "Robert zelf laten kiezen" not in path.read_text(encoding="utf-8")


def said(person: Person) -> list[str]:
    """What the last turn answered, without the menu shown after it."""
    return [r.text for r in person.last if not r.is_prompt]


def test_rapport_of_one_pack_or_one_part(hooked: Engine, store: Store, oost: dict) -> None:
    """``/rapport casus`` shows that pack's section only; ``/rapport zelfredzaamheid`` (or the
    pack and the part's number) only that part; the overview says how to ask for a pack."""
    reader: Person = oost["reader"]
    reader.type("/rapport")
    overview = "\n".join(said(reader))
    assert "/rapport casus" in overview and "/rapport beleidsuitgangspunten" in overview
    reader.type("/rapport casus")
    [casus] = said(reader)
    assert casus.startswith(f"{CASUS.title} – Wijkteam Oost")
    assert "Robert zelf laten kiezen" in casus and "Te weinig tijd" not in casus
    assert "Alleen voor mij" not in casus and "Apeldoorn-geheim" not in casus
    for ask in ("/rapport zelfredzaamheid", "/rapport beleidsuitgangspunten 1"):
        reader.type(ask)
        [part] = said(reader)
        assert part.startswith(f"{BU.title} – Wijkteam Oost"), ask
        assert "• 1. Zelfredzaamheid" in part and "Te weinig tijd" in part, ask
        assert "Robert" not in part and "Gemiddeld over de thema's" not in part, ask
    reader.type("/rapport casus robert")
    [robert] = said(reader)
    assert "• Robert" in robert and "Robert zelf laten kiezen" in robert
    reader.type("/rapport xyzzy")
    assert said(reader) == [hooked.dialogues.text("report_unknown")]
    # a member without a read right learns nothing about the pack
    pro: Person = oost["pros"][0]
    pro.type("/rapport casus")
    assert "Robert zelf laten kiezen" not in "\n".join(said(pro))
    assert "chat_report_pack:packs" in [a["action"] for a in store.audit_entries(oost["id"])]


def test_a_part_named_in_several_packs_is_asked_about() -> None:
    from bot.reports.chat import resolve_pack_part

    sturing = CONTENT.pack("sturing")
    found = resolve_pack_part([BU, sturing], "van")
    assert found is not None and found[0] is None
    assert {p for p, _, _ in found[1]} == {"beleidsuitgangspunten", "sturing"}
    assert resolve_pack_part([BU, sturing], "sturing 2") == (
        "sturing", [("sturing", "minder-kpis", "2. Minder KPI's, die er echt toe doen")])
    assert resolve_pack_part([BU, sturing], "Beleidsuitgangspunten") == (
        "beleidsuitgangspunten", [])
    assert resolve_pack_part([BU], "zz") is None
