"""Queries about content packs (mixed into :class:`bot.store.Store`).

Two tables (schema ``_v13_packs``): ``team_packs`` keeps every version of a pack a team wrote
itself, as the YAML it was added with; ``team_pack_choices`` says which packs a team uses. What
a pack *means* (validation, defaults, the packs a member sees) lives in :mod:`bot.packs`; this
module only stores and reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from bot.store.clock import utcnow
from bot.store.convcache import Rows


def _now() -> str:
    return utcnow()


class PackQueries:
    conn: sqlite3.Connection

    #: provided by :class:`bot.store.Store`
    _cached_rows: Callable[[tuple[Any, ...], str, tuple[Any, ...]], Rows]

    def transaction(self) -> AbstractContextManager[None]:  # provided by Store
        raise NotImplementedError

    def _pack_rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- packs a team wrote itself ---------------------------------------------------------------

    def add_team_pack(self, team_id: int, pack_id: str, version: str, source_yaml: str,
                      sha256: str) -> str:
        """Store one version of a team's own pack: ``added``, ``unchanged`` (this version with
        exactly this text is there already) or ``conflict`` (this version exists with another
        text: versions are never changed, the author raises the version instead)."""
        with self.transaction():
            row = self.conn.execute(
                "SELECT sha256 FROM team_packs WHERE team_id = ? AND pack_id = ? AND version = ?",
                (team_id, pack_id, version),
            ).fetchone()
            if row is not None:
                return "unchanged" if row[0] == sha256 else "conflict"
            self.conn.execute(
                """INSERT INTO team_packs (team_id, pack_id, version, source_yaml, sha256,
                       added_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (team_id, pack_id, version, source_yaml, sha256, _now()),
            )
        return "added"

    def team_pack_versions(self, team_id: int, pack_id: str | None = None) -> list[dict[str, Any]]:
        """Versions of a team's own packs (without their YAML), oldest first."""
        sql = """SELECT team_id, pack_id, version, sha256, added_at FROM team_packs
                 WHERE team_id = ?"""
        params: tuple = (team_id,)
        if pack_id is not None:
            sql += " AND pack_id = ?"
            params += (pack_id,)
        return self._pack_rows(sql + " ORDER BY pack_id, added_at, rowid", params)

    def team_pack_source(self, team_id: int, pack_id: str,
                         version: str | None = None) -> tuple[str, str] | None:
        """(version, YAML) of a team's pack: the given version, or the latest added."""
        if version is None:
            row = self.conn.execute(
                """SELECT version, source_yaml FROM team_packs WHERE team_id = ? AND pack_id = ?
                   ORDER BY added_at DESC, rowid DESC LIMIT 1""",
                (team_id, pack_id),
            ).fetchone()
        else:
            row = self.conn.execute(
                """SELECT version, source_yaml FROM team_packs
                   WHERE team_id = ? AND pack_id = ? AND version = ?""",
                (team_id, pack_id, version),
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def team_pack_ids(self, team_id: int) -> list[str]:
        """Ids of the packs a team wrote itself, in the order they were first added (in a
        turn: a cached read)."""
        rows = self._cached_rows(
            ("team_pack_ids", team_id),
            """SELECT pack_id FROM team_packs WHERE team_id = ?
               GROUP BY pack_id ORDER BY MIN(rowid)""",
            (team_id,),
        )
        return [str(r[0]) for r in rows]

    def team_pack_owner_ids(self) -> dict[str, list[int]]:
        """Pack id -> teams that wrote a pack with that id (ids are per team)."""
        out: dict[str, list[int]] = {}
        for pack_id, team_id in self.conn.execute(
                "SELECT DISTINCT pack_id, team_id FROM team_packs ORDER BY pack_id, team_id"):
            out.setdefault(str(pack_id), []).append(int(team_id))
        return out

    # -- which packs a team uses -----------------------------------------------------------------

    def pack_choices(self, team_id: int) -> dict[str, bool]:
        """The packs an owner switched on or off for a team (the rest: defaults; in a turn: a
        cached read)."""
        rows = self._cached_rows(
            ("pack_choices", team_id),
            "SELECT pack_id, enabled FROM team_pack_choices WHERE team_id = ?", (team_id,))
        return {str(p): bool(e) for p, e in rows}

    def set_pack_choice(self, team_id: int, pack_id: str, enabled: bool) -> bool:
        """Switch a pack on or off for a team; False when it already was so."""
        cur = self.conn.execute(
            """INSERT INTO team_pack_choices (team_id, pack_id, enabled, chosen_at)
               VALUES (?, ?, ?, ?) ON CONFLICT (team_id, pack_id) DO UPDATE SET
               enabled = excluded.enabled, chosen_at = excluded.chosen_at
               WHERE team_pack_choices.enabled != excluded.enabled""",
            (team_id, pack_id, int(enabled), _now()),
        )
        return cur.rowcount > 0

    def pack_chosen_at(self, team_id: int, pack_id: str) -> str | None:
        """When a pack was last switched on or off for the team (None: never, a default)."""
        row = self.conn.execute(
            "SELECT chosen_at FROM team_pack_choices WHERE team_id = ? AND pack_id = ?",
            (team_id, pack_id),
        ).fetchone()
        return str(row[0]) if row else None

    def teams_choosing(self, pack_id: str, enabled: bool = True) -> list[int]:
        """Teams that switched this pack on (or off), by id."""
        rows = self.conn.execute(
            "SELECT team_id FROM team_pack_choices WHERE pack_id = ? AND enabled = ? "
            "ORDER BY team_id",
            (pack_id, int(enabled)),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def teams_with_extra_packs(self) -> list[int]:
        """Teams that switched on a pack beyond the two defaults (or added one of their own)."""
        rows = self.conn.execute(
            """SELECT DISTINCT team_id FROM team_pack_choices WHERE enabled = 1
               AND pack_id NOT IN ('praatplaat', 'kalender') ORDER BY team_id"""
        ).fetchall()
        return [int(r[0]) for r in rows]

    # -- answers per pack (reports: each pack its own section) ---------------------------------

    def answer_packs(self, team_id: int, period: str | None = None) -> list[str]:
        """The packs a team answered in (in one period, or ever), the Praatplaat first."""
        sql = "SELECT DISTINCT pack FROM answers WHERE team_id = ?"
        params: tuple = (team_id,)
        if period is not None:
            sql += " AND period = ?"
            params += (period,)
        packs = sorted(str(r[0]) for r in self.conn.execute(sql, params))
        return sorted(packs, key=lambda p: p != "praatplaat")

    def pack_versions_in(self, team_id: int, period: str, pack: str) -> list[str]:
        """The versions of a pack a team's answers of one period were given under."""
        rows = self.conn.execute(
            """SELECT DISTINCT pack_version FROM answers WHERE team_id = ? AND period = ?
               AND pack = ? AND pack_version IS NOT NULL ORDER BY pack_version""",
            (team_id, period, pack),
        ).fetchall()
        return [str(r[0]) for r in rows]
