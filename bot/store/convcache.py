"""The conversation rows of recent turns, kept in memory while they are provably current.

A turn starts by loading the sender's conversation (a join on ``members`` and a read of the
team's published periods, the most expensive statement of a turn). Most turns come from people
whose previous turn this process handled, so :class:`ConversationCache` keeps, per person, the
values that load read or the turn's save wrote, and serves them only while nothing can have
changed them:

- another connection (a second process, the command line, another :class:`bot.store.Store` on
  the same file) committed: ``PRAGMA data_version`` changed. It is read once per transaction,
  after ``BEGIN IMMEDIATE``, when no one else can write until the commit;
- this connection ran a statement that may write what the load reads: every statement passes
  :class:`WatchedConnection`, which classifies its SQL text once (:func:`may_change_loads`);
  a write that names ``conversations``, ``members``, ``snapshots`` or ``teams`` (those and
  their foreign-key cascades are all the load reads), any schema change and any ROLLBACK
  (also a savepoint's) empties the cache. The conversation UPDATE of
  :meth:`bot.store.Store.save_conversation` maintains its entry instead, and the debt's
  bookkeeping (``owed_event``/``owed_at``, which the load does not read) is let through;
- the transaction did not commit: what was read or written in it waits in ``pending`` and
  joins the cache only at the commit (a rollback empties both).

Only immutable values are kept (the context as its stored JSON text): every load builds a new
:class:`bot.store.Conversation`, so a failed turn that changed its object in place leaves
nothing behind. Loads outside a transaction always read the database.

The same object keeps the small reads that many turns repeat and that change rarely (a team's
pack choices and its own packs, a person's teams: :meth:`bot.store.Store._cached_rows`), under
the same rules: the tables they read (``READ_TABLES``) are watched like the load's, a write to any watched
table or a rollback empties both kinds of entry, another connection's commit too, and a read
joins the cache only at the commit. Callers build their own dicts and lists from the tuples.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ConversationCache", "WatchedConnection", "may_change_loads"]

#: what a conversation load reads: these tables, and the cascades of writes to them
WATCHED_TABLES = ("conversations", "members", "snapshots", "teams")
#: what the cached small reads read (:meth:`bot.store.Store._cached_rows`), and their parents
READ_TABLES = ("memberships", "team_pack_choices", "team_packs", "teams")
_WATCHED = re.compile(r"\b(?:" + "|".join(dict.fromkeys(WATCHED_TABLES + READ_TABLES))
                      + r")\b", re.IGNORECASE)
#: the debt's bookkeeping (bot.store.delivery): it writes columns no load reads
_DEBT_ONLY = re.compile(
    r"\s*UPDATE\s+conversations\s+SET\s+owed_event\s*=\s*(?:\?|NULL)\s*,"
    r"\s*owed_at\s*=\s*(?:\?|NULL)\s+WHERE\s", re.IGNORECASE)
_READS = frozenset({"SELECT", "BEGIN", "COMMIT", "END", "SAVEPOINT", "RELEASE", "PRAGMA",
                    "EXPLAIN"})
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"})

#: SQL text -> verdict of :func:`may_change_loads` (bounded: texts built with values in them)
_VERDICTS: dict[str, bool] = {}
_MAX_VERDICTS = 4096


def may_change_loads(sql: str) -> bool:
    """Whether running ``sql`` on this connection may change what a conversation load or a
    cached read (``READ_TABLES``) reads.
    Errs towards yes: anything it does not recognise as a read or as a write of other tables
    (a ROLLBACK, a schema change, VACUUM, a statement starting with a comment) counts."""
    words = sql.split(None, 1)
    head = words[0].upper() if words else ""
    if head in _READS:
        return False
    if head in _WRITES:
        return bool(_WATCHED.search(sql)) and not _DEBT_ONLY.match(sql)
    return True


def trust(sql: str) -> None:
    """``sql`` writes what the loads read but its caller keeps the cache right itself."""
    _VERDICTS[sql] = False


class WatchedConnection(sqlite3.Connection):
    """A connection that tells ``on_change`` before it runs a statement that may change what a
    conversation load reads (see :func:`may_change_loads`)."""

    on_change: Callable[[], None] | None = None
    #: the cursor of :meth:`write`
    _writer: sqlite3.Cursor | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # noqa: ANN401
        # _notice, written out: this runs for every statement of every turn
        verdict = _VERDICTS.get(sql)
        if (self._judge(sql) if verdict is None else verdict) and self.on_change is not None:
            self.on_change()
        return _execute(self, sql, parameters)

    def write(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # noqa: ANN401
        """:meth:`execute` for a statement whose cursor the caller does not keep (a write: its
        ``rowcount`` or ``lastrowid`` read at once, before the next write): through one cursor
        kept for this, as a new cursor per statement costs ~0.1 µs. Watched the same way. One
        thread at a time, like the store's transactions."""
        verdict = _VERDICTS.get(sql)
        if (self._judge(sql) if verdict is None else verdict) and self.on_change is not None:
            self.on_change()
        writer = self._writer
        if writer is None:
            writer = self._writer = self.cursor()
        return writer.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        self._notice(sql)
        return _executemany(self, sql, parameters)

    def _notice(self, sql: str) -> None:
        """Tell ``on_change`` before ``sql`` runs when it may change what a load reads."""
        verdict = _VERDICTS.get(sql)
        if (self._judge(sql) if verdict is None else verdict) and self.on_change is not None:
            self.on_change()

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        if self.on_change is not None:
            self.on_change()
        return _executescript(self, sql_script)

    @staticmethod
    def _judge(sql: str) -> bool:
        verdict = may_change_loads(sql)
        if len(_VERDICTS) < _MAX_VERDICTS:
            _VERDICTS[sql] = verdict
        return verdict


_execute = sqlite3.Connection.execute
_executemany = sqlite3.Connection.executemany
_executescript = sqlite3.Connection.executescript

#: one cached load: the columns :meth:`bot.store.Store.load_conversation` selects, in its order
Row = tuple[Any, ...]
#: one cached small read: its rows
Rows = tuple[tuple[Any, ...], ...]


class ConversationCache:
    """Committed rows (``rows``, true as of ``version``, the connection's data_version) and this
    transaction's (``pending``). Entries are never changed in place, only replaced."""

    #: more people than this and the cache starts over (a bound on memory, not a policy)
    LIMIT = 20_000

    __slots__ = ("rows", "pending", "reads", "pending_reads", "version", "checked")

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}
        self.pending: dict[tuple[str, str], Row] = {}
        #: the small reads (query name and parameters -> rows), committed and pending
        self.reads: dict[tuple[Any, ...], Rows] = {}
        self.pending_reads: dict[tuple[Any, ...], Rows] = {}
        self.version: int | None = None
        #: the transaction (``Store._tx``) in which ``version`` was last compared
        self.checked = -1

    def clear(self) -> None:
        self.rows.clear()
        self.pending.clear()
        self.reads.clear()
        self.pending_reads.clear()

    def read(self, key: tuple[Any, ...]) -> Rows | None:
        found = self.pending_reads.get(key)
        return self.reads.get(key) if found is None else found

    def get(self, key: tuple[str, str]) -> Row | None:
        return self.pending.get(key) or self.rows.get(key)

    def drop(self, key: tuple[str, str]) -> None:
        self.rows.pop(key, None)
        self.pending.pop(key, None)

    def committed(self) -> None:
        if self.pending:
            if len(self.rows) + len(self.pending) > self.LIMIT:
                self.rows.clear()
            self.rows.update(self.pending)
            self.pending.clear()
        if self.pending_reads:
            if len(self.reads) + len(self.pending_reads) > self.LIMIT:
                self.reads.clear()
            self.reads.update(self.pending_reads)
            self.pending_reads.clear()
