"""The conversation cache (bot.store.convcache): a turn's conversation load is served from memory
only while the row is provably current. Every test here makes the cached row stale in one way
(another connection, an in-process write, a failed turn, a savepoint rolled back) and fails if
the load still serves the old values."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.store import Conversation, Store
from bot.store.convcache import WATCHED_TABLES, may_change_loads
from tests.test_engine_statements import counted


def _loads(store: Store, body: Callable[[], object]) -> list[str]:
    """The SELECTs of the conversation load that ``body`` ran (a cache hit runs none)."""
    work, _control = counted(store, body)
    return [s for s in work if "FROM conversations c LEFT JOIN members" in s]


def _person(store: Store, user: str = "42", team: int | None = None) -> tuple[int, int]:
    team = team or store.create_team(f"Team {user}")
    member = store.get_or_create_member("telegram", user)
    with store.transaction():
        store.save_conversation(Conversation(None, "telegram", user, member, "menu.main",
                                             {"team_id": team, "n": 0}, 1, user_id=user))
    return member, team


def _turn(store: Store, user: str = "42", **changes: object) -> Conversation:
    """One turn: load (cached from the turn before), change, save, commit."""
    with store.transaction():
        conv = store.load_conversation("telegram", user)
        assert conv is not None
        for name, value in changes.items():
            setattr(conv, name, value)
        conv.context["n"] += 1
        store.save_conversation(conv)
    return conv


def _load(store: Store, user: str = "42") -> Conversation | None:
    with store.transaction():
        return store.load_conversation("telegram", user)


def test_a_turn_after_a_turn_is_served_from_the_cache(store: Store) -> None:
    _person(store)
    _turn(store)
    assert _loads(store, lambda: _turn(store, state="reflect.question")) == []
    conv = _load(store)
    assert conv is not None and conv.state == "reflect.question" and conv.context["n"] == 2
    # and what the cache served is what the database holds
    assert store.load_conversation("telegram", "42") == conv  # outside a transaction: a read


def test_another_connection_committing_is_seen(store: Store, tmp_path: Path) -> None:
    member, team = _person(store)
    _turn(store)
    other = Store(tmp_path / "teamspiegel.db")  # another process, the CLI, a second bot
    try:
        with other.transaction():
            conv = other.load_conversation("telegram", "42")
            assert conv is not None
            conv.state, conv.context["n"] = "menu.other", 99
            other.save_conversation(conv)
        conv = _load(store)
        assert conv is not None and (conv.state, conv.context["n"]) == ("menu.other", 99)
        _turn(store)  # cached again
        raw = sqlite3.connect(tmp_path / "teamspiegel.db")
        raw.execute("UPDATE members SET unreachable_at = 'x' WHERE id = ?", (member,))
        raw.commit()
        raw.execute("INSERT INTO snapshots (team_id, period, published_at, algorithm_version,"
                    " content_version, data) VALUES (?, '2026-Q4', 'x', 1, 'v', '{}')", (team,))
        raw.commit()
        raw.close()
        with store.transaction():
            conv = store.load_conversation("telegram", "42")
            assert conv is not None and conv.member_unreachable
            assert store.closed_periods(team) == {"2026-Q4"}
        with other.transaction():
            other.delete_conversation("telegram", "42")
        assert _load(store) is None
    finally:
        other.close()


def test_in_process_writes_are_seen(store: Store) -> None:
    member, team = _person(store)
    _turn(store)
    store.update_member(member, unreachable_at="2026-12-01")  # outside a transaction
    conv = _load(store)
    assert conv is not None and conv.member_unreachable
    _turn(store)
    with store.transaction():
        store.mark_reachable(member)
    conv = _load(store)
    assert conv is not None and not conv.member_unreachable
    _turn(store)
    with store.transaction():
        store.insert_snapshot(team_id=team, period="2026-Q4", published_at="x",
                              closed_early=False, algorithm_version=1, content_version="v",
                              data={}, members={}, texts=[])
    with store.transaction():
        assert store.load_conversation("telegram", "42") is not None
        assert store.closed_periods(team) == {"2026-Q4"}
    _turn(store)
    with store.transaction():  # the erasure of /vergeet: the member and what cascades
        store.erase_member_rows(member)
        store.conn.execute("DELETE FROM members WHERE id = ?", (member,))
    assert _load(store) is None


def test_a_save_outside_a_transaction_is_seen(store: Store) -> None:
    _person(store)
    _turn(store)
    conv = store.load_conversation("telegram", "42")
    assert conv is not None
    conv.state = "menu.elsewhere"
    store.save_conversation(conv)  # autocommit
    conv = _load(store)
    assert conv is not None and conv.state == "menu.elsewhere"


def test_a_failed_turn_leaves_nothing_in_the_cache(store: Store) -> None:
    _person(store)
    _turn(store)
    with pytest.raises(RuntimeError), store.transaction():
        conv = store.load_conversation("telegram", "42")
        assert conv is not None
        conv.state = "broken"
        store.save_conversation(conv)
        raise RuntimeError("the turn failed after its save")
    with pytest.raises(RuntimeError), store.transaction():
        conv = store.load_conversation("telegram", "42")
        assert conv is not None
        conv.context["n"] = 1000  # changed in place, never saved
        conv.context["extra"] = [1]
        raise RuntimeError("the turn failed before its save")
    conv = _load(store)
    assert conv is not None and conv.state == "menu.main" and conv.context == {
        "team_id": conv.context["team_id"], "n": 1}


def test_a_savepoint_rolled_back_in_group_commit(store: Store) -> None:
    _person(store)
    _person(store, "43")
    _turn(store)
    _turn(store, "43")
    with store.transaction():  # a batch of turns, each in its savepoint
        with store.savepoint():
            _turn(store, state="first")
        with store.savepoint():
            _turn(store, "43", state="kept")
        with pytest.raises(RuntimeError), store.savepoint():
            _turn(store, state="second")
            raise RuntimeError("this turn failed")
        conv = store.load_conversation("telegram", "42")
        assert conv is not None and conv.state == "first" and conv.context["n"] == 2
        with store.savepoint():
            _turn(store, "43", state="kept again")
    conv = _load(store)
    assert conv is not None and conv.state == "first" and conv.context["n"] == 2
    conv = _load(store, "43")
    assert conv is not None and conv.state == "kept again" and conv.context["n"] == 3


def test_the_debts_bookkeeping_keeps_the_cache(store: Store) -> None:
    """Paying a debt writes columns no load reads: the next turn is still served from memory
    (the transport marks replies delivered after every batch)."""
    _person(store)
    _turn(store, owe=("e1", "2026-12-01T00:00:00"))
    assert store.owed_count() == 1
    assert store.replies_delivered("telegram", ["e1"]) == 1
    assert _loads(store, lambda: _turn(store)) == []
    assert store.owed_count() == 0


def test_what_may_change_a_load() -> None:
    for sql in ("SELECT * FROM conversations", "PRAGMA data_version", "BEGIN IMMEDIATE",
                "COMMIT", "SAVEPOINT turn", "RELEASE turn",
                "INSERT INTO answers (run_id) VALUES (?)", "UPDATE runs SET x = 1",
                "UPDATE conversations SET owed_event = NULL, owed_at = NULL WHERE id = ?",
                "UPDATE conversations SET owed_event = ?, owed_at = ? WHERE id = ?"):
        assert not may_change_loads(sql), sql
    for sql in ("ROLLBACK", "ROLLBACK TO turn", "DELETE FROM members WHERE id = ?",
                "UPDATE members SET unreachable_at = ? WHERE id = ?", "DELETE FROM teams",
                "INSERT INTO snapshots (team_id) VALUES (1)", "VACUUM",
                "UPDATE conversations SET state = ? WHERE id = ?",
                "UPDATE conversations SET owed_event = NULL, state = 'x' WHERE id = ?",
                "update Conversations set context = '{}'", "DROP TABLE runs",
                "ALTER TABLE conversations ADD COLUMN x", "-- a comment\nDELETE FROM x",
                "WITH x AS (SELECT 1) DELETE FROM conversations",
                # what the cached small reads read (tests/test_read_cache.py)
                "INSERT INTO team_pack_choices (team_id) VALUES (1)",
                "DELETE FROM team_packs WHERE team_id = ?"):
        assert may_change_loads(sql), sql


def test_the_watched_tables_cover_every_way_a_load_can_change(store: Store) -> None:
    """The load reads conversations, members and snapshots; a row of theirs can also go by a
    cascade from the tables they refer to, or change by a trigger: the watched tables must
    hold every parent, and there must be no trigger."""
    for table in ("conversations", "members", "snapshots"):
        parents = {row[2] for row in store.conn.execute(f"PRAGMA foreign_key_list({table})")}
        assert parents <= set(WATCHED_TABLES), (table, parents)
    assert store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []


def test_a_rollback_sqlite_did_by_itself_leaves_nothing(store: Store) -> None:
    """A full disk or an I/O error can make SQLite roll the transaction back on its own: no
    ROLLBACK statement passes the connection then, and the failed turn's rows must still go."""
    _person(store)
    _person(store, "43")
    _turn(store)
    _turn(store, "43")

    def failed_turn() -> None:
        conv = store.load_conversation("telegram", "42")
        assert conv is not None
        conv.state = "never committed"
        store.save_conversation(conv)
        sqlite3.Connection.execute(store.conn, "ROLLBACK")  # as SQLite does it itself
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(sqlite3.OperationalError), store.transaction():
        failed_turn()
    conv = _load(store)
    assert conv is not None and conv.state == "menu.main"
    with pytest.raises(sqlite3.OperationalError), store.transaction():  # in group commit
        with store.savepoint():
            _turn(store, "43", state="never committed either")
        with store.savepoint():
            failed_turn()
    conv = _load(store, "43")
    assert conv is not None and conv.state == "menu.main"
    conv = _load(store)
    assert conv is not None and conv.state == "menu.main"


def test_group_commit_with_a_failing_turn_through_the_engine(store: Store, engine,  # noqa: ANN001
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the engine's group commit: a turn that fails after writing (its savepoint rolled
    back) and the turns around it; afterwards every cached load equals the database."""
    from bot.engine.messages import Incoming

    invite = store.create_invite(store.create_team("Wijkteam Zuid"))
    n = iter(range(1, 10_000))

    def inc(user: str, value: str, kind: str = "choice") -> Incoming:
        conv = store.load_conversation("telegram", user)
        token = str(conv.prompt_seq) if conv and kind == "choice" else None
        return Incoming("telegram", user, user, kind, text=value, value=value,
                        event_id=str(next(n)), prompt_token=token)

    for user in ("42", "43"):
        engine.handle(Incoming("telegram", user, user, "command", text=f"/start {invite}",
                               event_id=str(next(n)), command="start", args=invite))
        for value in ("ja", "professional", "tour", "4"):
            engine.handle(inc(user, value))

    real_save = store.save_conversation

    def failing_save(conv: Conversation) -> None:
        real_save(conv)
        if conv.user_id == "43":
            raise RuntimeError("a defect in this turn, after its save")

    monkeypatch.setattr(store, "save_conversation", failing_save)
    first, second = inc("42", "verder"), inc("43", "verder")
    out = engine.handle_many([first, second, inc("42", "3")])
    assert len(out) == 3
    monkeypatch.setattr(store, "save_conversation", real_save)

    raw = sqlite3.connect(store.path)
    for user in ("42", "43"):
        state, context, seq = raw.execute(
            "SELECT state, context, prompt_seq FROM conversations WHERE user_id = ?",
            (user,)).fetchone()
        conv = _load(store, user)
        assert conv is not None
        assert (conv.state, conv.context, conv.prompt_seq) == (
            state, __import__("json").loads(context), seq), user
    raw.close()
    # and the person whose turn failed goes on from where the database says
    assert engine.handle(inc("43", "verder"))


def test_a_write_through_the_kept_cursor_is_watched_too(store: Store) -> None:
    """``WatchedConnection.write`` (one kept cursor for the turn's writes) classifies its
    statement like ``execute``: a write to a watched table through it empties the cache."""
    _person(store)
    _turn(store)
    with store.transaction():
        cur = store.conn.write("UPDATE conversations SET state = 'elsewhere' WHERE user_id = ?",
                               ("42",))
        assert cur.rowcount == 1
    conv = _load(store)
    assert conv is not None and conv.state == "elsewhere"
