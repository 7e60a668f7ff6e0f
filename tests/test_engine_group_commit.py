"""Group commit without a savepoint per turn (issue 15): a batch runs optimistically in one
transaction; when a turn fails, that attempt is rolled back whole and the batch runs again one
savepoint per turn. The others are committed and answered exactly once, the failing turn's
writes are gone, and nothing of the first attempt (models, deferred jobs, replies, the input's
in-place change) leaks into the second."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from bot.content import get_content
from bot.engine import actions
from bot.engine.core import SCHEDULED, Engine
from bot.engine.flows import Dialogues
from bot.schedule.tips import tip_replies
from bot.store import Store
from tests.people import typed
from tests.test_engine import (
    PLATFORM,
    current_qid,
    db_path,
    error_text,
    onboard_and_start_tour,
    other_connection_answers,
)


class Counting:
    """A connection that counts the statements it is given, by their first word."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.words: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        self.words.append(sql.split(None, 1)[0].upper())
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.fixture
def calls() -> dict[str, int]:
    return {}


@pytest.fixture
def flaky(store: Store, dialogues: Dialogues, monkeypatch: pytest.MonkeyPatch,
          calls: dict[str, int]) -> Engine:
    """An engine whose save_scale counts its calls per user, defers a job per call that counts
    its runs, and fails for user 'bad' after writing."""
    original = actions.REGISTRY["action"]["save_scale"]

    def save_scale(turn: Any, arg: str | None) -> None:
        user = turn.incoming.user_id
        calls[f"save {user}"] = calls.get(f"save {user}", 0) + 1
        original(turn, arg)  # write first, so a rollback has something to undo

        def job() -> None:
            calls[f"job {user}"] = calls.get(f"job {user}", 0) + 1
        turn.later.append(job)
        if user == "bad" and turn.engine.settings.get("fail", True):
            raise RuntimeError("boom")

    monkeypatch.setitem(actions.REGISTRY["action"], "save_scale", save_scale)
    return Engine(store, get_content(), dialogues)


def test_a_batch_without_failures_runs_no_savepoints(flaky: Engine, calls: dict[str, int]) -> None:
    users = ["a", "b", "c"]
    for user in users:
        onboard_and_start_tour(flaky, user)
    real = flaky.store.conn
    counting = Counting(real)
    flaky.store.conn = counting  # type: ignore[assignment]
    try:
        results = flaky.handle_many([typed(u, "3") for u in users])
    finally:
        flaky.store.conn = real
    assert [r[-1].text for r in results] == [flaky.text("ask_explain")] * 3
    assert "SAVEPOINT" not in counting.words and counting.words.count("COMMIT") == 1
    assert {k: v for k, v in calls.items()} == {f"{w} {u}": 1 for u in users for w in ("save", "job")}


def test_one_failing_turn_the_others_commit_and_reply_exactly_once(
    flaky: Engine, calls: dict[str, int], caplog: pytest.LogCaptureFixture,
) -> None:
    users = ["a", "bad", "c", "d"]
    for user in users:
        onboard_and_start_tour(flaky, user)
    qid = current_qid(flaky, "a")
    calls.clear()
    real = flaky.store.conn
    counting = Counting(real)
    flaky.store.conn = counting  # type: ignore[assignment]
    try:
        results = flaky.handle_many([typed(u, str(n)) for n, u in enumerate(users, 2)])
    finally:
        flaky.store.conn = real
    # one reply list per turn, each the turn's own, once
    assert len(results) == 4
    ask = flaky.text("ask_explain")
    assert [[r.text for r in rs][-1] for rs in results] == [ask, error_text(flaky), ask, ask]
    assert all(sum(r.text == ask for r in rs) == 1 for rs in (results[0], results[2], results[3]))
    # the first attempt was rolled back whole, the second ran one savepoint per turn
    assert counting.words.count("ROLLBACK") >= 1 and counting.words.count("COMMIT") == 1
    assert counting.words.count("SAVEPOINT") == 4
    # committed once each: one answer per other turn, none of 'bad'
    seen = sorted(other_connection_answers(db_path(flaky.store)))
    assert seen == [("a", qid, 2), ("c", qid, 4), ("d", qid, 5)]
    states = {u: flaky.store.load_conversation(PLATFORM, u).state for u in users}  # type: ignore[union-attr]
    assert states == {"a": "reflect.explain", "bad": "reflect.question",
                      "c": "reflect.explain", "d": "reflect.explain"}
    # the first attempt's deferred jobs never ran; the second's ran once, none for 'bad'
    assert {k: v for k, v in calls.items() if k.startswith("job")} == {
        "job a": 1, "job c": 1, "job d": 1}
    # the failure is logged once (by the second attempt)
    assert sum("turn failed" in r.getMessage() for r in caplog.records) == 1
    # the models of the batch were rebuilt from the store: the next turns carry on
    flaky.settings["fail"] = False
    assert flaky.handle(typed("bad", "5"))[-1].text == ask
    assert flaky.handle(typed("a", "meer uitleg"))[-1].text != error_text(flaky)


def test_the_replay_sees_the_input_as_it_came(flaky: Engine, calls: dict[str, int]) -> None:
    """A typed answer to a scheduled message (it becomes a pressed option in place) in a batch
    that is run again after a failure: the tip gets one reaction, the question none."""
    for user in ("t", "bad"):
        onboard_and_start_tour(flaky, user)
    conv = flaky.store.load_conversation(PLATFORM, "t")
    assert conv is not None and conv.member_id is not None
    tip = get_content().kalender.tip_for_month(3)
    replies = tip_replies(tip, "2026-03", group=False, source_line="Bron: test")
    team = int(conv.context["team_id"])
    with flaky.store.transaction():
        flaky.scheduled_delivered(PLATFORM, conv.member_id, replies[-1])
    typed_in = typed("t", "4")
    results = flaky.handle_many([typed_in, typed("bad", "3")])
    assert [r.text for r in results[1]] == [error_text(flaky)]
    assert results[0] and all(r.failed is None for r in results[0])
    assert typed_in.kind == "choice"  # matched the tip's option in the replay
    after = flaky.store.load_conversation(PLATFORM, "t")
    assert after is not None and SCHEDULED not in after.context
    assert [r["scale"] for r in flaky.store.tip_reactions(team)] == [4]
    assert flaky.store.member_answers(conv.member_id) == []  # not the question's
