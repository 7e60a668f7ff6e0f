"""Secrets never reach a log: one filter for every logger that may see them.

What it hides: the configured secrets (the Telegram bot token and its secret half, which shows
up URL-encoded in request URLs, the webhook secret, the Matrix password and access token, the
recovery key, the dashboard key) and one-time dashboard login tokens in paths
(``/login/<token>``, e.g. in the web server's access log). In the message, in its arguments
and in a traceback. :func:`install_redaction` puts the one filter on every logger that sees
requests and on every handler of the root logger; it is idempotent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["REDACTOR", "Redactor", "install_redaction"]

#: a one-time dashboard login link's path (the token is a key for 15 minutes)
LOGIN_PATH = re.compile(r"/login/[A-Za-z0-9_\-]+")
#: loggers whose records may carry request URLs, error texts with a token, or login paths
LOGGERS = ("httpx", "httpcore", "telegram", "aiohttp", "uvicorn", "nio", "bot")


class Redactor(logging.Filter):
    """Replaces secrets and login tokens in log records, tracebacks included."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__("")
        self.secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *values: str | None) -> None:
        """Hide these values too (empty ones are ignored)."""
        for value in values:
            if not value or value in self.secrets:
                continue
            self.secrets.append(value)
            _head, sep, tail = value.partition(":")
            if sep and len(tail) >= 16:  # a Telegram token's secret half, e.g. URL-encoded
                self.secrets.append(tail)
        if self.secrets:
            # PTB capitalizes API error texts (lower-casing the rest): match any case
            alternatives = sorted(self.secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)

    def redact(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub("***", text)
        return LOGIN_PATH.sub("/login/…", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: leave it to the handler
            return True
        if self.redact(message) != message:
            args = record.args
            if isinstance(args, tuple) and all(isinstance(a, str | int | float) for a in args):
                # keep the arguments (formatters such as uvicorn's access log read them)
                record.msg = self.redact(str(record.msg))
                record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in args)
            if self.redact(record.getMessage()) != record.getMessage():
                record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(record.exc_text)
        return True


#: the one redactor of this process
REDACTOR = Redactor()


def install_redaction(*values: str | None) -> Redactor:
    """Hide ``values`` everywhere we log: on the loggers that see requests and tokens and on
    every handler of the root logger. Idempotent; call again after adding handlers."""
    REDACTOR.add(*values)
    names = set(LOGGERS)
    names.update(n for n in logging.Logger.manager.loggerDict if n.startswith(LOGGERS))
    for name in names:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
        for handler in logger.handlers:
            if REDACTOR not in handler.filters:
                handler.addFilter(REDACTOR)
    for handler in logging.getLogger().handlers:
        if REDACTOR not in handler.filters:
            handler.addFilter(REDACTOR)
    # httpx logs every request URL at INFO, and Telegram's URLs contain the token
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    return REDACTOR
