"""The answers table's indexes (issue 15, the store's share of a turn): one index serves a
team's answers by period and pack, and a database from before carries over with its data."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from bot.store import Store
from bot.store.schema import LATEST, MIGRATIONS, _v15_store, migrate

#: the queries on a team's answers (bot/store/snapshots.py, insights.py, packs.py, outbox.py)
TEAM_QUERIES = [
    "SELECT period FROM answers WHERE team_id = ? AND period > ? ORDER BY period LIMIT 1",
    "SELECT COUNT(DISTINCT member_id) FROM answers WHERE team_id = ? AND period = ?"
    " AND (? IS NULL OR pack = ?)",
    "SELECT member_id, scale FROM answers WHERE team_id = ? AND period = ? AND pack = ?",
    "SELECT member_id FROM answers WHERE team_id = ? AND period IN (?, ?)",
    "SELECT DISTINCT period FROM answers WHERE team_id = ? ORDER BY period",
    "SELECT DISTINCT pack FROM answers WHERE team_id = ?",
    "SELECT DISTINCT pack FROM answers WHERE team_id = ? AND period = ?",
    "SELECT DISTINCT pack_version FROM answers WHERE team_id = ? AND period = ? AND pack = ?",
]


def _indexes(conn) -> dict[str, str]:  # noqa: ANN001
    return {r[0]: r[1] for r in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'answers'"
        " AND sql IS NOT NULL")}


def test_one_index_for_a_teams_answers(store: Store) -> None:
    assert set(_indexes(store.conn)) == {
        "answers_team_period", "answers_member", "answers_answered_at"}
    assert "(team_id, period, pack)" in _indexes(store.conn)["answers_team_period"]
    for sql in TEAM_QUERIES:
        plan = " | ".join(r[3] for r in store.conn.execute(
            "EXPLAIN QUERY PLAN " + sql, (1,) * sql.count("?")))
        assert "USING" in plan and "answers_team_period" in plan, (sql, plan)
        assert "SCAN answers" not in plan, (sql, plan)


def test_a_database_from_before_carries_over(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrate(db, target=3)
    c = db.conn
    c.execute("INSERT INTO teams (id, name, is_demo, created_at) VALUES (1, 'Oost', 0, '2024')")
    c.execute("INSERT INTO members (id, platform, platform_user_id, created_at)"
              " VALUES (7, 'telegram', '12345', '2024')")
    c.execute("INSERT INTO runs (id, member_id, team_id, scope, period, started_at,"
              " last_activity_at) VALUES (3, 7, 1, 'tour', '2024-Q1', '2024', '2024')")
    c.execute("""INSERT INTO answers (run_id, member_id, team_id, role, theme_id, question_id,
                 period, scale, answered_at, updated_at, content_version)
                 VALUES (3, 7, 1, 'manager', 'samenhang', 'samenhang-1', '2024-Q1', 4, '2024',
                 '2024', 'v')""")
    c.commit()
    migrate(db, target=MIGRATIONS.index(_v15_store))  # the version before this lane's
    assert {"answers_team_period", "answers_team_pack"} <= set(_indexes(c))
    db.conn.close()

    store = Store(path)
    try:
        assert store.schema_version == LATEST
        assert set(_indexes(store.conn)) == {
            "answers_team_period", "answers_member", "answers_answered_at"}
        assert store.period_participants(1, "2024-Q1", "praatplaat") == 1
        assert store.answer_packs(1) == ["praatplaat"]
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
