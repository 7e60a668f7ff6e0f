"""Engine durability: commit before reply, group commit, restart, one shared machine."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from transitions import Machine

from bot.content import get_content
from bot.engine import actions
from bot.engine.core import Engine
from bot.engine.flows import Dialogues
from bot.engine.messages import Reply
from bot.store import Store
from tests.people import Person, typed

PLATFORM = "console"
PP = get_content().praatplaat


def run(engine: Engine, user: str, *lines: str) -> list[Reply]:
    """``user`` types ``lines`` one after the other; the replies to the last one."""
    person = Person(engine, user, platform=PLATFORM)
    for line in lines:
        person.type(line)
    return person.last


def onboard_and_start_tour(engine: Engine, user: str) -> None:
    run(engine, user, "/start", "ja", "professional", "demo", "hele ronde")
    conv = engine.store.load_conversation(PLATFORM, user)
    assert conv is not None and conv.state == "reflect.question"


def question_in(text: str) -> str:
    found = [q.id for q in PP.questions if q.ask in text]
    assert len(found) == 1, text
    return found[0]


def current_qid(engine: Engine, user: str) -> str:
    """The question a person is on, as a re-rendered prompt shows it."""
    return question_in(engine.current_prompt(PLATFORM, user)[-1].text)


def error_text(engine: Engine) -> str:
    return engine.text("error")


def other_connection_answers(path: Path) -> list[tuple[str, Any, Any]]:
    """What a second, independent connection sees (only committed data)."""
    con = sqlite3.connect(path)
    try:
        return con.execute(
            """SELECT m.platform_user_id, a.question_id, a.scale FROM answers a
               JOIN members m ON m.id = a.member_id ORDER BY a.id"""
        ).fetchall()
    finally:
        con.close()


def db_path(store: Store) -> Path:
    return Path(store.path)


# -- every answer is committed before the prompt returns ----------------------------------


def test_answer_committed_before_reply_returns(engine: Engine) -> None:
    onboard_and_start_tour(engine, "u1")
    qid = current_qid(engine, "u1")
    replies = engine.handle(typed("u1", "4"))
    assert replies[-1].text == engine.text("ask_explain")
    # the engine's connection holds no open transaction ...
    assert not engine.store.conn.in_transaction
    # ... and another connection already sees the answer
    assert other_connection_answers(db_path(engine.store)) == [("u1", qid, 4)]
    replies = engine.handle(typed("u1", "een toelichting"))
    con = sqlite3.connect(db_path(engine.store))
    text = con.execute("SELECT text FROM answers WHERE question_id = ?", (qid,)).fetchone()[0]
    state = con.execute("SELECT state FROM conversations").fetchone()[0]
    con.close()
    assert text == "een toelichting"
    assert state == "reflect.share"


def test_conversation_state_committed_every_turn(engine: Engine) -> None:
    for line in ("/start", "ja", "manager", "demo"):
        engine.handle(typed("u1", line))
        conv = engine.store.load_conversation(PLATFORM, "u1")
        con = sqlite3.connect(db_path(engine.store))
        row = con.execute("SELECT state, prompt_seq FROM conversations").fetchone()
        con.close()
        assert conv is not None and row == (conv.state, conv.prompt_seq)


class FailingCommit:
    """A connection whose COMMIT fails once (the way a full disk makes SQLite roll back)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = True

    def execute(self, sql: str, *args: Any) -> Any:
        if self.armed and sql.strip().upper() == "COMMIT":
            self.armed = False
            self._conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_failed_commit_is_never_acknowledged(engine: Engine) -> None:
    onboard_and_start_tour(engine, "u1")
    qid = current_qid(engine, "u1")
    real = engine.store.conn
    engine.store.conn = FailingCommit(real)  # type: ignore[assignment]
    try:
        replies = engine.handle(typed("u1", "4"))
    finally:
        engine.store.conn = real
    # no "explain" prompt for an answer that is not on disk: the error text instead
    assert [r.text for r in replies] == [error_text(engine)]
    assert other_connection_answers(db_path(engine.store)) == []
    conv = engine.store.load_conversation(PLATFORM, "u1")
    assert conv is not None and conv.state == "reflect.question"
    # the next try works and lands on the same question
    replies = engine.handle(typed("u1", "4"))
    assert replies[-1].text == engine.text("ask_explain")
    assert other_connection_answers(db_path(engine.store)) == [("u1", qid, 4)]


# -- group commit ---------------------------------------------------------------------------


@pytest.fixture
def flaky_engine(
    store: Store, dialogues: Dialogues, monkeypatch: pytest.MonkeyPatch
) -> Engine:
    """An engine whose save_scale action fails for user 'bad' (names are bound at build)."""
    original = actions.REGISTRY["action"]["save_scale"]

    def save_scale(turn: Any, arg: str | None) -> None:
        original(turn, arg)  # write first, so a rollback has something to undo
        if turn.incoming.user_id == "bad" and turn.engine.settings.get("fail", True):
            raise RuntimeError("boom")

    monkeypatch.setitem(actions.REGISTRY["action"], "save_scale", save_scale)
    return Engine(store, get_content(), dialogues)


def test_handle_many_one_failing_turn_does_not_undo_others(flaky_engine: Engine) -> None:
    engine = flaky_engine
    users = ["a", "bad", "c"]
    for user in users:
        onboard_and_start_tour(engine, user)
    qid = current_qid(engine, "a")
    results = engine.handle_many([typed(u, str(n)) for n, u in enumerate(users, 2)])
    assert len(results) == 3
    ask_explain = engine.text("ask_explain")
    assert results[0][-1].text == ask_explain
    assert [r.text for r in results[1]] == [error_text(engine)]
    assert results[2][-1].text == ask_explain
    assert not engine.store.conn.in_transaction
    seen = other_connection_answers(db_path(engine.store))
    assert sorted(seen) == [("a", qid, 2), ("c", qid, 4)]
    states = {u: engine.store.load_conversation(PLATFORM, u).state for u in users}  # type: ignore[union-attr]
    assert states == {"a": "reflect.explain", "bad": "reflect.question", "c": "reflect.explain"}
    # 'bad' can try again once the cause is gone, from the same question
    engine.settings["fail"] = False
    replies = engine.handle(typed("bad", "5"))
    assert replies[-1].text == ask_explain
    assert ("bad", qid, 5) in other_connection_answers(db_path(engine.store))


def test_handle_many_same_person_twice_in_one_batch(engine: Engine) -> None:
    onboard_and_start_tour(engine, "u1")
    qid = current_qid(engine, "u1")
    results = engine.handle_many([typed("u1", "3"), typed("u1", "verder")])
    assert results[0][-1].text == engine.text("ask_explain")
    assert results[1][-1].expects == "scale"
    assert other_connection_answers(db_path(engine.store)) == [("u1", qid, 3)]
    assert current_qid(engine, "u1") != qid


def test_handle_many_replies_only_after_commit(engine: Engine) -> None:
    for user in ("a", "b"):
        onboard_and_start_tour(engine, user)
    real = engine.store.conn
    engine.store.conn = FailingCommit(real)  # type: ignore[assignment]
    try:
        try:
            results = engine.handle_many([typed("a", "2"), typed("b", "3")])
        except sqlite3.Error:
            results = None
    finally:
        engine.store.conn = real
    # either no replies at all, or only error replies: never an acknowledgement
    if results is not None:
        for replies in results:
            assert [r.text for r in replies] == [error_text(engine)]
    assert other_connection_answers(db_path(engine.store)) == []
    for user in ("a", "b"):
        assert engine.store.load_conversation(PLATFORM, user).state == "reflect.question"  # type: ignore[union-attr]
    # and the store is usable again
    results = engine.handle_many([typed("a", "2"), typed("b", "3")])
    assert len(other_connection_answers(db_path(engine.store))) == 2


# -- restart --------------------------------------------------------------------------------


def test_restart_resumes_same_question(tmp_path: Path, dialogues: Dialogues) -> None:
    path = tmp_path / "restart.db"
    store = Store(path)
    engine = Engine(store, get_content(), dialogues)
    onboard_and_start_tour(engine, "u1")
    run(engine, "u1", "2", "verder", "4", "toelichting", "ja")
    qid = current_qid(engine, "u1")
    before = engine.current_prompt(PLATFORM, "u1")[-1]
    answers_before = store.member_answers(store.member_id(PLATFORM, "u1") or -1)
    store.close()

    store2 = Store(path)
    engine2 = Engine(store2, get_content(), dialogues)
    after = engine2.current_prompt(PLATFORM, "u1")[-1]
    assert after.text == before.text and PP.question(qid).text in after.text
    assert after.expects == before.expects
    assert store2.member_answers(store2.member_id(PLATFORM, "u1") or -1) == answers_before
    # and it continues in the same run
    replies = engine2.handle(typed("u1", "5"))
    assert replies[-1].text == engine2.text("ask_explain")
    rows = store2.member_answers(store2.member_id(PLATFORM, "u1") or -1)
    assert len(rows) == 3 and len({r["run_id"] for r in rows}) == 1
    assert rows[-1]["question_id"] == qid
    store2.close()


def test_restart_mid_pause_and_mid_explain(tmp_path: Path, dialogues: Dialogues) -> None:
    path = tmp_path / "restart.db"
    store = Store(path)
    engine = Engine(store, get_content(), dialogues)
    onboard_and_start_tour(engine, "p")
    onboard_and_start_tour(engine, "e")
    qp = current_qid(engine, "p")
    run(engine, "p", "/pauze")
    run(engine, "e", "3")
    store.close()

    store2 = Store(path)
    engine2 = Engine(store2, get_content(), dialogues)
    assert engine2.current_prompt(PLATFORM, "e")[-1].text == dialogues.text("ask_explain")
    replies = run(engine2, "p", "/verder")
    assert PP.question(qp).text in replies[-1].text
    replies = run(engine2, "e", "mijn uitleg")
    assert store2.load_conversation(PLATFORM, "e").state == "reflect.share"  # type: ignore[union-attr]
    store2.close()


# -- one shared machine ---------------------------------------------------------------------


def test_one_machine_many_models(engine: Engine) -> None:
    users = [f"u{n}" for n in range(5)]
    for user in users:
        engine.handle(typed(user, "/start"))
    onboard_and_start_tour(engine, "u0")
    machine = engine.machine
    assert isinstance(machine, Machine)
    models = [engine._models[(PLATFORM, u)] for u in users]
    assert len({id(m) for m in models}) == len(users)
    assert all(m in machine.models for m in models)
    assert machine not in machine.models  # the machine is not a model of itself
    assert models[0].state == "reflect.question"
    assert {m.state for m in models[1:]} == {"onboarding.welcome"}
    # no other Machine was built for the conversations
    assert not any(isinstance(v, Machine) for m in models for v in vars(m).values())


def test_model_cache_is_bounded_and_evicted_conversations_still_work(
    store: Store, dialogues: Dialogues
) -> None:
    engine = Engine(store, get_content(), dialogues, model_cache_size=2)
    for user in ("a", "b", "c"):
        onboard_and_start_tour(engine, user)
    assert len(engine._models) == 2
    assert len(engine.machine.models) == 2
    assert (PLATFORM, "a") not in engine._models
    qid = current_qid(engine, "a")
    replies = engine.handle(typed("a", "5"))  # 'a' was evicted: loaded from the store
    assert replies[-1].text == dialogues.text("ask_explain")
    assert ("a", qid, 5) in other_connection_answers(db_path(store))
    assert len(engine.machine.models) == 2


def test_shared_machine_does_not_leak_models(store: Store, dialogues: Dialogues) -> None:
    engine = Engine(store, get_content(), dialogues, model_cache_size=3)
    for n in range(6):
        user = f"f{n}"
        onboard_and_start_tour(engine, user)
        run(engine, user, "/vergeet", "ja")
    assert len(engine.machine.models) == len(engine._models) <= 3
