"""Queries behind rounds, resuming and editing (mixed into :class:`bot.store.Store`).

A person has at most one answer per question in a team's period: a new round in the same period
starts from the earlier answers and changes them in place (the row keeps its first run and
period), so reviewing "this period" is one look-up per person, team and period.
"""

from __future__ import annotations

import sqlite3
from typing import Any

#: a run's last activity (SQL, for a run aliased ``r``): the stored ``last_activity_at`` (set
#: when the run started or finished, or when an answer of it was kept in an earlier run's row)
#: or its newest answer, whichever is later. An answer turn writes only its answer row; the run's
#: activity is derived where it is read (reminders, /mijndata), not written every turn.
RUN_ACTIVITY = ("MAX(r.last_activity_at, COALESCE((SELECT MAX(a.updated_at) FROM answers a "
                "WHERE a.run_id = r.id), ''))")


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


#: the columns of an answer that :meth:`ReflectionQueries.period_answers` and
#: :meth:`ReflectionQueries.answer_row` hand out: what the answer says and where it is kept
#: (``SELECT *`` cost 11 µs against 5 for a person's answers of a period: the sort carries and
#: the module converts every column)
ANSWER_VALUES = ("question_id", "run_id", "scale", "text", "share_text")
_ANSWER_VALUES = ", ".join(ANSWER_VALUES)


#: a person's answers in one team's period and pack, oldest first (the latest counts). By the
#: person's own answers (answers_member), never by the team's period: without the unary plus
#: SQLite picks the team index and reads the whole team's quarter
_PERIOD_ANSWERS = """FROM answers
    WHERE member_id = ? AND +team_id = ? AND +period = ? AND +pack = ?
    ORDER BY updated_at, id"""
_PERIOD_VALUES_SQL = f"SELECT {_ANSWER_VALUES} {_PERIOD_ANSWERS}"
_PERIOD_SCORES_SQL = f"SELECT question_id, scale, text {_PERIOD_ANSWERS}"
_PERIOD_RUNS_SQL = f"SELECT question_id, run_id {_PERIOD_ANSWERS}"
_ANSWER_ROW_SQL = f"SELECT {_ANSWER_VALUES} FROM answers WHERE run_id = ? AND question_id = ?"


class ReflectionQueries:
    conn: sqlite3.Connection

    def period_answers(self, member_id: int, team_id: int, period: str,
                       pack: str = "praatplaat") -> dict[str, dict[str, Any]]:
        """A person's answers in one team's period and content pack, per question id, each a
        dict of :data:`ANSWER_VALUES`.

        Older databases may hold several rows for a question in one period (a round per run);
        the latest one (by ``updated_at``, then id) is the one that counts, as in reports.
        """
        rows = self.conn.execute(_PERIOD_VALUES_SQL,
                                 (member_id, team_id, period, pack)).fetchall()
        return {row[0]: dict(zip(ANSWER_VALUES, row, strict=True)) for row in rows}

    def period_scores(self, member_id: int, team_id: int, period: str,
                      pack: str = "praatplaat") -> dict[str, tuple[int | None, str | None]]:
        """:meth:`period_answers` as a round's summary reads them: question id -> (scale,
        text), the same rows in the same order (the latest counts), without a dict per row."""
        rows = self.conn.execute(_PERIOD_SCORES_SQL,
                                 (member_id, team_id, period, pack)).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}

    def period_answer_runs(self, member_id: int, team_id: int, period: str,
                           pack: str = "praatplaat") -> dict[str, int]:
        """Question id -> the run whose row holds a person's answer in a team's period and
        content pack."""
        rows = self.conn.execute(_PERIOD_RUNS_SQL, (member_id, team_id, period, pack)).fetchall()
        return {str(q): int(r) for q, r in rows}

    def latest_answer_period(self, member_id: int, team_id: int,
                             pack: str = "praatplaat") -> str | None:
        """The most recent period in which a person answered anything for a team (in a pack)."""
        row = self.conn.execute(
            "SELECT MAX(period) FROM answers WHERE member_id = ? AND +team_id = ? AND +pack = ?",
            (member_id, team_id, pack),
        ).fetchone()
        return str(row[0]) if row and row[0] else None

    def answer_row(self, run_id: int, question_id: str) -> dict[str, Any] | None:
        """One answer of a run (:data:`ANSWER_VALUES`), or None."""
        row = self.conn.execute(_ANSWER_ROW_SQL, (run_id, question_id)).fetchone()
        return dict(zip(ANSWER_VALUES, row, strict=True)) if row else None

    def touch_run(self, run_id: int, now: str) -> None:
        """The run a person is walking saw activity (an answer kept in an earlier run's row;
        an answer in its own row counts by itself: :data:`RUN_ACTIVITY`)."""
        self.conn.execute("UPDATE runs SET last_activity_at = ? WHERE id = ?", (now, run_id))

    def run_activity(self, run_id: int) -> str | None:
        """When a run last saw activity (:data:`RUN_ACTIVITY`)."""
        row = self.conn.execute(
            f"SELECT {RUN_ACTIVITY} FROM runs r WHERE r.id = ?", (run_id,)).fetchone()
        return str(row[0]) if row else None

    def open_runs(self, member_id: int) -> list[dict[str, Any]]:
        return _dicts(self.conn.execute(
            "SELECT * FROM runs WHERE member_id = ? AND finished_at IS NULL ORDER BY id",
            (member_id,),
        ))

    def set_member_role(self, member_id: int, role: str) -> int:
        """The role a person answers as, in every team (``/rol``). Never a right: read rights
        are granted (``team_access``) and are not touched here."""
        cur = self.conn.execute("UPDATE memberships SET role = ? WHERE member_id = ?",
                                (role, member_id))
        return cur.rowcount

    def team_member_count(self, team_id: int) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM memberships WHERE team_id = ?", (team_id,)).fetchone()
        return int(row[0])
