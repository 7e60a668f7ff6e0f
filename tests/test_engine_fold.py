"""What an answer turn no longer writes in rows of their own (issue 15): the replay check of
Telegram updates, the owed reply, the run's activity and the period check ride in the
conversation row, the answer row and the conversation load. Each test would fail if the folded
version lost what the separate statement did."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from bot.content import get_content
from bot.engine import replay
from bot.engine.core import Engine
from bot.engine.messages import Incoming
from bot.reports.service import close_round
from bot.store import LATEST, Store
from bot.store.schema import MIGRATIONS, _v14_engine, migrate
from tests.test_engine_statements import Turns
from tests.test_flows import Chat

#: the version a database had before release 0.4's engine migration
BEFORE_ENGINE = MIGRATIONS.index(_v14_engine)
CONTENT = get_content()


def _telegram(engine: Engine, user: str = "42") -> Turns:
    store = engine.store
    invite = store.create_invite(store.create_team("Wijkteam Zuid"))
    turns = Turns(engine, invite, user)
    turns.send("command", f"/start {invite}", command="start", args=invite)
    for value in ("ja", "professional", "tour"):
        turns.press(value)()
    return turns


def _press(turns: Turns, value: str, event: int) -> Incoming:
    inc = turns.incoming("choice", value, value=value)
    inc.event_id = f"u{event}"
    return inc


def _answers(store: Store) -> int:
    return int(store.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


# -- the replay check of ordered event ids ----------------------------------------------------


def test_the_window_of_event_ids() -> None:
    assert replay.ordered_id("telegram", "u17") == 17
    assert replay.ordered_id("matrix", "u17") is None  # Matrix ids are not ordered
    assert replay.ordered_id("telegram", "x17") is None and replay.ordered_id("telegram", None) is None
    assert replay.verdict(None, 5) == "ask"
    assert replay.verdict("3 5", 5) == "replay"
    assert replay.verdict("3 5", 4) == "new"  # a small reordering is tolerated
    assert replay.verdict("3 5", 9) == "new"
    assert replay.verdict("3 5", 2) == "ask"  # older than a window that is not full
    full = " ".join(str(n) for n in range(10, 10 + replay.WINDOW))
    assert replay.verdict(full, 9) == "replay"  # handled before the whole window
    window = None
    for n in range(1, 40):
        window = replay.remember(window, n)
    assert window is not None and window.split(" ") == [str(n) for n in range(40 - replay.WINDOW, 40)]


def test_a_redelivered_telegram_update_is_dropped_without_handled_events(
        store: Store, engine: Engine) -> None:
    turns = _telegram(engine)
    inc = _press(turns, "4", 1000)
    assert engine.handle(inc, owe=True)
    assert _answers(store) == 1
    before = store.conn.execute("SELECT COUNT(*) FROM handled_events").fetchone()[0]
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        assert engine.handle(inc, owe=True) == []  # Telegram hands it out again
    finally:
        store.conn.set_trace_callback(None)
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                   for s in statements), statements
    assert store.conn.execute("SELECT COUNT(*) FROM handled_events").fetchone()[0] == before
    assert store.event_seen("telegram", "u1000") is False  # it rode in the conversation
    # an update of the same person delivered late but after a newer one still counts ...
    engine.handle(_press(turns, "verder", 1002), owe=True)
    answer = turns.engine.current_prompt("telegram", "42")[-1]
    assert answer.expects == "scale"
    late = _press(turns, "2", 1001)
    assert engine.handle(late, owe=True)
    assert _answers(store) == 2
    # ... and once the window is full, anything older than it was handled already
    for n in range(2000, 2000 + replay.WINDOW):
        engine.handle(Incoming("telegram", "42", "42", "command", text="/menu", command="menu",
                               event_id=f"u{n}"), owe=True)
    assert engine.handle(_press(turns, "menu", 1500), owe=True) == []


def test_a_first_turn_and_a_forget_are_claimed_in_handled_events(store: Store,
                                                                engine: Engine) -> None:
    first = Incoming("telegram", "9", "9", "command", text="/start", command="start",
                     event_id="u5")
    assert engine.handle(first)
    assert store.event_seen("telegram", "u5")  # no window yet: the claim decides
    assert engine.handle(first) == []
    # a conversation that is deleted takes its window along: its last event is claimed
    forget = Incoming("telegram", "9", "9", "command", text="/vergeet", command="vergeet",
                      event_id="u6")
    engine.handle(forget)  # before consent: forgotten at once
    assert store.load_conversation("telegram", "9") is None, "not forgotten"
    assert store.event_seen("telegram", "u6")
    assert engine.handle(forget) == []


# -- the owed reply in the conversation row -----------------------------------------------------


def test_an_owed_reply_rides_in_the_conversation_and_is_paid(store: Store, engine: Engine) -> None:
    turns = _telegram(engine)
    engine.handle(_press(turns, "4", 3000), owe=True)
    row = store._one("SELECT owed_event, owed_at FROM conversations WHERE user_id = '42'")
    assert row is not None and row["owed_event"] == "u3000" and row["owed_at"]
    [owed] = engine.owed_prompts("telegram")
    assert owed.event_id == "u3000" and owed.replies[-1].text.startswith("Wil je dit toelichten")
    # a turn that owes nothing (the console) keeps the debt; a newer turn replaces it
    engine.handle(_press(turns, "verder", 3001), owe=False)
    assert [o.event_id for o in engine.owed_prompts("telegram")] == ["u3000"]
    assert engine.replies_delivered("telegram", ["u3000"]) == 1
    assert engine.owed_prompts("telegram") == [] and store.owed_count() == 0


# -- the period check, read with the conversation ---------------------------------------------


def test_a_round_closed_by_another_process_moves_the_next_answer(tmp_path: Path,
                                                                 engine: Engine) -> None:
    """The published periods are read with the conversation in the turn's transaction: a close
    by `teamspiegel` on the command line (another connection) between two answers counts."""
    now = datetime(2026, 8, 3, 10, 0, tzinfo=UTC)
    engine.clock = lambda: now
    chat = Chat(engine)
    chat.onboard()
    chat.press("tour")
    chat.answer(scale=2)
    team_id = int(chat.conv.context["team_id"])  # type: ignore[union-attr]
    other = Store(engine.store.path)
    try:
        assert close_round(other, team_id, now, content=CONTENT) == "2026-Q3"
    finally:
        other.close()
    chat.answer(scale=5)
    rows = engine.store._all("SELECT period, scale FROM answers ORDER BY id")
    assert [(r["period"], r["scale"]) for r in rows] == [("2026-Q3", 2), ("2026-Q4", 5)]


def test_a_publish_inside_the_turn_is_seen(engine: Engine) -> None:
    store = engine.store
    chat = Chat(engine)
    chat.onboard()
    chat.press("tour")
    team_id = int(chat.conv.context["team_id"])  # type: ignore[union-attr]
    now = datetime(2026, 8, 3, 10, 0, tzinfo=UTC)
    with store.transaction():
        assert store.load_conversation(chat.platform, chat.user) is not None
        assert store.answer_period(team_id, now) == "2026-Q3"  # as read with the load
        store.insert_snapshot(team_id=team_id, period="2026-Q3", published_at="2026-08-03",
                              closed_early=True, algorithm_version=1, content_version="v",
                              data={}, members={}, texts=[])
        assert store.answer_period(team_id, now) == "2026-Q4"
    with store.transaction():  # and the next transaction reads it with the load
        store.load_conversation(chat.platform, chat.user)
        assert store.answer_period(team_id, now) == "2026-Q4"


# -- the run's activity, derived from its answers ----------------------------------------------


def test_a_runs_activity_is_its_latest_answer(store: Store) -> None:
    team = store.create_team("Wijkteam Noord")
    with store.transaction():
        member = store.get_or_create_member("telegram", "77")
        store.join_team(member, team, "professional")
        run = store.start_run(member, team, "tour", "2026-Q3")
        store.conn.execute("UPDATE runs SET started_at = ?, last_activity_at = ? WHERE id = ?",
                           ("2026-07-01T08:00:00+00:00", "2026-07-01T08:00:00+00:00", run))
    assert store.run_activity(run) == "2026-07-01T08:00:00+00:00"
    with store.transaction():
        store.save_answer(run_id=run, member_id=member, team_id=team, role="professional",
                          theme_id="samenhang", question_id="samenhang-1", period="2026-Q3",
                          content_version="v", scale=3)
    stored = store._one("SELECT last_activity_at FROM runs WHERE id = ?", (run,))
    assert stored == {"last_activity_at": "2026-07-01T08:00:00+00:00"}  # not written ...
    answered = store._one("SELECT updated_at FROM answers WHERE run_id = ?", (run,))
    assert answered is not None
    assert store.run_activity(run) == answered["updated_at"]  # ... derived
    [row] = store.export_member(member)["runs"]
    assert row["last_activity_at"] == answered["updated_at"]


# -- the migration --------------------------------------------------------------------------


def test_a_database_of_the_previous_version_is_carried_over(tmp_path: Path) -> None:
    """Owed replies, handled events and runs written by the previous schema keep working: the
    owed reply is still sent, a handled update is still a replay."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    assert migrate(db, target=BEFORE_ENGINE)[-1] == BEFORE_ENGINE
    c = db.conn
    c.execute("INSERT INTO teams (id, name, created_at) VALUES (1, 'Wijkteam Oost', '2024-01-01')")
    c.execute("""INSERT INTO members (id, platform, platform_user_id, consent_at, created_at)
                 VALUES (7, 'telegram', '12345', '2024-01-02', '2024-01-02')""")
    c.execute("INSERT INTO memberships (member_id, team_id, role, joined_at) "
              "VALUES (7, 1, 'professional', '2024-01-02')")
    c.execute("""INSERT INTO conversations (id, platform, user_id, chat_id, member_id, state,
                     context, updated_at)
                 VALUES (4, 'telegram', '12345', '12345', 7, 'menu.main', ?, '2024-01-03')""",
              (json.dumps({"role": "professional", "team_id": 1}),))
    c.execute("""INSERT INTO runs (id, member_id, team_id, scope, period, started_at,
                     last_activity_at) VALUES (3, 7, 1, 'tour', '2024-Q1', '2024-01-03',
                     '2024-01-04')""")
    c.execute("INSERT INTO owed_replies VALUES (4, 'telegram', 'u41', '2024-01-03T10:00:00+00:00')")
    c.execute("INSERT INTO handled_events VALUES ('telegram', 'u41', '2024-01-03T10:00:00+00:00')")
    c.commit()
    c.close()

    store = Store(path)
    try:
        assert store.migrated_from == BEFORE_ENGINE and store.schema_version == LATEST
        assert "owed_replies" not in store.db.table_names()
        engine = Engine(store)
        [owed] = engine.owed_prompts("telegram")  # the old debt is still paid at the start
        assert (owed.chat_id, owed.user_id, owed.event_id) == ("12345", "12345", "u41")
        assert owed.replies and owed.replies[-1].is_prompt
        assert store.run_activity(3) == "2024-01-04"
        # the update Telegram hands out again after the upgrade is still a replay ...
        menu = Incoming("telegram", "12345", "12345", "command", text="/menu", command="menu",
                        event_id="u41")
        assert engine.handle(menu, owe=True) == []
        # ... a new one is handled and starts the conversation's window
        menu.event_id = "u42"
        assert engine.handle(menu, owe=True)
        row = store._one("SELECT recent_events, owed_event FROM conversations WHERE id = 4")
        assert row == {"recent_events": "42", "owed_event": "u42"}
        assert engine.replies_delivered("telegram", ["u42"]) == 1
        assert store.owed_count() == 0
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        assert store.owed_replies("telegram", before=since) == []
    finally:
        store.close()


def test_the_window_rules_agree_with_their_plain_statement() -> None:
    """verdict/remember take shortcuts (no parsing of the whole window on an ordinary turn):
    they must agree with the rules written out plainly, also for reordered windows."""
    import random

    def plain_verdict(recent: str | None, number: int) -> str:
        if not recent:
            return "ask"
        ids = [int(x) for x in recent.split(" ")]
        if number in ids:
            return "replay"
        if number > min(ids):
            return "new"
        return "replay" if len(ids) >= replay.WINDOW else "ask"

    def plain_remember(recent: str | None, number: int) -> str:
        ids = recent.split(" ") if recent else []
        return " ".join([*ids, str(number)][-replay.WINDOW:])

    rng = random.Random(15)
    for _ in range(3000):
        window: str | None = None
        for _ in range(rng.randrange(0, 2 * replay.WINDOW)):
            n = rng.randrange(1, 60)
            assert replay.remember(window, n) == plain_remember(window, n)
            window = replay.remember(window, n)
        for n in range(0, 62):
            assert replay.verdict(window, n) == plain_verdict(window, n), (window, n)
    long = " ".join(str(n) for n in range(1, 3 * replay.WINDOW))  # longer than a window
    assert replay.remember(long, 99) == plain_remember(long, 99)
