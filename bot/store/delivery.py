"""Reply bookkeeping: which committed turns still owe their replies, and handled-event pruning.

A turn is committed before its replies leave. Between the commit and the platform's answer a
crash (or a platform that stays down) would leave the person without their next question, and a
re-delivered update is dropped as a replay. So the turn's transaction also records that a reply
is owed, in the conversation row the turn writes anyway (``conversations.owed_event`` and
``owed_at``: one debt per conversation, the newest turn replaces an older one; see
:meth:`bot.store.Store.save_conversation`), and the transport clears it once the replies were
delivered. At a restart the debts left are paid with the conversation's current prompt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["DeliveryQueries"]


class DeliveryQueries:
    """Mixed into :class:`bot.store.Store`; uses ``self.conn`` and ``self.transaction``."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[None]:  # provided by Store
        raise NotImplementedError

    def owe_reply(self, conversation_id: int, platform: str, event_id: str, now: str) -> None:
        """Inside a turn's transaction: this conversation's replies are not delivered yet. (The
        engine folds this into its conversation update: ``Conversation.owe``.)"""
        self.conn.execute(
            "UPDATE conversations SET owed_event = ?, owed_at = ? WHERE id = ? AND platform = ?",
            (event_id, now, conversation_id, platform),
        )

    def member_user_id(self, member_id: int) -> str | None:
        """The platform user id of a member (whose conversation a scheduled message joins)."""
        row = self.conn.execute(
            "SELECT platform_user_id FROM members WHERE id = ?", (member_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def forget_owed(self, conversation_id: int) -> None:
        self.conn.execute(
            "UPDATE conversations SET owed_event = NULL, owed_at = NULL WHERE id = ?",
            (conversation_id,))

    def replies_delivered(self, platform: str, event_ids: Sequence[str]) -> int:
        """The replies of these turns arrived: their debts are paid (a newer turn's debt, with
        another event id, stays)."""
        n = 0
        with self.transaction():
            for i in range(0, len(event_ids), 500):
                chunk = list(event_ids[i:i + 500])
                n += self.conn.execute(
                    f"""UPDATE conversations SET owed_event = NULL, owed_at = NULL
                        WHERE platform = ? AND owed_event IN ({", ".join("?" * len(chunk))})""",
                    (platform, *chunk),
                ).rowcount
        return n

    def owed_replies(self, platform: str, *, before: str | None = None) -> list[dict[str, Any]]:
        """Debts of one platform (older than ``before``, when given), oldest first, with the
        conversation's person (``user_id``) and private chat (``chat_id``)."""
        sql = """SELECT id AS conversation_id, owed_event AS event_id, owed_at, chat_id, user_id
                 FROM conversations WHERE platform = ? AND owed_event IS NOT NULL"""
        params: list[Any] = [platform]
        if before is not None:
            sql += " AND owed_at < ?"
            params.append(before)
        cur = self.conn.execute(sql + " ORDER BY owed_at, id", params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def owed_count(self) -> int:
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM conversations WHERE owed_event IS NOT NULL").fetchone()[0])
