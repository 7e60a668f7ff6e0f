"""SQLite storage: every SQL statement of Teamspiegel lives in this package.

One :class:`Store` wraps one SQLite file (WAL, foreign keys on, ``synchronous=FULL`` so a
committed turn survives a power cut). Turns run inside :meth:`Store.transaction`; the engine
returns its replies only after that transaction committed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import sqlite_utils

from bot.store.access import AccessQueries, new_member_id, new_token
from bot.store.actions import ActionQueries
from bot.store.clock import utcnow
from bot.store.convcache import ConversationCache, Rows, WatchedConnection, trust
from bot.store.delivery import DeliveryQueries
from bot.store.health import StoreHealth, is_outage
from bot.store.insights import InsightQueries
from bot.store.opening import (
    DatabaseUnusable,
    check_database_path,
    check_integrity,
    check_ours,
    unusable,
)
from bot.store.outbox import OutboxQueries
from bot.store.packs import PackQueries
from bot.store.personal import PersonalDataQueries
from bot.store.reflection import ReflectionQueries
from bot.store.schema import IDENTITY_VERSION, LATEST, SchemaError, current_version, migrate
from bot.store.sessions import SessionQueries
from bot.store.snapshots import SnapshotQueries

__all__ = ["Conversation", "DatabaseUnusable", "SchemaError", "Store", "StoreHealth",
           "is_outage", "utcnow", "LATEST"]


#: what ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` builds on every call
_CONTEXT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_context(context: dict[str, Any]) -> str:
    """A conversation's context as stored: compact JSON, non-ASCII kept. orjson writes the
    same text as the stdlib encoder above, about ten times faster (a few µs of every turn);
    what orjson refuses (a value of a type it does not know) goes to the stdlib encoder,
    which decides as before."""
    try:  # string keys only (every context the engine builds): orjson's fast path
        return orjson.dumps(context).decode()
    except TypeError:  # orjson.JSONEncodeError
        pass
    try:  # a non-string key, as the stdlib writes it (OPT_NON_STR_KEYS costs ~0.2 µs more)
        return orjson.dumps(context, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return _CONTEXT_JSON.encode(context)


def decode_context(text: str) -> dict[str, Any]:
    """The stored context (see :func:`encode_context`)."""
    found: dict[str, Any] = orjson.loads(text)
    return found


#: :attr:`Conversation.stored_member_id` of a conversation not loaded from the store (member ids
#: are positive: :func:`bot.store.access.new_member_id`)
NOT_LOADED = -1


@dataclass(slots=True)
class Conversation:
    """One person's conversation with the bot on one platform.

    It is keyed by the person (``platform``, ``user_id``: the sender), never by the chat: a
    Matrix room can change hands, a person is always themselves. ``chat_id`` is the chat where
    we last talked privately, the address of scheduled messages.
    """

    id: int | None
    platform: str
    chat_id: str
    member_id: int | None
    state: str
    context: dict[str, Any] = field(default_factory=dict)
    prompt_seq: int = 0
    #: the member was marked unreachable (blocked the bot); loaded, never saved from here
    member_unreachable: bool = False
    #: the sender's platform user id (the key); None: the member's user id, else ``chat_id``
    user_id: str | None = None
    #: the ids of the last turns on a platform whose event ids are ordered (Telegram), newest
    #: last, space-separated (see :mod:`bot.engine.replay`); None: not recorded yet
    recent_events: str | None = None
    #: set during a turn: ``(event_id, owed_at)`` of the turn whose replies are owed, written
    #: with the conversation (see :mod:`bot.store.delivery`); None keeps the stored debt
    owe: tuple[str, str] | None = None
    #: the ``member_id`` the stored row holds (set by a load and a save); ``NOT_LOADED``: not
    #: known, and the next update writes it. An unchanged member id is left out of the update,
    #: which then leaves the ``conversations_member`` index alone
    stored_member_id: int | None = field(default=NOT_LOADED, compare=False, repr=False)


def _update_sql(member: bool, recent: bool, owe: bool) -> str:
    """The conversation UPDATE that writes only what a turn may have changed: the member id
    when it changed, the window of update ids when there is one, the debt when there is one
    (a SET without them keeps the stored values and leaves their indexes untouched). Eight
    fixed shapes, so sqlite3's statement cache holds them all."""
    sets = ["chat_id = ?", "state = ?", "context = ?", "prompt_seq = ?", "updated_at = ?"]
    if member:
        sets.append("member_id = ?")
    if recent:
        sets.append("recent_events = ?")
    if owe:
        sets.append("owed_event = ?, owed_at = ?")
    return f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?"


_UPDATES = {(m, r, o): _update_sql(m, r, o)
            for m in (False, True) for r in (False, True) for o in (False, True)}
for _sql in _UPDATES.values():  # save_conversation keeps the conversation cache right itself
    trust(_sql)

_LOAD = """SELECT c.id, c.chat_id, c.member_id, c.state, c.context, c.prompt_seq,
                 m.unreachable_at IS NOT NULL, c.recent_events,
                 json_extract(c.context, '$.team_id'),
                 (SELECT group_concat(s.period, ' ') FROM snapshots s
                  WHERE s.team_id = json_extract(c.context, '$.team_id')
                    AND s.kind = 'reflection')
          FROM conversations c LEFT JOIN members m ON m.id = c.member_id
          WHERE c.platform = ? AND c.user_id = ?"""


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class _Transaction:
    """:meth:`Store.transaction`: BEGIN IMMEDIATE ... COMMIT, or join the open one."""

    __slots__ = ("store", "outer")

    def __init__(self, store: Store) -> None:
        self.store = store
        self.outer = False

    def __enter__(self) -> None:
        store = self.store
        store._lock.acquire()
        try:
            if store._depth:
                store._depth += 1
                return
            try:
                store.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                store._note(exc)
                raise
        except BaseException:
            store._lock.release()
            raise
        store._tx += 1
        store._depth = 1
        self.outer = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        store = self.store
        try:
            if not self.outer:
                store._depth -= 1
                return
            store._depth = 0
            if kind is not None:
                store._convs.clear()  # also when SQLite rolled back by itself (no statement)
                store._rollback()
                if exc is not None:
                    store._note(exc)
                return  # the exception goes on
            try:
                store.conn.execute("COMMIT")
            except sqlite3.Error as failed:
                store._convs.clear()
                store._rollback()
                store._note(failed)
                raise
            store._convs.committed()
            store.health.ok()
        finally:
            store._lock.release()


class _Savepoint:
    """:meth:`Store.savepoint`."""

    __slots__ = ("store", "name")

    def __init__(self, store: Store, name: str) -> None:
        self.store, self.name = store, name

    def __enter__(self) -> None:
        store = self.store
        store._lock.acquire()
        try:
            store.conn.execute(f"SAVEPOINT {self.name}")
        except BaseException:
            store._lock.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        store, name = self.store, self.name
        try:
            if kind is not None:
                store._convs.clear()  # what the failed unit read or wrote (see convcache)
                if store.conn.in_transaction:  # SQLite may have rolled back everything itself
                    store.conn.execute(f"ROLLBACK TO {name}")
                    store.conn.execute(f"RELEASE {name}")
                return  # the exception goes on
            store.conn.execute(f"RELEASE {name}")
        finally:
            store._lock.release()


class Store(OutboxQueries, DeliveryQueries, InsightQueries, AccessQueries,
            PersonalDataQueries, SnapshotQueries, PackQueries, ActionQueries,
            ReflectionQueries, SessionQueries):
    """Data access for one SQLite database file.

    ``busy_timeout``: milliseconds a statement waits for another process's write lock before
    it fails with "database is locked". ``health`` reports outages (see
    :mod:`bot.store.health`): every transaction tells it how it went.
    """

    conn: WatchedConnection

    def __init__(
        self, path: str | Path, *, synchronous: str = "FULL", busy_timeout: int = 10_000
    ) -> None:
        self.path = str(path)
        #: recent turns' conversation rows (see :mod:`bot.store.convcache`)
        self._convs = ConversationCache()
        self.conn = self._open(synchronous, busy_timeout)
        conn = self.conn
        self.health = StoreHealth(self.path)
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        self._depth = 0
        #: counts transactions begun (a prefetched read is valid in its transaction only)
        self._tx = 0
        #: (transaction, total changes, team id, published periods) read by the last
        #: conversation load (see :meth:`_prefetched_periods`)
        self._periods: tuple[int, int, int, frozenset[str]] | None = None
        #: a truncating WAL checkpoint could not finish yet (a reader held an old snapshot)
        self.checkpoint_pending = False
        self.migrated_from = current_version(self.db)
        try:
            applied = migrate(self.db)
        except sqlite3.OperationalError as exc:
            if not is_outage(exc):
                raise
            conn.close()  # a full disk, a locked file: the migration was rolled back
            raise DatabaseUnusable(
                f"Ik kan de database {self.path} niet bijwerken naar de nieuwe versie ({exc}). "
                "Er is niets veranderd; los dit op en start opnieuw.") from None
        if self.migrated_from and IDENTITY_VERSION in applied and self.path != ":memory:":
            # display names were cleared, conversations rebuilt: and whatever was deleted
            # before secure_delete was on may still sit in free pages. Rewrite the file once.
            conn.execute("VACUUM")
            self.checkpoint()

    def _open(self, synchronous: str, busy_timeout: int) -> WatchedConnection:
        """Connect and check the file (see :mod:`bot.store.opening`): a directory, a file
        that is no database, a damaged page or another program's database is refused with
        :class:`DatabaseUnusable` (one Dutch line), never a traceback."""
        memory = self.path == ":memory:"
        if not memory:
            check_database_path(self.path)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   factory=WatchedConnection)
        except sqlite3.Error as exc:
            raise unusable(self.path, exc) from None
        conn.on_change = self._convs.clear
        try:
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
            if not memory:  # before anything writes: a refused file stays as it was
                check_integrity(conn, self.path)
                check_ours(conn, self.path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            # erased rows are overwritten with zeros, not just unlinked (AVG: /vergeet)
            conn.execute("PRAGMA secure_delete=ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise unusable(self.path, exc) from None
        except DatabaseUnusable:
            conn.close()
            raise
        return conn

    # -- transactions ---------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic unit of work; nested calls join the outer transaction. (A small class
        rather than a generator: it runs around every turn.)"""
        return _Transaction(self)

    def _rollback(self) -> None:
        """Roll back what is open; SQLite may have done so itself (full disk, I/O error)."""
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            if self.conn.in_transaction:
                raise

    def _note(self, exc: BaseException) -> None:
        if is_outage(exc):
            self.health.failed(exc)

    def savepoint(self, name: str = "turn") -> AbstractContextManager[None]:
        """A nested unit that can fail alone inside a larger transaction (group commit)."""
        return _Savepoint(self, name)

    def close(self) -> None:
        self._convs.clear()
        self.conn.close()

    #: how long a checkpoint waits for another connection's reader or writer (ms): not the
    #: 10 s of a turn, it runs on the bot's event loop; an unfinished one is retried later
    CHECKPOINT_WAIT_MS = 200

    def checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate the WAL to zero bytes, so that
        deleted rows leave no old page copies behind. False (and ``checkpoint_pending``) when
        another connection still reads an older snapshot; call again later (the schedule's
        tick does)."""
        if self.path == ":memory:":
            return False
        with self._lock:
            if self.conn.in_transaction:
                return False
            self.conn.execute(f"PRAGMA busy_timeout={self.CHECKPOINT_WAIT_MS}")
            try:
                busy, _log, _done = self.conn.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:  # locked by another connection's checkpoint
                busy = 1
            finally:
                self.conn.execute("PRAGMA busy_timeout=10000")
        self.checkpoint_pending = bool(busy)
        return not busy

    @property
    def schema_version(self) -> int:
        return current_version(self.db)

    def _one(self, sql: str, params: tuple | dict = ()) -> dict[str, Any] | None:
        rows = _rows(self.conn.execute(sql, params))
        return rows[0] if rows else None

    def _all(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        return _rows(self.conn.execute(sql, params))

    # -- teams and invites ----------------------------------------------------------------

    def create_team(self, name: str, *, is_demo: bool = False) -> int:
        name = name.strip()
        if not name:
            raise ValueError("team name is empty")
        with self.transaction():
            if self.team_by_name(name):
                raise ValueError(f"team {name!r} already exists")
            cur = self.conn.execute(
                "INSERT INTO teams (name, is_demo, created_at) VALUES (?, ?, ?)",
                (name, int(is_demo), utcnow()),
            )
            return int(cur.lastrowid or 0)

    def get_team(self, team_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM teams WHERE id = ?", (team_id,))

    def team_by_name(self, name: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM teams WHERE name = ? COLLATE NOCASE", (name.strip(),))

    def find_team(self, ref: str) -> dict[str, Any] | None:
        """A team by id (digits) or by name."""
        if ref.isdigit():
            return self.get_team(int(ref))
        return self.team_by_name(ref)

    def list_teams(self) -> list[dict[str, Any]]:
        return self._all(
            """SELECT t.*, (SELECT COUNT(*) FROM memberships m WHERE m.team_id = t.id) AS members
               FROM teams t ORDER BY t.name"""
        )

    def demo_team(self) -> int:
        """The local demo team, so a first run needs no set-up."""
        with self.transaction():
            row = self._one("SELECT id FROM teams WHERE is_demo = 1 ORDER BY id LIMIT 1")
            if row:
                return int(row["id"])
            return self.create_team("Demoteam", is_demo=True)

    def create_invite(self, team_id: int, *, expires_at: str | None = None) -> str:
        """An opaque, unguessable token (22 URL-safe characters, fits Telegram's 64)."""
        token = new_token()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO invites (token, team_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token, team_id, utcnow(), expires_at),
            )
        return token

    def resolve_invite(self, token: str) -> tuple[int | None, str]:
        """(team id, "ok") or (None, reason) with reason in unknown / revoked / expired / used
        (any kind of invite: see :meth:`check_invite` for its kind)."""
        row, reason = self.check_invite(token)
        return (int(row["team_id"]), "ok") if row else (None, reason)

    def use_invite(self, token: str) -> None:
        self.conn.execute("UPDATE invites SET uses = uses + 1 WHERE token = ?", (token,))

    def revoke_invite(self, token: str) -> bool:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE invites SET revoked_at = ? WHERE token = ? AND revoked_at IS NULL",
                (utcnow(), token),
            )
        return cur.rowcount > 0

    def invites(self, team_id: int) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM invites WHERE team_id = ? ORDER BY created_at", (team_id,))

    # -- members --------------------------------------------------------------------------

    def member_id(self, platform: str, user_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM members WHERE platform = ? AND platform_user_id = ?", (platform, user_id)
        ).fetchone()
        return int(row[0]) if row else None

    def get_or_create_member(
        self, platform: str, user_id: str, display_name: str | None = None
    ) -> int:
        """The member id of a platform user, created when new. ``display_name`` is accepted
        for old callers and never stored: we keep no names (see the consent text)."""
        found = self.member_id(platform, user_id)
        if found is not None:
            return found
        while True:  # random ids, never reused: see bot.store.access.new_member_id
            new_id = new_member_id()
            cur = self.conn.execute(
                """INSERT INTO members (id, platform, platform_user_id, created_at)
                   VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING""",
                (new_id, platform, user_id, utcnow()),
            )
            if cur.rowcount:
                return new_id

    def get_member(self, member_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM members WHERE id = ?", (member_id,))

    def set_consent(self, member_id: int, given: bool = True) -> None:
        self.conn.execute(
            "UPDATE members SET consent_at = ? WHERE id = ?", (utcnow() if given else None, member_id)
        )

    def update_member(self, member_id: int, **fields: Any) -> None:
        allowed = {"reminders_off", "paused_until", "unreachable_at", "consent_at"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE members SET {sets} WHERE id = ?", (*fields.values(), member_id))

    def mark_reachable(self, member_id: int) -> None:
        """Someone who blocked the bot (403) and writes again can be reached again."""
        self.conn.execute(
            "UPDATE members SET unreachable_at = NULL WHERE id = ? AND unreachable_at IS NOT NULL",
            (member_id,),
        )

    def join_team(self, member_id: int, team_id: int, role: str) -> None:
        self.conn.execute(
            """INSERT INTO memberships (member_id, team_id, role, joined_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (member_id, team_id) DO UPDATE SET role = excluded.role""",
            (member_id, team_id, role, utcnow()),
        )

    def memberships(self, member_id: int) -> list[dict[str, Any]]:
        """The person's teams, in the order they joined (in a turn: a cached read, so a round's
        start reads them once though it asks twice; a join or a role change empties it)."""
        rows = self._cached_rows(
            ("memberships", member_id),
            """SELECT m.team_id, m.role, t.name AS team_name, t.is_demo
               FROM memberships m JOIN teams t ON t.id = m.team_id
               WHERE m.member_id = ? ORDER BY m.joined_at""",
            (member_id,),
        )
        return [{"team_id": r[0], "role": r[1], "team_name": r[2], "is_demo": r[3]} for r in rows]

    def team_members(self, team_id: int) -> list[dict[str, Any]]:
        return self._all(
            """SELECT mb.*, m.role FROM memberships m JOIN members mb ON mb.id = m.member_id
               WHERE m.team_id = ? ORDER BY mb.id""",
            (team_id,),
        )

    def role_in_team(self, member_id: int, team_id: int) -> str | None:
        row = self.conn.execute(
            "SELECT role FROM memberships WHERE member_id = ? AND team_id = ?", (member_id, team_id)
        ).fetchone()
        return str(row[0]) if row else None

    # -- conversations --------------------------------------------------------------------

    def load_conversation(self, platform: str, user_id: str) -> Conversation | None:
        """The conversation of a person (the sender), wherever they last talked to us.

        Inside a transaction the same statement also reads the published periods of the team
        the conversation is in (``context.team_id``), for :meth:`closed_periods` in this turn
        (see :meth:`_prefetched_periods`); there the row may come from the conversation cache
        (:mod:`bot.store.convcache`). Every call returns a new object."""
        if not self._depth:
            row = self.conn.execute(_LOAD, (platform, user_id)).fetchone()
        else:
            row = self._cached_load(platform, user_id)
        if row is None:
            return None
        if self._depth and isinstance(row[8], int):
            self._periods = (self._tx, self.conn.total_changes, row[8],
                             frozenset(row[9].split(" ")) if row[9] else frozenset())
        return Conversation(row[0], platform, row[1], row[2], row[3], decode_context(row[4]), row[5],
                            bool(row[6]), user_id, row[7], None, row[2])

    def _current_cache(self) -> ConversationCache:
        """Inside a transaction: the conversation cache, emptied first when another connection
        committed since it was filled (``PRAGMA data_version``, once per transaction, under
        the write lock)."""
        cache = self._convs
        if cache.checked != self._tx:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
            if version != cache.version:  # another connection committed
                cache.clear()
                cache.version = version
            cache.checked = self._tx
        return cache

    def _cached_load(self, platform: str, user_id: str) -> tuple[Any, ...] | None:
        """Inside a transaction: the load's row from the conversation cache while it is current
        (see :mod:`bot.store.convcache`), else from the database (and cached at the commit)."""
        cache = self._current_cache()
        key = (platform, user_id)
        row = cache.get(key)
        if row is None:
            row = self.conn.execute(_LOAD, key).fetchone()
            if row is not None:
                cache.pending[key] = row
        return row

    def _cached_rows(self, key: tuple[Any, ...], sql: str, params: tuple[Any, ...]) -> Rows:
        """A small read that many turns repeat and that rarely changes: the rows of ``sql``,
        inside a transaction from the conversation cache while no watched table
        (:data:`bot.store.convcache.READ_TABLES`) can have changed, else from the database
        (cached at the commit). ``key`` names the query and its parameters. The value is
        immutable: callers build their own dicts and lists from it."""
        if self._depth:
            cache = self._current_cache()
            found = cache.read(key)
            if found is not None:
                return found
        found = tuple(self.conn.execute(sql, params).fetchall())
        if self._depth:
            cache.pending_reads[key] = found
        return found

    def _prefetched_periods(self, team_id: int) -> frozenset[str] | None:
        """The team's published periods as the conversation load read them, while that read
        is still true: the same transaction (no other process can publish while it holds the
        write lock) and nothing written since on this connection (a publish inside the turn);
        else None and the caller asks the database."""
        found = self._periods
        if (found is not None and found[2] == team_id and found[0] == self._tx and self._depth
                and found[1] == self.conn.total_changes):
            return found[3]
        return None

    def _conversation_user(self, conv: Conversation) -> str:
        if conv.user_id is None:
            found = None
            if conv.member_id is not None:
                found = self.conn.execute(
                    "SELECT platform_user_id FROM members WHERE id = ?", (conv.member_id,)
                ).fetchone()
            conv.user_id = str(found[0]) if found else conv.chat_id
        return conv.user_id

    def save_conversation(self, conv: Conversation) -> None:
        """Insert or update a conversation; ``conv.owe`` (when set) records its debt in the same
        statement, and a None keeps the stored one."""
        context = encode_context(conv.context)
        owed_event, owed_at = conv.owe or (None, None)
        if conv.id is None:
            cur = self.conn.execute(
                """INSERT INTO conversations
                   (platform, user_id, chat_id, member_id, state, context, prompt_seq, updated_at,
                    recent_events, owed_event, owed_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (platform, user_id) DO UPDATE SET chat_id = excluded.chat_id,
                   member_id = excluded.member_id, state = excluded.state,
                   context = excluded.context, prompt_seq = excluded.prompt_seq,
                   updated_at = excluded.updated_at,
                   recent_events = COALESCE(excluded.recent_events, recent_events),
                   owed_event = COALESCE(excluded.owed_event, owed_event),
                   owed_at = COALESCE(excluded.owed_at, owed_at)""",
                (conv.platform, self._conversation_user(conv), conv.chat_id, conv.member_id,
                 conv.state, context, conv.prompt_seq, utcnow(), conv.recent_events,
                 owed_event, owed_at),
            )
            conv.id = int(cur.lastrowid or 0) or None
        else:
            member = conv.member_id != conv.stored_member_id
            params: list[Any] = [conv.chat_id, conv.state, context, conv.prompt_seq, utcnow()]
            if member:
                params.append(conv.member_id)
            if conv.recent_events is not None:
                params.append(conv.recent_events)
            if conv.owe is not None:
                params += conv.owe
            params.append(conv.id)
            self.conn.write(
                _UPDATES[member, conv.recent_events is not None, conv.owe is not None], params)
            self._cache_saved(conv, context, member)
        conv.owe = None
        conv.stored_member_id = conv.member_id

    def _cache_saved(self, conv: Conversation, context: str, member: bool) -> None:
        """After a conversation UPDATE: its cached row as it now stands (pending until the
        commit), or none when it cannot be known without a read (outside a transaction, a new
        member id or team, nothing cached to carry the unread columns over from)."""
        key = (conv.platform, conv.user_id or "")
        cache = self._convs
        old = cache.get(key)
        if old is None or old[0] != conv.id:  # which entry holds this row is not known
            cache.clear()
            return
        team = conv.context.get("team_id")
        if not self._depth or member or type(team) is not type(old[8]) or team != old[8]:
            cache.drop(key)  # the member's or team's columns need a read
            return
        recent = old[7] if conv.recent_events is None else conv.recent_events
        cache.pending[key] = (conv.id, conv.chat_id, old[2], conv.state, context,
                              conv.prompt_seq, old[6], recent, old[8], old[9])

    def delete_conversation(self, platform: str, user_id: str) -> None:
        self.conn.execute("DELETE FROM conversations WHERE platform = ? AND user_id = ?",
                          (platform, user_id))

    def conversations_in_state(self, prefix: str) -> list[Conversation]:
        rows = self.conn.execute(
            """SELECT id, platform, chat_id, member_id, state, context, prompt_seq, user_id,
                      recent_events
               FROM conversations WHERE state LIKE ? || '%'""",
            (prefix,),
        ).fetchall()
        return [Conversation(r[0], r[1], r[2], r[3], r[4], decode_context(r[5]), r[6], False, r[7],
                             r[8]) for r in rows]

    def member_conversation(self, member_id: int, platform: str) -> Conversation | None:
        row = self.conn.execute(
            "SELECT user_id FROM conversations WHERE member_id = ? AND platform = ? LIMIT 1",
            (member_id, platform),
        ).fetchone()
        return self.load_conversation(platform, row[0]) if row else None

    # -- replayed platform events ---------------------------------------------------------

    def event_seen(self, platform: str, event_id: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM handled_events WHERE platform = ? AND event_id = ?",
                (platform, event_id),
            ).fetchone()
            is not None
        )

    def mark_event(self, platform: str, event_id: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO handled_events (platform, event_id, handled_at) VALUES (?, ?, ?)",
            (platform, event_id, utcnow()),
        )

    def claim_event(self, platform: str, event_id: str) -> bool:
        """Mark an event handled; False when it was already (``event_seen`` + ``mark_event``)."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO handled_events (platform, event_id, handled_at) VALUES (?, ?, ?)",
            (platform, event_id, utcnow()),
        )
        return cur.rowcount > 0

    def event_platforms(self) -> list[str]:
        return [str(r[0]) for r in self.conn.execute(
            "SELECT DISTINCT platform FROM handled_events")]

    def prune_events(self, before: str, *, platform: str | None = None,
                     chunk: int = 5000) -> int:
        """Forget handled events older than ``before`` (of one platform, or all), in small
        transactions so a turn never waits long for the write lock."""
        where = "handled_at < ?" + (" AND platform = ?" if platform else "")
        params: tuple[Any, ...] = (before, platform) if platform else (before,)
        total = 0
        while True:
            with self.transaction():
                cur = self.conn.execute(
                    f"""DELETE FROM handled_events WHERE (platform, event_id) IN (
                            SELECT platform, event_id FROM handled_events WHERE {where}
                            LIMIT ?)""",
                    (*params, chunk),
                )
            total += cur.rowcount
            if cur.rowcount < chunk:
                return total

    # -- reflection runs and answers ------------------------------------------------------

    def start_run(self, member_id: int, team_id: int, scope: str, period: str, *,
                  pack: str = "praatplaat", pack_version: str | None = None) -> int:
        now = utcnow()
        cur = self.conn.write(
            """INSERT INTO runs (member_id, team_id, scope, period, started_at, last_activity_at,
                   pack, pack_version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (member_id, team_id, scope, period, now, now, pack, pack_version),
        )
        return int(cur.lastrowid or 0)

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM runs WHERE id = ?", (run_id,))

    def finish_run(self, run_id: int) -> None:
        """Finish a run that is still open; a finished one keeps when it was finished."""
        now = utcnow()
        self.conn.write(
            "UPDATE runs SET finished_at = ?, last_activity_at = ? "
            "WHERE id = ? AND finished_at IS NULL", (now, now, run_id)
        )

    def save_answer(
        self,
        *,
        run_id: int,
        member_id: int,
        team_id: int,
        role: str,
        theme_id: str,
        question_id: str,
        period: str,
        content_version: str,
        scale: int | None = None,
        text: str | None = None,
        source_ref: str | None = None,
        pack: str = "praatplaat",
        pack_version: str | None = None,
    ) -> None:
        """Insert or update one question's answer in a run; a None keeps the stored value.

        An answer keeps the period it was first given in; it is also its run's latest activity
        (see :data:`bot.store.reflection.RUN_ACTIVITY`). A changed text is no longer shared
        (consent is asked again) and leaves published snapshots. ``pack``/``pack_version``:
        the pack the question belongs to, as it was when asked.
        """
        now = utcnow()
        self.conn.write(
            """INSERT INTO answers (run_id, member_id, team_id, role, theme_id, question_id,
                   period, scale, text, share_text, answered_at, updated_at, content_version,
                   source_ref, pack, pack_version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (run_id, question_id) DO UPDATE SET
                   scale = COALESCE(excluded.scale, answers.scale),
                   text = COALESCE(excluded.text, answers.text),
                   share_text = CASE WHEN excluded.text IS NOT NULL
                       AND excluded.text IS NOT answers.text THEN 0 ELSE answers.share_text END,
                   updated_at = excluded.updated_at,
                   source_ref = COALESCE(excluded.source_ref, answers.source_ref)""",
            (run_id, member_id, team_id, role, theme_id, question_id, period, scale, text, now,
             now, content_version, source_ref, pack, pack_version),
        )
        if text is not None:
            self.drop_snapshot_texts(run_id, question_id, unless_text=text.strip())
        # the run's activity is this row's updated_at (bot.store.reflection.RUN_ACTIVITY)

    def set_answer_text(
        self, run_id: int, question_id: str, text: str | None, source_ref: str | None = None
    ) -> bool:
        """Change (or clear) an answer's text. A changed text is no longer shared: the author
        is asked again, and the old text leaves published snapshots."""
        changed = self.conn.write(
            """UPDATE answers SET text = ?, updated_at = ?,
                   source_ref = COALESCE(?, source_ref),
                   share_text = CASE WHEN ? IS NOT text THEN 0 ELSE share_text END
               WHERE run_id = ? AND question_id = ?""",
            (text, utcnow(), source_ref, text, run_id, question_id),
        ).rowcount > 0  # read at once: the next write() reuses the cursor
        self.drop_snapshot_texts(run_id, question_id,
                                 unless_text=None if text is None else text.strip())
        return changed

    def set_answer_share(self, run_id: int, question_id: str, share: bool) -> None:
        """Consent to share an answer's text anonymously, or withdraw it (which also takes
        the text out of published snapshots)."""
        self.conn.write(
            "UPDATE answers SET share_text = ? WHERE run_id = ? AND question_id = ?",
            (int(share), run_id, question_id),
        )
        if not share:
            self.drop_snapshot_texts(run_id, question_id)

    def run_answers(self, run_id: int) -> dict[str, dict[str, Any]]:
        rows = self._all("SELECT * FROM answers WHERE run_id = ? ORDER BY id", (run_id,))
        return {r["question_id"]: r for r in rows}

    def answer_by_source_ref(self, member_id: int, source_ref: str) -> dict[str, Any] | None:
        return self._one(
            "SELECT * FROM answers WHERE member_id = ? AND source_ref = ?", (member_id, source_ref)
        )

    def member_answers(self, member_id: int) -> list[dict[str, Any]]:
        return self._all(
            """SELECT a.*, t.name AS team_name FROM answers a JOIN teams t ON t.id = a.team_id
               WHERE a.member_id = ? ORDER BY a.answered_at, a.id""",
            (member_id,),
        )

    def latest_run(self, member_id: int, *, unfinished: bool = False) -> dict[str, Any] | None:
        where = "AND finished_at IS NULL" if unfinished else ""
        return self._one(
            f"SELECT * FROM runs WHERE member_id = ? {where} ORDER BY id DESC LIMIT 1", (member_id,)
        )

    def iter_all_answers(self) -> Iterator[dict[str, Any]]:
        """Every stored answer with its team name (admin export)."""
        cur = self.conn.execute(
            """SELECT a.id, t.name AS team, a.role, a.theme_id AS theme, a.question_id,
                   a.period, a.scale, a.text, a.share_text, a.answered_at, a.updated_at,
                   a.content_version, a.member_id
               FROM answers a JOIN teams t ON t.id = a.team_id ORDER BY a.id"""
        )
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))

    # -- audit, export and erasure ----------------------------------------------------------

    def audit(
        self, action: str, *, actor: int | None = None, team_id: int | None = None,
        detail: str | None = None, subject: int | None = None,
    ) -> None:
        """One audit entry; ``subject`` is the member a grant or revoke was about."""
        self.conn.execute(
            """INSERT INTO audit_log (actor_member_id, team_id, action, detail, at,
                   subject_member_id) VALUES (?, ?, ?, ?, ?, ?)""",
            (actor, team_id, action, detail, utcnow(), subject),
        )

    def audit_count(self, action: str, *, actor: int, since: str) -> int:
        """How often ``actor`` did ``action`` since ``since`` (ISO time): a rate limit."""
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM audit_log WHERE action = ? AND actor_member_id = ? AND at >= ?",
            (action, actor, since)).fetchone()[0])

    def audit_seen(self, action: str, *, team_id: int, detail_prefix: str) -> bool:
        """Whether the team's log has ``action`` with a detail starting with ``detail_prefix``."""
        return self.conn.execute(
            "SELECT 1 FROM audit_log WHERE action = ? AND team_id = ? AND substr(detail, 1, ?) = ?",
            (action, team_id, len(detail_prefix), detail_prefix)).fetchone() is not None

    def audit_entries(self, team_id: int | None = None) -> list[dict[str, Any]]:
        if team_id is None:
            return self._all("SELECT * FROM audit_log ORDER BY id")
        return self._all("SELECT * FROM audit_log WHERE team_id = ? ORDER BY id", (team_id,))

    def delete_member(self, member_id: int) -> dict[str, int]:
        """Erase a person and everything linked to them (AVG right to erasure).

        Every table that refers to members is covered (see
        :meth:`~bot.store.personal.PersonalDataQueries.erase_member_rows`), and nothing stays
        readable in the file: ``secure_delete`` overwrites the deleted rows with zeros, and
        when this is the outermost transaction the WAL is checkpointed and truncated right
        after the commit (inside a turn the engine does that after its commit)."""
        with self.transaction():
            self.forget_ballots(member_id)  # "voted already" marks of open team votes
            counts = self.erase_member_rows(member_id)
            # published snapshots: their texts and the index of their cells (numbers stay)
            self.strip_member_from_snapshots(member_id)
            self.conn.execute("DELETE FROM members WHERE id = ?", (member_id,))
        if not self.conn.in_transaction:
            self.checkpoint()
        return counts

    # -- monthly tip reactions ------------------------------------------------------------

    def save_tip_reaction(
        self, member_id: int, team_id: int | None, period: str, tip_month: int, scale: int
    ) -> None:
        self.conn.execute(
            """INSERT INTO tip_reactions (member_id, team_id, period, tip_month, scale, answered_at)
               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id, period) DO UPDATE SET
               scale = excluded.scale, answered_at = excluded.answered_at""",
            (member_id, team_id, period, tip_month, scale, utcnow()),
        )

    def set_tip_reaction_text(self, member_id: int, period: str, text: str, share: bool) -> bool:
        """A reaction's text; a changed (or no longer shared) text leaves published reports."""
        cur = self.conn.execute(
            "UPDATE tip_reactions SET text = ?, share_text = ? WHERE member_id = ? AND period = ?",
            (text, int(share), member_id, period),
        )
        self.drop_tip_snapshot_text(member_id, period, text.strip() if share else None)
        return cur.rowcount > 0

    def tip_reactions(self, team_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM tip_reactions WHERE team_id = ? ORDER BY period", (team_id,)
        )

    # -- linked group chats ---------------------------------------------------------------

    def link_chat(self, platform: str, chat_id: str, team_id: int, member_id: int | None) -> None:
        self.conn.execute(
            """INSERT INTO team_chats (platform, chat_id, team_id, linked_by, linked_at)
               VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, chat_id) DO UPDATE SET
               team_id = excluded.team_id, linked_by = excluded.linked_by,
               linked_at = excluded.linked_at""",
            (platform, chat_id, team_id, member_id, utcnow()),
        )

    def chat_team(self, platform: str, chat_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT team_id FROM team_chats WHERE platform = ? AND chat_id = ?", (platform, chat_id)
        ).fetchone()
        return int(row[0]) if row else None

    def team_chats(self, team_id: int | None = None) -> list[dict[str, Any]]:
        if team_id is None:
            return self._all("SELECT * FROM team_chats ORDER BY team_id")
        return self._all("SELECT * FROM team_chats WHERE team_id = ?", (team_id,))
