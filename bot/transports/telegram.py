"""Telegram transport: python-telegram-bot updates in, engine replies out as Telegram messages.

The transport only translates. A Telegram update becomes an :class:`~bot.engine.messages.Incoming`
(``event_id = "u<update_id>"``, so a re-delivered update is dropped by the engine); the engine's
:class:`~bot.engine.messages.Reply` objects become messages with inline keyboards (a scale is one
row of 1..5, other choices one per row, links as URL buttons), documents and photos.

Durability. Updates are fetched by our own ``getUpdates`` loop, not PTB's ``Updater``: PTB
confirms a batch to Telegram (``offset``) as soon as it is queued, so a crash would lose updates
that were fetched but not yet handled. Here a batch is confirmed only after every update in it was
handled: the turns are committed in one transaction (``Engine.handle_many``, group commit: one
fsync per batch) and the replies sent. A crash anywhere before that re-delivers the batch, and the
engine drops the updates it already committed (so nothing is stored twice; a committed turn owes
its replies in the store until they arrived, so the person gets the current question again at
the next start). A chat's replies leave in the order of its turns, one message a second per chat
(Telegram's limit); a turn's consecutive replies to one chat go out as one message where they
can (:func:`coalesce`: a theme's introduction and its first question, the welcome and the menu),
so the person does not wait for that chat's next second. The cosmetic edits (the pressed
choice, an old keyboard) do not hold the batch: they run after it, in slots no reply needs, and
are dropped when none comes soon.
Webhook mode answers Telegram's POST only after the update was handled, for the same reason.

HTTP: python-telegram-bot builds the calls and reads the answers, but the HTTP itself is
:class:`~bot.transports.telegram_http.LeanRequest` (keep-alive HTTP/1.1 over asyncio streams)
instead of httpx, which took most of the bot's CPU under load.

Limits Telegram imposes and that are handled here: 4,096 characters per message (split on
paragraphs, then lines, then hard), 64 bytes of callback data (falls back to the choice's
number), 1,024 characters of caption.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
import time
import warnings
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram import error as tg_error
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    PollHandler,
    filters,
)

from bot.channel import (
    ChatEngine,
    DeliveryError,
    DeliveryKey,
    FirstTime,
    PaidReplies,
    PlatformBudget,
    Rejected,
    RetryAfter,
    TransientError,
    Uncertain,
    Unreachable,
    call_with_retries,
)
from bot.config import Settings
from bot.engine.messages import (
    Choice,
    Incoming,
    Reply,
    is_global_button,
    parse_command,
    private_link,
    private_payload,
    scale_ends,
)
from bot.engine.messages import split_text as engine_split_text
from bot.redact import REDACTOR, install_redaction
from bot.transports.telegram_http import LeanRequest, NotSent, proxy_configured

log = logging.getLogger(__name__)
T = TypeVar("T")

PLATFORM = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64
SCALE_LABEL_MAX = 3
#: BadRequest texts that mean the chat is gone for good
GONE_MARKERS = ("chat not found", "user is deactivated", "bot was kicked", "not enough rights")
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member", "poll"]
#: how long a group's member count is trusted (getChatMemberCount for group commands)
MEMBER_COUNT_TTL = 60.0
MAX_TRACKED_KEYBOARDS = 100_000
#: replies owed longer than this (their delivery gave up) are paid with the current prompt
OWED_SWEEP_SECONDS = 60.0
#: HTTP connections to the Bot API (requests beyond this wait for a free one, POOL_TIMEOUT).
#: With httpx (only when a proxy is configured) this matters for CPU too: httpcore checks every
#: pooled connection on every request, so PTB's default of 256 cost more than the sends
CONNECTIONS = 16
POOL_TIMEOUT = 30.0
#: a cosmetic edit ("✅ Jouw keuze", removing an old keyboard) waits at most this long for a
#: slot that no reply needs, then is dropped
COSMETIC_PATIENCE = 10.0
#: per-chat budgets kept before idle ones are dropped
MAX_CHAT_BUDGETS = 10_000
#: a chat's slots are this much wider than Telegram's second: requests arrive with jitter, and a
#: 429 pauses every chat
CHAT_MARGIN = 0.1
#: while replies are on their way, new updates are looked for this often (seconds): the
#: unconfirmed updates make every getUpdates return at once, so it cannot long-poll then
BUSY_POLL = 0.1
#: cosmetic edits take at most this share of the platform's rate, so the replies keep room (with
#: every edit sent, 200 people answering every 5-20 s need more than Telegram's 30/s)
COSMETIC_SHARE = 1 / 6
#: the platform budget's margin below Telegram's 30/s: requests reach Telegram with jitter, and
#: one 429 pauses every chat for at least a second (2% drew 429s under load)
GLOBAL_MARGIN = 0.04
MEDIA_KINDS = (
    # order matters: an animation message also carries a document
    "animation", "photo", "sticker", "voice", "audio", "video", "video_note", "document",
    "venue", "location", "contact", "poll", "dice",
)
MEDIA_ALIASES = {"animation": "video", "video_note": "video", "venue": "location", "dice": "sticker"}
MEDIA_FILTER = (
    filters.ANIMATION | filters.PHOTO | filters.Sticker.ALL | filters.VOICE | filters.AUDIO
    | filters.VIDEO | filters.VIDEO_NOTE | filters.Document.ALL | filters.LOCATION
    | filters.VENUE | filters.CONTACT | filters.POLL | filters.Dice.ALL
)


# -- pure translation helpers (no network) ------------------------------------------------


def deep_link(bot_username: str, token: str) -> str:
    """The t.me link that opens the private chat and sends ``/start <token>``."""
    name = bot_username.strip().lstrip("@")
    return f"https://t.me/{name}?start={token}" if token else f"https://t.me/{name}"


def group_deep_link(bot_username: str, token: str) -> str:
    """The t.me link that adds the bot to a group the user picks and sends ``/start <token>``
    there, from that user (how an owner links a group without showing a code)."""
    return f"https://t.me/{bot_username.strip().lstrip('@')}?startgroup={token}"


def _u16(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """The largest index ``i`` such that ``text[:i]`` fits ``limit`` UTF-16 units."""
    if len(text) * 2 <= limit or _u16(text) <= limit:
        return len(text)
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into messages of at most ``limit`` UTF-16 units (paragraphs first)."""
    return engine_split_text(text, limit, fit=_fit)


def callback_data(prompt_token: str | None, value: str, index: int) -> str:
    """``"<prompt token>|<value>"``; when that exceeds 64 bytes: ``"<token>|#<n>"``, the
    choice's number (1-based), which the engine resolves against the same prompt."""
    if is_global_button(value):  # a scheduled message's button: no prompt token
        prompt_token = None
    data = f"{prompt_token or ''}|{value}"
    if len(data.encode()) <= CALLBACK_LIMIT and not value.startswith("#"):
        return data
    return f"{prompt_token or ''}|#{index + 1}"


def parse_callback_data(data: str) -> tuple[str | None, str | None, str]:
    """(prompt token, value, text) of a button press; see :func:`callback_data`."""
    token, sep, value = data.partition("|")
    if not sep:  # not ours (an old keyboard): the whole data is the value
        token, value = "", data
    if is_global_button(value):
        return None, value, value
    if value.startswith("#") and value[1:].isdigit():
        return token or None, None, value[1:]
    return token or None, value, value


def _scale_choices(reply: Reply) -> list[Choice]:
    if reply.choices:
        return reply.choices
    return [Choice(str(n), str(n)) for n in range(1, 6)]


def _link_url(url: str, bot_username: str | None) -> str | None:
    payload = private_payload(url)
    if payload is None:
        return url
    return deep_link(bot_username, payload) if bot_username else None


def build_keyboard(reply: Reply, bot_username: str | None = None) -> InlineKeyboardMarkup | None:
    """Inline keyboard of a reply: a scale as one row, other choices one per row, then links."""
    rows: list[list[InlineKeyboardButton]] = []
    if reply.expects == "scale":
        choices = _scale_choices(reply)
        rows.append([
            InlineKeyboardButton(c.label if len(c.label) <= SCALE_LABEL_MAX else c.value,
                                 callback_data=callback_data(reply.prompt_token, c.value, i))
            for i, c in enumerate(choices)
        ])
    else:
        for i, c in enumerate(reply.choices):
            data = callback_data(reply.prompt_token, c.value, i)
            rows.append([InlineKeyboardButton(c.label, callback_data=data)])
    for link in reply.links:
        url = _link_url(link.url, bot_username)
        if url:
            rows.append([InlineKeyboardButton(link.label, url=url)])
    return InlineKeyboardMarkup(rows) if rows else None


def reply_text(reply: Reply) -> str:
    """The message text; a scale's meaning is added when the text does not say it yet."""
    ends = scale_ends(reply)
    return f"{reply.text}\n\n1 = {ends[0]}, 5 = {ends[1]}" if ends else reply.text


def _attached(reply: Reply) -> bool:
    """A reply that is more than text: a document, an image, a poll or a poll's end."""
    return bool(reply.document or reply.image or reply.poll or reply.close_poll)


def _joinable(reply: Reply) -> bool:
    """A plain text message (no attachment, poll or keyboard of its own): it can go out as the
    head of the next message of the same turn."""
    return (not _attached(reply) and bool(reply.text.strip()) and reply.expects != "scale"
            and not reply.choices and not reply.links and not reply.leave_chat)


def coalesce(replies: Sequence[Reply], limit: int = TEXT_LIMIT) -> list[list[Reply]]:
    """Runs of one turn's replies that can be sent as ONE Telegram message (Telegram allows one
    message a second per chat, so a second message makes the person wait a second longer):
    consecutive replies to the same chat and topic, every one but the last plain text without
    buttons, the joined text (blank line between) within ``limit``; the last may carry buttons.
    Every other reply is a run of its own. The texts are joined by :func:`joined_reply`."""
    runs: list[list[Reply]] = []
    for reply in replies:
        run = runs[-1] if runs else None
        if (run is not None and _joinable(run[-1]) and reply.text.strip()
                and not _attached(reply) and reply.chat_id == run[0].chat_id and reply.thread_id == run[0].thread_id
                and reply.personal == run[0].personal
                and _u16(joined_text([*run, reply])) <= limit):
            run.append(reply)
        else:
            runs.append([reply])
    return runs


def joined_text(run: Sequence[Reply]) -> str:
    return "\n\n".join(reply_text(r) for r in run)


def joined_reply(run: Sequence[Reply]) -> Reply:
    """One Reply for a run of :func:`coalesce`: the texts joined by a blank line, the buttons
    (and everything else) of the last."""
    if len(run) == 1:
        return run[0]
    return replace(run[-1], text=joined_text(run), scale_labels=None)


def media_kind(message: Message) -> str:
    for kind in MEDIA_KINDS:
        if getattr(message, kind, None):
            return MEDIA_ALIASES.get(kind, kind)
    return "other"


def incoming_from_update(update: Update, bot_username: str | None = None) -> Incoming | None:
    """The engine input for a Telegram update, or None when it is not for the engine."""
    event_id = f"u{update.update_id}"
    if update.poll is not None:  # a native poll the bot sent: counts only, never who
        return incoming_from_poll(update.poll, event_id)
    query = update.callback_query
    if query is not None:
        message = query.message
        chat = message.chat if message is not None else None
        is_group = chat is not None and chat.type in ("group", "supergroup")
        token, value, text = parse_callback_data(query.data or "")
        return Incoming(
            PLATFORM, str(query.from_user.id), str(chat.id if chat else query.from_user.id),
            "choice", text=text, value=value, event_id=event_id, prompt_token=token,
            is_group=is_group, thread_id=_thread_of(message),
        )
    edited = update.edited_message
    message = update.message
    target = message or edited
    if target is None or target.from_user is None or target.from_user.is_bot:
        return None
    chat = target.chat
    if chat.type not in ("private", "group", "supergroup"):
        return None
    base: dict[str, Any] = {
        "platform": PLATFORM, "user_id": str(target.from_user.id), "chat_id": str(chat.id),
        "event_id": event_id, "message_ref": str(target.message_id),
        "is_group": chat.type != "private", "thread_id": _thread_of(target),
    }
    if edited is not None:
        if edited.text is None:
            return None
        return Incoming(kind="edit", text=edited.text, **base)
    assert message is not None
    if message.text is not None:
        entities = message.entities or ()
        if entities and entities[0].type == "bot_command" and entities[0].offset == 0:
            parsed = parse_command(message.text, bot_username=bot_username)
            if parsed is not None:
                name, args = parsed
                return Incoming(kind="command", text=message.text, command=name, args=args,
                                **base)
            if "@" in message.text.split(maxsplit=1)[0]:
                return None  # a command for another bot
        return Incoming(kind="text", text=message.text, **base)
    kind = media_kind(message)
    if kind == "other":
        return None  # service messages (members joined, pinned, ...)
    return Incoming(kind="unsupported", media=kind, **base)


def _thread_of(message: Any) -> str | None:
    """The forum topic a message is in (a supergroup with topics), else None."""
    if message is None or not getattr(message, "is_topic_message", False):
        return None
    thread = getattr(message, "message_thread_id", None)
    return str(thread) if thread is not None else None


def incoming_from_poll(poll: Any, event_id: str) -> Incoming:
    """A poll's state as the engine's ``Incoming(kind="poll")``: its id, the votes per option
    in order, how many voted, whether it is closed. An anonymous poll carries nothing else."""
    return Incoming(PLATFORM, "", "", "poll", event_id=event_id, poll_ref=str(poll.id),
                    counts=tuple(int(o.voter_count) for o in poll.options),
                    voters=int(poll.total_voter_count), closed=bool(poll.is_closed))


def poll_ref(message: Message) -> str:
    """The platform reference of a sent poll: ``<message id>:<poll id>`` (stopPoll needs the
    message, poll updates name the poll)."""
    return f"{message.message_id}:{message.poll.id}" if message.poll else str(message.message_id)


def _retry_seconds(exc: tg_error.RetryAfter) -> float:
    raw = getattr(exc, "_retry_after", None)
    if isinstance(raw, timedelta):
        return raw.total_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# -- sending --------------------------------------------------------------------------------

async def _direct(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


async def bot_username_of(bot: Bot, configured: str | None = None) -> str | None:
    """The bot's @name (getMe once, cached by PTB), for ``private:`` deep links."""
    if configured:
        return configured.lstrip("@")
    try:
        return bot.username
    except RuntimeError:
        try:
            await bot.get_me()
            return bot.username
        except tg_error.TelegramError as exc:
            log.warning("getMe failed, no deep links: %s", type(exc).__name__)
            return None


async def send_reply(
    bot: Bot, chat_id: str | int, reply: Reply, *, username: str | None,
    call: Any = _direct,
) -> list[Message]:
    """Send one Reply as one or more messages (keyboard on the last); ``call`` wraps every API
    call (retry policy)."""
    thread = int(reply.thread_id) if reply.thread_id and reply.thread_id.isdigit() else None
    if reply.poll is not None:
        poll = reply.poll
        return [await call(lambda: bot.send_poll(
            chat_id, poll.question, list(poll.options), is_anonymous=poll.anonymous,
            message_thread_id=thread))]
    markup = build_keyboard(reply, username)
    text = reply_text(reply)
    sent: list[Message] = []
    attachment = reply.document or reply.image
    caption: str | None = None
    if attachment and _u16(text) <= CAPTION_LIMIT:
        caption, text = text or None, ""
    parts = split_text(text) if text.strip() else []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1 and not attachment
        sent.append(await call(lambda part=part, last=last: bot.send_message(
            chat_id, part, reply_markup=markup if last else None, message_thread_id=thread)))
    if reply.document:
        name, data, _mime = reply.document
        sent.append(await call(lambda: bot.send_document(
            chat_id, InputFile(data, filename=name), caption=caption, reply_markup=markup,
            message_thread_id=thread)))
    elif reply.image:
        name, data = reply.image
        sent.append(await call(lambda: bot.send_photo(
            chat_id, InputFile(data, filename=name), caption=caption, reply_markup=markup,
            message_thread_id=thread)))
    return sent


class TelegramSender:
    """Sends scheduled messages (the outbox dispatcher's ``Sender`` for Telegram).

    Errors map to the channel's vocabulary (:func:`delivery_error`): 429 -> ``RetryAfter``,
    403 (and "chat not found") -> ``Unreachable``, network errors and 5xx ->
    ``TransientError``, a timeout after the request left -> ``Uncertain`` (it may have
    arrived). ``sent`` counts the replies delivered before the failure. Nothing is retried
    here (the dispatcher owns retries), except the remaining parts of one reply that was split
    into several messages once its first part went out, since resending it would duplicate.
    The Bot API has no idempotency key: ``idempotent`` is false. ``budget``: the platform budget
    shared with the replies to people (the dispatcher paces broadcasts on it).
    """

    platform = PLATFORM
    idempotent = False

    def __init__(
        self, bot: Bot, *, bot_username: str | None = None,
        budget: PlatformBudget | None = None,
        on_poll: Callable[[Incoming], object] | None = None,
    ) -> None:
        self.bot = bot
        self._username = bot_username
        self.budget = budget
        #: where the final counts of a poll this sender closed go (the engine)
        self.on_poll = on_poll

    def private_link(self, payload: str = "") -> str:
        """A link that opens the private chat with the bot and sends ``/start <payload>``
        (``private:<payload>`` until the bot's name is known; resolved when sent)."""
        if self._username:
            return deep_link(self._username, payload)
        return private_link(payload)

    async def send(
        self, chat_id: str, replies: list[Reply], *, is_group: bool, key: DeliveryKey | None = None
    ) -> str | None:
        username = self._username = await bot_username_of(self.bot, self._username)
        last: Message | None = None
        ref: str | None = None
        done = 0
        for reply in replies:
            if reply.close_poll:
                try:
                    await self._close_poll(reply.chat_id or chat_id, reply.close_poll)
                except DeliveryError as exc:
                    exc.sent = done
                    raise
                done += 1
                continue
            parts: list[Message] = []

            async def call(make: Callable[[], Awaitable[Message]],
                           parts: list[Message] = parts) -> Message:
                if parts:  # part of this reply is out: finish it rather than duplicate it
                    message = await call_with_retries(lambda: translated(make),
                                                      what="a scheduled message",
                                                      budget=self.budget)
                else:
                    message = await translated(make)
                parts.append(message)
                return message

            try:
                await send_reply(self.bot, reply.chat_id or chat_id, reply, username=username,
                                 call=call)
            except DeliveryError as exc:
                exc.sent = done
                raise
            done += 1
            last = parts[-1] if parts else last
            ref = poll_ref(last) if last is not None else ref
        return ref

    async def _close_poll(self, chat_id: str, ref: str) -> None:
        """stopPoll; its final counts go to the engine at once (Telegram also sends them as a
        poll update; the engine counts a poll's end once)."""
        message_id = int(ref.split(":", 1)[0])
        try:
            poll = await translated(lambda: self.bot.stop_poll(chat_id, message_id))
        except Rejected as exc:
            if "already been closed" in str(exc).lower():
                return  # closed before a crash: its end came as a poll update
            raise
        if self.on_poll is not None:
            self.on_poll(incoming_from_poll(poll, f"pollend:{poll.id}"))


def _timed_out_before_sending(exc: tg_error.TimedOut) -> bool:
    """A timeout while connecting or waiting for a free connection: the request never left."""
    cause = exc.__cause__
    return isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout | NotSent) or (
        "pool timeout" in str(exc).lower())


def delivery_error(exc: tg_error.TelegramError, sent: int = 0) -> DeliveryError:
    """A PTB error as the channel's exception (without the traceback's request URL)."""
    if isinstance(exc, tg_error.RetryAfter):
        return RetryAfter(_retry_seconds(exc), sent=sent)
    if isinstance(exc, tg_error.Forbidden):
        return Unreachable(str(exc), sent=sent)
    if isinstance(exc, tg_error.ChatMigrated):
        return Unreachable(f"chat migrated to {exc.new_chat_id}", sent=sent)
    if isinstance(exc, tg_error.BadRequest):
        if any(gone in str(exc).lower() for gone in GONE_MARKERS):
            return Unreachable(str(exc), sent=sent)
        return Rejected(f"BadRequest: {REDACTOR.redact(str(exc))}", sent=sent)
    if isinstance(exc, tg_error.TimedOut):
        if _timed_out_before_sending(exc):
            return TransientError(f"TimedOut: {exc}", sent=sent)
        return Uncertain(f"TimedOut: {exc}", sent=sent)
    return TransientError(f"{type(exc).__name__}: {REDACTOR.redact(str(exc))}", sent=sent)


async def translated(make: Callable[[], Awaitable[T]]) -> T:
    """Run one Bot API call; a PTB error comes out as the channel's exception."""
    try:
        return await make()
    except tg_error.TelegramError as exc:
        raise delivery_error(exc) from None


# -- the transport ------------------------------------------------------------------------


@dataclass
class _Job:
    """One update on its way through the engine and back out."""

    incoming: Incoming
    query: CallbackQuery | None = None
    replies: list[Reply] = field(default_factory=list)
    update_id: int | None = None


def _setting(settings: Settings, name: str, default: Any = None) -> Any:
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


class TelegramTransport:
    """Runs the bot on Telegram: long polling (or a webhook), translation, rendering."""

    platform = PLATFORM

    def __init__(
        self,
        engine: ChatEngine,
        settings: Settings,
        *,
        poll_timeout: float = 30.0,
        application: Application | None = None,
        budget: PlatformBudget | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.poll_timeout = poll_timeout
        token = _setting(settings, "telegram_token")
        if not token:
            raise ValueError("telegram_token is not set (TELEGRAM_BOT_TOKEN)")
        self.webhook_secret: str | None = _setting(settings, "telegram_webhook_secret")
        install_redaction(token, self.webhook_secret)
        if application is None:
            builder = (Application.builder().token(token).updater(None)
                       .concurrent_updates(False))
            timeout = _setting(settings, "telegram_timeout")
            if proxy_configured():  # PTB's httpx layer honours the proxy variables
                builder = builder.connection_pool_size(CONNECTIONS).pool_timeout(POOL_TIMEOUT)
                if timeout:
                    builder = builder.read_timeout(float(timeout)).write_timeout(float(timeout))
            else:  # the lean HTTP layer: most of the bot's CPU went into httpx + httpcore
                io = float(timeout) if timeout else 5.0
                builder = builder.request(LeanRequest(
                    connections=CONNECTIONS, pool_timeout=POOL_TIMEOUT, read_timeout=io,
                    write_timeout=io)).get_updates_request(LeanRequest(
                        connections=1, pool_timeout=POOL_TIMEOUT, read_timeout=io,
                        write_timeout=io))
            base_url = _setting(settings, "telegram_base_url")
            if base_url:
                builder = builder.base_url(base_url)
                if base_url.rstrip("/").endswith("/bot"):
                    builder = builder.base_file_url(base_url.rstrip("/")[:-4] + "/file/bot")
            application = builder.build()
        self.application = application
        self._username: str | None = _setting(settings, "telegram_bot_username")
        self._batch: list[_Job] | None = None
        self._lock = asyncio.Lock()
        self._offset: int | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._fetch: asyncio.Future[Any] | None = None
        self._stopping = False
        self._webhook_runner: Any = None
        #: chat -> message id of the last prompt with a keyboard we sent (in memory only)
        self._open_keyboard: dict[str, int] = {}
        self._sender: TelegramSender | None = None
        #: the request rate of this bot account, shared by replies (first) and the outbox
        self.budget = budget or PlatformBudget(
            float(_setting(settings, "rate_global_per_second", 30.0)), margin=GLOBAL_MARGIN)
        #: Telegram's limit per chat (one message a second): a turn's second message waits for
        #: its chat's next slot instead of drawing a 429 that pauses every chat
        self.chat_rate = float(_setting(settings, "rate_chat_per_second", 1.0))
        self._chat_budgets: dict[str, PlatformBudget] = {}
        self._cosmetic = PlatformBudget(self.budget.per_second * COSMETIC_SHARE)
        #: cosmetic edits in progress, per chat (after the chat's earlier ones)
        self._chat_tasks: dict[str, asyncio.Task[None]] = {}
        #: reply deliveries in progress, per chat (a chat's replies leave in its turns' order)
        self._chat_delivery: dict[str, asyncio.Task[None]] = {}
        #: polling: ids of updates whose turns are committed and not yet confirmed, and those of
        #: them whose replies are still on their way (the offset never passes one of those)
        self._seen: set[int] = set()
        self._undelivered: set[int] = set()
        self._progress = asyncio.Event()
        #: turns whose replies arrived, told to the engine in small batches
        self._paid = PaidReplies(lambda ids: engine.replies_delivered(PLATFORM, ids))
        #: update ids of failed turns whose error message was shown (not shown twice)
        self._told = FirstTime()
        #: chats with replies on their way (the owed-reply sweep leaves them alone)
        self._delivering: set[str] = set()
        self._next_sweep = 0.0
        #: a reply owed this long (its delivery gave up) is paid with the current prompt
        self.owed_sweep_seconds = OWED_SWEEP_SECONDS
        #: interactive sends that may have arrived and were sent again (for status and tests)
        self.reply_resends = 0
        #: group -> (members besides the bot, valid until) for group commands
        self._member_counts: dict[str, tuple[int, float]] = {}
        self._add_handlers()

    # -- wiring ----------------------------------------------------------------------------

    @property
    def bot(self) -> Bot:
        return self.application.bot

    @property
    def sender(self) -> TelegramSender:
        if self._sender is None:
            self._sender = TelegramSender(self.bot, bot_username=self._username,
                                          budget=self.budget, on_poll=self.engine.handle)
        return self._sender

    @property
    def bot_username(self) -> str | None:
        return self._username

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(CallbackQueryHandler(self._on_update))
        app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & filters.TEXT,
                                       self._on_update))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND,
                                       self._on_update))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT,
                                       self._on_update))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & MEDIA_FILTER,
                                       self._on_update))
        app.add_handler(ChatMemberHandler(self._on_my_chat_member,
                                          ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_handler(PollHandler(self._on_update))
        app.add_error_handler(self._on_error)

    async def start(self) -> None:
        """Connect (getMe), publish the command menus, then poll or serve the webhook."""
        install_redaction(_setting(self.settings, "telegram_token"), self.webhook_secret)
        await self.application.initialize()
        self._username = await bot_username_of(self.bot, self._username)
        self.sender._username = self._username
        await self.set_commands()
        webhook_url = _setting(self.settings, "telegram_webhook_url")
        self._stopping = False
        async with self._lock:
            await self._pay_owed()  # replies a crash kept from people: their question again
        if webhook_url:
            await self._start_webhook(webhook_url)
        else:
            await self.bot.delete_webhook()
            self._poll_task = asyncio.create_task(self._poll_loop(), name="telegram-polling")
        log.info("Telegram bot @%s started (%s)", self._username,
                 "webhook" if webhook_url else "long polling")

    async def stop(self) -> None:
        """Stop fetching, finish the batch in hand, confirm it, close the connection."""
        self._stopping = True
        if self._fetch is not None:
            self._fetch.cancel()
        if self._poll_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._poll_task), 30)
            except (TimeoutError, asyncio.CancelledError):
                self._poll_task.cancel()
            except Exception:  # logged by the loop itself
                pass
            self._poll_task = None
            await self._finish_deliveries()
            await self._confirm()
        await self._drain()
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()
            self._webhook_runner = None
        async with self._lock:
            if self.application.running:
                await self.application.stop()
            await self.application.shutdown()

    async def set_commands(self) -> None:
        """The command menus, in Dutch: everything in private chats, the group ones in groups."""
        menu = self.engine.command_menu()
        private = [BotCommand(c.name, c.help) for c in menu]
        group = [BotCommand(c.name, c.help) for c in menu if c.in_groups]
        try:
            await self.bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats())
            await self.bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats())
        except tg_error.TelegramError as exc:  # a menu is nice to have, not worth a crash
            log.warning("setMyCommands failed: %s", type(exc).__name__)

    # -- fetching updates ------------------------------------------------------------------

    def _confirmable(self) -> int | None:
        """The offset to confirm: below the first update whose replies are on their way."""
        if self._undelivered:
            return min(self._undelivered)
        if self._seen:
            return max(max(self._seen) + 1, self._offset or 0)
        return self._offset

    async def _poll_loop(self) -> None:
        """Fetch, commit, deliver, in a pipeline: while a batch's replies are on their way
        (paced per chat), the next batch is fetched and committed. The offset sent to Telegram
        never passes an update whose replies have not arrived, so a crash re-delivers it (and
        the engine drops it as already handled); the updates fetched again meanwhile are
        skipped here."""
        backoff = 1.0
        while not self._stopping:
            offset = self._confirmable()
            busy = bool(self._undelivered)
            self._progress.clear()
            try:
                self._fetch = asyncio.ensure_future(self.bot.get_updates(
                    offset=offset, timeout=0 if busy else int(self.poll_timeout),
                    allowed_updates=ALLOWED_UPDATES))
                try:
                    updates = await self._fetch
                finally:
                    self._fetch = None
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise
            except tg_error.RetryAfter as exc:
                await self._pause(_retry_seconds(exc))
                continue
            except tg_error.InvalidToken:
                log.error("Telegram refused the bot token; polling stopped")
                return
            except tg_error.Conflict:
                log.warning("another process polls this bot (409); retrying in 5 s")
                await self._pause(5)
                continue
            except tg_error.TelegramError as exc:
                log.warning("getUpdates failed (%s); retrying in %.0f s", type(exc).__name__,
                            backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            self._offset = offset  # confirmed with that call
            if offset is not None:
                self._seen = {i for i in self._seen if i >= offset}
            new = [u for u in updates if u.update_id not in self._seen]
            if not new:
                backoff = 1.0
                if busy:  # replies on their way: look again when one arrived, or soon
                    try:
                        await asyncio.wait_for(self._progress.wait(), BUSY_POLL)
                    except TimeoutError:
                        pass
                    continue
                await self._sweep_owed()
                continue
            try:
                batch, retry_from = await self._commit(new)
            except Exception:
                # nothing was committed: do not confirm, fetch the same batch again
                log.exception("handling %d Telegram updates failed; retrying", len(new))
                await self._pause(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            done = [u.update_id for u in new if retry_from is None or u.update_id < retry_from]
            self._seen.update(done)
            self._deliver_in_background(batch, set(done))
            if retry_from is not None:
                # the store could not take these turns (it said so in the log, once): confirm
                # what went before, fetch the rest again after a pause
                await self._pause(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            await self._sweep_owed()

    def _deliver_in_background(self, batch: list[_Job], ids: set[int]) -> None:
        """Start a batch's deliveries; its update ids count as undelivered until they end."""
        if not batch:
            return
        self._undelivered |= ids
        gathered = asyncio.gather(*self._start_delivery(batch))

        def done(future: asyncio.Future[Any]) -> None:
            self._undelivered -= ids
            self._paid.flush()
            self._progress.set()
            if not future.cancelled() and future.exception() is not None:
                log.error("delivering replies failed: %s", type(future.exception()).__name__)

        gathered.add_done_callback(done)

    async def _finish_deliveries(self, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout`` s) for the replies on their way; what is left stays owed."""
        tasks = list(self._chat_delivery.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        self._paid.flush()
        offset = self._confirmable()
        if offset is not None:
            self._offset = offset

    async def _pause(self, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not self._stopping and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(min(0.2, seconds))

    async def _confirm(self) -> None:
        """Tell Telegram the handled updates are done, so a restart does not fetch them."""
        if self._offset is None:
            return
        try:
            await self.bot.get_updates(offset=self._offset, timeout=0, limit=1,
                                       allowed_updates=ALLOWED_UPDATES)
        except tg_error.TelegramError as exc:
            log.info("final getUpdates failed (%s); the engine drops re-delivered updates",
                     type(exc).__name__)

    async def _start_webhook(self, webhook_url: str) -> None:
        from aiohttp import web

        if not self.webhook_secret:
            self.webhook_secret = secrets.token_urlsafe(32)
            install_redaction(self.webhook_secret)
            log.info("no TELEGRAM_WEBHOOK_SECRET set: using a random one for this run")
        path = urlsplit(webhook_url).path or "/"
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(path, self._webhook_request)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host = _setting(self.settings, "telegram_listen", "127.0.0.1")
        port = int(_setting(self.settings, "telegram_port", 8443))
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._webhook_runner = runner
        addresses = runner.addresses
        self.webhook_port = addresses[0][1] if addresses else port
        await self.bot.set_webhook(webhook_url, secret_token=self.webhook_secret,
                                   allowed_updates=ALLOWED_UPDATES)

    async def _webhook_request(self, request: Any) -> Any:
        from aiohttp import web

        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not self.webhook_secret or not hmac.compare_digest(
                given.encode(), self.webhook_secret.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, self.bot)
        except Exception:
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(status=400, text="bad update")
        try:
            retry_from = await self.process_updates([update])
        except Exception:
            log.exception("handling a webhook update failed")
            return web.Response(status=500, text="error")  # Telegram delivers it again
        if retry_from is not None:  # the store is unavailable: Telegram delivers it again
            return web.Response(status=503, text="try again")
        return web.Response(status=200)

    # -- handling ------------------------------------------------------------------------------

    async def process_updates(self, updates: Sequence[Update]) -> int | None:
        """Handle a batch: translate every update (through PTB's handlers), commit all turns
        in one transaction, then send the replies (chats in parallel, each chat in order) and
        return when they were sent. The cosmetic edits of the batch (the pressed choice, old
        keyboards) are left to run after it, in slots no reply needs (:meth:`_tidy_later`).

        Returns the id of the first update whose turn could not be stored because the store was
        unavailable (it must not be confirmed: Telegram delivers it again), else None. Every
        committed turn records that its replies are owed until they arrived (see
        :meth:`Engine.owed_prompts <bot.engine.core.Engine.owed_prompts>`)."""
        batch, retry_from = await self._commit(updates)
        if batch:
            try:
                await asyncio.gather(*self._start_delivery(batch))
            finally:
                self._paid.flush()
        return retry_from

    async def _commit(self, updates: Sequence[Update]) -> tuple[list[_Job], int | None]:
        """Translate and commit a batch (group commit); the jobs and the first update id whose
        turn the store could not take (see :meth:`process_updates`)."""
        async with self._lock:
            batch: list[_Job] = []
            self._batch = batch
            try:
                for update in updates:
                    await self.application.process_update(update)
            finally:
                self._batch = None
            if not batch:
                return [], None
            if len(batch) == 1:
                results = [self.engine.handle(batch[0].incoming, owe=True)]
            else:
                results = self.engine.handle_many([job.incoming for job in batch], owe=True)
            for job, replies in zip(batch, results, strict=True):
                job.replies = replies
        retry_from = next((job.update_id for job in batch
                           if any(r.failed == "retry" for r in job.replies)), None)
        return batch, retry_from

    def _start_delivery(self, batch: list[_Job]) -> list[asyncio.Task[None]]:
        """One task per chat, each after that chat's delivery still on its way."""
        by_chat: dict[str, list[_Job]] = defaultdict(list)
        for job in batch:
            by_chat[job.incoming.chat_id].append(job)
        tasks = []
        for chat_id, jobs in by_chat.items():
            before = self._chat_delivery.get(chat_id)
            task = asyncio.create_task(self._deliver_chat(jobs, after=before))
            self._chat_delivery[chat_id] = task

            def done(task: asyncio.Task[None], chat_id: str = chat_id) -> None:
                if self._chat_delivery.get(chat_id) is task:
                    del self._chat_delivery[chat_id]

            task.add_done_callback(done)
            tasks.append(task)
        return tasks

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = incoming_from_update(update, self._username)
        if incoming is None:
            if update.callback_query is not None:
                await self._answer(update.callback_query, None)
            return
        if incoming.is_group and incoming.kind == "command":
            incoming.chat_size = await self._chat_size(incoming.chat_id)
        job = _Job(incoming, update.callback_query, update_id=update.update_id)
        if self._batch is not None:
            self._batch.append(job)
            return
        # called through application.process_update directly (not in a batch)
        job.replies = self.engine.handle(incoming, owe=True)
        await self._deliver_chat([job])
        self._paid.flush()

    async def _chat_size(self, chat_id: str) -> int | None:
        """How many people are in a group besides the bot (getChatMemberCount, kept a minute):
        the engine offers a native poll only in a large enough group."""
        now = time.monotonic()
        cached = self._member_counts.get(chat_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            count = await self._call(lambda: self.bot.get_chat_member_count(chat_id),
                                     "getChatMemberCount")
        except DeliveryError as exc:
            log.info("getChatMemberCount failed: %s", type(exc).__name__)
            return None
        size = max(0, int(count) - 1)
        if len(self._member_counts) > 10_000:
            self._member_counts.clear()
        self._member_counts[chat_id] = (size, now + MEMBER_COUNT_TTL)
        return size

    async def _on_my_chat_member(self, update: Update,
                                 context: ContextTypes.DEFAULT_TYPE) -> None:
        """A person blocked (or unblocked) the bot in their private chat."""
        change = update.my_chat_member
        if change is None or change.chat.type != "private":
            return
        status = change.new_chat_member.status
        if status in ("kicked", "left"):
            self.engine.set_reachable(PLATFORM, str(change.from_user.id), False)
        elif status == "member":
            self.engine.set_reachable(PLATFORM, str(change.from_user.id), True)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err = context.error
        log.error("error while handling a Telegram update: %s", type(err).__name__,
                  exc_info=(type(err), err, err.__traceback__) if err else None)

    # -- delivering ----------------------------------------------------------------------------

    async def _deliver_chat(self, jobs: list[_Job], after: asyncio.Task[None] | None = None
                            ) -> None:
        if after is not None:
            await asyncio.wait([after])  # its errors were logged where they happened
        chat_id = jobs[0].incoming.chat_id
        self._delivering.add(chat_id)
        cosmetic: list[Callable[[], Awaitable[None]]] = []
        try:
            for job in jobs:
                try:
                    if await self._deliver(job, cosmetic):
                        self._paid.add(job.incoming.event_id)
                except Exception:
                    log.exception("sending a reply failed")
        finally:
            self._delivering.discard(chat_id)
        if cosmetic:
            self._tidy_later(chat_id, cosmetic)

    def _tidy_later(self, chat_id: str, edits: list[Callable[[], Awaitable[None]]]) -> None:
        """Run a chat's cosmetic edits in the background, after the chat's earlier ones: the
        next batch does not wait for them (they only take slots no reply needs)."""
        before = self._chat_tasks.get(chat_id)

        async def run() -> None:
            if before is not None:
                await asyncio.wait([before])
            for edit in edits:
                try:
                    await edit()
                except Exception:
                    log.exception("tidying up a chat failed")

        task = asyncio.create_task(run())
        self._chat_tasks[chat_id] = task

        def done(task: asyncio.Task[None]) -> None:
            if self._chat_tasks.get(chat_id) is task:
                del self._chat_tasks[chat_id]

        task.add_done_callback(done)

    async def _drain(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout`` s) for the cosmetic edits under way, then drop the rest."""
        tasks = list(self._chat_tasks.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()

    async def _deliver(self, job: _Job,
                       cosmetic: list[Callable[[], Awaitable[None]]] | None = None) -> bool:
        """Send one turn's replies; True when they all arrived (or the chat is gone).
        ``cosmetic``: edits that only tidy up (the pressed choice, an old keyboard) are added
        here to be done after the replies; without it they are done at once."""
        later: list[Callable[[], Awaitable[None]]] = [] if cosmetic is None else cosmetic
        query, replies, inc = job.query, job.replies, job.incoming
        failed = next((r for r in replies if r.failed), None)
        if failed is not None:
            return await self._deliver_failure(job, failed)
        notices = [r for r in replies if r.notice]
        if query is not None:
            await self._answer(query, notices[0].notice if notices else None)
            replies = [r for r in replies if not r.notice]
            if job.replies and not notices and not inc.is_group:
                if inc.prompt_token is not None:  # the pressed keyboard was the open one
                    self._open_keyboard.pop(inc.chat_id, None)
                message = query.message
                if isinstance(message, Message):
                    if self._open_keyboard.get(str(message.chat.id)) == message.message_id:
                        del self._open_keyboard[str(message.chat.id)]
                    later.append(lambda: self._show_choice(query))
        arrived = True
        if replies:
            arrived = await self._send(inc.chat_id, replies, user_id=inc.user_id, later=later)
        if cosmetic is None:
            for tidy in later:
                await tidy()
        return arrived

    async def _deliver_failure(self, job: _Job, failed: Reply) -> bool:
        """A turn that stored nothing: no "✅ Jouw keuze", the keyboard stays, the person reads
        the error text (once per update, also when Telegram delivers it again)."""
        if job.query is not None:
            await self._answer(job.query, None)
        if not self._told.first(job.incoming.event_id or ""):
            return False
        await self._send(job.incoming.chat_id, [failed], user_id=job.incoming.user_id)
        return False

    def _chat_budget(self, chat_id: str) -> PlatformBudget:
        budget = self._chat_budgets.get(chat_id)
        if budget is None:
            if len(self._chat_budgets) >= MAX_CHAT_BUDGETS:  # forget chats with no slot ahead
                now = self.budget.now()
                self._chat_budgets = {c: b for c, b in self._chat_budgets.items()
                                      if b.ready_at() > now}
            budget = self._chat_budgets[chat_id] = PlatformBudget(self.chat_rate,
                                                                  margin=CHAT_MARGIN)
        return budget

    async def _call(self, make: Callable[[], Awaitable[T]], what: str, *,
                    paced: bool = True, chat: str | None = None) -> T:
        """One Bot API call of a reply: the chat's slot (one a second), then the shared budget
        (ahead of broadcasts) and the channel's retry policy; raises the channel's errors when
        it gives up."""
        def resent() -> None:
            self.reply_resends += 1

        async def attempt() -> T:
            if chat is not None and paced:
                await self._chat_budget(chat).acquire()
            return await translated(make)

        return await call_with_retries(attempt, what=what,
                                       budget=self.budget if paced else None, on_resend=resent)

    async def _spare_slot(self, chat_id: str) -> bool:
        """Wait for a slot of the chat and of the platform that no reply reserved (like a
        broadcast), within the cosmetic share of the rate; False when none came within
        COSMETIC_PATIENCE (the edit is dropped)."""
        budget, chat, share = self.budget, self._chat_budget(chat_id), self._cosmetic
        deadline = budget.now() + COSMETIC_PATIENCE
        while True:
            now = budget.now()
            at = max(budget.ready_at(), chat.ready_at(), share.ready_at(), now)
            if at > deadline:
                return False
            if at > now:
                await asyncio.sleep(at - now)
                continue
            for each in (budget, chat, share):
                each.take(now)
            return True

    async def _answer(self, query: CallbackQuery, notice: str | None) -> None:
        try:
            # not a chat message: outside the chats' budget, but 429s are still waited out
            await self._call(lambda: query.answer(text=notice or None), "callback", paced=False)
        except DeliveryError as exc:  # too old (after a restart): nothing to do
            log.info("answerCallbackQuery failed: %s", type(exc).__name__)

    async def _show_choice(self, query: CallbackQuery) -> None:
        """Edit the message whose button was pressed: show the choice, remove the keyboard
        (cosmetic: in a slot no reply needs, dropped when none comes soon)."""
        message = query.message
        if not isinstance(message, Message):
            return
        chat_id = str(message.chat.id)
        label = None
        for row in (message.reply_markup.inline_keyboard if message.reply_markup else ()):
            for button in row:
                if button.callback_data == query.data:
                    label = button.text
        try:
            if message.text and label:
                text = f"{message.text}\n\n{self.engine.text('chosen', label=label)}"
                if _u16(text) <= TEXT_LIMIT:
                    if await self._spare_slot(chat_id):
                        await translated(lambda: message.edit_text(text, reply_markup=None))
                    return
            if message.reply_markup and await self._spare_slot(chat_id):
                await translated(lambda: message.edit_reply_markup(reply_markup=None))
        except DeliveryError as exc:
            log.info("could not mark the chosen answer: %s", type(exc).__name__)

    async def _send(self, chat_id: str, replies: list[Reply], *, user_id: str,
                    later: list[Callable[[], Awaitable[None]]] | None = None) -> bool:
        """Send replies to a person; True when all arrived (or the chat is gone for good).
        ``later``: where removing the previous prompt's keyboard goes (after the replies);
        without it that is done before the new prompt."""
        username = self._username
        refused: set[str] = set()
        # consecutive replies of the turn to one chat go out as one message where they can
        # (coalesce): Telegram's one message a second per chat would hold the second a second
        for run in coalesce(replies):
            reply = joined_reply(run)
            target = reply.chat_id or chat_id
            if reply.personal and str(target) != str(user_id):
                # a private chat's id is the person's user id: anything else is a group
                if str(target) in refused:
                    continue
                refused.add(str(target))
                reply = self.engine.personal_refusal()
                run = [reply]
            # a new prompt: the previous one's buttons are stale (not so for a side trip's,
            # which ends by going back to that prompt)
            if any(r.is_prompt and not r.side_trip for r in run):
                old = self._open_keyboard.pop(str(target), None)
                if old is not None:
                    if later is None:
                        await self._close_keyboard(target, old)
                    else:
                        later.append(functools.partial(self._close_keyboard, target, old))
            try:
                sent = await send_reply(self.bot, target, reply, username=username,
                                        call=lambda make, target=target: self._call(
                                            make, "a reply", chat=str(target)))
            except Unreachable:
                if str(target) == str(user_id):  # their private chat, not a group
                    log.info("chat %s blocked the bot: member marked unreachable", target)
                    self.engine.set_reachable(PLATFORM, user_id, False)
                else:
                    log.info("no access to chat %s (403)", target)
                return True
            except DeliveryError as exc:
                # the turn is committed and its reply stays owed: the person gets the
                # question again (the owed-reply sweep, or the next start)
                # (no chat id in the log: logs outlive /vergeet)
                log.warning("could not deliver a reply yet: %s: %s", type(exc).__name__,
                            REDACTOR.redact(str(exc)))
                return False
            if (sent and reply.is_prompt and not reply.side_trip
                    and sent[-1].reply_markup is not None):
                if len(self._open_keyboard) >= MAX_TRACKED_KEYBOARDS:
                    self._open_keyboard.clear()  # cosmetic only: old keyboards stay visible
                self._open_keyboard[str(target)] = sent[-1].message_id
        return True

    async def _pay_owed(self, older_than: float | None = None) -> int:
        """Send their current prompt to people whose last turn was committed but whose reply
        never arrived (a crash; a platform down longer than the retry policy waits). At start
        every debt; later (``older_than`` seconds) only debts that nothing is delivering."""
        try:
            owed = self.engine.owed_prompts(PLATFORM, older_than=older_than)
        except Exception as exc:  # the store is unavailable (it said so): next time
            log.debug("owed replies not readable: %s", type(exc).__name__)
            return 0
        owed = [o for o in owed
                if o.chat_id not in self._delivering and o.chat_id not in self._chat_delivery]
        if not owed:
            return 0
        log.info("sending %d owed replies (their turns were stored, the replies never arrived)",
                 len(owed))

        async def pay(debt: Any) -> None:
            self._delivering.add(debt.chat_id)
            try:
                if not debt.replies or await self._send(debt.chat_id, debt.replies,
                                                        user_id=debt.user_id):
                    self._paid.add(debt.event_id)
            finally:
                self._delivering.discard(debt.chat_id)

        await asyncio.gather(*(pay(o) for o in owed))
        self._paid.flush()
        return len(owed)

    async def _sweep_owed(self) -> None:
        """Now and then (between batches): pay debts older than ``owed_sweep_seconds``."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.owed_sweep_seconds
        self._paid.flush()
        async with self._lock:
            await self._pay_owed(older_than=self.owed_sweep_seconds)

    async def _close_keyboard(self, chat_id: str, message_id: int) -> None:
        """Remove the keyboard of the previous prompt (answered by typing, not a button);
        cosmetic: in a slot no reply needs, dropped when none comes soon, never retried."""
        try:
            if await self._spare_slot(str(chat_id)):
                await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except tg_error.TelegramError:
            pass  # already gone or not modified: fine
