"""What every ``teamspiegel`` subcommand module shares: settings, the store, finding a team.

:mod:`bot.cli` builds the parser and registers the subcommands of :mod:`bot.access_cli`,
:mod:`bot.packs_cli` and :mod:`bot.reports.cli`; they all take these helpers from here, so no
subcommand module imports the module that registers it (no cycle).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.notices import print_notices
from bot.store import Store

__all__ = ["find_team", "open_store", "settings_for"]


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings from the environment, with ``--db`` when given."""
    settings = Settings.from_env()
    if getattr(args, "db", None):
        settings.db_path = Path(args.db).expanduser()
    return settings


def open_store(args: argparse.Namespace) -> Store:
    """The store of ``--db`` (or the configured one); migration notices go to stderr."""
    store = Store(settings_for(args).db_path)
    print_notices(store)
    return store


def find_team(store: Store, ref: str) -> dict[str, Any]:
    """A team by id or name, or exit with a Dutch line."""
    team = store.find_team(ref)
    if team is None:
        raise SystemExit(f"Team '{ref}' bestaat niet. Zie: teamspiegel team list")
    return team
