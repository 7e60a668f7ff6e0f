"""Queries about one person's data: what refers to a member, export, erasure, retention.

Mixed into :class:`bot.store.Store`. What refers to a member is read from the schema itself
(:meth:`PersonalDataQueries.member_references`), not from a list kept by hand: a table a later
release adds with a ``REFERENCES members(id)`` column is exported by ``/mijngegevens`` and
handled by ``/vergeet`` without anyone remembering to add it here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

#: columns that point at a member without a foreign key (kept for accountability, then nulled)
_MEMBER_COLUMN = re.compile(r"(^|_)member(_id)?$")


@dataclass(frozen=True, slots=True)
class MemberReference:
    """A column that holds a member id: ``table.column``; ``on_delete`` is the foreign key's
    action (``CASCADE``, ``SET NULL``, ...) or ``None`` when the column has no foreign key."""

    table: str
    column: str
    on_delete: str | None
    nullable: bool


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class PersonalDataQueries:
    """Mixed into :class:`bot.store.Store`; uses ``self.conn`` and ``self.transaction``."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[None]:  # provided by Store
        raise NotImplementedError

    # -- what refers to a member --------------------------------------------------------------

    def member_references(self) -> list[MemberReference]:
        """Every column of every table that holds a member id: the foreign keys to
        ``members(id)`` and columns named ``member_id`` / ``*_member_id`` without one (such as
        ``audit_log.actor_member_id``). In schema order."""
        tables = [str(r[0]) for r in self.conn.execute(
            """SELECT name FROM sqlite_master WHERE type = 'table'
               AND name NOT LIKE 'sqlite_%' AND name != 'members' ORDER BY rowid""")]
        found: list[MemberReference] = []
        for table in tables:
            info = {str(r[1]): not r[3] for r in
                    self.conn.execute(f"PRAGMA table_info({_quote(table)})")}
            by_fk: dict[str, str] = {}
            for fk in self.conn.execute(f"PRAGMA foreign_key_list({_quote(table)})"):
                # (id, seq, table, from, to, on_update, on_delete, match)
                if str(fk[2]) == "members":
                    by_fk[str(fk[3])] = str(fk[6]).upper()
            for column, nullable in info.items():
                if column in by_fk:
                    found.append(MemberReference(table, column, by_fk[column], nullable))
                elif _MEMBER_COLUMN.search(column):
                    found.append(MemberReference(table, column, None, nullable))
        return found

    # -- right of access ------------------------------------------------------------------------

    def export_member(self, member_id: int) -> dict[str, Any]:
        """Everything stored about one person (AVG right of access), raw: ``member`` (their
        row) and, per table that refers to members, the rows that refer to this one (an empty
        list when there are none). Conversation contexts are parsed from JSON."""
        data: dict[str, Any] = {"member": _first(self.conn.execute(
            "SELECT * FROM members WHERE id = ?", (member_id,)))}
        for ref in self.member_references():
            rows = _dicts(self.conn.execute(
                f"SELECT * FROM {_quote(ref.table)} WHERE {_quote(ref.column)} = ?",
                (member_id,)))
            if ref.table == "runs":  # a run's activity is derived (bot.store.reflection)
                for row in rows:
                    row["last_activity_at"] = self.run_activity(  # type: ignore[attr-defined]
                        int(row["id"]))
            data.setdefault(ref.table, [])
            seen = {json.dumps(r, sort_keys=True, default=str) for r in data[ref.table]}
            data[ref.table] += [r for r in rows
                                if json.dumps(r, sort_keys=True, default=str) not in seen]
        for conv in data.get("conversations", []):
            if isinstance(conv.get("context"), str):
                conv["context"] = json.loads(conv["context"])
        return data

    # -- right to erasure -----------------------------------------------------------------------

    def erase_member_rows(self, member_id: int) -> dict[str, int]:
        """Remove or unlink every row that refers to a member (inside the caller's transaction;
        the member row itself is deleted by the caller). Rows are deleted where the member is
        what the row is about (cascading foreign keys, NOT NULL columns); a nullable reference
        without a cascade (who linked a group, who wrote a follow-up, who viewed a report) is
        set to NULL: the team keeps the link and the audit trail, nobody knows it was them.
        Returns per table how many rows referred to the member."""
        counts: dict[str, int] = {}
        member = _first(self.conn.execute(
            "SELECT platform, platform_user_id FROM members WHERE id = ?", (member_id,)))
        chats: set[str] = set()
        if member is not None:
            chats = {str(member["platform_user_id"])} | {str(r[0]) for r in self.conn.execute(
                """SELECT chat_id FROM conversations
                   WHERE member_id = ? OR (platform = ? AND user_id = ?)""",
                (member_id, member["platform"], member["platform_user_id"]))}
        refs = self.member_references()
        for ref in refs:  # count first: one delete may cascade into another table
            n = int(self.conn.execute(
                f"SELECT COUNT(*) FROM {_quote(ref.table)} WHERE {_quote(ref.column)} = ?",
                (member_id,)).fetchone()[0])
            counts[ref.table] = counts.get(ref.table, 0) + n
        for ref in refs:
            table, column = _quote(ref.table), _quote(ref.column)
            if ref.on_delete == "CASCADE" or not ref.nullable:
                self.conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (member_id,))
            else:
                self.conn.execute(f"UPDATE {table} SET {column} = NULL WHERE {column} = ?",
                                  (member_id,))
        if member is not None:
            # messages addressed to their private chat without a member id, and the
            # conversation of the person (also one that never got a member id)
            platform, user_id = member["platform"], member["platform_user_id"]
            for chat in sorted(chats):
                self.conn.execute(
                    "DELETE FROM outbox WHERE platform = ? AND chat_id = ? AND is_group = 0",
                    (platform, chat))
            self.conn.execute("DELETE FROM conversations WHERE platform = ? AND user_id = ?",
                              (platform, user_id))
        return counts

    # -- retention --------------------------------------------------------------------------------

    def purge_older_than(self, before: str) -> dict[str, int]:
        """Delete what is older than ``before`` (an ISO timestamp, UTC): answers given before
        it, reflection runs that have no answers left and ended (or last moved) before it,
        tip reactions, audit log entries, dashboard login records that expired before it, and
        outbox rows that were done with before it.
        Returns per table how many rows went."""
        out: dict[str, int] = {}
        with self.transaction():
            out["answers"] = self.conn.execute(
                "DELETE FROM answers WHERE answered_at < ?", (before,)).rowcount
            out["runs"] = self.conn.execute(
                """DELETE FROM runs WHERE last_activity_at < ?
                   AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.run_id = runs.id)""",
                (before,)).rowcount
            out["tip_reactions"] = self.conn.execute(
                "DELETE FROM tip_reactions WHERE answered_at < ?", (before,)).rowcount
            # copies of shared texts in published report snapshots (reflection texts also go
            # with their answers; tip texts have no answer row)
            out["snapshot_texts"] = self.prune_snapshot_texts(before)  # type: ignore[attr-defined]
            out["audit_log"] = self.conn.execute(
                "DELETE FROM audit_log WHERE at < ?", (before,)).rowcount
            out["web_logins"] = self.conn.execute(
                "DELETE FROM web_logins WHERE expires_at < ?", (before,)).rowcount
            out["outbox"] = self.conn.execute(
                """DELETE FROM outbox WHERE created_at < ? AND status NOT IN
                   ('pending', 'sending', 'uncertain')""", (before,)).rowcount
        return out

    def oldest_answer(self) -> str | None:
        row = self.conn.execute("SELECT MIN(answered_at) FROM answers").fetchone()
        return str(row[0]) if row and row[0] else None


def _first(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    rows = _dicts(cursor)
    return rows[0] if rows else None
