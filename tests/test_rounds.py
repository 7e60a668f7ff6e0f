"""Rounds, resuming and editing (issue 10): each example of the issue, through the console
``--jsonl`` contract where the console can say it, and in process where it cannot (buttons of
scheduled messages, the planner).

Every example here failed on the code before this change: the question after a pause did not
show the saved answer, ``/terug`` at the first question said nothing, typing "2" in the menu
started a new round and dropped the open one, "Antwoorden bekijken" showed only the last round,
a new round in the same period started empty and stored a second answer per question, a person
in two teams was never asked which team, there was no ``/rol``, ``/mijnreflecties`` left out
texts and text-only themes, ``/herinneringen`` switched reminders on, the invitation said neither
how many questions nor how long and came in the same minute as the tip, the tip went to every
member privately, a tip reaction was followed by the menu, reminders counted colleagues one by
one, and typing a reader's name revoked the right at once.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.messages import Reply
from bot.schedule.calendar import AMSTERDAM, quarter_slot, tip_slot
from bot.schedule.planner import plan_due, reminder_replies
from bot.store import Conversation, Store
from tests.people import ConsolePerson, console_people
from tests.test_console import (
    cli,
    invite_code,
    kind_of,
    onboard,
    question_of,
    values,
)
from tests.test_flows import PP, Chat, role_questions, t

CONTENT = get_content()
PRO = role_questions("professional")


@pytest.fixture
def bots() -> Iterator[list[ConsolePerson]]:
    """Every console person a test starts is killed at the end, even when the test fails."""
    with console_people() as started:
        yield started


def db_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def answers_of(db: Path, user: str) -> dict[str, tuple[Any, ...]]:
    """question -> (scale, text, role, run id, period) of one person, one row per question."""
    rows = db_rows(db, """SELECT a.question_id, a.scale, a.text, a.role, a.run_id, a.period
                          FROM answers a JOIN members m ON m.id = a.member_id
                          WHERE m.platform_user_id = ? ORDER BY a.id""", (user,))
    out: dict[str, tuple[Any, ...]] = {}
    for qid, *rest in rows:
        assert qid not in out, f"two answers to {qid}"
        out[qid] = tuple(rest)
    return out


# -- the console --jsonl contract ---------------------------------------------------------------


def console(db: Path, user: str, bots: list[ConsolePerson], code: str | None = None,
            role: str = "professional") -> tuple[ConsolePerson, Reply]:
    """A person in ``teamspiegel chat --jsonl``, onboarded into a team; returns the menu."""
    code = code or invite_code(db, "Wijkteam Noord")  # before the chat process starts
    bot = ConsolePerson(db, user)
    bots.append(bot)
    menu = onboard(bot, role, code)
    return bot, menu


def finish(bot: ConsolePerson) -> None:
    assert bot.close() == 0
    assert "Traceback" not in bot.stderr()


def test_console_terug_at_the_first_question_says_there_is_nothing_before(
    tmp_path: Path, bots: list[ConsolePerson]
) -> None:
    bot, _ = console(tmp_path / "t.db", "u1", bots)
    prompt = bot.step("hele ronde")
    assert question_of(prompt) == PRO[0]
    got = bot.type("/terug")
    prompt = got[-1]
    assert got[0].text == "Dit is de eerste vraag, er is niets om naar terug te gaan."
    # only the short question again, not the theme's intro
    assert question_of(prompt) == PRO[0] and prompt.expects == "scale"
    assert not any(r.text.startswith("Thema ") for r in got)
    finish(bot)


def test_console_after_a_pause_the_question_shows_the_saved_answer(
    tmp_path: Path, bots: list[ConsolePerson]
) -> None:
    db = tmp_path / "p.db"
    bot, _ = console(db, "u1", bots)
    prompt = bot.step("hele ronde")
    prompt = bot.step("4")
    assert kind_of(prompt) == "explain"
    prompt = bot.step("/pauze")
    prompt = bot.step("/verder")
    assert question_of(prompt) == PRO[0]
    assert "Je eerdere antwoord: 4" in prompt.text
    assert "/overslaan" in prompt.text  # how to keep it
    prompt = bot.step("/overslaan")  # keeps the 4
    assert question_of(prompt) == PRO[1] and "eerdere antwoord" not in prompt.text
    assert answers_of(db, "u1")[PRO[0]][0] == 4
    finish(bot)


def test_console_terug_shows_the_earlier_answer(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    bot, _ = console(tmp_path / "b.db", "u1", bots)
    prompt = bot.step("hele ronde")
    prompt = bot.step("3")
    prompt = bot.step("verder")
    assert question_of(prompt) == PRO[1]
    prompt = bot.step("/terug")
    assert question_of(prompt) == PRO[0] and "Je eerdere antwoord: 3" in prompt.text
    finish(bot)


def test_console_menu_numbers_never_shift_and_an_open_round_is_not_dropped(
    tmp_path: Path, bots: list[ConsolePerson]
) -> None:
    db = tmp_path / "m.db"
    bot, menu = console(db, "u1", bots)
    prompt = bot.step("hele ronde")
    prompt = bot.step("4")
    prompt = bot.step("verder")
    prompt = bot.step("/menu")
    # with a round open: the same options in the same places
    assert values(prompt) == values(menu) == ["resume", "tour", "theme", "review", "mine"]
    # "2" does not start a new whole round and drop the open one without a word: it asks
    prompt = bot.step("2")
    assert values(prompt) == ["resume", "new", "menu"]
    assert "1 van 29 vragen" in prompt.text
    assert len(db_rows(db, "SELECT id FROM runs")) == 1
    prompt = bot.step("1")  # go on where I was
    assert question_of(prompt) == PRO[1]
    assert db_rows(db, "SELECT finished_at FROM runs") == [(None,)]
    finish(bot)


def test_console_a_new_round_in_the_same_period_starts_from_the_earlier_answers(
    tmp_path: Path, bots: list[ConsolePerson]
) -> None:
    db = tmp_path / "n.db"
    bot, _ = console(db, "u1", bots)
    prompt = bot.step("hele ronde")
    for score in ("4", "3"):
        prompt = bot.step(score)
        prompt = bot.step("verder")
    prompt = bot.step("/menu")
    prompt = bot.step("hele ronde")
    if values(prompt) == ["resume", "new", "menu"]:
        got = bot.type("nieuwe ronde")
        prompt = got[-1]
    else:
        got = []
    assert any("al 2 van deze 29 vragen" in r.text for r in got), got
    assert question_of(prompt) == PRO[0] and "Je eerdere antwoord: 4" in prompt.text
    prompt = bot.step("/overslaan")  # still so
    assert question_of(prompt) == PRO[1] and "Je eerdere antwoord: 3" in prompt.text
    prompt = bot.step("5")  # this changed
    prompt = bot.step("verder")
    assert question_of(prompt) == PRO[2]
    runs = db_rows(db, "SELECT finished_at IS NOT NULL FROM runs ORDER BY id")
    assert runs == [(1,), (0,)]  # the earlier round closed, not dropped
    rows = answers_of(db, "u1")  # one answer per question and period
    assert {q: r[0] for q, r in rows.items()} == {PRO[0]: 4, PRO[1]: 5}
    finish(bot)


def test_console_review_reaches_every_answer_of_the_period(tmp_path: Path,
                                                            bots: list[ConsolePerson]) -> None:
    db = tmp_path / "review.db"
    bot, _ = console(db, "u2", bots)
    # two rounds of one theme each in the same quarter
    prompt = bot.step("één thema")
    prompt = bot.step("regie voeren")
    for score in ("2", "3", "4"):
        prompt = bot.step(score)
        if values(prompt) == ["verder"]:
            prompt = bot.step("verder")
    assert kind_of(prompt) == "summary"
    prompt = bot.step("menu")
    prompt = bot.step("één thema")
    prompt = bot.step("invloed")  # theme 9: open questions only
    prompt = bot.step("De cliënt zit bij ons overleg aan tafel.")
    prompt = bot.step("nee")
    prompt = bot.step("/overslaan")
    assert kind_of(prompt) == "summary"
    prompt = bot.step("menu")
    prompt = bot.step("antwoorden bekijken")
    assert kind_of(prompt) == "summary"
    assert "Regie voeren" in prompt.text and "Invloed van de cliënt" in prompt.text
    prompt = bot.step("aanpassen")
    assert values(prompt) == ["regie-1", "regie-2", "regie-3", "invloed-1"]
    # an answer of the earlier round is changed in its own row
    prompt = bot.step("1")
    assert question_of(prompt) == "regie-1" and "Je eerdere antwoord: 2" in prompt.text
    prompt = bot.step("5")
    prompt = bot.step("verder")
    assert kind_of(prompt) == "summary"
    rows = answers_of(db, "u2")
    assert rows["regie-1"][0] == 5 and len(rows) == 4
    finish(bot)


def test_console_mijnreflecties_shows_your_texts_and_every_theme(tmp_path: Path,
                                                                bots: list[ConsolePerson]) -> None:
    bot, _ = console(tmp_path / "mine.db", "u2", bots)
    bot.type("één thema")
    bot.type("regie voeren")
    bot.type("4")
    bot.type("Wij spreken af wie de regie heeft.")
    bot.type("nee")
    bot.type("/menu")
    bot.type("één thema")
    bot.type("invloed")  # theme 9: open questions only
    bot.type("De cliënt zit bij ons overleg aan tafel.")
    bot.type("nee")
    got = bot.type("/mijnreflecties")
    mine = got[0].text
    assert re.search(r"Regie voeren — \d{4} Q\d: (gemiddeld )?4,0", mine), mine
    assert "“Wij spreken af wie de regie heeft.”" in mine
    assert "Invloed van de cliënt" in mine  # a theme of open questions only
    assert "“De cliënt zit bij ons overleg aan tafel.”" in mine
    finish(bot)


def test_console_herinneringen_alone_shows_the_setting(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "prefs.db"
    bot, _ = console(db, "u3", bots)

    def reminders_off() -> int:
        return db_rows(db, "SELECT reminders_off FROM members")[0][0]

    got = bot.type("/herinneringen")
    assert "Herinneringen staan aan" in got[0].text and reminders_off() == 0
    got = bot.type("/herinneringen uit")
    assert reminders_off() == 1
    got = bot.type("/herinneringen")
    assert "Herinneringen staan uit" in got[0].text
    assert reminders_off() == 1  # not silently switched on
    got = bot.type("/herinneringen misschien")
    assert "/herinneringen aan" in got[0].text and reminders_off() == 1
    finish(bot)


def test_console_rol_changes_the_role_for_answers_still_to_come(tmp_path: Path,
                                                               bots: list[ConsolePerson]) -> None:
    db = tmp_path / "rol.db"
    bot, _ = console(db, "u3", bots)
    prompt = bot.step("hele ronde")
    prompt = bot.step("3")
    prompt = bot.step("verder")
    got = bot.type("/rol")
    prompt = got[-1]
    assert "professional" in prompt.text and "manager" in values(prompt)
    got = bot.type("teamleider")
    prompt = got[-1]
    assert any(r.text == "Je antwoordt vanaf nu als teamleider of manager." for r in got)
    assert question_of(prompt) == PRO[1]  # back where I was
    prompt = bot.step("4")
    rows = answers_of(db, "u3")
    assert rows[PRO[0]][2] == "professional" and rows[PRO[1]][2] == "manager"
    assert db_rows(db, "SELECT role FROM memberships") == [("manager",)]
    got = bot.type("/rapport")  # a role is no right to read
    assert "leesrecht" in got[0].text
    assert db_rows(db, "SELECT COUNT(*) FROM team_access")[0][0] == 0
    finish(bot)


def test_console_two_teams_asks_which_and_every_question_shows_it(tmp_path: Path,
                                                                  bots: list[ConsolePerson]) -> None:
    db = tmp_path / "teams.db"
    noord = invite_code(db, "Wijkteam Noord")
    zuid = invite_code(db, "Wijkteam Zuid")
    bot, _ = console(db, "u4", bots, noord)
    got = bot.type(f"/start {zuid}")
    prompt = got[-1]
    assert any("Welkom bij Wijkteam Zuid" in r.text for r in got)
    got = bot.type("hele ronde")
    prompt = got[-1]
    assert prompt.text == "Voor welk team is deze ronde?"
    assert [c.label for c in prompt.choices] == ["Wijkteam Noord", "Wijkteam Zuid"]
    prompt = bot.step("zuid")
    assert question_of(prompt) == PRO[0] and "· Wijkteam Zuid" in prompt.text
    prompt = bot.step("4")
    prompt = bot.step("verder")
    assert "Vraag 2 van 29" in prompt.text and "· Wijkteam Zuid" in prompt.text
    assert db_rows(db, "SELECT t.name FROM answers a JOIN teams t ON t.id = a.team_id") == [
        ("Wijkteam Zuid",)]
    finish(bot)


# -- in process: buttons of scheduled messages, side trips, owners ------------------------------


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


def test_reacting_to_a_tip_shows_only_the_thanks(chat: Chat, engine: Engine) -> None:
    chat.onboard()
    chat.press("tour")
    chat.answer()
    qid = chat.question_id
    shown = chat.prompt()
    chat.press("tip:2025-03:4", token=None)
    assert [r.text for r in chat.last] == [t(engine, "tip_thanks")]
    chat.press("klaar")
    assert [r.text for r in chat.last] == [t(engine, "tip_done")]  # nothing else
    assert chat.state == "reflect.question"
    # the question shown before the tip is the current one again: its buttons still work
    chat.press("2", token=shown.prompt_token)
    assert chat.state == "reflect.explain" and chat.answers()[qid]["scale"] == 2
    # with a few words: only the thanks for them, and typing goes on where it was
    chat.press("verder")
    here = chat.question_id
    chat.press("tip:2025-04:5", token=None)
    chat.type("Herkenbaar, vooral de eerste zin.")
    assert [r.text for r in chat.last] == [t(engine, "tip_text_saved")]
    chat.type("5")
    assert chat.answers()[here]["scale"] == 5


def test_invitation_buttons_later_one_theme_and_a_round_while_one_is_open(
    chat: Chat, engine: Engine
) -> None:
    chat.onboard()
    chat.press("go:later", token=None)
    assert [r.text for r in chat.last] == [t(engine, "invite_later")]
    assert chat.state == "menu.main"
    chat.press("go:theme", token=None)
    assert chat.state == "reflect.pick_theme"
    chat.press(PP.themes[0].id)
    chat.answer()
    chat.press("go:tour", token=None)  # a round is open: asked first
    assert chat.state == "reflect.confirm_new"
    assert [c.value for c in chat.prompt().choices] == ["resume", "new", "menu"]
    chat.press("resume")
    assert chat.state == "reflect.question" and chat.question_id == PP.themes[0].questions[1].id


def test_invitation_says_how_many_questions_and_how_long(store: Store) -> None:
    team = store.create_team("Wijkteam Noord")
    for uid, role in (("p", "professional"), ("m", "manager"), ("b", "beleid")):
        mid = store.get_or_create_member("telegram", uid)
        store.join_team(mid, team, role)
        store.save_conversation(Conversation(None, "telegram", f"chat-{uid}", mid, "menu.main"))
    slot = quarter_slot(2026, 3)
    plan_due(store, slot, content=CONTENT)
    rows = store._all("SELECT chat_id, payload, not_before FROM outbox WHERE kind = 'invite'")
    by_chat = {r["chat_id"]: json.loads(r["payload"])[0] for r in rows}
    for chat_id, n in (("chat-p", 29), ("chat-m", 33), ("chat-b", 32)):
        assert f"{n} vragen, zo'n 10 minuten" in by_chat[chat_id]["text"]
        assert [v for _, v in by_chat[chat_id]["choices"]] == ["go:tour", "go:theme", "go:later"]
        assert [label for label, _ in by_chat[chat_id]["choices"]][1:] == ["Eén thema", "Later"]


def test_invitation_never_on_the_tips_day(store: Store, tmp_path: Path) -> None:
    # the default: the tip on the first working day, the invitation on the next one
    for year in (2026, 2027):
        for quarter in (1, 2, 3, 4):
            tip = tip_slot(year, 3 * quarter - 2)
            invite = quarter_slot(year, quarter)
            assert tip is not None and invite.date() > tip.date()
    team = store.create_team("Wijkteam Noord")
    mid = store.get_or_create_member("telegram", "m")
    store.join_team(mid, team, "manager")  # July's tip speaks to team leaders too
    store.save_conversation(Conversation(None, "telegram", "chat-m", mid, "menu.main"))
    # the bot was down from before the quarter began until Friday 3 July, 10:00: both are
    # caught up, and still not together
    plan_due(store, datetime(2026, 7, 3, 10, 0, tzinfo=AMSTERDAM), content=CONTENT)
    times = {r["kind"]: datetime.fromisoformat(r["not_before"]).astimezone(AMSTERDAM)
             for r in store._all("SELECT kind, not_before FROM outbox")}
    assert times["tip"].date() == datetime(2026, 7, 3).date()
    assert times["invite"] == datetime(2026, 7, 6, 9, 0, tzinfo=AMSTERDAM)  # Monday
    # `teamspiegel schedule` shows both, on different days
    db = tmp_path / "schedule.db"
    cli(db, "team", "create", "Wijkteam Zuid")
    out = cli(db, "schedule").stdout
    tips = re.findall(r"tip\s+\w+ (\d+ \w+ \d{4}) (\d\d:\d\d)", out)
    invite = re.search(r"10 vragen\s+\w+ (\d+ \w+ \d{4}) (\d\d:\d\d)", out)
    assert tips and invite, out
    assert invite.group(1) not in {day for day, _ in tips}, out


def _tip_rows(store: Store) -> dict[str, int]:
    return {str(r["chat_id"]): int(r["is_group"])
            for r in store._all("SELECT chat_id, is_group FROM outbox WHERE kind = 'tip'")}


def test_tips_follow_their_audience(store: Store) -> None:
    """January's tip speaks to policy and team leaders: they get it privately, professionals
    do not; the team's group chat gets every tip."""
    team = store.create_team("Wijkteam Noord")
    for uid, role in (("p", "professional"), ("m", "manager"), ("b", "beleid")):
        mid = store.get_or_create_member("telegram", uid)
        store.join_team(mid, team, role)
        store.save_conversation(Conversation(None, "telegram", f"chat-{uid}", mid, "menu.main"))
    store.link_chat("telegram", "-100", team, None)
    january = CONTENT.kalender.tip_for_month(1)
    assert set(january.audience) == {"beleid", "manager"}
    plan_due(store, tip_slot(2027, 1), content=CONTENT)  # type: ignore[arg-type]
    assert _tip_rows(store) == {"chat-m": 0, "chat-b": 0, "-100": 1}
    plan_due(store, tip_slot(2027, 11), content=CONTENT)  # type: ignore[arg-type]
    november = store._all(
        "SELECT chat_id FROM outbox WHERE kind = 'tip' AND period = '2027-11'")
    assert {r["chat_id"] for r in november} == {"chat-p", "-100"}  # November: professionals


def test_tip_audience_names_people() -> None:
    from bot.schedule.tips import tip_replies

    tip = CONTENT.kalender.tip_for_month(5)
    text = tip_replies(tip, "2026-05", group=True, source_line="bron")[0].text
    assert "Vooral voor beleidsmedewerkers en bestuurders." in text


@pytest.mark.parametrize(("colleagues", "others", "words"), [
    (2, 3, None), (3, 9, "Al een paar collega's"), (4, 9, "Al een paar collega's"),
    (5, 9, "Al meer dan de helft"), (9, 9, "Al meer dan de helft"),
])
def test_reminders_say_it_in_coarse_words(colleagues: int, others: int,
                                          words: str | None) -> None:
    text = reminder_replies(1, colleagues, others)[0].text
    assert str(colleagues) not in text and str(others) not in text
    if words is None:
        assert "collega" not in text and "helft" not in text
    else:
        assert words in text


def test_a_typed_readers_name_asks_before_revoking(engine: Engine, store: Store) -> None:
    from tests.test_reports_chat import Person

    team_id = store.create_team("Wijkteam Noord")
    code = store.create_invite(team_id)
    owner = Person(engine, "owner").onboard("manager", code)
    bas = Person(engine, "bas").onboard("manager", code)
    with store.transaction():
        store.grant_access(team_id, owner.id, "owner", by=None, via="cli")
        store.grant_access(team_id, bas.id, "reader", by=None, via="cli", label="Bas")
    owner.type("/beheer")
    owner.press("readers")
    owner.type("bas")  # fuzzy-matches "Leesrecht intrekken: Bas"
    assert store.may_read_team(bas.id, team_id)  # not at once
    assert "Leesrecht van Bas intrekken?" in owner.text()
    owner.type("nee")
    assert store.may_read_team(bas.id, team_id)
    assert t(engine, "access_nothing_changed") in owner.text()
    owner.type("bas")
    owner.type("ja")
    assert not store.may_read_team(bas.id, team_id)
    assert t(engine, "reader_revoked", name="Bas") in owner.text()


def test_role_change_never_touches_read_rights(engine: Engine, store: Store) -> None:
    from tests.test_reports_chat import Person

    team_id = store.create_team("Wijkteam Noord")
    code = store.create_invite(team_id)
    reader = Person(engine, "reader").onboard("manager", code)
    with store.transaction():
        store.grant_access(team_id, reader.id, "reader", by=None, via="cli", label="R")
    reader.type("/rol")
    reader.press("professional")
    assert store.role_in_team(reader.id, team_id) == "professional"
    assert store.may_read_team(reader.id, team_id)
    access = store._all("SELECT access, label FROM team_access")
    assert access == [{"access": "reader", "label": "R"}]


def test_role_change_mid_round_goes_on_with_the_new_roles_questions(chat: Chat) -> None:
    chat.onboard("manager")
    chat.press("theme")
    chat.press("opdrachten")
    chat.answer()  # opdrachten-1
    chat.answer(text="wij stemmen af")  # opdrachten-2
    assert chat.question_id == "opdrachten-3"  # for managers only
    chat.type("/rol")
    chat.press("professional")
    # opdrachten-3 is not a professional's question: the round goes on after it
    assert chat.state == "reflect.summary"
    rows = chat.answers()
    assert {q: r["role"] for q, r in rows.items()} == {"opdrachten-1": "manager",
                                                      "opdrachten-2": "manager"}


def test_answers_after_an_early_close_start_a_new_period(engine: Engine, store: Store) -> None:
    """After an owner closed the round early, a new round counts for the next period and shows
    no 'earlier' answers of the closed one (those are published)."""
    from bot.reports.service import close_round

    now = datetime(2026, 8, 3, 10, 0, tzinfo=UTC)
    engine.clock = lambda: now
    chat = Chat(engine)
    chat.onboard()
    chat.press("tour")
    chat.answer(scale=2)
    chat.type("/menu")
    team_id = int(chat.conv.context["team_id"])  # type: ignore[union-attr]
    assert close_round(store, team_id, now, content=CONTENT) == "2026-Q3"
    chat.press("tour")
    chat.press("new")
    assert "eerdere antwoord" not in chat.prompt().text
    chat.answer(scale=5)
    rows = store._all("SELECT question_id, period, scale FROM answers ORDER BY id")
    assert [(r["question_id"], r["period"], r["scale"]) for r in rows] == [
        (PRO[0], "2026-Q3", 2), (PRO[0], "2026-Q4", 5)]


def test_an_ordinary_answer_turn_costs_no_extra_query(chat: Chat, engine: Engine) -> None:
    """The round's earlier answers live in the conversation (``done``): walking on through new
    questions looks nothing up per question beyond what saving needs."""
    chat.onboard()
    chat.press("tour")
    chat.answer()
    statements: list[str] = []
    engine.store.conn.set_trace_callback(statements.append)
    try:
        chat.type("3")
        chat.press("verder")
    finally:
        engine.store.conn.set_trace_callback(None)
    lookups = [s for s in statements if "FROM answers" in s and "SELECT" in s]
    assert lookups == [], lookups


def test_reading_the_state_names_new_steps_in_dutch(chat: Chat) -> None:
    from bot.engine.mydata import STATE_NL

    for state in ("reflect.confirm_new", "reflect.pick_team", "onboarding.change_role",
                  "reflect.follow_up"):
        assert state in STATE_NL
    chat.onboard()
    chat.type("/rol")
    chat.type("/mijngegevens")
    [doc] = [r for r in chat.last if r.document]
    data = json.loads(doc.document[1])  # type: ignore[index]
    assert data["gesprek"]["waar_je_bent"] == STATE_NL["onboarding.change_role"]
    assert "_pk" not in json.dumps(data) and "prompt_seq" not in json.dumps(data)
    assert "done" not in data["gesprek"]


def test_two_teams_in_process_every_question_and_the_review(engine: Engine,
                                                           store: Store) -> None:
    chat = Chat(engine)
    chat.onboard()
    team = store.create_team("Wijkteam Noord")
    chat.type(f"/start {store.create_invite(team)}")
    chat.press("review")  # nothing yet
    chat.press("tour")
    assert chat.state == "reflect.pick_team"
    chat.press(str(team))
    assert "· Wijkteam Noord" in chat.prompt().text
    chat.answer(scale=4)
    chat.type("/menu")
    chat.press("review")
    assert chat.state == "reflect.pick_team"
    chat.press(str(team))
    assert chat.state == "reflect.summary" and "Wijkteam Noord" in chat.prompt().text


def test_new_round_earlier_hint_not_repeated_in_a_fresh_period(chat: Chat,
                                                              engine: Engine) -> None:
    """A round with no earlier answers this period says nothing about earlier answers."""
    chat.onboard()
    chat.press("tour")
    assert not any("al " in r.text and "van deze" in r.text for r in chat.last)
    assert t(engine, "keep_answer") not in chat.prompt().text


def test_first_question_after_the_end_of_a_quarter(engine: Engine, store: Store) -> None:
    """A round that began in one quarter and goes on in the next: new answers count for the
    new quarter, and nothing of the old quarter is shown as 'earlier'."""
    now = [datetime(2026, 9, 30, 10, 0, tzinfo=UTC)]
    engine.clock = lambda: now[0]
    chat = Chat(engine)
    chat.onboard()
    chat.press("tour")
    chat.answer(scale=2)
    now[0] += timedelta(days=2)
    chat.answer(scale=3)
    rows = store._all("SELECT question_id, period FROM answers ORDER BY id")
    assert [r["period"] for r in rows] == ["2026-Q3", "2026-Q4"]

