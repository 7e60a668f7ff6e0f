"""One person talking to the bot: the same few words in every test.

* :class:`Person`: at the engine, in process (an :class:`Incoming` in, the replies out). Typed
  lines become commands when they start with a slash, as every transport does; a button
  press carries the token of the prompt on screen. Reads the person's state from the store.
* :class:`ConsolePerson`: ``teamspiegel chat --jsonl`` as a real process, through pipes. It
  turns the JSON lines back into :class:`Reply` objects, so a test reads what the bot said the
  same way at both levels: ``type()``, ``press()``, ``last``, ``prompt()``, ``texts()``.

Transports with a server of their own keep a thin adapter with the same verbs (async there):
``tests/telegram_helpers.py`` (``Person`` against the fake Bot API) and
``tests/matrix_helpers.py`` (``Member`` on real Synapse).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.engine.messages import Choice, Incoming, Link, Reply
from bot.store import Conversation, Store
from tests.cli import clean_env
from tests.waiting import PATIENCE

ROOT = Path(__file__).resolve().parent.parent
TEAMSPIEGEL = ROOT / ".venv" / "bin" / "teamspiegel"


def typed(user: str, text: str, *, platform: str = "console", chat: str | None = None,
          **kw: Any) -> Incoming:
    """A typed line as the transports hand it over: a command when it starts with a slash."""
    if text.startswith("/") and len(text) > 1:
        name, _, args = text[1:].partition(" ")
        return Incoming(platform, user, chat or user, "command", text=text,
                        command=name.lower(), args=args, **kw)
    return Incoming(platform, user, chat or user, "text", text=text, **kw)


class Talk:
    """What every person in a test can do and read; subclasses say how a line travels."""

    user: str
    #: what the bot said in answer to the last thing the person did
    last: list[Reply]

    def type(self, text: str) -> list[Reply]:
        raise NotImplementedError

    def press(self, value: str) -> list[Reply]:
        raise NotImplementedError

    def step(self, text: str) -> Reply:
        """Type a line; returns the prompt it leads to (what the person must answer next)."""
        self.type(text)
        return self.prompt()

    def prompt(self) -> Reply:
        """The question on screen now (the last reply that asks something)."""
        prompts = [r for r in self.last if r.is_prompt]
        assert prompts, f"no prompt in {[r.text for r in self.last]}"
        return prompts[-1]

    def values(self) -> list[str]:
        """The values of the options on screen (scale prompts: 1..5)."""
        return [c.value for c in self.prompt().choices]

    def texts(self) -> str:
        return "\n".join(r.text for r in self.last)

    text = texts

    def document(self) -> dict[str, Any]:
        """The one JSON attachment of the last answer (``/mijngegevens``)."""
        (doc,) = [r.document for r in self.last if r.document]
        return json.loads(doc[1])


class Person(Talk):
    """One person at the engine, in process. ``chat`` defaults to their private chat."""

    def __init__(self, engine: Any, user: str = "u1", *, platform: str = "console",
                 chat: str | None = None) -> None:
        self.engine, self.user, self.platform = engine, user, platform
        self.chat = chat or user
        self.last: list[Reply] = []

    @property
    def store(self) -> Store:
        return self.engine.store

    # -- what the person does ---------------------------------------------------------------

    def incoming(self, kind: str, *, chat: str | None = None, **kw: Any) -> Incoming:
        return Incoming(self.platform, self.user, chat or self.chat, kind, **kw)  # type: ignore[arg-type]

    def send(self, what: Incoming | str, **kw: Any) -> list[Reply]:
        """Hand the engine one event: an :class:`Incoming`, or its kind and fields."""
        inc = what if isinstance(what, Incoming) else self.incoming(what, **kw)
        self.last = self.engine.handle(inc)
        return self.last

    def type(self, text: str, *, chat: str | None = None, message_ref: str | None = None,
             event_id: str | None = None) -> list[Reply]:
        """A typed line (a leading slash makes it a command, like every transport does)."""
        extra = {"message_ref": message_ref} if not text.startswith("/") else {}
        return self.send(typed(self.user, text, platform=self.platform, chat=chat or self.chat,
                               event_id=event_id, **extra))

    def press(self, value: str, token: str | None = "current") -> list[Reply]:
        """A button press; by default with the token of the prompt currently shown."""
        if token == "current":
            token = str(self.conv.prompt_seq) if self.conv else None
        return self.send("choice", text=value, value=value, prompt_token=token)

    def onboard(self, role: str = "professional", code: str | None = None) -> Person:
        """Consent, role, and a team (the invite ``code``, else the Demoteam)."""
        self.type("/start")
        self.press("ja")
        assert self.state == "onboarding.role", self.texts()
        self.press(role)
        assert self.state == "onboarding.team", self.texts()
        if code:
            self.type(code)
        else:
            self.press("demo")
        assert self.state == "menu.main", self.texts()
        return self

    # -- what the store says about them -------------------------------------------------------

    @property
    def conv(self) -> Conversation | None:
        return self.store.load_conversation(self.platform, self.user)

    @property
    def state(self) -> str | None:
        conv = self.conv
        return conv.state if conv else None

    @property
    def member_id(self) -> int | None:
        return self.store.member_id(self.platform, self.user)

    @property
    def id(self) -> int:
        """The member id, which must exist."""
        mid = self.member_id
        assert mid is not None, f"{self.user} is no member"
        return mid

    def teams(self) -> dict[int, str]:
        """Team id -> role, from the store."""
        return {m["team_id"]: m["role"] for m in self.store.memberships(self.member_id or -1)}


# -- the console ---------------------------------------------------------------------------


def reply_from_json(data: dict[str, Any]) -> Reply:
    """A console JSON line back as the Reply it was made from (attachments by name only)."""
    labels = data.get("scale_labels")
    return Reply(
        text=data["text"],
        choices=[Choice(c["label"], c["value"]) for c in data.get("choices", [])],
        expects=data["expects"],
        scale_labels=(labels[0], labels[1]) if labels else None,
        links=[Link(link["label"], link["url"]) for link in data.get("links", [])],
        document=(data["document"], b"", "") if "document" in data else None,
        image=(data["image"], b"") if "image" in data else None,
        numbered=data.get("numbered", True),
        is_prompt=data["expects"] != "none",
    )


class ConsolePerson(Talk):
    """One person in ``teamspiegel chat --jsonl --user USER``: a real process, so it can be
    killed mid-conversation. A reader thread with a queue keeps every read under a bound, so
    a hanging bot fails the test instead of hanging it."""

    def __init__(self, db: Path, user: str, **env: str) -> None:
        self.db, self.user = db, user
        self.stderr_path = db.parent / f"stderr-{user}-{os.getpid()}-{id(self)}.txt"
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(TEAMSPIEGEL), "chat", "--jsonl", "--user", user],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, encoding="utf-8", bufsize=1, env=clean_env(db, **env), cwd=db.parent,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        #: every line in and out, for failure messages
        self.log: list[tuple[str, Any]] = []
        self.last: list[Reply] = []

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def reply(self) -> Reply | None:
        """The next reply line, or None at the end of the output."""
        try:
            line = self.lines.get(timeout=PATIENCE)
        except queue.Empty:
            raise AssertionError(f"no reply within {PATIENCE:.0f} s; last: {self.log[-3:]}"
                                 ) from None
        if line is None:
            return None
        data = json.loads(line)
        self.log.append(("out", data))
        return reply_from_json(data)

    def until_prompt(self) -> list[Reply]:
        """Read replies until one asks for an answer; they become ``last``."""
        got: list[Reply] = []
        while True:
            reply = self.reply()
            assert reply is not None, f"the bot ended before a prompt; stderr: {self.stderr()}"
            got.append(reply)
            if reply.is_prompt:
                self.last = got
                return got

    def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.log.append(("in", line))
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def type(self, text: str) -> list[Reply]:
        self.write(text)
        return self.until_prompt()

    def press(self, value: str) -> list[Reply]:
        """Choose an option on screen the way people do on the console: by its number."""
        return self.type(str(self.values().index(value) + 1))

    # -- the process ---------------------------------------------------------------------------

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=PATIENCE)
        self._stderr.close()

    def close(self) -> int:
        """End of input; returns the exit code."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=PATIENCE)
        self._stderr.close()
        return code

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()

    def ensure_dead(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=PATIENCE)
        if not self._stderr.closed:
            self._stderr.close()


@contextmanager
def console_people() -> Iterator[list[ConsolePerson]]:
    """Every console process started into the list is killed at the end, even on failure."""
    started: list[ConsolePerson] = []
    try:
        yield started
    finally:
        for person in started:
            person.ensure_dead()
