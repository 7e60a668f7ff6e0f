"""A small fake of the Telegram Bot API, served over real HTTP on 127.0.0.1.

python-telegram-bot (or any other client) talks to it through ``base_url``::

    with FakeBotAPI() as fake:
        app = (Application.builder().token(fake.token)
               .base_url(fake.base_url).base_file_url(fake.base_file_url).build())
        fake.push_message(42, "/start team-7")          # a simulated user writes
        ...                                              # the bot under test answers
        fake.wait_for_messages(42, 1)
        assert "Welkom" in fake.last_message(42).text

The server runs in a background thread with its own event loop, so it works from
sync tests, async tests and for a bot running in a subprocess.  State lives in this
object; the same operations are exposed as JSON under ``/_control/...`` for a test
or benchmark in another process (see ``_control_routes``).  Standalone::

    python -m tests.fakes.fake_bot_api --port 8081 --rate-limit 30

Behaviour copied from Telegram because bots break on it: updates are dropped once
confirmed through ``offset``; a second ``getUpdates`` terminates the first with 409;
``parse_mode=HTML`` is parsed (bad HTML -> 400, ``text`` is what the user sees);
editing without ``reply_markup`` removes the inline keyboard; an edit that changes
nothing -> 400 "message is not modified"; a callback query can be answered once;
callback_data over 64 bytes -> 400 BUTTON_DATA_INVALID; text over 4096 chars -> 400.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import dataclasses
import json
import math
import re
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from tests.waiting import PATIENCE

T = TypeVar("T")
ChatId = int | str

# Parameters whose form-encoded values stay strings (all others are JSON-decoded).
_STRING_FIELDS = {
    "text", "caption", "callback_query_id", "url", "parse_mode", "action", "secret_token",
    "inline_message_id", "language_code", "description", "short_description", "name",
    "photo", "document", "file_id", "emoji", "query", "message_effect_id",
}
# Updates that Telegram does not send unless asked for in allowed_updates.
_NOT_DEFAULT_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
_HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}
_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")
_BOT_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


class _ApiError(Exception):
    """An error answer of the Bot API: {"ok": false, "error_code": ..., "description": ...}."""

    def __init__(self, status: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def body(self) -> dict:
        body = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(what: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {what}")


def _flood(seconds: float) -> _ApiError:
    retry_after = max(1, math.ceil(seconds))  # Telegram sends whole seconds, never 0
    return _ApiError(429, f"Too Many Requests: retry after {retry_after}",
                     {"retry_after": retry_after})


@dataclasses.dataclass
class Fault:
    """An injected failure.  ``method=None`` matches every method except getUpdates,
    ``chat_id=None`` every chat.  ``count`` is the number of calls still to hit
    (None = forever).  ``delay`` waits before answering: before handling the call, or
    after it was delivered when ``deliver_first`` (the "timed out but sent" case)."""

    status: int | None = None
    count: int | None = 1
    method: str | None = None
    chat_id: ChatId | None = None
    retry_after: int = 1
    delay: float = 0.0
    deliver_first: bool = False
    description: str | None = None

    def error(self) -> _ApiError | None:
        if self.status is None:
            return None
        if self.status == 429:
            return _ApiError(429, self.description or f"Too Many Requests: retry after "
                             f"{self.retry_after}", {"retry_after": self.retry_after})
        default = {403: "Forbidden: bot was blocked by the user", 500: "Internal Server Error",
                   502: "Bad Gateway", 400: "Bad Request"}.get(self.status, "Error")
        return _ApiError(self.status, self.description or default)


@dataclasses.dataclass
class Call:
    """One recorded Bot API request. ``status`` is None while it is being answered,
    499 if the client went away first."""

    method: str
    params: dict
    time: float
    status: int | None = None
    response: dict | None = None
    files: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def chat_id(self) -> ChatId | None:
        return _chat_key(self.params.get("chat_id"))

    def to_dict(self) -> dict:
        return {"method": self.method, "params": self.params, "time": self.time,
                "status": self.status, "response": self.response}


@dataclasses.dataclass
class SentMessage:
    """A message in a chat as the user currently sees it (after edits).
    ``text``/``caption`` are the visible text (HTML tags removed); ``reply_markup`` is
    what the bot sent last (inline or reply keyboard); ``raw`` the Telegram Message."""

    chat_id: ChatId
    message_id: int
    from_bot: bool
    kind: str  # text, photo, document, sticker, voice, location
    text: str | None = None
    caption: str | None = None
    reply_markup: dict | None = None
    raw: dict = dataclasses.field(default_factory=dict, repr=False)
    edits: int = 0
    deleted: bool = False

    def buttons(self) -> list[list[str]]:
        """Button texts per row, of an inline or a reply keyboard."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [[b if isinstance(b, str) else b.get("text", "") for b in row] for row in rows]

    def callback_data(self) -> list[str]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [b["callback_data"] for row in rows for b in row if "callback_data" in b]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Chat:
    info: dict
    next_message_id: int = 1
    messages: dict[int, SentMessage] = dataclasses.field(default_factory=dict)


def _chat_key(value: Any) -> ChatId | None:
    """Chat ids arrive as int (JSON) or str (form); '@channel' stays a string."""
    if value is None or isinstance(value, int):
        return value
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else text


def _coerce(key: str, value: str) -> Any:
    """A form value as the Bot API reads it: JSON for objects/numbers/bools."""
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_to_text(source: str) -> str:
    """The visible text of a parse_mode=HTML message; ValueError where Telegram says
    "can't parse entities"."""
    out: list[str] = []
    open_tags: list[str] = []
    pos = 0
    while (lt := source.find("<", pos)) >= 0:
        out.append(source[pos:lt])
        offset = len(source[:lt].encode())
        tag = _HTML_TAG.match(source, lt)
        if not tag:
            raise ValueError(f"Unexpected end of name token at byte offset {offset}")
        closing, name = tag.group(1), tag.group(2).lower()
        if name not in _HTML_TAGS:
            raise ValueError(f'Unsupported start tag "{name}" at byte offset {offset}')
        if not closing:
            open_tags.append(name)
        elif open_tags and open_tags[-1] == name:
            open_tags.pop()
        else:
            raise ValueError(f'Unmatched end tag at byte offset {offset}, expected '
                             f'"</{open_tags[-1] if open_tags else ""}>", found "</{name}>"')
        pos = tag.end()
    if open_tags:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    out.append(source[pos:])
    named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

    def unescape(m: re.Match) -> str:
        ref = m.group(1)
        if ref in named:
            return named[ref]
        return chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:]))

    return _HTML_ENTITY.sub(unescape, "".join(out))


class FakeBotAPI:
    """Fake Telegram Bot API server; see the module docstring."""

    def __init__(
        self,
        token: str = "123:ABC",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate_limit_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        per_group_per_minute: int | None = None,
        bot_username: str = "teamspiegel_test_bot",
        bot_first_name: str = "Teamspiegel",
    ):
        self.token, self.host, self.port = token, host, port
        self.rate_limit_per_second = rate_limit_per_second
        self.per_chat_per_second = per_chat_per_second
        self.per_group_per_minute = per_group_per_minute
        #: called as ``on_output(method, chat_id, message)`` in the server's thread after the bot
        #: sent or edited a message (a benchmark's simulated people react to it there)
        self.on_output: Callable[[str, ChatId, dict], None] | None = None
        bot_id = token.split(":", 1)[0]
        self.bot_user = {"id": int(bot_id) if bot_id.isdigit() else 123, "is_bot": True,
                         "first_name": bot_first_name, "username": bot_username}
        self._cond = threading.Condition()  # guards all state below (an RLock inside)
        self._next_update_id = 1000  # survives reset(): a polling client keeps its offset
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict, dict], Any]] = {
            "getMe": self._get_me, "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook, "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message, "sendPhoto": self._send_photo,
            "sendDocument": self._send_document, "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands, "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands, "getFile": self._get_file,
            "sendChatAction": lambda p, f: self._require_chat(p) is not None,
            "close": lambda p, f: True, "logOut": lambda p, f: True,
            "setMyDescription": lambda p, f: True, "setMyShortDescription": lambda p, f: True,
            "setChatMenuButton": lambda p, f: True,
            "sendPoll": self._send_poll, "stopPoll": self._stop_poll,
            "getChatMemberCount": self._get_chat_member_count,
        }
        self._canonical = {name.lower(): name for name in [*self._handlers, "getUpdates"]}
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For PTB's ``base_url``: PTB appends the token, then ``/method``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def start(self) -> FakeBotAPI:
        if self._thread:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, errors),
                                        name="FakeBotAPI", daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            self._thread = None
            raise RuntimeError(f"FakeBotAPI did not start: {errors}")
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if not thread or not loop:
            return
        loop.call_soon_threadsafe(self._stop_event.set)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready, errors))
        finally:
            self._loop = None
            loop.close()

    async def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        self._stop_event = asyncio.Event()
        self._poll_event = asyncio.Event()
        self._stopping = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        for method, path, handler in self._control_routes():
            app.router.add_route(method, "/_control/" + path, handler)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, backlog=2048).start()
            self.port = runner.addresses[0][1]
        except BaseException as exc:
            errors.append(exc)
            await runner.cleanup()
            return
        finally:
            ready.set()
        await self._stop_event.wait()
        self._stopping = True  # pending long polls return [] at once
        self._wake_pollers()
        await runner.cleanup()

    # ------------------------------------------------------------------ HTTP layer
    async def _handle_api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        method = self._canonical.get(name.lower())
        try:
            params, files = await self._read_params(request)
        except ValueError:
            params, files = {}, {}
        call = Call(method or name, params, time.time(), files=files)
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()  # wait_for() may be waiting for this call to start
        try:
            if request.match_info["token"] != self.token:
                raise _ApiError(401, "Unauthorized")
            if method is None:
                raise _ApiError(404, "Not Found")
            status, body = 200, {"ok": True, "result": await self._dispatch(method, params,
                                                                            files)}
        except _ApiError as exc:
            status, body = exc.status, exc.body()
        except asyncio.CancelledError:
            self._finish(call, 499, None)
            raise
        except Exception as exc:  # a bug in this fake: say so instead of a bare 500
            status, body = 500, _ApiError(500, f"Internal Server Error: {exc!r}").body()
        self._finish(call, status, body)
        return web.json_response(body, status=status)

    def _finish(self, call: Call, status: int, body: dict | None) -> None:
        with self._cond:
            call.status, call.response = status, body
            self._status_counts[status] += 1
            self._method_counts[call.method] += 1
            self._cond.notify_all()

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[dict, dict[str, bytes]]:
        params: dict[str, Any] = {k: _coerce(k, v) for k, v in request.query.items()}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
            params.update(body if isinstance(body, dict) else {})
        elif request.content_type in ("application/x-www-form-urlencoded",
                                      "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    params[key] = {"filename": value.filename, "size": len(files[key]),
                                   "content_type": value.content_type}
                else:
                    params[key] = _coerce(key, value)
        for key, value in params.items():  # media sent as "attach://<field>"
            if isinstance(value, str) and value.startswith("attach://"):
                field = value.removeprefix("attach://")
                if field in files:
                    params[key] = dict(params[field]) if field in params else field
        return params, files

    async def _dispatch(self, method: str, params: dict, files: dict[str, bytes]) -> Any:
        chat_id = _chat_key(params.get("chat_id"))
        with self._cond:
            fault = self._take_fault(method, chat_id)
        if fault and fault.delay and not fault.deliver_first:
            await asyncio.sleep(fault.delay)
        if fault and (error := fault.error()):
            raise error
        if method == "getUpdates":
            return await self._get_updates(params)
        with self._cond:
            if chat_id is not None and chat_id in self._blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user"
                                if isinstance(chat_id, int) and chat_id > 0
                                else "Forbidden: bot was kicked from the group chat")
            if chat_id is not None and method != "sendChatAction":
                self._check_rate_limit(chat_id)
            result = self._handlers[method](params, files)
        if self.on_output is not None and isinstance(result, dict) and method.startswith(
                ("send", "edit")):
            self.on_output(method, chat_id, result)
        if fault and fault.delay and fault.deliver_first:
            await asyncio.sleep(fault.delay)
        return result

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        with self._cond:
            found = [data for path, data in self._files.values()
                     if path == request.match_info["path"]]
        if not found:
            return web.json_response(_ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=found[0])

    # ------------------------------------------------------------------ faults
    def add_fault(self, status: int | None = None, *, count: int | None = 1,
                  method: str | None = None, chat_id: ChatId | None = None,
                  retry_after: int = 1, delay: float = 0.0, deliver_first: bool = False,
                  description: str | None = None) -> Fault:
        if method is not None:
            method = self._canonical.get(method.lower(), method)
        fault = Fault(status, count, method, _chat_key(chat_id), retry_after, delay,
                      deliver_first, description)
        with self._cond:
            self._faults.append(fault)
        return fault

    def flood_next(self, n: int = 1, retry_after: int = 5, **match: Any) -> Fault:
        """The next n matching calls answer 429 with parameters.retry_after."""
        return self.add_fault(429, count=n, retry_after=retry_after, **match)

    def error_next(self, n: int = 1, status: int = 500, **match: Any) -> Fault:
        return self.add_fault(status, count=n, **match)

    def delay_next(self, seconds: float, n: int | None = 1, **match: Any) -> Fault:
        return self.add_fault(None, count=n, delay=seconds, **match)

    def block_chat(self, *chat_ids: ChatId) -> None:
        """These chats answer 403 "Forbidden: bot was blocked by the user"."""
        with self._cond:
            self._blocked.update(_chat_key(c) for c in chat_ids)

    def unblock_chat(self, *chat_ids: ChatId) -> None:
        with self._cond:
            self._blocked.difference_update(_chat_key(c) for c in chat_ids)

    def set_rate_limit(self, per_second: int | None = None,
                       per_chat_per_second: int | None = None,
                       per_group_per_minute: int | None = None) -> None:
        """Sliding one-second windows over calls that carry a chat_id (not
        sendChatAction), and a sliding one-minute window per group (negative chat id), as
        Telegram's 20 messages per minute in a group. Calls over a limit get 429 and are not
        delivered."""
        with self._cond:
            self.rate_limit_per_second, self.per_chat_per_second = per_second, per_chat_per_second
            self.per_group_per_minute = per_group_per_minute

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
            self._blocked.clear()

    def _take_fault(self, method: str, chat_id: ChatId | None) -> Fault | None:
        for fault in self._faults:
            if fault.method is None and method == "getUpdates":
                continue  # generic faults spare the polling loop; name getUpdates to hit it
            if fault.method not in (None, method):
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _check_rate_limit(self, chat_id: ChatId) -> None:
        now = time.monotonic()
        windows = []
        if self.rate_limit_per_second:
            windows.append((self._global_window, self.rate_limit_per_second, 1.0))
        if self.per_chat_per_second:
            windows.append((self._chat_windows[chat_id], self.per_chat_per_second, 1.0))
        if self.per_group_per_minute and isinstance(chat_id, int) and chat_id < 0:
            windows.append((self._group_windows[chat_id], self.per_group_per_minute, 60.0))
        for window, limit, span in windows:
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= limit:
                raise _flood(window[0] + span - now)
        for window, _, _ in windows:
            window.append(now)

    # ------------------------------------------------------------------ Bot API methods
    def _get_me(self, p: dict, files: dict) -> dict:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    async def _get_updates(self, p: dict) -> list[dict]:
        assert self._loop is not None
        with self._cond:
            if self._webhook.get("url"):
                raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                "active; use deleteWebhook to delete the webhook first")
            if p.get("allowed_updates") is not None:
                self._allowed_updates = set(p["allowed_updates"]) or None
            self._poll_generation += 1
            generation = self._poll_generation
        self._wake_pollers()  # an older long poll answers 409, as on Telegram
        deadline = self._loop.time() + float(p.get("timeout") or 0)
        offset, limit = int(p.get("offset") or 0), int(p.get("limit") or 100)
        while True:
            event = self._poll_event
            if generation != self._poll_generation:
                raise _ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                "sure that only one bot instance is running")
            updates = self._take_updates(offset, limit)
            remaining = deadline - self._loop.time()
            if updates or self._stopping or remaining <= 0:
                return updates
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    def _take_updates(self, offset: int, limit: int) -> list[dict]:
        with self._cond:
            if offset > 0:  # confirms (drops) everything before offset
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            elif offset < 0:
                self._pending = self._pending[offset:]
            allowed = self._allowed_updates
            return [u for u in self._pending if self._is_allowed(u, allowed)][:limit]

    @staticmethod
    def _is_allowed(update: dict, allowed: set[str] | None) -> bool:
        kind = next(k for k in update if k != "update_id")
        return kind not in _NOT_DEFAULT_UPDATES if allowed is None else kind in allowed

    def _wake_pollers(self) -> None:
        """Runs on the server loop: wakes every waiting getUpdates."""
        self._poll_event.set()
        self._poll_event = asyncio.Event()

    def _set_webhook(self, p: dict, files: dict) -> bool:
        self._webhook = {k: v for k, v in p.items() if k != "certificate"}
        return True

    def _delete_webhook(self, p: dict, files: dict) -> bool:
        self._webhook = {}
        if p.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _get_webhook_info(self, p: dict, files: dict) -> dict:
        return {"url": self._webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._pending)}

    def _send_message(self, p: dict, files: dict) -> dict:
        text = self._visible(p, "text", 4096, "message is too long")
        if not text or not text.strip():
            raise _bad_request("message text is empty")
        extra = {"entities": p["entities"]} if p.get("entities") else {}
        return self._bot_sends(p, "text", text=text, extra=extra)

    def _send_photo(self, p: dict, files: dict) -> dict:
        file_id, unique_id = self._media_file(p, "photo", files)
        sizes = [{"file_id": file_id, "file_unique_id": unique_id, "width": w, "height": h}
                 for w, h in ((90, 67), (800, 600))]
        return self._bot_sends(p, "photo", extra={"photo": sizes})

    def _send_document(self, p: dict, files: dict) -> dict:
        file_id, unique_id = self._media_file(p, "document", files)
        doc = {"file_id": file_id, "file_unique_id": unique_id}
        if isinstance(p.get("document"), dict):
            doc |= {"file_name": p["document"]["filename"], "file_size": p["document"]["size"],
                    "mime_type": p["document"]["content_type"]}
        return self._bot_sends(p, "document", extra={"document": doc})

    def _send_poll(self, p: dict, files: dict) -> dict:
        """A native poll (regular, one answer). Anonymous unless ``is_anonymous`` is false."""
        question = str(p.get("question") or "")
        if not 1 <= _utf16_len(question) <= 300:
            raise _bad_request("poll question length must be between 1 and 300")
        options = p.get("options") or []
        if isinstance(options, str):
            options = json.loads(options)
        texts = [o["text"] if isinstance(o, dict) else str(o) for o in options]
        if not 2 <= len(texts) <= 12:
            raise _bad_request("poll must have 2-12 options")
        if any(not 1 <= _utf16_len(t) <= 100 for t in texts):
            raise _bad_request("poll options length must not exceed 100")
        self._poll_counter += 1
        poll = {"id": f"{5_000_000_000 + self._poll_counter}", "question": question,
                "options": [{"persistent_id": f"opt-{i}", "text": t, "voter_count": 0}
                            for i, t in enumerate(texts, 1)],
                "total_voter_count": 0, "is_closed": False,
                "is_anonymous": p.get("is_anonymous", True) not in (False, "false"),
                "type": "regular", "allows_multiple_answers": False,
                # Bot API 9.6 / 10.0 fields that current clients require
                "allows_revoting": True, "members_only": False}
        raw = self._bot_sends(p, "poll", extra={"poll": poll})
        self._polls[poll["id"]] = (self._require_chat(p), int(raw["message_id"]))
        return raw

    def _poll_message(self, chat_id: ChatId, message_id: int) -> SentMessage:
        chat = self._chats.get(chat_id)
        msg = chat.messages.get(message_id) if chat else None
        if msg is None or msg.kind != "poll":
            raise _bad_request("message with poll to stop not found")
        return msg

    def _stop_poll(self, p: dict, files: dict) -> dict:
        """Closes a poll the bot sent; returns the final poll, and (like Telegram) the bot
        gets a poll update with it."""
        msg = self._poll_message(self._require_chat(p), int(p.get("message_id") or 0))
        poll = msg.raw["poll"]
        if poll["is_closed"]:
            raise _bad_request("poll has already been closed")
        poll["is_closed"] = True
        self.push_update({"poll": poll})
        return copy.deepcopy(poll)

    def _get_chat_member_count(self, p: dict, files: dict) -> int:
        chat_id = self._require_chat(p)
        if chat_id in self._member_counts:
            return self._member_counts[chat_id]
        chat = self._chats.get(chat_id)
        senders = {m.raw["from"]["id"] for m in (chat.messages.values() if chat else [])
                   if not m.from_bot}
        return len(senders) + 1  # the bot is a member too

    def _media_file(self, p: dict, field: str, files: dict) -> tuple[str, str]:
        value = p.get(field)
        if isinstance(value, dict):  # uploaded in the multipart body
            return self._register_file(files.get(field, b""), value.get("filename") or field)
        if not value:
            raise _bad_request(f"there is no {field} in the request")
        return str(value), f"u{abs(hash(value)) % 10**8}"

    def _bot_sends(self, p: dict, kind: str, text: str | None = None,
                   extra: dict | None = None) -> dict:
        caption = self._visible(p, "caption", 1024, "message caption is too long")
        extra = dict(extra or {})
        if p.get("message_thread_id") is not None:  # a forum topic of a supergroup
            extra |= {"message_thread_id": int(p["message_thread_id"]), "is_topic_message": True}
        msg = self._new_message(self._require_chat(p), self.bot_user, kind, text=text,
                                caption=caption, reply_markup=self._markup(p),
                                extra=extra)
        self._delivered[msg.chat_id] += 1
        return msg.raw

    def _edit_target(self, p: dict) -> SentMessage | None:
        if p.get("inline_message_id"):
            return None
        chat = self._chats.get(self._require_chat(p))
        msg = chat.messages.get(int(p.get("message_id") or 0)) if chat else None
        if msg is None or msg.deleted:
            raise _bad_request("message to edit not found")
        if not msg.from_bot:
            raise _bad_request("message can't be edited")
        return msg

    def _edit_message_text(self, p: dict, files: dict) -> dict | bool:
        msg = self._edit_target(p)
        text = self._visible(p, "text", 4096, "MESSAGE_TOO_LONG")
        markup = self._markup(p)  # omitted -> the inline keyboard disappears
        if msg is None:
            return True
        if msg.kind != "text":
            raise _bad_request("there is no text in the message to edit")
        if not text:
            raise _bad_request("message text is empty")
        if text == msg.text and markup == msg.reply_markup:
            raise _bad_request("message is not modified: specified new message content and "
                               "reply markup are exactly the same as a current content and "
                               "reply markup of the message")
        msg.text = msg.raw["text"] = text
        return self._edited(msg, markup)

    def _edit_message_reply_markup(self, p: dict, files: dict) -> dict | bool:
        msg = self._edit_target(p)
        markup = self._markup(p)
        if msg is None:
            return True
        if markup == msg.reply_markup:
            raise _bad_request("message is not modified: specified new message content and "
                               "reply markup are exactly the same as a current content and "
                               "reply markup of the message")
        return self._edited(msg, markup)

    def _edited(self, msg: SentMessage, markup: dict | None) -> dict:
        msg.reply_markup = markup
        msg.raw.pop("reply_markup", None)
        if markup and "inline_keyboard" in markup:
            msg.raw["reply_markup"] = markup
        msg.raw["edit_date"] = int(time.time())
        msg.edits += 1
        return msg.raw

    def _delete_message(self, p: dict, files: dict) -> bool:
        chat = self._chats.get(self._require_chat(p))
        msg = chat.messages.get(int(p.get("message_id") or 0)) if chat else None
        if msg is None or msg.deleted:
            raise _bad_request("message to delete not found")
        msg.deleted = True
        return True

    def _answer_callback_query(self, p: dict, files: dict) -> bool:
        query_id = str(p.get("callback_query_id", ""))
        if query_id not in self._open_callbacks:
            raise _bad_request("query is too old and response timeout expired or query ID is "
                               "invalid")
        self._open_callbacks.discard(query_id)
        self._callback_answers.append(dict(p))
        return True

    @staticmethod
    def _commands_key(p: dict) -> str:
        return json.dumps([p.get("scope") or {"type": "default"}, p.get("language_code", "")],
                          sort_keys=True)

    def _set_my_commands(self, p: dict, files: dict) -> bool:
        commands = p.get("commands") or []
        if isinstance(commands, str):
            commands = json.loads(commands)
        for command in commands:
            if not _BOT_COMMAND_NAME.match(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
        self._commands[self._commands_key(p)] = list(commands)
        return True

    def _get_my_commands(self, p: dict, files: dict) -> list[dict]:
        return self._commands.get(self._commands_key(p), [])

    def _delete_my_commands(self, p: dict, files: dict) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    def _get_file(self, p: dict, files: dict) -> dict:
        file_id = str(p.get("file_id", ""))
        if file_id not in self._files:
            raise _bad_request("invalid file_id")
        path, data = self._files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(data),
                "file_path": path}

    # ------------------------------------------------------------------ shared helpers
    def _require_chat(self, p: dict) -> ChatId:
        chat_id = _chat_key(p.get("chat_id"))
        if chat_id in (None, ""):
            raise _bad_request("chat_id is empty")
        return chat_id

    def _visible(self, p: dict, field: str, limit: int, too_long: str) -> str | None:
        value = p.get(field)
        if value is None:
            return None
        value = str(value)
        if str(p.get("parse_mode", "")).upper() == "HTML":
            try:
                value = html_to_text(value)
            except ValueError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        if len(value) > limit:
            raise _bad_request(too_long)
        return value

    @staticmethod
    def _markup(p: dict) -> dict | None:
        markup = p.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if "callback_data" in button and not 1 <= len(
                        str(button["callback_data"]).encode()) <= 64:
                    raise _bad_request("BUTTON_DATA_INVALID")
                if set(button) <= {"text"}:
                    raise _bad_request("text buttons are unallowed in the inline keyboard")
        return markup or None

    def _register_file(self, data: bytes, filename: str) -> tuple[str, str]:
        self._file_counter += 1
        file_id = f"FILE{self._file_counter:06d}"
        self._files[file_id] = (f"files/{self._file_counter}/{filename}", data)
        return file_id, f"U{self._file_counter:06d}"

    def _user(self, user_id: int, first_name: str | None = None,
              username: str | None = None) -> dict:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                "first_name": f"User{user_id}",
                                                "language_code": "nl"})
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        return user

    def _chat(self, chat_id: ChatId, chat_type: str | None = None, title: str | None = None,
              user: dict | None = None) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_type is None:
                chat_type = ("private" if isinstance(chat_id, int) and chat_id > 0 else
                             "channel" if isinstance(chat_id, str) else "group")
            info: dict[str, Any] = {"id": chat_id if isinstance(chat_id, int) else -1001,
                                    "type": chat_type}
            if chat_type == "private":
                user = user or self._user(int(chat_id))
                info |= {k: user[k] for k in ("first_name", "username") if k in user}
            else:
                info["title"] = title or f"Chat {chat_id}"
            chat = self._chats[chat_id] = _Chat(info)
        return chat

    def _new_message(self, chat_id: ChatId, sender: dict, kind: str, *, text: str | None = None,
                     caption: str | None = None, reply_markup: dict | None = None,
                     extra: dict | None = None, chat: _Chat | None = None) -> SentMessage:
        chat = chat or self._chat(chat_id)
        message_id, chat.next_message_id = chat.next_message_id, chat.next_message_id + 1
        raw = {"message_id": message_id, "from": sender, "chat": chat.info,
               "date": int(time.time()), **(extra or {})}
        if text is not None:
            raw["text"] = text
        if caption is not None:
            raw["caption"] = caption
        if reply_markup and "inline_keyboard" in reply_markup:
            raw["reply_markup"] = reply_markup  # Telegram echoes inline keyboards only
        msg = SentMessage(chat_id, message_id, sender.get("is_bot", False), kind, text, caption,
                          reply_markup, raw)
        chat.messages[message_id] = msg
        return msg

    # ------------------------------------------------------------------ simulated users
    def push_update(self, update: dict) -> int:
        """Queue a raw update (without update_id); returns its update_id."""
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._pending.append({"update_id": update_id, **copy.deepcopy(update)})
            if "callback_query" in update:
                self._open_callbacks.add(str(update["callback_query"]["id"]))
            self._cond.notify_all()
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake_pollers)
            except RuntimeError:  # loop closing
                pass
        return update_id

    def _push_user_message(self, user_id: int, chat_id: ChatId | None, kind: str, *,
                           chat_type: str | None = None, chat_title: str | None = None,
                           first_name: str | None = None, username: str | None = None,
                           text: str | None = None, caption: str | None = None,
                           extra: dict | None = None) -> int:
        with self._cond:
            user = self._user(user_id, first_name, username)
            chat_key = user_id if chat_id is None else _chat_key(chat_id)
            chat = self._chat(chat_key, chat_type, chat_title, user)
            msg = self._new_message(chat_key, user, kind, text=text, caption=caption,
                                    extra=extra, chat=chat)
            return self.push_update({"message": msg.raw})

    def push_message(self, user_id: int, text: str, chat_id: ChatId | None = None,
                     chat_type: str | None = None, first_name: str | None = None, *,
                     username: str | None = None, chat_title: str | None = None,
                     entities: list[dict] | None = None,
                     reply_to_message_id: int | None = None,
                     thread_id: int | None = None) -> int:
        """A user writes ``text`` (chat_id defaults to the private chat, chat_type is
        inferred from the id). A leading /command gets its bot_command entity."""
        if entities is None and (command := _COMMAND.match(text)):
            entities = [{"type": "bot_command", "offset": 0,
                         "length": _utf16_len(command.group(0))}]
        extra: dict[str, Any] = {"entities": entities} if entities else {}
        if reply_to_message_id is not None:
            with self._cond:
                original = self._chats[user_id if chat_id is None else _chat_key(chat_id)]
                extra["reply_to_message"] = copy.deepcopy(
                    original.messages[reply_to_message_id].raw)
        if thread_id is not None:  # written in a forum topic of a supergroup
            extra |= {"message_thread_id": thread_id, "is_topic_message": True}
            with self._cond:
                chat = self._chat(_chat_key(chat_id), "supergroup", chat_title)
                chat.info["is_forum"] = True
        return self._push_user_message(user_id, chat_id, "text", text=text, chat_type=chat_type,
                                       chat_title=chat_title, first_name=first_name,
                                       username=username, extra=extra)

    def push_command(self, user_id: int, command: str, args: str | list[str] = "",
                     **kwargs: Any) -> int:
        """``push_command(42, "start", "team-7")`` -> "/start team-7" (a deep link)."""
        words = [args] if isinstance(args, str) else list(args)
        return self.push_message(user_id, " ".join([f"/{command.lstrip('/')}", *words]).strip(),
                                 **kwargs)

    def push_group_message(self, user_id: int, chat_id: int, text: str,
                           chat_title: str = "Wijkteam", chat_type: str = "group",
                           **kwargs: Any) -> int:
        return self.push_message(user_id, text, chat_id, chat_type, chat_title=chat_title,
                                 **kwargs)

    # -- native polls and group sizes --------------------------------------------------------
    def set_member_count(self, chat_id: ChatId, count: int) -> None:
        """What getChatMemberCount answers for a chat (the bot included)."""
        with self._cond:
            self._member_counts[_chat_key(chat_id)] = count

    def polls(self, chat_id: ChatId) -> list[SentMessage]:
        """The polls the bot sent to a chat, oldest first."""
        return [m for m in self.sent_to(chat_id) if m.kind == "poll"]

    def vote_poll(self, user_id: int, option: int | None, *, chat_id: ChatId,
                  message_id: int | None = None) -> int:
        """A member votes in a poll (default: the chat's newest); ``None`` retracts the vote.
        An anonymous poll tells the bot only the new counts (a ``poll`` update)."""
        with self._cond:
            polls = [m for m in self._chats[_chat_key(chat_id)].messages.values()
                     if m.kind == "poll" and (message_id is None or m.message_id == message_id)]
            if not polls:
                raise LookupError(f"no poll in chat {chat_id}")
            poll = polls[-1].raw["poll"]
            if poll["is_closed"]:
                raise ValueError("the poll is closed")
            votes = self._poll_votes.setdefault(poll["id"], {})
            before = votes.pop(user_id, None)
            if before is not None:
                poll["options"][before]["voter_count"] -= 1
                poll["total_voter_count"] -= 1
            if option is not None:
                votes[user_id] = option
                poll["options"][option]["voter_count"] += 1
                poll["total_voter_count"] += 1
            update = {"poll": copy.deepcopy(poll)}
        return self.push_update(update)

    def push_callback(self, user_id: int, data: str, message_id: int | None = None,
                      chat_id: ChatId | None = None, first_name: str | None = None) -> int:
        """A user presses an inline button of a bot message (default: the bot's last
        message in the chat); the update carries that message as it is now."""
        with self._cond:
            chat_key = user_id if chat_id is None else _chat_key(chat_id)
            chat = self._chats.get(chat_key)
            candidates = [m for m in (chat.messages.values() if chat else [])
                          if m.from_bot and not m.deleted
                          and (message_id is None or m.message_id == message_id)]
            if not candidates:
                raise LookupError(f"no bot message {message_id or ''} in chat {chat_key}")
            self._callback_counter += 1
            query = {"id": str(4_000_000_000_000 + self._callback_counter),
                     "from": self._user(user_id, first_name), "chat_instance": f"ci{chat_key}",
                     "message": candidates[-1].raw, "data": data}
            return self.push_update({"callback_query": query})

    def push_photo(self, user_id: int, caption: str | None = None,
                   chat_id: ChatId | None = None, content: bytes = b"\xff\xd8fake-jpeg",
                   **kwargs: Any) -> int:
        with self._cond:
            file_id, unique_id = self._register_file(content, "photo.jpg")
        sizes = [{"file_id": file_id, "file_unique_id": unique_id, "width": w, "height": h,
                  "file_size": len(content)} for w, h in ((90, 67), (1280, 960))]
        return self._push_user_message(user_id, chat_id, "photo", caption=caption,
                                       extra={"photo": sizes}, **kwargs)

    def push_document(self, user_id: int, file_name: str = "verslag.pdf",
                      content: bytes | str = b"%PDF-1.4 fake", mime_type: str = "application/pdf",
                      caption: str | None = None, chat_id: ChatId | None = None,
                      **kwargs: Any) -> int:
        data = content.encode() if isinstance(content, str) else content
        with self._cond:
            file_id, unique_id = self._register_file(data, file_name)
        doc = {"file_id": file_id, "file_unique_id": unique_id, "file_name": file_name,
               "mime_type": mime_type, "file_size": len(data)}
        return self._push_user_message(user_id, chat_id, "document", caption=caption,
                                       extra={"document": doc}, **kwargs)

    def push_voice(self, user_id: int, duration: int = 3, chat_id: ChatId | None = None,
                   content: bytes = b"OggS fake", **kwargs: Any) -> int:
        with self._cond:
            file_id, unique_id = self._register_file(content, "voice.ogg")
        voice = {"file_id": file_id, "file_unique_id": unique_id, "duration": duration,
                 "mime_type": "audio/ogg", "file_size": len(content)}
        return self._push_user_message(user_id, chat_id, "voice", extra={"voice": voice},
                                       **kwargs)

    def push_sticker(self, user_id: int, emoji: str = "👍", chat_id: ChatId | None = None,
                     **kwargs: Any) -> int:
        with self._cond:
            file_id, unique_id = self._register_file(b"RIFF fake-webp", "sticker.webp")
        sticker = {"file_id": file_id, "file_unique_id": unique_id, "type": "regular",
                   "width": 512, "height": 512, "is_animated": False, "is_video": False,
                   "emoji": emoji}
        return self._push_user_message(user_id, chat_id, "sticker", extra={"sticker": sticker},
                                       **kwargs)

    def push_location(self, user_id: int, latitude: float = 52.0907,
                      longitude: float = 5.1214, chat_id: ChatId | None = None,
                      **kwargs: Any) -> int:
        location = {"latitude": latitude, "longitude": longitude}
        return self._push_user_message(user_id, chat_id, "location",
                                       extra={"location": location}, **kwargs)

    def push_edited_message(self, user_id: int, message_id: int, new_text: str,
                            chat_id: ChatId | None = None) -> int:
        with self._cond:
            msg = self._chats[user_id if chat_id is None else _chat_key(chat_id)].messages[
                message_id]
            msg.text = msg.raw["text"] = new_text
            msg.raw["edit_date"] = int(time.time())
            msg.edits += 1
            return self.push_update({"edited_message": msg.raw})

    def push_my_chat_member(self, user_id: int, status: str = "kicked",
                            chat_id: ChatId | None = None) -> int:
        """The bot's membership changes; "kicked" in a private chat = the user blocked
        the bot, so later sends to that chat answer 403 (like Telegram)."""
        with self._cond:
            chat_key = user_id if chat_id is None else _chat_key(chat_id)
            chat = self._chat(chat_key, user=self._user(user_id))
            old = "member" if status == "kicked" else "kicked"
            members = [{"user": self.bot_user, "status": s, **({"until_date": 0}
                                                               if s == "kicked" else {})}
                       for s in (old, status)]
            (self._blocked.add if status == "kicked" else self._blocked.discard)(chat_key)
            return self.push_update({"my_chat_member": {
                "chat": chat.info, "from": self._user(user_id), "date": int(time.time()),
                "old_chat_member": members[0], "new_chat_member": members[1]}})

    # ------------------------------------------------------------------ queries
    def calls(self, method: str | None = None, chat_id: ChatId | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if (method is None or c.method == method)
                    and (chat_id is None or c.chat_id == _chat_key(chat_id))]

    def sent_to(self, chat_id: ChatId, include_deleted: bool = False) -> list[SentMessage]:
        """The bot's messages in this chat, in order, as the user sees them now."""
        with self._cond:
            chat = self._chats.get(_chat_key(chat_id))
            return [copy.copy(m) for m in (chat.messages.values() if chat else [])
                    if m.from_bot and (include_deleted or not m.deleted)]

    def last_message(self, chat_id: ChatId) -> SentMessage | None:
        messages = self.sent_to(chat_id)
        return messages[-1] if messages else None

    def transcript(self, chat_id: ChatId) -> list[str]:
        """"user: ..." / "bot: ... [Ja | Nee]" lines: handy in assertion messages."""
        with self._cond:
            chat = self._chats.get(_chat_key(chat_id))
            lines = []
            for m in chat.messages.values() if chat else []:
                buttons = " | ".join(b for row in m.buttons() for b in row)
                lines.append(f"{'bot' if m.from_bot else 'user'}: "
                             f"{m.text or m.caption or '<' + m.kind + '>'}"
                             f"{f' [{buttons}]' if buttons else ''}"
                             f"{' (deleted)' if m.deleted else ''}")
            return lines

    def callback_answers(self) -> list[dict]:
        with self._cond:
            return list(self._callback_answers)

    def pending_updates(self) -> list[dict]:
        """Updates not yet confirmed by the bot through getUpdates' offset."""
        with self._cond:
            return list(self._pending)

    def delivered_counts(self) -> dict[ChatId, int]:
        """chat_id -> messages the bot successfully sent there (send* methods)."""
        with self._cond:
            return dict(self._delivered)

    def duplicates(self, expected: int = 1) -> dict[ChatId, int]:
        """Chats that got more than ``expected`` messages (a broadcast sent twice)."""
        return {c: n for c, n in self.delivered_counts().items() if n > expected}

    def stats(self) -> dict:
        with self._cond:
            by_status = dict(self._status_counts)
            return {
                "requests": len(self._calls),
                "by_method": dict(self._method_counts),
                "by_status": by_status,
                "delivered": sum(self._delivered.values()),
                "chats_delivered": len(self._delivered),
                "duplicate_chats": sum(1 for n in self._delivered.values() if n > 1),
                "too_many_requests": by_status.get(429, 0),
                "server_errors": sum(n for s, n in by_status.items() if s >= 500),
                "forbidden": by_status.get(403, 0),
                "pending_updates": len(self._pending),
            }

    def commands(self, scope: dict | None = None, language_code: str = "") -> list[dict]:
        with self._cond:
            return self._commands.get(self._commands_key(
                {"scope": scope, "language_code": language_code}), [])

    @property
    def webhook(self) -> dict:
        return dict(self._webhook)

    def reset(self) -> None:
        """Forget calls, chats, pending updates, faults and blocked chats. update_id keeps
        counting up; rate-limit settings stay."""
        with self._cond:
            self._calls: list[Call] = []
            self._pending: list[dict] = []
            self._chats: dict[ChatId, _Chat] = {}
            self._users: dict[int, dict] = {}
            self._faults: list[Fault] = []
            self._blocked: set[ChatId] = set()
            self._open_callbacks: set[str] = set()
            self._callback_answers: list[dict] = []
            self._commands: dict[str, list[dict]] = {}
            self._files: dict[str, tuple[str, bytes]] = {}
            self._webhook: dict = {}
            self._allowed_updates: set[str] | None = None
            self._delivered: collections.Counter[ChatId] = collections.Counter()
            self._status_counts: collections.Counter[int] = collections.Counter()
            self._method_counts: collections.Counter[str] = collections.Counter()
            self._global_window: collections.deque[float] = collections.deque()
            self._chat_windows: collections.defaultdict[ChatId, collections.deque[float]] = (
                collections.defaultdict(collections.deque))
            self._group_windows: collections.defaultdict[ChatId, collections.deque[float]] = (
                collections.defaultdict(collections.deque))
            self._poll_generation = getattr(self, "_poll_generation", 0)
            self._file_counter = self._callback_counter = 0
            self._poll_counter = 0
            self._polls: dict[str, tuple[ChatId, int]] = {}
            self._poll_votes: dict[str, dict[int, int]] = {}
            self._member_counts: dict[ChatId, int] = {}

    # ------------------------------------------------------------------ waiting
    def wait_for(self, predicate: Callable[[], T], timeout: float = PATIENCE) -> T:
        """Block until ``predicate()`` is truthy (re-checked on every change); returns
        it. Do not use inside a running event loop: use ``wait_for_async`` there."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s; last calls: "
                                       f"{[(c.method, c.status) for c in self._calls[-10:]]}")
                self._cond.wait(remaining)
            return result

    async def wait_for_async(self, predicate: Callable[[], T], timeout: float = PATIENCE) -> T:
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s; last calls: "
                                   f"{[(c.method, c.status) for c in self.calls()[-10:]]}")
            await asyncio.sleep(0.005)
        return result

    def wait_for_messages(self, chat_id: ChatId, n: int = 1,
                          timeout: float = PATIENCE) -> list[SentMessage]:
        """Wait until the bot has sent at least n messages to the chat; returns them."""
        return self.wait_for(lambda: (m := self.sent_to(chat_id)) and len(m) >= n and m,
                             timeout)

    async def wait_for_messages_async(self, chat_id: ChatId, n: int = 1,
                                      timeout: float = PATIENCE) -> list[SentMessage]:
        return await self.wait_for_async(
            lambda: (m := self.sent_to(chat_id)) and len(m) >= n and m, timeout)

    # ------------------------------------------------------------------ control API
    def _control_routes(self) -> list[tuple[str, str, Callable]]:
        """JSON endpoints for a test or benchmark in another process:

        POST   /_control/updates   {"kind": "message", "user_id": 1, "text": "/start x"}
                                   or {"update": {...raw...}}, or a list of those;
                                   kind = message|command|callback|photo|document|voice|
                                   sticker|location|edited_message|group_message|
                                   my_chat_member (keyword args of push_<kind>)
                                   -> {"ok": true, "result": [update_id, ...]}
        GET    /_control/calls     ?method=sendMessage&chat_id=42&since=0 -> [call, ...]
        GET    /_control/messages  ?chat_id=42 -> sent_to(42) as dicts
        GET    /_control/stats     -> stats() plus "delivered_counts"
        POST   /_control/faults    add_fault kwargs ({"status": 429, "count": 3,
                                   "retry_after": 2, "method": "sendMessage"}), and/or
                                   {"blocked_chats": [..]}, {"unblocked_chats": [..]},
                                   {"rate_limit_per_second": 30, "per_chat_per_second": 1,
                                   "per_group_per_minute": 20}
        DELETE /_control/faults    clear_faults()
        POST   /_control/reset     reset()
        """

        def ok(result: Any) -> web.Response:
            return web.json_response({"ok": True, "result": result})

        async def updates(request: web.Request) -> web.Response:
            body = await request.json()
            ids = []
            for spec in body if isinstance(body, list) else [body]:
                spec = dict(spec)
                if "update" in spec:
                    ids.append(self.push_update(spec["update"]))
                    continue
                kind = spec.pop("kind", "message")
                if isinstance(spec.get("content"), str):
                    spec["content"] = spec["content"].encode()
                push = getattr(self, f"push_{kind}", None)
                if push is None:
                    raise TypeError(f"unknown kind {kind!r}")
                ids.append(push(**spec))
            return ok(ids)

        async def calls(request: web.Request) -> web.Response:
            q = request.query
            found = self.calls(q.get("method"), q.get("chat_id"))
            return ok([c.to_dict() for c in found[int(q.get("since", 0)):]])

        async def messages(request: web.Request) -> web.Response:
            return ok([m.to_dict() for m in self.sent_to(request.query["chat_id"])])

        async def stats(request: web.Request) -> web.Response:
            return ok({**self.stats(), "delivered_counts": self.delivered_counts()})

        async def faults(request: web.Request) -> web.Response:
            if request.method == "DELETE":
                self.clear_faults()
                return ok(True)
            body = dict(await request.json())
            self.block_chat(*body.pop("blocked_chats", []))
            self.unblock_chat(*body.pop("unblocked_chats", []))
            if {"rate_limit_per_second", "per_chat_per_second",
                    "per_group_per_minute"} & body.keys():
                self.set_rate_limit(
                    body.pop("rate_limit_per_second", self.rate_limit_per_second),
                    body.pop("per_chat_per_second", self.per_chat_per_second),
                    body.pop("per_group_per_minute", self.per_group_per_minute))
            if body:
                self.add_fault(**body)
            return ok(True)

        async def reset(request: web.Request) -> web.Response:
            self.reset()
            return ok(True)

        def guarded(handler: Callable) -> Callable:
            async def run(request: web.Request) -> web.Response:
                try:
                    return await handler(request)
                except (TypeError, ValueError, LookupError) as exc:
                    return web.json_response({"ok": False, "description": repr(exc)}, status=400)
            return run

        return [("POST", "updates", guarded(updates)), ("GET", "calls", guarded(calls)),
                ("GET", "messages", guarded(messages)), ("GET", "stats", guarded(stats)),
                ("POST", "faults", guarded(faults)), ("DELETE", "faults", guarded(faults)),
                ("POST", "reset", guarded(reset))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Telegram Bot API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--rate-limit", type=int, default=None, help="global requests/s")
    parser.add_argument("--per-chat-limit", type=int, default=None, help="requests/s per chat")
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with FakeBotAPI(args.token, args.host, args.port, rate_limit_per_second=args.rate_limit,
                    per_chat_per_second=args.per_chat_limit) as fake:
        print(f"FakeBotAPI listening on {fake.url} base_url={fake.base_url} "
              f"token={fake.token}", flush=True)
        while not done.wait(0.5):
            pass


if __name__ == "__main__":
    main()
