"""One log filter hides every secret and every dashboard login token (bot/redact.py)."""

from __future__ import annotations

import io
import logging

from bot.redact import Redactor

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwx-yz0123456"


def _log(redactor: Redactor, msg: str, *args: object, exc: BaseException | None = None) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(redactor)
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc is not None:
            try:
                raise exc
            except type(exc):
                logger.exception(msg, *args)
        else:
            logger.warning(msg, *args)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_secrets_in_the_message_its_arguments_and_a_traceback() -> None:
    redactor = Redactor([TOKEN, "hunter2-password"])
    assert TOKEN not in _log(redactor, f"GET https://api.telegram.org/bot{TOKEN}/getMe")
    text = _log(redactor, "login as %s failed: %s", "bot", "hunter2-password")
    assert "hunter2-password" not in text and "login as bot failed: ***" in text
    secret_half = TOKEN.split(":", 1)[1]
    text = _log(redactor, "request failed", exc=RuntimeError(f"url /bot123456%3A{secret_half}"))
    assert secret_half not in text and "RuntimeError" in text
    assert secret_half.upper() not in _log(redactor, "Error: %s", secret_half.upper())


def test_login_tokens_leave_the_access_log_and_its_arguments_stay() -> None:
    """uvicorn's access log formats its arguments itself: they stay a tuple, redacted."""
    redactor = Redactor()
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("1.2.3.4:5", "GET", "/login/AbC_dEf-123", "1.1", 303), None)
    assert redactor.filter(record)
    assert isinstance(record.args, tuple) and record.args[2] == "/login/…"
    assert record.getMessage() == '1.2.3.4:5 - "GET /login/… HTTP/1.1" 303'
