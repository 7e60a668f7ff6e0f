"""Queries of the team conversation (mixed into :class:`bot.store.Store`).

A team conversation (:mod:`bot.engine.session`) is a row in ``team_sessions`` with its items in
``session_items``. The votes of an open item are counts per option (``session_votes``) and, to
refuse a second vote, a set of keyed hashes of the voters (``session_ballots``): the hash of a
member id under a random salt of the item, never next to an option. Closing a vote deletes its
ballots and its salt; below the threshold it deletes the counts too and keeps only how many
voted. See the schema's ``_v12_conversation`` for the tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["SessionQueries"]

#: session and item columns that may be changed (everything else is fixed at creation)
_SESSION_FIELDS = {"status", "position", "closed_at"}
_ITEM_FIELDS = {"status", "opened_at", "closed_at", "poll_key", "voters", "result"}


def _voter_key(salt: bytes, member_id: int) -> bytes:
    """A member's ballot key for one item: HMAC-SHA256 of the member id under the item's salt
    (16 bytes). Without the salt (deleted when the vote closes) it names nobody."""
    return hmac.new(salt, str(int(member_id)).encode(), hashlib.sha256).digest()[:16]


class SessionQueries:
    conn: sqlite3.Connection

    def _session_rows(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _session_one(self, sql: str, params: tuple | list = ()) -> dict[str, Any] | None:
        rows = self._session_rows(sql, params)
        return rows[0] if rows else None

    # -- sessions -------------------------------------------------------------------------------

    def create_session(
        self, *, team_id: int, platform: str, chat_id: str, thread_id: str | None,
        subject: str, title: str, theme_id: str | None, mode: str, vote: str, period: str,
        threshold: int, now: str, items: Sequence[tuple[str, str | None, dict[str, Any]]],
    ) -> int:
        """A new open conversation with its items ``(kind, ref, body)``, in order. Raises
        sqlite3.IntegrityError when the chat has an open one already."""
        cur = self.conn.execute(
            """INSERT INTO team_sessions (team_id, platform, chat_id, thread_id, subject, title,
                   theme_id, mode, vote, period, threshold, started_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (team_id, platform, chat_id, thread_id, subject, title, theme_id, mode, vote,
             period, threshold, now),
        )
        session_id = int(cur.lastrowid or 0)
        self.conn.executemany(
            """INSERT INTO session_items (session_id, position, kind, ref, body)
               VALUES (?, ?, ?, ?, ?)""",
            [(session_id, i, kind, ref, json.dumps(body, ensure_ascii=False))
             for i, (kind, ref, body) in enumerate(items)],
        )
        return session_id

    def session(self, session_id: int) -> dict[str, Any] | None:
        return self._session_one("SELECT * FROM team_sessions WHERE id = ?", (session_id,))

    def open_session(self, platform: str, chat_id: str) -> dict[str, Any] | None:
        """The chat's conversation that is not closed yet, if any."""
        return self._session_one(
            "SELECT * FROM team_sessions WHERE platform = ? AND chat_id = ? AND status != 'closed'",
            (platform, chat_id))

    def update_session(self, session_id: int, **fields: Any) -> None:
        bad = set(fields) - _SESSION_FIELDS
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE team_sessions SET {sets} WHERE id = ?",
                          (*fields.values(), session_id))

    def sessions_in(self, status: str) -> list[dict[str, Any]]:
        return self._session_rows("SELECT * FROM team_sessions WHERE status = ? ORDER BY id",
                                  (status,))

    def team_sessions(self, team_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
        """A team's conversations, newest first (the team's history of conversations)."""
        return self._session_rows(
            "SELECT * FROM team_sessions WHERE team_id = ? ORDER BY started_at DESC, id DESC "
            "LIMIT ?", (team_id, limit))

    # -- items ----------------------------------------------------------------------------------

    def session_items(self, session_id: int) -> list[dict[str, Any]]:
        rows = self._session_rows(
            "SELECT * FROM session_items WHERE session_id = ? ORDER BY position", (session_id,))
        for row in rows:
            row["body"] = json.loads(row["body"])
        return rows

    def session_item(self, item_id: int) -> dict[str, Any] | None:
        row = self._session_one("SELECT * FROM session_items WHERE id = ?", (item_id,))
        if row is not None:
            row["body"] = json.loads(row["body"])
        return row

    def update_item(self, item_id: int, **fields: Any) -> None:
        bad = set(fields) - _ITEM_FIELDS
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE session_items SET {sets} WHERE id = ?",
                          (*fields.values(), item_id))

    def open_vote(self, item_id: int, now: str) -> None:
        """Open a vote: a fresh salt for its ballots."""
        self.conn.execute(
            "UPDATE session_items SET status = 'open', opened_at = ?, salt = ? WHERE id = ?",
            (now, secrets.token_bytes(32), item_id))

    def poll_items(self, platform: str) -> list[dict[str, Any]]:
        """Open (or closing) items with a native poll on ``platform``, with the platform
        message id their outbox row got when it was sent (None while it was not)."""
        return self._session_rows(
            """SELECT i.id, i.session_id, i.status, i.poll_key, o.platform_message_id AS ref,
                      o.status AS row_status
               FROM session_items i JOIN team_sessions s ON s.id = i.session_id
               LEFT JOIN outbox o ON o.dedup_key = i.poll_key
               WHERE s.platform = ? AND i.poll_key IS NOT NULL
                 AND i.status IN ('open', 'closing')""",
            (platform,))

    def outbox_ref(self, dedup_key: str) -> tuple[str, str | None] | None:
        """(status, platform message id) of an outbox row, by its dedup key."""
        row = self.conn.execute(
            "SELECT status, platform_message_id FROM outbox WHERE dedup_key = ?",
            (dedup_key,)).fetchone()
        return (str(row[0]), row[1]) if row else None

    # -- votes ----------------------------------------------------------------------------------

    def cast_ballot(self, item_id: int, member_id: int, option: str) -> bool | None:
        """Count one vote of ``member_id`` for ``option`` on an open item. False when this
        member voted on it already (nothing changes), None when the item is not open. The member
        id is kept only as a keyed hash, in a table without the option (see the module)."""
        row = self.conn.execute(
            "SELECT salt FROM session_items WHERE id = ? AND status = 'open'", (item_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO session_ballots (item_id, voter) VALUES (?, ?)",
            (item_id, _voter_key(bytes(row[0]), member_id)))
        if not cur.rowcount:
            return False
        self.conn.execute(
            """INSERT INTO session_votes (item_id, option, votes) VALUES (?, ?, 1)
               ON CONFLICT (item_id, option) DO UPDATE SET votes = votes + 1""",
            (item_id, option))
        self.conn.execute("UPDATE session_items SET voters = voters + 1 WHERE id = ?",
                          (item_id,))
        return True

    def has_ballot(self, item_id: int, member_id: int) -> bool:
        row = self.conn.execute("SELECT salt FROM session_items WHERE id = ?",
                                (item_id,)).fetchone()
        if row is None or row[0] is None:
            return False
        return self.conn.execute(
            "SELECT 1 FROM session_ballots WHERE item_id = ? AND voter = ?",
            (item_id, _voter_key(bytes(row[0]), member_id))).fetchone() is not None

    def set_poll_counts(self, item_id: int, counts: dict[str, int], voters: int) -> None:
        """The latest state of a native poll (the platform counted: counts only)."""
        self.conn.execute("DELETE FROM session_votes WHERE item_id = ?", (item_id,))
        self.conn.executemany(
            "INSERT INTO session_votes (item_id, option, votes) VALUES (?, ?, ?)",
            [(item_id, option, int(n)) for option, n in counts.items() if n])
        self.conn.execute("UPDATE session_items SET voters = ? WHERE id = ?",
                          (int(voters), item_id))

    def vote_counts(self, item_id: int) -> dict[str, int]:
        return {str(o): int(n) for o, n in self.conn.execute(
            "SELECT option, votes FROM session_votes WHERE item_id = ?", (item_id,))}

    def close_vote(self, item_id: int, threshold: int, now: str) -> tuple[int, dict[str, int] | None]:
        """Close a vote: forget who voted (ballots and salt); keep the counts per option only
        when at least ``threshold`` voted, else only how many voted. Returns (voters, counts
        or None). Closing a closed item returns what it kept."""
        item = self.conn.execute(
            "SELECT status, voters, result FROM session_items WHERE id = ?", (item_id,)
        ).fetchone()
        if item is None:
            return 0, None
        if item[0] == "closed":
            return int(item[1]), json.loads(item[2]) if item[2] else None
        voters = int(item[1])
        counts = self.vote_counts(item_id)
        shown = counts if voters >= threshold else None
        self.conn.execute("DELETE FROM session_ballots WHERE item_id = ?", (item_id,))
        self.conn.execute("DELETE FROM session_votes WHERE item_id = ?", (item_id,))
        self.conn.execute(
            """UPDATE session_items SET status = 'closed', closed_at = ?, salt = NULL,
                   result = ? WHERE id = ?""",
            (now, None if shown is None else json.dumps(shown, sort_keys=True), item_id))
        # the WAL still holds pages with the ballots: the next tick truncates it (see
        # bot.schedule.retention.RetentionTick)
        self.checkpoint_pending = True
        return voters, shown

    def forget_ballots(self, member_id: int) -> int:
        """``/vergeet``: the member's "voted already" marks on open votes go (their votes stay
        counted: a count names nobody)."""
        n = 0
        for item_id, salt in self.conn.execute(
                "SELECT id, salt FROM session_items WHERE status = 'open' AND salt IS NOT NULL"
        ).fetchall():
            n += self.conn.execute(
                "DELETE FROM session_ballots WHERE item_id = ? AND voter = ?",
                (item_id, _voter_key(bytes(salt), member_id))).rowcount
        return n

    #: set by :meth:`close_vote` (the Store defines it)
    checkpoint_pending: bool

    # -- the session's messages in the outbox ----------------------------------------------------

    def refresh_pending_row(self, dedup_key: str, payload: str) -> bool:
        """Replace the payload of a row that was not sent yet (a count that moved on)."""
        return self.conn.execute(
            "UPDATE outbox SET payload = ? WHERE dedup_key = ? AND status = 'pending'",
            (payload, dedup_key)).rowcount > 0

    def cancel_rows(self, kind: str, period: str, reason: str, *, prefix: bool = False) -> int:
        """Cancel the pending rows of one kind and period (ballots of a closed vote), or of
        every period that starts with ``period:`` (``prefix``: the counts of a vote)."""
        where = "(period = ? OR substr(period, 1, ?) = ?)" if prefix else "period = ?"
        params: tuple = (period, len(period) + 1, period + ":") if prefix else (period,)
        return self.conn.execute(
            f"""UPDATE outbox SET status = 'cancelled', last_error = ?
                WHERE kind = ? AND {where} AND status = 'pending'""",
            (reason, kind, *params)).rowcount

    def session_actions(self, session_id: int) -> list[dict[str, Any]]:
        """The actions agreed in one conversation."""
        return self._session_rows(
            """SELECT id, team_id, theme_id, text, who, due, status, done_at, created_at
               FROM followups WHERE session_id = ? AND by_reader = 1 ORDER BY id""",
            (session_id,))

    def link_action_to_session(self, action_id: int, session_id: int) -> None:
        self.conn.execute("UPDATE followups SET session_id = ? WHERE id = ?",
                          (session_id, action_id))

    # -- team leaders: who gets a nudge ----------------------------------------------------------

    def nudge_candidates(self, team_id: int, period: str, now: str,
                         quiet_since: str) -> list[dict[str, Any]]:
        """Members of the team, in their private chat, who did not finish a reflection in
        ``period``: reachable, consented, not paused, reminders on, and without a reminder or
        nudge since ``quiet_since`` (found by the outbox's dedup keys of their chat)."""
        return self._session_rows(
            """SELECT m.member_id, c.platform, c.chat_id FROM memberships m
               JOIN members mb ON mb.id = m.member_id
               JOIN conversations c ON c.member_id = mb.id AND c.platform = mb.platform
               WHERE m.team_id = ? AND mb.unreachable_at IS NULL AND mb.consent_at IS NOT NULL
                 AND mb.reminders_off = 0
                 AND (mb.paused_until IS NULL OR mb.paused_until <= ?)
                 AND NOT EXISTS (SELECT 1 FROM team_chats t
                                 WHERE t.platform = c.platform AND t.chat_id = c.chat_id)
                 AND NOT EXISTS (SELECT 1 FROM runs r
                                 WHERE r.member_id = m.member_id AND r.team_id = m.team_id
                                   AND r.period = ? AND r.finished_at IS NOT NULL)
                 AND NOT EXISTS (
                     SELECT 1 FROM outbox o
                     WHERE o.dedup_key >= c.platform || ':' || c.chat_id || ':'
                       AND o.dedup_key < c.platform || ':' || c.chat_id || ';'
                       AND o.kind IN ('reminder', 'nudge') AND o.created_at >= ?)
               ORDER BY m.member_id""",
            (team_id, now, period, quiet_since))
