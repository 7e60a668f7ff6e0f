"""Starting a transport: wait for a platform that cannot be reached yet, stop on one that
refuses us.

At boot the network often comes up after the bot (a container that starts before its
network, a homeserver that restarts at the same time, a DNS resolver that is not there yet).
Exiting then would make a service manager restart the bot in a loop, and without one the bot
would simply be gone. So a transport whose platform cannot be *reached* is started again
with a growing pause (1 s, 2 s, 4 s ... at most a minute), with one log line per attempt,
until it starts or the bot is asked to stop. A platform that *refuses* us (a rejected token,
a wrong password, a malformed request) cannot get better by waiting: that stops the start
with :class:`~bot.config.StartupError`, one Dutch line without a secret, and exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from bot.config import StartupError

log = logging.getLogger("bot.app")

#: the first and the longest pause between two attempts to start a transport (seconds)
FIRST_PAUSE = 1.0
MAX_PAUSE = 60.0


def start_failure(transport: Any, exc: BaseException) -> str:
    """One Dutch line for the operator about a transport that could not start (no secret)."""
    platform = getattr(transport, "platform", type(transport).__name__)
    name = type(exc).__name__
    if platform == "telegram":
        if name == "InvalidToken":
            return ("Telegram weigert de bot-token (TELEGRAM_BOT_TOKEN). Controleer de token "
                    "bij @BotFather en start opnieuw.")
        return (f"Telegram is niet bereikbaar ({name}). Controleer de verbinding en "
                "TELEGRAM_BASE_URL, en start opnieuw.")
    if platform == "matrix":
        return (f"Matrix kon niet starten ({name}). Controleer MATRIX_HOMESERVER, MATRIX_USER_ID "
                "en het wachtwoord of de token, en start opnieuw.")
    return f"{platform} kon niet starten ({name})."


def retry_in(exc: BaseException) -> float | None:
    """How long the platform asked us to wait (a 429's retry-after), if it did."""
    # PTB's RetryAfter keeps it in _retry_after (its public attribute warns about a future
    # type change); bot.channel.RetryAfter in seconds
    raw = getattr(exc, "_retry_after", None)
    if raw is None:
        raw = getattr(exc, "seconds", None)
    if isinstance(raw, timedelta):
        return raw.total_seconds()
    if isinstance(raw, int | float):
        return float(raw)
    return None


def is_unreachable(exc: BaseException) -> bool:
    """True when the platform could not be reached or answered "not now" (connection refused,
    DNS, a timeout, a 5xx, a 429); False when it refused us, which waiting cannot fix."""
    from aiohttp import ClientConnectionError
    from telegram import error as tg_error

    from bot.channel import RetryAfter, TransientError

    if isinstance(exc, tg_error.BadRequest | tg_error.InvalidToken | tg_error.Forbidden):
        return False
    if isinstance(exc, tg_error.NetworkError | tg_error.RetryAfter | RetryAfter | TransientError):
        return True  # NetworkError: connection errors, timeouts and 5xx answers
    if isinstance(exc, ClientConnectionError | TimeoutError | ConnectionError):
        return True  # aiohttp (Matrix): refused, DNS, disconnected; asyncio timeouts
    status = getattr(exc, "status", None)  # e.g. MatrixLoginError from a 502 or a 429
    return isinstance(status, int) and (status >= 500 or status == 429)


def _describe(exc: BaseException, secrets: list[str]) -> str:
    """The exception for a log line: its type and message, secrets masked, one line."""
    text = " ".join(str(exc).split())[:200]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def start_transport(
    transport: Any,
    stop: asyncio.Event,
    *,
    secrets: list[str] | None = None,
    first_pause: float | None = None,
    max_pause: float | None = None,
) -> bool:
    """Start ``transport``, again and again while its platform cannot be reached; True when
    it runs, False when ``stop`` was set first. Raises :class:`StartupError` when the
    platform refuses us. The pauses default to :data:`FIRST_PAUSE` and :data:`MAX_PAUSE`."""
    platform = getattr(transport, "platform", type(transport).__name__)
    pause = FIRST_PAUSE if first_pause is None else first_pause
    max_pause = MAX_PAUSE if max_pause is None else max_pause
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            await transport.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_unreachable(exc):
                # no traceback and no chained cause: PTB's InvalidToken quotes the token
                raise StartupError(start_failure(transport, exc)) from None
            with contextlib.suppress(Exception):  # half-started: close what was opened
                await transport.stop()
            wait = max(pause, min(retry_in(exc) or 0.0, max_pause))
            log.warning("%s is not reachable at start (attempt %d: %s); trying again in %.0f s",
                        platform, attempt, _describe(exc, secrets or []), wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            pause = min(pause * 2, max_pause)
            continue
        if attempt > 1:
            log.warning("%s started after %d attempts", platform, attempt)
        return True
    return False
