"""Replies to people over the fake Bot API (real HTTP, in-process): never dropped, never shown as
accepted when nothing was stored.

* 100 people answer at once while the fake enforces Telegram's 30 messages/s: every reply
  arrives (they used to be dropped after 3 x 429: 94 of 100 people had to type /verder).
* A button press whose turn cannot be stored (the database is locked past its busy timeout):
  no "✅ Jouw keuze", the keyboard stays, the person reads the Dutch error text once, the update
  is not confirmed to Telegram, and it is handled when the database is back.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.flows import load_dialogues
from bot.store import Conversation, Store
from bot.transports.telegram import TelegramTransport
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import Person, settings_for
from tests.waiting import PATIENCE, await_progress

ERROR = load_dialogues().text("error")
HELP = load_dialogues().text("help")
FIRST = 830_000_000
#: wait until done, failing only when the progress stands still for a long time
wait_progress = await_progress


def seed_people(store: Store, n: int) -> list[int]:
    """``n`` members of one team, each in the menu of their private chat."""
    with store.transaction():
        team = store.create_team("Wijkteam Druk")
        users = []
        for i in range(n):
            uid = FIRST + i
            member = store.get_or_create_member("telegram", str(uid))
            store.set_consent(member)
            store.join_team(member, team, "professional")
            store.save_conversation(Conversation(None, "telegram", str(uid), member, "menu.main"))
            users.append(uid)
    return users


async def test_100_people_answering_under_the_enforced_limit_lose_no_reply(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    store = Store(tmp_path / "druk.db", synchronous="OFF")
    engine = Engine(store, get_content(), load_dialogues())
    users = seed_people(store, 100)
    with FakeBotAPI(token="987001:AAE-rate-limited-token-value-x123456",
                    rate_limit_per_second=30) as fake:
        transport = TelegramTransport(engine, settings_for(fake), poll_timeout=1)
        await transport.start()
        try:
            for uid in users:  # all at once: one batch of 100 updates
                fake.push_message(uid, "/help")

            def answered() -> int:
                return sum(len(fake.sent_to(uid)) >= 1 for uid in users)

            await wait_progress(answered, lambda: answered() == len(users)
                                and not fake.pending_updates(), "every reply")
        finally:
            await transport.stop()
        for uid in users:
            texts = [m.text for m in fake.sent_to(uid)]
            # the help and the menu: one turn, one message
            assert texts == [f"{HELP}\n\nWat wil je doen?"], (uid, texts)
        stats = fake.stats()
    print(f"\n100 people: {stats['by_status']}")
    assert not [r for r in caplog.records if "could not deliver" in r.getMessage()
                or "giving up" in r.getMessage()]
    assert store.owed_count() == 0  # every debt paid
    store.close()


@pytest.fixture
def fake():
    with FakeBotAPI(token="987002:AAE-outage-token-value-x1234567890ab") as server:
        yield server


async def test_a_press_that_stored_nothing_is_not_shown_as_accepted(fake, tmp_path: Path,
                                                                    caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "outage.db"
    store = Store(path)
    engine = Engine(store, get_content(), load_dialogues())
    token = store.create_invite(store.create_team("Wijkteam Noord"))
    transport = TelegramTransport(engine, settings_for(fake), poll_timeout=1)
    await transport.start()
    uid = FIRST
    person = Person(fake, uid)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        await person.say(f"/start {token}")
        await person.press("Ja, ik doe mee")
        await person.press("Professional (uitvoering)")
        await person.press("Eén thema kiezen")
        await person.press("1. Samenhang tussen beleid, management en uitvoering")
        question = person.keyboard_message()
        assert "\n\nVraag 1 van" in question.text  # after the theme's introduction

        store.conn.execute("PRAGMA busy_timeout=100")
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
        message_id, data = person.press_data("4")
        update_id = fake.push_callback(uid, data, message_id)
        await fake.wait_for_messages_async(uid, len(person.messages()) + 1, timeout=PATIENCE)
        assert person.last().text == ERROR
        shown = next(m for m in person.messages() if m.message_id == question.message_id)
        assert "✅" not in (shown.text or ""), shown.text  # nothing was stored
        assert shown.callback_data() == question.callback_data()  # the keyboard stays
        assert any(u["update_id"] == update_id for u in fake.pending_updates())  # unconfirmed
        assert store._all("SELECT COUNT(*) AS n FROM answers")[0]["n"] == 0
        await asyncio.sleep(1.5)  # fetched and tried again meanwhile: no second error text
        assert [m.text for m in person.messages()].count(ERROR) == 1

        blocker.execute("COMMIT")  # the database is back: the same press goes through
        await fake.wait_for_async(
            lambda: all(u["update_id"] != update_id for u in fake.pending_updates()), 60)
        shown = await fake.wait_for_async(lambda: next(  # cosmetic: after the reply
            (m for m in person.messages() if m.message_id == question.message_id and m.edits),
            None), 30)
        assert shown.text.endswith("✅ Jouw keuze: 4") and not shown.callback_data()
        assert person.last().text.startswith("Wil je dit toelichten?")
        assert store._all("SELECT scale FROM answers") == [{"scale": 4}]
        assert [m.text for m in person.messages()].count(ERROR) == 1
    finally:
        blocker.close()
        await transport.stop()
        store.close()
    outage = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage) == 1 and not [r for r in caplog.records if r.exc_info]


async def test_a_reply_telegram_would_not_take_is_sent_later(fake, tmp_path: Path, caplog):
    """Telegram fails longer than the reply's retry policy waits: the turn is stored, its reply
    stays owed, and a little later the person gets the current question anyway."""
    caplog.set_level(logging.INFO)
    store = Store(tmp_path / "later.db")
    engine = Engine(store, get_content(), load_dialogues())
    (uid,) = seed_people(store, 1)
    transport = TelegramTransport(engine, settings_for(fake), poll_timeout=1)
    transport.owed_sweep_seconds = 1.0
    await transport.start()
    try:
        fake.error_next(6, status=502, method="sendMessage", chat_id=uid)
        fake.push_message(uid, "/help")
        await wait_progress(lambda: len(fake.calls("sendMessage", uid)),
                            lambda: bool(fake.sent_to(uid)), "the owed reply")
        assert any("could not deliver a reply" in r.getMessage() for r in caplog.records)
        assert [m.text for m in fake.sent_to(uid)] == ["Wat wil je doen?"]  # the question
        await wait_progress(lambda: store.owed_count(), lambda: store.owed_count() == 0,
                            "the debt to be paid")
    finally:
        await transport.stop()
        store.close()
