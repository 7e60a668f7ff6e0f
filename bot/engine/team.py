"""Conditions, actions and renderers of the team leaders' self-service (``dialogues/team.yaml``).

``/nieuwteam NAAM`` makes a team with you as its owner; ``/team`` shows an owner or a reader
their team (counts only) and gives owners its operations: the member invite (link + QR), a new
code, a leader invite, the monthly tip's slot, the round cadence, pausing tips or rounds and an
anonymous nudge. All of it is :class:`bot.teamadmin.TeamAdmin` (the engine's ``team_admin``
hook), the same implementation the command line and the dashboard call: it checks the right on
every step and audits every change and every refusal; its Dutch errors are shown as they are.
"""

from __future__ import annotations

from typing import Any

from bot.engine.messages import Choice, Reply
from bot.engine.registry import action, condition, provider, renderer
from bot.engine.turn import Turn

__all__ = ["admin_of"]


def invite_reply(turn: Turn, text: str, token: str) -> Reply:
    """The invite as link + QR where the platform has links (``bot.engine.access``; imported
    here, not at the top: that module imports the registry this one registers in)."""
    from bot.engine.access import invite_reply as make

    return make(turn, text, token)


def admin_of(turn: Turn) -> Any | None:
    """The :class:`bot.teamadmin.TeamAdmin` the application installed (None: not here)."""
    return turn.engine.plugins.team_admin


def _team(turn: Turn) -> int | None:
    team = turn.ctx.get("admin_team")
    return int(team) if team is not None else None


def _run(turn: Turn, call: Any) -> Any | None:
    """Call the service; a refusal or a bad value is said (it was audited already)."""
    admin = admin_of(turn)
    if admin is None:
        turn.say("team_admin_unavailable")
        return None
    try:
        return call(admin)
    except ValueError as exc:  # the service's AdminError: Dutch, audited
        turn.replies.append(Reply(str(exc)))
        return None


# -- which team ------------------------------------------------------------------------------


def _teams(turn: Turn) -> list[dict[str, Any]]:
    """Teams the person may see in ``/team``: owners and readers (a granted right)."""
    if turn.member_id is None:
        return []
    return list(turn.store.report_teams(turn.member_id))


@condition("admin_several_teams")
def admin_several_teams(turn: Turn, arg: str | None) -> bool:
    return len(_teams(turn)) > 1


@condition("admin_has_team")
def admin_has_team(turn: Turn, arg: str | None) -> bool:
    return _team(turn) is not None


@condition("admin_team_choice")
def admin_team_choice(turn: Turn, arg: str | None) -> bool:
    return any(str(t["id"]) == str(turn.value) for t in _teams(turn))


@provider("admin_team_choices")
def admin_team_choices(turn: Turn) -> list[Choice]:
    return [Choice(str(t["name"]), str(t["id"])) for t in _teams(turn)]


@action("set_admin_team")
def set_admin_team(turn: Turn, arg: str | None) -> None:
    teams = _teams(turn)
    picked = next((t for t in teams if str(t["id"]) == str(turn.value)), None)
    if picked is None and teams:
        picked = teams[0]
    if picked is None:
        turn.store.audit("team_overview:denied", actor=turn.member_id, detail="chat")
        turn.ctx.pop("admin_team", None)
        turn.say("team_no_right")
        return
    turn.ctx["admin_team"] = int(picked["id"])


# -- the overview ------------------------------------------------------------------------------


@renderer("team_overview")
def render_team_overview(turn: Turn) -> list[Reply]:
    team_id = _team(turn)
    done = Choice(turn.text("team_done"), "done")
    admin = admin_of(turn)
    if team_id is None or admin is None:
        return [Reply(turn.text("team_no_right"), choices=[done], expects="choice")]
    try:
        o = admin.overview(team_id, turn.member_id, via="chat")
    except ValueError as exc:
        return [Reply(str(exc), choices=[done], expects="choice")]
    lines = [turn.text("team_overview_head", team=o.name),
             turn.text("team_overview_members", members=o.members),
             turn.text("team_overview_round", period=o.period.replace("-", " "),
                       band=o.open_band)]
    if o.last_period and o.last_participation:
        lines.append(turn.text("team_overview_last", period=o.last_period.replace("-", " "),
                               participation=o.last_participation))
    lines.append(turn.text("team_overview_tips", tips=o.tips))
    lines.append(turn.text("team_overview_rounds", cadence=o.cadence))
    lines.append(turn.text("team_overview_groups", groups=o.groups, sessions=o.sessions))
    choices = [Choice(turn.text("team_choice_invite"), "invite")]
    if o.is_owner:
        choices += [
            Choice(turn.text("team_choice_rotate"), "rotate"),
            Choice(turn.text("team_choice_leader"), "leader"),
            Choice(turn.text("team_choice_tips"), "tips"),
            Choice(turn.text("team_choice_tips_on") if o.tips_off
                   else turn.text("team_choice_tips_off"), "tips_on" if o.tips_off
                   else "tips_off"),
            Choice(turn.text("team_choice_cadence"), "cadence"),
            Choice(turn.text("team_choice_nudge"), "nudge"),
        ]
    else:
        lines.append(turn.text("team_overview_reader"))
    choices.append(done)
    return [Reply("\n".join(lines), choices=choices, expects="choice")]


@action("team_member_invite")
def team_member_invite(turn: Turn, arg: str | None) -> None:
    team_id = _team(turn)
    if team_id is None:
        turn.say("team_no_right")
        return
    token = _run(turn, lambda a: a.member_invite(team_id, turn.member_id, via="chat"))
    if token is None:
        return
    team = turn.store.get_team(team_id) or {}
    text = turn.text("team_member_invite", team=team.get("name", ""))
    turn.replies.append(invite_reply(turn, text, str(token)))


@action("team_rotate")
def team_rotate(turn: Turn, arg: str | None) -> None:
    team_id = _team(turn)
    if team_id is None:
        turn.say("team_no_right")
        return
    found = _run(turn, lambda a: a.rotate_invite(team_id, turn.member_id, via="chat"))
    if found is None:
        return
    token, revoked = found
    team = turn.store.get_team(team_id) or {}
    text = turn.text("team_rotated", team=team.get("name", ""), revoked=revoked)
    turn.replies.append(invite_reply(turn, text, str(token)))


@action("team_leader_invite")
def team_leader_invite(turn: Turn, arg: str | None) -> None:
    team_id = _team(turn)
    if team_id is None:
        turn.say("team_no_right")
        return
    found = _run(turn, lambda a: a.leader_invite(team_id, str(turn.value), turn.member_id,
                                                 via="chat"))
    if found is None:
        return
    token, expires = found
    team = turn.store.get_team(team_id) or {}
    from bot.engine.access import clean_label

    text = turn.text("leader_invite_made", name=clean_label(str(turn.value)) or "",
                     team=team.get("name", ""),
                     date=f"{expires.day}-{expires.month}-{expires.year}")
    turn.replies.append(invite_reply(turn, text, str(token)))


@action("team_tips")
def team_tips(turn: Turn, arg: str | None) -> None:
    """``team_tips:off`` / ``team_tips:on`` / ``team_tips:default``, or the typed slot."""
    team_id = _team(turn)
    if team_id is None:
        turn.say("team_no_right")
        return
    if arg in ("off", "on"):
        slot = _run(turn, lambda a: a.set_tip_slot(team_id, turn.member_id, via="chat",
                                                   off=arg == "off"))
    elif arg == "default":
        slot = _run(turn, lambda a: a.set_tip_slot(team_id, turn.member_id, via="chat",
                                                   default=True))
    else:
        slot = _run(turn, lambda a: a.set_tip_text(team_id, str(turn.value or ""),
                                                   turn.member_id, via="chat"))
    if slot is not None:
        turn.say("team_tips_set", tips=slot)


@action("team_cadence")
def team_cadence(turn: Turn, arg: str | None) -> None:
    team_id = _team(turn)
    if team_id is None:
        turn.say("team_no_right")
        return
    cadence = _run(turn, lambda a: a.set_cadence(team_id, str(turn.value), turn.member_id,
                                                 via="chat"))
    if cadence is not None:
        turn.say("team_cadence_set", cadence=cadence)


@action("team_nudge")
def team_nudge(turn: Turn, arg: str | None) -> None:
    team_id = _team(turn)
    if team_id is None:
        turn.say("team_no_right")
        return
    if _run(turn, lambda a: a.nudge(team_id, turn.member_id, via="chat") or True):
        turn.say("team_nudged")


@condition("team_owner")
def team_owner(turn: Turn, arg: str | None) -> bool:
    team_id = _team(turn)
    return team_id is not None and turn.store.is_owner(turn.member_id, team_id)


@action("deny_team_owner")
def deny_team_owner(turn: Turn, arg: str | None) -> None:
    """An owner's button from a reader (an old keyboard, or forged): refused, audited."""
    turn.store.audit(f"{arg or 'team'}:denied", actor=turn.member_id, team_id=_team(turn),
                     detail="chat")
    if arg == "team_overview":
        turn.say("team_no_right")
    else:
        turn.say("team_owner_only")


# -- a new team ---------------------------------------------------------------------------------


@action("create_own_team")
def create_own_team(turn: Turn, arg: str | None) -> None:
    """``/nieuwteam NAAM`` (or the name typed after it): the person becomes its first owner."""
    name = str(turn.value if turn.value is not None else turn.args)
    role = str(turn.ctx.get("role") or "manager")
    team_id = _run(turn, lambda a: a.create_team(name, turn.member_id, role=role, via="chat"))
    if team_id is None:
        turn.ctx.pop("admin_team", None)
        return
    turn.ctx["admin_team"] = int(team_id)
    if not turn.ctx.get("team_id"):
        turn.ctx["team_id"] = int(team_id)  # their first team: where they reflect
    team = turn.store.get_team(int(team_id)) or {}
    turn.say("team_created", team=team.get("name", ""))


@condition("new_team_arg")
def new_team_arg(turn: Turn, arg: str | None) -> bool:
    return bool(turn.args.strip())


@condition("teams_open")
def teams_open(turn: Turn, arg: str | None) -> bool:
    """People may make a team in the chat (``TEAMSPIEGEL_OPEN_TEAMS``, default on)."""
    admin = admin_of(turn)
    return admin is not None and bool(getattr(admin, "open_teams", False))
