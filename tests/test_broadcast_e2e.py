"""End to end: the monthly tip through the real bot process against the fake Bot API (real HTTP).

A tmp database gets one team of members, each with a private Telegram chat, and the planner puts
this month's tip (or, outside a tip window, last month's: see :func:`_plan`) in the outbox; a tip
is ONE message. ``teamspiegel run`` drains it. No member may silently miss the tip:

* SIGKILL halfway, with injected 429s and 502s and requests hanging at the kill (some of them
  arrived, some not). Under ``TEAMSPIEGEL_UNCERTAIN=resend`` the restarted bot sends the rows
  that were in flight again: every member has the tip, a duplicate only where a request had
  arrived, and ``teamspiegel status`` counts them. Under ``hold`` they are reported as uncertain:
  every member has the tip except those, and nobody has it twice.
* Timeouts without any crash: each is sent again once after a pause, and counted.
* 40 people answer while the tip goes out and the fake enforces Telegram's 30 messages/s: no
  reply is dropped (they go ahead of the broadcast in the shared budget).

Waits depend on progress, not on the clock: a wait fails only when nothing moves for a long time.
A small in-process variant checks the state between the two messages of a multi-message row.
"""

from __future__ import annotations

import asyncio
import collections
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot

from bot.engine.flows import load_dialogues
from bot.engine.messages import Reply, reply_to_payload
from bot.schedule.calendar import tip_slot
from bot.schedule.dispatcher import Dispatcher, Limits
from bot.schedule.planner import iso, plan_due
from bot.store import Conversation, Store
from bot.transports.telegram import TelegramSender
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import TEAMSPIEGEL, bot_env
from tests.waiting import PATIENCE, wait_for_progress

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TOKEN = "7000002:AAHx-broadcast-secret-token-abcdefghij"
MEMBERS = 2_000
FIRST_CHAT = 710_000_000  # private chat id = Telegram user id
FLOOD_EVERY, FLOOD_AT, ERROR_AT = 200, 7, 11  # one 429 and one 502 per 200 chats
CONCURRENCY = 24  # requests in flight at most (Dispatcher default, used by `teamspiegel run`)
HANG = [FIRST_CHAT + 1020 + i for i in range(4)]  # requests out at the kill, never arrived
ARRIVED = [FIRST_CHAT + 1024 + i for i in range(4)]  # requests out at the kill, did arrive


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
                store.save_conversation(Conversation(None, "telegram", uid, member, "menu.main"))
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


def _env(db: Path, fake: FakeBotAPI | None = None, **extra: str) -> dict[str, str]:
    # fast limits so 2,000 messages take seconds
    return bot_env(db, fake, **{"TEAMSPIEGEL_RATE_GLOBAL": "400", "TEAMSPIEGEL_RATE_CHAT": "50",
                                **extra})


def _start(db: Path, fake: FakeBotAPI, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:  # cwd: the tmp dir, so no developer's .env is read
        return subprocess.Popen([TEAMSPIEGEL, "run"], cwd=db.parent,
                                env=_env(db, fake, **extra), stdout=out,
                                stderr=subprocess.STDOUT)


def _wait(progress: Callable[[], object], done: Callable[[], bool], what: str,
          proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Wait until ``done()``; fail only when ``progress()`` stops changing for a long time
    (tests/waiting.py), or when the bot process died."""

    def alive() -> None:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the bot exited while waiting for {what}:\n"
                                 + (log.read_text()[-3000:] if log else ""))

    def story() -> str:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)  # the bot logs what each task waits for
            time.sleep(1.0)
        return log.read_text()[-4000:] if log else ""

    wait_for_progress(progress, done, what, check=alive, on_stall=story)


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(PATIENCE) == 0, log.read_text()[-3000:]


def _status(db: Path, tmp_path: Path, **extra: str) -> str:
    out = subprocess.run([TEAMSPIEGEL, "status"], capture_output=True, text=True,
                         cwd=tmp_path, env=_env(db, **extra), timeout=PATIENCE)
    assert out.returncode == 0, out.stderr
    return out.stdout


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


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_broadcast_survives_sigkill_and_nobody_silently_misses_the_tip(
        tmp_path: Path, policy: str) -> None:
    db = tmp_path / "teamspiegel.db"
    log = tmp_path / "bot.log"
    _seed(db)
    expected = _plan(db)
    assert len(expected) == MEMBERS and set(expected.values()) == {1}  # a tip = one message
    total = sum(expected.values())
    period = _db_rows(db, "SELECT DISTINCT period FROM outbox")[0][0]

    flooded = [FIRST_CHAT + i + FLOOD_AT for i in range(0, MEMBERS, FLOOD_EVERY)]
    errored = [FIRST_CHAT + i + ERROR_AT for i in range(0, MEMBERS, FLOOD_EVERY)]
    hanging = set(HANG) | set(ARRIVED)
    procs: list[subprocess.Popen[bytes]] = []
    with FakeBotAPI(token=TOKEN) as fake:
        for chat in flooded:
            fake.add_fault(429, chat_id=chat, retry_after=1, method="sendMessage")
        for chat in errored:
            fake.add_fault(502, chat_id=chat, method="sendMessage")
        for chat in HANG:  # out at the kill: never arrived
            fake.add_fault(None, chat_id=chat, method="sendMessage", delay=600)
        for chat in ARRIVED:  # out at the kill: arrived, the answer never came back
            fake.add_fault(None, chat_id=chat, method="sendMessage", delay=600,
                           deliver_first=True)

        def out_now() -> set[int]:
            return {int(c.chat_id) for c in fake.calls("sendMessage")
                    if c.status is None} & hanging

        try:
            # run 1: killed once half of the tips are out and the hanging requests are out
            procs.append(_start(db, fake, log, TEAMSPIEGEL_UNCERTAIN=policy,
                                TELEGRAM_REQUEST_TIMEOUT="120"))
            _wait(lambda: (fake.stats()["delivered"], sorted(out_now())),
                  lambda: out_now() == hanging and fake.stats()["delivered"] >= total // 2,
                  "half of the tips", procs[0], log)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(PATIENCE)
            delivered_at_kill = fake.stats()["delivered"]
            in_flight = {int(c) for (c,) in _db_rows(
                db, "SELECT chat_id FROM outbox WHERE status = 'sending'")}
            assert hanging <= in_flight and len(in_flight) <= CONCURRENCY
            assert delivered_at_kill < total, "the kill came too late to test anything"

            # run 2: finishes the broadcast; the rows in flight follow the policy
            procs.append(_start(db, fake, log, TEAMSPIEGEL_UNCERTAIN=policy))
            _wait(lambda: (_open_rows(db), fake.stats()["delivered"]),
                  lambda: _open_rows(db) == 0, "the outbox to drain", procs[1], log)
            _stop(procs[1], log)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(PATIENCE)
        delivered = fake.delivered_counts()
        send_calls = fake.calls("sendMessage")
        stats = fake.stats()
        seen = {chat: [m.text or "" for m in fake.sent_to(chat)] for chat in delivered}

    outbox = _outbox(db)
    # rows sent again although their request may have arrived (counted in the store)
    risked = {int(c) for (c,) in _db_rows(db, "SELECT chat_id FROM outbox WHERE dup_risk > 0")}
    twice = {c for c, n in delivered.items() if n > 1}
    assert twice <= risked, (twice, risked)  # every duplicate was counted as risked
    by_status = collections.Counter(s for s, _ in outbox.values())
    status = _status(db, tmp_path, TEAMSPIEGEL_UNCERTAIN=policy)
    counts = _status_line(status, period)
    print(f"\n{policy}: {MEMBERS} chats, killed at {delivered_at_kill} delivered, "
          f"{len(in_flight)} rows in flight; outbox {dict(by_status)}; fake {stats['by_status']}")
    if policy == "resend":
        # nobody misses the tip; a duplicate only where a request in flight had arrived
        assert by_status == {"sent": MEMBERS}
        assert all(delivered.get(c, 0) >= 1 for c in expected)
        assert set(ARRIVED) <= twice and in_flight <= risked
        assert all(delivered[c] == 1 for c in HANG)
        assert f"na een crash: {len(in_flight)}" in status, status
        assert counts["sent"] == MEMBERS and counts["uncertain"] == 0
    else:
        # held rows are reported, nobody gets it twice, and every member without the tip is
        # one of the held rows: none silently lost
        uncertain = {c for c, (s, _) in outbox.items() if s == "uncertain"}
        assert uncertain == in_flight
        assert by_status == {"sent": MEMBERS - len(uncertain), "uncertain": len(uncertain)}
        assert not twice & in_flight  # a held row was not sent again
        missing = {c for c in expected if not delivered.get(c)}
        assert set(HANG) <= missing <= uncertain
        assert f"vastgehouden: {len(uncertain)}" in status
        assert f"Let op: {len(uncertain)} bericht(en) onzeker" in status
        assert counts["sent"] == MEMBERS - len(uncertain)
        assert counts["uncertain"] == len(uncertain)
    assert counts["pending"] == counts["sending"] == counts["failed"] == 0
    assert f"TEAMSPIEGEL_UNCERTAIN={policy}" in status
    # the injected faults were met (a chat's first request takes its fault) and survived
    answered = {(int(c.params["chat_id"]), c.status) for c in send_calls}
    for chat in set(flooded) - in_flight:
        assert (chat, 429) in answered and delivered[chat] >= 1
    for chat in set(errored) - in_flight:
        assert (chat, 502) in answered and delivered[chat] >= 1
    for texts in seen.values():  # what arrived is the whole tip
        assert all(t.startswith("💡 Tip van") and "Hoe herkenbaar is dit voor jullie?" in t
                   for t in texts), texts
    assert TOKEN.split(":")[1] not in log.read_text()


def test_timeouts_during_a_broadcast_are_sent_again_once_and_counted(tmp_path: Path) -> None:
    """No crash at all, but 20 requests get no answer in time (half of them did arrive): each is
    sent again once after a pause. It used to leave them 'uncertain' until an operator acted:
    40 of 300 members silently lost the tip."""
    members = 300
    db = tmp_path / "teamspiegel.db"
    log = tmp_path / "bot.log"
    _seed(db, members)
    expected = _plan(db, members)
    slow = [FIRST_CHAT + i for i in range(10, 30)]
    with FakeBotAPI(token=TOKEN) as fake:
        for i, chat in enumerate(slow):
            fake.add_fault(None, chat_id=chat, method="sendMessage", delay=8.0,
                           deliver_first=i % 2 == 0)
        proc = _start(db, fake, log, TELEGRAM_REQUEST_TIMEOUT="2")
        try:
            _wait(lambda: (_open_rows(db), fake.stats()["delivered"]),
                  lambda: _open_rows(db) == 0, "the outbox to drain", proc, log)
            _stop(proc, log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(PATIENCE)
        delivered = fake.delivered_counts()
    assert collections.Counter(s for s, _ in _outbox(db).values()) == {"sent": members}
    assert all(delivered.get(c, 0) >= 1 for c in expected)  # nobody missed it
    assert {c for c, n in delivered.items() if n > 1} == set(slow[0::2])  # arrived twice
    status = _status(db, tmp_path)
    assert "opnieuw verstuurd na een time-out: 20" in status, status
    assert "mogelijk dubbel aangekomen: 20" in status and "vastgehouden: 0" in status


def test_people_answering_during_a_broadcast_lose_no_reply(tmp_path: Path) -> None:
    """The fake enforces Telegram's 30 messages/s; 600 members get the tip while 40 of them
    type /help, twice. Replies go ahead of the tip in the shared budget: none is
    dropped (the log used to say "giving up on a reply ... Flood control exceeded")."""
    members, people = 600, [FIRST_CHAT + i for i in range(40)]
    help_text = load_dialogues().text("help")
    db = tmp_path / "teamspiegel.db"
    log = tmp_path / "bot.log"
    _seed(db, members)
    expected = _plan(db, members)
    with FakeBotAPI(token=TOKEN, rate_limit_per_second=30) as fake:
        proc = _start(db, fake, log, TEAMSPIEGEL_RATE_GLOBAL="30", TEAMSPIEGEL_RATE_CHAT="1")

        def texts(uid: int) -> list[str]:
            return [m.text or "" for m in fake.sent_to(uid)]

        def menus(n: int) -> int:
            # the help and the menu: one turn, one message
            return sum(sum(t.endswith("Wat wil je doen?") for t in texts(uid)) >= n
                       for uid in people)

        try:
            _wait(lambda: fake.stats()["delivered"], lambda: fake.stats()["delivered"] >= 60,
                  "the broadcast to start", proc, log)
            for uid in people:
                fake.push_message(uid, "/help")
            _wait(lambda: menus(1), lambda: menus(1) == len(people), "the replies to /help",
                  proc, log)
            open_after_first_round = _open_rows(db)
            for uid in people:
                fake.push_message(uid, "/help")
            _wait(lambda: menus(2), lambda: menus(2) == len(people), "the second replies",
                  proc, log)
            _wait(lambda: (_open_rows(db), fake.stats()["delivered"]),
                  lambda: _open_rows(db) == 0 and not fake.pending_updates(),
                  "the broadcast to finish", proc, log)
            _stop(proc, log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(PATIENCE)
        stats = fake.stats()
        tips = {uid: sum(t.startswith("💡 Tip van") for t in texts(uid)) for uid in expected}
        for uid in people:
            got = [t for t in texts(uid) if not t.startswith("💡 Tip van")]
            assert got == [f"{help_text}\n\nWat wil je doen?"] * 2, (uid, got)
    print(f"\n{members} tips + {len(people)} people: fake {stats['by_status']}; "
          f"{open_after_first_round} tips still waiting when the first replies were done")
    assert set(tips.values()) == {1}  # the broadcast went on: everybody got the tip once
    assert open_after_first_round > 0  # the replies did not wait for the broadcast
    text = log.read_text()
    assert "could not deliver" not in text and "giving up" not in text


async def test_between_its_two_messages_a_row_is_not_in_flight(tmp_path: Path) -> None:
    """In process, real HTTP: while a row of two messages waits for the per-chat limit between
    them, the outbox holds it as pending with only the second message, not as 'sending' (a
    crash then would make it uncertain, and a resend would repeat the first message)."""
    members = 20
    db = tmp_path / "teamspiegel.db"
    _seed(db, members)
    store = Store(db)
    with store.transaction():
        for i in range(members):
            store.enqueue_row(
                platform="telegram", chat_id=str(FIRST_CHAT + i), kind="notice", period="x",
                payload=json.dumps([reply_to_payload(Reply(f"Eerste {i}")),
                                    reply_to_payload(Reply(f"Tweede {i}"))]),
                not_before=iso(datetime.now(UTC)), now=iso(datetime.now(UTC)))
    with FakeBotAPI(token=TOKEN) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            sender = TelegramSender(bot, bot_username="teamspiegel_test_bot")
            # one message per 4 s per chat: a wide window between the two messages of a row
            dispatcher = Dispatcher(store, {"telegram": sender},
                                    Limits(global_per_second=1000, per_chat_per_second=0.25))
            stop = asyncio.Event()
            task = asyncio.create_task(dispatcher.run_forever(stop, tick_seconds=0.2))
            try:
                between: list[tuple] = []
                while fake.stats()["delivered"] <= members and not task.done():
                    rows = _db_rows(db, "SELECT status, payload, delivered FROM outbox")
                    if (fake.stats()["delivered"] == members
                            and all(status == "pending" for status, _, _ in rows)):
                        between = rows
                        break
                    await asyncio.sleep(0.02)
                assert between, "the rows stayed 'sending' between their two messages"
                assert all(len(json.loads(payload)) == 1 and done == 1
                           for _, payload, done in between)
                # and they go on from there, each message once
                while _open_rows(db) and not task.done():
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.wait_for(task, PATIENCE)
            store.close()
        assert fake.delivered_counts() == {FIRST_CHAT + i: 2 for i in range(members)}
        assert _db_rows(db, "SELECT DISTINCT status FROM outbox") == [("sent",)]
