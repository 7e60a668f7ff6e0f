"""``teamspiegel team overview|cadence|nudge``: the team leaders' operations on the command line.

The operator acts for the owners (audited with no actor, detail ``cli``), through the same
:class:`bot.teamadmin.TeamAdmin` as ``/team`` in the chat and the dashboard, with the same Dutch
errors. (``team schedule`` in :mod:`bot.cli` goes through it too.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bot.cli_common import find_team, open_store, settings_for
from bot.content import get_content
from bot.teamadmin import CADENCES, AdminError, TeamAdmin

__all__ = ["admin_for", "register"]


def admin_for(args: argparse.Namespace) -> tuple[TeamAdmin, dict]:
    """The service over the configured database, and the team the arguments name."""
    settings = settings_for(args)
    store = open_store(args)
    team = find_team(store, args.team)

    return TeamAdmin(store, k=settings.min_group, open_teams=settings.open_teams,
                     content=get_content()), team


def cmd_team_overview(args: argparse.Namespace) -> int:
    admin, team = admin_for(args)
    try:
        o = admin.overview(int(team["id"]), None, via="cli")
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Team {o.name} (id {o.team_id})")
    print(f"  leden: {o.members}")
    print(f"  deze ronde ({o.period}): {o.open_band} deden mee (bandbreedte; nooit wie)")
    if o.last_period and o.last_participation:
        print(f"  vorige ronde ({o.last_period}): {o.last_participation}")
    print(f"  maandtip: {o.tips}")
    print(f"  rondes: {o.cadence}")
    print(f"  gekoppelde groepen: {o.groups}; teamgesprekken: {o.sessions}; "
          f"open uitnodigingen (eigenaar/leesrecht): {o.open_invites}")
    return 0


def cmd_team_cadence(args: argparse.Namespace) -> int:
    admin, team = admin_for(args)
    try:
        text = admin.set_cadence(int(team["id"]), args.cadence, None, via="cli")
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Rondes van {team['name']}: {text}.")
    return 0


def cmd_team_nudge(args: argparse.Namespace) -> int:
    admin, team = admin_for(args)
    try:
        admin.nudge(int(team["id"]), None, via="cli")
    except AdminError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Het seintje aan wie de ronde van {team['name']} nog niet afmaakte, gaat uit "
          "(op een werkdag tussen 9 en 17 uur). Het noemt niemand.")
    return 0


def register(add_team: Callable[[str, object, str], argparse.ArgumentParser]) -> None:
    p = add_team("overview", cmd_team_overview, "leden, deelname (bandbreedte) en instellingen")
    p.add_argument("team")
    p = add_team("cadence", cmd_team_cadence, "hoe vaak een nieuwe ronde begint")
    p.add_argument("team")
    p.add_argument("cadence", metavar="RITME",
                   help="kwartaal, halfjaar, jaar of uit (" + "; ".join(
                       f"{k}: {v}" for k, v in CADENCES.items()) + ")")
    p = add_team("nudge", cmd_team_nudge,
                 "seintje aan wie de ronde nog niet afmaakte (anoniem, één keer per ronde)")
    p.add_argument("team")
