"""Drains the outbox under the platforms' rate limits: nothing lost silently, nothing twice where
a database (or the platform's idempotency key) can see it.

For each due row: claim it as ``sending`` (short transaction; the claim returns the row as it is
in the store and sets its transaction id), send at once, commit ``sent`` after the answer. A row
of several messages goes back to ``pending`` with the messages still to send after each answer,
so between two messages nothing is in flight. Only rows with a request out can be caught in
``sending`` by a crash; :meth:`Dispatcher.recover` handles them at the next start by the
platform's rules (:mod:`bot.channel`): an idempotent platform (Matrix) simply gets them again
with the same transaction ids (delivered once); otherwise the uncertain policy decides
(``resend``: again, counted as a possible duplicate; ``hold``: ``uncertain``, for an operator:
:func:`requeue_uncertain` / :func:`drop_uncertain`). A timeout is not a crash: the request is
sent again once after a pause, and counted.

Pacing. One scheduler loop makes every decision; the replies of a row are sent one request at a
time, each paced on three limiters (GCRA / virtual scheduling): per platform (30/s), per chat
(1/s) and per group chat (20/min). The platform limiter is the :class:`~bot.channel.PlatformBudget`
that the transport's replies to people use too (``sender.budget``): replies reserve their slots
first and the broadcast takes what they leave, so a broadcast never starves a conversation.
Each limiter spaces requests ``window * (1 + margin) / limit`` apart with a small tolerance for a
late wake-up, which guarantees that any sliding window holds at most ``limit`` requests while
keeping the sustained rate at ``1 / (1 + margin)`` of the limit (98 % with the default 2 %
margin). Many requests are in flight at once (``concurrency``), so a slow platform answer does
not lower the rate. A 429 pauses the whole platform for its ``retry_after``; 5xx back off
exponentially per row; a 403 marks the member unreachable (:data:`~bot.channel.BROADCAST_POLICY`).

Database errors (a lock held past the busy timeout, a full disk) never end the dispatcher: the
outcomes of requests already answered stay in memory and are written when the database is back,
the outage is logged once (and once when it ends), and sending goes on after a backoff.

Run one dispatcher per bot account: limits are kept in this process's memory (``teamspiegel
run`` refuses a second process on the same database, see :mod:`bot.app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random as _random
import sqlite3
import time as _time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.channel import (
    BROADCAST_POLICY,
    DeliveryError,
    DeliveryKey,
    PlatformBudget,
    RetryAfter,
    RetryPolicy,
    Sender,
    TransientError,
    Uncertain,
    UncertainPolicy,
    Unreachable,
)
from bot.engine.messages import Reply, reply_from_payload, reply_to_payload
from bot.schedule.planner import schedule_overview, set_team_schedule
from bot.store.health import is_outage

if TYPE_CHECKING:
    from bot.store import Store

__all__ = [
    "DispatchStats",
    "Dispatcher",
    "Limits",
    "RetryAfter",
    "Sender",
    "TransientError",
    "Uncertain",
    "UncertainPolicy",
    "Unreachable",
    "drop_uncertain",
    "recover_in_flight",
    "requeue_uncertain",
    "schedule_overview",
    "set_team_schedule",
    "status_counts",
    "status_text",
]

log = logging.getLogger(__name__)


# -- configuration and results --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits per platform. ``margin`` widens every window a little (safety for jitter).
    ``global_per_second`` applies when a sender brings no budget of its own."""

    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0
    margin: float = 0.02


@dataclass(slots=True)
class DispatchStats:
    rows_sent: int = 0
    messages: int = 0
    rate_limited: int = 0
    transient: int = 0
    failed: int = 0
    unreachable: int = 0
    uncertain: int = 0
    cancelled: int = 0
    lost_claims: int = 0
    #: requests that may have arrived, sent again (after a timeout)
    resent: int = 0
    #: of those, without an idempotency key (a duplicate is possible)
    dup_risk: int = 0
    #: database errors met (the dispatcher waited and went on)
    db_errors: int = 0
    elapsed: float = 0.0

    def add(self, other: DispatchStats) -> None:
        for name in self.__slots__:  # type: ignore[attr-defined]
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def rate(self) -> float:
        """Messages per second over the run."""
        return self.messages / self.elapsed if self.elapsed > 0 else 0.0


class _Pacer:
    """GCRA: requests at least ``interval`` apart on average, ``tolerance`` early allowed."""

    __slots__ = ("interval", "tolerance", "tat")

    def __init__(self, interval: float, tolerance: float) -> None:
        self.interval = interval
        self.tolerance = tolerance
        self.tat = -math.inf

    def ready_at(self) -> float:
        return self.tat - self.tolerance

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + self.interval


def _pacer_factory(limit: float, window: float, margin: float) -> Callable[[], _Pacer]:
    """Spacing ``window*(1+margin)/limit`` and tolerance ``window*margin/2``: any sliding window
    of ``window`` seconds then holds at most ``limit`` requests."""
    if limit <= 0:
        raise ValueError("limits must be positive")
    interval = window * (1.0 + margin) / limit
    tolerance = window * margin / 2.0
    return lambda: _Pacer(interval, tolerance)


@dataclass(slots=True, eq=False)
class _Row:
    id: int
    platform: str
    chat_id: str
    is_group: bool
    member_id: int | None
    kind: str
    period: str
    attempts: int
    #: the replies still to send when the row was (last) claimed; ``index``: the next one
    replies: list[Reply]
    index: int = 0
    #: replies of the row delivered before ``replies[0]`` (the store's ``delivered``)
    offset: int = 0
    timeout_resends: int = 0
    txn_id: str = ""
    message_id: str | None = None

    def key(self) -> DeliveryKey:
        return DeliveryKey(self.txn_id, self.offset + self.index)


@dataclass(slots=True)
class _Done:
    row: _Row
    outcome: str  # ok | retry | transient | unreachable | error
    message_id: str | None = None
    exc: BaseException | None = None


@dataclass(slots=True)
class _Pass:
    """State of one :meth:`Dispatcher.run_once`."""

    queue: list[_Row] = field(default_factory=list)
    queued: set[int] = field(default_factory=set)
    open_rows: list[_Row] = field(default_factory=list)
    in_flight: dict[asyncio.Task[None], _Row] = field(default_factory=dict)
    cursor: int = 0
    exhausted: bool = False
    claimed: int = 0
    stats: DispatchStats = field(default_factory=DispatchStats)


def _iso(ts: float, *, up: bool = False) -> str:
    """Epoch seconds -> store timestamp; ``up`` rounds up (never early), else down."""
    whole = math.ceil(ts) if up else math.floor(ts)
    return datetime.fromtimestamp(whole, UTC).isoformat(timespec="seconds")


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _payload(replies: Sequence[Reply]) -> str:
    return json.dumps([reply_to_payload(r) for r in replies], ensure_ascii=False,
                      separators=(",", ":"))


def _parse_payload(text: str) -> list[Reply]:
    return [reply_from_payload(p) for p in json.loads(text)]


#: waits after database errors: first, then doubling up to the last
DB_BACKOFF = (0.5, 30.0)
# -- the dispatcher ---------------------------------------------------------------------------------


class Dispatcher:
    """Sends due outbox rows through the platform senders.

    ``clock``: wall clock in epoch seconds (timestamps in the store). ``monotonic``: clock for
    pacing (default: ``time.monotonic``, or ``clock`` when a clock is injected). ``sleep``:
    ``asyncio.sleep`` or a test double. ``concurrency``: requests in flight at most.
    ``uncertain``: what happens to a non-idempotent request that may have arrived (see
    :class:`~bot.channel.UncertainPolicy`); ``max_attempts``/``backoff_*``/``timeout_pause``
    shape the :class:`~bot.channel.RetryPolicy` (or pass ``policy``). A sender's own ``budget``
    (shared with its replies) is used when the clocks are the real ones; otherwise each
    platform gets a budget of ``limits.global_per_second`` on the dispatcher's clock.
    ``on_delivered(platform, member_id, reply)``: told of every reply delivered into a person's
    private chat, inside the transaction that records it (the engine remembers a tip's options
    there: :meth:`bot.engine.core.Engine.scheduled_delivered`).
    """

    def __init__(
        self,
        store: Store,
        senders: dict[str, Sender],
        limits: Limits = Limits(),  # noqa: B008 (frozen dataclass)
        *,
        max_attempts: int = BROADCAST_POLICY.attempts,
        backoff_base: float = BROADCAST_POLICY.backoff_base,
        backoff_max: float = BROADCAST_POLICY.backoff_max,
        timeout_pause: float = BROADCAST_POLICY.timeout_pause,
        uncertain: UncertainPolicy | str = UncertainPolicy.RESEND,
        policy: RetryPolicy | None = None,
        concurrency: int = 24,
        batch_size: int = 500,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        random: Callable[[], float] | None = None,
        on_delivered: Callable[[str, int, Reply], None] | None = None,
    ) -> None:
        if max_attempts < 1 or concurrency < 1 or batch_size < 1:
            raise ValueError("max_attempts, concurrency and batch_size must be >= 1")
        self.store = store
        self.on_delivered = on_delivered
        self.senders = dict(senders)
        self.limits = limits
        self.uncertain = UncertainPolicy.parse(str(uncertain))
        self.policy = policy or RetryPolicy(
            attempts=max_attempts, backoff_base=backoff_base, backoff_max=backoff_max,
            timeout_resends=BROADCAST_POLICY.timeout_resends, timeout_pause=timeout_pause,
            uncertain=self.uncertain,
        )
        self.max_attempts = self.policy.attempts
        self.backoff_base = self.policy.backoff_base
        self.backoff_max = self.policy.backoff_max
        self.concurrency = concurrency
        self.batch_size = batch_size
        #: claimed rows (open + in flight) at most: bounds what a crash can leave in flight
        self.max_open = concurrency * 4
        self._clock = clock or _time.time
        self._mono = monotonic or (clock if clock is not None else _time.monotonic)
        self._sleep = sleep or asyncio.sleep
        self._random = random or _random.random
        m = limits.margin
        self._new_chat = _pacer_factory(limits.per_chat_per_second, 1.0, m)
        self._new_group = _pacer_factory(limits.per_group_per_minute, 60.0, m)
        real_clocks = clock is None and monotonic is None
        self.budgets: dict[str, PlatformBudget] = {}
        for platform, sender in self.senders.items():
            own = getattr(sender, "budget", None) if real_clocks else None
            self.budgets[platform] = own if isinstance(own, PlatformBudget) else PlatformBudget(
                limits.global_per_second, margin=m, clock=self._mono, sleep=self._sleep)
        self._idempotent = {p: bool(getattr(s, "idempotent", False))
                            for p, s in self.senders.items()}
        self._chats: dict[tuple[str, str], _Pacer] = {}
        self._groups: dict[tuple[str, str], _Pacer] = {}
        self._next_prune = -math.inf
        self._streak: dict[str, int] = {}
        self._done: list[_Done] = []
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._db_wait = DB_BACKOFF[0]
        self.totals = DispatchStats()

    @property
    def platforms(self) -> list[str]:
        return sorted(self.senders)

    def _budget(self, platform: str) -> PlatformBudget:
        budget = self.budgets.get(platform)
        if budget is None:
            budget = self.budgets[platform] = PlatformBudget(
                self.limits.global_per_second, margin=self.limits.margin, clock=self._mono,
                sleep=self._sleep)
        return budget

    # -- pacing -----------------------------------------------------------------------------

    def _pacers(self, row: _Row) -> list[_Pacer]:
        key = (row.platform, row.chat_id)
        c = self._chats.get(key)
        if c is None:
            c = self._chats[key] = self._new_chat()
        if not row.is_group:
            return [c]
        gr = self._groups.get(key)
        if gr is None:
            gr = self._groups[key] = self._new_group()
        return [c, gr]

    def _platform_ready(self, platform: str) -> float:
        return self._budget(platform).ready_at()

    def _ready_at(self, row: _Row) -> float:
        ready = self._budget(row.platform).ready_at()
        for p in self._pacers(row):
            ready = max(ready, p.ready_at())
        return ready

    def _take(self, row: _Row, now: float) -> None:
        self._budget(row.platform).take(now)
        for p in self._pacers(row):
            p.take(now)

    def _prune(self, now: float) -> None:
        """Forget idle chats now and then (an idle chat's pacer is the same as a new one)."""
        if now < self._next_prune:
            return
        self._next_prune = now + 30.0
        for pacers in (self._chats, self._groups):
            if len(pacers) > 5_000:
                for key in [k for k, p in pacers.items() if p.tat < now]:
                    del pacers[key]

    def pause(self, platform: str, seconds: float) -> None:
        """No request to ``platform`` for ``seconds`` (also used on a 429): replies included."""
        self._budget(platform).pause(seconds)

    # -- the loop ---------------------------------------------------------------------------

    async def run_once(self, max_items: int | None = None) -> DispatchStats:
        """Send every row that is due now (and rows that fall due while this runs).

        Returns when nothing due is left, after ``max_items`` rows were claimed, or soon after
        the stop event of :meth:`run_forever` is set (claimed rows that still had replies to
        send go back to ``pending`` with just those replies). A database error does not end
        it: it waits (answers of requests in flight are kept) and goes on.
        """
        st = _Pass()
        started = self._mono()
        self._wake = asyncio.Event()
        try:
            while True:
                stopping = self._stop is not None and self._stop.is_set()
                limit_hit = max_items is not None and st.claimed >= max_items
                try:
                    self._apply_done(st)
                    if stopping:
                        self._release_open(st)
                    if not stopping and not limit_hit:
                        self._refill(st)
                    if not st.queue and not st.open_rows and not st.in_flight:
                        if stopping or limit_hit:
                            break
                        if st.cursor and self._rescan(st):
                            continue
                        break
                    now = self._mono()
                    wait_until = self._start_ready(st, now, claim=not (stopping or limit_hit))
                except sqlite3.Error as exc:
                    st.stats.db_errors += 1
                    self._db_error(exc)
                    if stopping and not st.in_flight:
                        break  # what could not be written stays 'sending' (see recover)
                    await self._wait(st, self._mono() + self._db_backoff())
                    continue
                self._db_wait = DB_BACKOFF[0]
                if (stopping or limit_hit) and not st.in_flight and not st.open_rows:
                    break
                await self._wait(st, wait_until)
        except asyncio.CancelledError:
            # an abrupt stop, like a crash: requests in flight stay 'sending' (see recover);
            # use the stop event of run_forever for a clean stop
            for task in list(st.in_flight):
                task.cancel()
            raise
        finally:
            try:
                self._apply_done(st)
                self._release_open(st)
            except sqlite3.Error as exc:  # the database is down at a stop: recover() knows
                self._db_error(exc)
            self._wake = None
        st.stats.elapsed = self._mono() - started
        self.totals.add(st.stats)
        return st.stats

    def _db_error(self, exc: sqlite3.Error) -> None:
        if is_outage(exc):
            self.store.health.failed(exc)  # says it once, and once more when it is back
        else:
            log.error("outbox: database error (%s: %s); retrying", type(exc).__name__, exc)

    def _db_backoff(self) -> float:
        wait = self._db_wait
        self._db_wait = min(DB_BACKOFF[1], self._db_wait * 2)
        return wait

    def _refill(self, st: _Pass) -> None:
        if st.exhausted or len(st.queue) >= self.batch_size // 2:
            return
        rows = self.store.due_outbox(
            _iso(self._clock()), self.platforms, after_id=st.cursor, limit=self.batch_size
        )
        if len(rows) < self.batch_size:
            st.exhausted = True
        under_way = {r.id for r in st.open_rows}  # pending again between two messages
        for data in rows:
            st.cursor = max(st.cursor, int(data["id"]))
            if int(data["id"]) in under_way:
                continue
            row = self._row(data)
            if row is not None and row.id not in st.queued:
                st.queue.append(row)
                st.queued.add(row.id)

    def _rescan(self, st: _Pass) -> bool:
        """Everything seen was handled: look once more from the start (rows rescheduled by a
        429 or an earlier backoff may be due by now)."""
        st.cursor = 0
        st.exhausted = False
        st.queued.clear()
        self._refill(st)
        return bool(st.queue)

    def _row(self, data: dict[str, Any]) -> _Row | None:
        try:
            replies = _parse_payload(data["payload"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error("outbox row %s has an unreadable payload: %s", data["id"], exc)
            with self.store.transaction():
                self.store.outbox_reschedule(
                    int(data["id"]), status="failed", error=f"payload: {exc}"[:500]
                )
            return None
        return _Row(
            id=int(data["id"]), platform=str(data["platform"]), chat_id=str(data["chat_id"]),
            is_group=bool(data["is_group"]), member_id=data["member_id"], kind=str(data["kind"]),
            period=str(data["period"]), attempts=int(data["attempts"]), replies=replies,
            offset=int(data.get("delivered") or 0),
            timeout_resends=int(data.get("timeout_resends") or 0),
        )

    def _start_ready(self, st: _Pass, now: float, *, claim: bool) -> float:
        """Start every request allowed at ``now``; return when the next one may be allowed."""
        budget = self.concurrency - len(st.in_flight)
        wait_until = math.inf
        # 1. the next reply of rows already under way goes first (when no slot is free, the
        #    next finished request wakes the loop); they are claimed again with the new rows
        follow: list[_Row] = []
        if st.open_rows and budget > 0:
            waiting = []
            for row in st.open_rows:
                ready = self._ready_at(row)
                if budget > 0 and ready <= now:
                    self._take(row, now)
                    follow.append(row)
                    budget -= 1
                else:
                    waiting.append(row)
                    if ready > now:
                        wait_until = min(wait_until, ready)
            st.open_rows = waiting
        # 2. new rows, in id order, skipping rows whose chat is busy
        room = self.max_open - len(st.open_rows) - len(st.in_flight) - len(follow)
        chosen: list[_Row] = []
        if claim and st.queue and budget > 0 and room > 0:
            blocked: dict[str, float] = {}
            keep: list[_Row] = []
            for i, row in enumerate(st.queue):
                if budget <= 0 or room <= 0 or len(blocked) == len(self.senders):
                    keep.extend(st.queue[i:])
                    break
                if row.platform in blocked:
                    keep.append(row)
                    continue
                platform_ready = self._platform_ready(row.platform)
                if platform_ready > now:
                    blocked[row.platform] = platform_ready
                    keep.append(row)
                    continue
                ready = self._ready_at(row)
                if ready <= now:
                    self._take(row, now)
                    chosen.append(row)
                    budget -= 1
                    room -= 1
                else:
                    keep.append(row)
                    wait_until = min(wait_until, ready)
            for ready in blocked.values():
                wait_until = min(wait_until, ready)
            st.queue = keep
        if chosen or follow:
            self._claim_and_launch(st, chosen, follow)
        self._prune(now)
        return wait_until

    def _claim_and_launch(self, st: _Pass, rows: list[_Row], follow: Sequence[_Row] = ()) -> None:
        """Claim new rows and rows with a next reply to send (one commit), then send at once.

        A claim returns the row as it is in the store (another process may have sent part of it
        since we read it): that is what is sent."""
        try:
            with self.store.transaction():
                got = self.store.claim_outbox([r.id for r in (*follow, *rows)],
                                              _iso(self._clock()))
        except BaseException:
            st.open_rows.extend(follow)  # nothing claimed: try them again later
            st.queue[:0] = rows
            raise
        for row in follow:
            if row.id in got:
                self._adopt(row, got[row.id])
                self._launch(st, row)
            else:  # cancelled between two of its messages (paused, opted out, answered)
                st.stats.lost_claims += 1
        for row in rows:
            st.queued.discard(row.id)
            if row.id in got:
                st.claimed += 1
                self._adopt(row, got[row.id])
                self._launch(st, row)
            else:  # cancelled meanwhile, or another process took it
                st.stats.lost_claims += 1

    @staticmethod
    def _adopt(row: _Row, claimed: tuple[str, int, str]) -> None:
        """Send what the claim found in the store, not what an earlier read saw."""
        payload, delivered, txn_id = claimed
        row.txn_id = txn_id
        row.replies = _parse_payload(payload)
        row.offset, row.index = delivered, 0

    def _launch(self, st: _Pass, row: _Row) -> None:
        task = asyncio.create_task(self._send_one(st, row))
        st.in_flight[task] = row
        task.add_done_callback(lambda t: st.in_flight.pop(t, None))  # (also when cancelled)

    async def _send_one(self, st: _Pass, row: _Row) -> None:
        sender = self.senders[row.platform]
        reply = row.replies[row.index]
        try:
            if self._idempotent.get(row.platform):
                message_id = await sender.send(row.chat_id, [reply], is_group=row.is_group,
                                               key=row.key())
            else:
                message_id = await sender.send(row.chat_id, [reply], is_group=row.is_group)
        except RetryAfter as exc:
            self.pause(row.platform, exc.seconds)  # at once: no new request to this platform
            done = _Done(row, "retry", exc=exc)
        except Unreachable as exc:
            done = _Done(row, "unreachable", exc=exc)
        except DeliveryError as exc:  # transient, uncertain or rejected: the policy decides
            done = _Done(row, "transient", exc=exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a transport bug: retry with backoff, give up after max
            log.exception("sender %s failed on outbox row %s", row.platform, row.id)
            done = _Done(row, "error", exc=exc)
        else:
            done = _Done(row, "ok", message_id=message_id)
        # out of in_flight before the loop hears of it: the loop must never wait for a request
        # that has already finished (a done-callback would run only after the loop's next look)
        st.in_flight.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
        self._done.append(done)
        if self._wake is not None:
            self._wake.set()

    async def _wait(self, st: _Pass, until: float) -> None:
        """Sleep until ``until``, a finished request or the stop event, whichever is first."""
        if self._done:
            return
        now = self._mono()
        if until <= now:
            await asyncio.sleep(0)
            return
        assert self._wake is not None
        self._wake.clear()
        waiters: list[asyncio.Future[Any]] = []
        if any(not task.done() for task in st.in_flight):
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        elif until == math.inf:
            await self._sleep(0.01)  # nothing out and nothing scheduled: look again soon
            return
        if self._stop is not None and not self._stop.is_set():
            waiters.append(asyncio.ensure_future(self._stop.wait()))
        if until < math.inf:
            waiters.append(asyncio.ensure_future(self._sleep(until - now)))
        if not waiters:
            return
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                if not w.done():
                    w.cancel()
            for w in waiters:
                with contextlib.suppress(asyncio.CancelledError):
                    await w

    # -- outcomes ---------------------------------------------------------------------------

    def _apply_done(self, st: _Pass) -> None:
        """Write the outcomes of finished requests (one transaction), then update memory.

        When the transaction fails (the database is down) nothing in memory changed and the
        outcomes are kept for the next try: an answered request is never forgotten."""
        if not self._done:
            return
        done, self._done = self._done, []
        wall = self._clock()
        effects: list[Callable[[], None]] = []
        try:
            with self.store.transaction():
                sent: list[tuple[str, str | None, int]] = []
                for d in done:
                    self._record(st, d, wall, sent, effects)
                if sent:
                    self.store.outbox_sent(sent)
        except BaseException:
            self._done[:0] = done
            raise
        for effect in effects:
            effect()

    def _record(
        self, st: _Pass, d: _Done, wall: float, sent: list[tuple[str, str | None, int]],
        effects: list[Callable[[], None]],
    ) -> None:
        """The store writes for one outcome; what changes in memory goes to ``effects``."""
        row, stats = d.row, st.stats
        now_s = _iso(wall)
        if d.outcome == "ok":
            self._delivered(row, row.replies[row.index])
            index = row.index + 1
            message_id = d.message_id or row.message_id
            if index >= len(row.replies):
                sent.append((now_s, message_id, row.id))

                def finished() -> None:
                    stats.messages += 1
                    stats.rows_sent += 1
                    row.index, row.message_id = index, message_id
                    self._streak[row.platform] = 0

                effects.append(finished)
                return
            # nothing of this row is in flight until its next reply: keep only the rest, as
            # pending, so a crash now resumes it instead of leaving it 'sending'
            self.store.outbox_reschedule(
                row.id, status="pending", not_before=now_s, error=None,
                payload=_payload(row.replies[index:]), message_id=message_id,
                delivered=row.offset + index,
            )

            def went_on() -> None:
                stats.messages += 1
                row.index, row.message_id = index, message_id
                self._streak[row.platform] = 0
                st.open_rows.append(row)

            effects.append(went_on)
            return
        exc = d.exc
        delivered = int(getattr(exc, "sent", 0) or 0)
        index = min(len(row.replies), row.index + delivered)

        def progressed() -> None:
            stats.messages += index - row.index
            row.index = index

        effects.append(progressed)
        if index >= len(row.replies):
            sent.append((now_s, row.message_id, row.id))
            effects.append(lambda: setattr(stats, "rows_sent", stats.rows_sent + 1))
            return
        rest = _payload(row.replies[index:]) if index else None
        done_count = row.offset + index
        error = f"{type(exc).__name__}: {exc}"[:500]
        if d.outcome == "retry":
            assert isinstance(exc, RetryAfter)
            self.store.outbox_reschedule(
                row.id, status="pending", not_before=_iso(wall + exc.seconds, up=True),
                error=error, payload=rest, message_id=row.message_id, delivered=done_count,
            )
            effects.append(lambda: setattr(stats, "rate_limited", stats.rate_limited + 1))
            return
        if d.outcome == "unreachable":
            self.store.outbox_reschedule(row.id, status="unreachable", error=error,
                                         payload=rest, message_id=row.message_id,
                                         delivered=done_count)
            self._forget_chat(st, row, now_s, effects)
            effects.append(lambda: setattr(stats, "unreachable", stats.unreachable + 1))
            return
        attempts = row.attempts + 1
        idempotent = self._idempotent.get(row.platform, False)
        decision = self.policy.decide(exc or TransientError(), attempts=attempts,
                                      resends=row.timeout_resends, idempotent=idempotent,
                                      jitter=self._random())
        if decision.action in ("retry", "resend"):
            resend = decision.action == "resend"
            if not resend:
                streak = self._streak.get(row.platform, 0) + 1
                self._streak[row.platform] = streak
                if streak >= 5:  # the platform itself seems down: ease off a little
                    self.pause(row.platform, min(60.0, self.backoff_base * 2 ** (streak - 5)))
            self.store.outbox_reschedule(
                row.id, status="pending", attempts=attempts,
                not_before=_iso(wall + decision.after, up=True), error=error, payload=rest,
                message_id=row.message_id, delivered=done_count, timeout_resend=resend,
                dup_risk=resend and not idempotent,
            )

            def again() -> None:
                row.attempts = attempts
                if resend:
                    row.timeout_resends += 1
                    stats.resent += 1
                    stats.dup_risk += not idempotent
                else:
                    stats.transient += 1

            effects.append(again)
            if resend:
                log.info("outbox row %s: no answer to its request; sending it again in %.0f s%s",
                         row.id, decision.after, "" if idempotent else " (may arrive twice)")
            return
        if decision.action == "hold":
            self.store.outbox_reschedule(row.id, status="uncertain", attempts=attempts,
                                         error=error, payload=rest, message_id=row.message_id,
                                         delivered=done_count)
            effects.append(lambda: setattr(stats, "uncertain", stats.uncertain + 1))
            return
        self.store.outbox_reschedule(  # give_up
            row.id, status="failed", attempts=attempts, error=error, payload=rest,
            message_id=row.message_id, delivered=done_count,
        )

        def failed() -> None:
            stats.failed += 1
            stats.transient += 1

        effects.append(failed)

    def _delivered(self, row: _Row, reply: Reply) -> None:
        """Tell ``on_delivered`` of a reply that arrived in a person's private chat. A database
        error undoes the outcome's transaction (tried again); any other error is logged."""
        if self.on_delivered is None or row.member_id is None or row.is_group:
            return
        try:
            self.on_delivered(row.platform, int(row.member_id), reply)
        except sqlite3.Error:
            raise
        except Exception:
            log.exception("outbox row %s: on_delivered failed", row.id)

    def backoff(self, attempts: int) -> float:
        """Delay before attempt ``attempts + 1``: base * 2^(attempts-1), capped, + 0-25 % jitter."""
        return self.policy.backoff(attempts, self._random())

    def _forget_chat(self, st: _Pass, row: _Row, now_s: str,
                     effects: list[Callable[[], None]]) -> None:
        """After an Unreachable: mark the member, cancel what else waits for them or the chat."""
        if row.member_id is not None and not row.is_group:
            ids = set(self.store.member_unreachable(int(row.member_id), now_s))

            def gone(r: _Row) -> bool:
                return r.member_id == row.member_id or (
                    r.platform == row.platform and r.chat_id == row.chat_id)
        else:
            ids = set()

            def gone(r: _Row) -> bool:
                return r.platform == row.platform and r.chat_id == row.chat_id
        ids.update(self.store.cancel_pending(platform=row.platform, chat_id=row.chat_id))
        for r in st.open_rows:
            if gone(r):
                self.store.outbox_reschedule(r.id, status="cancelled", error="onbereikbaar",
                                             payload=_payload(r.replies[r.index:]),
                                             message_id=r.message_id,
                                             delivered=r.offset + r.index)
                ids.add(r.id)

        def forget() -> None:
            st.queue = [r for r in st.queue if not gone(r)]
            st.open_rows = [r for r in st.open_rows if not gone(r)]
            st.stats.cancelled += len(ids)

        effects.append(forget)

    def _release_open(self, st: _Pass) -> None:
        """Claimed rows with replies still to send go back to pending (nothing in flight)."""
        if not st.open_rows:
            return
        with self.store.transaction():
            for row in st.open_rows:
                self.store.outbox_reschedule(
                    row.id, status="pending", not_before=_iso(self._clock()), error=None,
                    payload=_payload(row.replies[row.index:]), message_id=row.message_id,
                    delivered=row.offset + row.index,
                )
        st.open_rows = []

    # -- running ----------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """At start-up, before anything is claimed: rows of our platforms left in ``sending``
        by a crash. Idempotent platforms get them again (same transaction ids: once); others by
        the uncertain policy (``resend``: again, a possible duplicate; ``hold``: ``uncertain``).
        Only safe while no other process sends from this database (``teamspiegel run`` holds
        a lock for that)."""
        counts = self.store.outbox_recover(
            self._idempotent, resend=self.uncertain is UncertainPolicy.RESEND,
            now=_iso(self._clock()),
        )
        if counts["resent"] or counts["held"]:
            log.warning(
                "outbox: %d rows were in flight at a crash: %d sent again (%d may arrive "
                "twice), %d held as uncertain (TEAMSPIEGEL_UNCERTAIN=%s)",
                counts["resent"] + counts["held"], counts["resent"],
                counts["duplicates_risked"], counts["held"], self.uncertain.value,
            )
        return counts

    async def run_forever(
        self,
        stop_event: asyncio.Event,
        tick_seconds: float = 1.0,
        *,
        plan: Callable[[datetime], object] | None = None,
        plan_every: float = 60.0,
        recover: bool = True,
    ) -> DispatchStats:
        """Drain the outbox until ``stop_event`` is set; nothing but the stop event ends it.

        ``plan``: called with the current time every ``plan_every`` seconds (e.g. ``lambda now:
        plan_due(store, now)``). ``recover``: first handle rows left in ``sending`` by a crash
        (see :meth:`recover`; retried until the database lets it). Errors (the database, a
        bug) are logged, waited out with a growing pause, and sending goes on.
        """
        self._stop = stop_event
        last_plan = -math.inf
        recovered = not recover
        pause = DB_BACKOFF[0]
        try:
            while not stop_event.is_set():
                try:
                    if not recovered:
                        self.recover()
                        recovered = True
                    if plan is not None and self._mono() - last_plan >= plan_every:
                        last_plan = self._mono()
                        self._plan(plan)
                    await self.run_once()
                    if stop_event.is_set():
                        break
                    delay = tick_seconds
                    nxt = self.store.outbox_next_due(self.platforms)
                    if nxt is not None:
                        delay = min(delay, max(0.0, _parse_iso(nxt) - self._clock()))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if isinstance(exc, sqlite3.Error):
                        self._db_error(exc)
                    else:
                        log.exception("the outbox dispatcher failed; going on in %.0f s", pause)
                    await self._idle(stop_event, pause)
                    pause = min(DB_BACKOFF[1], pause * 2)
                    continue
                pause = DB_BACKOFF[0]
                await self._idle(stop_event, max(delay, 0.01))
        finally:
            self._stop = None
        return self.totals

    def _plan(self, plan: Callable[[datetime], object]) -> None:
        try:
            plan(datetime.fromtimestamp(self._clock(), UTC))
        except Exception as exc:
            if isinstance(exc, sqlite3.Error) and is_outage(exc):
                self.store.health.failed(exc)  # planned again at the next tick
            else:
                log.exception("planning failed")

    async def _idle(self, stop_event: asyncio.Event, seconds: float) -> None:
        stop = asyncio.ensure_future(stop_event.wait())
        nap = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait([stop, nap], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in (stop, nap):
                if not w.done():
                    w.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w


# -- start-up, operator actions and reporting ------------------------------------------------------


def recover_in_flight(store: Store) -> int:
    """Rows left in ``sending`` (crash between commit and answer) become ``uncertain``, on
    every platform: the ``hold`` policy by hand. A running bot uses :meth:`Dispatcher.recover`,
    which follows the platform and the configured policy."""
    return store.outbox_mark_uncertain()


def requeue_uncertain(store: Store, ids: Sequence[int] | None = None) -> int:
    """Operator: send these uncertain rows (all when ``ids`` is None) again, at the next
    dispatcher pass (they were due already). Risks a duplicate: that is the operator's call."""
    return store.outbox_move("uncertain", "pending", ids=ids, error="opnieuw in de wachtrij gezet")


def drop_uncertain(store: Store, ids: Sequence[int] | None = None) -> int:
    """Operator: do not resend these uncertain rows (all when ``ids`` is None)."""
    return store.outbox_move("uncertain", "dropped", ids=ids, error="niet opnieuw verstuurd")


def status_counts(store: Store) -> dict[str, dict[str, int]]:
    """``{"tip 2026-07": {"sent": 120, "pending": 3}, ...}``; reminders per planned month."""
    out: dict[str, dict[str, int]] = {}
    for row in store.outbox_status_counts():
        out.setdefault(f"{row['kind']} {row['period']}", {})[row["status"]] = int(row["n"])
    return out


_STATUS_ORDER = ("pending", "sending", "sent", "failed", "uncertain", "unreachable", "cancelled",
                 "dropped")


_POLICY_NL = {
    UncertainPolicy.RESEND: "opnieuw versturen (een bericht kan dan dubbel aankomen, nooit "
                            "stilletjes niet)",
    UncertainPolicy.HOLD: "vasthouden tot een beheerder kiest (teamspiegel outbox "
                          "requeue-uncertain of drop-uncertain)",
}


def status_text(store: Store, policy: UncertainPolicy | str | None = None) -> str:
    """The outbox table for ``teamspiegel status``, with the uncertain policy (``policy``,
    default ``resend``) and what it did."""
    policy = UncertainPolicy.parse(None if policy is None else str(policy))
    counts = status_counts(store)
    lines: list[str] = []
    if not counts:
        lines.append("Outbox: leeg.")
        totals = dict.fromkeys(_STATUS_ORDER, 0)
    else:
        width = max(len(k) for k in counts)
        head = f"{'soort/periode':<{width}}  " + "  ".join(f"{s:>11}" for s in _STATUS_ORDER)
        lines += ["Outbox:", head]
        totals = dict.fromkeys(_STATUS_ORDER, 0)
        for key, by_status in counts.items():
            cells = []
            for s in _STATUS_ORDER:
                totals[s] += by_status.get(s, 0)
                cells.append(f"{by_status.get(s, 0):>11}")
            lines.append(f"{key:<{width}}  " + "  ".join(cells))
        lines.append(f"{'totaal':<{width}}  "
                     + "  ".join(f"{totals[s]:>11}" for s in _STATUS_ORDER))
    resends = store.outbox_resend_counts()
    lines.append(f"Onzekere berichten (TEAMSPIEGEL_UNCERTAIN={policy.value}): {_POLICY_NL[policy]}.")
    lines.append(
        f"  opnieuw verstuurd na een time-out: {resends['timeout_resends']}; "
        f"na een crash: {resends['crash_resends']}; "
        f"daarvan mogelijk dubbel aangekomen: {resends['duplicates_risked']}; "
        f"vastgehouden: {resends['held']}"
    )
    if totals["uncertain"]:
        lines.append(
            f"Let op: {totals['uncertain']} bericht(en) onzeker (misschien aangekomen, "
            "onderbroken door een crash of zonder antwoord). Kies: opnieuw versturen "
            "(teamspiegel outbox requeue-uncertain) of laten vallen (drop-uncertain)."
        )
    if totals["sending"]:
        lines.append(f"{totals['sending']} bericht(en) worden nu verstuurd.")
    owed = store.owed_count()
    if owed:
        lines.append(f"{owed} gesprek(ken) wacht(en) nog op een antwoord van de bot "
                     "(gaat vanzelf, ook na een herstart).")
    return "\n".join(lines)
