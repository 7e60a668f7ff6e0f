"""Queries behind "Wat we ermee doen": the team's actions (mixed into :class:`bot.store.Store`).

An action is what a team does with a theme's results: what, who (a role, never a person's
answers), by when, and whether it is open or done. Only a reader of the team writes or updates
one (members read it as the team's answer); the author is kept for the audit, never shown.
"""

from __future__ import annotations

import sqlite3
from typing import Any

#: who can be named as doing an action: roles, never a person
WHO = {
    "team": "het hele team",
    "teamleider": "de teamleider",
    "management": "het management",
    "beleid": "beleid",
    "professionals": "de professionals",
}
STATUSES = ("open", "done")


class ActionQueries:
    conn: sqlite3.Connection

    def may_read_team(self, member_id: int, team_id: int) -> bool:  # provided by Store
        raise NotImplementedError

    def _action_rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def add_action(
        self, team_id: int, theme_id: str, text: str, author: int | None, *,
        who: str | None = None, due: str | None = None,
    ) -> int:
        """A new open action, written by a reader of the team (``author=None``: the operator);
        anyone else gets PermissionError. ``who``: a key of :data:`WHO`; ``due``: YYYY-MM-DD."""
        if author is not None and not self.may_read_team(author, team_id):
            raise PermissionError("only a reader of the team writes its actions")
        if who is not None and who not in WHO:
            raise ValueError(f"who must be one of {', '.join(WHO)}")
        cur = self.conn.execute(
            """INSERT INTO followups (team_id, theme_id, text, author_member_id, created_at,
                   by_reader, who, due, status, updated_at)
               VALUES (?, ?, ?, ?, datetime('now'), 1, ?, ?, 'open', datetime('now'))""",
            (team_id, theme_id, text, author, who, due),
        )
        return int(cur.lastrowid or 0)

    def set_action_status(self, action_id: int, team_id: int, status: str,
                          by: int | None) -> bool:
        """Mark an action of ``team_id`` open or done (a reader of the team, or the operator).
        False when there is no such action in that team."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if by is not None and not self.may_read_team(by, team_id):
            raise PermissionError("only a reader of the team updates its actions")
        cur = self.conn.execute(
            """UPDATE followups SET status = ?, updated_at = datetime('now'),
                   done_at = CASE WHEN ? = 'done' THEN date('now') ELSE NULL END
               WHERE id = ? AND team_id = ? AND by_reader = 1""",
            (status, status, action_id, team_id),
        )
        return cur.rowcount > 0

    def team_actions(self, team_id: int, *, status: str | None = None,
                     limit: int = 50) -> list[dict[str, Any]]:
        """The team's actions, open ones first, newest first; never the author."""
        where = "" if status is None else "AND status = ?"
        params: tuple = (team_id,) if status is None else (team_id, status)
        return self._action_rows(
            f"""SELECT id, team_id, theme_id, text, who, due, status, done_at, created_at,
                       updated_at
                FROM followups WHERE team_id = ? AND by_reader = 1 {where}
                ORDER BY status = 'done', created_at DESC, id DESC LIMIT ?""",
            (*params, limit),
        )

    # -- results back to the team -------------------------------------------------------------

    def recent_snapshots(self, since: str) -> list[dict[str, Any]]:
        """Reflection snapshots published since ``since`` (ISO), the latest period per team."""
        return self._action_rows(
            """SELECT s.id, s.team_id, s.period, s.published_at FROM snapshots s
               JOIN teams t ON t.id = s.team_id
               WHERE s.kind = 'reflection' AND s.published_at >= ? AND t.is_demo = 0
                 AND s.period = (SELECT MAX(s2.period) FROM snapshots s2
                                 WHERE s2.team_id = s.team_id AND s2.kind = 'reflection')
               ORDER BY s.team_id""",
            (since,),
        )

    def member_chats(self, team_id: int, now: str, *, owners_only: bool = False
                     ) -> list[dict[str, Any]]:
        """(member_id, platform, chat_id) of the team's members in their private chat with
        the bot: reachable and not paused (``owners_only``: the team's owners)."""
        owners = ("AND EXISTS (SELECT 1 FROM team_access a WHERE a.team_id = m.team_id "
                  "AND a.member_id = m.member_id AND a.access = 'owner')" if owners_only else "")
        return self._action_rows(
            f"""SELECT m.member_id, c.platform, c.chat_id FROM memberships m
                JOIN members mb ON mb.id = m.member_id
                JOIN conversations c ON c.member_id = mb.id AND c.platform = mb.platform
                WHERE m.team_id = ? AND mb.unreachable_at IS NULL AND mb.consent_at IS NOT NULL
                  AND (mb.paused_until IS NULL OR mb.paused_until <= ?)
                  AND NOT EXISTS (SELECT 1 FROM team_chats t
                                  WHERE t.platform = c.platform AND t.chat_id = c.chat_id)
                  {owners}
                ORDER BY m.member_id""",
            (team_id, now),
        )

    def owner_chats(self, team_id: int, now: str | None = None) -> list[dict[str, Any]]:
        from bot.store.clock import utcnow

        return self.member_chats(team_id, now or utcnow(), owners_only=True)
