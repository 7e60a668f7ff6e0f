"""The channel contract: what a platform sender does, how delivery fails, and how we retry.

Everything that sends to a chat platform goes through the pieces here, replies to a person and
scheduled broadcasts (the outbox) alike:

* :class:`ChatEngine`: what a chat transport may ask of the engine (turns in, replies out, the
  replies it still owes, who blocked the bot). A transport only translates: it never touches
  the store; what is recorded, the engine records.
* :class:`Sender`: the outgoing side of a platform. ``send(chat_id, replies, is_group=..., key=...)``
  sends replies in order and returns the platform id of the last message. It raises one of the
  :class:`DeliveryError` subclasses below and says in ``sent`` how many of the replies went out
  before the failure. ``idempotent``: sending again with the same :class:`DeliveryKey` delivers
  once (Matrix transaction ids); the Bot API has no such key, so there a resend may duplicate.
* The errors: :class:`RetryAfter` (HTTP 429: wait ``seconds``), :class:`TransientError` (5xx,
  network: try again later), :class:`Uncertain` (a timeout after the request left: it may have
  arrived), :class:`Unreachable` (blocked, kicked, gone: stop), :class:`Rejected` (the
  platform refused this request as such: do not repeat it).
* :class:`RetryPolicy`: ONE set of rules for every error, used by the reply path
  (:func:`call_with_retries`) and by the outbox dispatcher, with different patience
  (:data:`REPLY_POLICY`, :data:`BROADCAST_POLICY`).
* :class:`PlatformBudget`: one per platform and bot account, shared by replies and broadcasts.
  A reply reserves the next free slot at once (:meth:`PlatformBudget.acquire`); the broadcast
  only takes a slot that no reply reserved (:meth:`PlatformBudget.ready_at` /
  :meth:`PlatformBudget.take`). A 429 pauses the platform for everyone.

Uncertain deliveries (a request that may have arrived) follow the platform: an idempotent sender
is simply called again with the same key (exactly once); otherwise a timeout is sent again once
after a pause (a possible duplicate tip is far less harmful than a silently missing one) and
counted, and what happens to rows in flight at a crash is the operator's policy
(``TEAMSPIEGEL_UNCERTAIN=resend|hold``, see :class:`UncertainPolicy`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random as _random
import time as _time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from bot.engine.messages import CommandHelp, Incoming, OwedPrompt, Reply

__all__ = [
    "BROADCAST_POLICY",
    "REPLY_POLICY",
    "ChatEngine",
    "Decision",
    "DeliveryError",
    "Rejected",
    "DeliveryKey",
    "FirstTime",
    "PaidReplies",
    "PlatformBudget",
    "RetryAfter",
    "RetryPolicy",
    "Sender",
    "TransientError",
    "Uncertain",
    "UncertainPolicy",
    "Unreachable",
    "call_with_retries",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


# -- what senders raise -----------------------------------------------------------------------------


class DeliveryError(Exception):
    """Sending failed. ``sent``: how many of the replies passed to ``send`` were delivered
    before the failure (the caller goes on with the rest)."""

    def __init__(self, msg: str = "", *, sent: int = 0) -> None:
        super().__init__(msg)
        self.sent = sent


class RetryAfter(DeliveryError):
    """The platform said "too many requests, retry after ``seconds``" (HTTP 429)."""

    def __init__(self, seconds: float, *, sent: int = 0) -> None:
        super().__init__(f"retry after {seconds:g} s", sent=sent)
        self.seconds = max(0.0, float(seconds))


class TransientError(DeliveryError):
    """A failure worth retrying later: 5xx, a network error, a timeout.

    ``maybe_delivered``: the request may have been processed (a read timeout after it was
    sent). :class:`Uncertain` is the same with ``maybe_delivered`` always true.
    """

    def __init__(self, msg: str = "", *, sent: int = 0, maybe_delivered: bool = False) -> None:
        super().__init__(msg, sent=sent)
        self.maybe_delivered = maybe_delivered


class Uncertain(TransientError):
    """The request left and no answer came (a timeout): it may or may not have arrived."""

    def __init__(self, msg: str = "", *, sent: int = 0) -> None:
        super().__init__(msg, sent=sent, maybe_delivered=True)


class Unreachable(DeliveryError):
    """The chat cannot be reached any more: blocked by the user, left or removed (HTTP 403)."""


class Rejected(DeliveryError):
    """The platform refused this request as such (HTTP 400: too long, malformed, ...): sending
    the same request again will not help. Not an outage and not the chat's fault."""


# -- what senders are ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """Names one scheduled delivery across retries and restarts (an outbox row).

    ``base`` is stored with the row before its first attempt; ``offset`` is how many of the
    row's replies were delivered before this call. An idempotent sender derives one transaction
    id per event from it (:meth:`txn_id`), so a resend after a timeout or a crash is recognised
    by the platform and delivered once.
    """

    base: str
    offset: int = 0

    def txn_id(self, reply: int, part: int = 0) -> str:
        """The transaction id of part ``part`` of reply ``reply`` (0-based, in this call)."""
        return f"{self.base}.{self.offset + reply}.{part}"


class Sender(Protocol):
    """A platform's outgoing side, as the outbox dispatcher uses it.

    Optional attribute ``budget`` (a :class:`PlatformBudget`): the budget the platform's
    replies use too; the dispatcher then paces broadcasts on it, behind the replies.
    """

    platform: str
    #: sending again with the same DeliveryKey delivers once (no duplicate possible)
    idempotent: bool

    async def send(
        self, chat_id: str, replies: list[Reply], *, is_group: bool, key: DeliveryKey | None = None
    ) -> str | None:
        """Send the replies in order; return the platform message id (of the last one)."""
        ...


class ChatEngine(Protocol):
    """What a chat transport may ask of the engine (:class:`bot.engine.core.Engine`).

    The transport turns platform updates into :class:`~bot.engine.messages.Incoming` and the
    replies into messages; every decision and every record is the engine's.
    """

    def handle(self, incoming: Incoming, *, owe: bool = False) -> list[Reply]:
        """One turn, committed before its replies are returned (``owe``: the replies are
        owed until :meth:`replies_delivered`)."""
        ...

    def handle_many(
        self, incomings: Sequence[Incoming], *, owe: bool = False
    ) -> list[list[Reply]]:
        """Several turns in one commit (group commit)."""
        ...

    def current_prompt(self, platform: str, user_id: str) -> list[Reply]:
        """Where a person's conversation is, again (nothing when there is none)."""
        ...

    def personal_refusal(self) -> Reply:
        """What goes instead of a personal reply into a chat with others in it."""
        ...

    def replies_delivered(self, platform: str, event_ids: Sequence[str]) -> int:
        """The replies of these turns arrived: they are no longer owed."""
        ...

    def owed_prompts(
        self, platform: str, *, older_than: float | None = None
    ) -> list[OwedPrompt]:
        """The current prompt of every conversation whose replies never arrived."""
        ...

    def owed_event_ids(self, platform: str) -> set[str]:
        """The event ids of the turns whose replies are owed now."""
        ...

    def set_reachable(self, platform: str, user_id: str, reachable: bool) -> bool:
        """The person blocked the bot in their private chat (or unblocked it)."""
        ...

    def command_menu(self) -> list[CommandHelp]:
        """The commands and their help, for a platform's command menu."""
        ...

    def text(self, key: str, **values: object) -> str:
        """A text of ``texts.yaml`` (every word a person reads comes from there)."""
        ...


class UncertainPolicy(StrEnum):
    """What happens to a non-idempotent delivery that may have arrived and may not.

    ``resend`` (default): send it again, and count it as a possible duplicate. A duplicate tip
    costs a reader two seconds; a missing one is silent: nobody knows it should have come.
    ``hold``: mark it ``uncertain`` and wait for an operator (``teamspiegel outbox
    requeue-uncertain`` or ``drop-uncertain``). A timeout is always sent again once after a
    pause first (a timeout is not a crash); ``hold`` applies to a second timeout of the same
    row and to rows in flight at a crash.
    """

    RESEND = "resend"
    HOLD = "hold"

    @classmethod
    def parse(cls, value: str | None) -> UncertainPolicy:
        text = (value or "").strip().lower()
        if not text:
            return cls.RESEND
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"TEAMSPIEGEL_UNCERTAIN moet 'resend' of 'hold' zijn (nu: {value!r})."
            ) from None


# -- the retry policy ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a failed attempt, and when."""

    action: Literal["wait", "retry", "resend", "hold", "give_up", "unreachable"]
    #: seconds from now
    after: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The rules for a failed send, the same for replies and broadcasts.

    * 429 (:class:`RetryAfter`): wait ``retry_after`` (the whole platform pauses) and try
      again; it costs no attempt. A reply gives up only when the platform asks for more than
      ``max_flood_wait`` seconds in total.
    * 5xx, network errors (:class:`TransientError`): exponential backoff with jitter,
      ``attempts`` tries in all.
    * A request that may have arrived (:class:`Uncertain`): on an idempotent platform a plain
      retry. Otherwise sent again after ``timeout_pause``, at most ``timeout_resends`` times per
      delivery; after that the uncertain policy decides (``hold``: keep it for the operator;
      ``resend``: go on like a transient error, each resend a possible duplicate).
    * 403 and friends (:class:`Unreachable`): stop. 400 (:class:`Rejected`): give up at once.
    """

    attempts: int
    backoff_base: float
    backoff_max: float
    max_flood_wait: float = math.inf
    timeout_resends: int = 1
    timeout_pause: float = 2.0
    uncertain: UncertainPolicy = UncertainPolicy.RESEND

    def backoff(self, attempt: int, jitter: float = 0.0) -> float:
        """Delay after failed attempt ``attempt`` (1-based): base * 2^(attempt-1), capped, plus
        ``jitter`` (0..1) x 25 %."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** max(0, attempt - 1))
        return delay * (1.0 + 0.25 * jitter)

    def decide(
        self,
        exc: BaseException,
        *,
        attempts: int,
        resends: int,
        idempotent: bool,
        flood_waited: float = 0.0,
        jitter: float = 0.0,
    ) -> Decision:
        """``attempts``: failed attempts so far, this one included (429s not counted);
        ``resends``: uncertain requests of this delivery sent again so far."""
        if isinstance(exc, RetryAfter):
            if flood_waited + exc.seconds > self.max_flood_wait:
                return Decision("give_up")
            return Decision("wait", exc.seconds)
        if isinstance(exc, Unreachable):
            return Decision("unreachable")
        if isinstance(exc, Rejected):
            return Decision("give_up")
        maybe = isinstance(exc, TransientError) and exc.maybe_delivered
        if maybe and not idempotent:
            if resends < self.timeout_resends:
                return Decision("resend", self.timeout_pause)
            if self.uncertain is UncertainPolicy.HOLD:
                return Decision("hold")
            if attempts >= self.attempts:
                return Decision("give_up")
            return Decision("resend", max(self.timeout_pause, self.backoff(attempts, jitter)))
        if attempts >= self.attempts:
            return Decision("give_up")
        return Decision("retry", self.backoff(attempts, jitter))

    def with_uncertain(self, policy: UncertainPolicy) -> RetryPolicy:
        return RetryPolicy(self.attempts, self.backoff_base, self.backoff_max,
                           self.max_flood_wait, self.timeout_resends, self.timeout_pause, policy)


#: a person waits for this reply: short backoff, flood control waited out (up to 10 minutes),
#: one resend after a timeout. Nothing is held for an operator here: where the policy says
#: "hold" or "give up" the reply stays owed (the store remembers it) and the person gets the
#: current question again later (see ``Engine.owed_prompts``).
REPLY_POLICY = RetryPolicy(attempts=5, backoff_base=0.25, backoff_max=4.0, max_flood_wait=600.0,
                           timeout_resends=1, timeout_pause=1.0, uncertain=UncertainPolicy.HOLD)
#: scheduled messages can wait: long backoff, many attempts, rows rescheduled in the store
BROADCAST_POLICY = RetryPolicy(attempts=8, backoff_base=1.0, backoff_max=3600.0,
                               timeout_resends=1, timeout_pause=5.0)


# -- the shared platform budget ---------------------------------------------------------------------


class PlatformBudget:
    """The request rate of one platform account, shared by replies and broadcasts.

    GCRA (virtual scheduling): requests ``(1 + margin) / per_second`` apart on average with a
    tolerance of ``margin / 2`` seconds, so any sliding second holds at most ``per_second``
    requests. Replies call :meth:`acquire`, which reserves the next free slot at once and sleeps
    until it; the dispatcher checks :meth:`ready_at` (which lies behind every reserved slot)
    and calls :meth:`take`. So replies always go first and the broadcast uses what they leave.
    :meth:`pause` (after a 429) stops everyone until the platform's ``retry_after`` passed.
    """

    def __init__(
        self,
        per_second: float = 30.0,
        *,
        margin: float = 0.02,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.per_second = per_second
        self.interval = (1.0 + margin) / per_second
        self.tolerance = margin / 2.0
        self.tat = -math.inf
        self.paused_until = -math.inf
        self._clock = clock or _time.monotonic
        self._sleep = sleep or asyncio.sleep
        #: replies that reserved a slot and wait for it (for status and tests)
        self.waiting = 0
        self.replies = 0
        self.pauses = 0

    def now(self) -> float:
        return self._clock()

    def ready_at(self) -> float:
        """When the next request may go, behind every reserved slot and any pause."""
        return max(self.tat - self.tolerance, self.paused_until)

    def take(self, now: float) -> None:
        """Use the slot at ``now`` (the caller checked :meth:`ready_at`)."""
        self.tat = max(self.tat, now) + self.interval

    def pause(self, seconds: float) -> None:
        """No request for ``seconds`` (a 429's ``retry_after``)."""
        until = self._clock() + max(0.0, seconds)
        if until > self.paused_until:
            self.paused_until = until
            self.pauses += 1

    async def acquire(self) -> None:
        """Reserve the next free slot (ahead of any broadcast) and wait for it."""
        self.waiting += 1
        try:
            while True:
                now = self._clock()
                at = max(now, self.ready_at())
                self.take(at)
                if at > now:
                    await self._sleep(at - now)
                if self.paused_until <= self._clock():
                    self.replies += 1
                    return
                # a 429 came in while we waited: our slot fell inside the pause
        finally:
            self.waiting -= 1


async def call_with_retries(
    make: Callable[[], Awaitable[T]],
    *,
    what: str,
    budget: PlatformBudget | None = None,
    policy: RetryPolicy = REPLY_POLICY,
    idempotent: bool = False,
    on_resend: Callable[[], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    random: Callable[[], float] = _random.random,
) -> T:
    """One API call of a reply under the retry policy: every attempt takes a slot of the shared
    budget (ahead of broadcasts); 429 waits (the whole platform pauses), 5xx backs off, a
    possibly delivered request is sent again once (``on_resend`` counts it). ``make`` raises
    :class:`DeliveryError` subclasses; the last one is raised when the policy gives up."""
    sleep = sleep or asyncio.sleep
    attempts = resends = 0
    flood_waited = 0.0
    while True:
        if budget is not None:
            await budget.acquire()
        try:
            return await make()
        except DeliveryError as exc:
            if not isinstance(exc, RetryAfter):
                attempts += 1
            decision = policy.decide(exc, attempts=attempts, resends=resends,
                                     idempotent=idempotent, flood_waited=flood_waited,
                                     jitter=random())
            if decision.action == "wait":
                flood_waited += decision.after
                if budget is not None:
                    budget.pause(decision.after)
                    log.info("flood control (%s): waiting %.1f s", what, decision.after)
                else:
                    await sleep(decision.after)
                continue
            if decision.action == "retry":
                await sleep(decision.after)
                continue
            if decision.action == "resend":
                resends += 1
                if on_resend is not None:
                    on_resend()
                log.info("no answer to a request (%s): sending it again in %.1f s", what,
                         decision.after)
                await sleep(decision.after)
                continue
            raise


class FirstTime:
    """Remembers the last ``size`` keys: ``first(key)`` is True only the first time a key is
    seen (e.g. a failed turn's error text is said once per event, also when the platform
    delivers the event again)."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: dict[str, None] = {}
        self._size = size

    def first(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            del self._seen[next(iter(self._seen))]
        return True


class PaidReplies:
    """Tells the engine, in small batches, which turns had their replies delivered.

    A transport calls :meth:`add` with a turn's event id once its replies arrived; every
    ``every`` seconds (and on :meth:`flush`) the ids go to ``pay`` in one transaction. A crash
    in between repeats the current question to the few people paid in the last moment, which
    is the price of not writing once per reply. When ``pay`` fails (the database is down) the ids
    are kept for the next flush.
    """

    def __init__(
        self, pay: Callable[[list[str]], object], *, every: float = 0.25,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._pay = pay
        self._every = every
        self._clock = clock or _time.monotonic
        self._ids: list[str] = []
        self._last = self._clock()

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: str | None) -> None:
        if event_id:
            self._ids.append(event_id)
        if self._clock() - self._last >= self._every:
            self.flush()

    def flush(self) -> None:
        self._last = self._clock()
        if not self._ids:
            return
        ids, self._ids = self._ids, []
        try:
            self._pay(ids)
        except Exception as exc:  # the store said so already (once per outage)
            self._ids[:0] = ids
            log.debug("could not record delivered replies yet: %s", type(exc).__name__)
