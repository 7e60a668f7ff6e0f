"""Recognising a re-delivered event without a row of its own (issue 15).

A platform may deliver an event again (Telegram re-delivers every update not yet confirmed after
a crash); its turn must not run twice. ``handled_events`` keeps one row per event id, which is
one more statement in every turn. Where a platform's event ids are ordered (Telegram's update
ids grow per bot, and one bot's updates arrive in that order, re-deliveries from the first
unconfirmed one), a person's turn keeps the ids of their last :data:`WINDOW` turns in their
conversation row instead (``conversations.recent_events``), written by the conversation update
the turn makes anyway:

- an id among them is a replay;
- an id older than all of them, with the window full, is a replay too (it was delivered before
  them, so it was handled: a re-delivery goes back to the first unconfirmed update only);
- a newer id, or one between them, is new (a small reordering is tolerated);
- without a window yet (a person's first turn, a conversation from before this release) or with
  an id older than a window that is not full, ``handled_events`` decides, as for every other
  platform (Matrix's event ids are not ordered) and for group chats and polls.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ORDERED_PLATFORMS", "WINDOW", "Verdict", "ordered_id", "remember", "verdict"]

#: platforms whose event ids are ``u<number>`` with numbers growing in delivery order
ORDERED_PLATFORMS = frozenset({"telegram"})
#: how many of a person's last event ids the conversation keeps
WINDOW = 16

Verdict = Literal["replay", "new", "ask"]


def ordered_id(platform: str, event_id: str | None) -> int | None:
    """The number of an ordered event id, or None (then ``handled_events`` decides)."""
    if event_id and platform in ORDERED_PLATFORMS and event_id[:1] == "u":
        digits = event_id[1:]
        if digits.isdigit() and len(digits) < 19:
            return int(digits)
    return None


def verdict(recent: str | None, number: int) -> Verdict:
    """Whether the event ``number`` is a replay, new, or for ``handled_events`` to say."""
    if not recent:
        return "ask"
    # the window is written by :func:`remember` only: canonical decimals, oldest first, one
    # space between them (so a token is found between spaces without splitting the window;
    # a new id, the common case, is not found at all)
    token = str(number)
    at = recent.find(token)
    while at >= 0:
        end = at + len(token)
        if (at == 0 or recent[at - 1] == " ") and (end == len(recent) or recent[end] == " "):
            return "replay"
        at = recent.find(token, at + 1)
    space = recent.find(" ")
    if number > int(recent if space < 0 else recent[:space]):  # newer than one of them, so
        return "new"  # newer than the smallest
    ids = [int(x) for x in recent.split(" ")]  # a reordered window: the exact rule
    if number in ids:
        return "replay"
    if number > min(ids):
        return "new"
    return "replay" if len(ids) >= WINDOW else "ask"


def remember(recent: str | None, number: int) -> str:
    """The window after the event ``number`` was handled."""
    if not recent:
        return str(number)
    held = recent.count(" ") + 1
    if held < WINDOW:
        return f"{recent} {number}"
    if held == WINDOW:  # full: the oldest goes
        return f"{recent[recent.index(' ') + 1:]} {number}"
    ids = recent.split(" ")
    ids.append(str(number))
    return " ".join(ids[-WINDOW:])
