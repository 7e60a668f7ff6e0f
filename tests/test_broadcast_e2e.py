"""End to end: the monthly tip to 2,000 people through the real bot process, killed halfway.

A tmp database gets one team with 2,000 members, each with a private Telegram chat, and the
planner puts this month's tip (or, outside a tip window, last month's: see :func:`_plan`) in the
outbox. ``teamspiegel run`` drains it against the fake Bot API over real HTTP, with injected 429s
(``retry_after`` 1 s) and 502s. When about half of the messages are out the process gets SIGKILL,
and a new one finishes the job. Then every chat must hold exactly one tip (both of its messages,
in order), except the rows the restarted bot marked ``uncertain`` (in flight at the kill): those
chats got at most one tip, never more. No duplicates, no chat without its tip except those, and
``teamspiegel status`` shows the counts.

A small in-process variant (real HTTP, the dispatcher in this process) checks the state between
the two messages of a tip: pending with only the second message, never 'sending'.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot

from bot.schedule.calendar import tip_slot
from bot.schedule.dispatcher import Dispatcher, Limits
from bot.schedule.planner import iso, plan_due
from bot.store import Conversation, Store
from bot.transports.telegram import TelegramSender
from tests.fakes.fake_bot_api import FakeBotAPI

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TEAMSPIEGEL = str(Path(sys.executable).with_name("teamspiegel"))
TOKEN = "7000002:AAHx-broadcast-secret-token-abcdefghij"
MEMBERS = 2_000
FIRST_CHAT = 710_000_000  # private chat id = Telegram user id
FLOOD_EVERY, FLOOD_AT, ERROR_AT = 200, 7, 11  # one 429 and one 502 per 200 chats
CONCURRENCY = 24  # requests in flight at most (Dispatcher default, used by `teamspiegel run`)
DEADLINE = 75.0  # seconds for both runs together


def _db_rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(str(db), timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _seed(db: Path, members: int = MEMBERS) -> None:
    """One team, ``members`` members with a private chat each (through the Store API)."""
    store = Store(db, synchronous="OFF")
    try:
        with store.transaction():
            team = store.create_team("Wijkteam Broadcast")
            # no quarterly invite in this test, whatever day it runs (there is no store method
            # for the cadence: it is a column with a default)
            store.conn.execute("UPDATE teams SET reflection_cadence = 'none' WHERE id = ?",
                               (team,))
            for i in range(members):
                uid = str(FIRST_CHAT + i)
                member = store.get_or_create_member("telegram", uid, f"Collega {i}")
                store.set_consent(member)
                store.join_team(member, team, "professional")
                store.save_conversation(Conversation(None, "telegram", uid, member, "menu"))
    finally:
        store.close()


def _plan(db: Path, members: int = MEMBERS) -> dict[int, int]:
    """Plan the tip; returns chat id -> messages planned for it.

    ``teamspiegel run`` plans at its start with the real clock. When the real now is inside a
    tip window, the test plans with the same clock (the bot then finds the same dedup keys and
    adds nothing); otherwise with a moment just after last month's slot, which the bot's own
    plan leaves alone (it is past catch-up). Either way the rows must be due now.
    """
    store = Store(db, synchronous="OFF")
    try:
        now = datetime.now(UTC)
        result = plan_due(store, now, platforms=["telegram"])
        if result.counts["tip"]:
            # on a catch-up day outside working hours the rows would wait for working time
            with store.transaction():
                store.conn.execute("UPDATE outbox SET not_before = ? WHERE not_before > ?",
                                   (iso(now), iso(now)))
        else:
            first = now.replace(day=1)
            prev = first - timedelta(days=1)
            slot = tip_slot(prev.year, prev.month)
            assert slot is not None
            result = plan_due(store, slot + timedelta(minutes=1), platforms=["telegram"])
        assert result.counts == {"tip": members, "invite": 0, "reminder": 0}, result
        expected: collections.Counter[int] = collections.Counter()
        for chat_id, payload in store.conn.execute("SELECT chat_id, payload FROM outbox"):
            expected[int(chat_id)] += len(json.loads(payload))
        return dict(expected)
    finally:
        store.close()


def _env(db: Path, fake: FakeBotAPI | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "MATRIX_", "TEAMSPIEGEL_"))}
    env.update(TEAMSPIEGEL_DB=str(db), PYTHONUNBUFFERED="1",
               # plan once per start; fast limits so 4,000 messages take seconds
               TEAMSPIEGEL_TICK_SECONDS="3600", TEAMSPIEGEL_RATE_GLOBAL="400",
               TEAMSPIEGEL_RATE_CHAT="50")
    if fake is not None:
        env.update(TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_BASE_URL=fake.base_url)
    return env


def _start(db: Path, fake: FakeBotAPI, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:  # cwd: the tmp dir, so no developer's .env is read
        return subprocess.Popen([TEAMSPIEGEL, "run"], cwd=db.parent, env=_env(db, fake),
                                stdout=out, stderr=subprocess.STDOUT)


def _open_rows(db: Path) -> int:
    return _db_rows(db, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0]


def _outbox(db: Path) -> dict[int, tuple[str, int]]:
    """chat id -> (status, replies still in the row's payload)."""
    return {int(c): (s, len(json.loads(p)))
            for c, s, p in _db_rows(db, "SELECT chat_id, status, payload FROM outbox")}


def _status_line(text: str, period: str) -> dict[str, int]:
    """The counts of one ``soort/periode`` line of ``teamspiegel status``."""
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("soort/periode")).split()[1:]
    row = next(line for line in lines if line.startswith(f"tip {period} "))
    return dict(zip(head, map(int, row.split()[2:]), strict=True))


def test_broadcast_survives_sigkill_without_duplicates_or_losses(tmp_path: Path) -> None:
    started = time.monotonic()
    db = tmp_path / "teamspiegel.db"
    log = tmp_path / "bot.log"
    _seed(db)
    expected = _plan(db)
    assert len(expected) == MEMBERS and set(expected.values()) == {2}  # a tip = 2 messages
    total = sum(expected.values())
    period = _db_rows(db, "SELECT DISTINCT period FROM outbox")[0][0]

    flooded = [FIRST_CHAT + i + FLOOD_AT for i in range(0, MEMBERS, FLOOD_EVERY)]
    errored = [FIRST_CHAT + i + ERROR_AT for i in range(0, MEMBERS, FLOOD_EVERY)]
    procs: list[subprocess.Popen[bytes]] = []
    with FakeBotAPI(token=TOKEN) as fake:
        for chat in flooded:
            fake.add_fault(429, chat_id=chat, retry_after=1, method="sendMessage")
        for chat in errored:
            fake.add_fault(502, chat_id=chat, method="sendMessage")
        try:
            # run 1: killed once about half of the messages are out
            procs.append(_start(db, fake, log))
            fake.wait_for(lambda: fake.stats()["delivered"] >= total // 2
                          or procs[0].poll() is not None, timeout=45)
            assert procs[0].poll() is None, log.read_text()[-3000:]
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(10)
            delivered_at_kill = fake.stats()["delivered"]
            in_flight = _db_rows(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sending'")[0][0]
            assert delivered_at_kill < total, "the kill came too late to test anything"

            # run 2: finishes the broadcast, resends nothing that was in flight
            procs.append(_start(db, fake, log))
            deadline = started + DEADLINE
            while _open_rows(db) and time.monotonic() < deadline:
                assert procs[1].poll() is None, log.read_text()[-3000:]
                time.sleep(0.2)
            assert _open_rows(db) == 0, _db_rows(
                db, "SELECT status, COUNT(*) FROM outbox GROUP BY status")
            time.sleep(0.3)  # a late answer would still count as a delivery
            procs[1].send_signal(signal.SIGTERM)
            assert procs[1].wait(30) == 0, log.read_text()[-3000:]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)

        delivered = fake.delivered_counts()
        stats = fake.stats()
        send_calls = fake.calls("sendMessage")
        texts = {chat: [m.text or "" for m in fake.sent_to(chat)] for chat in expected}

    outbox = _outbox(db)
    uncertain = {c for c, (s, _) in outbox.items() if s == "uncertain"}
    by_status = collections.Counter(s for s, _ in outbox.values())
    partial = collections.Counter(delivered.get(c, 0) for c in uncertain)
    print(f"\n{MEMBERS} chats, {total} messages, killed at {delivered_at_kill} delivered, "
          f"{in_flight} rows in flight -> uncertain: {len(uncertain)} "
          f"(messages they got: {dict(sorted(partial.items()))}); outbox {dict(by_status)}; "
          f"fake {stats['by_status']}; {time.monotonic() - started:.1f} s")

    # every row ended sent, or uncertain when it was in flight at the kill; nothing else
    assert len(uncertain) == in_flight
    # only rows with a request out: at most the dispatcher's concurrency (24), not the rows
    # waiting between their two messages
    assert len(uncertain) <= CONCURRENCY
    assert set(by_status) <= {"sent", "uncertain"}, by_status
    assert by_status["sent"] == MEMBERS - len(uncertain)
    # zero duplicates: no chat got more than its one tip
    assert fake.duplicates(expected=2) == {}
    assert all(n <= expected.get(c, 0) for c, n in delivered.items())
    # zero losses: every sent row's chat got the whole tip, in order
    for chat, n in expected.items():
        if chat in uncertain:
            # one request was out: the row keeps what was not confirmed, that one included
            assert delivered.get(chat, 0) + outbox[chat][1] in (n, n + 1), (chat, texts[chat])
            continue
        assert delivered.get(chat, 0) == n, (chat, texts[chat])
        assert texts[chat][0].startswith("💡 Tip van"), texts[chat]
        assert "Hoe herkenbaar is dit voor jullie?" in texts[chat][1], texts[chat]
    assert sum(1 for c in expected if c not in delivered) <= len(uncertain)
    # the injected faults were met (a chat's first request takes its fault) and survived
    answered = {(int(c.params["chat_id"]), c.status) for c in send_calls}
    for chat in flooded:
        if chat not in uncertain:
            assert (chat, 429) in answered and delivered[chat] == 2
    for chat in errored:
        if chat not in uncertain:
            assert (chat, 502) in answered and delivered[chat] == 2
    assert stats["by_status"].get(429, 0) >= len(flooded) // 2
    assert stats["by_status"].get(502, 0) >= len(errored) // 2

    # the operator sees it all in `teamspiegel status`
    out = subprocess.run([TEAMSPIEGEL, "status"], capture_output=True, text=True,
                         cwd=tmp_path, env=_env(db), timeout=60)
    assert out.returncode == 0, out.stderr
    counts = _status_line(out.stdout, period)
    assert counts["sent"] == MEMBERS - len(uncertain)
    assert counts["uncertain"] == len(uncertain)
    assert counts["pending"] == counts["sending"] == counts["failed"] == 0
    if uncertain:
        assert f"Let op: {len(uncertain)} bericht(en) onzeker" in out.stdout
    assert TOKEN.split(":")[1] not in log.read_text()
    assert time.monotonic() - started < 90


async def test_between_its_two_messages_a_tip_is_not_in_flight(tmp_path: Path) -> None:
    """In process, real HTTP: while a row waits for the per-chat limit between its two messages,
    the outbox holds it as pending with only the second message, not as 'sending' (a crash then
    would make it 'uncertain', and a requeue would send the first message twice)."""
    members = 20
    db = tmp_path / "teamspiegel.db"
    _seed(db, members)
    expected = _plan(db, members)
    with FakeBotAPI(token=TOKEN) as fake:
        store = Store(db)
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            sender = TelegramSender(bot, store, bot_username="teamspiegel_test_bot")
            # one message per 4 s per chat: a wide window between the two messages of a tip
            dispatcher = Dispatcher(store, {"telegram": sender},
                                    Limits(global_per_second=1000, per_chat_per_second=0.25))
            stop = asyncio.Event()
            task = asyncio.create_task(dispatcher.run_forever(stop, tick_seconds=0.2))
            try:
                between: list[tuple] = []
                while fake.stats()["delivered"] <= members and not task.done():
                    rows = _db_rows(db, "SELECT status, payload FROM outbox")
                    if (fake.stats()["delivered"] == members
                            and all(status == "pending" for status, _ in rows)):
                        between = rows
                        break
                    await asyncio.sleep(0.02)
                assert between, "the rows stayed 'sending' between their two messages"
                assert all(len(json.loads(payload)) == 1 for _, payload in between)
                # and they go on from there, each message once
                while _open_rows(db) and not task.done():
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
            store.close()
        assert fake.delivered_counts() == expected
        assert _db_rows(db, "SELECT DISTINCT status FROM outbox") == [("sent",)]
