"""Replies under Telegram's per-chat limit (issue 15): a turn's messages are paced per chat
instead of drawing a 429 (which pauses every chat), and the cosmetic edits ("✅ Jouw keuze", an
old keyboard) come after the reply the person waits for. Real HTTP to the fake Bot API, which
enforces one message a second per chat like Telegram."""

from __future__ import annotations

import pytest

from bot.transports.telegram import TelegramTransport
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import TIMEOUT, Person, settings_for

USER = 5151


@pytest.fixture
def fake():
    with FakeBotAPI(token="515151:AAE-pacing-token-value-x1234567890ab",
                    per_chat_per_second=1) as server:
        yield server


@pytest.fixture
async def transport(fake, engine):
    t = TelegramTransport(engine, settings_for(fake), poll_timeout=1)
    await t.start()
    yield t
    await t.stop()


@pytest.fixture
def person(fake, transport):
    return Person(fake, USER)


@pytest.fixture
def invite(store):
    return store.create_invite(store.create_team("Wijkteam Oost"))


def _chat_calls(fake: FakeBotAPI) -> list[tuple[str, int | None]]:
    return [(c.method, c.status) for c in fake.calls() if c.chat_id == USER]


async def test_a_turn_of_two_messages_is_paced_per_chat_without_a_429(fake, person, invite):
    await person.say(f"/start {invite}")
    await person.press("Ja, ik doe mee")
    await person.press("Professional (uitvoering)")  # "Welkom bij ..." and the menu: 2 messages
    texts = [m.text for m in person.messages()]
    assert texts[-1] == "Wat wil je doen?", person.transcript()
    assert "Welkom bij Wijkteam Oost!" in texts
    # the edits of the pressed messages come later; wait for both, then count
    await fake.wait_for_async(
        lambda: sum(1 for method, status in _chat_calls(fake)
                    if method == "editMessageText" and status == 200) == 2, TIMEOUT)
    assert fake.stats()["too_many_requests"] == 0, _chat_calls(fake)


async def test_the_reply_goes_before_the_cosmetic_edit(fake, person, invite):
    await person.say(f"/start {invite}")
    welcome = person.keyboard_message()
    await person.press("Ja, ik doe mee")
    await fake.wait_for_async(lambda: [m for m in person.messages()
                                       if m.message_id == welcome.message_id][0].edits, TIMEOUT)
    calls = [method for method, status in _chat_calls(fake) if status == 200]
    # /start: the welcome; the press: the role question first, then "✅ Jouw keuze"
    assert calls == ["sendMessage", "sendMessage", "editMessageText"], calls
