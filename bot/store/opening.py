"""Opening a database file: what can be wrong with it, said in one Dutch line.

A deployment can hand the bot a path that is a directory, a file that is not a database (a
backup of something else, a download that stopped halfway), a database with a damaged page
(a disk that failed, a copy taken while it was written), or another program's SQLite file.
Each is refused at start with :class:`DatabaseUnusable`: one line that says which file, what
is wrong and what to do, never a traceback. The command line prints it and exits 1.

A damaged page is found by ``PRAGMA quick_check`` when the file is opened: without it SQLite
opens such a file happily and fails later, in the middle of someone's conversation, or never
notices (a damaged page nobody reads). ``quick_check`` reads every page once (about a second
for a few hundred megabytes), which is cheap next to starting on a broken file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store.schema import SchemaError

__all__ = ["DatabaseUnusable", "check_database_path", "check_integrity", "check_ours",
           "unusable"]

#: what to do about a file we cannot use (the same advice for each case)
_ADVICE = "Kies een ander bestand met TEAMSPIEGEL_DB of --db"


class DatabaseUnusable(SchemaError):
    """The database file cannot be used at all: the message is one Dutch line for the
    operator (which file, what is wrong, what to do). A :class:`SchemaError`, so every
    command that already says a schema problem in one line says this one too."""


def check_database_path(path: str | Path) -> Path:
    """The database's path, with its folder created; :class:`DatabaseUnusable` when the path
    is a directory or its folder cannot be made."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DatabaseUnusable(
            f"De database {path} is een map, geen bestand. Geef een bestandsnaam op, "
            f"bijvoorbeeld {path / 'teamspiegel.db'} (TEAMSPIEGEL_DB of --db).")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists()), None)
        reason = (f"{blocker} is een bestand, geen map" if blocker and not blocker.is_dir()
                  else _reason(exc))
        raise DatabaseUnusable(
            f"Ik kan de map voor de database {path} niet maken ({reason}). {_ADVICE}.") from None
    return path


def unusable(path: str | Path, exc: BaseException) -> DatabaseUnusable:
    """The one line for an error SQLite (or the file system) gave while opening ``path``."""
    text = str(exc).lower()
    if "not a database" in text or "file is encrypted" in text:
        return DatabaseUnusable(
            f"Het bestand {path} is geen SQLite-database, of het is beschadigd. Zet een "
            "back-up terug, of kies een ander bestand met TEAMSPIEGEL_DB of --db.")
    if "malformed" in text or "corrupt" in text:
        return damaged(path, str(exc))
    if "locked" in text or "busy" in text:
        return DatabaseUnusable(
            f"De database {path} is bezet door een ander programma ({exc}). Probeer het zo "
            "nog eens.")
    return DatabaseUnusable(
        f"Ik kan de database {path} niet openen ({_reason(exc)}). Controleer het pad en de "
        "rechten (TEAMSPIEGEL_DB of --db).")


def damaged(path: str | Path, problem: str) -> DatabaseUnusable:
    return DatabaseUnusable(
        f"De database {path} is beschadigd ({problem}). Ik start er niet op: zet een back-up "
        f"terug, of red wat er nog in staat met: sqlite3 {path} .recover")


def check_integrity(conn: sqlite3.Connection, path: str | Path) -> None:
    """``PRAGMA quick_check``: :class:`DatabaseUnusable` naming the first problem found."""
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        raise unusable(path, exc) from None
    first = str(rows[0][0]) if rows else "ok"
    if first != "ok":  # e.g. "*** in database main ***\nPage 8: btreeInitPage() returns ..."
        words = " ".join(first.replace("*** in database main ***", "").split())
        raise damaged(path, f"quick_check: {words[:200]}")


def check_ours(conn: sqlite3.Connection, path: str | Path) -> None:
    """A file with tables but schema version 0 belongs to another program: migrating it
    would write our tables into someone else's data."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version:
        return
    tables = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name LIMIT 3")]
    if tables:
        raise DatabaseUnusable(
            f"Het bestand {path} is een SQLite-database van een ander programma (tabellen: "
            f"{', '.join(tables)}), geen Teamspiegel-database. {_ADVICE}.")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
