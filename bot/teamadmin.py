"""Team leaders run their own team: one implementation behind the chat, the CLI and the dashboard.

``/nieuwteam NAAM`` and ``/team`` in the chat (:mod:`bot.engine.team`, through the engine's
``team_admin`` hook), ``teamspiegel team overview|cadence|nudge|schedule`` on the command line and
the dashboard's "Beheer" page all call :class:`TeamAdmin`. It checks the right *every* time (an
owner for every change, an owner or a granted reader for the overview), writes every change and
every refusal to the audit log, and says what went wrong in Dutch (:class:`AdminError`; the
tip slot's validation is the one of :func:`bot.schedule.planner.set_team_schedule`, which the
command line always used). ``actor=None`` is the operator on the command line.

What a leader sees of the team is counts only: how many members joined, and participation as the
reports show it (a band while the round is open, "8 van de 12" of a closed round only under the
snapshot rule), never who. The nudge goes to whoever did not finish the round, names nobody, and
tells the leader neither who nor how many got it; it obeys the reminders' rules (not to people who
turned reminders off, are paused or unreachable, nor to anyone reminded in the past three days)
and goes out once per round and team, in working hours.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine.flows import default_dialogues
from bot.engine.messages import Choice, Reply, reply_to_payload
from bot.store import Store
from bot.store.access import OWNER

__all__ = [
    "CADENCES",
    "KIND_NUDGE",
    "TEAMS_PER_DAY",
    "AdminError",
    "TeamAdmin",
    "TeamOverview",
    "clean_team_name",
    "install",
    "parse_cadence",
    "parse_tip_slot",
]

#: a round cadence: key -> how people read it
CADENCES = {
    "quarter": "elk kwartaal",
    "half": "elk half jaar (januari en juli)",
    "year": "één keer per jaar (januari)",
    "off": "geen rondes (gepauzeerd)",
}
_CADENCE_WORDS = {
    "quarter": "quarter", "kwartaal": "quarter", "elk kwartaal": "quarter",
    "half": "half", "halfjaar": "half", "half jaar": "half", "elk half jaar": "half",
    "year": "year", "jaar": "year", "jaarlijks": "year",
    "off": "off", "uit": "off", "pauze": "off", "geen": "off",
}
KIND_NUDGE = "nudge"
#: nobody gets a nudge within this long after a reminder or a nudge
NUDGE_QUIET = timedelta(days=3)
#: teams one person may make in the chat per day (a stranger cannot flood the bot with teams)
TEAMS_PER_DAY = 3
NAME_MAX = 60


class AdminError(ValueError):
    """A refusal or a bad value for the person who asked (already audited), in Dutch: a text of
    ``dialogues/texts.yaml`` (the ``admin_*`` keys). A ValueError, so the chat (which does not
    import this module) can say it as it is."""


@dataclass(frozen=True, slots=True)
class TeamOverview:
    """What an owner or reader sees of a team: counts only, and the team's settings."""

    team_id: int
    name: str
    members: int
    period: str
    #: participation in the open round, as a band ("3-4", "minder dan 3")
    open_band: str
    #: the last closed round and its participation ("8 van de 12 teamleden", or a band)
    last_period: str | None
    last_participation: str | None
    tips: str
    tips_off: bool
    cadence: str
    cadence_key: str
    groups: int
    sessions: int
    is_owner: bool
    #: open single-use invites (owner and leader), for owners
    open_invites: int


def clean_team_name(text: str) -> str | None:
    """A team name as stored: no control characters, single spaces, 2 to 60 characters."""
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = " ".join(text.split())
    return text if 2 <= len(text) <= NAME_MAX else None


def parse_cadence(text: str) -> str:
    """"kwartaal", "halfjaar", "jaar", "uit" (or the keys) -> the key; AdminError otherwise."""
    key = _CADENCE_WORDS.get(" ".join(text.lower().split()))
    if key is None:
        raise AdminError(default_dialogues().text("admin_cadence_unknown"))
    return key


def parse_tip_slot(text: str) -> tuple[int | None, str | None]:
    """"3 14:30" (the 3rd working day, half past two), "14:30" or "3" -> (day, time).
    AdminError with the example when it is none of those."""
    day: int | None = None
    at: str | None = None
    for word in text.replace(",", " ").split():
        word = word.strip().rstrip(".").lower().removesuffix("e")
        if ":" in word or "." in word:
            at = word.replace(".", ":")
            if len(at.split(":")[0]) == 1:
                at = "0" + at
        elif word.isdigit() and day is None:
            day = int(word)
        elif word not in ("werkdag", "om", "de", "dag", "uur"):
            raise AdminError(default_dialogues().text("admin_tip_slot_example"))
    if day is None and at is None:
        raise AdminError(default_dialogues().text("admin_tip_slot_missing"))
    return day, at


class TeamAdmin:
    """The team leaders' operations, with their rights checks and their audit entries.

    ``open_teams``: whether people may make a team in the chat (``TEAMSPIEGEL_OPEN_TEAMS``);
    ``k``: the anonymity threshold; ``clock``: aware UTC now (tests).
    """

    def __init__(self, store: Store, *, k: int = 3, open_teams: bool = True,
                 content: Any = None, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.k = max(3, int(k))
        self.open_teams = open_teams
        self.content = content
        self.clock = clock or (lambda: datetime.now(UTC))

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def _stamp(self) -> str:
        return self._now().isoformat(timespec="seconds")

    # -- rights ---------------------------------------------------------------------------------

    def _team(self, team_id: int) -> dict[str, Any]:
        team = self.store.get_team(team_id)
        if team is None:
            raise AdminError(default_dialogues().text("admin_no_team"))
        return team

    def _require(self, team_id: int, actor: int | None, what: str, *, owner: bool,
                 via: str) -> dict[str, Any]:
        """The team, when ``actor`` may do ``what`` (an owner, or with ``owner=False`` also a
        reader; the operator always). Otherwise the refusal is audited and raised."""
        team = self.store.get_team(team_id)
        if actor is None and team is not None:
            return team
        allowed = team is not None and actor is not None and (
            self.store.is_owner(actor, team_id) if owner
            else self.store.may_read_team(actor, team_id))
        if not allowed:
            with self.store.transaction():
                self.store.audit(f"{what}:denied", actor=actor,
                                 team_id=team_id if team is not None else None, detail=via)
            raise AdminError(default_dialogues().text(
                "admin_owners_only" if owner else "admin_readers_only"))
        assert team is not None
        return team

    # -- a new team ------------------------------------------------------------------------------

    def create_team(self, name: str, actor: int | None, *, role: str | None = None,
                    via: str = "chat") -> int:
        """A new team with ``actor`` as its first owner (and member, answering as ``role``).
        From the chat only when open teams are allowed, and at most :data:`TEAMS_PER_DAY` per
        person per day. The operator (``actor=None``) makes a team without an owner."""
        store = self.store
        clean = clean_team_name(name)
        if actor is not None and not self.open_teams:
            with store.transaction():
                store.audit("team_create:closed", actor=actor, detail=via)
            raise AdminError(default_dialogues().text("admin_teams_closed"))
        if clean is None:
            raise AdminError(default_dialogues().text("admin_team_name", most=NAME_MAX))
        with store.transaction():
            if actor is not None:
                since = (self._now() - timedelta(days=1)).isoformat(timespec="seconds")
                made = store.audit_count("team_create", actor=actor, since=since)
                if made >= TEAMS_PER_DAY:
                    store.audit("team_create:too_many", actor=actor, detail=via)
                    raise AdminError(default_dialogues().text("admin_too_many_teams",
                                                              n=TEAMS_PER_DAY))
            if store.team_by_name(clean):
                store.audit("team_create:exists", actor=actor, detail=via)
                raise AdminError(default_dialogues().text("admin_team_exists"))
            team_id = store.create_team(clean)
            store.create_invite(team_id)
            if actor is not None:
                store.join_team(actor, team_id, role or "manager")
                store.grant_access(team_id, actor, OWNER, by=actor, via="self_service")
            store.audit("team_create", actor=actor, team_id=team_id, detail=via)
        return team_id

    # -- what a leader sees ------------------------------------------------------------------------

    def overview(self, team_id: int, actor: int | None, *, via: str = "chat") -> TeamOverview:
        """Counts and settings of a team, for an owner or a reader (audited as a view)."""
        from bot.reports.mirror import participation_nl
        from bot.reports.service import team_report
        from bot.reports.snapshot import n_band
        from bot.schedule.calendar import TeamSchedule

        team = self._require(team_id, actor, "team_overview", owner=False, via=via)
        store = self.store
        now = self._now()
        report = team_report(store, team_id, k=self.k, viewer=actor, last=1, now=now,
                             content=self.content)
        period = store.answer_period(team_id, now)
        last = report.periods[-1] if report.periods else None
        schedule = TeamSchedule.from_json(team.get("tip_schedule"))
        cadence = str(team.get("reflection_cadence") or "quarter")
        with store.transaction():
            store.audit("team_overview", actor=actor, team_id=team_id, detail=via)
        return TeamOverview(
            team_id=team_id, name=str(team["name"]), members=store.team_size(team_id),
            period=period, open_band=n_band(store.period_participants(team_id, period), self.k),
            last_period=last, last_participation=participation_nl(report, last) if last else None,
            tips=_tips_nl(schedule), tips_off=schedule.off,
            cadence=CADENCES.get(cadence, CADENCES["off"]),
            cadence_key=cadence if cadence in CADENCES else "off",
            groups=len(store.team_chats(team_id)), sessions=len(store.team_sessions(team_id)),
            is_owner=actor is None or store.is_owner(actor, team_id),
            open_invites=len(store.open_invites(team_id, ("owner", "leader"), self._stamp())),
        )

    def member_invite(self, team_id: int, actor: int | None, *, via: str = "chat") -> str:
        """The team's member invite code (it joins, never a right): the newest that works, or
        a new one."""
        self._require(team_id, actor, "member_invite", owner=False, via=via)
        store = self.store
        now = self._stamp()
        with store.transaction():
            codes = [r for r in store.invites(team_id) if r.get("kind", "member") == "member"
                     and not r["revoked_at"] and not (r["expires_at"] and r["expires_at"] <= now)]
            token = str(codes[-1]["token"]) if codes else store.create_typed_invite(
                team_id, "member", created_by=actor)
            store.audit("member_invite_shown", actor=actor, team_id=team_id, detail=via)
        return token

    # -- changes (owners) ----------------------------------------------------------------------------

    def rotate_invite(self, team_id: int, actor: int | None, *, via: str = "chat"
                      ) -> tuple[str, int]:
        """A new member invite code; the old ones stop working. (new code, codes stopped)"""
        self._require(team_id, actor, "invite_rotate", owner=True, via=via)
        with self.store.transaction():
            token, revoked = self.store.rotate_member_invite(team_id, by=actor)
            self.store.audit("invite_rotate", actor=actor, team_id=team_id, detail=via)
        return token, revoked

    def leader_invite(self, team_id: int, label: str, actor: int | None, *, via: str = "chat",
                      days: int = 7) -> tuple[str, datetime]:
        """A single-use invite that gives read rights to the person the owner named (valid
        ``days``). (token, expiry)"""
        from bot.engine.access import clean_label

        self._require(team_id, actor, "invite_leader", owner=True, via=via)
        name = clean_label(label)
        if name is None:
            raise AdminError(default_dialogues().text("admin_leader_label"))
        expires = self._now() + timedelta(days=days)
        with self.store.transaction():
            token = self.store.create_typed_invite(team_id, "leader", expires_at=expires,
                                                   created_by=actor, label=name)
        return token, expires

    def set_tip_slot(self, team_id: int, actor: int | None, *, via: str = "chat",
                     day: int | None = None, time: str | None = None, off: bool | None = None,
                     default: bool = False) -> str:
        """The monthly tip's slot, or tips off/on (the CLI's own validation). Returns the new
        slot in words."""
        from bot.schedule.planner import set_team_schedule

        self._require(team_id, actor, "tip_schedule", owner=True, via=via)
        try:
            schedule = set_team_schedule(self.store, team_id, off=off, day=day, time=time,
                                         default=default)
        except ValueError as exc:
            reason = str(exc)  # the calendar's own Dutch words
            raise AdminError(default_dialogues().text(
                "admin_tip_schedule", reason=reason[:1].upper() + reason[1:])) from None
        with self.store.transaction():
            self.store.audit("tip_schedule", actor=actor, team_id=team_id,
                             detail=f"{via}: {schedule.to_json() or 'standaard'}")
        return _tips_nl(schedule)

    def set_tip_text(self, team_id: int, text: str, actor: int | None, *,
                     via: str = "chat") -> str:
        """The slot as typed in the chat ("3 14:30", "14:30", "uit", "standaard")."""
        words = " ".join(text.lower().split())
        if words in ("uit", "pauze", "geen"):
            return self.set_tip_slot(team_id, actor, via=via, off=True)
        if words in ("aan", "weer aan"):
            return self.set_tip_slot(team_id, actor, via=via, off=False)
        if words in ("standaard", "normaal"):
            return self.set_tip_slot(team_id, actor, via=via, default=True)
        self._require(team_id, actor, "tip_schedule", owner=True, via=via)
        day, at = parse_tip_slot(text)
        return self.set_tip_slot(team_id, actor, via=via, day=day, time=at)

    def set_cadence(self, team_id: int, cadence: str, actor: int | None, *,
                    via: str = "chat") -> str:
        """How often a new round starts with an invitation (``off``: rounds paused)."""
        key = parse_cadence(cadence) if cadence not in CADENCES else cadence
        self._require(team_id, actor, "cadence", owner=True, via=via)
        with self.store.transaction():
            self.store.set_reflection_cadence(team_id, key)
            self.store.audit("cadence", actor=actor, team_id=team_id, detail=f"{via}: {key}")
        return CADENCES[key]

    def nudge(self, team_id: int, actor: int | None, *, via: str = "chat") -> None:
        """"Nog niet iedereen heeft de ronde gedaan" to the members who did not finish the
        round (see the module's text). Once per round and team; AdminError when it went out
        already this round. Says nothing about who or how many."""
        from bot.schedule.calendar import is_working_time, next_working_time

        self._require(team_id, actor, "nudge", owner=True, via=via)
        store = self.store
        now = self._now()
        stamp = now.isoformat(timespec="seconds")
        period = store.answer_period(team_id, now)
        with store.transaction():
            done = store.audit_seen("nudge", team_id=team_id, detail_prefix=f"{period} ")
            if done:
                store.audit("nudge:again", actor=actor, team_id=team_id, detail=via)
                raise AdminError(default_dialogues().text("admin_nudge_again"))
            quiet = (now - NUDGE_QUIET).isoformat(timespec="seconds")
            texts = default_dialogues()
            payload = json.dumps([reply_to_payload(Reply(
                texts.text("team_nudge"),
                choices=[Choice(texts.text("team_nudge_button"), "go:resume")],
                expects="choice"))], ensure_ascii=False, separators=(",", ":"))
            not_before = (now if is_working_time(now) else next_working_time(now))
            for m in store.nudge_candidates(team_id, period, stamp, quiet):
                store.enqueue_row(
                    platform=m["platform"], chat_id=m["chat_id"], kind=KIND_NUDGE, period=period,
                    payload=payload, not_before=not_before.astimezone(UTC).isoformat(
                        timespec="seconds"), now=stamp, member_id=int(m["member_id"]),
                    team_id=team_id)
            store.audit("nudge", actor=actor, team_id=team_id, detail=f"{period} {via}")


def _tips_nl(schedule: Any) -> str:
    if schedule.off:
        return "uit"
    day = schedule.day or 1
    return f"de {day}e werkdag van de maand om {schedule.time}"


def install(engine: Any, settings: Any = None) -> TeamAdmin:
    """The engine's ``team_admin`` hook (the chat's ``/team`` and ``/nieuwteam``)."""
    admin = TeamAdmin(engine.store, k=int(getattr(settings, "min_group", None)
                                             or engine.settings.get("min_group") or 3),
                      open_teams=bool(getattr(settings, "open_teams", True)),
                      content=engine.content, clock=engine.clock)
    engine.plugins.team_admin = admin
    return admin
