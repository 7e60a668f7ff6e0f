"""The lean HTTP layer under python-telegram-bot (issue 15: capacity): real HTTP to the fake Bot
API, and to a real socket that misbehaves. PTB's error path must keep working through it: a 429
is ``RetryAfter``, a 5xx a ``NetworkError``, a dropped connection a ``NetworkError``, a read
timeout a ``TimedOut`` that may have arrived, a pool timeout one that was never sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InputFile
from telegram import error as tg_error

from bot.channel import RetryAfter, TransientError, Uncertain
from bot.transports.telegram import delivery_error
from bot.transports.telegram_http import LeanRequest, NotSent
from tests.fakes.fake_bot_api import FakeBotAPI

USER = 4242


@pytest.fixture
def fake():
    with FakeBotAPI(token="424242:AAE-lean-http-token-value-x123456789") as server:
        yield server


def _bot(fake: FakeBotAPI, **options: float) -> Bot:
    return Bot(fake.token, base_url=fake.base_url, request=LeanRequest(**options),
               get_updates_request=LeanRequest(connections=1))


@pytest.fixture
async def bot(fake) -> AsyncIterator[Bot]:
    async with _bot(fake) as b:
        yield b


async def test_calls_keep_one_connection_and_read_the_answers(fake, bot):
    fake.push_message(USER, "hallo")
    [update] = await bot.get_updates(timeout=0)
    assert update.message.text == "hallo"
    for n in range(5):
        sent = await bot.send_message(USER, f"bericht {n}")
        assert sent.text == f"bericht {n}" and sent.chat.id == USER
    assert [m.text for m in fake.sent_to(USER)] == [f"bericht {n}" for n in range(5)]
    request = bot.request
    assert isinstance(request, LeanRequest) and len(request._idle) == 1  # reused, not 5
    # an upload goes through PTB's own layer and arrives too
    await bot.send_document(USER, InputFile(b"abc", filename="a.txt"), caption="bijlage")
    assert fake.sent_to(USER)[-1].caption == "bijlage"


async def test_a_429_is_retry_after(fake, bot):
    fake.add_fault(429, method="sendMessage", retry_after=3)
    with pytest.raises(tg_error.RetryAfter) as raised:
        await bot.send_message(USER, "te snel")
    assert isinstance(delivery_error(raised.value), RetryAfter)
    assert delivery_error(raised.value).seconds == 3
    await bot.send_message(USER, "nu wel")  # the connection is still good
    assert fake.sent_to(USER)[-1].text == "nu wel"


async def test_a_5xx_is_a_transient_network_error(fake, bot):
    fake.add_fault(502, method="sendMessage")
    with pytest.raises(tg_error.NetworkError) as raised:
        await bot.send_message(USER, "eerst niet")
    assert type(delivery_error(raised.value)) is TransientError
    await bot.send_message(USER, "dan wel")
    assert [m.text for m in fake.sent_to(USER)] == ["dan wel"]


async def test_a_read_timeout_may_have_arrived_and_a_pool_timeout_was_not_sent(fake):
    async with _bot(fake, connections=1, read_timeout=0.5, pool_timeout=0.2) as bot:
        fake.add_fault(None, method="sendMessage", delay=30, deliver_first=True)
        slow = asyncio.ensure_future(bot.send_message(USER, "traag"))
        await fake.wait_for_async(lambda: fake.calls("sendMessage"))
        # the only connection is busy: the next call waits for it, then gives up unsent
        with pytest.raises(tg_error.TimedOut) as unsent:
            await bot.send_message(USER, "nooit verstuurd")
        assert isinstance(unsent.value.__cause__, NotSent)
        assert type(delivery_error(unsent.value)) is TransientError
        with pytest.raises(tg_error.TimedOut) as raised:
            await slow
        assert not isinstance(raised.value.__cause__, NotSent)
        assert type(delivery_error(raised.value)) is Uncertain
        # the timed-out connection is not reused; a new one works
        sent = await bot.send_message(USER, "weer goed")
        assert sent.text == "weer goed"
    assert "nooit verstuurd" not in [m.text for m in fake.sent_to(USER)]


async def _serve(handle) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/bot"


async def test_a_dropped_connection_is_a_network_error_and_a_closed_idle_one_is_replaced():
    answers = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answers
        await reader.readuntil(b"\r\n\r\n")
        if answers == 0:  # the first request: drop the connection without an answer
            answers += 1
            writer.close()
            return
        body = b'{"ok":true,"result":true}'
        # an answer, then close the connection (a server ending an idle keep-alive)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        answers += 1
        writer.close()

    server, url = await _serve(handle)
    async with server:
        request = LeanRequest(read_timeout=5)
        await request.initialize()
        try:
            with pytest.raises(tg_error.NetworkError):
                await request.post(f"{url}T/deleteWebhook")
            assert await request.post(f"{url}T/deleteWebhook") is True
            await asyncio.sleep(0)  # let the close reach the client
            for _ in range(1000):  # until the client saw the close: waits for progress
                if not request._idle or not request._idle[0].usable(0, 1e9):
                    break
                await asyncio.sleep(0.01)
            assert await request.post(f"{url}T/deleteWebhook") is True  # a fresh connection
            assert answers == 3
        finally:
            await request.shutdown()


async def test_a_refused_connection_is_a_network_error():
    server, url = await _serve(lambda r, w: w.close())
    server.close()
    await server.wait_closed()
    request = LeanRequest(connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(tg_error.NetworkError) as raised:
            await request.post(f"{url}T/getMe")
        assert type(delivery_error(raised.value)) is TransientError
    finally:
        await request.shutdown()
