"""The platform-neutral message vocabulary between transports and the engine.

A transport turns a platform update into an :class:`Incoming` and renders the engine's
:class:`Reply` objects in its own idiom (inline keyboards, numbered options, ...).
Nothing here knows about any chat library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

IncomingKind = Literal[
    "text", "choice", "command", "edit", "unsupported", "undecryptable", "poll"
]
Expects = Literal["choice", "scale", "text", "none"]
#: why a turn failed: "retry" (the store was unavailable; the same input may work later) or
#: "error" (a fault that would repeat)
Failure = Literal["retry", "error"]


@dataclass(slots=True)
class Incoming:
    """One thing a person did in a chat."""

    platform: str
    user_id: str
    chat_id: str
    kind: IncomingKind
    text: str = ""
    #: choice value (button press) or the chosen option when the transport resolved it
    value: str | None = None
    #: command name without slash, lower case (``"menu"``), with its argument string
    command: str | None = None
    args: str = ""
    #: platform event id (update id, Matrix event id) to drop replays
    event_id: str | None = None
    #: the prompt a button belonged to (stale-button detection); None for typed input
    prompt_token: str | None = None
    #: platform message id of this message (so an edit can find the answer it carried)
    message_ref: str | None = None
    is_group: bool = False
    #: accepted from old callers, never stored (we keep no names); transports leave it empty
    display_name: str | None = None
    #: for kind="unsupported": what it was (photo, sticker, voice, ...)
    media: str | None = None
    # kind="undecryptable": an end-to-end encrypted message whose key never reached the bot
    #: the forum topic of a group the message was written in (Telegram ``message_thread_id``)
    thread_id: str | None = None
    #: how many people are in a group chat besides the bot, when the transport knows it (it
    #: asks the platform for group commands: a native poll is offered only in large groups)
    chat_size: int | None = None
    #: kind="poll": the state of a native poll the bot sent (never who voted what): the poll's
    #: platform reference (:attr:`Reply.poll`), the votes per option in the poll's order, the
    #: number of voters, and whether the poll is closed
    poll_ref: str | None = None
    counts: tuple[int, ...] = ()
    voters: int = 0
    closed: bool = False


@dataclass(slots=True, frozen=True)
class Choice:
    label: str
    value: str


@dataclass(slots=True, frozen=True)
class Link:
    """A button that opens a URL (deep link to the private chat, dashboard login)."""

    label: str
    url: str


@dataclass(slots=True, frozen=True)
class Poll:
    """A native poll of the platform (Telegram ``sendPoll``, Matrix ``m.poll.start``).

    ``anonymous``: the platform hides who voted what from the bot and the group (Telegram's
    ``is_anonymous``); a platform that cannot (Matrix) says so in ``note``, which text-only
    clients see with the question. The sender returns the poll's platform reference (the
    "message id" of the outbox row); votes come back as ``Incoming(kind="poll")``.
    """

    question: str
    options: tuple[str, ...]
    anonymous: bool = True
    note: str | None = None


@dataclass(slots=True)
class Reply:
    """One message the engine wants to show."""

    text: str
    choices: list[Choice] = field(default_factory=list)
    expects: Expects = "none"
    #: meaning of the ends of a scale, e.g. ("Helemaal niet", "Helemaal wel")
    scale_labels: tuple[str, str] | None = None
    #: identifies the prompt; transports put it in button data to detect stale presses
    prompt_token: str | None = None
    links: list[Link] = field(default_factory=list)
    #: an attachment: (filename, bytes, mime type)
    document: tuple[str, bytes, str] | None = None
    image: tuple[str, bytes] | None = None
    #: short text for a button-press acknowledgement (callback answer / toast)
    notice: str | None = None
    #: a prompt that changed state: transports may remove the keyboard of the previous one
    is_prompt: bool = False
    #: where to send it when not the chat of the incoming event (a group -> private move)
    chat_id: str | None = None
    #: personal data (answers, exports, login links, your own reports): a transport delivers
    #: it only into a chat with nobody but the person in it, else ``Engine.personal_refusal``
    personal: bool = False
    #: the person erased their data: after this reply the transport leaves and forgets the
    #: private chat where the platform allows it (Matrix), and drops what it keeps about it
    leave_chat: bool = False
    #: False when typed numbers mean something else here (a corrected score): text
    #: transports then list the options without numbers
    numbered: bool = True
    #: set on the error message of a turn that failed: nothing of the turn was stored, so a
    #: transport must not show the input as accepted (no "✅ Jouw keuze")
    failed: Failure | None = None
    #: the prompt of a short side trip: the previous prompt stays open (its buttons stay)
    side_trip: bool = False
    #: post into this forum topic of the group (Telegram ``message_thread_id``)
    thread_id: str | None = None
    #: send a native poll instead of a text (``text`` is the fallback where there is none)
    poll: Poll | None = None
    #: end the native poll with this platform reference (as the sender returned it for the
    #: :attr:`poll`); the sender reports the final counts as ``Incoming(kind="poll")``
    close_poll: str | None = None

    def to_json(self) -> dict[str, object]:
        """The console's machine format (also handy in tests)."""
        choices = [{"label": c.label, "value": c.value} for c in self.choices]
        if self.expects == "scale" and not choices:
            choices = [{"label": str(i), "value": str(i)} for i in range(1, 6)]
        out: dict[str, object] = {"text": self.text, "choices": choices, "expects": self.expects}
        if self.scale_labels:
            out["scale_labels"] = list(self.scale_labels)
        if not self.numbered:
            out["numbered"] = False
        if self.links:
            out["links"] = [{"label": link.label, "url": link.url} for link in self.links]
        if self.document:
            out["document"] = self.document[0]
        if self.image:
            out["image"] = self.image[0]
        return out


SCALE_VALUES = ("1", "2", "3", "4", "5")

#: button values that are triggers of their own, valid in any state (the buttons of scheduled
#: messages: ``tip:<period>:<n>``, ``go:<what>``); they belong to no prompt (no prompt token)
GLOBAL_BUTTONS = ("tip", "go")
#: the engine's link to the person's private chat with the bot (``private:<start payload>``);
#: each transport makes it a link of its platform
PRIVATE_LINK = "private:"


def global_button(trigger: str, value: str) -> str:
    """The value of a global button: ``global_button("tip", "2026-07:4")``."""
    assert trigger in GLOBAL_BUTTONS
    return f"{trigger}:{value}"


def is_global_button(value: str) -> bool:
    head, sep, _ = value.partition(":")
    return bool(sep) and head in GLOBAL_BUTTONS


def private_link(payload: str = "") -> str:
    """A link to the private chat with the bot (that starts it with ``payload`` where the
    platform's links carry one)."""
    return PRIVATE_LINK + payload


def private_payload(url: str) -> str | None:
    """The start payload of a :func:`private_link`, or None for any other URL."""
    return url.removeprefix(PRIVATE_LINK) if url.startswith(PRIVATE_LINK) else None


def scale_ends(reply: Reply) -> tuple[str, str] | None:
    """What 1 and 5 of a scale mean, when the reply's text does not say it yet (a transport
    writes them its own way under the text)."""
    if reply.expects != "scale" or not reply.scale_labels or "1 =" in reply.text:
        return None
    return reply.scale_labels


def parse_command(
    text: str, *, prefixes: str = "/", bot_username: str | None = None
) -> tuple[str, str] | None:
    """``(name, args)`` of a typed command: ``/name args``, also ``/name@bot`` (Telegram) and
    with another prefix where a platform's clients eat unknown slash commands (Matrix: ``!``).
    None for ordinary text, and for a command addressed to another bot."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] not in prefixes or not stripped[1].isalpha():
        return None
    head, _, args = stripped[1:].partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        args = f"{more} {args}"
    name, _, target = head.partition("@")
    if target and bot_username and target.lower() != bot_username.lower():
        return None
    return name.lower(), args.strip()


class CommandHelp(NamedTuple):
    """A command as a platform's command menu shows it."""

    name: str
    help: str
    #: also offered in group chats
    in_groups: bool


class OwedPrompt(NamedTuple):
    """A reply a committed turn still owes: the current prompt, for the person's private chat."""

    chat_id: str
    user_id: str
    event_id: str
    replies: list[Reply]


def withhold_personal(replies: list[Reply], *, private: bool, refusal: Reply) -> list[Reply]:
    """The replies that may go into a chat: all of them in a private chat; elsewhere every
    personal reply is left out and the refusal said once instead."""
    if private or not any(r.personal for r in replies):
        return replies
    out: list[Reply] = []
    refused = False
    for reply in replies:
        if not reply.personal:
            out.append(reply)
        elif not refused:
            out.append(refusal)
            refused = True
    return out


def reply_to_payload(reply: Reply) -> dict[str, object]:
    """A JSON-safe form of a Reply (outbox rows store these)."""
    data: dict[str, object] = {"text": reply.text, "expects": reply.expects}
    if reply.choices:
        data["choices"] = [[c.label, c.value] for c in reply.choices]
    if reply.scale_labels:
        data["scale_labels"] = list(reply.scale_labels)
    if reply.prompt_token:
        data["prompt_token"] = reply.prompt_token
    if reply.links:
        data["links"] = [[link.label, link.url] for link in reply.links]
    if not reply.numbered:
        data["numbered"] = False
    if reply.thread_id:
        data["thread_id"] = reply.thread_id
    if reply.poll is not None:
        data["poll"] = {"question": reply.poll.question, "options": list(reply.poll.options),
                        "anonymous": reply.poll.anonymous, "note": reply.poll.note}
    if reply.close_poll:
        data["close_poll"] = reply.close_poll
    return data


def reply_from_payload(data: dict[str, object]) -> Reply:
    raw_choices: list[list[str]] = data.get("choices", [])  # type: ignore[assignment]
    raw_links: list[list[str]] = data.get("links", [])  # type: ignore[assignment]
    choices = [Choice(str(label), str(value)) for label, value in raw_choices]
    links = [Link(str(label), str(url)) for label, url in raw_links]
    labels = data.get("scale_labels")
    poll_data = data.get("poll")
    poll = None
    if isinstance(poll_data, dict):
        poll = Poll(str(poll_data["question"]), tuple(str(o) for o in poll_data["options"]),
                    bool(poll_data.get("anonymous", True)),
                    str(poll_data["note"]) if poll_data.get("note") else None)
    return Reply(
        text=str(data["text"]),
        choices=choices,
        expects=data.get("expects", "none"),  # type: ignore[arg-type]
        scale_labels=(str(labels[0]), str(labels[1])) if labels else None,  # type: ignore[index]
        prompt_token=data.get("prompt_token"),  # type: ignore[arg-type]
        links=links,
        numbered=bool(data.get("numbered", True)),
        thread_id=str(data["thread_id"]) if data.get("thread_id") else None,
        poll=poll,
        close_poll=str(data["close_poll"]) if data.get("close_poll") else None,
    )


def split_text(
    text: str, limit: int, *, fit: Callable[[str, int], int] | None = None
) -> list[str]:
    """Cut ``text`` into messages within a platform's ``limit``: at paragraphs, else at lines,
    else hard. ``fit(text, limit)`` gives the longest prefix length that fits, for platforms
    that count in other units than characters (Telegram counts UTF-16 code units)."""
    fit = fit or (lambda rest, n: min(len(rest), n))
    parts: list[str] = []
    rest = text
    while (end := fit(rest, limit)) < len(rest):
        window = rest[:end]
        for sep in ("\n\n", "\n"):
            cut = window.rfind(sep)
            if cut > 0:
                part, rest = rest[:cut], rest[cut + len(sep):]
                break
        else:
            part, rest = window, rest[end:]
        if part.strip():
            parts.append(part)
    if rest.strip() or not parts:
        parts.append(rest)
    return parts
