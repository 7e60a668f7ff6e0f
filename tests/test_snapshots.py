"""Reports from frozen snapshots, end to end on real SQLite files.

- While a round is open a reader sees at most participation as a band: two views around one
  person's answer, edit or /vergeet reveal nothing (a hypothesis property over pairs of views).
- A round is published once, when it closes (the tick, the first view, or an early close); later
  edits and erasures never change its numbers; an erased author's shared text leaves it.
- A shared text changed afterwards is not shown until its author agrees again.
- The Demoteam's report is a marked, synthetic example: no real answer reaches it.

People answer through the real chat (engine + flows) where the dialogue matters, and through the
store's own calls (the ones the flows make) where many random teams are needed.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine, Turn
from bot.engine.messages import Incoming
from bot.periods import open_period
from bot.reports.aggregate import LEVEL_QUESTION, LEVEL_THEME, report_to_rows, summary_nl
from bot.reports.chat import ReportHooks, install
from bot.reports.demo import DEMO_NOTE, demo_records
from bot.reports.export import export_rows
from bot.reports.mirror import build_mirror, mirror_lines
from bot.reports.service import (
    NothingToClose,
    close_round,
    publish_due,
    team_report,
    theme_titles,
)
from bot.store import LATEST, Store
from bot.store.schema import migrate
from tests.cli import run_cli
from tests.test_flows import Chat
from tests.web_support import Clock

CONTENT = get_content()
PP = CONTENT.praatplaat
TITLES = theme_titles(CONTENT)
IN_Q3 = datetime(2026, 8, 10, 10, 0, tzinfo=UTC)
AFTER_Q3 = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
NUMBER = re.compile(r"\d,\d")  # a mean as the views write it


@pytest.fixture
def clock() -> Clock:
    return Clock(IN_Q3)


@pytest.fixture
def bot(engine: Engine, store: Store, clock: Clock) -> Engine:
    engine.clock = clock
    install(engine, Settings(db_path=Path(store.path)))
    return engine


def walk(chat: Chat, theme_id: str, scales: dict[str, int],
         texts: dict[str, tuple[str, bool]] | None = None) -> None:
    """Answer one theme in the chat, the way a person does."""
    texts = texts or {}
    chat.type("/menu")
    chat.press("theme")
    chat.press(theme_id)
    while chat.state == "reflect.question":
        qid = chat.question_id or ""
        text, share = texts.get(qid, (None, False))
        if PP.question(qid).kind == "scale":
            chat.type(str(scales[qid]))
            if text is None:
                chat.press("verder")
                continue
        elif text is None:
            chat.type("/overslaan")
            continue
        chat.type(text, message_ref=f"{chat.user}:{qid}")
        assert chat.state == "reflect.share"
        chat.press("ja" if share else "nee")
    assert chat.state == "reflect.summary", chat.texts()


def team_with(bot: Engine, store: Store, name: str = "Wijkteam Noord",
              pros: int = 5) -> tuple[int, Chat, list[Chat]]:
    with store.transaction():
        team_id = store.create_team(name)
        code = store.create_invite(team_id)
    manager = Chat(bot, f"{name}-mgr")
    manager.onboard("manager", code)
    with store.transaction():  # read rights are granted (here by the operator), never chosen
        store.grant_access(team_id, manager.member_id or 0, "reader", by=None, via="cli")
    people = [Chat(bot, f"{name}-p{i}") for i in range(pros)]
    for p in people:
        p.onboard("professional", code)
    return team_id, manager, people


REGIE = [q.id for q in PP.theme("regie").questions]
VERANDERING = [q.id for q in PP.theme("verandering").questions if q.kind == "scale"]


# --------------------------------------------------------------------------------------------
# The open round: participation as a band, nothing else


def test_rapport_in_an_open_round_shows_no_numbers(bot: Engine, store: Store,
                                                   clock: Clock) -> None:
    team_id, manager, people = team_with(bot, store)
    for i, p in enumerate(people):
        walk(p, "regie", {q: 1 + (i + j) % 5 for j, q in enumerate(REGIE)})
    replies = manager.type("/rapport")
    text = manager.texts()
    assert "Lopende ronde Q3 2026: tot nu toe 5-9 van de 6 teamleden." in text
    assert "Cijfers komen als de ronde sluit, uiterlijk 30-9-2026." in text
    assert not NUMBER.search(text), text  # no mean, no delta, no spread
    assert not any(r.image for r in replies)  # nothing published: no chart
    manager.type("/rapport 4")
    theme_text = manager.texts()
    assert "Nog geen afgesloten ronde." in theme_text and "Q3 2026 loopt nog" in theme_text
    assert not NUMBER.search(theme_text) and "mensen" not in theme_text

    # the round closes: the tick (or this view) publishes it, with numbers
    clock.now = AFTER_Q3
    manager.type("/rapport")
    assert "Teamrapport Wijkteam Noord (Q3 2026)" in manager.texts()
    assert "Gemiddeld over de thema's: 3,0 (van 5)." in manager.texts()
    assert "Lopende ronde Q4 2026: tot nu toe minder dan 3 van de 6 teamleden." in manager.texts()
    assert store.snapshot_periods(team_id) == ["2026-Q3"]


def test_participation_moves_in_bands_not_by_one(bot: Engine, store: Store) -> None:
    team_id, manager, people = team_with(bot, store, pros=6)
    seen = []
    for p in people:
        walk(p, "regie", dict.fromkeys(REGIE, 3))
        manager.type("/rapport")
        seen.append(re.search(r"tot nu toe (.*?) van de \d+ teamleden", manager.texts()).group(1))
    assert seen == ["minder dan 3", "minder dan 3", "3-4", "3-4", "5-9", "5-9"]


# --------------------------------------------------------------------------------------------
# Pairs of views: hypothesis


class Undo(Exception):
    """Rolls an experiment back (the store's transaction re-raises after ROLLBACK)."""


QUESTIONS = ["regie-1", "regie-2", "regie-3", "verandering-1", "verandering-4"]


def _save(store: Store, member: int, team: int, period: str, qid: str,
          scale: int | None = None, text: str | None = None, share: bool = False) -> int:
    run = store.start_run(member, team, "tour", period)
    store.save_answer(run_id=run, member_id=member, team_id=team, role="professional",
                      theme_id=PP.theme_of(qid).id, question_id=qid, period=period,
                      content_version=CONTENT.version, scale=scale, text=text)
    if text is not None:
        store.set_answer_share(run, qid, share)
    return run


def everything_a_reader_sees(store: Store, team_id: int, reader: int | None,
                             now: datetime) -> dict[str, Any]:
    """Every view of the team for one reader: summary, every theme in the chat, the export
    rows (also the Dutch spreadsheet's, with the mirror), the mirror as the chat and the
    dashboard show it."""
    report = team_report(store, team_id, viewer=reader, now=now, content=CONTENT)
    hooks = ReportHooks()
    mirror = build_mirror(report, CONTENT)
    return {
        "summary": summary_nl(report, TITLES),
        "themes": [hooks._theme_text(PP.theme(t), "Team", report) for t in ("regie", "verandering")],
        "rows": report_to_rows(report),
        "sheet": export_rows(report, CONTENT),
        "mirror": "\n".join(mirror_lines(mirror)) if mirror is not None else "",
        "texts": sorted(t.text for t in report.texts),
    }


def without_open_round(views: dict[str, Any]) -> dict[str, Any]:
    """The same views with the open round's participation band taken out (the one thing an
    answer in an open round may move)."""
    out = dict(views)
    out["summary"] = re.sub(r"Lopende ronde .*", "", views["summary"])
    out["themes"] = [re.sub(r".* loopt nog: .*", "", t) for t in views["themes"]]
    return out


@st.composite
def teams(draw: st.DrawFn) -> dict[str, Any]:
    others = draw(st.integers(2, 6))
    answers = []  # (member index, period, question, scale, text, share)
    for m in range(others):
        for period in ("2026-Q2", "2026-Q3"):
            for qid in draw(st.lists(st.sampled_from(QUESTIONS), unique=True, max_size=4)):
                if qid == "verandering-4":
                    answers.append((m, period, qid, None, f"tekst {m} {period}",
                                    draw(st.booleans())))
                else:
                    answers.append((m, period, qid, draw(st.integers(1, 5)), None, False))
    target_q = draw(st.sampled_from(QUESTIONS))
    return {
        "others": others,
        "answers": answers,
        "reader_answered": draw(st.booleans()),
        "target_before": draw(st.sampled_from(["none", "q2", "q3", "both"])),
        "action": draw(st.sampled_from(["answer", "edit", "erase", "unshare", "reshare"])),
        "target_q": target_q,
        "values": draw(st.lists(st.integers(1, 5), min_size=2, max_size=2, unique=True)),
    }


def _seed(store: Store, team: dict[str, Any]) -> dict[str, Any]:
    with store.transaction():
        team_id = store.create_team("Team")
        reader = store.get_or_create_member("console", "reader", None)
        store.join_team(reader, team_id, "manager")
        target = store.get_or_create_member("console", "target", None)
        store.join_team(target, team_id, "professional")
        others = []
        for m in range(team["others"]):
            mid = store.get_or_create_member("console", f"o{m}", None)
            store.join_team(mid, team_id, "professional")
            others.append(mid)
        for m, period, qid, scale, text, share in team["answers"]:
            _save(store, others[m], team_id, period, qid, scale, text, share)
        if team["reader_answered"]:
            for period in ("2026-Q2", "2026-Q3"):
                _save(store, reader, team_id, period, "regie-1", 4)
        runs = {}
        qid = team["target_q"]
        is_text = qid == "verandering-4"
        for period in {"none": [], "q2": ["2026-Q2"], "q3": ["2026-Q3"],
                       "both": ["2026-Q2", "2026-Q3"]}[team["target_before"]]:
            runs[period] = _save(store, target, team_id, period, qid,
                                 None if is_text else 3, "mijn tekst" if is_text else None,
                                 share=True)
    return {"team": team_id, "reader": reader, "target": target, "runs": runs}


def _act(store: Store, seeded: dict[str, Any], team: dict[str, Any], value: int) -> None:
    """What the target person does, with ``value`` as the answer that must not leak."""
    target, qid, runs = seeded["target"], team["target_q"], seeded["runs"]
    is_text = qid == "verandering-4"
    scale, text = (None, f"nieuwe tekst {value}") if is_text else (value, None)
    action = team["action"]
    if action == "answer":  # a new answer in the open round
        period = store.answer_period(seeded["team"], IN_Q3)
        _save(store, target, seeded["team"], period, qid, scale, text, share=True)
    elif action == "edit":  # change whatever they answered before (published or open)
        for run in runs.values():
            store.save_answer(run_id=run, member_id=target, team_id=seeded["team"],
                              role="professional", theme_id=PP.theme_of(qid).id,
                              question_id=qid, period="ignored", content_version="x",
                              scale=scale, text=text)
            if is_text:
                store.set_answer_share(run, qid, True)
    elif action == "erase":
        store.delete_member(target)
    elif action in ("unshare", "reshare"):
        for run in runs.values():
            store.set_answer_share(run, qid, action == "reshare")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(teams())
def test_two_views_around_an_answer_edit_or_erasure_reveal_nothing(team: dict[str, Any]) -> None:
    """A reader looks, one known person acts, the reader looks again, in the open round Q3
    (Q2 is published). Whatever value that person gave, the second views are the same; the
    published round keeps its numbers; only the open round's band and, when the person withdrew
    or was erased, their own shared text can change."""
    store = Store(":memory:")
    try:
        seeded = _seed(store, team)
        for reader in (seeded["reader"], None):  # a manager, and the operator
            before = everything_a_reader_sees(store, seeded["team"], reader, IN_Q3)
            assert set(store.snapshot_periods(seeded["team"])) <= {"2026-Q2"}
            after = []
            for value in team["values"]:
                try:
                    with store.transaction():
                        _act(store, seeded, team, value)
                        after.append(everything_a_reader_sees(store, seeded["team"], reader,
                                                              IN_Q3))
                        raise Undo
                except Undo:
                    pass
            assert after[0] == after[1], "the second view depends on the person's answer"
            changed, kept = without_open_round(after[0]), without_open_round(before)
            gone = set(kept["texts"]) - set(changed["texts"])
            assert not set(changed["texts"]) - set(kept["texts"])  # nothing new appears
            if gone:  # only the person's own words may leave a published round
                assert team["action"] in ("erase", "unshare", "edit")
                assert gone == {"mijn tekst"}
                kept = {**kept, "texts": changed["texts"]}
                kept["themes"] = changed["themes"]
            assert changed == kept
            # the numbers of the published round, row by row
            assert [r for r in after[0]["rows"] if r["period"] == "2026-Q2"] == [
                r for r in before["rows"] if r["period"] == "2026-Q2"]
    finally:
        store.close()


# --------------------------------------------------------------------------------------------
# A published round is frozen


def _published_team(bot: Engine, store: Store, clock: Clock) -> tuple[int, Chat, list[Chat]]:
    team_id, manager, people = team_with(bot, store)
    for i, p in enumerate(people):
        walk(p, "verandering", {q: 2 + (i % 3) for q in VERANDERING},
             {"verandering-4": (f"Gedeelde tekst van collega {i}", True)})
    clock.now = AFTER_Q3
    manager.type("/rapport")
    assert store.snapshot_periods(team_id) == ["2026-Q3"]
    return team_id, manager, people


def test_edits_and_erasure_after_publication_do_not_change_the_numbers(
    bot: Engine, store: Store, clock: Clock
) -> None:
    team_id, manager, people = _published_team(bot, store, clock)
    manager.type("/rapport 3")
    before = manager.texts()
    assert "“Gedeelde tekst van collega 0”" in before and NUMBER.search(before)
    data = store.conn.execute("SELECT data FROM snapshots").fetchone()[0]

    # collega 1 changes every answer of the closed round (review -> edit), collega 0 leaves
    p = people[1]
    p.type("/menu")
    p.press("review")
    p.press("edit")
    p.press("verandering-1")
    p.type("5")
    p.press("verder")
    assert p.answers()["verandering-1"]["scale"] == 5
    people[0].type("/vergeet")
    people[0].press("ja")

    manager.type("/rapport 3")
    after = manager.texts()
    assert "Gedeelde tekst van collega 0" not in after  # the erased author's words are gone
    assert after == before.replace("• 3.4 “Gedeelde tekst van collega 0”\n", "")
    assert store.conn.execute("SELECT data FROM snapshots").fetchone()[0] == data
    rows = store.conn.execute(
        "SELECT COUNT(*) FROM snapshot_texts WHERE text LIKE '%collega 0%'").fetchone()[0]
    assert rows == 0


def test_erasure_strips_the_member_from_snapshots_in_the_same_transaction(
    bot: Engine, store: Store, clock: Clock
) -> None:
    team_id, manager, people = _published_team(bot, store, clock)
    member = people[2].member_id
    assert member is not None
    exported = store.export_member(member)
    assert len(exported["snapshot_members"]) == 1 and len(exported["snapshot_texts"]) == 1
    counts = store.delete_member(member)
    assert counts["snapshot_members"] == 1 and counts["snapshot_texts"] == 1
    for table in ("snapshot_members", "snapshot_texts"):
        assert not store.conn.execute(f"SELECT 1 FROM {table} WHERE member_id = ?",
                                      (member,)).fetchone()
    # the method itself, for erasure paths that do not go through delete_member
    other = people[3].member_id
    assert store.strip_member_from_snapshots(other or 0) == 1
    assert store.conn.execute("SELECT COUNT(*) FROM snapshot_texts").fetchone()[0] == 3


def test_withdrawing_consent_takes_the_text_out_of_a_published_round(
    bot: Engine, store: Store, clock: Clock
) -> None:
    team_id, manager, people = _published_team(bot, store, clock)
    p = people[4]
    p.type("/menu")
    p.press("review")
    p.press("edit")
    p.press("verandering-4")
    p.type("Gedeelde tekst van collega 4")  # the same words ...
    assert p.state == "reflect.share"
    p.press("nee")  # ... but no longer shared
    manager.type("/rapport 3")
    assert "collega 4" not in manager.texts()
    assert "“Gedeelde tekst van collega 3”" in manager.texts()


# --------------------------------------------------------------------------------------------
# Consent again after an edit


def test_a_shared_text_edited_later_is_not_shown_until_consent_again(
    bot: Engine, store: Store, clock: Clock
) -> None:
    team_id, manager, people = team_with(bot, store)
    for i, p in enumerate(people):
        walk(p, "verandering", dict.fromkeys(VERANDERING, 3),
             {"verandering-4": (f"Eerste versie {i}", True)})
    # collega 0 edits the chat message with the text, and does not answer the question
    p0 = people[0]
    p0.send(p0.incoming("edit", text="Tweede versie 0", message_ref=f"{p0.user}:verandering-4"))
    assert p0.state == "reflect.share_again"
    p0.type("/menu")
    # collega 1 edits it too, and agrees again
    p1 = people[1]
    p1.send(p1.incoming("edit", text="Tweede versie 1", message_ref=f"{p1.user}:verandering-4"))
    p1.press("ja")
    assert p1.state == "reflect.summary"  # back where they were
    # collega 2 changes it in the reflection and stops at the share question
    p2 = people[2]
    p2.type("/menu")
    p2.press("review")
    p2.press("edit")
    p2.press("verandering-4")
    p2.type("Tweede versie 2")
    assert p2.state == "reflect.share"
    p2.type("/pauze")

    clock.now = AFTER_Q3
    manager.type("/rapport 3")
    text = manager.texts()
    assert "Tweede versie 0" not in text and "Eerste versie 0" not in text
    assert "“Tweede versie 1”" in text and "Eerste versie 1" not in text
    assert "Tweede versie 2" not in text and "Eerste versie 2" not in text
    assert "“Eerste versie 3”" in text and "“Eerste versie 4”" in text


# --------------------------------------------------------------------------------------------
# Closing a round early


def test_a_round_closed_early_counts_later_answers_for_the_next_one(
    bot: Engine, store: Store, clock: Clock
) -> None:
    team_id, manager, people = team_with(bot, store)
    for p in people[:4]:
        walk(p, "regie", dict.fromkeys(REGIE, 4))
    assert close_round(store, team_id, IN_Q3, content=CONTENT) == "2026-Q3"
    assert store.answer_period(team_id, IN_Q3) == "2026-Q4"
    walk(people[4], "regie", dict.fromkeys(REGIE, 1))  # after the close: next round
    periods = {r["period"] for r in people[4].answers().values()}
    assert periods == {"2026-Q4"}
    manager.type("/rapport")
    text = manager.texts()
    assert "Teamrapport Wijkteam Noord (Q3 2026)" in text
    assert "Gemiddeld over de thema's: 4,0 (van 5)." in text  # the late 1s are not in it
    assert "Lopende ronde Q4 2026: tot nu toe minder dan 3 van de 6 teamleden." in text
    assert close_round(store, team_id, IN_Q3, content=CONTENT) == "2026-Q4"  # one person
    with pytest.raises(NothingToClose):  # nobody answered in 2027-Q1 yet
        close_round(store, team_id, IN_Q3, content=CONTENT)
    assert store.snapshot_periods(team_id) == ["2026-Q3", "2026-Q4"]
    assert [r["closed_early"] for r in store.snapshot_rows(team_id)] == [1, 1]
    early = [e for e in store.audit_entries(team_id) if e["action"] == "report_publish:early"]
    assert [e["detail"] for e in early] == ["2026-Q3", "2026-Q4"]


def test_open_period_skips_rounds_closed_early() -> None:
    assert open_period(IN_Q3, set()) == "2026-Q3"
    assert open_period(IN_Q3, {"2026-Q3"}) == "2026-Q4"
    assert open_period(datetime(2026, 12, 1, tzinfo=UTC), {"2026-Q4", "2027-Q1"}) == "2027-Q2"
    assert open_period(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), set()) == "2027-Q1"  # NL time


# --------------------------------------------------------------------------------------------
# The Demoteam


def test_the_demoteam_report_is_synthetic_and_marked(bot: Engine, store: Store,
                                                     clock: Clock) -> None:
    clock.now = AFTER_Q3
    people = [Chat(bot, f"demo{i}") for i in range(4)]
    for i, p in enumerate(people):
        p.onboard("manager" if i == 0 else "professional")  # the Demoteam
    demo_team = store.demo_team()
    boss = people[0]
    boss.type("/rapport")
    first = boss.texts()
    assert DEMO_NOTE in first and "Teamrapport Demoteam (Q3 2026)" in first
    # real people answer in the Demoteam, with words and values easy to spot
    clock.now = IN_Q3
    for p in people[1:]:
        walk(p, "verandering", dict.fromkeys(VERANDERING, 1),
             {"verandering-4": ("ECHT ANTWOORD van een echt mens", True)})
    clock.now = AFTER_Q3
    replies = boss.type("/rapport")
    assert boss.texts() == first  # the same example, whatever real people answered
    assert any(r.image for r in replies)
    boss.type("/rapport 3")
    theme = boss.texts()
    assert DEMO_NOTE in theme and "ECHT ANTWOORD" not in theme and "(voorbeeld)" in theme
    assert store.snapshot_periods(demo_team) == []  # nothing of the Demoteam is published
    # the hook that lane "access" calls for any Demoteam member (here: a professional)
    conv = people[1].conv
    assert conv is not None
    for args, expected in (("", "Teamrapport Demoteam"), ("3", "Thema 3: ")):
        turn = Turn(bot, conv, Incoming("console", people[1].user, people[1].user, "command"))
        turn.args = args
        replies = bot.plugins.demo_report(turn)
        assert expected in replies[0].text and DEMO_NOTE in replies[0].text
        assert "ECHT" not in replies[0].text
    # deterministic: the same quarter always gives the same example
    assert demo_records(1, ["2026-Q3"], CONTENT) == demo_records(1, ["2026-Q3"], CONTENT)


def test_every_view_of_the_demoteam_is_the_example(bot: Engine, store: Store,
                                                   tmp_path: Path) -> None:
    """Exports and the dashboard go through the same service: for the Demoteam it builds the
    example, whoever asks (here the operator), and publishes nothing of real answers."""
    from bot.reports.export import export_report

    people = [Chat(bot, f"demo{i}") for i in range(4)]
    for p in people:
        p.onboard("professional")
    for p in people[1:]:
        walk(p, "verandering", dict.fromkeys(VERANDERING, 1),
             {"verandering-4": ("ECHT ANTWOORD van een echt mens", True)})
    demo = store.demo_team()
    report = team_report(store, demo, now=AFTER_Q3, content=CONTENT)
    assert report.demo and report.periods == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    assert all("ECHT" not in t.text for t in report.texts) and report.texts
    out = export_report(store, demo, "xlsx", tmp_path / "demo.xlsx", k=3)
    import openpyxl

    notes = [str(r[0]) for r in openpyxl.load_workbook(out)["Over dit bestand"].iter_rows(
        values_only=True)]
    assert any(DEMO_NOTE in n for n in notes)
    assert store.snapshot_periods(demo) == []


# --------------------------------------------------------------------------------------------
# Publishing: the tick, migrations, the command line


def test_the_schedule_tick_publishes_ended_periods(bot: Engine, store: Store,
                                                   tmp_path: Path) -> None:
    from bot.schedule.runner import run_schedule

    team_id, _manager, people = team_with(bot, store, pros=3)
    with store.transaction():
        for p in people:
            _save(store, p.member_id or 0, team_id, "2026-Q1", "regie-1", 3)
    settings = Settings(db_path=Path(store.path), tick_seconds=0.05)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_schedule(bot, settings, {}, stop))
        for _ in range(400):  # waits for progress, not for a time
            if store.snapshot_periods(team_id):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(main())
    assert "2026-Q1" in store.snapshot_periods(team_id)
    assert publish_due(store, datetime.now(UTC), content=CONTENT) == []  # once only


def _v3_database(path: Path) -> None:
    """A database as release 0.3 left it: a team, people and two quarters of answers."""
    db = sqlite_utils.Database(path)
    assert migrate(db, target=3) == [1, 2, 3]
    c = db.conn
    c.execute("INSERT INTO teams (id, name, is_demo, created_at) VALUES (1, 'Oost', 0, '2025-01-01')")
    for m in range(1, 5):
        c.execute("""INSERT INTO members (id, platform, platform_user_id, consent_at, created_at)
                     VALUES (?, 'telegram', ?, '2025-01-01', '2025-01-01')""", (m, str(m)))
        c.execute("""INSERT INTO memberships (member_id, team_id, role, joined_at)
                     VALUES (?, 1, 'professional', '2025-01-01')""", (m,))
        for period in ("2025-Q3", "2025-Q4"):
            run = c.execute("""INSERT INTO runs (member_id, team_id, scope, period, started_at,
                               last_activity_at) VALUES (?, 1, 'tour', ?, '2025-08-01',
                               '2025-08-01')""", (m, period)).lastrowid
            c.execute("""INSERT INTO answers (run_id, member_id, team_id, role, theme_id,
                         question_id, period, scale, text, share_text, answered_at, updated_at,
                         content_version) VALUES (?, ?, 1, 'professional', 'regie', 'regie-1',
                         ?, ?, 'oude tekst', 1, '2025-08-01', '2025-08-01', 'v1')""",
                      (run, m, period, 2 + m % 3))
    c.commit()
    c.close()


def test_a_release_03_database_is_carried_over_and_published(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _v3_database(path)
    store = Store(path)
    try:
        assert store.migrated_from == 3 and store.schema_version == LATEST
        assert store.snapshot_periods(1) == []  # the migration publishes nothing itself ...
        report = team_report(store, 1, now=AFTER_Q3, content=CONTENT)  # ... the first view does
        assert report.periods == ["2025-Q3", "2025-Q4"]
        assert store.snapshot_periods(1) == ["2025-Q3", "2025-Q4"]
        cell = report.cell(LEVEL_QUESTION, "2025-Q4", "regie", "regie-1")
        assert cell is not None and cell.shown and cell.n_band == "3-4"
        assert report.cell(LEVEL_THEME, "2025-Q4", "regie").mean == cell.mean
        assert store.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 8
    finally:
        store.close()
    with pytest.raises(sqlite3.IntegrityError):  # a snapshot is written once
        con = sqlite3.connect(path)
        con.execute("""INSERT INTO snapshots (team_id, kind, period, published_at,
                       algorithm_version, content_version, data)
                       VALUES (1, 'reflection', '2025-Q4', 'x', 1, 'x', '{}')""")


def test_report_publish_and_rounds_on_the_command_line(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "cli.db"
    store = Store(path)
    now = datetime.now(UTC)
    with store.transaction():
        team_id = store.create_team("Wijkteam West")
        for m in range(3):
            mid = store.get_or_create_member("telegram", f"w{m}", None)
            store.join_team(mid, team_id, "professional")
            _save(store, mid, team_id, store.answer_period(team_id, now), "regie-1", 3)
    store.close()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return run_cli("--db", str(path), "report", *argv, cwd=tmp_path)

    first = run("publish", "Wijkteam West")
    assert first.returncode == 0, first.stderr
    assert "is gesloten en gepubliceerd" in first.stdout and "telt mee voor" in first.stdout
    again = run("publish", "Wijkteam West")
    assert again.returncode == 1 and "nog niets beantwoord" in again.stderr
    rounds = run("rounds", "Wijkteam West")
    assert rounds.returncode == 0 and "vroeg gesloten" in rounds.stdout
    assert "algoritme 2" in rounds.stdout
    assert run("publish", "Bestaat Niet").returncode == 1
    assert run("Wijkteam", "West", "Oost").returncode == 2



# --------------------------------------------------------------------------------------------
# Reactions to the monthly tip: published per month, the same way


def test_tip_reactions_are_published_when_the_month_is_over(store: Store) -> None:
    from bot.reports.service import tips_report

    with store.transaction():
        team_id = store.create_team("Wijkteam Tip")
        manager = store.get_or_create_member("console", "tip-mgr", None)
        store.join_team(manager, team_id, "manager")
        people = []
        for i in range(4):
            mid = store.get_or_create_member("console", f"tip{i}", None)
            store.join_team(mid, team_id, "professional")
            people.append(mid)
    july = datetime(2026, 7, 20, 10, tzinfo=UTC)
    august = datetime(2026, 8, 3, 10, tzinfo=UTC)
    seen = []
    for i, mid in enumerate(people[:3]):
        with store.transaction():
            store.save_tip_reaction(mid, team_id, "2026-07", 7, 2 + i)
            store.set_tip_reaction_text(mid, "2026-07", f"reactie {i}", True)
        months, month, band = tips_report(store, team_id, viewer=manager, now=july)
        seen.append((months, month, band))
    # while July runs: no month shown, only the band of reactions so far
    assert [s[0] for s in seen] == [[], [], []]
    assert [s[2] for s in seen] == ["minder dan 3", "minder dan 3", "3-4"]
    # August: July is published; a late reaction and a changed text do not change its numbers
    [published], month, band = tips_report(store, team_id, viewer=manager, now=august)
    assert (published.month, published.shown, published.mean, published.n_band) == (
        "2026-07", True, 3.0, "3-4")
    assert sorted(published.texts) == ["reactie 0", "reactie 1", "reactie 2"]
    assert (month, band) == ("2026-08", "minder dan 3")
    with store.transaction():
        store.save_tip_reaction(people[3], team_id, "2026-07", 7, 5)
        store.set_tip_reaction_text(people[0], "2026-07", "anders gezegd", True)
    [again], _, _ = tips_report(store, team_id, viewer=manager, now=august)
    assert (again.mean, again.n_band) == (3.0, "3-4")
    assert sorted(again.texts) == ["reactie 1", "reactie 2"]  # the changed one left
    # a reader who reacted needs three others
    [own], _, _ = tips_report(store, team_id, viewer=people[1], now=august)
    assert not own.shown and own.mean is None and own.texts == []
    # erasure takes the author's words out, never the numbers
    store.delete_member(people[2])
    [after], _, _ = tips_report(store, team_id, viewer=manager, now=august)
    assert (after.mean, after.texts) == (3.0, ["reactie 1"])
    # retention: old snapshots lose their texts, keep their numbers
    with store.transaction():
        assert store.prune_snapshot_texts("2999-01-01") == 1
    [pruned], _, _ = tips_report(store, team_id, viewer=manager, now=august)
    assert (pruned.mean, pruned.texts) == (3.0, [])


def test_publishing_catches_up_in_batches(store: Store) -> None:
    with store.transaction():
        team_id = store.create_team("Oud team")
        mid = store.get_or_create_member("console", "oud", None)
        store.join_team(mid, team_id, "professional")
        for year in (2024, 2025):
            for q in (1, 2, 3, 4):
                _save(store, mid, team_id, f"{year}-Q{q}", "regie-1", 3)
    first = publish_due(store, AFTER_Q3, content=CONTENT, limit=3)
    assert [p for _, p in first] == ["2024-Q1", "2024-Q2", "2024-Q3"]
    rest = publish_due(store, AFTER_Q3, content=CONTENT)
    assert len(rest) == 5 and publish_due(store, AFTER_Q3, content=CONTENT) == []


def test_retention_takes_shared_texts_out_of_published_snapshots(store: Store) -> None:
    """A published round keeps its numbers for good, but the copies of shared texts go with
    the answers when the retention period has passed (tip texts by publication date)."""
    from bot.schedule.retention import purge_expired

    with store.transaction():
        team_id = store.create_team("Wijkteam Lang Geleden")
        for i in range(3):
            mid = store.get_or_create_member("console", f"lang{i}", None)
            store.join_team(mid, team_id, "professional")
            _save(store, mid, team_id, "2026-Q1", "verandering-1", 3)
            _save(store, mid, team_id, "2026-Q1", "verandering-4", None, f"OUDE-TEKST-{i}", True)
            store.save_tip_reaction(mid, team_id, "2026-01", 1, 4)
            store.set_tip_reaction_text(mid, "2026-01", f"OUDE-TIP-{i}", True)
    report = team_report(store, team_id, now=AFTER_Q3, content=CONTENT)
    assert sorted(t.text for t in report.texts) == [f"OUDE-TEKST-{i}" for i in range(3)]
    assert store.conn.execute("SELECT COUNT(*) FROM snapshot_texts").fetchone()[0] == 6
    counts = purge_expired(store, datetime(2099, 1, 1, tzinfo=UTC), 3)
    assert counts["snapshot_texts"] == 3  # the tip texts; the answers' copies cascaded
    assert store.conn.execute("SELECT COUNT(*) FROM snapshot_texts").fetchone()[0] == 0
    after = team_report(store, team_id, now=AFTER_Q3, content=CONTENT)
    assert after.texts == []
    assert [c.mean for c in after.themes] == [c.mean for c in report.themes]  # numbers stay
    raw = b"".join(Path(store.path + s).read_bytes() for s in ("", "-wal")
                   if Path(store.path + s).exists())
    assert b"OUDE-TEKST" not in raw and b"OUDE-TIP" not in raw


def test_mijngegevens_names_the_published_rounds_and_texts(bot: Engine, store: Store,
                                                           clock: Clock) -> None:
    from bot.engine.mydata import export_document

    team_id, manager, people = _published_team(bot, store, clock)
    member = people[1].member_id
    assert member is not None
    doc = export_document(store, CONTENT, member, people[1].conv, AFTER_Q3)
    assert doc["meegeteld_in_afgesloten_rondes"] == [{
        "team": "Wijkteam Noord", "soort": "reflectie", "ronde": "2026-Q3",
        "gepubliceerd": store.snapshot_rows(team_id)[0]["published_at"]}]
    [text] = doc["gedeelde_teksten_in_rapporten"]
    assert text["tekst"] == "Gedeelde tekst van collega 1" and text["ronde"] == "2026-Q3"
    assert "overige_gegevens" not in doc
    assert any("groepscijfers van rondes die al gesloten zijn" in line for line in doc["uitleg"])
