"""/rapport, /rapport THEMA, /dashboard and follow-ups in /mijnreflecties, in process.

A real Engine on a real SQLite file with the report hooks installed the way the app does it.
People join through invite codes in the chat; their answers are stored with
``store.save_answer`` (the same call the reflection flow makes) so that periods can be chosen.
The engine's clock stands in Q4 2026, so Q2 and Q3 2026 are closed and published when first
viewed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import install_plugins
from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.flows import default_dialogues
from bot.engine.messages import Reply
from bot.reports.aggregate import format_number_nl
from bot.store import Store
from tests.people import Person

PLATFORM = "console"
UNKNOWN_ARG = default_dialogues().text("report_unknown")
PP = get_content().praatplaat
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Q1, Q2 = "2026-Q2", "2026-Q3"
NOW = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # Q4 2026: Q2 and Q3 have closed


def answer(store: Store, person: Person, team_id: int, period: str,
           scales: dict[str, int], texts: dict[str, tuple[str, bool]] | None = None) -> None:
    """One run of ``person`` in ``period``: scale answers and (text, share) answers."""
    with store.transaction():
        run = store.start_run(person.id, team_id, "tour", period)
        role = store.role_in_team(person.id, team_id) or "professional"
        items: list[tuple[str, int | None, str | None]] = [(q, s, None) for q, s in scales.items()]
        items += [(q, None, t) for q, (t, _) in (texts or {}).items()]
        for qid, scale, text in items:
            store.save_answer(run_id=run, member_id=person.id, team_id=team_id, role=role,
                              theme_id=PP.theme_of(qid).id, question_id=qid, period=period,
                              content_version="test", scale=scale, text=text)
        for qid, (_, share) in (texts or {}).items():
            store.set_answer_share(run, qid, share)


@pytest.fixture
def hooked(engine: Engine, store: Store) -> Engine:
    engine.clock = lambda: NOW
    install_plugins(engine, Settings(db_path=Path(store.path)))
    return engine


def team(store: Store, name: str) -> tuple[int, str]:
    team_id = store.create_team(name)
    return team_id, store.create_invite(team_id)


def grant(store: Store, team_id: int, person: Person) -> Person:
    """Read rights are granted by an owner (here: the operator), never chosen."""
    with store.transaction():
        store.grant_access(team_id, person.id, "reader", by=None, via="cli")
    return person


@pytest.fixture
def noord(hooked: Engine, store: Store) -> dict[str, Any]:
    """Team Noord: a manager and four professionals, three of whom answer in two quarters."""
    team_id, code = team(store, "Wijkteam Noord")
    mgr = grant(store, team_id, Person(hooked, "mgr").onboard("manager", code))
    pros = [Person(hooked, f"p{i}").onboard("professional", code) for i in range(4)]
    for i, p in enumerate(pros[:3]):
        answer(store, p, team_id, Q1, {"regie-1": 2, "regie-2": 3, "samenhang-1": 3 + (i == 0)})
        answer(store, p, team_id, Q2, {"regie-1": 4 + (i == 0), "regie-2": 4, "samenhang-1": 3})
    return {"id": team_id, "code": code, "mgr": mgr, "pros": pros}


@pytest.fixture
def zuid(hooked: Engine, store: Store) -> dict[str, Any]:
    """Team Zuid, with answers that are easy to spot (all 1s)."""
    team_id, code = team(store, "Wijkteam Zuid")
    mgr = grant(store, team_id, Person(hooked, "mgr-zuid").onboard("manager", code))
    pros = [Person(hooked, f"z{i}").onboard("professional", code) for i in range(3)]
    for p in pros:
        answer(store, p, team_id, Q2, {"bekend-1": 1, "bekend-2": 1},
               {"verandering-4": ("Zuid-geheim: wij werken apart", True)})
    return {"id": team_id, "code": code, "mgr": mgr, "pros": pros}


def images(replies: list[Reply]) -> list[bytes]:
    return [r.image[1] for r in replies if r.image]


def audit(store: Store, action: str) -> list[dict[str, Any]]:
    return [e for e in store.audit_entries() if e["action"] == action]


# -- /rapport --------------------------------------------------------------------------------


def test_manager_gets_summary_with_numbers_and_chart(noord: dict[str, Any], store: Store) -> None:
    mgr: Person = noord["mgr"]
    replies = mgr.type("/rapport")
    text = mgr.text()
    assert "Teamrapport Wijkteam Noord (Q3 2026)" in text
    # 3 of 5 took part and the reader did not: one other did not take part, so no exact count
    assert "Deelname Q3 2026: 3 of meer van de 5 teamleden." in text
    # Q3: regie 5,4,4 + 4,4,4 + samenhang 3,3,3 -> 34 / 9
    assert f"Gemiddeld over de thema's: {format_number_nl(34 / 9)} (van 5)." in text
    assert "Meest vooruit: Regie voeren (+1,7)." in text  # regie 2,5 -> 4,2
    pngs = images(replies)
    assert len(pngs) == 1 and pngs[0].startswith(PNG_MAGIC)
    assert "Bron: Praatplaat" in text
    [entry] = audit(store, "chat_report")
    assert entry["actor_member_id"] == mgr.id and entry["team_id"] == noord["id"]


def test_menu_button_gives_the_same_report(noord: dict[str, Any]) -> None:
    mgr: Person = noord["mgr"]
    mgr.type("/menu")
    replies = mgr.press("report")
    assert "Teamrapport Wijkteam Noord" in mgr.text()
    assert images(replies)


def test_two_answering_members_show_no_numbers(hooked: Engine, store: Store) -> None:
    team_id, code = team(store, "Klein team")
    mgr = grant(store, team_id, Person(hooked, "mgr").onboard("manager", code))
    pros = [Person(hooked, f"p{i}").onboard("professional", code) for i in range(2)]
    for p in pros:
        answer(store, p, team_id, Q2, {"regie-1": 5, "regie-2": 4, "samenhang-1": 2})
    replies = mgr.type("/rapport")
    text = mgr.text()
    assert "te weinig" in text
    assert "Gemiddeld over" not in text
    assert "Deelname Q3 2026: minder dan 3 van de 3 teamleden." in text
    assert not any(v in text for v in ("3,7", "5,0", "4,0", "2,0", "2 collega"))
    assert images(replies)[0].startswith(PNG_MAGIC)


def test_manager_of_a_cannot_get_team_b(noord: dict[str, Any], zuid: dict[str, Any],
                                        store: Store) -> None:
    mgr: Person = noord["mgr"]
    seen = [mgr.type("/rapport"), mgr.type("/rapport Wijkteam Zuid"),
            mgr.type("/rapport 6"), mgr.type("/rapport 3")]
    refused = mgr.type("/rapport Wijkteam Zuid")
    unknown = mgr.type("/rapport Bestaat Niet")
    assert [r.text for r in refused if not r.is_prompt] == [UNKNOWN_ARG]
    assert [r.text for r in unknown if not r.is_prompt] == [UNKNOWN_ARG]
    everything = "\n".join(r.text for replies in seen for r in replies)
    assert "Zuid" not in everything
    assert "1,0" not in everything  # Zuid's 'bekend' mean
    denied = audit(store, "chat_report:denied")
    assert denied and all(e["actor_member_id"] == mgr.id and e["team_id"] == zuid["id"]
                          for e in denied)
    assert all(e["team_id"] == noord["id"]
               for e in store.audit_entries() if e["actor_member_id"] == mgr.id
               and not e["action"].endswith(":denied"))


def test_manager_can_name_their_own_team(noord: dict[str, Any]) -> None:
    mgr: Person = noord["mgr"]
    mgr.type("/rapport wijkteam noord")
    assert "Teamrapport Wijkteam Noord" in mgr.text()


def test_professional_gets_not_manager(noord: dict[str, Any], hooked: Engine) -> None:
    pro: Person = noord["pros"][0]
    pro.type("/rapport")
    assert hooked.dialogues.text("not_manager") in pro.text()
    assert "Gemiddeld" not in pro.text()
    pro.type("/dashboard")
    assert hooked.dialogues.text("not_manager") in pro.text()


def test_right_checked_on_every_request(noord: dict[str, Any], hooked: Engine,
                                       store: Store) -> None:
    """The right was revoked after the person started: the next /rapport gets nothing."""
    mgr: Person = noord["mgr"]
    assert images(mgr.type("/rapport"))
    with store.transaction():
        assert store.revoke_access(noord["id"], mgr.id, by=None) == "revoked"
    replies = mgr.type("/rapport")
    assert hooked.dialogues.text("not_manager") in mgr.text()
    assert not images(replies)
    assert "Gemiddeld" not in mgr.text()


def test_manager_of_two_teams_gets_a_block_per_team_and_a_comparison(
    noord: dict[str, Any], zuid: dict[str, Any], store: Store,
) -> None:
    mgr: Person = noord["mgr"]
    with store.transaction():
        store.join_team(mgr.id, zuid["id"], "beleid")
        store.grant_access(zuid["id"], mgr.id, "reader", by=None, via="cli")
    replies = mgr.type("/rapport")
    assert len(images(replies)) == 2
    text = mgr.text()
    assert "Teamrapport Wijkteam Noord" in text and "Teamrapport Wijkteam Zuid" in text
    assert "Teams naast elkaar (Q3 2026" in text
    assert f"• Wijkteam Noord: {format_number_nl(34 / 9)}" in text
    assert "• Wijkteam Zuid: 1,0" in text


def test_published_report_and_chart_stay_when_a_member_is_erased(
    noord: dict[str, Any], hooked: Engine, store: Store
) -> None:
    """Q3 is published: erasing one of its three people does not change its numbers (a
    reader comparing before and after learns nothing), and the cached chart is reused."""
    mgr: Person = noord["mgr"]
    first = images(mgr.type("/rapport"))[0]
    before = mgr.text()
    second = images(mgr.type("/rapport"))[0]
    assert first == second
    pros: list[Person] = noord["pros"]
    pros[0].type("/vergeet")
    pros[0].press("ja")
    assert store.member_id(PLATFORM, pros[0].user) is None
    third = images(mgr.type("/rapport"))[0]
    assert third == first

    def published(text: str) -> str:  # the open round counts today's members: 4 now
        return "\n".join(line for line in text.split("\n") if "Lopende ronde" not in line)

    assert published(mgr.text()) == published(before)
    assert ReportHooksOf(hooked).charts.hits >= 2


def ReportHooksOf(engine: Engine) -> Any:  # noqa: N802
    return engine.plugins.report.__self__


# -- /rapport THEMA ----------------------------------------------------------------------------


def test_rapport_4_drills_into_theme_4(noord: dict[str, Any], hooked: Engine,
                                       store: Store) -> None:
    mgr: Person = noord["mgr"]
    # a fourth person answers only regie-3 in Q3, with one other: two people -> hidden
    pros: list[Person] = noord["pros"]
    answer(store, pros[3], noord["id"], Q2, {"regie-3": 5})
    answer(store, pros[1], noord["id"], Q2, {"regie-3": 1})
    replies = mgr.type("/rapport 4")
    text = mgr.text()
    assert "Thema 4: Regie voeren – Wijkteam Noord" in text
    assert "Q3 2026, per vraag:" in text
    assert "4.1 " in text and "4.2 " in text and "4.3 " in text
    # regie-3 has two people: hidden; then regie-1 is hidden too, or theme minus the shown
    # questions would give those two people's answers (complementary suppression)
    lines = text.splitlines()

    def value_of(prefix: str) -> str:
        return lines[lines.index(next(ln for ln in lines if ln.startswith(prefix))) + 1]

    assert value_of("4.1 ") == "   –"
    assert value_of("4.2 ") == "   gemiddeld 4,0 · 3-4 mensen"  # n as a band; no spread below 5
    assert value_of("4.3 ") == "   –"
    assert "– = verborgen" in text
    assert "Samenhang" not in text
    assert not images(replies)
    assert audit(store, "chat_report_theme:regie")
    # the same theme by id and by a piece of its title
    mgr.type("/rapport regie")
    assert "Thema 4: Regie voeren" in mgr.text()
    mgr.type("/rapport thema 4")
    assert "Thema 4: Regie voeren" in mgr.text()
    mgr.type("/rapport levensbreed")
    assert "Thema 5: Vraagverheldering levensbreed" in mgr.text()


def test_shared_texts_only_with_consent(noord: dict[str, Any], store: Store) -> None:
    mgr: Person = noord["mgr"]
    pros: list[Person] = noord["pros"]
    shared = {pros[0]: "We bellen elkaar vaker op", pros[1]: "Meer tijd voor overleg graag"}
    private = "Alleen voor mezelf: ik twijfel aan de aanpak"
    for p in pros[:3]:
        text = shared.get(p, private)
        answer(store, p, noord["id"], Q2, {}, {"verandering-4": (text, p in shared)})
    mgr.type("/rapport 3")
    text = mgr.text()
    assert "Gedeeld (anoniem, met toestemming):" in text
    for t in shared.values():
        assert f"“{t}”" in text
    assert private not in text
    assert "twijfel" not in text
    for p in pros:  # never a name or an id
        assert p.user not in text


def test_unknown_and_ambiguous_theme(noord: dict[str, Any]) -> None:
    mgr: Person = noord["mgr"]
    mgr.type("/rapport 11")
    assert UNKNOWN_ARG in mgr.text()
    mgr.type("/rapport ver")  # verandering, vraagverheldering, ...
    assert "Welk thema bedoel je?" in mgr.text()


# -- /dashboard --------------------------------------------------------------------------------


def test_dashboard_link(noord: dict[str, Any], store: Store) -> None:
    mgr: Person = noord["mgr"]
    replies = mgr.type("/dashboard")
    [reply] = [r for r in replies if r.links]
    assert reply.text == mgr.engine.dialogues.text("dashboard_link")
    assert reply.links[0].url.startswith("http")
    count = store.conn.execute("SELECT COUNT(*) FROM web_logins WHERE member_id = ?",
                               (mgr.id,)).fetchone()[0]
    assert count == 1


# -- follow-ups in /mijnreflecties ------------------------------------------------------------


def test_followups_appear_in_my_reflections(noord: dict[str, Any], zuid: dict[str, Any],
                                            store: Store) -> None:
    with store.transaction():
        old = store.add_followup(noord["id"], "regie", "Eerst een oude actie", noord["mgr"].id)
        store.add_followup(noord["id"], "regie", "We plannen elk kwartaal een casusoverleg.",
                           noord["mgr"].id)
        store.set_action_status(old, noord["id"], "done", noord["mgr"].id)
        store.add_followup(noord["id"], "samenhang", "Beleid schuift aan bij het teamoverleg.",
                           None)
        store.add_followup(zuid["id"], "bekend", "Zuid-actie", zuid["mgr"].id)
    pro: Person = noord["pros"][0]
    pro.type("/mijnreflecties")
    text = pro.text()
    assert "Jouw reflecties" in text
    assert "Wat we ermee doen (Wijkteam Noord):" in text
    assert "• Regie voeren: We plannen elk kwartaal een casusoverleg." in text
    assert "• Samenhang tussen beleid, management en uitvoering: Beleid schuift aan" in text
    # open actions first; a done one says so
    assert text.index("casusoverleg") < text.index("Eerst een oude actie (klaar")
    assert "Zuid" not in text
    other: Person = zuid["pros"][0]
    other.type("/mijnreflecties")
    assert "Zuid-actie" in other.text() and "casusoverleg" not in other.text()


def test_followups_reach_members_who_have_not_answered_yet(noord: dict[str, Any],
                                                            store: Store) -> None:
    with store.transaction():
        store.add_followup(noord["id"], "regie", "We plannen elk kwartaal een casusoverleg.",
                           noord["mgr"].id)
    newcomer: Person = noord["pros"][3]  # onboarded, never answered
    newcomer.type("/mijnreflecties")
    text = newcomer.text()
    assert "Je hebt nog niets ingevuld" in text
    assert "casusoverleg" in text


def test_chart_is_drawn_after_the_turn_committed(noord: dict[str, Any], store: Store,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib takes a second or more: it must not hold SQLite's write lock meanwhile."""
    import bot.reports.chat as chat

    seen: list[bool] = []
    real = chat.mirror_png

    def spy(*args: Any, **kwargs: Any) -> bytes:
        seen.append(store.conn.in_transaction)
        return real(*args, **kwargs)

    monkeypatch.setattr(chat, "mirror_png", spy)
    replies = noord["mgr"].type("/rapport")
    assert seen == [False]
    assert len(images(replies)) == 1
