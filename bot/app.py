"""Serving the bot: transports, the schedule tick and the outbox dispatcher in one process.

One process per database. ``serve`` first takes an exclusive ``flock`` on a lock file beside the
database (``teamspiegel.db.lock``) and refuses to start when another process holds it
(:class:`AlreadyRunning`): two bots on one database would both send the monthly tip and both
claim to be the one that recovers rows after a crash. The kernel releases the lock when its
holder dies, SIGKILL included, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.engine.core import Engine
from bot.engine.heap import settle_heap
from bot.notices import print_notices
from bot.redact import install_redaction
from bot.startup import start_failure as start_failure  # one Dutch line per failed start
from bot.startup import start_transport
from bot.store import DatabaseUnusable, Store
from bot.store.opening import check_database_path

log = logging.getLogger(__name__)


def setup_logging(settings: Settings, level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # every secret of the settings, on every handler; httpx's request log (URLs with the
    # Telegram token) is silenced
    install_redaction(*settings.secrets())
    # transitions logs every state callback at INFO
    logging.getLogger("transitions").setLevel(logging.WARNING)


def engine_settings(settings: Settings) -> dict[str, Any]:
    """What the engine reads of the settings (it knows no Settings class)."""
    return {"min_group": settings.min_group, "controller": settings.controller,
            "retention_years": settings.retention_years}


class AlreadyRunning(Exception):
    """Another ``teamspiegel run`` serves this database (it holds the lock file)."""

    def __init__(self, db_path: Path, lock_path: Path, pid: str | None) -> None:
        self.db_path, self.lock_path, self.pid = db_path, lock_path, pid
        holder = f" (pid {pid})" if pid else ""
        super().__init__(
            f"Er draait al een Teamspiegel op database {db_path}{holder}: stop die eerst. "
            f"/ Another 'teamspiegel run' is serving this database (lock: {lock_path})."
        )


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextlib.contextmanager
def process_lock(db_path: Path) -> Iterator[Path]:
    """Hold the database's lock file for the duration; :class:`AlreadyRunning` when another
    process holds it. The lock dies with its holder (``flock``), the file stays."""
    db_path = check_database_path(db_path)  # a directory, an impossible folder: one line
    path = lock_path_for(db_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise DatabaseUnusable(
            f"Ik kan het slotbestand {path} naast de database niet maken ({exc.strerror}). "
            "Controleer de rechten van die map.") from None
    try:
        # `teamspiegel status` peeks with a shared lock for a moment: allow for that
        deadline = time.monotonic() + 2.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or None
                    raise AlreadyRunning(db_path, path, pid) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)


async def supervise(
    name: str, run: Callable[[], Awaitable[None]], stop: asyncio.Event, *, first_pause: float = 1.0
) -> None:
    """Run ``run()`` until ``stop``; when it ends early (a bug), log it and start it again after
    a growing pause. Nothing the bot does in the background may end without a word."""
    pause = first_pause
    while not stop.is_set():
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s stopped unexpectedly; starting it again in %.0f s", name, pause)
        else:
            if stop.is_set():
                return
            log.error("%s ended without being asked to; starting it again in %.0f s", name,
                      pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(pause * 2, 60.0)


def log_tasks() -> None:
    """``kill -USR1 <pid>``: log where every task of the running bot is waiting (a stuck bot
    tells its story without being stopped)."""
    lines = []
    for task in asyncio.all_tasks():
        where: list[str] = []
        coro: Any = task.get_coro()
        while coro is not None and len(where) < 20:  # follow the chain of awaits
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None:
                where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        lines.append(f"  {task.get_name()}: {' -> '.join(where) or 'not started'}")
    log.warning("%d tasks:\n%s", len(lines), "\n".join(sorted(lines)))


def build_engine(settings: Settings) -> Engine:
    store = Store(settings.db_path)
    if store.migrated_from and store.migrated_from < store.schema_version:
        log.info("database migrated from schema %s to %s", store.migrated_from,
                 store.schema_version)
        print_notices(store)  # e.g. who lost read rights, and the command that grants them
    engine = Engine(store, settings=engine_settings(settings))
    install_plugins(engine, settings)
    return engine


def install_plugins(engine: Engine, settings: Settings) -> None:
    """The features the engine reaches through its typed plug-ins (``engine.plugins``): reports
    in the chat, the dashboard link, the team leaders' self-service, the mirror next to a team
    conversation. (Invite links follow when the transports started:
    :func:`install_invite_links`.)"""
    from bot.reports.chat import install
    from bot.reports.sessions import install as install_sessions
    from bot.teamadmin import install as install_team_admin
    from bot.web.chat import DashboardLink

    install(engine, settings)
    install_sessions(engine, settings)
    install_team_admin(engine, settings)
    engine.plugins.dashboard_link = DashboardLink(settings)


def install_invite_links(engine: Engine, transports: list[Any]) -> None:
    """The ``invite_link`` plug-in: the link behind an invite or a group-link code, for platforms
    whose links carry a payload (Telegram: ``?start=`` and ``?startgroup=``). Matrix links
    carry none: there the engine says what to type."""
    from bot.transports.telegram import PLATFORM as TELEGRAM
    from bot.transports.telegram import deep_link, group_deep_link

    by_platform = {t.sender.platform: t for t in transports}

    def invite_link(platform: str, token: str, group: bool = False) -> str | None:
        transport = by_platform.get(platform)
        username = getattr(transport, "bot_username", None) if platform == TELEGRAM else None
        if not username:
            return None
        return group_deep_link(username, token) if group else deep_link(username, token)

    engine.plugins.invite_link = invite_link


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run every configured transport plus the schedule until SIGTERM/SIGINT (or ``stop``).
    Raises :class:`AlreadyRunning` when another process serves the same database."""
    with process_lock(settings.db_path):
        await _serve(settings, stop=stop)


async def _serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    engine = build_engine(settings)
    if (settings.telegram_enabled or settings.matrix_enabled) and not settings.controller:
        log.warning("TEAMSPIEGEL_CONTROLLER is not set: the consent text cannot say who is "
                    "responsible for the data (set it to the organisation and a contact)")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not in the main thread
            pass
    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        loop.add_signal_handler(signal.SIGUSR1, log_tasks)
    transports: list[Any] = []
    if settings.telegram_enabled:
        from bot.transports.telegram import TelegramTransport

        transports.append(TelegramTransport(engine, settings))
    if settings.matrix_enabled:
        from bot.transports.matrix import MatrixTransport

        transports.append(MatrixTransport(engine, settings))
    try:
        for transport in transports:
            # a platform that cannot be reached yet is waited for (logged, with backoff); one
            # that refuses us raises StartupError (one Dutch line, no secret)
            if not await start_transport(transport, stop, secrets=settings.secrets()):
                break  # asked to stop while waiting
    except BaseException:
        for transport in reversed(transports):
            with contextlib.suppress(Exception):
                await transport.stop()
        engine.store.close()
        raise
    if stop.is_set():
        for transport in reversed(transports):
            with contextlib.suppress(Exception):
                await transport.stop()
        engine.store.close()
        return
    install_invite_links(engine, transports)
    settle_heap()  # everything of start-up is loaded: out of the garbage collector's sight
    log.info("Teamspiegel draait (%s)", ", ".join(type(t).__name__ for t in transports))
    from bot.schedule.runner import run_schedule

    senders = {t.sender.platform: t.sender for t in transports}
    schedule = asyncio.create_task(supervise(
        "the schedule (tips, reminders, outbox)",
        lambda: run_schedule(engine, settings, senders, stop), stop))
    try:
        await stop.wait()
    finally:
        schedule.cancel()
        await asyncio.gather(schedule, return_exceptions=True)
        for transport in reversed(transports):
            await transport.stop()
        engine.store.close()
