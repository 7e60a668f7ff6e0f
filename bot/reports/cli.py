"""``teamspiegel report``: CSV, XLSX, PNG of one team; publishing a round.

Registered by :func:`bot.cli.build_parser` through :func:`register`:

- ``teamspiegel report TEAM [--format csv|xlsx|png]``: export what a reader sees (published
  rounds only);
- ``teamspiegel report publish TEAM``: close the team's open round now and publish it as a
  snapshot (what is answered from then on counts for the next round);
- ``teamspiegel report rounds TEAM``: the published rounds of a team, with their versions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.cli_common import open_store, settings_for
from bot.reports.aggregate import period_label_nl
from bot.reports.export import FORMATS, export_report
from bot.reports.service import AccessDenied, NothingToClose, close_round

__all__ = ["REFUSED", "cmd_report", "register"]

#: the same words for "no such team" and "not your team": a refusal reveals nothing
REFUSED = ("Geen toegang. Rapporten zijn er alleen voor teamleiders en beleidsmedewerkers "
           "van het eigen team.")
USAGE = ("Gebruik: teamspiegel report TEAM [--format csv|xlsx|png], "
         "teamspiegel report publish TEAM of teamspiegel report rounds TEAM")


def _default_output(name: str, fmt: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "team"
    return Path(f"teamrapport-{slug}-{datetime.now(UTC):%Y-%m-%d}.{fmt}")


def cmd_report(args: argparse.Namespace) -> int:
    words: list[str] = list(args.team)
    if len(words) == 2 and words[0] in ("publish", "rounds"):
        return _publish(args, words[1]) if words[0] == "publish" else _rounds(args, words[1])
    if len(words) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    return _export(args, words[0])


def _export(args: argparse.Namespace, ref: str) -> int:
    settings = settings_for(args)
    store = open_store(args)
    try:
        team = store.find_team(ref)
        member_id: int | None = args.as_member
        if team is None:
            if member_id is not None:
                with store.transaction():
                    store.audit(f"export_{args.format}:denied", actor=member_id)
                print(REFUSED, file=sys.stderr)
                return 1
            print(f"Team '{ref}' bestaat niet. Zie: teamspiegel team list", file=sys.stderr)
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
              f"(afgesloten rondes, alleen groepen van minstens {max(3, settings.min_group)} "
              "mensen).")
        return 0
    finally:
        store.close()


def _publish(args: argparse.Namespace, ref: str) -> int:
    settings = settings_for(args)
    store = open_store(args)
    try:
        team = store.find_team(ref)
        if team is None:
            print(f"Team '{ref}' bestaat niet. Zie: teamspiegel team list", file=sys.stderr)
            return 1
        if team["is_demo"]:
            print("Het Demoteam heeft geen rondes: zijn rapport is een voorbeeld met verzonnen "
                  "antwoorden.", file=sys.stderr)
            return 1
        try:
            period = close_round(store, int(team["id"]), datetime.now(UTC),
                                 k=max(3, settings.min_group))
        except NothingToClose:
            print(f"In de lopende ronde van {team['name']} is nog niets beantwoord: er valt "
                  "niets te sluiten.", file=sys.stderr)
            return 1
        after = store.answer_period(int(team["id"]), datetime.now(UTC))
        print(f"Ronde {period_label_nl(period)} van {team['name']} is gesloten en gepubliceerd. "
              f"Wat vanaf nu wordt ingevuld, telt mee voor {period_label_nl(after)}.")
        return 0
    finally:
        store.close()


def _rounds(args: argparse.Namespace, ref: str) -> int:
    store = open_store(args)
    try:
        team = store.find_team(ref)
        if team is None:
            print(f"Team '{ref}' bestaat niet. Zie: teamspiegel team list", file=sys.stderr)
            return 1
        rows = store.snapshot_rows(int(team["id"]))
        if not rows:
            print(f"{team['name']}: nog geen gepubliceerde rondes.")
            return 0
        for row in rows:
            early = " (vroeg gesloten)" if row["closed_early"] else ""
            print(f"{period_label_nl(str(row['period'])):8} gepubliceerd {row['published_at']}"
                  f"{early}  algoritme {row['algorithm_version']}, {row['content_version']}")
        return 0
    finally:
        store.close()


def register(
    sub: argparse._SubParsersAction,
    add: Callable[[str, object, str], argparse.ArgumentParser],
) -> None:
    """Add ``report`` and ``web`` to the ``teamspiegel`` command line."""
    p = add("report", cmd_report, "teamrapport exporteren (csv, xlsx, png), of een ronde "
                                  "sluiten: report publish TEAM")
    p.add_argument("team", nargs="+", metavar="TEAM",
                   help="team-id of teamnaam; of: publish TEAM, rounds TEAM")
    p.add_argument("--format", choices=FORMATS, default="csv")
    p.add_argument("--output", "-o", help="bestand (standaard: teamrapport-TEAM-DATUM.FORMAT)")
    p.add_argument("--as-member", type=int, metavar="ID",
                   help="als dit lid (de toegangsregel van de chat geldt dan)")
