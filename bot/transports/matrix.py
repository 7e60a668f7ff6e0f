"""Matrix transport: Matrix room events in, engine replies out as Matrix messages.

The transport only translates. A message in a room the bot joined becomes an
:class:`~bot.engine.messages.Incoming` (``event_id`` = the Matrix event id, so a replayed event is
dropped by the engine); the engine's :class:`~bot.engine.messages.Reply` objects become
``m.room.message`` events: the text with numbered options (an HTML ``<ol>`` in
``formatted_body``, ``1. …`` lines in the plain ``body``), the meaning of a scale, links as
anchors, documents and images uploaded to the media repository.

Rooms. The bot joins every room it is invited to. A room is the private chat of a person only
while its only other member (joined or invited) is the person it belongs to: the one who
created it, i.e. opened it with the bot. Any other room is a group chat for the engine, where
it only listens to a few commands (``/koppel CODE`` links it to a team; the monthly tip then
arrives there through the outbox). So when Alice invites Bob into her DM and leaves, the room
is not Bob's private chat: Bob is never taken for Alice (the engine keys every conversation by
the sender anyway) and gets only the group answers. A named room created as a team room stays
a group even with one person in it. Replies the engine marks ``personal`` (answers, exports,
login links) are delivered only into a room with nobody but that person in it; elsewhere the
engine's neutral "ask me privately" line goes instead. In a DM the bot sets the history
visibility to ``joined``, so someone invited in later cannot scroll back. After ``/vergeet``
the bot leaves and forgets the person's private rooms, drops the Megolm sessions and device
keys it kept for them and removes them from its ``m.direct`` list. Commands start with ``/``; ``!`` works too, because Element
intercepts unknown slash commands.

Encryption. :func:`~bot.transports.matrix_crypto.login_persistent` restores ONE device with its
Olm/Megolm store on every start, and :func:`~bot.transports.matrix_crypto.ensure_cross_signing`
makes that device cross-signed when a recovery key is configured. An event the bot cannot
decrypt is retried for a few seconds (its key may still be on the way) and then answered with
a short explanation, never with silence.

Durability. The sync loop is our own, not ``sync_forever``: nio would save the sync token
*before* the events of a sync are handled, so a crash in between would lose them. Here the
token is saved (in nio's store) only after every event of the sync was handled and answered;
a crash before that replays the sync after a restart, and the engine drops the events it
already committed. The first sync after a restart asks for the full room state (nio keeps no
room state on disk) but its timeline still starts at the saved token. When more events
arrived while the bot was down than a sync returns, the gap is fetched with ``/messages``.
On the very first start the timeline of the initial sync is skipped (old history), and in
every room only events after the bot's own join are handled.

Limits: Matrix events are at most 64 KiB; long texts are split at about 16,000 characters
(paragraphs, then lines, then hard) and every event's content is kept well below the limit,
also after encryption.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import io
import json
import logging
import mimetypes
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import nio
from nio.api import RelationshipType

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
    Incoming,
    Poll,
    Reply,
    private_payload,
    scale_ends,
    withhold_personal,
)
from bot.engine.messages import parse_command as engine_parse_command
from bot.engine.messages import split_text as engine_split_text
from bot.transports.matrix_crypto import (
    drop_room_keys,
    ensure_cross_signing,
    forget_user_devices,
    login_persistent,
)

log = logging.getLogger(__name__)

PLATFORM = "matrix"
#: split long texts at about this many characters (readability; the hard limit is 64 KiB)
TEXT_LIMIT = 16_000
#: an event content's JSON (UTF-8) stays below this, so that it fits 64 KiB after encryption
CONTENT_BYTES = 40_000
#: events per room timeline in one sync (more: the gap is fetched with /messages)
TIMELINE_LIMIT = 50
#: at most this many events are fetched to fill one room's gap after a long downtime
GAP_LIMIT = 1000
#: attempts to join a room we were invited to (one per sync)
JOIN_ATTEMPTS = 5

#: msgtype -> the engine's media kinds (bot.engine.core.MEDIA_KINDS)
MEDIA_BY_MSGTYPE = {
    "m.image": "photo",
    "m.audio": "audio",
    "m.video": "video",
    "m.file": "document",
    "m.location": "location",
}
POLL_TYPES = ("m.poll.start", "org.matrix.msc3381.poll.start")
RESPONSE_TYPES = ("m.poll.response", "org.matrix.msc3381.poll.response")


# -- pure translation helpers (no network) ------------------------------------------------


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters (paragraphs first)."""
    return engine_split_text(text, limit)


def private_chat_url(bot_user_id: str) -> str:
    """A link that opens a chat with the bot in any Matrix client."""
    return f"https://matrix.to/#/{bot_user_id}"


def link_url(url: str, bot_user_id: str) -> str:
    """The engine's link to the private chat becomes a matrix.to link (no start payload)."""
    return url if private_payload(url) is None else private_chat_url(bot_user_id)


def scale_line(reply: Reply) -> str | None:
    """What 1 and 5 mean, unless the text says so already."""
    ends = scale_ends(reply)
    return f"1 = {ends[0]}, 5 = {ends[1]}" if ends else None


def option_label(number: int, label: str) -> str:
    """A choice's label without a number it already carries (``"1. Samenhang"``)."""
    prefix = f"{number}. "
    return label[len(prefix):] if label.startswith(prefix) else label


def _html(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>")


def _content_size(content: dict[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def text_content(body: str, formatted: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body}
    if formatted is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted
    return content


def render_reply(reply: Reply, bot_user_id: str, limit: int = TEXT_LIMIT) -> list[dict[str, Any]]:
    """The text events of one Reply (without its attachment): options, scale line and links
    go under the last part of a long text."""
    tail_plain: list[str] = []
    tail_html: list[str] = []
    line = scale_line(reply)
    if line:
        tail_plain.append(line)
        tail_html.append(f"<p>{_html(line)}</p>")
    elif reply.choices and reply.expects != "scale" and not reply.numbered:
        labels = [c.label for c in reply.choices]  # typed numbers mean a score here
        tail_plain.append("\n".join(f"• {label}" for label in labels))
        tail_html.append("<ul>" + "".join(f"<li>{_html(label)}</li>" for label in labels)
                         + "</ul>")
    elif reply.choices and reply.expects != "scale":
        labels = [option_label(n, c.label) for n, c in enumerate(reply.choices, 1)]
        tail_plain.append("\n".join(f"{n}. {label}" for n, label in enumerate(labels, 1)))
        items = "".join(f"<li>{_html(label)}</li>" for label in labels)
        tail_html.append(f"<ol>{items}</ol>")
    if reply.links:
        plain_links, html_links = [], []
        for link in reply.links:
            url = link_url(link.url, bot_user_id)
            plain_links.append(f"{link.label}: {url}")
            html_links.append(f'<a href="{html.escape(url)}">{_html(link.label)}</a>')
        tail_plain.append("\n".join(plain_links))
        tail_html.append("<p>" + "<br>".join(html_links) + "</p>")
    text = reply.text or ""
    if not text.strip() and not tail_plain:
        return []
    parts = split_text(text, limit) if text.strip() else [""]
    contents: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        plain = [part] if part.strip() else []
        formatted = [f"<p>{_html(part)}</p>"] if part.strip() else []
        if i == len(parts) - 1:
            plain += tail_plain
            formatted += tail_html
        content = text_content("\n\n".join(plain), "".join(formatted))
        if _content_size(content) > CONTENT_BYTES:
            if limit > 500 and part.strip():
                # much markup or many multi-byte characters: cut this part finer
                sub = Reply(part, choices=reply.choices if i == len(parts) - 1 else [],
                            expects=reply.expects if i == len(parts) - 1 else "none",
                            scale_labels=reply.scale_labels,
                            links=reply.links if i == len(parts) - 1 else [],
                            numbered=reply.numbered)
                contents += render_reply(sub, bot_user_id, limit // 2)
                continue
            content = text_content(content["body"])  # plain text only
        contents.append(content)
    return contents


def strip_reply_fallback(body: str) -> str:
    """A reply's body starts with the quoted message (``> <@user> text``): drop it."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    return "\n".join(lines[i:]).lstrip("\n")


def parse_command(text: str) -> tuple[str, str] | None:
    """(name, args) of ``/name args`` or ``!name args`` (Element intercepts unknown slash
    commands); None for ordinary text."""
    return engine_parse_command(text, prefixes="/!")


def _content_of(event: nio.Event) -> dict[str, Any]:
    source = getattr(event, "source", None) or {}
    content = source.get("content") if isinstance(source, dict) else None
    return content if isinstance(content, dict) else {}


def media_of(event: nio.Event) -> str | None:
    """The engine's media name when ``event`` is a message we cannot read (photo, ...)."""
    if isinstance(event, nio.StickerEvent):
        return "sticker"
    if isinstance(event, (nio.RoomMessageMedia, nio.RoomEncryptedMedia)):
        content = _content_of(event)
        msgtype = content.get("msgtype", "")
        if msgtype == "m.audio" and ("org.matrix.msc3245.voice" in content
                                     or "m.voice" in content):
            return "voice"
        return MEDIA_BY_MSGTYPE.get(msgtype, "document")
    if isinstance(event, nio.RoomMessageUnknown):
        return MEDIA_BY_MSGTYPE.get(event.msgtype, "other")
    if isinstance(event, nio.UnknownEvent) and event.type in POLL_TYPES:
        return "poll"
    return None


def incoming_from_event(event: nio.Event, room_id: str, *, is_group: bool) -> Incoming | None:
    """The Incoming of a room event, or None when the bot has nothing to do with it. The
    person is the event's sender (never the room); no display name is passed on."""

    def make(kind: str, **kw: Any) -> Incoming:
        return Incoming(PLATFORM, event.sender, room_id, kind,  # type: ignore[arg-type]
                        event_id=event.event_id, is_group=is_group, **kw)

    if isinstance(event, (nio.RoomMessageText, nio.RoomMessageEmote)):
        content = _content_of(event)
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            new = content.get("m.new_content")
            body = new.get("body") if isinstance(new, dict) else None
            original = relates.get("event_id")
            if not isinstance(body, str) or not isinstance(original, str):
                return None
            return make("edit", text=strip_reply_fallback(body), message_ref=original)
        text = event.body if isinstance(event.body, str) else ""
        if isinstance(relates, dict) and "m.in_reply_to" in relates:
            text = strip_reply_fallback(text)
        command = parse_command(text)
        if command is not None:
            name, args = command
            return make("command", text=text.strip(), command=name, args=args,
                        message_ref=event.event_id)
        return make("text", text=text, message_ref=event.event_id)
    if isinstance(event, nio.RoomMessageNotice):
        return None  # notices come from bots: never answer them (no bot loops)
    media = media_of(event)
    if media is not None and media != "other":
        return make("unsupported", media=media, message_ref=event.event_id)
    return None


def poll_start_content(poll: Poll, fallback: str) -> dict[str, Any]:
    """``m.poll.start`` (MSC3381 as in the spec: one answer, undisclosed, answers numbered
    ``"1"``..), with the text fallback for clients without polls (and the note that says it is
    not anonymous)."""
    text = fallback + (f"\n\n{poll.note}" if poll.note else "")
    return {
        "m.poll": {
            "kind": "m.poll.undisclosed",
            "max_selections": 1,
            "question": {"m.text": [{"body": poll.question}]},
            "answers": [{"m.id": str(i), "m.text": [{"body": label}]}
                        for i, label in enumerate(poll.options, 1)],
        },
        "m.text": [{"body": text}],
    }


def poll_end_content(start_id: str, counts: list[int], labels: list[str] | None = None,
                     *, closed_text: str = "{results}") -> dict[str, Any]:
    """``m.poll.end`` with the results as counted here and a text fallback of them."""
    parts = [f"{labels[i] if labels and i < len(labels) else i + 1}: {n}"
             for i, n in enumerate(counts)]
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": start_id},
        "m.text": [{"body": closed_text.format(results=" · ".join(parts))}],
        "m.poll.results": {str(i): n for i, n in enumerate(counts, 1)},
    }


def tally_responses(events: Iterable[dict[str, Any]], n_options: int, *,
                    bot_user_id: str) -> tuple[list[int], int]:
    """Counts per answer of ``m.poll.response`` events (MSC3381): only each sender's latest
    response counts; an empty one takes the vote back; an unknown answer spoils it."""
    latest: dict[str, tuple[int, list[Any]]] = {}
    for source in events:
        kind = source.get("type")
        if kind not in RESPONSE_TYPES or source.get("sender") == bot_user_id:
            continue
        content = source.get("content") or {}
        selections = content.get("m.selections")
        if selections is None:
            unstable = content.get("org.matrix.msc3381.poll.response") or {}
            selections = unstable.get("answers")
        if not isinstance(selections, list):
            continue
        ts = int(source.get("origin_server_ts") or 0)
        sender = str(source.get("sender"))
        if sender not in latest or latest[sender][0] <= ts:
            latest[sender] = (ts, selections[:1])
    counts = [0] * n_options
    voters = 0
    for _, selections in latest.values():
        if not selections:
            continue
        answer = str(selections[0])
        if not answer.isdigit() or not 1 <= int(answer) <= n_options:
            continue  # a spoiled vote
        counts[int(answer) - 1] += 1
        voters += 1
    return counts, voters


def error_for(resp: nio.ErrorResponse, what: str = "request") -> Exception:
    """The dispatcher's exception for a Matrix error response."""
    status = getattr(getattr(resp, "transport_response", None), "status", None)
    code = resp.status_code
    detail = f"{what}: {code or status} {resp.message}"[:300]
    if code == "M_LIMIT_EXCEEDED" or status == 429:
        return RetryAfter((resp.retry_after_ms or 5000) / 1000)
    if code in ("M_FORBIDDEN", "M_NOT_FOUND") or status in (403, 404):
        return Unreachable(detail)
    return TransientError(detail)


class _ReplaySync(Exception):
    """A turn of the sync could not be stored (the store is unavailable, and said so in the
    log): handle the same sync again after a pause."""


@dataclass
class _Out:
    """One event to send: a text part or an attachment."""

    content: dict[str, Any] | None
    attachment: tuple[str, bytes, str, str] | None = None  # name, data, mime, msgtype
    tx_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    event_type: str = "m.room.message"


@dataclass
class _Pending:
    """An event we could not decrypt yet: its key may arrive with a later sync."""

    room_id: str
    event: nio.MegolmEvent
    deadline: float


# -- sending -------------------------------------------------------------------------------


class MatrixSender:
    """Sends scheduled messages (the outbox dispatcher's ``Sender`` for Matrix).

    Errors map to the channel's vocabulary: ``M_LIMIT_EXCEEDED`` -> ``RetryAfter``,
    ``M_FORBIDDEN``/not in the room -> ``Unreachable``, 5xx and network errors ->
    ``TransientError``, a timeout after the request left -> ``Uncertain``. Nothing is
    retried here before the first event of a reply went out (the dispatcher owns retries and
    learns from ``sent`` how many replies were delivered); once part of a reply that needs
    several events (a long text, an attachment) was delivered, the rest is retried here.

    Idempotent: every event's transaction id comes from the outbox row's :class:`DeliveryKey`
    (stored before the first attempt), so sending a row again after a timeout or a crash is
    delivered once: the homeserver answers a repeated ``PUT /send/{type}/{txnId}`` of the same
    device with the first event (Synapse keeps transaction ids for about 30 minutes).
    """

    platform = PLATFORM
    idempotent = True

    def __init__(self, transport: MatrixTransport) -> None:
        self._transport = transport

    @property
    def budget(self) -> PlatformBudget:
        return self._transport.budget

    async def send(
        self, chat_id: str, replies: list[Reply], *, is_group: bool, key: DeliveryKey | None = None
    ) -> str | None:
        if not is_group:
            await self._transport.ensure_creator(chat_id)
        if not is_group and not self._transport.is_private_room(chat_id):
            # someone else joined the person's private room (or they left it): not theirs now
            raise Unreachable(f"room {chat_id} is no longer a private chat")
        return await self._transport.send_replies(chat_id, replies, scheduled=True, key=key)

    def private_link(self, payload: str = "") -> str:
        """The link to a private chat with the bot (Matrix links carry no start payload)."""
        return private_chat_url(self._transport.user_id)


# -- the transport --------------------------------------------------------------------------


def _setting(settings: Settings, name: str, default: Any = None) -> Any:
    value = getattr(settings, name, None)
    return default if value in (None, "") else value


class MatrixTransport:
    """Runs the bot on Matrix: one persistent E2E device, our own sync loop, rendering."""

    platform = PLATFORM

    def __init__(
        self,
        engine: ChatEngine,
        settings: Settings,
        *,
        sync_timeout_ms: int = 30_000,
        megolm_grace: float = 4.0,
        timeline_limit: int = TIMELINE_LIMIT,
        config: nio.AsyncClientConfig | None = None,
        budget: PlatformBudget | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.homeserver: str = _setting(settings, "matrix_homeserver")
        self.user_id: str = _setting(settings, "matrix_user_id")
        if not self.homeserver or not self.user_id:
            raise ValueError("matrix_homeserver and matrix_user_id must be set")
        self.sync_timeout_ms = sync_timeout_ms
        self.megolm_grace = megolm_grace
        self.timeline_limit = timeline_limit
        self.config = config or nio.AsyncClientConfig(
            max_limit_exceeded=0,  # a 429 comes back to us (RetryAfter), nio does not sleep
            max_timeouts=2,
            request_timeout=30,
        )
        self.client: nio.AsyncClient | None = None
        self._sender = MatrixSender(self)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pending: list[_Pending] = []
        self._direct: set[str] = set()
        self._joining: set[str] = set()
        #: invites whose join failed (room -> attempts), retried after later syncs
        self._join_retry: dict[str, int] = {}
        #: room -> (inviter, is_direct) of a pending invite
        self._invites: dict[str, tuple[str, bool]] = {}
        #: room -> the user who created it (who opened it with the bot): its owner
        self._creators: dict[str, str] = {}
        self.first_start = False
        #: the latest events handed to the engine (for tests and status): (room id, event id)
        self.handled: deque[tuple[str, str]] = deque(maxlen=1000)
        #: how many erasures (``forget_person``) finished (for tests and status; no ids kept)
        self.erasures = 0
        #: the request rate of this account, shared by replies (first) and the outbox
        self.budget = budget or PlatformBudget(
            float(_setting(settings, "rate_global_per_second", 30.0)))
        #: turns whose replies arrived, told to the engine in small batches
        self._paid = PaidReplies(lambda ids: engine.replies_delivered(PLATFORM, ids))
        #: a turn of this sync could not be stored (the store is unavailable): replay the sync
        self._replay_sync = False
        #: event ids of failed turns whose error message was shown already
        self._told = FirstTime()

    @property
    def sender(self) -> MatrixSender:
        return self._sender

    @property
    def device_id(self) -> str | None:
        return self.client.device_id if self.client else None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in (restoring the device), cross-sign it, sync once, then sync in the
        background."""
        nio_log = logging.getLogger("nio")
        if nio_log.level == logging.NOTSET:  # nio logs every event at INFO: too chatty
            nio_log.setLevel(logging.WARNING)
        store_dir = _setting(self.settings, "matrix_store")
        if store_dir is None:
            raise ValueError("matrix_store must be set")
        password = _setting(self.settings, "matrix_password")
        client = await login_persistent(
            self.homeserver, self.user_id, store_dir, password=password,
            access_token=_setting(self.settings, "matrix_access_token"), config=self.config,
        )
        # We save the sync token ourselves, after the events of a sync were handled (the
        # token of the last run was loaded by login_persistent already).
        client.config = dataclasses.replace(client.config, store_sync_tokens=False)
        self.client = client
        self._stopping = False
        self.first_start = not client.loaded_sync_token
        recovery_key = _setting(self.settings, "matrix_recovery_key")
        if recovery_key:
            try:
                await ensure_cross_signing(client, recovery_key, password)
            except Exception as exc:  # the bot works unverified too: say so loudly, go on
                log.error("cross-signing the Matrix device failed: %s", type(exc).__name__)
                log.debug("cross-signing error detail", exc_info=True)
        await self._load_direct_rooms()
        owed_before = self._owed_snapshot()
        try:
            await self._sync_once(full_state=True, timeout_ms=0)
        except _ReplaySync:  # the store is unavailable: the sync loop handles it again
            pass
        await self._pay_owed(owed_before)
        self._task = asyncio.create_task(self._sync_loop(), name="matrix-sync")
        log.info("Matrix-bot %s gestart (apparaat %s%s)", client.user_id, client.device_id,
                 ", eerste start" if self.first_start else "")

    async def stop(self) -> None:
        """Stop syncing and close the connection (an unfinished sync is replayed next time)."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.client is not None:
            await self.client.close()

    # -- syncing -----------------------------------------------------------------------------

    def _sync_filter(self) -> dict[str, Any]:
        return {
            "room": {"timeline": {"limit": self.timeline_limit}},
            "presence": {"not_types": ["*"]},
        }

    async def _sync_loop(self) -> None:
        backoff = 1.0
        while not self._stopping:
            try:
                timeout = self.sync_timeout_ms
                if self._pending:
                    timeout = min(timeout, 500)
                await self._sync_once(timeout_ms=timeout)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                await asyncio.sleep(min(exc.seconds, 60.0))
            except _ReplaySync:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception as exc:
                log.warning("Matrix sync failed (%s); retrying in %.0f s", type(exc).__name__,
                            backoff)
                log.debug("sync error detail", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _sync_once(self, *, timeout_ms: int, full_state: bool | None = None) -> None:
        client = self.client
        assert client is not None
        since = client.next_batch or client.loaded_sync_token or None
        before = client.next_batch
        try:
            resp = await client.sync(timeout=timeout_ms, sync_filter=self._sync_filter(),
                                     full_state=full_state)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError(f"sync: {type(exc).__name__}") from None
        if isinstance(resp, nio.SyncError):
            raise error_for(resp, "sync")
        await self._housekeeping()
        if resp.next_batch != before:
            self._replay_sync = False
            try:
                await self._handle_sync(resp, since,
                                        skip_timeline=self.first_start and not before)
            except BaseException:
                # not all of it was handled: sync from the old token again (the engine drops
                # what it already committed)
                client.next_batch = before
                raise
            finally:
                self._paid.flush()
            if self._replay_sync:
                client.next_batch = before
                raise _ReplaySync
        await self._retry_joins()
        await self._retry_pending()
        if not self._pending and client.store is not None and client.next_batch:
            client.store.save_sync_token(client.next_batch)

    async def _housekeeping(self) -> None:
        """What ``sync_forever`` does between syncs: to-device messages and key management."""
        client = self.client
        assert client is not None
        try:
            if client.outgoing_to_device_messages:
                await client.send_to_device_messages()
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
        except Exception as exc:  # retried after the next sync
            log.warning("Matrix key housekeeping failed: %s", type(exc).__name__)

    async def _handle_sync(
        self, resp: nio.SyncResponse, since: str | None, *, skip_timeline: bool
    ) -> None:
        for event in resp.account_data_events:
            if isinstance(event, nio.UnknownAccountDataEvent) and event.type == "m.direct":
                self._set_direct(event.content)
        for room_id, info in resp.rooms.invite.items():
            await self._on_invite(room_id, info)
        for room_id in resp.rooms.leave:
            # left or kicked: nio keeps the room; forget it so nothing is sent there
            if self.client is not None and self.client.rooms.pop(room_id, None) is not None:
                log.info("no longer in room %s", room_id)
            self._joining.discard(room_id)
        for room_id, info in resp.rooms.join.items():
            self._note_creator(room_id, [*info.state, *info.timeline.events])
        if skip_timeline:
            return
        for room_id, info in resp.rooms.join.items():
            events = list(info.timeline.events)
            joined_at = self._own_join(events)
            if joined_at is None and info.timeline.limited and since and info.timeline.prev_batch:
                events = await self._fill_gap(room_id, info.timeline.prev_batch, since) + events
                joined_at = self._own_join(events)
            for event in events[0 if joined_at is None else joined_at + 1:]:
                await self._on_event(room_id, event)

    def _own_join(self, events: list[Any]) -> int | None:
        """Index of the bot's own (latest) join: the events before it predate the bot."""
        found = None
        for i, event in enumerate(events):
            if (isinstance(event, nio.RoomMemberEvent) and event.state_key == self.user_id
                    and event.membership == "join" and event.prev_membership != "join"):
                found = i
        return found

    async def _fill_gap(self, room_id: str, prev_batch: str, since: str) -> list[Any]:
        """Events between the last handled sync and this sync's (limited) timeline."""
        client = self.client
        assert client is not None
        chunks: list[Any] = []
        start: str | None = prev_batch
        while start and len(chunks) < GAP_LIMIT:
            resp = await client.room_messages(room_id, start=start, end=since, limit=100,
                                              direction=nio.MessageDirection.back)
            if not isinstance(resp, nio.RoomMessagesResponse):
                raise error_for(resp, "messages")
            if not resp.chunk:
                break
            chunks.extend(resp.chunk)
            if resp.end == start:
                break
            start = resp.end
        if len(chunks) >= GAP_LIMIT:
            log.warning("room %s: more than %d events missed; older ones are skipped", room_id,
                        GAP_LIMIT)
        chunks.reverse()
        if chunks:
            log.info("room %s: fetched %d events that one sync did not hold", room_id,
                     len(chunks))
        return chunks

    # -- rooms ---------------------------------------------------------------------------------

    async def _load_direct_rooms(self) -> None:
        client = self.client
        assert client is not None
        try:
            resp = await client.list_direct_rooms()
        except Exception as exc:
            log.info("could not read m.direct: %s", type(exc).__name__)
            return
        if isinstance(resp, nio.DirectRoomsResponse):
            self._set_direct(resp.rooms)

    def _set_direct(self, content: dict[str, Any]) -> None:
        self._direct = {room for rooms in content.values() if isinstance(rooms, list)
                        for room in rooms if isinstance(room, str)}

    async def _on_invite(self, room_id: str, info: Any) -> None:
        """Join a room we were invited to (private chats and team rooms alike)."""
        client = self.client
        assert client is not None
        if room_id in self._joining:
            return
        for event in getattr(info, "invite_state", None) or []:
            if (isinstance(event, nio.InviteMemberEvent) and event.state_key == self.user_id
                    and event.membership == "invite"):
                self._invites[room_id] = (event.sender, bool(event.content.get("is_direct")))
        self._joining.add(room_id)
        try:
            resp = await client.join(room_id)
        except (TimeoutError, aiohttp.ClientError) as exc:
            resp = nio.JoinError(type(exc).__name__)
        if not isinstance(resp, nio.JoinResponse):
            attempts = self._join_retry.get(room_id, 0) + 1
            log.warning("could not join room %s (attempt %d): %s", room_id, attempts,
                        resp.status_code)
            self._joining.discard(room_id)
            if attempts < JOIN_ATTEMPTS and resp.status_code not in ("M_FORBIDDEN",
                                                                     "M_NOT_FOUND"):
                self._join_retry[room_id] = attempts
            else:
                self._join_retry.pop(room_id, None)
            return
        self._join_retry.pop(room_id, None)
        inviter, direct = self._invites.pop(room_id, (None, False))
        log.info("joined room %s%s", room_id, " (direct chat)" if direct else "")
        if direct and inviter:
            await self._mark_direct(room_id, inviter)
            await self._history_from_join(room_id)

    async def _history_from_join(self, room_id: str) -> None:
        """In a DM, whoever is invited later reads only what is said after they joined: if
        the person ever invites someone in, that someone cannot scroll back to their answers,
        export or login links (in an unencrypted room the history would be readable). Best
        effort: it needs the power level a DM's creator usually gives the bot."""
        client = self.client
        assert client is not None
        try:
            resp = await client.room_put_state(room_id, "m.room.history_visibility",
                                               {"history_visibility": "joined"})
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("could not limit the history of %s: %s", room_id, type(exc).__name__)
            return
        if not isinstance(resp, nio.RoomPutStateResponse):
            log.info("could not limit the history of %s: %s", room_id, resp.status_code)

    async def _mark_direct(self, room_id: str, user_id: str) -> None:
        """Record a direct chat in the bot's ``m.direct`` account data (as clients do)."""
        client = self.client
        assert client is not None
        self._direct.add(room_id)
        path = f"/_matrix/client/v3/user/{client.user_id}/account_data/m.direct"
        try:
            current: dict[str, Any] = {}
            resp = await client.list_direct_rooms()
            if isinstance(resp, nio.DirectRoomsResponse):
                current = {k: list(v) for k, v in resp.rooms.items()}
            rooms = current.setdefault(user_id, [])
            if room_id not in rooms:
                rooms.append(room_id)
            http = await client.send(
                "PUT", path, json.dumps(current),
                {"Content-Type": "application/json",
                 "Authorization": f"Bearer {client.access_token}"},
            )
            http.release()
        except Exception as exc:  # only a hint for classification: not worth failing for
            log.info("could not update m.direct: %s", type(exc).__name__)

    async def _retry_joins(self) -> None:
        client = self.client
        assert client is not None
        for room_id in list(self._join_retry):
            if room_id in client.rooms:
                self._join_retry.pop(room_id, None)
            elif room_id in client.invited_rooms:
                await self._on_invite(room_id, None)

    def _note_creator(self, room_id: str, events: Iterable[Any]) -> None:
        for event in events:
            if isinstance(event, nio.RoomCreateEvent) and event.sender:
                self._creators[room_id] = event.sender

    async def ensure_creator(self, room_id: str) -> None:
        """Learn who created a room when no sync told us yet (from the room's state)."""
        client = self.client
        if room_id in self._creators or client is None:
            return
        try:
            resp = await client.room_get_state_event(room_id, "m.room.create")
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("could not read the creator of %s: %s", room_id, type(exc).__name__)
            return
        if isinstance(resp, nio.RoomGetStateEventResponse):
            creator = resp.content.get("creator")
            if isinstance(creator, str):  # room versions < 11 say it in the content
                self._creators[room_id] = creator
                return
        try:  # room version 11: the create event's sender is the creator
            full = await client.room_get_state(room_id)
        except (TimeoutError, aiohttp.ClientError):
            return
        if isinstance(full, nio.RoomGetStateResponse):
            for raw in full.events:
                if raw.get("type") == "m.room.create" and isinstance(raw.get("sender"), str):
                    self._creators[room_id] = raw["sender"]

    def _others(self, room: nio.MatrixRoom) -> set[str]:
        """Everybody in the room but the bot: joined and invited (an invitee may read along)."""
        return set(room.users) - {self.user_id}

    def private_owner(self, room: nio.MatrixRoom) -> str | None:
        """The person whose private chat this room is now, or None when it is a group: the
        only other member must be the room's creator (who opened it with the bot)."""
        if room.member_count > 2:
            return None
        others = self._others(room)
        if len(others) != 1:
            return None
        (other,) = others
        if self._creators.get(room.room_id) != other:
            return None
        if room.room_id not in self._direct and room.name:
            return None  # a named room created as a group (a team room with one member)
        return other

    def is_private_room(self, room_id: str, user_id: str | None = None) -> bool:
        """The room is someone's private chat now (``user_id``'s, when given)."""
        room = self.client.rooms.get(room_id) if self.client else None
        if room is None:
            return False
        owner = self.private_owner(room)
        return owner is not None and (user_id is None or owner == user_id)

    def is_group(self, room: nio.MatrixRoom, sender: str | None = None) -> bool:
        """A group chat for the engine, unless it is the private chat of ``sender`` (of
        anybody, when no sender is given)."""
        owner = self.private_owner(room)
        return owner is None or (sender is not None and owner != sender)

    # -- handling ------------------------------------------------------------------------------

    async def _on_event(self, room_id: str, event: Any) -> None:
        """Handle one timeline event; an error is logged and never stops the sync loop."""
        client = self.client
        assert client is not None
        if getattr(event, "sender", None) == self.user_id:
            return
        room = client.rooms.get(room_id)
        if room is None:
            return
        try:
            if isinstance(event, nio.MegolmEvent):
                event.room_id = room_id
                self._pending.append(_Pending(room_id, event,
                                              time.monotonic() + self.megolm_grace))
                return
            if isinstance(event, nio.RoomMemberEvent):
                await self._on_member(room, event)
                return
            await self.ensure_creator(room_id)
            group = self.is_group(room, event.sender)
            inc = incoming_from_event(event, room_id, is_group=group)
            if inc is None:
                return
            if group and inc.kind == "command":  # people besides the bot (a native poll)
                inc.chat_size = max(0, room.joined_count - 1)
            replies = self.engine.handle(inc, owe=True)
            failed = next((r for r in replies if r.failed), None)
            if failed is not None:
                await self._deliver_failure(room_id, inc, failed)
                return
            self.handled.append((room_id, event.event_id))
            if not replies or await self._deliver(room_id, replies, user_id=event.sender):
                self._paid.add(inc.event_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling Matrix event %s in %s failed", getattr(event, "event_id", "?"),
                          room_id)

    async def _on_member(self, room: nio.MatrixRoom, event: nio.RoomMemberEvent) -> None:
        """Leave a room in which nobody is left to talk to."""
        if event.membership not in ("leave", "ban") or event.state_key == self.user_id:
            return
        if room.joined_count <= 1 and room.invited_count == 0:
            assert self.client is not None
            log.info("everybody left room %s: leaving it too", room.room_id)
            await self.client.room_leave(room.room_id)

    async def _retry_pending(self) -> None:
        """Decrypt what became decryptable; explain what stayed undecryptable too long."""
        if not self._pending:
            return
        client = self.client
        assert client is not None
        now = time.monotonic()
        still: list[_Pending] = []
        for item in self._pending:
            try:
                event = client.decrypt_event(item.event)
            except Exception:
                if now < item.deadline:
                    still.append(item)
                else:
                    await self._explain_undecryptable(item)
                continue
            if isinstance(event, nio.MegolmEvent):  # pragma: no cover - defensive
                still.append(item)
                continue
            await self._on_event(item.room_id, event)
        self._pending = still

    async def _explain_undecryptable(self, item: _Pending) -> None:
        """Tell the engine of a message that stayed undecryptable; it decides what to say (once
        per event, at most hourly in a group room)."""
        event, room_id = item.event, item.room_id
        # no sender in the log: logs outlive /vergeet
        log.warning("could not decrypt event %s in %s (session %s)", event.event_id, room_id,
                    event.session_id)
        client = self.client
        assert client is not None
        room = client.rooms.get(room_id)
        if room is None:
            return
        try:
            inc = Incoming(PLATFORM, event.sender, room_id, "undecryptable",
                           event_id=event.event_id, is_group=self.is_group(room, event.sender))
            replies = self.engine.handle(inc)
            if replies and not any(r.failed for r in replies):
                await self._deliver(room_id, replies, user_id=event.sender)
        except Exception:
            log.exception("explaining an undecryptable event in %s failed", room_id)

    async def _deliver(self, room_id: str, replies: list[Reply],
                       user_id: str | None = None) -> bool:
        """Send the engine's replies to a person under the channel's retry policy; never
        raises. True when they arrived (or the room is gone for good).

        Personal replies go only into a room with nobody but ``user_id`` in it (membership
        as the last sync told us); elsewhere the engine's refusal goes instead."""
        by_room: dict[str, list[Reply]] = {}
        for reply in replies:
            by_room.setdefault(reply.chat_id or room_id, []).append(reply)
        delivered = True
        for target, group in by_room.items():
            room = self.client.rooms.get(target) if self.client else None
            alone = room is not None and user_id is not None and self._others(room) == {user_id}
            group = withhold_personal(group, private=alone,
                                      refusal=self.engine.personal_refusal())
            try:
                await self.send_replies(target, group, scheduled=False)
            except Unreachable as exc:
                log.info("reply to %s not possible: %s", target, exc)
            except DeliveryError as exc:
                # the turn is committed and its reply stays owed: the person gets the
                # question again at the next start
                # (no room id in the log: logs outlive /vergeet)
                log.warning("could not deliver a reply yet: %s", type(exc).__name__)
                delivered = False
        if user_id is not None and any(r.leave_chat for r in replies):
            await self.forget_person(user_id, room_id)
        return delivered

    # -- erasure ---------------------------------------------------------------------------------

    async def forget_person(self, user_id: str, room_id: str | None = None) -> list[str]:
        """After ``/vergeet``: leave and forget every room that is ``user_id``'s private chat
        (and ``room_id``, where they said it, when it is private to them), drop the Megolm
        sessions kept for those rooms and take the person out of the bot's ``m.direct``.
        Group rooms stay. Returns the rooms left; never raises."""
        client = self.client
        if client is None:
            return []
        rooms = [r for r, room in client.rooms.items() if self.private_owner(room) == user_id
                 or (r == room_id and self._others(room) <= {user_id})]
        for room in rooms:
            try:
                left = await client.room_leave(room)
                if isinstance(left, nio.RoomLeaveResponse):
                    await client.room_forget(room)
                else:
                    log.warning("could not leave room %s: %s", room, left.status_code)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("could not leave room %s: %s", room, type(exc).__name__)
            client.rooms.pop(room, None)
            self._forget_room_state(room)
        drop_room_keys(client, rooms)
        if not any(user_id in room.users for room in client.rooms.values()):
            forget_user_devices(client, user_id)  # no room shared any more
        await self._undirect(user_id, rooms)
        self.erasures += 1
        if rooms:
            log.info("erased member: left %d private room(s)", len(rooms))
        return rooms

    def _forget_room_state(self, room_id: str) -> None:
        self._creators.pop(room_id, None)
        self._direct.discard(room_id)
        self._pending = [p for p in self._pending if p.room_id != room_id]
        kept = [h for h in self.handled if h[0] != room_id]
        self.handled.clear()
        self.handled.extend(kept)

    async def _undirect(self, user_id: str, rooms: list[str]) -> None:
        """Remove the person (and those rooms) from the bot's ``m.direct`` account data."""
        client = self.client
        assert client is not None
        try:
            resp = await client.list_direct_rooms()
            if not isinstance(resp, nio.DirectRoomsResponse):
                return
            current = {k: [r for r in v if r not in rooms] for k, v in resp.rooms.items()
                       if k != user_id}
            current = {k: v for k, v in current.items() if v}
            if current == resp.rooms:
                return
            path = f"/_matrix/client/v3/user/{client.user_id}/account_data/m.direct"
            http = await client.send(
                "PUT", path, json.dumps(current),
                {"Content-Type": "application/json",
                 "Authorization": f"Bearer {client.access_token}"},
            )
            http.release()
        except Exception as exc:  # the rooms are left already; this is a list of them
            log.warning("could not update m.direct: %s", type(exc).__name__)

    async def _deliver_failure(self, room_id: str, inc: Incoming, failed: Reply) -> None:
        """A turn that stored nothing: say the error text once; when the store was unavailable,
        handle the sync again later (the event was not marked handled)."""
        if failed.failed == "retry":
            self._replay_sync = True
        if not self._told.first(inc.event_id or ""):
            return
        await self._deliver(room_id, [failed], user_id=inc.user_id)

    def _owed_snapshot(self) -> set[str]:
        """Event ids of the turns whose replies a previous run still owed."""
        try:
            return self.engine.owed_event_ids(PLATFORM)
        except Exception as exc:  # the store is unavailable (it said so): next start
            log.debug("owed replies not readable: %s", type(exc).__name__)
            return set()

    async def _pay_owed(self, owed_before: set[str]) -> int:
        """After the first sync: the current prompt to people whose last turn (of an earlier
        run) was stored but whose reply never arrived. A debt the first sync replaced (the
        person wrote again and got an answer) is not paid twice."""
        if not owed_before:
            return 0
        try:
            owed = [o for o in self.engine.owed_prompts(PLATFORM) if o.event_id in owed_before]
        except Exception as exc:
            log.debug("owed replies not readable: %s", type(exc).__name__)
            return 0
        if owed:
            log.info("sending %d owed replies (their turns were stored, the replies never "
                     "arrived)", len(owed))
        for debt in owed:
            if not debt.replies or await self._deliver(debt.chat_id, debt.replies,
                                                       user_id=debt.user_id):
                self._paid.add(debt.event_id)
        self._paid.flush()
        return len(owed)

    # -- sending -----------------------------------------------------------------------------

    def _outgoing(self, room_id: str, reply: Reply, *, key: DeliveryKey | None = None,
                  index: int = 0) -> list[_Out]:
        """The events of one reply; with a delivery key (an outbox row) their transaction ids
        come from it (stable across retries and restarts), else they are random."""
        if reply.poll is not None:
            out = [_Out(poll_start_content(reply.poll, reply.text), event_type="m.poll.start")]
            if key is not None:
                out[0].tx_id = key.txn_id(index, 0)
            return out
        out = [_Out(c) for c in render_reply(reply, self.user_id)]
        if reply.document:
            name, data, mime = reply.document
            out.append(_Out(None, (name, data, mime or "application/octet-stream", "m.file")))
        if reply.image:
            name, data = reply.image
            mime = mimetypes.guess_type(name)[0] or "image/png"
            out.append(_Out(None, (name, data, mime, "m.image")))
        if key is not None:
            for part, item in enumerate(out):
                item.tx_id = key.txn_id(index, part)
        return out

    async def send_replies(
        self, room_id: str, replies: Iterable[Reply], *, scheduled: bool,
        key: DeliveryKey | None = None,
    ) -> str | None:
        """Send replies in order; return the event id of the last event.

        ``scheduled``: from the outbox (the first failure is raised at once, the dispatcher
        retries, with the same ``key``); otherwise a reply to a person, under the channel's
        retry policy on the shared budget.
        """
        last: str | None = None
        sent_replies = 0
        for i, reply in enumerate(replies):
            if reply.close_poll:
                try:
                    await self._end_poll(room_id, reply.close_poll, key=key, index=i,
                                         retry=not scheduled)
                except DeliveryError as exc:
                    exc.sent = sent_replies
                    raise
                sent_replies += 1
                continue
            for part, item in enumerate(self._outgoing(room_id, reply, key=key, index=i)):
                # a reply split into several events: once a part is out, finish it here
                # (the dispatcher counts whole replies in ``sent``)
                retry_here = not scheduled or part > 0
                try:
                    last = await self._send_out(room_id, item, retry=retry_here)
                except DeliveryError as exc:
                    exc.sent = sent_replies
                    raise
            sent_replies += 1
        return last

    async def _poll_events(self, room_id: str, start_id: str) -> list[dict[str, Any]]:
        """The events that refer to a poll (its responses), decrypted where they are
        encrypted, as their (plain) event dicts."""
        client = self.client
        assert client is not None
        found: list[dict[str, Any]] = []
        try:
            async for event in client.room_get_event_relations(
                    room_id, start_id, rel_type=RelationshipType.reference):
                if isinstance(event, nio.MegolmEvent):
                    event.room_id = room_id
                    try:
                        event = client.decrypt_event(event)
                    except Exception:  # its key never came: it cannot be counted
                        log.info("a poll response in %s could not be decrypted", room_id)
                        continue
                source = dict(getattr(event, "source", None) or {})
                source.setdefault("type", getattr(event, "type", None))
                source.setdefault("sender", getattr(event, "sender", None))
                source.setdefault("origin_server_ts",
                                  getattr(event, "server_timestamp", 0))
                found.append(source)
        except (TimeoutError, aiohttp.ClientError, AttributeError) as exc:
            raise TransientError(f"relations: {type(exc).__name__}") from None
        return found

    async def _end_poll(self, room_id: str, start_id: str, *, key: DeliveryKey | None,
                        index: int, retry: bool) -> None:
        """End a poll: count the responses (the latest of each sender), send ``m.poll.end``
        with the counts, and give the counts (never who) to the engine."""
        client = self.client
        if client is None:
            raise TransientError("Matrix client not started")
        start = await client.room_get_event(room_id, start_id)
        answers = 0
        labels: list[str] = []
        if isinstance(start, nio.RoomGetEventResponse):
            event = start.event
            if isinstance(event, nio.MegolmEvent):
                event.room_id = room_id
                try:
                    event = client.decrypt_event(event)
                except Exception:
                    pass
            content = (getattr(event, "source", None) or {}).get("content") or {}
            poll = content.get("m.poll") or {}
            labels = [str((a.get("m.text") or [{}])[0].get("body", "")) for a in
                      poll.get("answers", [])]
            answers = len(labels)
        if not answers:
            raise error_for(start, "poll") if isinstance(start, nio.ErrorResponse) \
                else Rejected(f"{start_id} is no poll of ours")
        counts, voters = tally_responses(await self._poll_events(room_id, start_id), answers,
                                         bot_user_id=self.user_id)
        closed = self.engine.text("poll_closed", results="{results}")
        item = _Out(poll_end_content(start_id, counts, labels, closed_text=closed),
                    event_type="m.poll.end")
        if key is not None:
            item.tx_id = key.txn_id(index, 0)
        await self._send_out(room_id, item, retry=retry)
        self.engine.handle(Incoming(PLATFORM, "", room_id, "poll", poll_ref=start_id,
                                    counts=tuple(counts), voters=voters, closed=True,
                                    event_id=f"pollend:{start_id}"))

    async def _send_out(self, room_id: str, item: _Out, *, retry: bool) -> str:
        """One event. ``retry``: under the channel's retry policy on the shared budget (the
        same transaction id every time: a resend cannot duplicate the event); otherwise one
        attempt (the dispatcher took the budget slot and owns the retries)."""
        if not retry:
            return await self._send_once(room_id, item)
        return await call_with_retries(lambda: self._send_once(room_id, item), what="a reply",
                                       budget=self.budget, idempotent=True)

    async def _send_once(self, room_id: str, item: _Out) -> str:
        client = self.client
        if client is None:
            raise TransientError("Matrix client not started")
        room = client.rooms.get(room_id)
        if room is None:
            raise Unreachable(f"the bot is not in room {room_id}")
        content = item.content
        try:
            if content is None:
                assert item.attachment is not None
                content = await self._upload(room, *item.attachment)
                item.content = content  # a retry reuses the upload
            resp = await client.room_send(room_id, item.event_type, content, tx_id=item.tx_id,
                                          ignore_unverified_devices=True)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise Uncertain(f"send: {type(exc).__name__}") from None
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(f"send: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            raise Uncertain(f"send: {type(exc).__name__}") from None
        except (nio.SendRetryError, nio.LocalProtocolError, nio.EncryptionError) as exc:
            raise TransientError(f"send: {type(exc).__name__}: {exc}"[:300]) from None
        if isinstance(resp, nio.RoomSendResponse):
            return resp.event_id
        raise error_for(resp, "send")

    async def _upload(self, room: nio.MatrixRoom, name: str, data: bytes, mime: str,
                      msgtype: str) -> dict[str, Any]:
        client = self.client
        assert client is not None
        encrypted = room.encrypted
        resp, keys = await client.upload(io.BytesIO(data), content_type=mime, filename=name,
                                         encrypt=encrypted, filesize=len(data))
        if not isinstance(resp, nio.UploadResponse):
            raise error_for(resp, "upload")
        content: dict[str, Any] = {
            "msgtype": msgtype,
            "body": name,
            "filename": name,
            "info": {"mimetype": mime, "size": len(data)},
        }
        if encrypted and keys:
            content["file"] = {**keys, "url": resp.content_uri}
        else:
            content["url"] = resp.content_uri
        return content
