"""The fake Telegram Bot API, exercised with real python-telegram-bot and raw HTTP."""

import asyncio
import datetime as dtm
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakes.fake_bot_api import FakeBotAPI
from tests.waiting import PATIENCE

REPO = Path(__file__).resolve().parent.parent
USER = 4242


@pytest.fixture
def fake():
    with FakeBotAPI() as server:
        yield server


def make_bot(fake: FakeBotAPI, **kwargs) -> Bot:
    return Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url, **kwargs)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in pairs]])


async def test_bot_sends_edits_and_answers_callbacks(fake):
    async with make_bot(fake) as bot:
        assert bot.username == "teamspiegel_test_bot"  # initialize() called getMe
        sent = await bot.send_message(USER, "<b>Hoe</b> ging het?", parse_mode="HTML",
                                      reply_markup=keyboard(("Goed", "ok"), ("Matig", "meh")))
        assert sent.text == "Hoe ging het?"
        assert sent.chat.id == USER and sent.from_user.is_bot
        assert sent.reply_markup.inline_keyboard[0][1].callback_data == "meh"

        fake.push_message(USER, "hallo")
        update_id = fake.push_callback(USER, "meh")  # pressed on the bot's last message
        updates = await bot.get_updates()
        assert [u.update_id for u in updates][-1] == update_id
        query = updates[-1].callback_query
        assert query.data == "meh" and query.message.message_id == sent.message_id
        assert updates[0].message.message_id == sent.message_id + 1  # ids shared per chat

        assert await bot.answer_callback_query(query.id, text="Dank!")
        with pytest.raises(BadRequest, match="(?i)query is too old"):
            await bot.answer_callback_query(query.id)  # only once, like Telegram
        assert fake.callback_answers()[0]["text"] == "Dank!"

        edited = await bot.edit_message_text("Dank je!", chat_id=USER,
                                             message_id=sent.message_id,
                                             reply_markup=keyboard(("Opnieuw", "again")))
        assert edited.text == "Dank je!"
        with pytest.raises(BadRequest, match="(?i)not modified"):
            await bot.edit_message_reply_markup(USER, sent.message_id,
                                                reply_markup=keyboard(("Opnieuw", "again")))
        await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=None)

    [seen] = fake.sent_to(USER)  # what the user sees: one message, edited twice
    assert (seen.text, seen.reply_markup, seen.edits) == ("Dank je!", None, 2)
    assert fake.transcript(USER) == ["bot: Dank je!", "user: hallo"]
    assert [c.method for c in fake.calls()][:2] == ["getMe", "sendMessage"]
    assert fake.calls("sendMessage")[0].params["parse_mode"] == "HTML"


async def test_uploads_commands_and_validation(fake):
    async with make_bot(fake) as bot:
        doc = await bot.send_document(USER, b"a;b\n1;2\n", filename="scores.csv",
                                      caption="Resultaten")
        assert doc.document.file_name == "scores.csv" and doc.caption == "Resultaten"
        photo = await bot.send_photo(USER, b"\x89PNG fake", caption="grafiek")
        assert photo.photo[-1].width == 800
        assert fake.calls("sendDocument")[0].files["document"] == b"a;b\n1;2\n"
        file = await bot.get_file(doc.document.file_id)
        assert await file.download_as_bytearray() == b"a;b\n1;2\n"

        await bot.set_my_commands([("start", "Begin"), ("help", "Hulp")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
        await bot.delete_my_commands()
        assert await bot.get_my_commands() == ()
        assert await bot.send_chat_action(USER, "typing")

        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(USER, "1 < 2 <i>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)message is too long"):
            await bot.send_message(USER, "x" * 4097)
        with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
            await bot.send_message(USER, "x", reply_markup=keyboard(("a", "d" * 65)))
    assert fake.delivered_counts() == {USER: 2}


async def test_user_update_kinds_parse_in_ptb(fake, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.push_photo(USER, caption="foto")
    fake.push_document(USER, file_name="notulen.pdf")
    fake.push_voice(USER, duration=4)
    fake.push_sticker(USER)
    fake.push_location(USER)
    first = fake.push_message(USER, "eerst", first_name="Anne")
    fake.push_edited_message(USER, 6, "daarna")
    fake.push_group_message(USER, -100, "/start@teamspiegel_test_bot")
    fake.push_my_chat_member(USER, "kicked")
    async with make_bot(fake) as bot:
        updates = await bot.get_updates()
        assert updates[0].message.photo[-1].file_size > 0
        assert updates[1].message.document.file_name == "notulen.pdf"
        assert updates[2].message.voice.duration == dtm.timedelta(seconds=4)
        assert updates[3].message.sticker.emoji == "👍"
        assert updates[4].message.location.latitude == pytest.approx(52.0907)
        assert updates[5].update_id == first and updates[5].effective_user.first_name == "Anne"
        assert updates[6].edited_message.text == "daarna"
        group = updates[7].message
        assert group.chat.type == "group" and group.entities[0].length == 27
        assert updates[8].my_chat_member.new_chat_member.status == "kicked"
        with pytest.raises(Forbidden, match="(?i)blocked by the user"):
            await bot.send_message(USER, "nog daar?")


async def test_offset_confirms_and_long_poll_wakes(fake):
    async with make_bot(fake) as bot:
        first = fake.push_message(USER, "een")
        fake.push_message(USER, "twee")
        assert len(await bot.get_updates()) == 2
        assert len(await bot.get_updates()) == 2  # not confirmed yet: delivered again
        assert [u.message.text for u in await bot.get_updates(offset=first + 1)] == ["twee"]
        assert fake.pending_updates()[0]["update_id"] == first + 1
        assert await bot.get_updates(offset=first + 2) == ()
        assert fake.pending_updates() == []

        # a long poll far longer than the test may wait: only a wake-up answers it in time
        poll = asyncio.create_task(bot.get_updates(offset=first + 2, timeout=int(10 * PATIENCE)))
        await fake.wait_for_async(lambda: (c := fake.calls("getUpdates")) and c[-1].status is None)
        threading.Thread(target=fake.push_message, args=(USER, "drie")).start()
        assert [u.message.text for u in await asyncio.wait_for(poll, PATIENCE)] == ["drie"]

        fake.push_message(USER, "vier")
        only_callbacks = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
        assert only_callbacks == ()


async def test_second_get_updates_terminates_the_first(fake):
    async with make_bot(fake) as bot, make_bot(fake) as other_instance:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        assert await other_instance.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="(?i)terminated by other getupdates"):
            await first


async def test_application_polling_commands_and_callbacks(fake):
    seen: list[int] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)
        await update.message.reply_text(f"Welkom bij team {context.args[0]}",
                                        reply_markup=keyboard(("Doe mee", "join")))

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)
        await update.callback_query.answer("Gelukt")
        await update.callback_query.edit_message_text("Je doet mee.")

    app = (Application.builder().token(fake.token).base_url(fake.base_url)
           .base_file_url(fake.base_file_url).build())
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    async with app:
        await app.updater.start_polling(timeout=2)
        await app.start()
        try:
            start_id = fake.push_command(USER, "start", "wijk-7")
            [welcome] = await fake.wait_for_messages_async(USER, 1)
            assert welcome.text == "Welkom bij team wijk-7"
            assert welcome.callback_data() == ["join"]
            press_id = fake.push_callback(USER, "join")
            await fake.wait_for_async(lambda: fake.last_message(USER).edits == 1)
        finally:
            await app.updater.stop()
            await app.stop()
    assert seen == [start_id, press_id]  # each update handled exactly once
    assert fake.pending_updates() == []  # PTB confirmed them (offset) when stopping
    assert fake.callback_answers()[0]["text"] == "Gelukt"
    assert fake.last_message(USER).text == "Je doet mee."
    assert fake.last_message(USER).reply_markup is None  # edit without markup drops it
    assert fake.calls("deleteWebhook")


async def test_injected_faults_surface_as_ptb_errors(fake, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with make_bot(fake) as bot:
        fake.flood_next(2, retry_after=7, method="sendMessage")
        for _ in range(2):
            with pytest.raises(RetryAfter) as flood:
                await bot.send_message(USER, "hallo")
            assert flood.value.retry_after == dtm.timedelta(seconds=7)
        await bot.send_message(USER, "hallo")  # the fault is used up

        fake.error_next(1, status=500, chat_id=USER)
        fake.error_next(1, status=502, method="sendMessage")
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(USER, "a")
        with pytest.raises(TelegramError, match="Bad Gateway"):
            await bot.send_message(USER + 1, "b")

        fake.block_chat(99)
        with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
            await bot.send_message(99, "c")
        fake.unblock_chat(99)
        await bot.send_message(99, "d")

        fake.delay_next(0.5, method="sendMessage")
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "traag", read_timeout=0.1)
        fake.delay_next(0.5, method="sendMessage", deliver_first=True)
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "traag maar verstuurd", read_timeout=0.1)
    assert [m.text for m in fake.sent_to(USER)] == ["hallo", "traag maar verstuurd"]
    # PTB hung up on both slow calls; the fake records that as status 499
    await fake.wait_for_async(lambda: [c.status for c in fake.calls("sendMessage")[-2:]]
                              == [499, 499], timeout=2)
    assert [c.status for c in fake.calls("sendMessage")][:3] == [429, 429, 200]
    stats = fake.stats()
    assert (stats["too_many_requests"], stats["server_errors"], stats["forbidden"]) == (2, 2, 1)

    with pytest.raises(InvalidToken):
        async with Bot("123:WRONG", base_url=fake.base_url):
            pass


async def test_rate_limit_refuses_the_31st_message_in_a_second(monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    with FakeBotAPI(rate_limit_per_second=30) as fake:
        async with make_bot(fake) as bot:
            for chat in range(1, 31):
                await bot.send_message(chat, "nieuwsbrief")
            with pytest.raises(RetryAfter) as flood:
                await bot.send_message(31, "nieuwsbrief")
            assert flood.value.retry_after >= dtm.timedelta(seconds=1)
            assert fake.last_message(31) is None  # refused, so not delivered
            assert len(fake.delivered_counts()) == 30 and not fake.duplicates()

            fake.set_rate_limit(per_second=None, per_chat_per_second=1)
            await bot.send_message(500, "een")
            with pytest.raises(RetryAfter):
                await bot.send_message(500, "twee")
            await bot.send_message(501, "een")


async def test_group_limit_refuses_the_21st_message_in_a_minute(monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    with FakeBotAPI(per_group_per_minute=20) as fake:
        async with make_bot(fake) as bot:
            for _ in range(20):
                await bot.send_message(-100, "teamoverleg")
            with pytest.raises(RetryAfter) as flood:
                await bot.send_message(-100, "te veel")
            assert flood.value.retry_after >= dtm.timedelta(seconds=50)
            await bot.send_message(-101, "een andere groep")
            for _ in range(25):  # private chats have no per-minute limit
                await bot.send_message(7, "prive")
            assert [m.text for m in fake.sent_to(-100)].count("teamoverleg") == 20


async def test_output_hook_sees_sends_and_edits(fake):
    seen: list[tuple[str, object, int]] = []
    fake.on_output = lambda method, chat, msg: seen.append((method, chat, msg["message_id"]))
    async with make_bot(fake) as bot:
        sent = await bot.send_message(42, "vraag")
        await bot.edit_message_text("vraag (beantwoord)", chat_id=42, message_id=sent.message_id)
    assert seen == [("sendMessage", 42, sent.message_id),
                    ("editMessageText", 42, sent.message_id)]


async def test_many_concurrent_requests(fake):
    chats, per_chat = 500, 4
    url = f"{fake.base_url}{fake.token}/sendMessage"

    async def send(session: aiohttp.ClientSession, chat: int, text: str) -> int:
        async with session.post(url, json={"chat_id": chat, "text": text}) as response:
            return (await response.json())["result"]["chat"]["id"] == chat and response.status

    # aiohttp, not httpx: httpx's pool slows to a crawl with thousands of queued requests
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        statuses = await asyncio.gather(*[send(session, chat, f"bericht {i}")
                                          for i in range(per_chat) for chat in range(1, chats + 1)])
    assert set(statuses) == {200}  # how fast: bench/, not here
    assert fake.delivered_counts() == {chat: per_chat for chat in range(1, chats + 1)}
    ids = [m.message_id for m in fake.sent_to(77)]
    assert ids == [1, 2, 3, 4]


def test_raw_http_errors_and_sync_waiting(fake):
    with httpx.Client(base_url=fake.url) as http:
        wrong = http.post("/bot123:WRONG/getMe")
        assert wrong.status_code == 401
        assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        unknown = http.post(f"/bot{fake.token}/sendHologram", data={"chat_id": 1})
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}

        def reply_later() -> None:
            time.sleep(0.1)
            http.post(f"/bot{fake.token}/sendMessage", data={"chat_id": 7, "text": "123"})

        threading.Thread(target=reply_later).start()
        [message] = fake.wait_for_messages(7, 1)
        assert message.text == "123"  # form values stay strings where Telegram has strings
        with pytest.raises(TimeoutError):
            fake.wait_for_messages(7, 2, timeout=0.1)


def test_control_api_from_another_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fake_bot_api", "--port", "0", "--token", "9:XY"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"listening on (\S+)", line).group(1)
        with httpx.Client(base_url=url, timeout=5) as http:
            pushed = http.post("/_control/updates", json=[
                {"kind": "command", "user_id": 5, "command": "start", "args": []},
                {"kind": "message", "user_id": 5, "text": "hoi", "first_name": "Bo"},
            ]).json()["result"]
            assert len(pushed) == 2
            # ... the bot under test, in yet another process, would poll like this:
            updates = http.post("/bot9:XY/getUpdates", json={"timeout": 1}).json()["result"]
            assert [u["message"]["text"] for u in updates] == ["/start", "hoi"]
            http.post("/bot9:XY/getUpdates", json={"offset": pushed[-1] + 1})
            sent = http.post("/bot9:XY/sendMessage", data={
                "chat_id": "5", "text": "Welkom",
                "reply_markup": '{"inline_keyboard": [[{"text": "Ja", "callback_data": "y"}]]}'})
            assert sent.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Ja"

            assert http.post("/_control/faults", json={
                "status": 429, "retry_after": 3, "method": "sendMessage"}).json()["ok"]
            flood = http.post("/bot9:XY/sendMessage", json={"chat_id": 5, "text": "x"})
            assert flood.status_code == 429
            assert flood.json()["parameters"] == {"retry_after": 3}

            calls = http.get("/_control/calls", params={"method": "sendMessage"}).json()
            assert [c["status"] for c in calls["result"]] == [200, 429]
            messages = http.get("/_control/messages", params={"chat_id": 5}).json()["result"]
            assert messages[0]["text"] == "Welkom"
            assert messages[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "y"
            stats = http.get("/_control/stats").json()["result"]
            assert stats["delivered_counts"] == {"5": 1}
            assert stats["too_many_requests"] == 1 and stats["pending_updates"] == 0
            assert http.post("/_control/updates", json={"kind": "nope"}).status_code == 400
            assert http.post("/_control/reset").json()["ok"]
            assert http.get("/_control/stats").json()["result"]["requests"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert proc.returncode == 0
