"""The SQLite store: pragmas, migrations, newer-schema refusal, invites, export and erasure."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.store import LATEST, Conversation, SchemaError, Store
from bot.store.schema import MIGRATIONS, current_version, migrate
from tests.cli import clean_env, run_cli


def test_pragmas(store: Store) -> None:
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version == LATEST


def test_wal_mode_is_persistent_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    Store(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST
    con.close()


def test_foreign_keys_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            "INSERT INTO memberships (member_id, team_id, role, joined_at) VALUES (999, 999, 'x', 'now')"
        )


def test_fresh_database_applies_every_migration(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "fresh.db")
    assert migrate(db) == list(range(1, LATEST + 1))
    assert current_version(db) == LATEST == len(MIGRATIONS)
    assert migrate(db) == []  # idempotent


def _v1_database(path: Path) -> dict[str, int]:
    """A database as release 0.1 left it, with one of everything."""
    db = sqlite_utils.Database(path)
    assert migrate(db, target=1) == [1]
    assert current_version(db) == 1
    c = db.conn
    c.execute("INSERT INTO teams (id, name, is_demo, created_at) VALUES (1, 'Wijkteam Oost', 0, '2024-01-01')")
    c.execute("""INSERT INTO members (id, platform, platform_user_id, display_name, consent_at,
                 created_at) VALUES (7, 'telegram', '12345', 'Sam', '2024-01-02', '2024-01-02')""")
    c.execute("INSERT INTO memberships VALUES (7, 1, 'manager', '2024-01-02')")
    c.execute("INSERT INTO invites (token, team_id, created_at) VALUES ('tok', 1, '2024-01-01')")
    c.execute("""INSERT INTO conversations (platform, chat_id, member_id, state, context, prompt_seq,
                 updated_at) VALUES ('telegram', '12345', 7, 'reflect.question',
                 '{"run": 3, "i": 1}', 5, '2024-01-03')""")
    c.execute("""INSERT INTO runs (id, member_id, team_id, scope, period, started_at,
                 last_activity_at) VALUES (3, 7, 1, 'tour', '2024-Q1', '2024-01-03', '2024-01-03')""")
    c.execute("""INSERT INTO answers (run_id, member_id, team_id, role, theme_id, question_id, period,
                 scale, text, share_text, answered_at, updated_at, content_version)
                 VALUES (3, 7, 1, 'manager', 'samenhang', 'samenhang-1', '2024-Q1', 4, 'goed', 1,
                 '2024-01-03', '2024-01-03', 'praatplaat=1;kalender=1')""")
    c.commit()
    tables = set(db.table_names())
    assert "outbox" not in tables and "team_chats" not in tables
    db.conn.close()
    return {"team": 1, "member": 7, "run": 3}


def test_migration_from_v1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    ids = _v1_database(path)
    store = Store(path)
    assert store.migrated_from == 1
    assert store.schema_version == LATEST
    # data intact
    assert store.get_team(ids["team"])["name"] == "Wijkteam Oost"  # type: ignore[index]
    member = store.get_member(ids["member"])
    assert member is not None and member["consent_at"]
    assert member["display_name"] is None  # names are no longer kept (release 0.4)
    assert store.role_in_team(ids["member"], ids["team"]) == "manager"
    assert store.resolve_invite("tok") == (ids["team"], "ok")
    conv = store.load_conversation("telegram", "12345")
    assert conv == Conversation(conv.id, "telegram", "12345", 7, "reflect.question",  # type: ignore[union-attr]
                                {"run": 3, "i": 1}, 5, user_id="12345")
    answers = store.run_answers(ids["run"])
    assert answers["samenhang-1"]["scale"] == 4 and answers["samenhang-1"]["text"] == "goed"
    # new tables and columns exist, with their defaults for old rows
    tables = set(store.db.table_names())
    assert {"team_chats", "outbox", "tip_reactions", "web_logins", "followups"} <= tables
    assert member["reminders_off"] == 0 and member["paused_until"] is None
    team = store.get_team(ids["team"])
    assert team is not None and team["reflection_cadence"] == "quarter"
    # and the new parts work on the old data
    store.update_member(ids["member"], paused_until="2099-01-01")
    store.link_chat("telegram", "-100", ids["team"], ids["member"])
    assert store.chat_team("telegram", "-100") == ids["team"]
    store.close()


def test_migration_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "half.db"
    _v1_database(path)

    def broken(db: sqlite_utils.Database) -> None:
        db.execute("ALTER TABLE members ADD COLUMN reminders_off INTEGER NOT NULL DEFAULT 0")
        raise RuntimeError("power cut")

    import bot.store.schema as schema

    monkeypatch.setattr(schema, "MIGRATIONS", [schema.MIGRATIONS[0], broken,
                                               *schema.MIGRATIONS[2:]])
    with pytest.raises(RuntimeError):
        Store(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    cols = [r[1] for r in con.execute("PRAGMA table_info(members)")]
    con.close()
    assert "reminders_off" not in cols
    monkeypatch.undo()
    store = Store(path)
    assert store.schema_version == LATEST
    store.close()


def _newer_database(path: Path) -> None:
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {LATEST + 1}")
    con.commit()
    con.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    _newer_database(path)
    with pytest.raises(SchemaError) as err:
        Store(path)
    message = str(err.value)
    assert f"schemaversie {LATEST + 1}" in message
    assert f"kent er maar {LATEST}" in message
    assert "TEAMSPIEGEL_DB" in message
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST + 1  # untouched
    con.close()


@pytest.mark.parametrize("argv", [["team", "list"], ["export", "--format", "csv"]])
def test_cli_refuses_newer_schema(tmp_path: Path, argv: list[str]) -> None:
    path = tmp_path / "newer.db"
    _newer_database(path)
    proc = run_cli(*argv, env=clean_env(path), cwd=tmp_path)
    assert proc.returncode == 1
    assert f"schemaversie {LATEST + 1}" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- invites ----------------------------------------------------------------------------------


def test_invites_are_unguessable(store: Store) -> None:
    team = store.create_team("A")
    tokens = [store.create_invite(team) for _ in range(1000)]
    assert len(set(tokens)) == 1000
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token), token
        assert len(token.encode()) <= 64  # fits Telegram's deep link payload
    # not sequential or sharing a long prefix
    assert len({t[:6] for t in tokens}) > 990
    # all characters of the alphabet show up (a real random source, not a small subset)
    assert len(set("".join(tokens))) == 64


def test_invite_resolve_revoke_expire(store: Store) -> None:
    team = store.create_team("A")
    ok = store.create_invite(team)
    assert store.resolve_invite(ok) == (team, "ok")
    assert store.resolve_invite(f"  {ok} ") == (team, "ok")
    assert store.resolve_invite("nope") == (None, "unknown")
    assert store.resolve_invite(ok.lower() if ok != ok.lower() else ok.upper()) == (None, "unknown")
    assert store.revoke_invite(ok)
    assert store.resolve_invite(ok) == (None, "revoked")
    assert not store.revoke_invite(ok)  # already revoked
    assert not store.revoke_invite("nope")
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat(timespec="seconds")
    future = (datetime.now(UTC) + timedelta(days=7)).isoformat(timespec="seconds")
    expired = store.create_invite(team, expires_at=past)
    valid = store.create_invite(team, expires_at=future)
    assert store.resolve_invite(expired) == (None, "expired")
    assert store.resolve_invite(valid) == (team, "ok")
    store.use_invite(valid)
    store.use_invite(valid)
    assert {i["token"]: i["uses"] for i in store.invites(team)}[valid] == 2


def test_team_names_unique(store: Store) -> None:
    store.create_team("Wijkteam Noord")
    with pytest.raises(ValueError):
        store.create_team("wijkteam noord")
    with pytest.raises(ValueError):
        store.create_team("   ")
    assert store.demo_team() == store.demo_team()
    assert [t["name"] for t in store.list_teams()] == ["Demoteam", "Wijkteam Noord"]


# -- export and erasure -------------------------------------------------------------------------


def _person(store: Store, user: str, team: int) -> int:
    mid = store.get_or_create_member("telegram", user, user.title())
    store.set_consent(mid)
    store.join_team(mid, team, "professional")
    run = store.start_run(mid, team, "tour", "2025-Q1")
    for n, qid in enumerate(["samenhang-1", "samenhang-2"], 1):
        store.save_answer(run_id=run, member_id=mid, team_id=team, role="professional",
                          theme_id="samenhang", question_id=qid, period="2025-Q1",
                          content_version="v", scale=n, text=f"{user} {n}")
    store.save_conversation(Conversation(None, "telegram", user, mid, "menu.main", {"a": 1}, 1))
    store.save_tip_reaction(mid, team, "2025-03", 3, 4)
    store.audit("report_view", actor=mid, team_id=team)
    return mid


def test_export_member(store: Store) -> None:
    team = store.create_team("A")
    me = _person(store, "me", team)
    _person(store, "other", team)
    data = store.export_member(me)
    assert data["member"]["id"] == me and data["member"]["platform_user_id"] == "me"
    assert [(a["question_id"], a["text"]) for a in data["answers"]] == [
        ("samenhang-1", "me 1"), ("samenhang-2", "me 2")]
    assert len(data["runs"]) == 1 and len(data["memberships"]) == 1
    assert data["conversations"][0]["context"] == {"a": 1}
    assert len(data["tip_reactions"]) == 1
    assert data["audit_log"][0]["action"] == "report_view"
    # nothing of the other person
    flat = repr(data)
    assert "other" not in flat


def test_delete_member(store: Store) -> None:
    team = store.create_team("A")
    me = _person(store, "me", team)
    other = _person(store, "other", team)
    before_other = store.export_member(other)
    counts = store.delete_member(me)
    assert counts["answers"] == 2 and counts["runs"] == 1 and counts["memberships"] == 1
    for table in ("memberships", "runs", "answers", "conversations", "tip_reactions", "outbox"):
        n = store.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE member_id = ?", (me,)).fetchone()[0]
        assert n == 0, table
    assert store.get_member(me) is None
    assert store.member_id("telegram", "me") is None
    assert store.load_conversation("telegram", "me") is None
    # the audit trail keeps the action but not who did it
    entries = store.audit_entries(team)
    assert len(entries) == 2 and sum(e["actor_member_id"] is None for e in entries) == 1
    assert store.export_member(other)["answers"] == before_other["answers"]
    assert store.get_team(team) is not None


def test_save_answer_upserts_one_row_per_question(store: Store) -> None:
    team = store.create_team("A")
    mid = store.get_or_create_member("console", "u")
    run = store.start_run(mid, team, "tour", "2025-Q1")
    common = dict(run_id=run, member_id=mid, team_id=team, role="professional",
                  theme_id="samenhang", question_id="samenhang-1", period="2025-Q1",
                  content_version="v")
    store.save_answer(**common, scale=2)  # type: ignore[arg-type]
    first = store.run_answers(run)["samenhang-1"]
    store.set_answer_text(run, "samenhang-1", "uitleg")
    store.set_answer_share(run, "samenhang-1", True)
    store.save_answer(**common, scale=5)  # type: ignore[arg-type]
    row = store.run_answers(run)["samenhang-1"]
    assert row["id"] == first["id"]
    assert (row["scale"], row["text"], row["share_text"]) == (5, "uitleg", 1)
    with pytest.raises(sqlite3.IntegrityError):
        store.save_answer(**common, scale=6)  # type: ignore[arg-type]


def test_finish_run_keeps_when_a_run_was_finished(store: Store) -> None:
    """Finishing is one UPDATE of an open run (the finish_run action no longer reads the run
    first): finishing it again, later, must not move its end."""
    team = store.create_team("A")
    mid = store.get_or_create_member("console", "u")
    run = store.start_run(mid, team, "tour", "2025-Q1")
    store.finish_run(run)
    store.conn.execute("UPDATE runs SET finished_at = '2025-01-02T03:04:05+00:00', "
                       "last_activity_at = '2025-01-02T03:04:05+00:00' WHERE id = ?", (run,))
    store.finish_run(run)
    row = store.get_run(run)
    assert row is not None
    assert (row["finished_at"], row["last_activity_at"]) == ("2025-01-02T03:04:05+00:00",) * 2
    other = store.start_run(mid, team, "tour", "2025-Q1")
    store.finish_run(other)
    found = store.get_run(other)
    assert found is not None and found["finished_at"]


def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.conn.execute("INSERT INTO teams (name, created_at) VALUES ('X', 'now')")
            raise RuntimeError
    assert store.team_by_name("X") is None
    assert not store.conn.in_transaction
    with store.transaction():
        with store.savepoint():
            store.conn.execute("INSERT INTO teams (name, created_at) VALUES ('Y', 'now')")
        with pytest.raises(RuntimeError):
            with store.savepoint():
                store.conn.execute("INSERT INTO teams (name, created_at) VALUES ('Z', 'now')")
                raise RuntimeError
    assert store.team_by_name("Y") is not None and store.team_by_name("Z") is None


def test_handled_events(store: Store) -> None:
    assert not store.event_seen("telegram", "1")
    store.mark_event("telegram", "1")
    store.mark_event("telegram", "1")
    assert store.event_seen("telegram", "1")
    assert not store.event_seen("matrix", "1")


def test_two_processes_migrating_at_once_apply_each_step_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two fresh starts on one new file: the second read version 0 before the first migrated,
    then waited for the write lock. It must look again under the lock and apply nothing."""
    import bot.store.schema as schema

    path = tmp_path / "race.db"
    first, second = sqlite_utils.Database(path), sqlite_utils.Database(path)
    real = schema.current_version
    stale = iter([0])

    def version_read_before_the_first_migrated(db: sqlite_utils.Database) -> int:
        if db is second:
            for value in stale:
                assert migrate(first) == list(range(1, LATEST + 1))  # meanwhile, elsewhere
                return value
        return real(db)

    monkeypatch.setattr(schema, "current_version", version_read_before_the_first_migrated)
    assert migrate(second) == []
    assert real(second) == LATEST
