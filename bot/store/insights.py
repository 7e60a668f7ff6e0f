"""Queries behind reports, the dashboard and follow-ups (mixed into :class:`bot.store.Store`)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from bot.store.access import READABLE_TEAMS

_REPORT_TEAMS = f"SELECT t.id, t.name, m.role, a.access FROM {READABLE_TEAMS} ORDER BY t.name"
_MAY_READ_TEAM = f"SELECT 1 FROM {READABLE_TEAMS} AND a.team_id = ?"


class InsightQueries:
    conn: sqlite3.Connection

    def _rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- what the aggregation reads ---------------------------------------------------------

    def team_answer_rows(
        self, team_id: int, periods: list[str] | None = None
    ) -> list[tuple[Any, ...]]:
        """(member_id, team_id, theme_id, question_id, period, answered_at, scale, text,
        share_text) for one team, latest first is not guaranteed: aggregation keeps the latest
        per member, question and period. Uses the (team_id, period) index, so the cost grows
        with the team's data, not the database."""
        sql = """SELECT member_id, team_id, theme_id, question_id, period, updated_at, scale,
                        text, share_text
                 FROM answers WHERE team_id = ?"""
        params: list[Any] = [team_id]
        if periods:
            sql += f" AND period IN ({','.join('?' * len(periods))})"
            params += periods
        return self.conn.execute(sql, params).fetchall()

    def team_roles(self, team_id: int) -> dict[int, str]:
        """Role of every member of the team (all of them, not only those who answered)."""
        rows = self.conn.execute(
            "SELECT member_id, role FROM memberships WHERE team_id = ?", (team_id,)
        ).fetchall()
        return {int(m): str(r) for m, r in rows}

    def team_periods(self, team_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT period FROM answers WHERE team_id = ? ORDER BY period", (team_id,)
        ).fetchall()
        return [r[0] for r in rows]

    # -- who may see what ------------------------------------------------------------------
    # A granted right (owner or reader, bot.store.access), never the role a person answers as;
    # the Demoteam is never readable.

    def report_teams(self, member_id: int) -> list[dict[str, Any]]:
        """Teams whose aggregates this member may read: id, name, the role the member answers
        as there, and the right (owner or reader)."""
        return self._rows(_REPORT_TEAMS, (member_id,))

    def may_read_team(self, member_id: int, team_id: int) -> bool:
        row = self.conn.execute(_MAY_READ_TEAM, (member_id, team_id)).fetchone()
        return row is not None

    # -- dashboard login links (single use, short-lived) -------------------------------------

    def create_web_login(self, member_id: int, token_hash: str, expires_at: datetime) -> None:
        self.conn.execute(
            """INSERT INTO web_logins (token_hash, member_id, created_at, expires_at)
               VALUES (?, ?, ?, ?)""",
            (token_hash, member_id, datetime.now(expires_at.tzinfo).isoformat(timespec="seconds"),
             expires_at.isoformat(timespec="seconds")),
        )

    def consume_web_login(self, token_hash: str, now: datetime) -> int | None:
        """The member id if the link is valid, unused and not expired; marks it used (atomic)."""
        stamp = now.isoformat(timespec="seconds")
        cur = self.conn.execute(
            """UPDATE web_logins SET used_at = ? WHERE token_hash = ? AND used_at IS NULL
               AND expires_at > ? RETURNING member_id""",
            (stamp, token_hash, stamp),
        )
        row = cur.fetchone()
        cur.close()
        return int(row[0]) if row else None

    # -- "you said, we did" -------------------------------------------------------------------

    def add_followup(self, team_id: int, theme_id: str, text: str, author: int | None) -> int:
        """The team's answer to a theme, written by a reader of that team (``author=None`` is
        the operator). Members read it as the team's official answer, so nobody else may
        write one: PermissionError."""
        if author is not None and not self.may_read_team(author, team_id):
            raise PermissionError("only a reader of the team writes its follow-ups")
        cur = self.conn.execute(
            """INSERT INTO followups (team_id, theme_id, text, author_member_id, created_at,
                   by_reader) VALUES (?, ?, ?, ?, datetime('now'), 1)""",
            (team_id, theme_id, text, author),
        )
        return int(cur.lastrowid or 0)

    def followups(self, team_id: int, limit: int = 20) -> list[dict[str, Any]]:
        """Latest first; never the author (members see what was done, not who wrote it).
        Only those a reader wrote (not those of self-declared managers before version 4)."""
        return self._rows(
            """SELECT id, team_id, theme_id, text, created_at, who, due, status, done_at
               FROM followups WHERE team_id = ? AND by_reader = 1
               ORDER BY created_at DESC, id DESC LIMIT ?""",
            (team_id, limit),
        )

    def tip_reaction_rows(self, team_id: int) -> list[tuple[Any, ...]]:
        """(member_id, period, tip_month, scale, text, share_text) of one team."""
        return self.conn.execute(
            """SELECT member_id, period, tip_month, scale, text, share_text FROM tip_reactions
               WHERE team_id = ? ORDER BY period""",
            (team_id,),
        ).fetchall()
