"""Outbox queries: due-work selection for the planner and delivery bookkeeping for the dispatcher.

Every SQL statement of :mod:`bot.schedule` lives here. Timestamps are ISO 8601 UTC strings with
seconds (``2026-07-01T07:00:00+00:00``), the format of :func:`bot.store.utcnow`, so they compare
as text. ``members.paused_until`` may be a date (``2026-08-01``: paused until that day starts,
UTC) or such a timestamp; a member is paused while ``paused_until > now``.

Outbox statuses:

``pending``      waiting to be sent (``not_before`` says from when)
``sending``      committed just before the request left; becomes ``sent`` after the answer
``sent``         delivered (``platform_message_id`` set)
``failed``       gave up after too many transient errors
``unreachable``  the platform said the chat is gone (blocked, left, kicked)
``uncertain``    may or may not have arrived (in flight at a crash, or timed out twice) and the
                 policy is ``hold``: an operator decides (Matrix rows are never uncertain:
                 they are resent with the same transaction ids)
``cancelled``    no longer wanted (person answered, paused, opted out, or became unreachable)
``dropped``      an operator decided not to resend an uncertain row
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from bot.store.reflection import RUN_ACTIVITY

STATUSES = (
    "pending", "sending", "sent", "failed", "unreachable", "uncertain", "cancelled", "dropped",
)

_COLUMNS = (
    "id, platform, chat_id, is_group, member_id, team_id, kind, period, payload, attempts, "
    "delivered, timeout_resends"
)

#: The private chat of a member on their own platform: the oldest conversation of the member that
#: is not a linked team group chat (computed once per statement: there is no index on member_id).
_PRIVATE_CHATS = """
    private AS MATERIALIZED (
        SELECT c.member_id, c.platform, c.chat_id
        FROM conversations c
        WHERE c.id IN (
            SELECT MIN(c2.id) FROM conversations c2
            WHERE c2.member_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM team_chats t2
                              WHERE t2.platform = c2.platform AND t2.chat_id = c2.chat_id)
            GROUP BY c2.member_id, c2.platform)
    )"""


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class OutboxQueries:
    """Mixed into :class:`bot.store.Store`; uses ``self.conn`` and ``self.transaction``."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[None]:  # provided by Store
        raise NotImplementedError

    # -- team schedule ----------------------------------------------------------------------

    def schedule_teams(self) -> list[dict[str, Any]]:
        """Every team with its tip schedule (JSON or None) and reflection cadence."""
        return _dicts(self.conn.execute(
            "SELECT id, name, is_demo, tip_schedule, reflection_cadence FROM teams ORDER BY id"
        ))

    def set_tip_schedule(self, team_id: int, value: str | None) -> bool:
        cur = self.conn.execute("UPDATE teams SET tip_schedule = ? WHERE id = ?", (value, team_id))
        return cur.rowcount > 0

    def set_reflection_cadence(self, team_id: int, cadence: str) -> bool:
        """How often the team's rounds start (``quarter``, ``half``, ``year``, ``off``)."""
        cur = self.conn.execute("UPDATE teams SET reflection_cadence = ? WHERE id = ?",
                                (cadence, team_id))
        return cur.rowcount > 0

    # -- planning: inserting due rows -------------------------------------------------------

    def enqueue_member_rows(
        self,
        *,
        team_ids: Sequence[int],
        kind: str,
        period: str,
        payload: str,
        not_before: str,
        now: str,
        platforms: Iterable[str] | None = None,
        skip_run_since: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> int:
        """One row per reachable, unpaused member of the teams, in their private chat.

        The dedup key ``{platform}:{chat_id}:{kind}:{period}`` makes this idempotent: a member
        in two teams, a second call or a second process never adds a second row.
        ``skip_run_since``: leave out members who started a reflection run since then.
        ``roles``: only members who answer as one of these roles in the team (a tip's audience).
        """
        if not team_ids or (roles is not None and not roles):
            return 0
        role_filter = "" if roles is None else f" AND ms.role IN ({_marks(len(roles))})"
        params: list[Any] = [*team_ids, *(roles or ()), kind, period, now]
        where = ""
        if platforms is not None:
            plats = list(platforms)
            if not plats:
                return 0
            where += f" AND p.platform IN ({_marks(len(plats))})"
            params += plats
        if skip_run_since is not None:
            where += (" AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.member_id = mb.id"
                      " AND r.started_at >= ?)")
            params.append(skip_run_since)
        params += [kind, period, payload, not_before, now]
        cur = self.conn.execute(
            f"""INSERT OR IGNORE INTO outbox (dedup_key, platform, chat_id, is_group, member_id,
                    team_id, kind, period, payload, status, attempts, not_before, created_at)
                WITH {_PRIVATE_CHATS},
                targets AS MATERIALIZED (
                    SELECT ms.member_id, MIN(ms.team_id) AS team_id FROM memberships ms
                    WHERE ms.team_id IN ({_marks(len(team_ids))}){role_filter}
                    GROUP BY ms.member_id
                ),
                keyed AS (
                    -- CROSS JOIN fixes the loop order (targets outside, private with an
                    -- automatic index inside): left to itself SQLite scanned all of targets
                    -- for every private chat, O(n^2): 17 s for 20,000 members
                    SELECT p.platform || ':' || p.chat_id || ':' || ? || ':' || ? AS dedup_key,
                           p.platform, p.chat_id, mb.id AS member_id, t.team_id
                    FROM targets t
                    CROSS JOIN members mb ON mb.id = t.member_id
                    CROSS JOIN private p ON p.member_id = mb.id AND p.platform = mb.platform
                    WHERE mb.unreachable_at IS NULL
                      AND (mb.paused_until IS NULL OR mb.paused_until <= ?) {where}
                )
                SELECT k.dedup_key, k.platform, k.chat_id, 0, k.member_id, k.team_id, ?, ?, ?,
                       'pending', 0, ?, ?
                FROM keyed k
                WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedup_key = k.dedup_key)
                ORDER BY k.member_id""",
            params,
        )
        return cur.rowcount

    def team_chat_platforms(
        self, team_id: int, platforms: Iterable[str] | None = None
    ) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT platform FROM team_chats WHERE team_id = ? ORDER BY platform",
            (team_id,),
        ).fetchall()
        found = [str(r[0]) for r in rows]
        if platforms is not None:
            allowed = set(platforms)
            found = [p for p in found if p in allowed]
        return found

    def enqueue_group_rows(
        self,
        *,
        team_id: int,
        platform: str,
        kind: str,
        period: str,
        payload: str,
        not_before: str,
        now: str,
    ) -> int:
        """One row per linked group chat of the team on ``platform`` (``is_group = 1``).

        A chat whose last delivery came back ``unreachable`` (bot removed) is skipped until it
        is linked again (``team_chats.linked_at`` moves).
        """
        cur = self.conn.execute(
            """INSERT OR IGNORE INTO outbox (dedup_key, platform, chat_id, is_group, member_id,
                   team_id, kind, period, payload, status, attempts, not_before, created_at)
               SELECT tc.platform || ':' || tc.chat_id || ':' || ? || ':' || ?, tc.platform,
                      tc.chat_id, 1, NULL, tc.team_id, ?, ?, ?, 'pending', 0, ?, ?
               FROM team_chats tc
               WHERE tc.team_id = ? AND tc.platform = ?
                 AND NOT EXISTS (
                     SELECT 1 FROM outbox o
                     WHERE o.dedup_key >= tc.platform || ':' || tc.chat_id || ':'
                       AND o.dedup_key < tc.platform || ':' || tc.chat_id || ';'
                       AND +o.status = 'unreachable' AND o.sending_at >= tc.linked_at)
               ORDER BY tc.chat_id""",
            (kind, period, kind, period, payload, not_before, now, team_id, platform),
        )
        return cur.rowcount

    def enqueue_row(
        self,
        *,
        platform: str,
        chat_id: str,
        kind: str,
        period: str,
        payload: str,
        not_before: str,
        now: str,
        member_id: int | None = None,
        team_id: int | None = None,
        is_group: bool = False,
    ) -> bool:
        """Insert one row unless its dedup key exists; True when inserted."""
        cur = self.conn.execute(
            """INSERT OR IGNORE INTO outbox (dedup_key, platform, chat_id, is_group, member_id,
                   team_id, kind, period, payload, status, attempts, not_before, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)""",
            (f"{platform}:{chat_id}:{kind}:{period}", platform, chat_id, int(is_group),
             member_id, team_id, kind, period, payload, not_before, now),
        )
        return cur.rowcount > 0

    def reminder_candidates(
        self, *, now: str, stale_before: str, oldest: str, platforms: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """Each member's latest unfinished run, idle since ``stale_before`` but not before
        ``oldest``, for members who accept reminders, with their private chat; runs that had
        their second reminder already are left out."""
        params: list[Any] = [oldest, stale_before, now]
        where = ""
        if platforms is not None:
            plats = list(platforms)
            if not plats:
                return []
            where = f" AND p.platform IN ({_marks(len(plats))})"
            params += plats
        return _dicts(self.conn.execute(
            f"""WITH {_PRIVATE_CHATS}
                SELECT r.id AS run_id, r.member_id, r.team_id,
                       {RUN_ACTIVITY} AS last_activity_at,
                       p.platform, p.chat_id
                FROM runs r
                JOIN members mb ON mb.id = r.member_id
                JOIN private p ON p.member_id = mb.id AND p.platform = mb.platform
                WHERE r.finished_at IS NULL
                  AND r.id = (SELECT MAX(r2.id) FROM runs r2
                              WHERE r2.member_id = r.member_id AND r2.finished_at IS NULL)
                  AND {RUN_ACTIVITY} BETWEEN ? AND ?
                  AND mb.reminders_off = 0 AND mb.unreachable_at IS NULL
                  AND (mb.paused_until IS NULL OR mb.paused_until <= ?) {where}
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox o
                      WHERE o.dedup_key = p.platform || ':' || p.chat_id || ':reminder:run'
                                          || r.id || ':2')
                ORDER BY r.id""",
            params,
        ))

    def outbox_by_keys(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Rows (status, created_at, sent_at) by dedup key."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(keys)):
            for row in _dicts(self.conn.execute(
                f"""SELECT dedup_key, status, created_at, sent_at FROM outbox
                    WHERE dedup_key IN ({_marks(len(chunk))})""",
                chunk,
            )):
                found[row["dedup_key"]] = row
        return found

    def team_reflectors_since(self, team_id: int, since: str, *, exclude_member: int) -> int:
        """How many other members of a team answered anything since ``since`` (a count only)."""
        row = self.conn.execute(
            """SELECT COUNT(DISTINCT member_id) FROM answers
               WHERE team_id = ? AND answered_at >= ? AND member_id != ?""",
            (team_id, since, exclude_member),
        ).fetchone()
        return int(row[0])

    def cancel_unwanted(self, now: str) -> int:
        """Cancel pending rows nobody wants any more: reminders of runs that finished or saw
        activity after the reminder was planned, reminders of members who opted out, and every
        row of members who are paused or unreachable."""
        reminders = self.conn.execute(
            f"""UPDATE outbox SET status = 'cancelled', last_error = 'niet meer nodig'
               WHERE status = 'pending' AND kind = 'reminder' AND (
                   EXISTS (SELECT 1 FROM runs r
                           WHERE r.id = CAST(substr(outbox.period, 4,
                                                    instr(outbox.period, ':') - 4) AS INTEGER)
                             AND (r.finished_at IS NOT NULL
                                  OR {RUN_ACTIVITY} > outbox.created_at))
                   OR EXISTS (SELECT 1 FROM members m
                              WHERE m.id = outbox.member_id AND m.reminders_off != 0))"""
        ).rowcount
        members = self.conn.execute(
            """UPDATE outbox SET status = 'cancelled', last_error = 'gepauzeerd of onbereikbaar'
               WHERE status = 'pending' AND member_id IN (
                   SELECT id FROM members
                   WHERE unreachable_at IS NOT NULL
                      OR (paused_until IS NOT NULL AND paused_until > ?))""",
            (now,),
        ).rowcount
        return reminders + members

    # -- dispatching --------------------------------------------------------------------------

    def due_outbox(
        self, now: str, platforms: Sequence[str], *, after_id: int = 0, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Pending rows due at ``now`` for these platforms, in id order (one batch)."""
        if not platforms:
            return []
        return _dicts(self.conn.execute(
            f"""SELECT {_COLUMNS} FROM outbox
                WHERE status = 'pending' AND not_before <= ? AND id > ?
                  AND platform IN ({_marks(len(platforms))})
                ORDER BY id LIMIT ?""",
            (now, after_id, *platforms, limit),
        ))

    def claim_outbox(self, ids: Sequence[int], now: str) -> dict[int, tuple[str, int, str]]:
        """Move pending rows to ``sending``; returns what this caller got (commit first!):
        id -> (payload, delivered, txn_id) as they are in the store at the claim.

        The claim is atomic with a status check, so a row is claimed by one caller only; and the
        payload comes from the claim itself, never from an earlier read that another process may
        have overtaken (it may have sent part of the row meanwhile). ``txn_id`` is set here, before
        the row's first request, and kept for every later attempt.
        """
        got: dict[int, tuple[str, int, str]] = {}
        for chunk in _chunks(list(ids)):
            rows = self.conn.execute(
                f"""UPDATE outbox SET status = 'sending', sending_at = ?,
                        txn_id = COALESCE(txn_id, 'ts' || lower(hex(randomblob(12))))
                    WHERE status = 'pending' AND id IN ({_marks(len(chunk))})
                    RETURNING id, payload, delivered, txn_id""",
                (now, *chunk),
            ).fetchall()
            got.update({int(r[0]): (str(r[1]), int(r[2]), str(r[3])) for r in rows})
        return got

    def outbox_sent(self, rows: Sequence[tuple[str, str | None, int]]) -> None:
        """Mark rows sent: (sent_at, platform_message_id, id)."""
        self.conn.executemany(
            """UPDATE outbox SET status = 'sent', sent_at = ?, platform_message_id = ?,
                   last_error = NULL WHERE id = ?""",
            rows,
        )

    def outbox_reschedule(
        self,
        row_id: int,
        *,
        status: str,
        not_before: str | None = None,
        attempts: int | None = None,
        error: str | None = None,
        payload: str | None = None,
        message_id: str | None = None,
        delivered: int | None = None,
        timeout_resend: bool = False,
        dup_risk: bool = False,
    ) -> None:
        """Set a row's outcome after an attempt (pending again, failed, unreachable, ...).

        ``payload`` replaces the stored replies (the ones still to send after a partial send)
        and ``delivered`` says how many of the row's replies went out before them.
        ``timeout_resend``: the last request may have arrived and goes out again (``dup_risk``:
        without an idempotency key, so possibly twice).
        """
        self.conn.execute(
            """UPDATE outbox SET status = ?, not_before = COALESCE(?, not_before),
                   attempts = COALESCE(?, attempts), last_error = ?,
                   payload = COALESCE(?, payload),
                   platform_message_id = COALESCE(?, platform_message_id),
                   delivered = COALESCE(?, delivered),
                   timeout_resends = timeout_resends + ?, dup_risk = dup_risk + ?
               WHERE id = ?""",
            (status, not_before, attempts, error, payload, message_id, delivered,
             int(timeout_resend), int(dup_risk), row_id),
        )

    def mark_member_unreachable(self, member_id: int, now: str) -> None:
        self.conn.execute(
            "UPDATE members SET unreachable_at = ? WHERE id = ? AND unreachable_at IS NULL",
            (now, member_id),
        )

    def member_unreachable(self, member_id: int, now: str) -> list[int]:
        """The one rule for "this person cannot be reached in their private chat" (they blocked
        the bot): marked, and what waits in the outbox for them is cancelled. Returns the ids of
        the cancelled rows. Used by the engine (a transport saw it) and by the dispatcher (a
        send came back unreachable); writing again makes them reachable (``mark_reachable``)."""
        self.mark_member_unreachable(member_id, now)
        return self.cancel_pending(member_id=member_id)

    def cancel_pending(
        self, *, member_id: int | None = None, platform: str | None = None,
        chat_id: str | None = None, reason: str = "onbereikbaar",
    ) -> list[int]:
        """Cancel the pending rows of a member, or of one chat; returns their ids."""
        params: tuple[object, ...]
        if member_id is not None:
            sql, params = "member_id = ?", (member_id,)
        elif platform is not None and chat_id is not None:
            sql, params = "platform = ? AND chat_id = ?", (platform, chat_id)
        else:
            raise ValueError("give member_id, or platform and chat_id")
        rows = self.conn.execute(
            f"""UPDATE outbox SET status = 'cancelled', last_error = ?
                WHERE status = 'pending' AND {sql} RETURNING id""",
            (reason, *params),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def outbox_next_due(self, platforms: Sequence[str] | None = None) -> str | None:
        """The earliest ``not_before`` of a pending row (None when nothing is pending)."""
        if platforms is not None and not platforms:
            return None
        sql = "SELECT MIN(not_before) FROM outbox WHERE status = 'pending'"
        params: tuple[Any, ...] = ()
        if platforms is not None:
            sql += f" AND platform IN ({_marks(len(platforms))})"
            params = tuple(platforms)
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row and row[0] else None

    # -- crash recovery and operator actions --------------------------------------------------

    def outbox_mark_uncertain(self) -> int:
        """Rows left in ``sending`` by a crash become ``uncertain`` (never resent blindly)."""
        with self.transaction():
            cur = self.conn.execute(
                """UPDATE outbox SET status = 'uncertain',
                       last_error = 'onderbroken tijdens verzenden: misschien aangekomen'
                   WHERE status = 'sending'"""
            )
        return cur.rowcount

    def outbox_recover(
        self, platforms: dict[str, bool], *, resend: bool, now: str
    ) -> dict[str, int]:
        """At start-up, rows of these platforms left in ``sending`` by a crash.

        ``platforms``: platform -> idempotent. Rows of an idempotent platform are sent again
        (same transaction ids: delivered once). Others are sent again when ``resend`` (counted
        as a possible duplicate), else they become ``uncertain`` for an operator. Returns
        ``{"resent": n, "duplicates_risked": n, "held": n}``.
        """
        out = {"resent": 0, "duplicates_risked": 0, "held": 0}
        with self.transaction():
            for platform, idempotent in sorted(platforms.items()):
                if idempotent or resend:
                    n = self.conn.execute(
                        """UPDATE outbox SET status = 'pending', not_before = ?,
                               crash_resends = crash_resends + 1, dup_risk = dup_risk + ?,
                               last_error = ?
                           WHERE status = 'sending' AND platform = ?""",
                        (now, 0 if idempotent else 1,
                         "onderbroken door een herstart: opnieuw verstuurd"
                         + (" (zelfde transactie-id)" if idempotent else ""), platform),
                    ).rowcount
                    out["resent"] += n
                    if not idempotent:
                        out["duplicates_risked"] += n
                else:
                    out["held"] += self.conn.execute(
                        """UPDATE outbox SET status = 'uncertain',
                               last_error = 'onderbroken tijdens verzenden: misschien aangekomen'
                           WHERE status = 'sending' AND platform = ?""",
                        (platform,),
                    ).rowcount
        return out

    def outbox_in_status(self, status: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        return _dicts(self.conn.execute(
            """SELECT id, dedup_key, platform, chat_id, is_group, member_id, team_id, kind, period,
                      status, attempts, not_before, last_error, created_at, sending_at, sent_at
               FROM outbox WHERE status = ? ORDER BY id LIMIT ?""",
            (status, limit),
        ))

    def outbox_move(
        self, from_status: str, to_status: str, *, ids: Sequence[int] | None = None,
        not_before: str | None = None, error: str | None = None,
    ) -> int:
        """Move rows from one status to another (all of them, or only ``ids``)."""
        base = """UPDATE outbox SET status = ?, not_before = COALESCE(?, not_before),
                      last_error = COALESCE(?, last_error) WHERE status = ?"""
        n = 0
        with self.transaction():
            if ids is None:
                n = self.conn.execute(base, (to_status, not_before, error, from_status)).rowcount
            else:
                for chunk in _chunks(list(ids)):
                    n += self.conn.execute(
                        f"{base} AND id IN ({_marks(len(chunk))})",
                        (to_status, not_before, error, from_status, *chunk),
                    ).rowcount
        return n

    # -- reporting ----------------------------------------------------------------------------

    def outbox_resend_counts(self) -> dict[str, int]:
        """What the resend policy did, over the whole outbox: requests sent again after a
        timeout, rows sent again after a crash, how many of those resends may have duplicated a
        message, and rows held as ``uncertain``."""
        row = self.conn.execute(
            """SELECT COALESCE(SUM(timeout_resends), 0), COALESCE(SUM(crash_resends), 0),
                      COALESCE(SUM(dup_risk), 0),
                      COALESCE(SUM(status = 'uncertain'), 0)
               FROM outbox"""
        ).fetchone()
        return {"timeout_resends": int(row[0]), "crash_resends": int(row[1]),
                "duplicates_risked": int(row[2]), "held": int(row[3])}

    def outbox_status_counts(self) -> list[dict[str, Any]]:
        """(kind, period, status, n): reminders are grouped by the month they were planned."""
        return _dicts(self.conn.execute(
            """SELECT kind,
                      CASE WHEN kind = 'reminder' THEN substr(created_at, 1, 7) ELSE period END
                          AS period,
                      status, COUNT(*) AS n
               FROM outbox GROUP BY 1, 2, 3 ORDER BY 2, 1, 3"""
        ))

