"""``teamspiegel``: chat, serve, manage teams, check content, export.

Every command takes ``--db PATH`` (default: ``$TEAMSPIEGEL_DB``, else
``~/.local/share/teamspiegel/teamspiegel.db``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli_common import find_team as _team
from bot.cli_common import open_store as _store
from bot.cli_common import settings_for as _settings
from bot.config import SettingsError, StartupError, url_from
from bot.operator_export import EXPORT_FIELDS as EXPORT_FIELDS  # the CSV columns
from bot.store import SchemaError, Store
from bot.yamlio import ConfigError

# -- chat and run -----------------------------------------------------------------------


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.app import build_engine
    from bot.transports.console import run_console

    settings = _settings(args)
    engine = build_engine(settings)
    if not args.jsonl:
        print(f"Teamspiegel in de terminal (database: {settings.db_path}). Stoppen: Ctrl-D.\n")
    try:
        run_console(engine, args.user or getpass.getuser(), jsonl=args.jsonl, stdin=sys.stdin,
                    stdout=sys.stdout)
    except KeyboardInterrupt:
        print()
    finally:
        engine.store.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.webhook:
        settings.telegram_webhook_url = url_from("--webhook", args.webhook,
                                                 "https://bot.example.org/telegram")
    if not (settings.telegram_enabled or settings.matrix_enabled):
        print("Geen TELEGRAM_BOT_TOKEN of MATRIX_* ingesteld: ik open de chat in de terminal.\n")
        args.jsonl = False
        args.user = None
        return cmd_chat(args)
    from bot.app import AlreadyRunning, serve, setup_logging

    setup_logging(settings)
    try:
        asyncio.run(serve(settings))
    except AlreadyRunning as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


# -- teams ------------------------------------------------------------------------------


def cmd_team_list(args: argparse.Namespace) -> int:
    store = _store(args)
    teams = store.list_teams()
    if not teams:
        print("Nog geen teams. Maak er een met: teamspiegel team create NAAM")
    for team in teams:
        demo = " (demo)" if team["is_demo"] else ""
        print(f"{team['id']:>4}  {team['name']}{demo}  – {team['members']} leden")
    return 0


def cmd_team_invite(args: argparse.Namespace) -> int:
    store = _store(args)
    settings = _settings(args)
    team = _team(store, args.team)
    expires = None
    if args.expires_days:
        expires = (datetime.now(UTC) + timedelta(days=args.expires_days)).isoformat(
            timespec="seconds")
    token = store.create_invite(team["id"], expires_at=expires)
    print(f"Uitnodigingscode voor {team['name']}: {token}")
    print("  (voor leden: meedoen, nooit leesrecht)")
    if expires:
        print(f"Geldig tot {expires}")
    from bot.access_cli import print_invite

    print_invite(settings, token, bot=args.bot, qr=args.qr, matrix=args.matrix)
    return 0


def cmd_team_schedule(args: argparse.Namespace) -> int:
    from bot.teamadmin import AdminError
    from bot.teamadmin_cli import admin_for

    admin, team = admin_for(args)
    try:  # the same validation and Dutch errors as /team in the chat and the dashboard
        slot = admin.set_tip_slot(int(team["id"]), None, via="cli", off=args.off, day=args.day,
                                  time=args.time, default=args.default)
    except AdminError as exc:
        raise SystemExit(str(exc)) from None
    print(f"Schema voor {team['name']} bijgewerkt: maandtip {slot}.")
    return 0


# -- content, export, schedule ------------------------------------------------------------


def cmd_content_check(args: argparse.Namespace) -> int:
    from bot.content import check_sources, load_content, load_sources, summary
    from bot.engine.flows import load_dialogues

    directory = Path(args.dir) if args.dir else None
    try:
        content = load_content(directory)
        dialogues = load_dialogues(Path(args.dialogues) if args.dialogues else None)
        from bot.engine.core import Engine

        Engine(Store(":memory:"), content, dialogues)  # cross-checks every name used
        problems = check_sources(directory)
        if problems:
            raise ConfigError(problems)
        sources = load_sources(directory)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(summary(content))
    if sources is not None:
        names = ", ".join(s.file for s in sources[1].sources)
        print(f"Sources: {len(sources[1].sources)} texts in {sources[0]}, checksums match "
              f"({names})")
    print(f"Dialogues: {len(dialogues.flows)} flows, {len(dialogues.states)} states, "
          f"{len(dialogues.commands.commands)} commands, {len(dialogues.texts)} texts")
    if getattr(args, "team", None):  # that team's packs too, its own included
        from bot.packs_cli import cmd_content_check_team

        return cmd_content_check_team(args, content)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bot.operator_export import PRIVATE_WARNING, export_answers

    if args.format == "xlsx" and not args.output:
        raise SystemExit("Voor xlsx heb ik een bestand nodig: --output antwoorden.xlsx")
    store = _store(args)
    if args.with_private_texts:
        print(PRIVATE_WARNING, file=sys.stderr)
    if args.format == "xlsx":
        with open(args.output, "wb") as binary:
            export_answers(store, "xlsx", binary, with_private_texts=args.with_private_texts)
        return 0
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        export_answers(store, args.format, out, with_private_texts=args.with_private_texts)
    finally:
        if args.output:
            out.close()
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from bot.schedule.planner import schedule_overview
    from bot.schedule.retention import describe

    settings = _settings(args)
    print(schedule_overview(_store(args), datetime.now(UTC), months=args.months))
    print(describe(settings.retention_years))
    return 0


def cmd_tips_preview(args: argparse.Namespace) -> int:
    from bot.content import get_content
    from bot.schedule.tips import preview_tip

    if getattr(args, "pack", None):  # a tip of a pack's series
        from bot.schedule.series import preview_series_tip

        try:
            print(preview_series_tip(get_content(), args.pack, args.number or 1))
        except KeyError as exc:
            raise SystemExit(str(exc.args[0])) from None
        return 0
    month = args.month or datetime.now(UTC).month
    print(preview_tip(month, get_content()))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from bot.app import lock_path_for
    from bot.schedule.dispatcher import status_text
    from bot.schedule.retention import describe

    settings = _settings(args)
    store = _store(args)
    print(f"Database: {store.path} (schema {store.schema_version})")
    print(f"Bot: {_running(lock_path_for(settings.db_path))}")
    print(status_text(store, settings.uncertain_policy))
    print(describe(settings.retention_years))
    oldest = store.oldest_answer()
    if oldest:
        print(f"Oudste antwoord: {oldest[:10]}")
    return 0


def _running(lock: Path) -> str:
    """Whether a `teamspiegel run` holds the database's lock file right now."""
    import fcntl
    import os

    if not lock.exists():
        return "draait niet"
    fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return f"draait (pid {pid})" if pid else "draait"
        return "draait niet"
    finally:
        os.close(fd)


def cmd_web(args: argparse.Namespace) -> int:
    from bot.web.app import run_web

    run_web(_settings(args))
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from bot.schedule import dispatcher

    store = _store(args)
    n = (dispatcher.requeue_uncertain(store) if args.action == "requeue-uncertain"
         else dispatcher.drop_uncertain(store))
    print(f"{n} berichten bijgewerkt.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="teamspiegel", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLite-bestand (standaard: $TEAMSPIEGEL_DB)")
    sub = parser.add_subparsers(dest="command")

    def add(name: str, func: object, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    p = add("chat", cmd_chat, "chat in de terminal")
    p.add_argument("--user", help="gebruikers-id (standaard: je loginnaam)")
    p.add_argument("--jsonl", action="store_true", help="JSON-regels in en uit (voor scripts)")
    p = add("run", cmd_run, "de bot draaien (Telegram/Matrix; zonder tokens: terminalchat)")
    p.add_argument("--webhook", help="Telegram-webhook-URL in plaats van long polling")

    team = sub.add_parser("team", help="teams beheren").add_subparsers(dest="team_command")

    def add_team(name: str, func: object, help: str) -> argparse.ArgumentParser:
        p = team.add_parser(name, help=help)
        p.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    from bot.access_cli import register as register_access

    register_access(add_team)  # create, owner-invite, grant, revoke, readers, members, rotate
    from bot.teamadmin_cli import register as register_team_admin

    register_team_admin(add_team)  # overview, cadence, nudge
    add_team("list", cmd_team_list, "alle teams")
    p = add_team("invite", cmd_team_invite, "uitnodiging (code, link, QR)")
    p.add_argument("team")
    p.add_argument("--qr", help="QR-code opslaan als PNG")
    p.add_argument("--bot", help="Telegram-botnaam (anders TELEGRAM_BOT_USERNAME)")
    p.add_argument("--expires-days", type=int, help="na zoveel dagen ongeldig")
    p.add_argument("--matrix", action="store_true", help="ook uitleg voor Matrix")
    p = add_team("schedule", cmd_team_schedule, "tijdstip van de maandtip")
    p.add_argument("team")
    p.add_argument("--off", action="store_true", default=None, help="geen maandtip")
    p.add_argument("--day", type=int, help="de zoveelste werkdag van de maand")
    p.add_argument("--time", help="tijd, bijv. 09:00")
    p.add_argument("--default", action="store_true", help="terug naar standaard")

    content = sub.add_parser("content", help="inhoud").add_subparsers(dest="content_command")
    p = content.add_parser("check", help="inhoud en dialogen controleren")
    p.add_argument("--dir", help="map met content/*.yaml")
    p.add_argument("--dialogues", help="map met dialogues/*.yaml")
    p.add_argument("--team", help="ook de pakketten van dit team (met hun eigen pakketten)")
    p.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_content_check)
    from bot.packs_cli import register as register_packs

    register_packs(content, add_team)  # content add FILE --team TEAM, team packs TEAM

    p = add("export", cmd_export, "alle antwoorden exporteren (beheer; staat in het logboek)")
    p.add_argument("--format", choices=["csv", "xlsx", "jsonl"], default="csv")
    p.add_argument("--output", "-o", help="bestand (standaard: stdout; verplicht voor xlsx)")
    p.add_argument("--with-private-texts", action="store_true",
                   help="ook teksten die mensen 'alleen voor mij' hielden (met waarschuwing)")

    p = add("schedule", cmd_schedule, "wat wanneer verstuurd wordt")
    p.add_argument("--months", type=int, default=3)
    tips = sub.add_parser("tips", help="maandtips").add_subparsers(dest="tips_command")
    p = tips.add_parser("preview", help="een tip bekijken zoals gebruikers hem zien")
    p.add_argument("--month", type=int, choices=range(1, 13))
    p.add_argument("--pack", help="een tip uit de reeks van dit pakket (bijv. tips-2017)")
    p.add_argument("--number", type=int, help="welke tip van die reeks (1, 2, ...)")
    p.set_defaults(func=cmd_tips_preview)
    add("status", cmd_status, "stand van de verzending")
    p = add("outbox", cmd_outbox, "onzekere berichten afhandelen")
    p.add_argument("action", choices=["requeue-uncertain", "drop-uncertain"])
    from bot.reports.cli import register as register_reports

    register_reports(sub, add)  # report TEAM, report publish TEAM, report rounds TEAM
    add("web", cmd_web, "het dashboard starten")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SchemaError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"Fout in de inhoud of dialogen:\n{exc}", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except StartupError as exc:  # one clear line; never a traceback with a token in it
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
