"""The channel contract and the delivery policy: retry decisions, the shared platform budget
(replies first), idempotent keys, what a crash leaves in flight (``TEAMSPIEGEL_UNCERTAIN``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.channel import (
    BROADCAST_POLICY,
    REPLY_POLICY,
    PlatformBudget,
    Rejected,
    RetryAfter,
    TransientError,
    Uncertain,
    UncertainPolicy,
    Unreachable,
    call_with_retries,
)
from bot.schedule.dispatcher import Limits, status_text
from bot.store import Store
from tests.test_dispatcher import (
    FakeClock,
    FakeSender,
    add_rows,
    drain,
    enforcing,
    make,
    row_counts,
    statuses,
    timed_out,
)
from tests.test_dispatcher import store as store  # noqa: F401  (fixture)

# -- the retry policy ------------------------------------------------------------------------------


def test_one_policy_decides_for_every_error() -> None:
    p = BROADCAST_POLICY
    assert p.decide(RetryAfter(7), attempts=0, resends=0, idempotent=False).action == "wait"
    assert p.decide(RetryAfter(7), attempts=0, resends=0, idempotent=False).after == 7
    assert p.decide(Unreachable(), attempts=1, resends=0, idempotent=False).action == "unreachable"
    assert p.decide(Rejected(), attempts=1, resends=0, idempotent=False).action == "give_up"
    retry = p.decide(TransientError("502"), attempts=3, resends=0, idempotent=False)
    assert retry.action == "retry" and retry.after == p.backoff(3)
    assert p.decide(TransientError(), attempts=p.attempts, resends=0,
                    idempotent=False).action == "give_up"
    # may have arrived: resent once after a pause; then the uncertain policy
    first = p.decide(Uncertain(), attempts=1, resends=0, idempotent=False)
    assert (first.action, first.after) == ("resend", p.timeout_pause)
    assert p.decide(Uncertain(), attempts=2, resends=1, idempotent=False).action == "resend"
    hold = p.with_uncertain(UncertainPolicy.HOLD)
    assert hold.decide(Uncertain(), attempts=2, resends=1, idempotent=False).action == "hold"
    # an idempotent platform: just a retry, nothing to hold
    assert hold.decide(Uncertain(), attempts=2, resends=1, idempotent=True).action == "retry"
    # replies: flood control waited out up to a limit, never held for an operator
    assert REPLY_POLICY.decide(RetryAfter(5), attempts=0, resends=0, idempotent=False,
                               flood_waited=REPLY_POLICY.max_flood_wait).action == "give_up"
    assert REPLY_POLICY.decide(Uncertain(), attempts=2, resends=1,
                               idempotent=False).action == "hold"
    assert UncertainPolicy.parse(None) is UncertainPolicy.RESEND
    assert UncertainPolicy.parse(" Hold ") is UncertainPolicy.HOLD
    with pytest.raises(ValueError, match="resend.*hold"):
        UncertainPolicy.parse("maybe")


async def test_call_with_retries_waits_resends_once_and_gives_up() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def script(*outcomes: Any) -> Any:
        it = iter(outcomes)

        async def make() -> str:
            out = next(it)
            if isinstance(out, BaseException):
                raise out
            return out

        return make

    assert await call_with_retries(script(RetryAfter(3), TransientError(), "ok"), what="t",
                                   sleep=sleep, random=lambda: 0.0) == "ok"
    assert slept == [3, REPLY_POLICY.backoff(1)]
    resent: list[int] = []
    slept.clear()
    with pytest.raises(Uncertain):
        await call_with_retries(script(Uncertain(), Uncertain(), "never"), what="t",
                                sleep=sleep, on_resend=lambda: resent.append(1))
    assert resent == [1] and slept == [REPLY_POLICY.timeout_pause]
    with pytest.raises(Rejected):
        await call_with_retries(script(Rejected("too long"), "never"), what="t", sleep=sleep)
    # an idempotent platform retries a timeout like any transient error
    assert await call_with_retries(script(Uncertain(), Uncertain(), "ok"), what="t",
                                   sleep=sleep, idempotent=True) == "ok"


# -- the shared budget ----------------------------------------------------------------------------


async def test_budget_reserves_slots_for_replies_ahead_of_the_broadcast() -> None:
    budget = PlatformBudget(20.0)  # 51 ms apart
    start = time.monotonic()
    waiting = [asyncio.create_task(budget.acquire()) for _ in range(5)]
    await asyncio.sleep(0)
    # five replies reserved: the broadcast's next slot lies behind all of them
    assert budget.ready_at() >= start + 4 * budget.interval
    await asyncio.gather(*waiting)
    assert budget.replies == 5
    budget.pause(0.3)  # a 429
    before = time.monotonic()
    await budget.acquire()
    assert time.monotonic() - before >= 0.29  # nobody goes during the pause
    assert budget.pauses == 1


@pytest.mark.parametrize("policy", ["resend", "hold"])
async def test_a_second_timeout_follows_the_uncertain_policy(store: Store, policy: str) -> None:
    clock = FakeClock()
    sender = FakeSender(clock, latency=0.05, fail=lambda call: timed_out(arrived=False)
                        if call["chat"] == "c0" else None)
    add_rows(store, 3)
    dispatcher = make(store, clock, [sender], uncertain=policy, max_attempts=4,
                      backoff_base=1.0, random=lambda: 0.0)
    await drain(dispatcher, store, clock)
    calls = [c for c in sender.calls if c["chat"] == "c0"]
    row = store._one("SELECT * FROM outbox WHERE chat_id = 'c0'")
    if policy == "hold":  # resent once after the pause, then held for the operator
        assert len(calls) == 2 and row["status"] == "uncertain"
        assert (row["timeout_resends"], row["dup_risk"]) == (1, 1)
        assert "vastgehouden: 1" in status_text(store, "hold")
        assert "TEAMSPIEGEL_UNCERTAIN=hold" in status_text(store, "hold")
    else:  # resent until the attempts are used up, each one counted; then failed (reported)
        assert len(calls) == 4 and row["status"] == "failed"
        assert (row["timeout_resends"], row["dup_risk"]) == (3, 3)
    assert statuses(store)["sent"] == 2

async def test_an_idempotent_sender_gets_the_same_key_on_every_attempt(tmp_path: Path) -> None:
    """Matrix: the row's transaction id is stored before its first request and every attempt
    (after a timeout, a 5xx) uses it; nothing is counted as a possible duplicate."""
    path = tmp_path / "keys.db"
    store = Store(path, synchronous="OFF")
    clock = FakeClock()
    seen_in_store: dict[str, str | None] = {}
    tries: Counter[str] = Counter()

    def fail(call: dict[str, Any]) -> BaseException | None:
        probe = Store(path)
        seen_in_store.setdefault(call["txn"], probe._one(
            "SELECT txn_id FROM outbox WHERE chat_id = ?", (call["chat"],))["txn_id"])
        probe.close()
        tries[call["chat"]] += 1
        if call["chat"] == "!r0" and tries["!r0"] == 1:
            return timed_out(arrived=True)
        if call["chat"] == "!r0" and tries["!r0"] == 2:
            return TransientError("502")
        return None

    sender = FakeSender(clock, platform="matrix", latency=0.05, fail=fail, idempotent=True)
    add_rows(store, 3, platform="matrix", chats=lambda i: f"!r{i}", parts=lambda i: 2)
    dispatcher = make(store, clock, [sender])
    await drain(dispatcher, store, clock)
    assert statuses(store) == {"sent": 3}
    r0 = [c["txn"] for c in sender.calls if c["chat"] == "!r0"]
    base = r0[0].rsplit(".", 2)[0]
    assert r0 == [f"{base}.0.0"] * 3 + [f"{base}.1.0"]  # 3 tries of reply 0, then reply 1
    assert all(seen_in_store[t] == t.rsplit(".", 2)[0] for t in seen_in_store)  # stored first
    assert len({c["txn"].rsplit(".", 2)[0] for c in sender.calls}) == 3  # one per row
    assert all(v == (0, 0, 0) for v in row_counts(store).values())
    store.close()

@pytest.mark.parametrize("policy", ["resend", "hold"])
async def test_rows_in_flight_at_a_crash_follow_platform_and_policy(store: Store,
                                                                     policy: str) -> None:
    clock = FakeClock()
    tg = FakeSender(clock, latency=0.05)
    mx = FakeSender(clock, platform="matrix", latency=0.05, idempotent=True)
    add_rows(store, 4)
    add_rows(store, 4, platform="matrix", chats=lambda i: f"!r{i}")
    # the crash: two rows of each platform were out
    store.conn.execute("UPDATE outbox SET status = 'sending', txn_id = 'tsx' || id "
                       "WHERE chat_id IN ('c0', 'c1', '!r0', '!r1')")
    dispatcher = make(store, clock, [tg, mx], uncertain=policy)
    counts = dispatcher.recover()
    await drain(dispatcher, store, clock)
    rows = row_counts(store)
    assert rows["!r0"] == rows["!r1"] == (0, 1, 0)  # Matrix: again, same txn id, no risk
    assert "!r0" in {c for _, c, _ in mx.delivered} and len(mx.delivered) == 4
    assert mx.calls[0]["txn"] in ("tsx5.0.0", "tsx6.0.0")  # the stored id, not a new one
    if policy == "resend":
        assert counts == {"resent": 4, "duplicates_risked": 2, "held": 0}
        assert statuses(store) == {"sent": 8}
        assert rows["c0"] == rows["c1"] == (0, 1, 1)
        assert "na een crash: 4; daarvan mogelijk dubbel aangekomen: 2" in status_text(store)
    else:
        assert counts == {"resent": 2, "duplicates_risked": 0, "held": 2}
        assert statuses(store) == {"sent": 6, "uncertain": 2}
        assert {c for _, c, _ in tg.delivered} == {"c2", "c3"}
        text = status_text(store, "hold")
        assert "vastgehouden: 2" in text and "Let op: 2 bericht(en) onzeker" in text

async def test_replies_take_the_shared_budget_ahead_of_the_broadcast(store: Store) -> None:
    """40 replies ask for slots in the middle of a broadcast: each gets one of the next 40
    slots (about 1.4 s at 30/s); the broadcast waits behind them and then goes on."""
    clock = FakeClock()
    limits = Limits()
    budget = PlatformBudget(limits.global_per_second, clock=clock.time, sleep=clock.sleep)
    sender = FakeSender(clock, latency=0.05, fail=enforcing(limits))
    sender.budget = budget  # type: ignore[attr-defined]
    add_rows(store, 300)
    dispatcher = make(store, clock, [sender])
    dispatcher.budgets["telegram"] = budget  # the transport's budget (real clocks do this)
    granted: list[float] = []

    async def people() -> None:
        await clock.sleep(3.0)
        asked = clock.now

        async def reply() -> None:
            await budget.acquire()
            granted.append(clock.now)
            sender.calls.append({"t": clock.now, "chat": "person", "group": False})

        await asyncio.gather(*(reply() for _ in range(40)))
        assert max(granted) - asked <= 40 * budget.interval + 0.05

    await asyncio.gather(drain(dispatcher, store, clock), people())
    assert len(granted) == 40 and statuses(store) == {"sent": 300}
    start, end = min(granted), max(granted)
    broadcast_between = [c for c in sender.calls if start < c["t"] < end and c["chat"] != "person"]
    assert len(broadcast_between) <= 1, broadcast_between  # at most the one already going
    assert sender.answered_429 == []  # together they stayed within the platform's limit
