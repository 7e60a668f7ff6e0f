"""Shared helpers for the Telegram tests: a simulated person talking to the bot through the
fake Bot API, the application's settings pointed at it, and reading the bot's database."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from tests.fakes.fake_bot_api import FakeBotAPI, SentMessage
from tests.waiting import PATIENCE

TIMEOUT = PATIENCE  # a bound for a broken bot, not a speed


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
