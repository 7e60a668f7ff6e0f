"""Who may read a team's reports: owners, granted readers, typed invites, dashboard sessions.

Mixed into :class:`bot.store.Store`. Two things are kept apart on purpose:

* the role a person **answers as** (``memberships.role``: professional, manager, beleid,
  bestuurder). It is self-described; it chooses the questions and the role group in
  aggregates, and it gives no right at all;
* the right to **read** a team's reports (``team_access``), which is granted, never chosen.
  A team's *owners* grant and revoke it and may add owners; owners read too. A grant needs a
  membership in the team (an invite that grants a right also joins its user to the team), and
  the Demoteam never has owners or readers: its members are whoever picked it.

Invites are typed: ``member`` (the team's invite code: joins, never a right; many uses, may
expire, rotated with ``teamspiegel team rotate``), ``owner`` and ``leader`` (single use,
expiring; the first makes an owner, the second a reader, of a person the owner named) and
``group`` (single use, expiring within minutes: links a group chat when an owner of the team
uses it there). Every grant, revoke, refused attempt and invite use is audited; the person a
grant or revoke was about is ``audit_log.subject_member_id``, which erasing that person clears.

Member ids are random (see :func:`new_member_id`), so an erased member's id never comes back
for someone else; dashboard sessions are rows here, so logout, erasure (``ON DELETE CASCADE``)
and a revoked right end them at once.
"""

from __future__ import annotations

import secrets
import shlex
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ACCESS_KINDS",
    "INVITE_KINDS",
    "OWNER",
    "READER",
    "SINGLE_USE_KINDS",
    "AccessQueries",
    "grant_command",
    "new_member_id",
    "new_token",
]

OWNER = "owner"
READER = "reader"
ACCESS_KINDS = (OWNER, READER)
INVITE_KINDS = ("member", "owner", "leader", "group")
#: invites that can be used once only (and are refused for the Demoteam)
SINGLE_USE_KINDS = ("owner", "leader", "group")

#: random member ids are drawn from [2**40, 2**63): above every sequential id of older versions
_ID_LOW = 2**40
_ID_HIGH = 2**63 - 1


def new_member_id() -> int:
    """A fresh member id: random, 63-bit safe (SQLite's INTEGER is a signed 64-bit number).

    Why random and not ``AUTOINCREMENT``: SQLite cannot add ``AUTOINCREMENT`` to an existing
    table, and rebuilding ``members`` in a migration with foreign keys on would cascade-delete
    every answer that points at it. Plain ``INTEGER PRIMARY KEY`` hands out ``max(id) + 1``,
    so erasing the newest member gave their id to the next person (a dashboard cookie of the
    erased person then opened the newcomer's teams). A random id from a range of 2**63 - 2**40
    values never collides with the sequential ids of versions up to 3 (all below 2**40), and
    the chance that it equals an id ever handed out before is at most (ids so far) / 2**63,
    about 1 in 10**13 with a million members: never, in practice. A collision with a *live*
    member is caught by the primary key and drawn again (see ``Store.get_or_create_member``).
    """
    return _ID_LOW + secrets.randbelow(_ID_HIGH - _ID_LOW)


def new_token() -> str:
    """An invite token: 128 random bits, 22 URL-safe characters (fits a Telegram deep link).
    Never with a leading '-': ``teamspiegel team revoke -abc`` would read it as an option."""
    while True:
        token = secrets.token_urlsafe(16)
        if not token.startswith("-"):
            return token


def _stamp(moment: datetime | str | None) -> str:
    """Timestamps compared with stored ones: ISO 8601 UTC to the second."""
    if isinstance(moment, str):
        return moment
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def grant_command(team: dict[str, Any], member_ids: list[int]) -> str:
    """The exact command line that grants ``member_ids`` read rights on ``team`` again."""
    name = str(team["name"])
    ref = str(team["id"]) if name.isdigit() else shlex.quote(name)  # digits are read as an id
    members = " ".join(f"--member {m}" for m in member_ids)
    return f"teamspiegel team grant {ref} {members}"


#: the teams a member may read the reports of: a right on a real team (never the Demoteam)
#: that they are still a member of (the one rule: :meth:`AccessQueries.rights`,
#: :meth:`bot.store.insights.InsightQueries.report_teams` and ``may_read_team``)
READABLE_TEAMS = """team_access a JOIN teams t ON t.id = a.team_id
    JOIN memberships m ON m.member_id = a.member_id AND m.team_id = a.team_id
    WHERE a.member_id = ? AND t.is_demo = 0"""
#: the teams a member owns (never the Demoteam)
OWNED_TEAMS = """team_access a JOIN teams t ON t.id = a.team_id
    WHERE a.member_id = ? AND a.access = 'owner' AND t.is_demo = 0"""
_RIGHTS = f"SELECT EXISTS (SELECT 1 FROM {READABLE_TEAMS}), EXISTS (SELECT 1 FROM {OWNED_TEAMS})"
_OWNED = f"SELECT t.id, t.name FROM {OWNED_TEAMS} ORDER BY t.name"


class AccessQueries:
    conn: sqlite3.Connection

    def _access_rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    #: provided by :class:`bot.store.Store`
    audit: Callable[..., None]

    # -- rights -------------------------------------------------------------------------------

    def access_of(self, member_id: int, team_id: int) -> str | None:
        """``"owner"``, ``"reader"`` or None (the Demoteam always None)."""
        row = self.conn.execute(
            """SELECT a.access FROM team_access a JOIN teams t ON t.id = a.team_id
               WHERE a.member_id = ? AND a.team_id = ? AND t.is_demo = 0""",
            (member_id, team_id),
        ).fetchone()
        return str(row[0]) if row else None

    def is_owner(self, member_id: int | None, team_id: int) -> bool:
        return member_id is not None and self.access_of(member_id, team_id) == OWNER

    def rights(self, member_id: int) -> tuple[bool, bool]:
        """``(may read, owns)`` in one statement: whether :meth:`report_teams` and
        :meth:`owned_teams` would list any team (the menu asks both at every showing)."""
        row = self.conn.execute(_RIGHTS, (member_id, member_id)).fetchone()
        return bool(row[0]), bool(row[1])

    def owned_teams(self, member_id: int) -> list[dict[str, Any]]:
        return self._access_rows(_OWNED, (member_id,))

    def grant_access(
        self, team_id: int, member_id: int, access: str, *, by: int | None, via: str,
        label: str | None = None,
    ) -> bool:
        """Make ``member_id`` a reader or an owner of ``team_id`` (audited). A reader grant
        never demotes an owner. False when nothing changed. Raises ValueError for the
        Demoteam, an unknown team or someone who is not a member of the team."""
        if access not in ACCESS_KINDS:
            raise ValueError(f"unknown access {access!r}")
        team = self.conn.execute("SELECT is_demo FROM teams WHERE id = ?", (team_id,)).fetchone()
        if team is None:
            raise ValueError("no such team")
        if team[0]:
            raise ValueError("the Demoteam has no owners or readers")
        member = self.conn.execute(
            "SELECT 1 FROM memberships WHERE member_id = ? AND team_id = ?", (member_id, team_id)
        ).fetchone()
        if member is None:
            raise ValueError("not a member of this team")
        before = self.access_of(member_id, team_id)
        if before == OWNER or before == access:
            if label and not self._label_of(team_id, member_id):
                self.conn.execute(
                    "UPDATE team_access SET label = ? WHERE team_id = ? AND member_id = ?",
                    (label, team_id, member_id))
            return False
        self.conn.execute(
            """INSERT INTO team_access (team_id, member_id, access, label, granted_by,
                   granted_via, granted_at) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (team_id, member_id) DO UPDATE SET access = excluded.access,
                   label = COALESCE(excluded.label, team_access.label),
                   granted_by = excluded.granted_by, granted_via = excluded.granted_via,
                   granted_at = excluded.granted_at""",
            (team_id, member_id, access, label, by, via, _stamp(None)),
        )
        self.audit("grant_owner" if access == OWNER else "grant_read", actor=by,
                   team_id=team_id, detail=via, subject=member_id)
        return True

    def _label_of(self, team_id: int, member_id: int) -> str | None:
        row = self.conn.execute(
            "SELECT label FROM team_access WHERE team_id = ? AND member_id = ?",
            (team_id, member_id),
        ).fetchone()
        return row[0] if row else None

    def revoke_access(
        self, team_id: int, member_id: int, *, by: int | None, owners: bool = False,
        via: str = "cli",
    ) -> str:
        """Take a right away and end the person's dashboard sessions at once (audited).

        Returns ``"revoked"``, ``"none"`` (no right to take) or ``"owner"`` (an owner, and
        ``owners`` was not given: an owner in the chat can revoke readers only)."""
        current = self.access_of(member_id, team_id)
        if current is None:
            return "none"
        if current == OWNER and not owners:
            self.audit("revoke_owner:denied", actor=by, team_id=team_id, detail=via,
                       subject=member_id)
            return "owner"
        self.conn.execute("DELETE FROM team_access WHERE team_id = ? AND member_id = ?",
                          (team_id, member_id))
        self.end_member_sessions(member_id)
        self.audit("revoke_owner" if current == OWNER else "revoke_read", actor=by,
                   team_id=team_id, detail=via, subject=member_id)
        return "revoked"

    def team_access_list(self, team_id: int) -> list[dict[str, Any]]:
        """Owners first, then readers, oldest grant first: member id, access, label, since,
        how. No names beyond the label an owner typed."""
        return self._access_rows(
            """SELECT member_id, access, label, granted_via, granted_at,
                      granted_by IS NULL AS by_operator
               FROM team_access WHERE team_id = ?
               ORDER BY access = 'reader', granted_at, member_id""",
            (team_id,),
        )

    def teams_without_owner(self) -> list[dict[str, Any]]:
        return self._access_rows(
            """SELECT t.id, t.name FROM teams t WHERE t.is_demo = 0 AND NOT EXISTS
                   (SELECT 1 FROM team_access a WHERE a.team_id = t.id AND a.access = 'owner')
               ORDER BY t.name"""
        )

    def lost_read_rights(self, team_id: int | None = None) -> list[dict[str, Any]]:
        """People who read as self-declared managers before version 4 and have no right yet
        (still members of the team)."""
        where = "AND l.team_id = ?" if team_id is not None else ""
        return self._access_rows(
            f"""SELECT DISTINCT l.team_id, t.name AS team_name, l.subject_member_id AS member_id
                FROM audit_log l
                JOIN teams t ON t.id = l.team_id
                JOIN memberships m ON m.team_id = l.team_id AND m.member_id = l.subject_member_id
                WHERE l.action = 'read_right_lost' {where}
                  AND NOT EXISTS (SELECT 1 FROM team_access a WHERE a.team_id = l.team_id
                                  AND a.member_id = l.subject_member_id)
                ORDER BY t.name, l.subject_member_id""",
            (team_id,) if team_id is not None else (),
        )

    def access_migration_notice(self) -> str | None:
        """What the operator must know right after the migration to version 4 (Dutch)."""
        lost = self.lost_read_rights()
        hidden = self.conn.execute("SELECT COUNT(*) FROM followups WHERE by_reader = 0"
                                   ).fetchone()[0]
        ownerless = self.teams_without_owner()
        if not lost and not ownerless and not hidden:
            return None
        lines = ["Teamspiegel 0.4: leesrechten zijn nu toegekend, niet meer zelf gekozen."]
        people = {r["member_id"] for r in lost}
        if lost:
            lines.append(
                f"{len(people)} {'persoon heeft' if len(people) == 1 else 'mensen hebben'} "
                "geen leesrecht meer (ze kozen zelf 'teamleider' of 'beleidsmedewerker'; ze "
                "beantwoorden de vragen nog steeds in die rol). Geef het terug met:")
            by_team: dict[int, list[int]] = {}
            names: dict[int, str] = {}
            for row in lost:
                by_team.setdefault(int(row["team_id"]), []).append(int(row["member_id"]))
                names[int(row["team_id"])] = str(row["team_name"])
            for team_id, members in by_team.items():
                lines.append("  " + grant_command({"id": team_id, "name": names[team_id]},
                                                  members))
        else:
            lines.append("Niemand verloor leesrecht.")
        if ownerless:
            lines.append("Teams zonder eigenaar (een eigenaar geeft leesrechten en koppelt "
                         "groepen). Maak een eenmalige eigenaarsuitnodiging met:")
            for team in ownerless:
                ref = str(team["id"]) if str(team["name"]).isdigit() else shlex.quote(
                    str(team["name"]))
                lines.append(f"  teamspiegel team owner-invite {ref}")
        if hidden:
            lines.append(f"{hidden} eerdere 'Wat we ermee doen'-teksten worden niet meer getoond: "
                         "niet vast te stellen wie ze schreef.")
        return "\n".join(lines)

    # -- typed invites --------------------------------------------------------------------------

    def create_typed_invite(
        self, team_id: int, kind: str, *, expires_at: datetime | str | None = None,
        created_by: int | None = None, label: str | None = None,
    ) -> str:
        """An unguessable token (22 URL-safe characters: fits a Telegram deep link). Owner,
        leader and group invites are single use; none of them exists for the Demoteam."""
        if kind not in INVITE_KINDS:
            raise ValueError(f"unknown invite kind {kind!r}")
        team = self.conn.execute("SELECT is_demo FROM teams WHERE id = ?", (team_id,)).fetchone()
        if team is None:
            raise ValueError("no such team")
        if team[0] and kind in SINGLE_USE_KINDS:
            raise ValueError("the Demoteam has no owners, readers or linked groups")
        token = new_token()
        self.conn.execute(
            """INSERT INTO invites (token, team_id, created_at, expires_at, kind, max_uses,
                   label, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (token, team_id, _stamp(None), _stamp(expires_at) if expires_at else None, kind,
             1 if kind in SINGLE_USE_KINDS else None, label, created_by),
        )
        self.audit(f"invite_created:{kind}", actor=created_by, team_id=team_id)
        return token

    def check_invite(
        self, token: str, now: datetime | str | None = None
    ) -> tuple[dict[str, Any] | None, str]:
        """(invite row, "ok") or (None, reason): unknown / revoked / expired / used."""
        rows = self._access_rows("SELECT * FROM invites WHERE token = ?", (token.strip(),))
        if not rows:
            return None, "unknown"
        row = rows[0]
        if row["revoked_at"]:
            return None, "revoked"
        if row["expires_at"] and row["expires_at"] <= _stamp(now):
            return None, "expired"
        if row["max_uses"] is not None and row["uses"] >= row["max_uses"]:
            return None, "used"
        return row, "ok"

    def use_typed_invite(
        self, token: str, member_id: int | None, now: datetime | str | None = None
    ) -> tuple[dict[str, Any] | None, str]:
        """Check and use an invite in one step (the caller's transaction makes it atomic);
        a single-use invite forgets its label (the name moves to the grant). Audited."""
        row, reason = self.check_invite(token, now)
        if row is None:
            return None, reason
        self.conn.execute(
            """UPDATE invites SET uses = uses + 1, last_used_at = ?,
                   label = CASE WHEN max_uses IS NULL THEN label ELSE NULL END
               WHERE token = ?""",
            (_stamp(now), row["token"]),
        )
        self.audit(f"invite_used:{row['kind']}", actor=member_id, team_id=int(row["team_id"]))
        return row, "ok"

    def open_invites(self, team_id: int, kinds: tuple[str, ...] = SINGLE_USE_KINDS,
                     now: datetime | str | None = None) -> list[dict[str, Any]]:
        """Invites of these kinds that still work, oldest first."""
        stamp = _stamp(now)
        return self._access_rows(
            f"""SELECT token, kind, label, created_at, expires_at, uses, max_uses
                FROM invites WHERE team_id = ? AND kind IN ({','.join('?' * len(kinds))})
                AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                AND (max_uses IS NULL OR uses < max_uses)
                ORDER BY created_at, rowid""",
            (team_id, *kinds, stamp),
        )

    def rotate_member_invite(
        self, team_id: int, *, expires_at: datetime | str | None = None, by: int | None = None,
    ) -> tuple[str, int]:
        """Revoke every member invite of the team and make a new one: (new token, revoked)."""
        cur = self.conn.execute(
            """UPDATE invites SET revoked_at = ? WHERE team_id = ? AND kind = 'member'
               AND revoked_at IS NULL""",
            (_stamp(None), team_id),
        )
        revoked = cur.rowcount
        token = self.create_typed_invite(team_id, "member", expires_at=expires_at, created_by=by)
        self.audit("invite_rotated", actor=by, team_id=team_id, detail=str(revoked))
        return token, revoked

    # -- dashboard sessions ---------------------------------------------------------------------

    def create_web_session(self, id_hash: str, member_id: int, expires_at: datetime,
                           now: datetime) -> None:
        self.conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (_stamp(now),))
        self.conn.execute(
            """INSERT INTO web_sessions (id_hash, member_id, created_at, expires_at)
               VALUES (?, ?, ?, ?)""",
            (id_hash, member_id, _stamp(now), _stamp(expires_at)),
        )

    def web_session_alive(self, id_hash: str, member_id: int, now: datetime) -> bool:
        """The session exists, belongs to ``member_id`` and has not expired."""
        row = self.conn.execute(
            """SELECT 1 FROM web_sessions WHERE id_hash = ? AND member_id = ?
               AND expires_at > ?""",
            (id_hash, member_id, _stamp(now)),
        ).fetchone()
        return row is not None

    def end_web_session(self, id_hash: str) -> bool:
        cur = self.conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (id_hash,))
        return cur.rowcount > 0

    def end_member_sessions(self, member_id: int) -> int:
        """End every dashboard session of a member and void their unused login links."""
        cur = self.conn.execute("DELETE FROM web_sessions WHERE member_id = ?", (member_id,))
        ended = cur.rowcount
        self.conn.execute("DELETE FROM web_logins WHERE member_id = ? AND used_at IS NULL",
                          (member_id,))
        return ended
