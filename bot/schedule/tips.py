"""The monthly tip as a chat message (private chat and team group chat).

A tip goes out as ONE message wherever it fits the smallest message limit of the platforms
(Telegram: 4,096 UTF-16 units), so a tip can never arrive half: title and text, the team's
follow-ups when there are any, the quote with the quoted person's role, the source line and, in
a private chat, the 1-5 "how recognisable" question with the tip's own conversation question.
Only a tip too long for one message is split in two (text, then quote and question). Group chats
get no personal buttons (answers are private), only a link button to the private chat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.engine.flows import default_dialogues
from bot.engine.messages import Choice, Link, Reply, global_button
from bot.nl import AUDIENCE_NAMES, MONTHS, join_and

if TYPE_CHECKING:
    from bot.content import Content

__all__ = [
    "MESSAGE_LIMIT",
    "TipLike",
    "preview_tip",
    "tip_prompt_token",
    "tip_replies",
    "tip_value",
]

#: the smallest message limit of the platforms served (Telegram: UTF-16 code units)
MESSAGE_LIMIT = 4096
#: room a transport may add under a message (the scale's meaning, "1 = ..., 5 = ...")
_TRANSPORT_ROOM = 100
MONTHS_NL = MONTHS  # Dutch month names (bot.nl)


class TipLike(Protocol):
    """What this module needs of :class:`bot.content.Tip`."""

    month: int
    title: str
    text: str
    quote: str
    quote_role: str
    audience: list[str]
    question: str


def tip_prompt_token(period: str) -> str:
    return global_button("tip", period)


def tip_value(period: str, n: int) -> str:
    """Button value of scale answer ``n`` (1..5): ``tip:2026-07:4``."""
    return global_button("tip", f"{period}:{n}")


def _audience_line(audience: list[str]) -> str | None:
    names = [AUDIENCE_NAMES[a] for a in ("professional", "manager", "beleid", "bestuurder")
             if a in audience]
    if not names or "all" in audience or len(names) == len(AUDIENCE_NAMES):
        return None
    return default_dialogues().text("tip_audience", who=join_and(names))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def tip_replies(
    tip: TipLike,
    period: str,
    *,
    group: bool,
    private_link: str | None = None,
    source_line: str,
    note: str | None = None,
    limit: int = MESSAGE_LIMIT,
) -> list[Reply]:
    """The message of one monthly tip for a private chat (``group=False``) or a group chat:
    one message, or two when it does not fit ``limit``. ``note``: the team's "Wat we ermee
    doen" follow-ups, under the tip's text."""
    texts = default_dialogues()
    head = [texts.text("tip_head", month=MONTHS_NL[tip.month - 1], title=tip.title), "",
            tip.text.strip()]
    audience = _audience_line(list(tip.audience))
    if audience:
        head += ["", audience]
    if note:
        head += ["", note]
    head_text = "\n".join(head)

    quote = f"“{tip.quote.strip()}” — {tip.quote_role.strip().lower()}"
    if group:
        tail = "\n\n".join([quote, source_line,
                            texts.text("tip_talk_together", question=tip.question.strip())])
        links = [Link(texts.text("tip_reply_privately"), private_link)] if private_link else []
        whole = f"{head_text}\n\n{tail}"
        if _units(whole) + _TRANSPORT_ROOM <= limit:
            return [Reply(text=whole, links=links)]
        return [Reply(text=head_text), Reply(text=tail, links=links)]
    tail = "\n\n".join([
        quote,
        source_line,
        texts.text("tip_think_about", question=tip.question.strip()),
        texts.text("tip_scale_question"),
    ])
    whole = f"{head_text}\n\n{tail}"
    one = _units(whole) + _TRANSPORT_ROOM <= limit

    def question(text: str) -> Reply:
        return Reply(
            text=text,
            choices=[Choice(str(n), tip_value(period, n)) for n in range(1, 6)],
            expects="scale",
            scale_labels=(texts.text("tip_scale_low"), texts.text("tip_scale_high")),
            prompt_token=tip_prompt_token(period),
        )

    if one:
        return [question(whole)]
    return [Reply(text=head_text), question(tail)]


def _render(replies: list[Reply]) -> str:
    out = []
    for reply in replies:
        lines = [reply.text]
        if reply.expects == "scale" and reply.scale_labels:
            low, high = reply.scale_labels
            lines.append(f"[1 {low}]  [2]  [3]  [4]  [5 {high}]")
        elif reply.choices:
            lines.append("  ".join(f"[{c.label}]" for c in reply.choices))
        lines += [f"[{link.label} → {link.url}]" for link in reply.links]
        out.append("\n".join(lines))
    return "\n\n---\n\n".join(out)


def preview_tip(month: int, content: Content, *, private_link: str | None = None) -> str:
    """Text for ``teamspiegel tips preview``: the private and the group version of a month's tip."""
    kalender = content.kalender
    tip = kalender.tip_for_month(month)
    period = f"YYYY-{month:02d}"
    source = kalender.source.attribution()
    link = private_link or "https://t.me/<bot>"
    private = tip_replies(tip, period, group=False, source_line=source)
    group = tip_replies(tip, period, group=True, private_link=link, source_line=source)
    return "\n".join([
        f"== Privéchat ({MONTHS_NL[month - 1]}) ==",
        _render(private),
        "",
        "== Teamgroep ==",
        _render(group),
    ])
