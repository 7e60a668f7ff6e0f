"""``teamspiegel team ...``: owners, read rights and typed invites on the command line.

Registered by :func:`bot.cli.build_parser` through :func:`register`. The operator on the
command line acts for the owners (audited with no actor, detail ``cli``):

* ``team create NAME`` also prints a single-use owner invite (code, Telegram link + QR, the
  Matrix ``!start CODE``); whoever opens it first becomes the team's first owner;
* ``team owner-invite TEAM`` makes another one (e.g. for a team migrated from 0.3);
* ``team grant TEAM --member ID [--owner]`` grants a member of the team read rights (or makes
  them an owner); ``team grant TEAM --name NAAM`` makes a single-use, expiring leader invite
  (link + QR) for a named person instead;
* ``team revoke TEAM --member ID`` takes a right away (and ends the person's dashboard
  sessions); ``team revoke TOKEN`` still revokes an invite;
* ``team readers TEAM`` lists owners, readers and open invites (no names beyond the labels
  owners typed), ``team members TEAM`` the member ids and roles, ``team rotate TEAM`` replaces
  the member invite code (old codes stop working).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cli_common import find_team, open_store, settings_for
from bot.config import Settings
from bot.store import Store
from bot.store.access import OWNER, READER, grant_command

__all__ = ["OWNER_INVITE_DAYS", "print_invite", "register"]

#: an owner invite printed on the command line works once, for this many days by default
OWNER_INVITE_DAYS = 14
#: a leader invite printed on the command line works once, for this many days by default
LEADER_INVITE_DAYS = 7

VIA_NL = {
    "cli": "door de beheerder",
    "owner_invite": "met een eigenaarsuitnodiging",
    "leader_invite": "met een uitnodiging voor leesrecht",
    "chat": "in de chat",
}


def _expiry(days: int | None) -> str | None:
    if not days:
        return None
    return (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")


def _day(stamp: str | None) -> str:
    return str(stamp or "")[:10]


def print_invite(
    settings: Settings, token: str, *, bot: str | None, qr: str | None, matrix: bool,
) -> None:
    """The Matrix hint, the Telegram deep link and a QR code of it (like ``team invite``)."""
    if matrix:
        bot_id = settings.matrix_user_id or "@teamspiegel:jouw-server"
        print(f"Matrix: start een privégesprek met {bot_id} en stuur: !start {token}")
        print("  (Element onderschept /start; de bot snapt zowel !start als /start.)")
    username = bot or settings.telegram_bot_username
    if username:
        from bot.transports.telegram import deep_link

        link = deep_link(username, token)
        print(f"Telegram: {link}")
        if qr:
            import segno

            segno.make(link, error="m").save(qr, scale=8, border=2)
            print(f"QR-code opgeslagen in {qr}")
    elif qr:
        raise SystemExit("Voor een QR-code heb ik de botnaam nodig: --bot NAAM of "
                         "TELEGRAM_BOT_USERNAME.")


def _owner_invite(store: Store, settings: Settings, team: dict[str, Any],
                  args: argparse.Namespace) -> None:
    expires = _expiry(args.expires_days if args.expires_days is not None else OWNER_INVITE_DAYS)
    with store.transaction():
        token = store.create_typed_invite(int(team["id"]), "owner", expires_at=expires,
                                          label=getattr(args, "label", None))
    print(f"Eigenaarsuitnodiging voor {team['name']} (één keer te gebruiken"
          + (f", geldig tot {_day(expires)}" if expires else "") + "; wie hem als eerste "
          "opent, wordt eigenaar: leesrecht, leesrechten geven, groepen koppelen):")
    print(f"Eigenaarscode: {token}")
    print_invite(settings, token, bot=args.bot, qr=args.qr, matrix=True)


# -- commands -----------------------------------------------------------------------------


def cmd_team_create(args: argparse.Namespace) -> int:
    store = open_store(args)
    settings = settings_for(args)
    try:
        team_id = store.create_team(args.name)
    except ValueError as exc:
        raise SystemExit(f"Kan team niet maken: {exc}") from None
    token = store.create_invite(team_id)
    print(f"Team '{args.name}' gemaakt (id {team_id}).")
    print(f"Uitnodigingscode: {token}")
    print("  (voor leden: meedoen zonder leesrecht; link en QR met: teamspiegel team invite)")
    team = store.get_team(team_id)
    assert team is not None
    _owner_invite(store, settings, team, args)
    return 0


def cmd_team_owner_invite(args: argparse.Namespace) -> int:
    store = open_store(args)
    team = find_team(store, args.team)
    if team["is_demo"]:
        raise SystemExit("Het Demoteam heeft geen eigenaren.")
    _owner_invite(store, settings_for(args), team, args)
    return 0


def cmd_team_grant(args: argparse.Namespace) -> int:
    store = open_store(args)
    team = find_team(store, args.team)
    if team["is_demo"]:
        raise SystemExit("Het Demoteam heeft geen lezers of eigenaren: daar kiest ieder zelf.")
    if not args.member:
        if not args.name:
            raise SystemExit("Zeg wie: --member ID (een lid van het team; zie teamspiegel team "
                             "members) of --name NAAM (een uitnodiging voor leesrecht).")
        from bot.engine.access import clean_label

        label = clean_label(args.name)
        if label is None:
            raise SystemExit("Geef een naam van hooguit 60 tekens.")
        days = args.expires_days if args.expires_days is not None else LEADER_INVITE_DAYS
        expires = _expiry(days)
        with store.transaction():
            token = store.create_typed_invite(int(team["id"]), "leader", expires_at=expires,
                                              label=label)
        print(f"Uitnodiging voor leesrecht op {team['name']}, voor {label} (één keer te "
              f"gebruiken" + (f", geldig tot {_day(expires)}" if expires else "") + "):")
        print(f"Code: {token}")
        print_invite(settings_for(args), token, bot=args.bot, qr=args.qr, matrix=True)
        return 0
    access = OWNER if args.owner else READER
    failed = 0
    for member_id in args.member:
        try:
            with store.transaction():
                changed = store.grant_access(int(team["id"]), member_id, access, by=None,
                                             via="cli", label=args.name)
        except ValueError:
            print(f"Lid {member_id} is geen lid van {team['name']}. Zie: teamspiegel team "
                  f"members {args.team!r}", file=sys.stderr)
            failed += 1
            continue
        what = "eigenaar" if access == OWNER else "lezer"
        print(f"Lid {member_id} is {what} van {team['name']}." if changed
              else f"Lid {member_id} had dat recht al.")
    return 1 if failed else 0


def cmd_team_revoke(args: argparse.Namespace) -> int:
    store = open_store(args)
    if not args.member:  # the old form: an invite token
        if store.revoke_invite(args.ref):
            with store.transaction():
                store.audit("invite_revoked", detail="cli")
            print("Uitnodiging ingetrokken.")
            return 0
        print("Die uitnodiging bestaat niet of was al ingetrokken.", file=sys.stderr)
        return 1
    team = find_team(store, args.ref)
    failed = 0
    for member_id in args.member:
        with store.transaction():
            result = store.revoke_access(int(team["id"]), member_id, by=None, owners=True)
        if result == "revoked":
            print(f"Lid {member_id} heeft geen recht meer op {team['name']}; "
                  "open dashboards van dit lid zijn gesloten.")
        else:
            print(f"Lid {member_id} had geen recht op {team['name']}.", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def cmd_team_readers(args: argparse.Namespace) -> int:
    store = open_store(args)
    team = find_team(store, args.team)
    team_id = int(team["id"])
    rows = store.team_access_list(team_id)
    print(f"Wie de rapporten van {team['name']} mag lezen:")
    if not rows:
        print("  niemand")
    for row in rows:
        kind = "eigenaar" if row["access"] == OWNER else "lezer  "
        label = f"  \"{row['label']}\"" if row["label"] else ""
        how = VIA_NL.get(str(row["granted_via"]), str(row["granted_via"]))
        print(f"  lid {row['member_id']}  {kind}{label}  sinds {_day(row['granted_at'])} ({how})")
    invites = store.open_invites(team_id)
    if invites:
        print("Open uitnodigingen (één keer te gebruiken):")
        for inv in invites:
            what = {"owner": "eigenaar", "leader": "leesrecht", "group": "groep koppelen"}
            label = f"  \"{inv['label']}\"" if inv["label"] else ""
            print(f"  {what[str(inv['kind'])]}{label}  tot {_day(inv['expires_at'])}"
                  f"  (intrekken: teamspiegel team revoke {inv['token']})")
    lost = store.lost_read_rights(team_id)
    if lost:
        ids = [int(r["member_id"]) for r in lost]
        print(f"Lazen vóór versie 0.4 als zelfgekozen teamleider/beleid, nu zonder leesrecht: "
              f"{len(ids)}. Teruggeven: {grant_command(team, ids)}")
    if not any(r["access"] == OWNER for r in rows) and not team["is_demo"]:
        print(f"Dit team heeft geen eigenaar. Maak er een: teamspiegel team owner-invite "
              f"{args.team!r}")
    return 0


def cmd_team_members(args: argparse.Namespace) -> int:
    store = open_store(args)
    team = find_team(store, args.team)
    rights = {int(r["member_id"]): str(r["access"])
              for r in store.team_access_list(int(team["id"]))}
    members = store.team_members(int(team["id"]))
    print(f"Leden van {team['name']}: {len(members)} (id, rol waarin ze antwoorden, recht)")
    for m in members:
        right = {"owner": "eigenaar", "reader": "lezer"}.get(rights.get(int(m["id"]), ""), "-")
        print(f"  {m['id']}  {m['role']}  {right}")
    return 0


def cmd_team_rotate(args: argparse.Namespace) -> int:
    store = open_store(args)
    team = find_team(store, args.team)
    expires = _expiry(args.expires_days)
    with store.transaction():
        token, revoked = store.rotate_member_invite(int(team["id"]), expires_at=expires)
    print(f"Nieuwe uitnodigingscode voor {team['name']}: {token}")
    if expires:
        print(f"Geldig tot {expires}")
    print(f"{revoked} oude code{'s' if revoked != 1 else ''} werk{'en' if revoked != 1 else 't'} "
          "niet meer.")
    print_invite(settings_for(args), token, bot=args.bot, qr=args.qr, matrix=args.matrix)
    return 0


def register(add_team: Callable[[str, object, str], argparse.ArgumentParser]) -> None:
    """The access commands under ``teamspiegel team`` (``create`` and ``revoke`` included)."""

    def links(p: argparse.ArgumentParser, default_days: int | None) -> None:
        p.add_argument("--qr", help="QR-code opslaan als PNG")
        p.add_argument("--bot", help="Telegram-botnaam (anders TELEGRAM_BOT_USERNAME)")
        p.add_argument("--expires-days", type=int, default=None,
                       help="na zoveel dagen ongeldig"
                       + (f" (standaard {default_days})" if default_days else ""))

    p = add_team("create", cmd_team_create, "nieuw team (met eenmalige eigenaarsuitnodiging)")
    p.add_argument("name")
    links(p, OWNER_INVITE_DAYS)
    p = add_team("owner-invite", cmd_team_owner_invite, "eenmalige eigenaarsuitnodiging")
    p.add_argument("team")
    p.add_argument("--name", dest="label", help="voor wie (alleen eigenaren zien dit)")
    links(p, OWNER_INVITE_DAYS)
    p = add_team("grant", cmd_team_grant, "leesrecht geven (lid of uitnodiging)")
    p.add_argument("team")
    p.add_argument("--member", type=int, action="append", metavar="ID",
                   help="lid van het team (herhaalbaar; zie: team members)")
    p.add_argument("--owner", action="store_true", help="eigenaar maken in plaats van lezer")
    p.add_argument("--name", help="naam: zonder --member een eenmalige uitnodiging voor leesrecht")
    p.add_argument("--matrix", action="store_true", help=argparse.SUPPRESS)
    links(p, LEADER_INVITE_DAYS)
    p = add_team("revoke", cmd_team_revoke,
                 "recht intrekken (TEAM --member ID) of uitnodiging intrekken (TOKEN)")
    p.add_argument("ref", metavar="TEAM_OF_TOKEN")
    p.add_argument("--member", type=int, action="append", metavar="ID",
                   help="dit lid verliest leesrecht of eigenaarschap (herhaalbaar)")
    p = add_team("readers", cmd_team_readers, "eigenaren, lezers en open uitnodigingen")
    p.add_argument("team")
    p = add_team("members", cmd_team_members, "leden: id, rol en recht (geen namen)")
    p.add_argument("team")
    p = add_team("rotate", cmd_team_rotate, "nieuwe uitnodigingscode; oude werken niet meer")
    p.add_argument("team")
    p.add_argument("--matrix", action="store_true", help="ook uitleg voor Matrix")
    links(p, None)
