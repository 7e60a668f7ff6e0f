"""``teamspiegel content add``, ``content check --team`` and ``team packs``: content packs on
the command line. The same implementation as the chat and the dashboard (:mod:`bot.packs`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.cli_common import find_team, open_store
from bot.yamlio import ConfigError

__all__ = ["cmd_content_add", "print_team_packs", "register"]


def _store_and_team(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    store = open_store(args)
    return store, find_team(store, args.team)


def print_team_packs(store: Any, content: Any, team: dict[str, Any]) -> None:
    """The packs a team can use, with [x] for those it uses and counts per role."""
    from bot.content import packs_table
    from bot.packs import PackLibrary

    uses = PackLibrary(store, content).uses(int(team["id"]))
    print(f"Pakketten van {team['name']} ([x] = aan):")
    lines = packs_table([u.pack for u in uses], chosen={u.id for u in uses if u.enabled})
    own = {u.id for u in uses if u.origin == "team"}
    for line in lines[1:]:
        pack_id = line.split()[1]
        print(line + ("  (eigen pakket van het team)" if pack_id in own else ""))
    print("Aan- of uitzetten: teamspiegel team packs TEAM --on ID --off ID")


def cmd_content_add(args: argparse.Namespace) -> int:
    """Validate a team's pack file and add it as a new version (switched on for the team)."""
    from bot.content import get_content, pack_summary
    from bot.packs import add_team_pack

    store, team = _store_and_team(args)
    content = get_content()
    try:
        pack, status = add_team_pack(store, content, int(team["id"]), Path(args.file))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if status == "unchanged":
        print(f"Versie {pack.version} van pakket '{pack.id}' stond al bij {team['name']}; "
              "niets veranderd.")
        return 0
    print(f"Pakket '{pack.id}' (versie {pack.version}) toegevoegd voor {team['name']} en "
          "aangezet. Alleen dit team ziet het.")
    print("\n".join(pack_summary(pack)))
    return 0


def cmd_content_check_team(args: argparse.Namespace, content: Any) -> int:
    """``content check --team TEAM``: that team's packs (built-in and its own), stored versions
    checked again."""
    from bot.packs import PackLibrary

    store, team = _store_and_team(args)
    lib = PackLibrary(store, content)
    problems: list[str] = []
    for pack_id in store.team_pack_ids(int(team["id"])):
        for row in store.team_pack_versions(int(team["id"]), pack_id):
            try:
                lib.team_pack(int(team["id"]), pack_id, row["version"])
            except ConfigError as exc:
                problems.extend(exc.problems)
    print()
    print_team_packs(store, content, team)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    return 0


def cmd_team_packs(args: argparse.Namespace) -> int:
    from bot.content import get_content
    from bot.packs import choose_packs

    store, team = _store_and_team(args)
    content = get_content()
    if args.on or args.off:
        try:
            changed = choose_packs(store, content, int(team["id"]), on=args.on or [],
                                   off=args.off or [], via="cli")
        except KeyError as exc:
            raise SystemExit(f"Pakket {exc.args[0]!r} ken ik niet voor {team['name']}. "
                             "Zie: teamspiegel team packs TEAM") from None
        print(f"Bijgewerkt: {' '.join(changed)}" if changed else "Niets veranderd.")
    print_team_packs(store, content, team)
    return 0


def register(content: Any, add_team: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``content add`` to the ``content`` subparsers and ``team packs`` to ``team``."""
    p = content.add_parser("add", help="een eigen pakket van een team toevoegen (YAML)")
    p.add_argument("file", help="het YAML-bestand van het pakket")
    p.add_argument("--team", required=True, help="team (naam of nummer)")
    p.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_content_add)
    p = add_team("packs", cmd_team_packs, "welke pakketten een team gebruikt (aan/uit)")
    p.add_argument("team")
    p.add_argument("--on", nargs="+", metavar="ID", help="pakketten aanzetten")
    p.add_argument("--off", nargs="+", metavar="ID", help="pakketten uitzetten")
