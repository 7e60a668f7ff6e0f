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


async def test_a_turn_of_two_messages_arrives_as_one_message_without_a_429(fake, person, invite):
    """The welcome to the team and the menu are two replies of one turn: they arrive as ONE
    Telegram message (both texts, the menu's buttons), so the person does not wait for the
    chat's next second, and the fake's per-chat limit draws no 429."""
    await person.say(f"/start {invite}")
    await person.press("Ja, ik doe mee")
    before = len(person.messages())
    await person.press("Professional (uitvoering)")  # "Welkom bij ..." and the menu: 2 replies
    new = person.messages()[before:]
    assert len(new) == 1, person.transcript()
    text = new[0].text or ""
    assert text.startswith("Welkom bij Wijkteam Oost!"), text
    assert text.endswith("Wat wil je doen?"), text
    assert "\n\nWat wil je doen?" in text
    assert new[0].buttons() and new[0].callback_data(), new[0]
    assert person.keyboard_message().message_id == new[0].message_id
    # the edits of the pressed messages come later; wait for both, then count
    await fake.wait_for_async(
        lambda: sum(1 for method, status in _chat_calls(fake)
                    if method == "editMessageText" and status == 200) == 2, TIMEOUT)
    assert fake.stats()["too_many_requests"] == 0, _chat_calls(fake)
    # the joined message works like any prompt: its buttons answer the menu
    await person.press(new[0].buttons()[0][0])
    assert len(person.messages()) > before + 1


async def test_the_reply_goes_before_the_cosmetic_edit(fake, person, invite):
    await person.say(f"/start {invite}")
    welcome = person.keyboard_message()
    await person.press("Ja, ik doe mee")
    await fake.wait_for_async(lambda: [m for m in person.messages()
                                       if m.message_id == welcome.message_id][0].edits, TIMEOUT)
    calls = [method for method, status in _chat_calls(fake) if status == 200]
    # /start: the welcome; the press: the role question first, then "✅ Jouw keuze"
    assert calls == ["sendMessage", "sendMessage", "editMessageText"], calls


def test_coalesce_joins_plain_texts_before_the_prompt_and_nothing_else():
    from bot.engine.messages import Choice, Reply
    from bot.transports.telegram import TEXT_LIMIT, coalesce, joined_reply

    intro = Reply("Thema 2: Samen werken")
    question = Reply("Hoe vaak?", expects="scale", scale_labels=("nooit", "heel vaak"),
                     prompt_token="t1", is_prompt=True)
    runs = coalesce([intro, question])
    assert [len(r) for r in runs] == [2]
    joined = joined_reply(runs[0])
    assert joined.text == "Thema 2: Samen werken\n\nHoe vaak?\n\n1 = nooit, 5 = heel vaak"
    assert joined.expects == "scale" and joined.prompt_token == "t1" and joined.is_prompt
    # a reply with buttons ends a run; attachments, other chats and too long texts stay apart
    menu = Reply("Wat wil je doen?", choices=[Choice("Verder", "verder")])
    assert [len(r) for r in coalesce([menu, intro, question])] == [1, 2]
    chart = Reply("Grafiek", image=("c.png", b"png"))
    assert [len(r) for r in coalesce([intro, chart])] == [1, 1]
    assert [len(r) for r in coalesce([Reply("x", chat_id="-100"), question])] == [1, 1]
    long = Reply("a" * (TEXT_LIMIT - 5))
    assert [len(r) for r in coalesce([long, question])] == [1, 1]
    assert joined_reply([question]) is question
