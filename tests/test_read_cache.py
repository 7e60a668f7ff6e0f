"""The small reads a turn repeats (a team's pack choices and own packs) are kept with the
conversation cache (bot.store.convcache, ``Store._cached_rows``) while provably current. Each
test first shows the read served from memory, then makes it stale in one way (an in-process
write, another connection, a failed transaction, a rolled-back savepoint, a cascade) and fails
if the stale value is still served."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.convcache import READ_TABLES, WATCHED_TABLES
from tests.test_engine_statements import counted


def _selects(store: Store, body: Callable[[], object]) -> list[str]:
    work, _control = counted(store, body)
    return [s for s in work if "team_pack" in s]


def _choices(store: Store, team: int) -> dict[str, bool]:
    with store.transaction():
        return store.pack_choices(team)


def _own(store: Store, team: int) -> list[str]:
    with store.transaction():
        return store.team_pack_ids(team)


def _team(store: Store) -> int:
    team = store.create_team("Noord")
    with store.transaction():
        store.set_pack_choice(team, "teamdynamiek", True)
    store.add_team_pack(team, "eigen", "1", "id: eigen", "sha-1")
    return team


def _warm(store: Store, team: int) -> None:
    """Read both once, then prove the next reads come from memory."""
    _choices(store, team)
    _own(store, team)
    assert _selects(store, lambda: (_choices(store, team), _own(store, team))) == []


def test_repeated_reads_are_served_from_memory_and_are_new_objects(store: Store) -> None:
    team = _team(store)
    _warm(store, team)
    got = _choices(store, team)
    assert got == {"teamdynamiek": True}
    got["teamdynamiek"] = False  # a caller changing what it got changes nothing cached
    own = _own(store, team)
    own.append("x")
    assert _choices(store, team) == {"teamdynamiek": True}
    assert _own(store, team) == ["eigen"]
    # outside a transaction: always the database
    assert _selects(store, lambda: store.pack_choices(team)) != []


def test_in_process_writes_are_seen(store: Store) -> None:
    team = _team(store)
    _warm(store, team)
    with store.transaction():
        store.set_pack_choice(team, "teamdynamiek", False)
    assert _choices(store, team) == {"teamdynamiek": False}
    _warm(store, team)
    store.add_team_pack(team, "tweede", "1", "id: tweede", "sha-2")
    assert _own(store, team) == ["eigen", "tweede"]
    # within one transaction: a read after a write sees the write
    with store.transaction():
        assert store.pack_choices(team) == {"teamdynamiek": False}
        store.set_pack_choice(team, "wijkkaart", True)
        assert store.pack_choices(team) == {"teamdynamiek": False, "wijkkaart": True}


def test_another_connection_committing_is_seen(store: Store, tmp_path: Path) -> None:
    team = _team(store)
    _warm(store, team)
    raw = sqlite3.connect(tmp_path / "teamspiegel.db")
    raw.execute("UPDATE team_pack_choices SET enabled = 0 WHERE team_id = ?", (team,))
    raw.execute("INSERT INTO team_packs (team_id, pack_id, version, source_yaml, sha256, added_at)"
                " VALUES (?, 'derde', '1', 'id: derde', 'sha-3', 'x')", (team,))
    raw.commit()
    raw.close()
    assert _choices(store, team) == {"teamdynamiek": False}
    assert _own(store, team) == ["eigen", "derde"]
    other = Store(tmp_path / "teamspiegel.db")  # another process: the CLI, a second bot
    try:
        _warm(store, team)
        with other.transaction():
            other.set_pack_choice(team, "teamdynamiek", True)
        assert _choices(store, team) == {"teamdynamiek": True}
    finally:
        other.close()


def test_a_failed_transaction_leaves_nothing_cached(store: Store) -> None:
    team = _team(store)
    _warm(store, team)
    with pytest.raises(RuntimeError), store.transaction():
        store.set_pack_choice(team, "teamdynamiek", False)
        assert store.pack_choices(team) == {"teamdynamiek": False}  # read after the write
        raise RuntimeError("the turn fails")
    assert _choices(store, team) == {"teamdynamiek": True}
    # a savepoint rolled back inside a transaction that commits (group commit)
    with store.transaction():
        with pytest.raises(RuntimeError), store.savepoint():
            store.set_pack_choice(team, "teamdynamiek", False)
            assert store.pack_choices(team) == {"teamdynamiek": False}
            raise RuntimeError("one turn of the batch fails")
        assert store.pack_choices(team) == {"teamdynamiek": True}
    assert _choices(store, team) == {"teamdynamiek": True}


def test_a_rollback_sqlite_did_by_itself_leaves_nothing(store: Store) -> None:
    team = _team(store)
    _warm(store, team)
    with pytest.raises(sqlite3.OperationalError), store.transaction():
        store.set_pack_choice(team, "teamdynamiek", False)
        store.pack_choices(team)
        sqlite3.Connection.execute(store.conn, "ROLLBACK")  # as SQLite does it itself
        raise sqlite3.OperationalError("database or disk is full")
    assert _choices(store, team) == {"teamdynamiek": True}


def test_a_cascade_from_the_team_is_seen(store: Store) -> None:
    team = _team(store)
    _warm(store, team)
    with store.transaction():
        store.conn.execute("DELETE FROM teams WHERE id = ?", (team,))
    assert _choices(store, team) == {}
    assert _own(store, team) == []


def test_the_watched_tables_cover_the_cached_reads(store: Store) -> None:
    """A cached read's rows can also go by a cascade from the tables they refer to, or change by
    a trigger: the watched tables must hold every parent, and there must be no trigger."""
    watched = set(WATCHED_TABLES) | set(READ_TABLES)
    for table in ("memberships", "team_pack_choices", "team_packs"):
        assert table in READ_TABLES
        parents = {row[2] for row in store.conn.execute(f"PRAGMA foreign_key_list({table})")}
        assert parents <= watched, (table, parents)
    assert store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []


# -- a person's teams (Store.memberships): read twice when a round starts -----------------------


def _teams(store: Store, member: int) -> list[tuple[int, str, str]]:
    with store.transaction():
        return [(int(m["team_id"]), str(m["role"]), str(m["team_name"]))
                for m in store.memberships(member)]


def _member_in(store: Store, team: int) -> int:
    member = store.get_or_create_member("telegram", "77", "Sam")
    with store.transaction():
        store.join_team(member, team, "professional")
    assert [s for s in counted(store, lambda: _teams(store, member))[0]
            if "memberships" in s] != []  # first read: the database
    assert [s for s in counted(store, lambda: _teams(store, member))[0]
            if "memberships" in s] == []  # then: from memory
    return member


def test_a_persons_teams_are_read_once_and_follow_joins_roles_and_renames(
        store: Store) -> None:
    team = store.create_team("Noord")
    member = _member_in(store, team)
    got = store.memberships(member)  # outside a transaction: the database, a new list
    got.clear()
    assert _teams(store, member) == [(team, "professional", "Noord")]
    # a join within the turn that read them (a second team): the next read sees it
    other = store.create_team("Zuid")
    with store.transaction():
        assert len(store.memberships(member)) == 1
        store.join_team(member, other, "professional")
        assert [m["team_id"] for m in store.memberships(member)] == [team, other]
    assert [t[0] for t in _teams(store, member)] == [team, other]
    _member_in(store, team)
    with store.transaction():
        store.set_member_role(member, "manager")
    assert {t[1] for t in _teams(store, member)} == {"manager"}
    _member_in(store, team)
    with store.transaction():
        store.conn.execute("UPDATE teams SET name = 'Noord-Oost' WHERE id = ?", (team,))
    assert _teams(store, member)[0][2] == "Noord-Oost"
    # a team deleted: its membership goes by a cascade
    _member_in(store, team)
    with store.transaction():
        store.conn.execute("DELETE FROM teams WHERE id = ?", (other,))
    assert [t[0] for t in _teams(store, member)] == [team]


def test_a_persons_teams_follow_another_connection_and_a_failed_turn(
        store: Store, tmp_path: Path) -> None:
    team = store.create_team("Noord")
    member = _member_in(store, team)
    raw = sqlite3.connect(tmp_path / "teamspiegel.db")
    raw.execute("DELETE FROM memberships WHERE member_id = ?", (member,))  # the CLI removes them
    raw.commit()
    raw.close()
    assert _teams(store, member) == []
    _member_in(store, team)
    other = store.create_team("Zuid")
    with pytest.raises(RuntimeError), store.transaction():
        store.join_team(member, other, "professional")
        assert len(store.memberships(member)) == 2
        raise RuntimeError("the turn fails")
    assert [t[0] for t in _teams(store, member)] == [team]
