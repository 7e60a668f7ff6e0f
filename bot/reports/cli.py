"""``teamspiegel report`` (CSV, XLSX, PNG of one team) and ``teamspiegel web`` (the dashboard).

Registered by :func:`bot.cli.build_parser` through :func:`register`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.reports.export import FORMATS, export_report
from bot.reports.service import AccessDenied

__all__ = ["REFUSED", "cmd_report", "cmd_web", "register"]

#: the same words for "no such team" and "not your team": a refusal reveals nothing
REFUSED = ("Geen toegang. Rapporten zijn er alleen voor teamleiders en beleidsmedewerkers "
           "van het eigen team.")


def _default_output(name: str, fmt: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "team"
    return Path(f"teamrapport-{slug}-{datetime.now(UTC):%Y-%m-%d}.{fmt}")


def cmd_report(args: argparse.Namespace) -> int:
    from bot.cli import _settings, _store

    settings = _settings(args)
    store = _store(args)
    try:
        team = store.find_team(args.team)
        member_id: int | None = args.as_member
        if team is None:
            if member_id is not None:
                with store.transaction():
                    store.audit(f"export_{args.format}:denied", actor=member_id)
                print(REFUSED, file=sys.stderr)
                return 1
            print(f"Team '{args.team}' bestaat niet. Zie: teamspiegel team list", file=sys.stderr)
            return 1
        out = Path(args.output) if args.output else _default_output(str(team["name"]),
                                                                   args.format)
        try:
            path = export_report(store, int(team["id"]), args.format, out,
                                 k=max(3, settings.min_group), member_id=member_id)
        except AccessDenied:
            print(REFUSED, file=sys.stderr)
            return 1
        print(f"Teamrapport van {team['name']} opgeslagen in {path} "
              f"(alleen groepen van minstens {max(3, settings.min_group)} mensen).")
        return 0
    finally:
        store.close()


def cmd_web(args: argparse.Namespace) -> int:
    from bot.cli import _settings

    settings = _settings(args)
    try:
        from bot.web.app import run_web
    except ImportError:
        print("Het dashboard zit niet in deze installatie.", file=sys.stderr)
        return 1
    run_web(settings)
    return 0


def register(
    sub: argparse._SubParsersAction,
    add: Callable[[str, object, str], argparse.ArgumentParser],
) -> None:
    """Add ``report`` and ``web`` to the ``teamspiegel`` command line."""
    p = add("report", cmd_report, "teamrapport exporteren: csv, xlsx of png (alleen totalen)")
    p.add_argument("team", help="team-id of teamnaam")
    p.add_argument("--format", choices=FORMATS, default="csv")
    p.add_argument("--output", "-o", help="bestand (standaard: teamrapport-TEAM-DATUM.FORMAT)")
    p.add_argument("--as-member", type=int, metavar="ID",
                   help="als dit lid (de toegangsregel van de chat geldt dan)")
    add("web", cmd_web, "het dashboard starten")
