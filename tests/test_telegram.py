"""The Telegram transport against the fake Bot API (real HTTP on 127.0.0.1, in-process)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from telegram import Bot, Update
from telegram.request import HTTPXRequest

from bot.engine.flows import load_dialogues
from bot.engine.messages import Choice, Link, Reply
from bot.transports import telegram as tg
from bot.transports.telegram import (
    RetryAfter,
    TelegramSender,
    TelegramTransport,
    TransientError,
    Unreachable,
    build_keyboard,
    callback_data,
    deep_link,
    parse_callback_data,
    split_text,
)
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import TIMEOUT, Person, settings_for

USER = 4242
STALE = load_dialogues().text("stale_button")


@pytest.fixture
def fake():
    with FakeBotAPI(token="987654:AAE-secret-token-value-x1234567890ab") as server:
        yield server


@pytest.fixture
def team(store):
    team_id = store.create_team("Wijkteam Noord")
    return team_id, store.create_invite(team_id)


@pytest.fixture
async def transport(fake, engine):
    t = TelegramTransport(engine, settings_for(fake), poll_timeout=1)
    await t.start()
    yield t
    await t.stop()


@pytest.fixture
def person(fake, transport):
    return Person(fake, USER)


async def onboard(person: Person, token: str, role: str = "Professional (uitvoering)") -> None:
    await person.say(f"/start {token}")
    await person.press("Ja, ik doe mee")
    await person.press(role)
    assert person.last().text.endswith("Wat wil je doen?"), person.transcript()


def conv(store, chat_id: int = USER):
    return store.load_conversation("telegram", str(chat_id))


# -- rendering (no network) ------------------------------------------------------------------


def test_scale_is_one_row_of_five_with_prompt_token():
    markup = build_keyboard(Reply("Hoe gaat het?", expects="scale", prompt_token="12",
                                  choices=[Choice(str(n), str(n)) for n in range(1, 6)]))
    assert len(markup.inline_keyboard) == 1
    row = markup.inline_keyboard[0]
    assert [b.text for b in row] == ["1", "2", "3", "4", "5"]
    assert [b.callback_data for b in row] == [f"12|{n}" for n in range(1, 6)]
    # a scale without explicit choices still gets its five buttons
    bare = build_keyboard(Reply("?", expects="scale", prompt_token="3"))
    assert [b.callback_data for b in bare.inline_keyboard[0]] == [f"3|{n}" for n in range(1, 6)]


def test_choices_one_per_row_and_links_as_url_buttons():
    reply = Reply("Kies", expects="choice", prompt_token="4",
                  choices=[Choice("Ja, ik doe mee", "ja"), Choice("Nee, liever niet", "nee")],
                  links=[Link("Naar de privéchat", "private:"),
                         Link("Uitnodiging", "private:abc_123"),
                         Link("Dashboard", "https://dashboard.example/login")])
    rows = build_keyboard(reply, "teamspiegel_bot").inline_keyboard
    assert [[b.text for b in row] for row in rows] == [
        ["Ja, ik doe mee"], ["Nee, liever niet"], ["Naar de privéchat"], ["Uitnodiging"],
        ["Dashboard"]]
    assert [rows[0][0].callback_data, rows[1][0].callback_data] == ["4|ja", "4|nee"]
    assert rows[2][0].url == "https://t.me/teamspiegel_bot"
    assert rows[3][0].url == "https://t.me/teamspiegel_bot?start=abc_123"
    assert rows[4][0].url == "https://dashboard.example/login"
    assert build_keyboard(Reply("Alleen tekst")) is None


def test_callback_data_stays_within_64_bytes_and_round_trips():
    for token, value in [("1", "ja"), ("123456", "samenhang-1"), ("99", "x" * 70),
                         ("7", "één-thema-" * 8), (None, "go:resume")]:
        data = callback_data(token, value, 2)
        assert 1 <= len(data.encode()) <= 64, data
        parsed_token, parsed_value, text = parse_callback_data(data)
        if len(f"{token}|{value}".encode()) <= 64:
            assert (parsed_token, parsed_value) == (token, value)
        else:  # too long: the choice's number, resolved by the engine against the prompt
            assert (parsed_token, parsed_value, text) == (token, None, "3")
    # global buttons of scheduled messages carry no prompt token
    assert callback_data("8", "tip:2026-03:4", 3) == "|tip:2026-03:4"
    assert parse_callback_data("|tip:2026-03:4") == (None, "tip:2026-03:4", "tip:2026-03:4")
    assert parse_callback_data("5|go:tour") == (None, "go:tour", "go:tour")
    assert parse_callback_data("zonder-streep") == (None, "zonder-streep", "zonder-streep")


def test_split_text_on_paragraphs_then_lines_then_hard():
    p = ["a" * 2000, "b" * 2000, "c" * 2000]
    assert split_text("\n\n".join(p)) == [p[0] + "\n\n" + p[1], p[2]]
    lines = "\n".join(f"{i:03d} " + "x" * 95 for i in range(100))  # one paragraph, 10k chars
    parts = split_text(lines)
    assert all(len(part) <= 4096 for part in parts) and len(parts) == 3
    assert all(part.startswith(tuple("0123456789")) for part in parts)  # cut at line ends
    assert "\n".join(parts) == lines
    hard = "z" * 10_000
    assert [len(part) for part in split_text(hard)] == [4096, 4096, 1808]
    emoji = "😀" * 3000  # 6,000 UTF-16 units: Telegram's measure
    parts = split_text(emoji)
    assert "".join(parts) == emoji and all(len(x.encode("utf-16-le")) // 2 <= 4096
                                           for x in parts)
    assert split_text("kort") == ["kort"]


def test_deep_link():
    assert deep_link("teamspiegel_bot", "Ab-12_x") == "https://t.me/teamspiegel_bot?start=Ab-12_x"
    assert deep_link("@teamspiegel_bot", "") == "https://t.me/teamspiegel_bot"


async def test_long_reply_is_split_with_keyboard_on_last_part(fake):
    paragraphs = [f"Alinea {i}. " + "woord " * 300 for i in range(6)]  # ~11k characters
    reply = Reply("\n\n".join(paragraphs), expects="choice", prompt_token="5",
                  choices=[Choice("Verder", "verder")])
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        sent = await tg.send_reply(bot, USER, reply, username=bot.username)
    seen = fake.sent_to(USER)
    assert len(sent) == len(seen) >= 3
    assert all(len(m.text) <= 4096 for m in seen)
    assert [bool(m.callback_data()) for m in seen] == [False] * (len(seen) - 1) + [True]
    assert "\n\n".join(m.text for m in seen) == reply.text
    assert all(m.text.startswith("Alinea") for m in seen)  # split between paragraphs


async def test_image_and_document_with_caption_and_keyboard(fake):
    chart = Reply("Jullie team, thema 3", image=("grafiek.png", b"\x89PNG fake"),
                  expects="choice", prompt_token="9", choices=[Choice("Menu", "menu")])
    long_caption = Reply("x" * 1500, document=("export.json", b"{}", "application/json"))
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        await tg.send_reply(bot, USER, chart, username=bot.username)
        await tg.send_reply(bot, USER, long_caption, username=bot.username)
    photo, text, document = fake.sent_to(USER)
    assert (photo.kind, photo.caption, photo.callback_data()) == (
        "photo", "Jullie team, thema 3", ["9|menu"])
    assert (text.kind, text.text) == ("text", "x" * 1500)  # too long for a caption
    assert document.kind == "document" and document.caption is None
    assert fake.calls("sendDocument")[0].files["document"] == b"{}"


# -- the whole bot through the fake Bot API -----------------------------------------------------


async def test_set_my_commands_for_private_chats_and_groups(fake, transport, engine):
    private = fake.commands({"type": "all_private_chats"})
    group = fake.commands({"type": "all_group_chats"})
    specs = engine.dialogues.commands.commands
    assert [c["command"] for c in private] == list(specs)
    assert {c["command"] for c in group} == {n for n, s in specs.items() if s.group}
    assert {"koppel", "help", "start", "privacy", "gesprek"} == {c["command"] for c in group}
    assert dict((c["command"], c["description"]) for c in private)["vergeet"] == (
        "al je gegevens wissen")


async def test_onboarding_with_invite_and_buttons(fake, person, store, team):
    team_id, token = team
    await person.say(f"/start {token}")
    welcome = person.last()
    assert welcome.text.startswith("Hoi! Ik ben Teamspiegel")
    assert welcome.buttons() == [["Ja, ik doe mee"], ["Nee, liever niet"]]
    await person.press("Ja, ik doe mee")
    assert person.last().text == "Wat is je rol?"
    await person.press("Teamleider of manager")
    # the welcome and the menu: one message (one turn's replies are joined)
    assert person.last().text == "Welkom bij Wijkteam Noord!\n\nWat wil je doen?"
    member_id = store.member_id("telegram", str(USER))
    member = store.get_member(member_id)
    assert member["consent_at"] and member["display_name"] is None  # no names stored
    assert store.role_in_team(member_id, team_id) == "manager"
    assert conv(store).state == "menu.main"
    # every button press was answered, exactly once
    callbacks = [c for c in fake.calls("answerCallbackQuery")]
    assert len(callbacks) == 2 and all(c.status == 200 for c in callbacks)


async def test_button_press_edits_message_and_removes_keyboard(fake, person, store, team):
    await onboard(person, team[1])
    await person.press("Hele ronde (10 thema's)")
    question = person.keyboard_message()
    assert question.buttons() == [["1", "2", "3", "4", "5"]]
    assert "1 = helemaal niet, 5 = helemaal wel" in question.text
    await person.press("4")
    assert person.last().text.startswith("Wil je dit toelichten?")  # the reply comes first
    # the edit is cosmetic: it follows the reply, in a slot no reply needs
    [edited] = await fake.wait_for_async(lambda: [
        m for m in person.messages() if m.message_id == question.message_id and m.edits], TIMEOUT)
    assert edited.text == question.text + "\n\n✅ Jouw keuze: 4"
    assert edited.reply_markup is None and edited.edits == 1
    assert person.last().text.startswith("Wil je dit toelichten?")
    run = store.latest_run(store.member_id("telegram", str(USER)))
    [answer] = store.run_answers(run["id"]).values()
    assert answer["scale"] == 4
    answered = len(fake.callback_answers())
    assert answered == len(fake.calls("answerCallbackQuery")) == 4


async def test_stale_button_gets_notice_and_changes_nothing(fake, person, store, team):
    await person.say(f"/start {team[1]}")
    welcome_id, yes = person.press_data("Ja, ik doe mee")
    await person.press("Ja, ik doe mee")
    role_id, professional = person.press_data("Professional (uitvoering)")
    await person.press("Professional (uitvoering)")
    before = (conv(store).state, conv(store).prompt_seq, len(person.messages()))
    snapshot = [(m.message_id, m.text, m.reply_markup) for m in person.messages()]
    # the old buttons are gone from the chat, but a client may still send a press
    await person._apushed(fake.push_callback(USER, professional, role_id))
    await person._apushed(fake.push_callback(USER, yes, welcome_id))
    assert fake.callback_answers()[-1].get("text") == STALE
    assert fake.callback_answers()[-2].get("text") == STALE
    assert (conv(store).state, conv(store).prompt_seq, len(person.messages())) == before
    assert [(m.message_id, m.text, m.reply_markup) for m in person.messages()] == snapshot
    assert store.role_in_team(store.member_id("telegram", str(USER)), team[0]) == (
        "professional")


@pytest.mark.parametrize("kind,what", [("photo", "Foto's"), ("sticker", "Stickers"),
                                       ("voice", "Spraakberichten"),
                                       ("location", "Locaties"), ("document", "Bestanden")])
async def test_media_gets_a_friendly_dutch_answer_and_state_is_kept(person, store, team, kind,
                                                                   what):
    await onboard(person, team[1])
    before = conv(store)
    await person.send(kind)
    assert person.last().text == (f"Ik kan alleen tekst lezen. {what} bewaar ik niet. "
                                  "Typ je antwoord of kies een optie.")
    after = conv(store)
    assert (after.state, after.prompt_seq, after.context) == (
        before.state, before.prompt_seq, before.context)


async def test_typed_answer_closes_the_old_keyboard(fake, person, team):
    await onboard(person, team[1])
    menu = person.keyboard_message()
    await person.say("2")  # the menu's second option (always the whole round), typed
    assert person.keyboard_message().buttons() == [["1", "2", "3", "4", "5"]]
    # after the reply (cosmetic, in a slot no reply needs): no second live keyboard
    await fake.wait_for_async(lambda: [m for m in person.messages()
                                       if m.message_id == menu.message_id][0].edits, TIMEOUT)
    old = [m for m in person.messages() if m.message_id == menu.message_id][0]
    assert old.reply_markup is None


async def test_tip_button_from_a_scheduled_message_is_accepted(fake, transport, person, store,
                                                             team):
    from bot.content import get_content
    from bot.schedule.tips import tip_replies

    await onboard(person, team[1])
    tip = get_content().kalender.tip_for_month(3)
    await transport.sender.send(str(USER), tip_replies(tip, "2026-03", group=False,
                                                       source_line="Bron"), is_group=False)
    scale = person.keyboard_message()
    await person.press("4")
    [edited] = await fake.wait_for_async(lambda: [
        m for m in person.messages() if m.message_id == scale.message_id and m.edits], TIMEOUT)
    assert edited.reply_markup is None and edited.text.endswith("✅ Jouw keuze: 4")
    assert person.last().text.startswith("Dank je!")
    [reaction] = store.tip_reactions(team[0])
    assert (reaction["period"], reaction["scale"]) == ("2026-03", 4)


async def test_edited_text_answer_updates_stored_answer(fake, person, store, team):
    await onboard(person, team[1])
    await person.press("Hele ronde (10 thema's)")
    await person.press("2")
    text_message_id = person.last().message_id + 1  # message ids are shared per chat
    await person.say("We praten te weinig met beleid.")
    assert person.last().text.startswith("Mag je tekst anoniem gedeeld worden")
    run = store.latest_run(store.member_id("telegram", str(USER)))
    [answer] = store.run_answers(run["id"]).values()
    assert (answer["scale"], answer["text"]) == (2, "We praten te weinig met beleid.")
    await person._apushed(fake.push_edited_message(USER, text_message_id,
                                                   "We praten te weinig met wethouders."))
    assert person.last().text == "Je aangepaste antwoord is opgeslagen."
    [answer] = store.run_answers(run["id"]).values()
    assert (answer["scale"], answer["text"]) == (2, "We praten te weinig met wethouders.")


async def test_export_is_sent_as_a_json_document(fake, person, team):
    await onboard(person, team[1])
    await person.say("/mijngegevens")
    [call] = fake.calls("sendDocument")
    assert call.params["caption"] == "Hier is alles wat ik van je bewaar."
    data = json.loads(call.files["document"])
    assert data["over_jou"]["gebruikers_id"] == str(USER) and data["uitleg"]


async def test_forbidden_on_reply_marks_member_unreachable(fake, person, store, team):
    await onboard(person, team[1])
    member_id = store.member_id("telegram", str(USER))
    assert store.get_member(member_id)["unreachable_at"] is None
    fake.block_chat(USER)
    await person.say("/help")
    assert store.get_member(member_id)["unreachable_at"]
    forbidden = [c for c in fake.calls("sendMessage", USER) if c.status == 403]
    assert len(forbidden) == 1  # not retried


async def test_blocking_the_bot_marks_unreachable_and_unblocking_clears(fake, person, store,
                                                                       team):
    await onboard(person, team[1])
    member_id = store.member_id("telegram", str(USER))
    await person.send("my_chat_member", status="kicked")
    assert store.get_member(member_id)["unreachable_at"]
    await person.send("my_chat_member", status="member")
    assert store.get_member(member_id)["unreachable_at"] is None


async def test_flood_and_server_errors_on_replies_are_retried(fake, person, team):
    await onboard(person, team[1])
    fake.flood_next(1, retry_after=1, method="sendMessage", chat_id=USER)
    fake.error_next(1, status=502, method="sendMessage", chat_id=USER)
    await person.say("/help")
    # the help and the menu again: one message (one turn), after two retries
    assert person.last().text.startswith("Zo werk ik:")
    assert person.last().text.endswith("Wat wil je doen?")
    statuses = [c.status for c in fake.calls("sendMessage", USER)][-3:]
    assert statuses == [429, 502, 200]


async def test_replayed_update_is_not_handled_twice(fake, person, store, team, transport):
    await onboard(person, team[1])
    update_id = await person.press("Hele ronde (10 thema's)")
    raw = next(u for c in fake.calls("getUpdates") for u in (c.response or {}).get("result", [])
               if u["update_id"] == update_id)
    seen = len(person.messages())
    state = (conv(store).state, conv(store).prompt_seq)
    runs = store._all("SELECT COUNT(*) AS n FROM runs")[0]["n"]
    await transport.process_updates([Update.de_json(raw, transport.bot)])  # re-delivered
    assert len(person.messages()) == seen
    assert (conv(store).state, conv(store).prompt_seq) == state
    assert store._all("SELECT COUNT(*) AS n FROM runs")[0]["n"] == runs == 1


async def test_group_linking_only_by_owner_and_other_messages_ignored(fake, transport, store,
                                                                    engine, team):
    from bot.app import install_invite_links

    install_invite_links(engine, [transport])
    team_id, token = team
    group = -100777
    worker = store.get_or_create_member("telegram", "51")
    store.join_team(worker, team_id, "manager")  # answers as a manager: no right at all
    boss = Person(fake, 52)
    await onboard(boss, token, "Teamleider of manager")
    boss_id = store.member_id("telegram", "52")
    store.grant_access(team_id, boss_id, "owner", by=None, via="cli")
    helper = Person(fake, 51)
    await helper._apushed(fake.push_group_message(51, group, "hallo allemaal"))
    await helper._apushed(fake.push_photo(51, chat_id=group, chat_type="group"))
    assert fake.sent_to(group) == []  # people talk to each other here
    # the team's invite code links nothing any more (everyone in the group would see it)
    await helper._apushed(fake.push_group_message(52, group, f"/koppel {token}"))
    assert fake.last_message(group).text.startswith("Koppelen gaat nu anders")
    assert store.chat_team("telegram", str(group)) is None

    # the owner asks for a code in the private chat: a startgroup link (and its QR code)
    await boss.say("/koppel")
    [made] = [m for m in boss.messages() if m.kind == "photo"]
    assert "Koppelcode" in made.caption and boss.last().text.startswith("Beheer van")
    [[button]] = made.reply_markup["inline_keyboard"]
    prefix = "https://t.me/teamspiegel_test_bot?startgroup="
    assert button["url"].startswith(prefix)
    code = button["url"][len(prefix):]
    # someone else in the group tries it first: refused, and the code still works for the owner
    await helper._apushed(fake.push_group_message(51, group, f"/start@teamspiegel_test_bot {code}"))
    assert fake.last_message(group).text.startswith("Alleen een eigenaar")
    assert store.chat_team("telegram", str(group)) is None
    # Telegram sends "/start CODE" in the group the owner picked, from the owner
    await helper._apushed(fake.push_group_message(52, group, f"/start@teamspiegel_test_bot {code}"))
    assert fake.last_message(group).text == (
        "Deze groep is gekoppeld aan Wijkteam Noord. Hier komt voortaan de maandtip.")
    assert store.chat_team("telegram", str(group)) == team_id
    count = len(fake.sent_to(group))
    await helper._apushed(fake.push_group_message(52, group, "/help@een_andere_bot"))
    assert len(fake.sent_to(group)) == count  # meant for another bot
    await helper._apushed(fake.push_group_message(51, group, "/start"))
    last = fake.last_message(group)
    assert "privé" in last.text
    link = last.reply_markup["inline_keyboard"][0][0]
    assert link["url"] == "https://t.me/teamspiegel_test_bot"
    assert fake.sent_to(51) == []  # nothing was started in the private chat
    fake.block_chat(group)  # the bot was removed from the group: the person is not to blame
    await helper._apushed(fake.push_group_message(52, group, "/help"))
    assert store.get_member(boss_id)["unreachable_at"] is None


async def test_token_never_in_logs_even_on_errors(fake, engine, team, caplog):
    caplog.set_level(logging.DEBUG)
    t = TelegramTransport(engine, settings_for(fake), poll_timeout=1)
    fake.error_next(2, status=500, method="getUpdates")
    await t.start()
    names = ("httpx", "httpcore", "telegram", "bot")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)  # the worst case: everything on
    person = Person(fake, USER)
    try:
        fake.error_next(5, status=500, method="sendMessage", chat_id=USER)
        await person.say(f"/start {team[1]}")
        fake.block_chat(USER)
        await person.say("/help")
        fake.unblock_chat(USER)
        fake.error_next(1, status=400, method="sendMessage", description=f"Bad Request: {fake.token}")
        await person.say("/help")
    finally:
        await t.stop()
    broken = TelegramTransport(engine, settings_for(fake, telegram_base_url="http://127.0.0.1:9/bot"))
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the network error, no token
            await broken.start()
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    secret = fake.token.split(":")[1]
    assert "Calling Bot API endpoint" in caplog.text  # PTB did log its requests ...
    assert fake.token not in caplog.text and secret not in caplog.text  # ... without the token
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in (record.exc_text or "")
    assert "***" in caplog.text


async def test_webhook_requires_the_secret_header(fake, engine, team):
    secret = "webhook-secret-0123456789"
    settings = settings_for(fake, telegram_webhook_url="https://bot.example.test/tg/hook",
                            telegram_webhook_secret=secret)
    t = TelegramTransport(engine, settings)
    await t.start()
    try:
        assert fake.webhook["url"] == "https://bot.example.test/tg/hook"
        assert fake.webhook["secret_token"] == secret
        url = f"http://127.0.0.1:{t.webhook_port}/tg/hook"
        update = {"update_id": 5001, "message": {
            "message_id": 1, "date": 0, "chat": {"id": 77, "type": "private"},
            "from": {"id": 77, "is_bot": False, "first_name": "Sam"},
            "text": f"/start {team[1]}",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
        async with httpx.AsyncClient() as client:
            r = await client.post(url, json=update)
            assert r.status_code == 403
            r = await client.post(url, json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            assert r.status_code == 403
            assert fake.sent_to(77) == []
            r = await client.post(url, json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            assert r.status_code == 200
            # answered only after the update was handled: the reply is already there
            assert fake.last_message(77).text.startswith("Hoi! Ik ben Teamspiegel")
            r = await client.post(url, json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            assert r.status_code == 200 and len(fake.sent_to(77)) == 1  # a retry is dropped
    finally:
        await t.stop()


# -- the outbox sender -------------------------------------------------------------------------


async def test_sender_renders_and_maps_errors_without_retrying(fake, store):
    tip = Reply("Tip van de maand: vraag door.", expects="scale", scale_labels=("Niet", "Wel"),
                choices=[Choice(str(n), f"tip:2026-03:{n}") for n in range(1, 6)],
                links=[Link("Open de chat", "private:")])
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        sender = TelegramSender(bot)
        assert sender.platform == "telegram"
        message_id = await sender.send(str(USER), [tip], is_group=False)
        sent = fake.last_message(USER)
        assert message_id == str(sent.message_id)
        assert sent.callback_data() == [f"|tip:2026-03:{n}" for n in range(1, 6)]
        assert sent.buttons()[1] == ["Open de chat"]
        assert "1 = Niet, 5 = Wel" in sent.text

        def attempts() -> int:
            return len(fake.calls("sendMessage", USER))

        fake.flood_next(1, retry_after=7, method="sendMessage")
        n = attempts()
        with pytest.raises(RetryAfter) as flood:
            await sender.send(str(USER), [tip], is_group=False)
        assert flood.value.seconds == 7 and attempts() == n + 1
        fake.error_next(1, status=500, method="sendMessage")
        with pytest.raises(TransientError):
            await sender.send(str(USER), [tip], is_group=False)
        assert attempts() == n + 2
        fake.block_chat(USER)
        with pytest.raises(Unreachable):
            await sender.send(str(USER), [tip], is_group=False)
        assert attempts() == n + 3
        fake.unblock_chat(USER)
        fake.error_next(1, status=400, method="sendMessage",
                        description="Bad Request: chat not found")
        with pytest.raises(Unreachable):
            await sender.send(str(USER), [tip], is_group=False)
        # the second reply fails: the first one counts as sent
        fake.add_fault(None, count=1, method="sendMessage", chat_id=USER)  # the first passes
        fake.error_next(1, status=502, method="sendMessage", chat_id=USER)
        with pytest.raises(TransientError) as partly:
            await sender.send(str(USER), [Reply("Eén"), Reply("Twee")], is_group=False)
        assert partly.value.sent == 1 and not partly.value.maybe_delivered


async def test_sender_sends_the_monthly_tip_privately_and_to_a_group(fake, store):
    from bot.content import get_content
    from bot.schedule.tips import tip_replies

    tip = get_content().kalender.tip_for_month(3)
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        sender = TelegramSender(bot)
        assert sender.private_link("tip-2026-03") == "private:tip-2026-03"  # name unknown yet
        private = tip_replies(tip, "2026-03", group=False, source_line="Bron")
        assert len(private) == 1  # one message: a tip never arrives half
        await sender.send(str(USER), private, is_group=False)
        link = sender.private_link("tip-2026-03")
        assert link == "https://t.me/teamspiegel_test_bot?start=tip-2026-03"
        group = tip_replies(tip, "2026-03", group=True, private_link=link, source_line="Bron")
        message_id = await sender.send("-100555", group, is_group=True)
    (scale,) = fake.sent_to(USER)
    assert scale.text.startswith("💡 Tip van maart")
    assert "Hoe herkenbaar is dit voor jullie?" in scale.text
    assert scale.callback_data() == [f"|tip:2026-03:{n}" for n in range(1, 6)]
    assert len(scale.buttons()) == 1  # one row
    (in_group,) = fake.sent_to(-100555)
    assert in_group.text.startswith("💡 Tip van maart")
    assert message_id == str(in_group.message_id)
    assert in_group.reply_markup["inline_keyboard"][0][0]["url"] == link


def test_a_tip_too_long_for_one_message_is_split_in_two():
    from bot.content import get_content
    from bot.schedule.tips import tip_replies

    tip = get_content().kalender.tip_for_month(3)
    whole = tip_replies(tip, "2026-03", group=False, source_line="Bron")
    assert len(whole) == 1 and whole[0].expects == "scale"
    limit = len(whole[0].text)  # a platform with a smaller limit than this tip
    first, second = tip_replies(tip, "2026-03", group=False, source_line="Bron", limit=limit)
    assert first.text.startswith("💡 Tip van maart") and first.expects == "none"
    assert second.expects == "scale" and second.prompt_token == "tip:2026-03"
    assert (first.text + "\n\n" + second.text) == whole[0].text


async def test_sender_timeout_means_maybe_delivered(fake, store):
    slow = HTTPXRequest(read_timeout=0.3)
    async with Bot(fake.token, base_url=fake.base_url, request=slow) as bot:
        fake.add_fault(None, count=1, method="sendMessage", delay=1.0, deliver_first=True)
        with pytest.raises(TransientError) as timed_out:
            await TelegramSender(bot).send(str(USER), [Reply("Hallo")], is_group=False)
        assert timed_out.value.maybe_delivered
        assert fake.last_message(USER).text == "Hallo"  # it did arrive


# -- a side trip (issue 10): after a tip reaction the question's buttons still work ----------------------------


async def test_tip_reaction_keeps_the_questions_buttons(fake, person, store, team):
    """On Telegram the question's keyboard stays while the person reacts to the tip, and after
    the thanks its buttons answer the question (a side trip leaves the prompt open)."""
    from bot.content import get_content
    from bot.schedule.tips import tip_replies

    await onboard(person, team[1])
    await person.press("Hele ronde (10 thema's)")
    question = person.keyboard_message()
    assert question.buttons() == [["1", "2", "3", "4", "5"]]
    tip = get_content().kalender.tip_for_month(3)
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        await TelegramSender(bot).send(
            str(person.user_id), tip_replies(tip, "2026-03", group=False, source_line="Bron"),
            is_group=False)
    scale = person.keyboard_message()
    await person._apushed(fake.push_callback(person.user_id, "|tip:2026-03:4", scale.message_id))
    assert person.last().text == t_tg("tip_thanks")
    await person.press("Klaar")
    assert person.last().text == t_tg("tip_done")  # only the thanks, nothing shown again
    [still] = [m for m in person.messages() if m.message_id == question.message_id]
    assert still.buttons() == [["1", "2", "3", "4", "5"]]
    data = still.callback_data()[1]
    await person._apushed(fake.push_callback(person.user_id, data, question.message_id))
    assert person.last().text.startswith("Wil je dit toelichten?"), person.transcript()
    run = store.latest_run(store.member_id("telegram", str(person.user_id)))
    [answer] = store.run_answers(run["id"]).values()
    assert answer["scale"] == 2


def t_tg(key: str) -> str:
    return load_dialogues().text(key)
