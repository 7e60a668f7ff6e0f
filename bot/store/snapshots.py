"""Queries behind report snapshots (mixed into :class:`bot.store.Store`).

What a snapshot holds and why is explained in :mod:`bot.reports.snapshot`; publishing and viewing
are in :mod:`bot.reports.service`. Here: the SQL only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.periods import open_period, quarter_of

KIND_REFLECTION = "reflection"
KIND_TIPS = "tips"

#: (theme_id, question_id, text, member_id, answer_id, position) of one shared text
TextRow = tuple[str | None, str | None, str, int, int | None, int]


class SnapshotQueries:
    conn: sqlite3.Connection

    def _prefetched_periods(self, team_id: int) -> frozenset[str] | None:  # provided by Store
        return None

    # -- periods ------------------------------------------------------------------------------

    def closed_periods(self, team_id: int, since: str = "") -> set[str]:
        """Periods of the team that have been published (reflection snapshots), from ``since``
        (read with the conversation in a turn, when still true: see
        :meth:`bot.store.Store.load_conversation`)."""
        known = self._prefetched_periods(team_id)
        if known is not None:
            return {p for p in known if p >= since}
        rows = self.conn.execute(
            "SELECT period FROM snapshots WHERE team_id = ? AND kind = ? AND period >= ?",
            (team_id, KIND_REFLECTION, since),
        ).fetchall()
        return {str(r[0]) for r in rows}

    def answer_period(self, team_id: int, now: datetime) -> str:
        """The period a new answer of this team counts for at ``now`` (the one place that
        decides it): the current quarter, or the next open one when the team's round was closed
        early (see :func:`bot.periods.open_period`)."""
        # a turn's common case: the team's published periods as the load read them, all of
        # them (open_period asks only about the quarter of ``now`` and the ones after it)
        known: Collection[str] | None = self._prefetched_periods(team_id)
        if known is None:
            known = self.closed_periods(team_id, quarter_of(now))
        return open_period(now, known)

    def answer_periods(self, team_id: int) -> list[str]:
        """Distinct periods with answers of one team, oldest first.

        A skip-scan over the ``(team_id, period)`` index: one seek per period, so the cost
        grows with the number of periods, not with the number of answers.
        """
        out: list[str] = []
        last = ""
        while True:
            row = self.conn.execute(
                "SELECT period FROM answers WHERE team_id = ? AND period > ? ORDER BY period "
                "LIMIT 1",
                (team_id, last),
            ).fetchone()
            if row is None:
                return out
            last = str(row[0])
            out.append(last)

    def period_participants(self, team_id: int, period: str, pack: str | None = None) -> int:
        """How many members gave any answer (a scale or a text) in the team's period (in one
        content pack, or in any)."""
        row = self.conn.execute(
            """SELECT COUNT(DISTINCT member_id) FROM answers
               WHERE team_id = ? AND period = ? AND (? IS NULL OR pack = ?)
               AND (scale IS NOT NULL OR TRIM(COALESCE(text, '')) != '')""",
            (team_id, period, pack, pack),
        ).fetchone()
        return int(row[0])

    def period_answer_rows(self, team_id: int, period: str,
                           pack: str = "praatplaat") -> list[tuple[Any, ...]]:
        """(member_id, team_id, theme_id, question_id, period, updated_at, scale, text,
        share_text, id, role) of one team's period in one content pack: what a snapshot is
        computed from (each pack its own snapshot: nothing is ever averaged across packs;
        ``role``: the role the answer was given as)."""
        return self.conn.execute(
            """SELECT member_id, team_id, theme_id, question_id, period, updated_at, scale,
                      text, share_text, id, role
               FROM answers WHERE team_id = ? AND period = ? AND pack = ?""",
            (team_id, period, pack),
        ).fetchall()

    def team_size(self, team_id: int) -> int:
        """How many members the team has now (the Demoteam too)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM memberships WHERE team_id = ?", (team_id,)).fetchone()
        return int(row[0])

    def tip_reaction_months(self, team_id: int) -> list[str]:
        """Months with reactions to the monthly tip in one team, oldest first."""
        rows = self.conn.execute(
            "SELECT DISTINCT period FROM tip_reactions WHERE team_id = ? ORDER BY period",
            (team_id,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def tip_reaction_month_rows(self, team_id: int, month: str) -> list[tuple[Any, ...]]:
        """(member_id, tip_month, scale, text, share_text) of one team's month."""
        return self.conn.execute(
            """SELECT member_id, tip_month, scale, text, share_text FROM tip_reactions
               WHERE team_id = ? AND period = ?""",
            (team_id, month),
        ).fetchall()

    def month_reactions(self, team_id: int, month: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM tip_reactions WHERE team_id = ? AND period = ?",
            (team_id, month),
        ).fetchone()
        return int(row[0])

    def publishable_teams(self) -> list[int]:
        """Teams whose periods are published (not the Demoteam: it shows synthetic answers)."""
        return [int(r[0]) for r in self.conn.execute(
            "SELECT id FROM teams WHERE is_demo = 0 ORDER BY id")]

    # -- snapshots ----------------------------------------------------------------------------

    def insert_snapshot(
        self,
        *,
        team_id: int,
        period: str,
        published_at: str,
        closed_early: bool,
        algorithm_version: int,
        content_version: str,
        data: dict[str, Any],
        members: dict[int, int],
        texts: Sequence[TextRow],
        kind: str = KIND_REFLECTION,
    ) -> int | None:
        """Store one snapshot; None when the period was published already (by another process
        or an earlier tick): a snapshot is written once and never replaced."""
        cur = self.conn.execute(
            """INSERT INTO snapshots (team_id, kind, period, published_at, closed_early,
                   algorithm_version, content_version, data)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (team_id, kind, period) DO NOTHING""",
            (team_id, kind, period, published_at, int(closed_early), algorithm_version,
             content_version, json.dumps(data, ensure_ascii=False, separators=(",", ":"))),
        )
        if not cur.rowcount:
            return None
        snapshot_id = int(cur.lastrowid or 0)
        self.conn.executemany(
            "INSERT INTO snapshot_members (snapshot_id, member_id, idx) VALUES (?, ?, ?)",
            [(snapshot_id, member, idx) for member, idx in members.items()],
        )
        self.conn.executemany(
            """INSERT INTO snapshot_texts (snapshot_id, theme_id, question_id, text, member_id,
                   answer_id, position) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [(snapshot_id, *row) for row in texts],
        )
        return snapshot_id

    def snapshot_rows(
        self, team_id: int, *, periods: Iterable[str] | None = None, last: int | None = None,
        kind: str = KIND_REFLECTION,
    ) -> list[dict[str, Any]]:
        """Published snapshots of one team, oldest first (``periods``: only these; ``last``:
        only the latest N)."""
        sql = """SELECT id, team_id, period, published_at, closed_early, algorithm_version,
                        content_version, data
                 FROM snapshots WHERE team_id = ? AND kind = ?"""
        params: list[Any] = [team_id, kind]
        if periods is not None:
            wanted = list(periods)
            sql += f" AND period IN ({','.join('?' * len(wanted))})"
            params += wanted
        sql += " ORDER BY period DESC"
        if last is not None:
            sql += " LIMIT ?"
            params.append(last)
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        rows.reverse()
        return rows

    def snapshot_periods(self, team_id: int, kind: str = KIND_REFLECTION) -> list[str]:
        rows = self.conn.execute(
            "SELECT period FROM snapshots WHERE team_id = ? AND kind = ? ORDER BY period",
            (team_id, kind),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def snapshot_meta(self, snapshot_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """snapshot id -> its team, kind, period and publication time (not its data)."""
        ids = list(snapshot_ids)
        if not ids:
            return {}
        cur = self.conn.execute(
            f"""SELECT id, team_id, kind, period, published_at, closed_early FROM snapshots
                WHERE id IN ({','.join('?' * len(ids))})""",
            ids,
        )
        names = [d[0] for d in cur.description]
        return {int(row[0]): dict(zip(names, row, strict=True)) for row in cur.fetchall()}

    def snapshot_index(self, member_id: int, snapshot_ids: Sequence[int]) -> dict[int, int]:
        """snapshot id -> the member's index in it, for the snapshots the member answered in."""
        if not snapshot_ids:
            return {}
        rows = self.conn.execute(
            f"""SELECT snapshot_id, idx FROM snapshot_members WHERE member_id = ?
                AND snapshot_id IN ({','.join('?' * len(snapshot_ids))})""",
            (member_id, *snapshot_ids),
        ).fetchall()
        return {int(s): int(i) for s, i in rows}

    def snapshot_text_rows(self, snapshot_ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """(snapshot_id, theme_id, question_id, text) in published order; never the author."""
        if not snapshot_ids:
            return []
        return self.conn.execute(
            f"""SELECT snapshot_id, theme_id, question_id, text FROM snapshot_texts
                WHERE snapshot_id IN ({','.join('?' * len(snapshot_ids))})
                ORDER BY snapshot_id, position""",
            tuple(snapshot_ids),
        ).fetchall()

    # -- what an edit, a withdrawal or an erasure takes out of published snapshots -------------

    def strip_member_from_snapshots(self, member_id: int) -> int:
        """Remove everything personal of one member from published snapshots: their shared
        texts and their index (which cells they were in). The numbers stay: anonymous aggregates
        of at least k people. Part of erasure (:meth:`Store.delete_member`). Returns the number
        of texts removed."""
        cur = self.conn.execute("DELETE FROM snapshot_texts WHERE member_id = ?", (member_id,))
        self.conn.execute("DELETE FROM snapshot_members WHERE member_id = ?", (member_id,))
        return cur.rowcount

    def prune_snapshot_texts(self, published_before: str) -> int:
        """Retention: delete the shared texts of snapshots published before ``published_before``
        (an ISO timestamp). Reflection texts also go with their answers (foreign key); texts of
        tip reactions have no answer row, so a retention job calls this. The numbers stay."""
        cur = self.conn.execute(
            """DELETE FROM snapshot_texts WHERE snapshot_id IN
                   (SELECT id FROM snapshots WHERE published_at < ?)""",
            (published_before,),
        )
        return cur.rowcount

    def drop_tip_snapshot_text(self, member_id: int, month: str, unless_text: str | None) -> int:
        """Take a member's reaction text of ``month`` out of published tip snapshots (they
        changed it); ``unless_text``: keep it when the published text is exactly this."""
        cur = self.conn.execute(
            """DELETE FROM snapshot_texts WHERE member_id = ? AND snapshot_id IN
                   (SELECT id FROM snapshots WHERE kind = ? AND period = ?)
               AND (? IS NULL OR text != ?)""",
            (member_id, KIND_TIPS, month, unless_text, unless_text),
        )
        return cur.rowcount

    def drop_snapshot_texts(
        self, run_id: int, question_id: str, *, unless_text: str | None = None
    ) -> int:
        """Take an answer's text out of published snapshots (its author changed it or withdrew
        consent). ``unless_text``: keep it when the published text is exactly this."""
        cur = self.conn.execute(
            """DELETE FROM snapshot_texts WHERE answer_id =
                   (SELECT id FROM answers WHERE run_id = ? AND question_id = ?)
               AND (? IS NULL OR text != ?)""",
            (run_id, question_id, unless_text, unless_text),
        )
        return cur.rowcount
