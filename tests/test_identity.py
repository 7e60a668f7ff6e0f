"""Identity per sender, personal replies, /mijngegevens and /vergeet, in process.

A real Engine on a real SQLite file. The person is always the sender: a chat (a Matrix room)
that changes hands never changes who is speaking. Personal replies are marked for the
transports. ``/mijngegevens`` is a readable file that covers every table that refers to a
member (also tables a later release adds) and works before consent. ``/vergeet`` leaves no
byte of the person in the database, its WAL or its shared-memory file.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from bot.app import install_plugins
from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.messages import Incoming, Reply, withhold_personal
from bot.engine.mydata import OTHER, SECTIONS
from bot.store import Store
from bot.store.schema import migrate
from tests.people import Person

PP = get_content().praatplaat
SECRET = "ZEBRA-tekst-7f3a: de wethouder luistert niet"
TIP_TEXT = "KAMEEL-reactie-91c2 op de maandtip"


@pytest.fixture
def team(engine: Engine) -> tuple[int, str]:
    team_id = engine.store.create_team("Wijkteam Noord")
    return team_id, engine.store.create_invite(team_id)


def onboard_and_answer(person: Person, code: str, role: str = "manager") -> str:
    """Consent, role, team (with a read right granted by the operator), then one question
    with a private explanation; returns its id."""
    person.type(f"/start {code}")
    person.type("ja")
    person.type(role)
    assert "Wat wil je doen?" in person.texts(), person.texts()
    store = person.engine.store
    with store.transaction():
        team_id = store.memberships(person.member_id or -1)[0]["team_id"]
        store.grant_access(team_id, person.member_id or -1, "reader", by=None, via="cli")
    person.type("Eén thema kiezen")
    person.type("1")
    qid = PP.themes[0].questions[0].id
    person.type("4")
    person.type(SECRET)
    person.type("Nee, alleen voor mij")
    return qid


# -- identity per sender ---------------------------------------------------------------------


def test_a_chat_that_changes_hands_does_not_change_who_is_speaking(
    engine: Engine, team: tuple[int, str]
) -> None:
    """Even if a transport took a shared room for a private chat, the engine would not let
    the next person in it continue the conversation of the first."""
    install_plugins(engine, Settings(web_url="https://dash.example", secret_key="s" * 32))
    alice = Person(engine, "@alice:example.org", platform="matrix", chat="!dm")
    onboard_and_answer(alice, team[1])
    alice_id = alice.member_id
    answers = engine.store.member_answers(alice_id or -1)
    assert [a["text"] for a in answers] == [SECRET]

    bob = Person(engine, "@bob:example.org", platform="matrix", chat="!dm")  # the same room
    seen: list[Reply] = []
    for line in ("/mijngegevens", "/dashboard", "/mijnreflecties", "/verder", "4", "/vergeet",
                 "ja", "/menu"):
        seen += bob.type(line)
    for reply in seen:
        assert SECRET not in reply.text and "/login/" not in reply.text
        for link in reply.links:
            assert "/login/" not in link.url
        if reply.document:
            data = reply.document[1].decode()
            assert SECRET not in data and "antwoorden" not in json.loads(data)
    assert bob.member_id is None
    assert engine.store.member_answers(alice_id or -1) == answers
    conv = engine.store.load_conversation("matrix", alice.user)
    assert conv is not None and conv.member_id == alice_id and conv.state == "reflect.question"
    assert engine.store.conn.execute("SELECT COUNT(*) FROM web_logins").fetchone()[0] == 0


def test_the_delivery_address_follows_the_private_chat(engine: Engine,
                                                       team: tuple[int, str]) -> None:
    alice = Person(engine, "@alice:example.org", platform="matrix", chat="!old-dm")
    onboard_and_answer(alice, team[1])
    before = engine.store.load_conversation("matrix", alice.user)
    alice.type("/menu", chat="!new-dm")
    after = engine.store.load_conversation("matrix", alice.user)
    assert before is not None and after is not None
    assert (after.id, after.member_id) == (before.id, before.member_id)
    assert (before.chat_id, after.chat_id) == ("!old-dm", "!new-dm")
    assert after.state == "menu.main"


def test_no_display_name_is_stored(engine: Engine, team: tuple[int, str]) -> None:
    inc = Incoming("matrix", "@sam:example.org", "!dm", "command", text="/start",
                   command="start", args=team[1], display_name="Sam de Vries")
    engine.handle(inc)
    engine.handle(Incoming("matrix", "@sam:example.org", "!dm", "text", text="ja",
                           display_name="Sam de Vries"))
    assert engine.store.get_member(engine.store.member_id("matrix", "@sam:example.org") or -1)[
        "display_name"] is None  # type: ignore[index]
    raw = Path(engine.store.path).read_bytes() + Path(engine.store.path + "-wal").read_bytes()
    assert b"Sam de Vries" not in raw


# -- personal replies --------------------------------------------------------------------------


def test_personal_replies_are_marked(engine: Engine, team: tuple[int, str]) -> None:
    install_plugins(engine, Settings(web_url="https://dash.example", secret_key="s" * 32))
    alice = Person(engine, "alice", platform="console")
    onboard_and_answer(alice, team[1])
    question = [r for r in alice.last if r.is_prompt][-1]
    assert question.expects == "scale" and not question.personal  # a plain question

    def personal(line: str) -> list[Reply]:
        return [r for r in alice.type(line) if r.personal]

    assert [r.document[0] for r in personal("/mijngegevens") if r.document] == [
        "teamspiegel-mijngegevens.json"]
    assert any(link.url.startswith("https://dash.example/login/")
               for r in personal("/dashboard") for link in r.links)
    assert personal("/mijnreflecties")
    assert personal("/rapport")
    alice.type("/menu")
    alice.type("Antwoorden bekijken of aanpassen")
    summary = [r for r in alice.last if r.is_prompt][-1]
    assert summary.personal and "toelichting" in summary.text  # your run, summed up
    picks = alice.type("Antwoord aanpassen")
    assert [r for r in picks if r.is_prompt][-1].personal  # quotes your answers
    alice.type("1")
    editing = [r for r in alice.last if r.is_prompt][-1]
    assert editing.personal and "Je eerdere antwoord" in editing.text


def test_owner_invites_and_the_readers_list_are_personal(engine: Engine,
                                                          team: tuple[int, str]) -> None:
    owner = Person(engine, "owner", platform="console")
    onboard_and_answer(owner, team[1])
    with engine.store.transaction():
        engine.store.grant_access(team[0], owner.member_id or -1, "owner", by=None, via="cli")
    owner.type("/leesrecht")
    owner.type("Sam de Vries")
    invite = [r for r in owner.last if team[1] not in r.text and "Sam de Vries" in r.text]
    assert invite and all(r.personal for r in invite)  # a single-use key
    owner.type("Wie mag lezen?")
    readers = [r for r in owner.last if r.is_prompt][-1]
    assert "Sam de Vries" in readers.text and readers.personal  # names others
    owner.type("/koppel")
    assert any(r.personal for r in owner.last)  # a one-time group code


def test_withhold_personal_outside_a_private_chat() -> None:
    refusal = Reply("privé graag")
    replies = [Reply("hoi"), Reply("export", personal=True), Reply("link", personal=True),
               Reply("vraag")]
    assert withhold_personal(replies, private=True, refusal=refusal) == replies
    assert [r.text for r in withhold_personal(replies, private=False, refusal=refusal)] == [
        "hoi", "privé graag", "vraag"]


# -- /mijngegevens --------------------------------------------------------------------------------


def test_mijngegevens_before_consent(engine: Engine, team: tuple[int, str]) -> None:
    newcomer = Person(engine, "@new:example.org", platform="matrix")
    newcomer.type(f"/start {team[1]}")
    newcomer.type("/mijngegevens")
    assert engine.text("export_caption_before_consent") in newcomer.texts()
    assert [r for r in newcomer.last if r.document][0].personal
    data = newcomer.document()
    assert data["uitleg"]
    assert data["over_jou"]["gebruikers_id"] == "@new:example.org"
    assert data["over_jou"]["toestemming_gegeven"] is None
    assert data["gesprek"]["uitnodigingscode_in_afwachting"] == team[1]
    assert data["gesprek"]["waar_je_bent"] == "bij de vraag of je meedoet"
    assert "antwoorden" not in data
    assert newcomer.member_id is None
    assert engine.text("welcome") in newcomer.texts()  # and the consent step again
    # /vergeet before consent: the pending step goes at once
    newcomer.type("/vergeet")
    assert engine.text("forgotten") in newcomer.texts()
    assert engine.store.load_conversation("matrix", "@new:example.org") is None


INTERNAL_KEYS = {"_pk", "_p", "prompt_seq", "context", "id", "member_id", "run_id", "team_id",
                 "source_ref", "token_hash", "payload", "dedup_key", "platform_user_id",
                 "id_hash", "token", "label", "granted_by", "created_by", "actor_member_id",
                 "subject_member_id"}


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_mijngegevens_is_readable(engine: Engine, team: tuple[int, str]) -> None:
    install_plugins(engine, Settings(web_url="https://dash.example", secret_key="s" * 32))
    alice = Person(engine, "alice", platform="console")
    qid = onboard_and_answer(alice, team[1])
    alice.type("/dashboard")
    mid = alice.member_id or -1
    with engine.store.transaction():
        engine.store.save_tip_reaction(mid, team[0], "2026-03", 3, 4)
        engine.store.set_tip_reaction_text(mid, "2026-03", TIP_TEXT, True)
        engine.store.link_chat("console", "groep-1", team[0], mid)
        engine.store.add_followup(team[0], "regie", "We plannen een casusoverleg.", mid)
        engine.store.audit("report_view", actor=mid, team_id=team[0])
    alice.type("/mijngegevens")
    data = alice.document()
    raw = json.dumps(data, ensure_ascii=False)
    assert not _keys(data) & INTERNAL_KEYS, _keys(data) & INTERNAL_KEYS
    assert '"_pk"' not in raw and "prompt_seq" not in raw
    assert all(re.fullmatch(r"[a-z_]+", k) for k in _keys(data) if not k.startswith("uitnod"))
    assert isinstance(data["uitleg"], list) and len(data["uitleg"]) >= 3
    (answer,) = data["antwoorden"]
    assert answer == answer | {
        "team": "Wijkteam Noord", "thema": PP.theme_of(qid).title,
        "vraag": PP.question(qid).text, "score": 4, "toelichting": SECRET,
        "toelichting_gedeeld": "nee, alleen voor jou", "geantwoord_als": "teamleider of manager",
        "ronde": 1,
    }
    assert data["rondes"][0]["wat"].startswith("thema: ")
    assert data["teams"] == [data["teams"][0] | {"team": "Wijkteam Noord",
                                                  "rol": "teamleider of manager"}]
    assert data["reacties_op_maandtips"][0]["reactie"] == TIP_TEXT
    assert data["wat_we_ermee_doen_geschreven"][0]["tekst"] == "We plannen een casusoverleg."
    assert data["gekoppelde_groepen"][0]["team"] == "Wijkteam Noord"
    assert len(data["inloglinks_dashboard"]) == 1
    assert data["logboek"][-1] | {"wat": "report_view", "door_jou": "ja"} == data["logboek"][-1]
    assert data["gesprek"]["waar_je_bent"] == "bij een vraag van je ronde"
    assert [r["recht"] for r in data["eigenaar_en_leesrechten"]["jouw_rechten"]] == ["leesrecht"]
    assert data["uitnodigingen_die_je_maakte"] == [] and data["dashboard_sessies"] == []


def _member_tables(conn: sqlite3.Connection) -> set[str]:
    """Tables with a column that refers to a member, found independently of the store: a
    foreign key to members, or a column whose name says member."""
    found = set()
    for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"):
        if table == "members":
            continue
        fks = {row[2] for row in conn.execute(f'PRAGMA foreign_key_list("{table}")')}
        columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        if "members" in fks or any("member" in c for c in columns):
            found.add(table)
    return found


def test_mijngegevens_covers_every_table_that_refers_to_members(
    engine: Engine, team: tuple[int, str]
) -> None:
    """Fails when a table with a member column is left out of the export (also a table a
    later release adds: the export reads the schema, not a list)."""
    alice = Person(engine, "alice", platform="console")
    onboard_and_answer(alice, team[1])
    alice.type("/mijngegevens")
    data = alice.document()
    tables = _member_tables(engine.store.conn)
    assert {"answers", "runs", "memberships", "conversations", "audit_log"} <= tables
    for table in tables:
        assert SECTIONS.get(table) in data or table in data.get(OTHER, {}), table


def test_a_table_added_later_is_exported_and_erased(engine: Engine,
                                                    team: tuple[int, str]) -> None:
    conn = engine.store.conn
    conn.execute("""CREATE TABLE grants_later (
        id INTEGER PRIMARY KEY,
        member_id INTEGER NOT NULL REFERENCES members(id),
        team_id INTEGER REFERENCES teams(id),
        granted_note TEXT)""")
    conn.execute("CREATE TABLE notes_later (about_member_id INTEGER, note TEXT)")
    alice = Person(engine, "alice", platform="console")
    onboard_and_answer(alice, team[1])
    mid = alice.member_id
    conn.execute("INSERT INTO grants_later (member_id, team_id, granted_note) VALUES (?, ?, ?)",
                 (mid, team[0], "LEESRECHT-van-alice"))
    conn.execute("INSERT INTO notes_later VALUES (?, 'NOTITIE-over-alice')", (mid,))
    alice.type("/mijngegevens")
    other = alice.document()[OTHER]
    assert other["grants_later"] == [{"team_id": team[0], "granted_note": "LEESRECHT-van-alice"}]
    assert other["notes_later"] == [{"note": "NOTITIE-over-alice"}]
    alice.type("/vergeet")
    alice.type("ja")
    assert conn.execute("SELECT COUNT(*) FROM grants_later").fetchone() == (0,)
    assert conn.execute("SELECT about_member_id FROM notes_later").fetchall() == [(None,)]


# -- /vergeet --------------------------------------------------------------------------------------


def _db_bytes(path: str) -> dict[str, bytes]:
    files = {name: Path(path + suffix) for name, suffix in
             (("db", ""), ("wal", "-wal"), ("shm", "-shm"))}
    return {name: p.read_bytes() if p.exists() else b"" for name, p in files.items()}


USER = "tg-user-8d31c9e"


def _reflect_and_react(engine: Engine, team: tuple[int, str]) -> Person:
    alice = Person(engine, USER, platform="console")
    onboard_and_answer(alice, team[1])
    mid = alice.member_id or -1
    alice.type("/menu")
    alice.type("Antwoorden bekijken of aanpassen")
    alice.type("Antwoord aanpassen")  # the choices quote the answer: it is in the context too
    with engine.store.transaction():
        engine.store.save_tip_reaction(mid, team[0], "2026-03", 3, 4)
        engine.store.set_tip_reaction_text(mid, "2026-03", TIP_TEXT, True)
    return alice


def test_vergeet_leaves_no_byte_in_the_database_files(
    engine: Engine, team: tuple[int, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = _reflect_and_react(engine, team)
    before = b"".join(_db_bytes(engine.store.path).values())
    assert SECRET.encode() in before and USER.encode() in before  # what we look for is there
    alice.type("/vergeet")
    alice.type("ja")
    assert engine.text("forgotten") in alice.texts()
    for name, data in _db_bytes(engine.store.path).items():
        for needle in (SECRET, TIP_TEXT, USER):
            assert needle.encode() not in data, f"{needle!r} still in the {name} file"
    # and nothing of it was ever logged
    assert SECRET not in caplog.text and TIP_TEXT not in caplog.text
    # the other data is fine and the file still works
    assert engine.store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert engine.store.get_team(team[0]) is not None


def test_saying_no_at_the_start_leaves_no_byte(engine: Engine, team: tuple[int, str]) -> None:
    newcomer = Person(engine, "@nee-zegger-5c1d:example.org", platform="matrix", chat="!dm-5c1d")
    newcomer.type(f"/start {team[1]}")
    assert b"nee-zegger-5c1d" in b"".join(_db_bytes(engine.store.path).values())
    newcomer.type("Nee, liever niet")
    assert engine.text("declined") in newcomer.texts()
    for name, data in _db_bytes(engine.store.path).items():
        assert b"nee-zegger-5c1d" not in data, name
        assert b"!dm-5c1d" not in data, name


def test_vergeet_checkpoint_waits_for_a_reader_then_finishes(
    engine: Engine, team: tuple[int, str]
) -> None:
    """A dashboard process reading at that moment keeps an old snapshot alive: the truncating
    checkpoint cannot finish then, and the schedule's next tick finishes it."""
    from datetime import UTC, datetime

    from bot.schedule.retention import RetentionTick

    alice = _reflect_and_react(engine, team)
    reader = sqlite3.connect(engine.store.path)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM answers").fetchone()  # holds a read snapshot
    alice.type("/vergeet")
    alice.type("ja")
    assert engine.store.checkpoint_pending
    reader.rollback()
    reader.close()
    tick = RetentionTick(engine.store, 3)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    tick(now)  # the hourly purge, which checkpoints when it deleted something
    tick(now)  # within the hour: only the pending checkpoint
    assert not engine.store.checkpoint_pending
    for name, data in _db_bytes(engine.store.path).items():
        assert SECRET.encode() not in data, name
        assert USER.encode() not in data, name


# -- the migration ---------------------------------------------------------------------------------


def _v3_database(path: Path) -> None:
    """A database as release 0.3 left it: a Telegram member with a private and a group
    conversation, a Matrix member with two DMs, someone who never consented; names kept."""
    db = sqlite_utils.Database(path)
    assert migrate(db, target=3) == [1, 2, 3]
    c = db.conn
    c.execute("INSERT INTO teams (id, name, is_demo, created_at) VALUES (1, 'Oost', 0, '2025-01-01')")
    c.execute("""INSERT INTO members (id, platform, platform_user_id, display_name, consent_at,
                 created_at) VALUES (7, 'telegram', '555', 'Sam Jansen', '2025-01-02',
                 '2025-01-02'), (8, 'matrix', '@kim:x.org', 'Kim', '2025-01-02', '2025-01-02')""")
    c.execute("INSERT INTO memberships VALUES (7, 1, 'professional', '2025-01-02')")
    c.execute("INSERT INTO memberships VALUES (8, 1, 'professional', '2025-01-02')")
    c.execute("""INSERT INTO team_chats (platform, chat_id, team_id, linked_by, linked_at)
                 VALUES ('telegram', '-100', 1, 7, '2025-01-05')""")
    rows = [
        ("telegram", "555", 7, "menu.paused", '{"role": "professional", "team_id": 1}', 5,
         "2025-01-03"),
        ("telegram", "-100", 7, "menu.main", "{}", 1, "2025-02-01"),  # group, newer
        ("matrix", "!old", 8, "menu.main", "{}", 1, "2025-01-03"),
        ("matrix", "!new", 8, "menu.paused", '{"resume": "menu.main"}', 2, "2025-03-01"),
        ("telegram", "777", None, "onboarding.welcome", '{"invite": "abc"}', 1, "2025-01-04"),
    ]
    c.executemany("""INSERT INTO conversations (platform, chat_id, member_id, state, context,
                     prompt_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)""", rows)
    c.commit()
    c.close()


def test_migration_keys_conversations_by_sender(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    _v3_database(path)
    store = Store(path)
    try:
        assert store.migrated_from == 3
        sam = store.load_conversation("telegram", "555")
        assert sam is not None and (sam.chat_id, sam.member_id, sam.state, sam.context) == (
            "555", 7, "menu.paused", {"role": "professional", "team_id": 1})
        kim = store.load_conversation("matrix", "@kim:x.org")
        assert kim is not None and (kim.chat_id, kim.state) == ("!new", "menu.paused")
        assert store.load_conversation("telegram", "777") is None  # never consented
        assert store.conn.execute("SELECT COUNT(*) FROM conversations").fetchone() == (2,)
        assert {m["display_name"] for m in (store.get_member(7), store.get_member(8))} == {None}
        # carried-over conversations go on where they were, from their private chat
        engine = Engine(store)
        replies = engine.handle(Incoming("telegram", "555", "555", "command", text="/menu",
                                         command="menu"))
        assert [r.text for r in replies] == [engine.text("menu")]
        assert store.load_conversation("telegram", "555").state == "menu.main"  # type: ignore[union-attr]
        raw = b"".join(_db_bytes(str(path)).values())
        assert b"Sam Jansen" not in raw  # cleared, and the file rewritten after the migration
    finally:
        store.close()
