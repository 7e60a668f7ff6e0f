"""End to end against the real Synapse: a monthly tip to 12 Matrix rooms, SIGKILL mid-broadcast.

The bot (``teamspiegel run``, a real process) talks to Synapse through a proxy that holds four of
its ``PUT /send/...`` requests: two are never forwarded (they never arrive), two are forwarded
and their answers never come back (they did arrive, the bot cannot know). With those four in
flight the bot gets SIGKILL and is started again. Matrix sends are idempotent: the rows in flight
are sent again with the transaction ids stored before their first attempt, and Synapse answers a
repeated transaction with the event it already has. So every room holds the tip exactly once
(counted per room in Synapse's own timeline), with no operator action. (The bot used to mark
them uncertain and wait for an operator: two rooms had no tip.)
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.schedule.calendar import tip_slot
from bot.schedule.planner import plan_due
from bot.store import Conversation, Store
from tests.fakes.holding_proxy import HoldingProxy
from tests.matrix_helpers import BotProcess, clean_env
from tests.waiting import await_progress

pytestmark = pytest.mark.slow

ROOMS = 12
LOSE, UNANSWERED = {3, 7}, {5, 9}  # the numbers of the bot's PUT /send requests held


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql).fetchall()


async def _wait(progress, done, what: str, bot: BotProcess) -> None:  # noqa: ANN001
    """Until ``done()``; fail only when ``progress()`` stands still for a long time."""

    def alive() -> None:
        assert bot.proc is not None and bot.proc.poll() is None, bot.log()[-3000:]

    await await_progress(progress, done, what, check=alive, on_stall=lambda: bot.log()[-3000:],
                         poll=0.1)


def _tips_in(synapse, room: str, token: str, bot_id: str) -> int:  # noqa: ANN001
    """The bot's tip events in a room, read from Synapse's timeline."""
    status, body = synapse.request(
        "GET", f"/_matrix/client/v3/rooms/{quote(room)}/messages?dir=b&limit=100",
        access_token=token)
    assert status == 200, body
    return sum(1 for e in body["chunk"] if e.get("sender") == bot_id
               and e.get("type") == "m.room.message"
               and e.get("content", {}).get("body", "").startswith("💡 Tip van"))


async def test_sigkill_mid_broadcast_every_room_gets_the_tip_exactly_once(
        synapse, matrix_users, tmp_path) -> None:  # noqa: ANN001
    bot_user, owner = matrix_users("teamspiegel"), matrix_users("owner")
    token = synapse.login(owner.localpart, owner.password)["access_token"]
    db = tmp_path / "teamspiegel.db"
    work = tmp_path / "bot"
    work.mkdir()

    def is_send(method: str, path: str) -> bool:
        return method == "PUT" and "/send/m.room." in path

    with HoldingProxy(synapse.base_url, is_send) as proxy:
        env = clean_env(MATRIX_HOMESERVER=proxy.url, MATRIX_USER_ID=bot_user.user_id,
                        MATRIX_PASSWORD=bot_user.password,
                        MATRIX_STORE=str(tmp_path / "matrix-store"), TEAMSPIEGEL_DB=str(db),
                        TEAMSPIEGEL_TICK_SECONDS="1")
        bot = BotProcess(env, work)
        try:
            await bot.start()
            rooms = []
            for _ in range(ROOMS):  # a private chat per member, the bot invited
                status, body = synapse.request(
                    "POST", "/_matrix/client/v3/createRoom",
                    {"is_direct": True, "preset": "trusted_private_chat",
                     "invite": [bot_user.user_id]}, access_token=token)
                assert status == 200, body
                rooms.append(body["room_id"])

            def joined() -> int:
                n = 0
                for room in rooms:
                    status, body = synapse.request(
                        "GET", f"/_matrix/client/v3/rooms/{quote(room)}/joined_members",
                        access_token=token)
                    n += status == 200 and bot_user.user_id in body.get("joined", {})
                return n

            await _wait(joined, lambda: joined() == ROOMS, "the bot to join", bot)

            # the members (their Matrix ids need not exist: the bot only writes to the rooms)
            store = Store(db)
            try:
                with store.transaction():
                    team = store.create_team("Wijkteam Matrix")
                    store.conn.execute(
                        "UPDATE teams SET reflection_cadence = 'none' WHERE id = ?", (team,))
                    for i, room in enumerate(rooms):
                        member = store.get_or_create_member("matrix", f"@collega-{i}:localhost")
                        store.set_consent(member)
                        store.join_team(member, team, "professional")
                        store.save_conversation(
                            Conversation(None, "matrix", room, member, "menu.main"))
                proxy.lose, proxy.unanswered = set(LOSE), set(UNANSWERED)
                now = datetime.now(UTC)
                first = now.replace(day=1) - timedelta(days=1)  # last month's tip, at its slot
                slot = tip_slot(first.year, first.month)
                assert slot is not None
                result = plan_due(store, slot + timedelta(minutes=1), platforms=["matrix"])
                assert result.counts["tip"] == ROOMS, result
            finally:
                store.close()

            held = len(LOSE) + len(UNANSWERED)
            await _wait(lambda: (proxy.seen, proxy.held), lambda: proxy.held == held,
                        "the held requests", bot)
            bot.kill()  # SIGKILL with four requests out: two arrived, two did not
            in_flight = {r for (r,) in _rows(db, "SELECT chat_id FROM outbox "
                                                 "WHERE status = 'sending'")}
            lost = {r for path in proxy.paths(LOSE) for r in rooms if r in path}
            arrived = {r for path in proxy.paths(UNANSWERED) for r in rooms if r in path}
            assert len(lost) == len(LOSE) and len(arrived) == len(UNANSWERED)
            assert lost | arrived <= in_flight  # (another request may have been out too)
            before = {room: _tips_in(synapse, room, token, bot_user.user_id) for room in rooms}
            assert [before[r] for r in lost] == [0, 0] and [before[r] for r in arrived] == [1, 1]
            proxy.release()  # nothing held any more

            await bot.start()
            await _wait(lambda: _rows(db, "SELECT status, COUNT(*) FROM outbox GROUP BY 1"),
                        lambda: _rows(db, "SELECT DISTINCT status FROM outbox") == [("sent",)],
                        "the broadcast to finish", bot)
            assert bot.terminate() == 0
        finally:
            bot.kill()

    tips = {room: _tips_in(synapse, room, token, bot_user.user_id) for room in rooms}
    assert tips == dict.fromkeys(rooms, 1), tips  # exactly once, everywhere
    n = len(in_flight)
    assert _rows(db, "SELECT SUM(crash_resends), SUM(dup_risk) FROM outbox") == [(n, 0)]
    log = bot.log()
    assert f"{n} sent again (0 may arrive twice), 0 held" in log, log[-3000:]
