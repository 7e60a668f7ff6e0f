"""Dispatcher: outbox -> fake platform, exactly once, under rate limits, on a virtual clock."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import random
import sqlite3
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.engine.messages import Reply, reply_to_payload
from bot.schedule.dispatcher import (
    Dispatcher,
    Limits,
    RetryAfter,
    TransientError,
    Unreachable,
    drop_uncertain,
    recover_in_flight,
    requeue_uncertain,
    status_counts,
    status_text,
)
from bot.store import Store
from tests.waiting import PATIENCE

if TYPE_CHECKING:
    from bot.channel import DeliveryKey

START = 1_782_889_200.0  # 2026-07-01 07:00 UTC


class FakeClock:
    """Virtual time: ``sleep`` waits until the driver advances the clock, which it does only
    when no task can run. A run of minutes of virtual time takes a fraction of a second."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._heap, (self.now + max(0.0, seconds), self._seq, fut))
        await fut

    async def _settle(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(10_000):
            await asyncio.sleep(0)
            if not getattr(loop, "_ready", None):
                return

    async def drive(self) -> None:
        while True:
            await self._settle()
            while self._heap and self._heap[0][2].done():
                heapq.heappop(self._heap)
            if not self._heap:
                await asyncio.sleep(0.001)  # nothing scheduled: real time passes a little
                continue
            deadline = self._heap[0][0]
            self.now = max(self.now, deadline)
            while self._heap and self._heap[0][0] <= self.now:
                _, _, fut = heapq.heappop(self._heap)
                if not fut.done():
                    fut.set_result(None)


class FakeSender:
    """Records every request; ``fail(call)`` may return an exception to raise."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        platform: str = "telegram",
        latency: Callable[[], float] | float = 0.1,
        fail: Callable[[dict[str, Any]], BaseException | None] | None = None,
        idempotent: bool = False,
    ) -> None:
        self.platform = platform
        self.idempotent = idempotent
        self.clock = clock
        self.latency = latency
        self.fail = fail
        self.calls: list[dict[str, Any]] = []
        self.delivered: list[tuple[float, str, str]] = []
        self.answered_429: list[tuple[float, float]] = []  # (answer time, retry_after)

    async def send(self, chat_id: str, replies: list[Reply], *, is_group: bool,
                   key: DeliveryKey | None = None) -> str | None:
        call = {"t": self.clock.now, "chat": chat_id, "group": is_group,
                "text": replies[0].text, "n": len(replies), "no": len(self.calls),
                "txn": key.txn_id(0) if key else None}
        self.calls.append(call)
        exc = self.fail(call) if self.fail else None  # the server decides on arrival
        latency = self.latency() if callable(self.latency) else self.latency
        await self.clock.sleep(latency)
        if exc is not None:
            if isinstance(exc, RetryAfter):
                self.answered_429.append((self.clock.now, exc.seconds))
            if getattr(exc, "arrived", False):  # a timeout after the server took it
                for reply in replies:
                    self.delivered.append((call["t"], chat_id, reply.text))
            raise exc
        for reply in replies:
            self.delivered.append((call["t"], chat_id, reply.text))
        return f"m{len(self.delivered)}"


def enforcing(limits: Limits, retry_after: float = 3.0) -> Callable[[dict[str, Any]], Any]:
    """A server that answers 429 when a client goes over the limits (sliding windows)."""
    seen: deque[float] = deque()
    per_chat: dict[str, deque[float]] = defaultdict(deque)
    per_group: dict[str, deque[float]] = defaultdict(deque)

    def check(call: dict[str, Any]) -> BaseException | None:
        t = call["t"]
        over = False
        for window, span, limit in (
            (seen, 1.0, limits.global_per_second),
            (per_chat[call["chat"]], 1.0, limits.per_chat_per_second),
            *([(per_group[call["chat"]], 60.0, limits.per_group_per_minute)]
              if call["group"] else []),
        ):
            while window and window[0] <= t - span:
                window.popleft()
            window.append(t)
            if len(window) > limit:
                over = True
        return RetryAfter(retry_after) if over else None

    return check


def max_in_window(times: list[float], span: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - span:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "outbox.db", synchronous="OFF")
    yield s
    s.close()


def payload(*texts: str) -> str:
    return json.dumps([reply_to_payload(Reply(text=t)) for t in texts])


def add_rows(
    store: Store, n: int, *, chats: Callable[[int], str] = lambda i: f"c{i}",
    parts: Callable[[int], int] = lambda i: 1, is_group: bool = False,
    member: Callable[[int], int | None] = lambda i: None, kind: str = "tip",
    platform: str = "telegram",
) -> None:
    with store.transaction():
        for i in range(n):
            texts = [f"row{i} part{j}" for j in range(parts(i))]
            assert store.enqueue_row(
                platform=platform, chat_id=chats(i), kind=kind, period=f"p{i}",
                payload=payload(*texts), not_before="2026-07-01T07:00:00+00:00",
                now="2026-07-01T07:00:00+00:00", member_id=member(i), is_group=is_group,
            )


def statuses(store: Store) -> Counter[str]:
    return Counter(r[0] for r in store.conn.execute("SELECT status FROM outbox"))


async def drain(dispatcher: Dispatcher, store: Store, clock: FakeClock,
                *, until: Callable[[], bool] | None = None) -> None:
    """run_forever until no row is pending or sending (or ``until``), on the virtual clock."""
    driver = asyncio.create_task(clock.drive())
    stop = asyncio.Event()

    async def watch() -> None:
        while True:
            done = until() if until else not (statuses(store).keys() & {"pending", "sending"})
            if done:
                stop.set()
                return
            await clock.sleep(0.5)

    try:
        await asyncio.wait_for(
            asyncio.gather(dispatcher.run_forever(stop, tick_seconds=1.0), watch()), timeout=PATIENCE
        )
    finally:
        driver.cancel()


def make(store: Store, clock: FakeClock, senders: list[FakeSender], **kw: Any) -> Dispatcher:
    return Dispatcher(store, {s.platform: s for s in senders}, clock=clock.time,
                      sleep=clock.sleep, random=kw.pop("random", random.Random(7).random), **kw)


# -- delivery ------------------------------------------------------------------------------------


async def test_2000_rows_exactly_once_with_429_and_5xx(store: Store) -> None:
    clock = FakeClock()
    rng = random.Random(42)

    def fail(call: dict[str, Any]) -> BaseException | None:
        r = rng.random()
        if r < 0.01:
            return RetryAfter(2.0)
        if r < 0.04:
            return TransientError("502 Bad Gateway")
        return None

    sender = FakeSender(clock, latency=lambda: rng.uniform(0.05, 0.2), fail=fail)
    # 2,000 rows; every 10th has two replies; some chats get several rows
    add_rows(store, 2000, chats=lambda i: f"c{i % 1700}", parts=lambda i: 2 if i % 10 == 0 else 1)
    dispatcher = make(store, clock, [sender], backoff_base=0.5)
    await drain(dispatcher, store, clock)

    assert statuses(store) == {"sent": 2000}
    texts = Counter(text for _, _, text in sender.delivered)
    assert len(texts) == 2200 and set(texts.values()) == {1}  # every reply exactly once
    # a row's replies arrive in order
    order = {text: t for t, _, text in sender.delivered}
    for i in range(0, 2000, 10):
        assert order[f"row{i} part0"] < order[f"row{i} part1"]
    # after a 429 nothing was sent to the platform until retry_after had passed
    for answered, wait in sender.answered_429:
        assert not [c for c in sender.calls if answered <= c["t"] < answered + wait]
    # limits held for every request, failed ones included
    times = [c["t"] for c in sender.calls]
    assert max_in_window(times, 1.0) <= 30
    by_chat: dict[str, list[float]] = defaultdict(list)
    for c in sender.calls:
        by_chat[c["chat"]].append(c["t"])
    assert max(max_in_window(ts, 1.0) for ts in by_chat.values()) <= 1
    assert dispatcher.totals.rate_limited == len(sender.answered_429) > 0
    assert dispatcher.totals.transient > 0


@pytest.mark.parametrize("parts", [1, 2])
async def test_sustained_rate_without_429(store: Store, parts: int) -> None:
    """>= 95 % of the limit with slow answers (50-200 ms), and the server never says 429."""
    clock = FakeClock()
    limits = Limits()
    rng = random.Random(1)
    sender = FakeSender(clock, latency=lambda: rng.uniform(0.05, 0.2), fail=enforcing(limits))
    n = 2000 // parts
    add_rows(store, n, parts=lambda i: parts)  # a private tip is two messages
    dispatcher = make(store, clock, [sender], limits=limits)
    t0 = clock.now
    await drain(dispatcher, store, clock)
    assert statuses(store) == {"sent": n}
    assert sender.answered_429 == []
    times = sorted(c["t"] for c in sender.calls)
    assert len(times) == 2000
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate >= 0.95 * limits.global_per_second, rate
    assert max_in_window(times, 1.0) <= 30
    assert clock.now - t0 < 2000 / (0.95 * 30) + 5


async def test_group_chat_limit(store: Store) -> None:
    clock = FakeClock()
    limits = Limits()
    sender = FakeSender(clock, latency=0.05, fail=enforcing(limits))
    add_rows(store, 30, chats=lambda i: "-100group", is_group=True)  # one busy group chat
    add_rows_more = 60
    with store.transaction():
        for i in range(add_rows_more):  # plus private rows that must not wait for the group
            store.enqueue_row(platform="telegram", chat_id=f"p{i}", kind="tip", period="x",
                              payload=payload(f"private {i}"), not_before="2026-07-01T07:00:00+00:00",
                              now="2026-07-01T07:00:00+00:00")
    dispatcher = make(store, clock, [sender], limits=limits)
    await drain(dispatcher, store, clock)
    assert statuses(store) == {"sent": 90}
    assert sender.answered_429 == []
    group_times = [c["t"] for c in sender.calls if c["chat"] == "-100group"]
    assert max_in_window(group_times, 60.0) <= 20
    assert max_in_window(group_times, 1.0) <= 1
    assert (group_times[-1] - group_times[0]) / (len(group_times) - 1) >= 3.0  # ~20/min
    private_done = max(c["t"] for c in sender.calls if c["chat"].startswith("p"))
    assert private_done - START < 5  # not stuck behind the group chat


async def test_platforms_are_paced_separately(store: Store) -> None:
    clock = FakeClock()
    tg = FakeSender(clock, platform="telegram", latency=0.05)
    mx = FakeSender(clock, platform="matrix", latency=0.05)
    add_rows(store, 60, platform="telegram")
    add_rows(store, 60, platform="matrix", chats=lambda i: f"!room{i}:example.org")
    dispatcher = make(store, clock, [tg, mx])
    await drain(dispatcher, store, clock)
    assert len(tg.delivered) == 60 and len(mx.delivered) == 60
    assert clock.now - START < 3.5  # both at ~30/s side by side, not 120 rows at 30/s


# -- failures ------------------------------------------------------------------------------------


async def test_unreachable_marks_member_and_cancels_rows(store: Store) -> None:
    clock = FakeClock()
    m = store.get_or_create_member("telegram", "42", "Sam")
    other = store.get_or_create_member("telegram", "43", "Kim")
    sender = FakeSender(
        clock, fail=lambda call: Unreachable("403 Forbidden: bot was blocked by the user")
        if call["chat"] == "42" else None,
    )
    with store.transaction():
        for kind in ("tip", "invite", "reminder"):
            for member, chat in ((m, "42"), (other, "43")):
                store.enqueue_row(platform="telegram", chat_id=chat, kind=kind, period="2026-07",
                                  payload=payload(f"{kind} voor {chat}"), member_id=member,
                                  not_before="2026-07-01T07:00:00+00:00",
                                  now="2026-07-01T07:00:00+00:00")
    dispatcher = make(store, clock, [sender])
    await drain(dispatcher, store, clock)
    rows = store._all("SELECT chat_id, kind, status FROM outbox ORDER BY id")
    mine = [r["status"] for r in rows if r["chat_id"] == "42"]
    assert mine == ["unreachable", "cancelled", "cancelled"]
    assert all(r["status"] == "sent" for r in rows if r["chat_id"] == "43")
    assert len([c for c in sender.calls if c["chat"] == "42"]) == 1
    assert store.get_member(m)["unreachable_at"] is not None
    assert store.get_member(other)["unreachable_at"] is None


async def test_group_unreachable_cancels_chat_rows(store: Store) -> None:
    clock = FakeClock()
    sender = FakeSender(clock, fail=lambda call: Unreachable("403: bot was kicked")
                        if call["chat"] == "-1" else None)
    add_rows(store, 3, chats=lambda i: "-1", is_group=True)
    dispatcher = make(store, clock, [sender])
    await drain(dispatcher, store, clock)
    assert statuses(store) == {"unreachable": 1, "cancelled": 2}


async def test_backoff_grows_then_failed(store: Store) -> None:
    clock = FakeClock()
    sender = FakeSender(clock, latency=0.01, fail=lambda call: TransientError("503"))
    add_rows(store, 1)
    dispatcher = make(store, clock, [sender], max_attempts=5, backoff_base=2.0,
                      random=lambda: 0.0)
    await drain(dispatcher, store, clock)
    assert statuses(store) == {"failed": 1}
    row = store._one("SELECT * FROM outbox")
    assert row["attempts"] == 5 and "503" in row["last_error"]
    times = [c["t"] for c in sender.calls]
    assert len(times) == 5
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:], strict=False))
    assert gaps[0] >= 2.0 and gaps[-1] >= 16.0
    # jitter stays within 25 % and never shrinks the delay
    d = Dispatcher(store, {}, random=lambda: 0.999)
    assert [round(d.backoff(n)) for n in (1, 2, 3)] == [1, 2, 5]
    assert d.backoff(40) <= d.backoff_max * 1.25


async def test_partial_send_resumes_with_the_rest(store: Store) -> None:
    clock = FakeClock()
    failed = {"done": False}

    def fail(call: dict[str, Any]) -> BaseException | None:
        if call["text"] == "row0 part1" and not failed["done"]:
            failed["done"] = True
            return RetryAfter(1.0)
        return None

    sender = FakeSender(clock, fail=fail)
    add_rows(store, 1, parts=lambda i: 3)
    dispatcher = make(store, clock, [sender])
    await drain(dispatcher, store, clock)
    assert [text for _, _, text in sender.delivered] == ["row0 part0", "row0 part1", "row0 part2"]
    assert statuses(store) == {"sent": 1}


# -- crash safety ----------------------------------------------------------------------------------


async def test_crash_mid_send_leaves_uncertain_and_no_resend(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    store = Store(path, synchronous="OFF")
    clock = FakeClock()
    add_rows(store, 20)
    hang = asyncio.Event()
    observed: dict[str, Any] = {}

    class HangingSender(FakeSender):
        async def send(self, chat_id: str, replies: list[Reply], *, is_group: bool) -> str | None:
            if chat_id == "c5":
                # the row was committed as 'sending' before the request left
                probe = Store(path)
                observed["status"] = probe._one(
                    "SELECT status FROM outbox WHERE chat_id = 'c5'")["status"]
                probe.close()
                hang.set()
                await asyncio.Event().wait()  # the process dies while this request is out
            return await super().send(chat_id, replies, is_group=is_group)

    sender = HangingSender(clock, latency=0.05)
    dispatcher = make(store, clock, [sender])
    driver = asyncio.create_task(clock.drive())
    task = asyncio.create_task(dispatcher.run_once())
    await asyncio.wait_for(hang.wait(), timeout=PATIENCE)
    task.cancel()  # the crash
    with pytest.raises(asyncio.CancelledError):
        await task
    driver.cancel()
    store.close()
    assert observed["status"] == "sending"

    # restart: every row whose request was out at the crash is uncertain, c5 among them
    store = Store(path, synchronous="OFF")
    in_flight = {r["chat_id"] for r in store._all(
        "SELECT chat_id FROM outbox WHERE status = 'sending'")}
    assert "c5" in in_flight
    assert recover_in_flight(store) == len(in_flight)
    clock2 = FakeClock(clock.now + 5)
    sender2 = FakeSender(clock2, latency=0.05)
    await drain(make(store, clock2, [sender2]), store, clock2)
    assert statuses(store) == {"sent": 20 - len(in_flight), "uncertain": len(in_flight)}
    before = {text for _, _, text in sender.delivered}
    after = {text for _, _, text in sender2.delivered}
    assert not in_flight & {chat for _, chat, _ in sender2.delivered}  # not resent blindly
    assert not before & after  # nothing twice
    assert len(before | after) + len(in_flight) == 20  # nothing lost without a trace
    counts = status_counts(store)
    assert sum(v.get("uncertain", 0) for v in counts.values()) == len(in_flight)
    assert "onzeker" in status_text(store)

    # the operator decides: resend it
    assert requeue_uncertain(store) == len(in_flight)
    await drain(make(store, clock2, [sender2]), store, clock2)
    assert statuses(store) == {"sent": 20}
    store.close()


async def test_drop_uncertain(store: Store) -> None:
    add_rows(store, 3)
    store.conn.execute("UPDATE outbox SET status = 'sending' WHERE id IN (1, 2)")
    assert recover_in_flight(store) == 2
    assert drop_uncertain(store, [1]) == 1
    assert requeue_uncertain(store, [2]) == 1
    assert statuses(store) == {"dropped": 1, "pending": 2}


async def test_claimed_rows_only_once_by_two_dispatchers(store: Store, tmp_path: Path) -> None:
    """A second dispatcher on the same database never sends a row the first one claimed."""
    clock = FakeClock()
    add_rows(store, 200)
    other_store = Store(store.path, synchronous="OFF")
    s1 = FakeSender(clock, latency=0.05)
    s2 = FakeSender(clock, latency=0.05)
    d1, d2 = make(store, clock, [s1]), make(other_store, clock, [s2])
    driver = asyncio.create_task(clock.drive())
    try:
        await asyncio.wait_for(asyncio.gather(d1.run_once(), d2.run_once()), timeout=PATIENCE)
    finally:
        driver.cancel()
        other_store.close()
    texts = [t for _, _, t in s1.delivered] + [t for _, _, t in s2.delivered]
    assert len(texts) == len(set(texts)) == 200
    assert statuses(store) == {"sent": 200}


async def test_stop_event_releases_open_rows(store: Store) -> None:
    clock = FakeClock()
    sender = FakeSender(clock, latency=0.05)
    add_rows(store, 50, parts=lambda i: 3)
    dispatcher = make(store, clock, [sender])
    # stop after the first few messages: rows half sent go back to pending with the rest
    await drain(dispatcher, store, clock, until=lambda: len(sender.delivered) >= 10)
    assert "sending" not in statuses(store)
    first = len(sender.delivered)
    await drain(make(store, clock, [sender]), store, clock)
    texts = [t for _, _, t in sender.delivered]
    assert len(texts) == len(set(texts)) == 150 and first < 150
    assert statuses(store) == {"sent": 50}


async def test_max_items_and_status(store: Store) -> None:
    clock = FakeClock()
    sender = FakeSender(clock, latency=0.05)
    add_rows(store, 10)
    dispatcher = make(store, clock, [sender])
    driver = asyncio.create_task(clock.drive())
    try:
        stats = await asyncio.wait_for(dispatcher.run_once(max_items=4), timeout=PATIENCE)
    finally:
        driver.cancel()
    assert stats.rows_sent == 4 and statuses(store) == {"sent": 4, "pending": 6}
    counts = status_counts(store)
    assert counts["tip p0"] == {"sent": 1}
    text = status_text(store)
    assert "tip p9" in text and "totaal" in text




# -- defects found under faults (these tests use only what the old dispatcher had too) ------------


def timed_out(arrived: bool) -> TransientError:
    """A read timeout after the request left (``arrived``: the server did take it)."""
    exc = TransientError("TimedOut: read timeout", maybe_delivered=True)
    exc.arrived = arrived  # type: ignore[attr-defined]
    return exc


def row_counts(store: Store) -> dict[str, tuple[int, int, int]]:
    """chat -> (timeout_resends, crash_resends, dup_risk)."""
    return {r["chat_id"]: (r["timeout_resends"], r["crash_resends"], r["dup_risk"])
            for r in store._all("SELECT * FROM outbox")}


async def test_a_timeout_is_sent_again_once_after_a_pause_and_counted(store: Store) -> None:
    """No crash, only timeouts: every row arrives (some twice: counted as risked), none ends
    'uncertain' waiting for an operator (it used to: 40 of 300 members lost the tip)."""
    clock = FakeClock()
    first: set[str] = set()

    def fail(call: dict[str, Any]) -> BaseException | None:
        n = int(call["chat"][1:])
        if n < 10 and call["chat"] not in first:
            first.add(call["chat"])
            return timed_out(arrived=n % 2 == 0)  # half of them did arrive
        return None

    sender = FakeSender(clock, latency=0.05, fail=fail)
    add_rows(store, 20)
    dispatcher = make(store, clock, [sender])
    await drain(dispatcher, store, clock)

    assert statuses(store) == {"sent": 20}
    got = Counter(chat for _, chat, _ in sender.delivered)
    assert set(got) == {f"c{i}" for i in range(20)}  # nobody missed it
    assert {c for c, n in got.items() if n > 1} == {f"c{i}" for i in range(0, 10, 2)}
    for i in range(10):  # sent again once, after the pause
        times = [c["t"] for c in sender.calls if c["chat"] == f"c{i}"]
        assert len(times) == 2 and times[1] - times[0] >= dispatcher.policy.timeout_pause
    counts = row_counts(store)
    assert all(counts[f"c{i}"] == (1, 0, 1) for i in range(10))
    assert all(counts[f"c{i}"] == (0, 0, 0) for i in range(10, 20))
    assert dispatcher.totals.resent == dispatcher.totals.dup_risk == 10
    text = status_text(store)
    assert "TEAMSPIEGEL_UNCERTAIN=resend" in text
    assert "opnieuw verstuurd na een time-out: 10" in text
    assert "mogelijk dubbel aangekomen: 10" in text and "vastgehouden: 0" in text


async def test_the_sender_survives_a_locked_database(tmp_path: Path, caplog) -> None:
    """Another writer holds the database past the busy timeout. The tip sender used to die
    silently (575 rows stuck until a restart). Now it says so once, waits, says once that it
    is back, and sends every row exactly once; no row is left in flight."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "locked.db"
    store = Store(path, synchronous="OFF")
    store.conn.execute("PRAGMA busy_timeout=50")
    add_rows(store, 40)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock, held
    clock = FakeClock()
    sender = FakeSender(clock, latency=0.05)
    dispatcher = make(store, clock, [sender])
    driver = asyncio.create_task(clock.drive())
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop, tick_seconds=1.0))

    def hit_the_lock() -> bool:
        return task.done() or any("locked" in r.getMessage() for r in caplog.records)

    try:
        for _ in range(3000):
            if hit_the_lock():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # it keeps trying (each try waits the busy timeout)
        assert hit_the_lock() and not task.done(), task.exception() if task.done() else None
        blocker.execute("COMMIT")  # the other writer is done
        for _ in range(3000):
            if statuses(store) == {"sent": 40} or task.done():
                break
            await asyncio.sleep(0.01)
        assert not task.done(), task.exception()
        assert statuses(store) == {"sent": 40}
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, PATIENCE)
        driver.cancel()
        blocker.close()
    texts = Counter(t for _, _, t in sender.delivered)
    assert len(texts) == 40 and set(texts.values()) == {1}
    down = [r for r in caplog.records if "unavailable" in r.getMessage()]
    back = [r for r in caplog.records if "available again" in r.getMessage()]
    assert len(down) == 1 and len(back) == 1, [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks for an outage"
    store.close()


async def test_outcomes_are_kept_until_a_full_disk_lets_them_be_written(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers came back but 'sent' cannot be written (disk full): the dispatcher keeps them,
    writes them when it can, and never sends those rows again."""
    clock = FakeClock()
    sender = FakeSender(clock, latency=0.05)
    add_rows(store, 30)
    real = store.outbox_sent
    failures = {"left": 3}

    def outbox_sent(rows: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise sqlite3.OperationalError("database or disk is full")
        real(rows)

    monkeypatch.setattr(store, "outbox_sent", outbox_sent)
    dispatcher = make(store, clock, [sender])
    await drain(dispatcher, store, clock)
    assert failures["left"] == 0
    assert statuses(store) == {"sent": 30}
    texts = Counter(t for _, _, t in sender.delivered)
    assert len(texts) == 30 and set(texts.values()) == {1}


async def test_a_stale_read_never_sends_what_another_process_sent(store: Store) -> None:
    """This dispatcher read a two-message row; before it claimed it, another process sent the
    first message and left the row pending with the second (how 123 of 600 members got a tip
    twice). The claim returns the row as it is now: only the second message goes out."""
    clock = FakeClock()
    add_rows(store, 1, parts=lambda i: 2)
    stale = store.due_outbox("2026-07-01T07:00:00+00:00", ["telegram"])
    store.outbox_reschedule(int(stale[0]["id"]), status="pending", payload=payload("row0 part1"),
                            error=None)
    sender = FakeSender(clock, latency=0.05)
    dispatcher = make(store, clock, [sender])
    reads = iter([stale])
    real = store.due_outbox
    store.due_outbox = lambda *a, **kw: next(reads, None) or real(*a, **kw)  # type: ignore
    await drain(dispatcher, store, clock)
    assert [t for _, _, t in sender.delivered] == ["row0 part1"]
    assert statuses(store) == {"sent": 1}


async def test_the_loop_never_waits_for_a_request_that_already_finished(store: Store) -> None:
    """Regression: the last request of a pass finished and its outcome was written, but its
    task still sat in ``in_flight`` (done-callbacks run later); with nothing else scheduled the
    pass waited for a wake-up that could not come, and the broadcast stalled until a restart."""
    import math

    from bot.schedule.dispatcher import _Pass, _Row

    dispatcher = Dispatcher(store, {})
    st = _Pass()
    dispatcher._wake = asyncio.Event()
    finished = asyncio.get_running_loop().create_future()
    finished.set_result(None)
    st.in_flight[finished] = _Row(1, "telegram", "c1", False, None, "tip", "p", 0, [])  # type: ignore[index]
    await asyncio.wait_for(dispatcher._wait(st, math.inf), timeout=PATIENCE)
