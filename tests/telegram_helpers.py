"""Shared helpers for the Telegram tests: a simulated person talking to the bot through the
fake Bot API, the application's settings pointed at it, the real bot process (``teamspiegel
run``) against the fake, and reading the bot's database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from tests.fakes.fake_bot_api import FakeBotAPI, SentMessage
from tests.waiting import PATIENCE

TIMEOUT = PATIENCE  # a bound for a broken bot, not a speed
TEAMSPIEGEL = str(Path(sys.executable).with_name("teamspiegel"))


def bot_env(db: Path, fake: FakeBotAPI | None = None, **extra: str) -> dict[str, str]:
    """The environment of a bot process or CLI call on ``db``: none of the developer's
    platform settings, plans once per start (no tick in the middle of a test), the fake's token
    and URL when given, then ``extra`` (rate limits and the like)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "MATRIX_", "TEAMSPIEGEL_"))}
    env.update(TEAMSPIEGEL_DB=str(db), PYTHONUNBUFFERED="1", TEAMSPIEGEL_TICK_SECONDS="3600")
    if fake is not None:
        env.update(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_BASE_URL=fake.base_url)
    env.update(extra)
    return env


class TelegramBot:
    """``teamspiegel run`` in a subprocess against the fake Bot API; its log goes to ``log``."""

    def __init__(self, db: Path, fake: FakeBotAPI, log: Path, **env: str) -> None:
        self.db, self.fake, self.log, self.env = db, fake, log, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it asks for updates (ready)."""
        polls = len(self.fake.calls("getUpdates"))
        with open(self.log, "ab") as log:
            # cwd: the temp dir, so no developer's .env is read
            self.proc = subprocess.Popen([TEAMSPIEGEL, "run"], cwd=self.db.parent,
                                         env=bot_env(self.db, self.fake, **self.env),
                                         stdout=log, stderr=subprocess.STDOUT)
        proc = self.proc
        self.fake.wait_for(lambda: len(self.fake.calls("getUpdates")) > polls
                           or proc.poll() is not None, timeout=PATIENCE)
        assert proc.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(PATIENCE)

    def terminate(self) -> int:
        """SIGTERM and its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(PATIENCE)

    def cleanup(self) -> None:
        """Never leave a bot process behind, whatever the test did: SIGTERM, then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(PATIENCE)


@dataclass
class Person:
    """One Telegram user in their private chat with the bot."""

    fake: FakeBotAPI
    user_id: int

    # -- what the person sees ------------------------------------------------------------

    def messages(self) -> list[SentMessage]:
        return self.fake.sent_to(self.user_id)

    def last(self) -> SentMessage:
        messages = self.messages()
        assert messages, "the bot sent nothing"
        return messages[-1]

    def keyboard_message(self) -> SentMessage:
        """The newest bot message that still has inline buttons."""
        for message in reversed(self.messages()):
            if message.callback_data():
                return message
        raise AssertionError(f"no buttons; transcript: {self.transcript()}")

    def transcript(self) -> str:
        return "\n".join(self.fake.transcript(self.user_id)[-12:])

    # -- what the person does (each waits until the bot handled it) ----------------------

    async def _apushed(self, update_id: int, timeout: float = TIMEOUT) -> int:
        """Wait until the bot confirmed the update (handled, replies sent)."""
        await self.fake.wait_for_async(
            lambda: all(u["update_id"] != update_id for u in self.fake.pending_updates()),
            timeout)
        return update_id

    def press_data(self, label: str) -> tuple[int, str]:
        message = self.keyboard_message()
        rows = message.reply_markup["inline_keyboard"]
        for row in rows:
            for button in row:
                if button["text"] == label and "callback_data" in button:
                    return message.message_id, button["callback_data"]
        raise AssertionError(f"no button {label!r} in {message.buttons()}")

    async def press(self, label: str) -> int:
        message_id, data = self.press_data(label)
        return await self._apushed(self.fake.push_callback(self.user_id, data, message_id))

    async def press_first(self) -> int:
        message = self.keyboard_message()
        return await self._apushed(self.fake.push_callback(
            self.user_id, message.callback_data()[0], message.message_id))

    async def say(self, text: str) -> int:
        return await self._apushed(self.fake.push_message(self.user_id, text))

    async def send(self, kind: str, **kwargs: object) -> int:
        push = getattr(self.fake, f"push_{kind}")
        return await self._apushed(push(self.user_id, **kwargs))


def settings_for(fake: FakeBotAPI, **extra: object) -> Settings:
    """The application's own Settings, pointed at the fake server."""
    values: dict[str, object] = {
        "telegram_token": fake.token, "telegram_base_url": fake.base_url,
        "telegram_listen": "127.0.0.1", "telegram_port": 0,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def db_rows(path: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the bot's SQLite file from outside (a separate connection, like an operator)."""
    conn = sqlite3.connect(str(path), timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
