"""The store's delivery parts: the v7 migration over an existing database, owed replies, and the
pruning of handled event ids on the schedule."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from bot.config import Settings
from bot.engine.core import Engine
from bot.engine.messages import Incoming, Reply, reply_to_payload
from bot.schedule.planner import iso
from bot.schedule.runner import HANDLED_EVENTS_KEEP, prune_handled_events, run_schedule
from bot.store import LATEST, Conversation, Store
from bot.store.schema import current_version, migrate
from tests.waiting import PATIENCE


def _v3_database(path: Path) -> None:
    """A database as release 0.3 left it, with a broadcast half done."""
    db = sqlite_utils.Database(path)
    assert migrate(db, target=3) == [1, 2, 3]
    c = db.conn
    c.execute("INSERT INTO teams (id, name, created_at) VALUES (1, 'Wijkteam Oost', '2024-01-01')")
    c.execute("""INSERT INTO members (id, platform, platform_user_id, consent_at, created_at)
                 VALUES (7, 'telegram', '12345', '2024-01-02', '2024-01-02')""")
    c.execute("""INSERT INTO conversations (id, platform, chat_id, member_id, state, updated_at)
                 VALUES (4, 'telegram', '12345', 7, 'menu.main', '2024-01-03')""")
    two = json.dumps([reply_to_payload(Reply("Eén")), reply_to_payload(Reply("Twee"))])
    for row_id, status in ((1, "sending"), (2, "pending"), (3, "sent")):
        c.execute("""INSERT INTO outbox (id, dedup_key, platform, chat_id, member_id, team_id,
                         kind, period, payload, status, not_before, created_at)
                     VALUES (?, ?, 'telegram', ?, 7, 1, 'tip', '2024-07', ?, ?,
                             '2024-07-01T07:00:00+00:00', '2024-07-01T07:00:00+00:00')""",
                  (row_id, f"k{row_id}", f"c{row_id}", two, status))
    c.execute("INSERT INTO handled_events VALUES ('telegram', 'u1', '2024-01-03T10:00:00+00:00')")
    c.commit()
    db.conn.close()


def test_a_v3_database_is_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _v3_database(path)
    store = Store(path)
    assert store.migrated_from == 3 and store.schema_version == LATEST
    rows = {r["id"]: r for r in store._all("SELECT * FROM outbox")}
    assert [rows[i]["status"] for i in (1, 2, 3)] == ["sending", "pending", "sent"]
    for row in rows.values():  # the new columns, with their defaults for old rows
        assert (row["txn_id"], row["delivered"], row["timeout_resends"], row["crash_resends"],
                row["dup_risk"]) == (None, 0, 0, 0, 0)
    assert store.event_seen("telegram", "u1")
    indexes = {r[1] for r in store.conn.execute("PRAGMA index_list(handled_events)")}
    assert "handled_events_at" in indexes

    # and the new parts work on the old rows: the row a 0.3 crash left in flight ...
    with store.transaction():
        counts = store.outbox_recover({"telegram": False}, resend=True,
                                      now="2024-07-01T08:00:00+00:00")
    assert counts == {"resent": 1, "duplicates_risked": 1, "held": 0}
    # ... and a claim returns the row as stored, with a transaction id set before sending
    with store.transaction():
        got = store.claim_outbox([1, 2], "2024-07-01T08:00:01+00:00")
    assert set(got) == {1, 2}
    payload, delivered, txn_id = got[1]
    assert len(json.loads(payload)) == 2 and delivered == 0 and txn_id.startswith("ts")
    assert got[1][2] != got[2][2]
    assert store._one("SELECT txn_id FROM outbox WHERE id = 1")["txn_id"] == txn_id
    # an owed reply on an old conversation
    with store.transaction():
        store.owe_reply(4, "telegram", "u2", "2024-07-01T08:00:00+00:00")
    assert [d["chat_id"] for d in store.owed_replies("telegram")] == ["12345"]
    store.close()
    assert current_version(sqlite_utils.Database(path)) == LATEST


def test_owed_replies_are_paid_by_event_and_erased_with_the_person(store: Store) -> None:
    member = store.get_or_create_member("telegram", "55")
    conv = Conversation(None, "telegram", "55", member, "menu.main")
    store.save_conversation(conv)
    assert conv.id is not None
    store.owe_reply(conv.id, "telegram", "u10", "2026-01-01T00:00:00+00:00")
    store.owe_reply(conv.id, "telegram", "u11", "2026-01-01T00:00:01+00:00")  # a newer turn
    assert store.owed_count() == 1
    assert store.replies_delivered("telegram", ["u10"]) == 0  # the older turn: not this debt
    assert store.owed_count() == 1
    assert store.owed_replies("telegram", before="2026-01-01T00:00:01+00:00") == []
    assert store.replies_delivered("telegram", ["u11"]) == 1 and store.owed_count() == 0
    store.owe_reply(conv.id, "telegram", "u12", "2026-01-01T00:00:02+00:00")
    store.delete_member(member)  # /vergeet: the debt (a chat id and a time) goes too
    assert store.owed_count() == 0


def test_engine_owes_until_delivered_and_renders_the_current_prompt(engine: Engine) -> None:
    inc = Incoming("telegram", "77", "77", "command", text="/start", command="start",
                   event_id="u77")
    replies = engine.handle(inc, owe=True)
    assert replies and replies[-1].is_prompt
    [owed] = engine.owed_prompts("telegram")
    assert (owed.chat_id, owed.user_id, owed.event_id) == ("77", "77", "u77")
    assert [r.text for r in owed.replies] == [replies[-1].text]  # the welcome, again
    assert engine.owed_prompts("telegram", older_than=3600) == []  # not old yet
    assert engine.replies_delivered("telegram", ["u77"]) == 1
    assert engine.owed_prompts("telegram") == []
    # without owe (the console) nothing is recorded
    engine.handle(Incoming("console", "x", "x", "text", text="hallo", event_id="c1"))
    assert engine.store.owed_count() == 0


def _events(store: Store, now: datetime) -> None:
    with store.transaction():
        for platform in ("telegram", "matrix", "console"):
            for age in (timedelta(hours=1), timedelta(days=3), timedelta(days=20)):
                store.conn.execute("INSERT INTO handled_events VALUES (?, ?, ?)",
                                   (platform, f"{platform}-{age.days}-{age.seconds}",
                                    iso(now - age)))


def _left(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT event_id FROM handled_events")}


def test_handled_events_are_pruned_per_platform_window(store: Store) -> None:
    now = datetime(2026, 7, 1, 12, tzinfo=UTC)
    _events(store, now)
    assert HANDLED_EVENTS_KEEP["telegram"] == timedelta(days=2)
    assert prune_handled_events(store, now) == 4
    assert _left(store) == {"telegram-0-3600", "matrix-0-3600", "matrix-3-0", "console-0-3600",
                            "console-3-0"}


async def test_the_schedule_prunes_handled_events(engine: Engine) -> None:
    """`teamspiegel run`'s schedule does it (the table was never pruned: a third of the
    database after 1,000 people)."""
    store = engine.store
    _events(store, datetime.now(UTC))

    class Quiet:
        platform = "telegram"
        idempotent = False

        async def send(self, *args: object, **kwargs: object) -> str | None:
            return None

    stop = asyncio.Event()
    task = asyncio.create_task(run_schedule(engine, Settings(tick_seconds=3600),
                                            {"telegram": Quiet()}, stop))
    try:
        for _ in range(500):
            if len(_left(store)) == 5 or task.done():
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, PATIENCE)
    assert len(_left(store)) == 5
