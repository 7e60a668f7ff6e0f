"""The team conversation: a team talks in its linked group, the bot leads and counts votes.

An owner of the team starts it in a linked group chat: ``/gesprek THEMA`` (a number, an id or
part of a title; without one, the theme the team's mirror shows the widest gap on), ``/gesprek
dilemma N`` (a dilemma card of the team's packs) or ``/gesprek casus NAAM`` (a case). Add
``alles`` to open every vote at once, ``peiling`` for the platform's native poll. Then
``/gesprek volgende`` closes the open vote and goes on, ``/gesprek klaar`` closes the
conversation: a summary (the votes, and the team's mirror of the last round next to them) and
the question which agreements the team makes. The owner writes those down in the private chat;
each becomes an action of "Wat we ermee doen", which the monthly tip brings back.

**A conversation is a sequence of items** (``session_items``): an intro, a vote, a discussion
prompt, a quote. What a conversation is about (a *subject*) only decides the items: a theme of
the Praatplaat gives one vote per scale question with its sub-questions as prompts and the
matching calendar quote; a dilemma card a two-sided vote with its prompts and quotes; a case its
story and its questions. A pack adds a subject with :func:`subject` (a function that makes the
items) and an item kind with :func:`item_kind` (how an item is posted, and whether it is a vote);
nothing else changes.

**Two ways to vote**, and the group is told which one is anonymous:

* *private* (the default): every member gets the question in their private chat with a button
  per answer (``go:vote:<item>:<option>``). The group sees only how many voted so far, and the
  result when the vote closes with at least :func:`vote_threshold` votes (``k + 1``: so nobody
  in the group can take their own vote out and read fewer than ``k`` others). The store keeps
  counts per option and, to refuse a second vote, a keyed hash of the voter that is deleted with
  its salt when the vote closes (:mod:`bot.store.sessions`): never who voted what. One vote per
  person; it cannot be changed, because nothing remembers which option was yours.
* *poll*: the platform's native poll (``Reply.poll``). On Telegram an anonymous poll
  (``is_anonymous``: the bot learns counts only), offered only in a group with more than ``k``
  members besides the bot, and the group is told that Telegram shows voters the running result.
  On Matrix ``m.poll.start`` (undisclosed), labelled as not anonymous: a Matrix vote is an
  event of its sender that the room can see. The platform's counts come back as
  ``Incoming(kind="poll")``.

**Durable.** Everything is in the store; every message to the group or to a member is an outbox
row with a unique key, sent by the dispatcher under the group limit (20 messages a minute), so a
crash and a restart never lose or double a step, and an open vote or poll is still closed and
counted once. Messages to the group go in order: the items of one step are one row.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine.messages import Choice, Incoming, Link, Poll, Reply, reply_to_payload
from bot.engine.registry import action, condition
from bot.engine.turn import Turn, TurnEngine
from bot.nl import format_count

__all__ = [
    "KIND_BALLOT",
    "KIND_POST",
    "Item",
    "SessionMirror",
    "Subject",
    "finish_stuck_sessions",
    "handle_command",
    "handle_poll",
    "item_kind",
    "subject",
    "vote_threshold",
]

log = logging.getLogger(__name__)

#: outbox kinds: a message of a conversation in its group; a private vote to a member; the
#: count of votes so far; a message to the owner who closed the conversation
KIND_POST = "session"
KIND_BALLOT = "ballot"
KIND_COUNT = "session_count"
KIND_OWNER = "session_owner"
#: button values (after ``go:``) of a private vote and of the owner's agreements
VOTE_PREFIX = "vote:"
AGREE_PREFIX = "agree:"
#: words after ``/gesprek``
FLAG_ALL = ("alles", "tegelijk")
FLAG_POLL = ("peiling", "poll")
SUB_NEXT = ("volgende", "verder", "door")
SUB_CLOSE = ("klaar", "afronden", "stop", "einde")
SUB_STATUS = ("stand", "status")
#: votes of one minute are shown in the group as one count
COUNT_EVERY = 60
#: a poll whose final counts did not come back is closed with the last ones after this long
CLOSING_GRACE = timedelta(minutes=3)
#: an option value that records nothing (all votes at once: on to the next one)
SKIP = "skip"


def vote_threshold(k: int) -> int:
    """Votes a private vote needs before the group sees its result: ``k`` besides any one
    voter in the group (the rule of every figure shown in a linked group chat)."""
    return max(3, int(k)) + 1


def _now(engine: TurnEngine) -> datetime:
    return engine.clock().astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _k(engine: TurnEngine) -> int:
    return max(3, int(engine.settings.get("min_group") or 3))


def _nl(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


# -- items and subjects ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One step of a conversation: its kind (see :func:`item_kind`), what it refers to (a
    question or card id) and its body (JSON-safe: it is stored)."""

    kind: str
    body: dict[str, Any]
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """What a conversation is about, as the items it runs through."""

    key: str
    title: str
    items: list[Item]
    #: a Praatplaat theme: its agreements are actions of that theme, its votes are compared
    #: with the team's mirror
    theme_id: str | None = None


@dataclass(frozen=True, slots=True)
class ItemKind:
    """How an item is posted (``render(engine, session, item) -> replies``) and whether it is a
    vote (options in ``body["options"]`` as ``[value, label]``)."""

    render: Callable[[TurnEngine, dict[str, Any], dict[str, Any]], list[Reply]]
    vote: bool = False


ITEM_KINDS: dict[str, ItemKind] = {}
#: subject keyword after ``/gesprek`` -> (engine, team id, rest of the words) -> Subject | None
SUBJECTS: dict[str, Callable[[TurnEngine, int, str], Subject | None]] = {}


def item_kind(name: str, *, vote: bool = False) -> Callable[[Callable[..., list[Reply]]],
                                                          Callable[..., list[Reply]]]:
    """Register how items of kind ``name`` are posted in the group."""

    def deco(func: Callable[..., list[Reply]]) -> Callable[..., list[Reply]]:
        ITEM_KINDS[name] = ItemKind(func, vote)
        return func

    return deco


def subject(keyword: str) -> Callable[[Callable[[TurnEngine, int, str], Subject | None]],
                                      Callable[[TurnEngine, int, str], Subject | None]]:
    """Register a subject: ``/gesprek <keyword> <rest>`` runs the items it returns."""

    def deco(func: Callable[[TurnEngine, int, str], Subject | None]
             ) -> Callable[[TurnEngine, int, str], Subject | None]:
        SUBJECTS[keyword] = func
        return func

    return deco


def _quoted(text: str, cite: str | None = None) -> str:
    return f"“{text.strip()}”" + (f" ({cite})" if cite else "")


def _vote_item(question: str, options: list[tuple[str, str]], ref: str, *,
               labels: tuple[str, str] | None = None) -> Item:
    return Item("vote", {"question": question, "options": [list(o) for o in options],
                         "labels": list(labels) if labels else None}, ref)


def _scale_options(labels: tuple[str, str] | None) -> list[tuple[str, str]]:
    out = []
    for n in range(1, 6):
        label = str(n)
        if labels and n == 1:
            label = f"1 – {labels[0]}"
        elif labels and n == 5:
            label = f"5 – {labels[1]}"
        out.append((str(n), label))
    return out


def _question_items(q: Any) -> list[Item]:
    """A question as conversation items: a vote for a scale question (the closed part of a
    two-part question) and its follow-up as a prompt; an open question as a prompt."""
    if q.kind == "scale" and q.anchors is not None:
        labels = (q.anchors.low, q.anchors.high)
        items = [_vote_item(q.ask, _scale_options(labels), q.id, labels=labels)]
        if q.follow_up:
            items.append(Item("prompt", {"text": q.follow_up}, q.id))
        return items
    return [Item("prompt", {"text": q.text}, q.id)]


def theme_subject(engine: TurnEngine, theme: Any) -> Subject:
    """A Praatplaat theme: its intro and source, a vote per scale question (the closed part of a
    two-part question), its open questions and follow-ups as prompts, and the calendar quote
    that fits the theme after the first vote."""
    from bot.themes import tip_for

    pp = engine.content.praatplaat
    intro = [engine.text("session_theme_title", n=theme.number, title=theme.title)]
    if theme.intro:
        intro.append(theme.intro.strip())
    intro.append(pp.source.attribution())
    items = [Item("intro", {"text": "\n\n".join(intro)}, theme.id)]
    tip = tip_for(engine.content, theme.id)
    quote_done = tip is None
    for q in theme.questions:
        items += _question_items(q)
        if tip is not None and not quote_done and any(i.kind == "vote" for i in items):
            quote = "\n".join([
                engine.text("session_quote_title", month=tip.month_name, title=tip.title),
                f"„{tip.quote.strip()}” — {tip.quote_role.strip()}",
                engine.text("session_theme_tip_ours")])
            items.append(Item("quote", {"text": quote}, f"kalender-{tip.month}"))
            quote_done = True
    if not quote_done and tip is not None:
        items.append(Item("quote", {"text": f"„{tip.quote.strip()}” — {tip.quote_role.strip()}"},
                          f"kalender-{tip.month}"))
    return Subject(f"theme:{theme.id}", f"{theme.number}. {theme.title}", items, theme.id)


@subject("dilemma")
def dilemma_subject(engine: TurnEngine, team_id: int, rest: str) -> Subject | None:
    """A dilemma card of the team's packs (``bot.packs``): its title and context, a vote
    between its two sides, then its prompts."""
    from bot.packs import find_dilemma

    found = find_dilemma(engine.store, engine.content, team_id, rest or "1")
    if found is None:
        return None
    pack, card = found
    title = card.title if card.is_ours("title") else _quoted(card.title)
    intro = [engine.text("session_dilemma_title", title=title)]
    intro += [q.shown() for q in card.quotes]
    intro.append(pack.source.attribution())
    items = [Item("intro", {"text": "\n\n".join(intro)}, card.id),
             _vote_item(card.title, [(v, label) for v, label in card.options()], card.id)]
    items += [Item("prompt", {"text": p}, card.id) for p in card.prompts]
    return Subject(f"dilemma:{pack.id}:{card.id}", card.title, items)


@subject("casus")
def case_subject(engine: TurnEngine, team_id: int, rest: str) -> Subject | None:
    """A case of the team's packs: the story (one message per quote), then its questions:
    a vote for a scale question, a prompt for an open one."""
    from bot.packs import PackLibrary

    raw = " ".join(rest.lower().split())
    cases = [(pack, unit) for pack in PackLibrary(engine.store, engine.content).enabled(team_id)
             for unit in getattr(pack, "units", []) if unit.kind == "case"]
    if raw.isdigit():
        n = int(raw)
        found = [cases[n - 1]] if 1 <= n <= len(cases) else []
    else:
        found = [c for c in cases if c[1].id == raw] or [
            c for c in cases if len(raw) >= 3 and raw in c[1].title.lower()]
    if len(found) != 1:
        return None
    pack, unit = found[0]
    head = [engine.text("session_case_title", title=unit.title)]
    if unit.intro:
        head.append(unit.intro.strip())
    items = [Item("intro", {"text": "\n\n".join([*head, pack.source.attribution()])}, unit.id)]
    items += [Item("quote", {"text": q.shown()}, unit.id) for q in unit.quotes]
    for q in unit.questions:
        items += _question_items(q)
    return Subject(f"case:{pack.id}:{unit.id}", unit.title, items)


# -- how items are posted ----------------------------------------------------------------------


@item_kind("intro")
def _render_intro(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any]) -> list[Reply]:
    how = (engine.text("session_how_private", threshold=session["threshold"])
           if session["vote"] == "private" else _poll_note(engine, session["platform"]))
    return [Reply("\n\n".join([item["body"]["text"], how]))]


@item_kind("prompt")
def _render_prompt(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any]) -> list[Reply]:
    return [Reply(engine.text("session_prompt", text=item["body"]["text"]))]


@item_kind("quote")
def _render_quote(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any]) -> list[Reply]:
    return [Reply(item["body"]["text"])]


@item_kind("vote", vote=True)
def _render_vote(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any]) -> list[Reply]:
    body = item["body"]
    number, total = body.get("number", 1), body.get("of", 1)
    head = engine.text("session_vote_head", n=number, total=total)
    if session["vote"] == "poll":
        options = tuple(label for _, label in body["options"])
        note = (engine.text("session_poll_matrix_note") if session["platform"] == "matrix"
                else None)
        fallback = "\n".join([head, body["question"],
                              *(f"{i}. {label}" for i, label in enumerate(options, 1))])
        return [Reply(fallback, poll=Poll(f"{head} {body['question']}"[:300],
                                          tuple(o[:100] for o in options),
                                          anonymous=session["platform"] != "matrix",
                                          note=note))]
    text = "\n\n".join([f"{head}\n{body['question']}",
                        engine.text("session_vote_private", threshold=session["threshold"])])
    return [Reply(text, links=[Link(engine.text("session_private_button"), "private:")])]


def _poll_note(engine: TurnEngine, platform: str) -> str:
    if platform == "matrix":
        return engine.text("session_how_poll_matrix")
    return engine.text("session_how_poll_telegram")


# -- posting: every message goes through the outbox ----------------------------------------------


def _payload(replies: Iterable[Reply]) -> str:
    return json.dumps([reply_to_payload(r) for r in replies], ensure_ascii=False,
                      separators=(",", ":"))


def _post(engine: TurnEngine, session: dict[str, Any], key: str, replies: list[Reply], *,
          not_before: datetime | None = None, kind: str = KIND_POST) -> bool:
    """One row to the conversation's group (in its topic); ``key`` makes it once."""
    if not replies:
        return False
    for reply in replies:
        reply.thread_id = session.get("thread_id")
    now = _now(engine)
    return bool(engine.store.enqueue_row(
        platform=session["platform"], chat_id=session["chat_id"], kind=kind,
        period=f"s{session['id']}:{key}", payload=_payload(replies),
        not_before=_stamp(not_before or now), now=_stamp(now), team_id=int(session["team_id"]),
        is_group=True))


def _ballot(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any]) -> Reply:
    body = item["body"]
    options = body["options"]
    scale = len(options) == 5 and [v for v, _ in options] == ["1", "2", "3", "4", "5"]
    team = engine.store.get_team(int(session["team_id"])) or {}
    text = engine.text("session_ballot", team=team.get("name", ""), question=body["question"],
                       threshold=session["threshold"])
    choices = [Choice(str(n) if scale else label, f"go:{VOTE_PREFIX}{item['id']}:{value}")
               for n, (value, label) in enumerate(options, 1)]
    labels = tuple(body["labels"]) if scale and body.get("labels") else None
    if session["mode"] == "all":
        choices.append(Choice(engine.text("session_ballot_skip"),
                              f"go:{VOTE_PREFIX}{item['id']}:{SKIP}"))
        return Reply(text, choices=choices, expects="choice")
    return Reply(text, choices=choices, expects="scale" if scale else "choice",
                 scale_labels=labels)  # type: ignore[arg-type]


def _send_ballots(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any],
                  members: list[dict[str, Any]] | None = None) -> int:
    """The private vote of ``item`` to every member of the team (in their private chat), or to
    ``members``; once per member and item (the outbox key)."""
    store = engine.store
    now = _now(engine)
    if members is None:
        members = store.member_chats(int(session["team_id"]), _stamp(now))
    payload = _payload([_ballot(engine, session, item)])
    sent = 0
    for m in members:
        sent += int(store.enqueue_row(
            platform=m["platform"], chat_id=m["chat_id"], kind=KIND_BALLOT,
            period=f"i{item['id']}", payload=payload, not_before=_stamp(now), now=_stamp(now),
            member_id=int(m["member_id"]), team_id=int(session["team_id"])))
    return sent


def _open_item(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any],
               replies: list[Reply]) -> None:
    """Post a vote and open it: private ballots go out, or the native poll is the last reply
    of its row (its platform id is the row's message id)."""
    engine.store.open_vote(int(item["id"]), _stamp(_now(engine)))
    item["status"] = "open"
    replies += ITEM_KINDS["vote"].render(engine, session, item)
    if session["vote"] == "poll":
        key = f"i{item['id']}:poll"
        _post(engine, session, key, replies)
        engine.store.update_item(int(item["id"]), poll_key=_row_key(session, key))
        replies.clear()
    else:
        first_open = session["mode"] == "one" or not any(
            i["status"] == "open" and ITEM_KINDS[i["kind"]].vote and i["id"] != item["id"]
            for i in engine.store.session_items(int(session["id"])))
        if first_open:  # all at once: one ballot at a time, the next comes with each vote
            _send_ballots(engine, session, item)


def _row_key(session: dict[str, Any], key: str) -> str:
    return f"{session['platform']}:{session['chat_id']}:{KIND_POST}:s{session['id']}:{key}"


def _advance(engine: TurnEngine, session: dict[str, Any]) -> None:
    """Post the items from the conversation's position: up to and including the next vote
    (one at a time), or all of them (all at once)."""
    store = engine.store
    items = store.session_items(int(session["id"]))
    pos = int(session["position"])
    replies: list[Reply] = []
    start = pos
    while pos < len(items):
        item = items[pos]
        kind = ITEM_KINDS.get(item["kind"])
        pos += 1
        if kind is None:
            continue
        if kind.vote:
            _open_item(engine, session, item, replies)
            if session["mode"] == "one":
                break
        else:
            replies += kind.render(engine, session, item)
            store.update_item(int(item["id"]), status="closed")
    if session["mode"] == "all":
        replies.append(Reply(engine.text("session_all_ready")))
    elif pos >= len(items) and not any(ITEM_KINDS.get(i["kind"], ItemKind(_render_quote)).vote
                                       and i["status"] == "open" for i in items[start:]):
        replies.append(Reply(engine.text("session_last")))
    _post(engine, session, f"p{start}", replies)
    store.update_session(int(session["id"]), position=pos)
    session["position"] = pos


# -- results ---------------------------------------------------------------------------------


def _result_lines(engine: TurnEngine, item: dict[str, Any], voters: int,
                  counts: dict[str, int] | None, threshold: int) -> list[str]:
    body = item["body"]
    if counts is None:
        if not voters:
            return [engine.text("session_result_none")]
        return [engine.text("session_result_too_few", n=voters, threshold=threshold)]
    options = body["options"]
    parts = [f"{label}: {counts.get(value, 0)}" for value, label in options]
    lines = [" · ".join(parts) + " " + engine.text("session_result_votes",
                                                   n=format_count(voters))]
    values = [v for v, _ in options]
    if values == ["1", "2", "3", "4", "5"]:
        total = sum(int(v) * counts.get(v, 0) for v in values)
        counted = sum(counts.get(v, 0) for v in values)
        if counted:
            lines.append(engine.text("session_result_mean", mean=_nl(total / counted)))
    return lines


def _close_private(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any]) -> list[Reply]:
    """Close a private vote: forget who voted, keep counts only from the threshold, stop the
    ballots and counts that were not sent yet. Returns the result message."""
    store = engine.store
    voters, counts = store.close_vote(int(item["id"]), int(session["threshold"]),
                                      _stamp(_now(engine)))
    item["status"] = "closed"
    store.cancel_rows(KIND_BALLOT, f"i{item['id']}", "stemming gesloten")
    store.cancel_rows(KIND_COUNT, f"s{session['id']}:i{item['id']}", "stemming gesloten",
                      prefix=True)
    head = engine.text("session_result_head", n=item["body"].get("number", 1),
                       question=item["body"]["question"])
    lines = _result_lines(engine, item, voters, counts, int(session["threshold"]))
    return [Reply("\n".join([head, *lines]))]


def _close_poll(engine: TurnEngine, session: dict[str, Any], item: dict[str, Any]) -> bool:
    """Ask the platform to end a native poll; True when it is ending (its final counts come
    back as a poll update), False when it was never sent (it is closed at once, unvoted)."""
    store = engine.store
    key = item.get("poll_key")
    found = store.outbox_ref(key) if key else None
    if found is None or found[0] in ("pending", "cancelled", "failed", "unreachable") \
            or not found[1]:
        if found is not None and found[0] == "pending":
            store.cancel_rows(KIND_POST, f"s{session['id']}:i{item['id']}:poll",
                              "gesprek gesloten")
        store.close_vote(int(item["id"]), int(session["threshold"]), _stamp(_now(engine)))
        item["status"] = "closed"
        return False
    store.update_item(int(item["id"]), status="closing")
    item["status"] = "closing"
    _post(engine, session, f"i{item['id']}:end", [Reply("", close_poll=str(found[1]))])
    return True


def _close_open_votes(engine: TurnEngine, session: dict[str, Any]) -> tuple[list[Reply], bool]:
    """Close every open vote of the conversation: (result messages, whether a poll is still
    ending)."""
    replies: list[Reply] = []
    ending = False
    for item in engine.store.session_items(int(session["id"])):
        if item["status"] != "open" or not ITEM_KINDS.get(item["kind"], ItemKind(
                _render_quote)).vote:
            continue
        if session["vote"] == "poll":
            ending = _close_poll(engine, session, item) or ending
        else:
            replies += _close_private(engine, session, item)
    return replies, ending


# -- the group command -----------------------------------------------------------------------


def _group_reply(inc: Incoming, text: str) -> list[Reply]:
    return [Reply(text, thread_id=inc.thread_id)]


def handle_command(engine: TurnEngine, inc: Incoming) -> list[Reply]:
    """``/gesprek ...`` in a group chat (see the module's text). Only an owner of the team the
    group is linked to may start, move on or close; every refusal is audited."""
    store = engine.store
    team_id = store.chat_team(inc.platform, inc.chat_id)
    member_id = store.member_id(inc.platform, inc.user_id)
    if team_id is None:
        return _group_reply(inc, engine.text("session_not_linked"))
    if not store.is_owner(member_id, team_id):
        store.audit("session:denied", actor=member_id, team_id=team_id)
        return _group_reply(inc, engine.text("session_owner_only"))
    words = inc.args.split()
    sub = words[0].lower() if words else ""
    session = store.open_session(inc.platform, inc.chat_id)
    if session is not None:
        if sub in SUB_CLOSE:
            return close_session(engine, session, member_id, inc)
        if sub in SUB_NEXT:
            return next_item(engine, session, member_id, inc)
        return _group_reply(inc, _status(engine, session))
    if sub in SUB_CLOSE or sub in SUB_NEXT or sub in SUB_STATUS:
        return _group_reply(inc, engine.text("session_none_open"))
    return start_session(engine, inc, team_id, member_id, words)


def _resolve(engine: TurnEngine, team_id: int, words: list[str]) -> Subject | None:
    from bot.themes import resolve_theme

    if not words:
        hint = _mirror(engine, team_id, None)
        widest = hint.widest if hint is not None else None
        if widest is None:
            return None
        try:
            return theme_subject(engine, engine.content.praatplaat.theme(widest))
        except KeyError:
            return None
    keyword = words[0].lower()
    if keyword in SUBJECTS:
        return SUBJECTS[keyword](engine, team_id, " ".join(words[1:]))
    themes = resolve_theme(engine.content, " ".join(words))
    if len(themes) != 1:
        return None
    return theme_subject(engine, themes[0])


def start_session(engine: TurnEngine, inc: Incoming, team_id: int, member_id: int | None,
                  words: list[str]) -> list[Reply]:
    store = engine.store
    lowered = [w.lower() for w in words]
    mode = "all" if any(w in FLAG_ALL for w in lowered) else "one"
    vote = "poll" if any(w in FLAG_POLL for w in lowered) else "private"
    rest = [w for w, low in zip(words, lowered, strict=True)
            if low not in FLAG_ALL and low not in FLAG_POLL]
    found = _resolve(engine, team_id, rest)
    if found is None:
        return _group_reply(inc, engine.text("session_usage", themes=_theme_list(engine)))
    k = _k(engine)
    notes: list[str] = []
    if vote == "poll" and inc.platform == "telegram" and (inc.chat_size is None
                                                            or inc.chat_size <= k):
        vote = "private"
        notes.append(engine.text("session_poll_too_small", min_group=k))
    now = _now(engine)
    items = [i for i in found.items if i.kind in ITEM_KINDS]
    votes = [i for i in items if ITEM_KINDS[i.kind].vote]
    for n, item in enumerate(votes, 1):
        item.body.update(number=n, of=len(votes))
    try:
        session_id = store.create_session(
            team_id=team_id, platform=inc.platform, chat_id=inc.chat_id,
            thread_id=inc.thread_id, subject=found.key, title=found.title,
            theme_id=found.theme_id, mode=mode, vote=vote,
            period=store.answer_period(team_id, now), threshold=vote_threshold(k),
            now=_stamp(now), items=[(i.kind, i.ref, i.body) for i in items])
    except sqlite3.IntegrityError:  # another turn started one in this chat a moment ago
        return _group_reply(inc, engine.text("session_busy"))
    store.audit("session_start", actor=member_id, team_id=team_id,
                detail=f"{found.key} {mode} {vote}")
    session = store.session(session_id)
    assert session is not None
    if notes:
        _post(engine, session, "notes", [Reply("\n\n".join(notes))])
    _advance(engine, session)
    return []


def next_item(engine: TurnEngine, session: dict[str, Any], member_id: int | None,
              inc: Incoming) -> list[Reply]:
    store = engine.store
    if session["status"] != "open":
        return _group_reply(inc, engine.text("session_closing"))
    if session["mode"] == "all":
        return _group_reply(inc, engine.text("session_all_open"))
    items = store.session_items(int(session["id"]))
    if int(session["position"]) >= len(items) and not any(
            i["status"] == "open" for i in items):
        return _group_reply(inc, engine.text("session_last"))
    replies, _ending = _close_open_votes(engine, session)
    store.audit("session_next", actor=member_id, team_id=int(session["team_id"]),
                detail=str(session["position"]))
    if replies:
        _post(engine, session, f"r{session['position']}", replies)
    _advance(engine, session)
    return []


def close_session(engine: TurnEngine, session: dict[str, Any], member_id: int | None,
                  inc: Incoming | None) -> list[Reply]:
    """``/gesprek klaar``: close the open votes, then (when every poll has its final counts)
    the summary; the owner who closed gets the agreements question privately."""
    store = engine.store
    if session["status"] == "open":
        replies, ending = _close_open_votes(engine, session)
        if replies:
            _post(engine, session, "r-final", replies)
        closing_at = _stamp(_now(engine))
        store.update_session(int(session["id"]), status="closing", closed_at=closing_at)
        session.update(status="closing", closed_at=closing_at)
        store.audit("session_close", actor=member_id, team_id=int(session["team_id"]),
                    detail=str(session["subject"]))
        _ask_agreements(engine, session, member_id)
        if not ending:
            _finish(engine, session)
        return []
    if inc is not None:
        return _group_reply(inc, engine.text("session_closing"))
    return []


def _finish(engine: TurnEngine, session: dict[str, Any]) -> None:
    """The summary, once: every vote's result and the team's mirror next to it."""
    store = engine.store
    if session["status"] == "closed":
        return
    items = store.session_items(int(session["id"]))
    for item in items:  # a poll that never reported its end: its last counts
        if item["status"] in ("open", "closing"):
            store.close_vote(int(item["id"]), int(session["threshold"]), _stamp(_now(engine)))
    items = store.session_items(int(session["id"]))
    lines = [engine.text("session_summary_head", title=session["title"])]
    hint = _mirror(engine, int(session["team_id"]), session.get("theme_id"))
    threshold = int(session["threshold"])
    for item in items:
        if not ITEM_KINDS.get(item["kind"], ItemKind(_render_quote)).vote:
            continue
        if item["opened_at"] is None:
            continue  # never reached
        result = json.loads(item["result"]) if item["result"] else None
        lines.append("")
        lines.append(engine.text("session_result_head", n=item["body"].get("number", 1),
                                 question=item["body"]["question"]))
        lines += _result_lines(engine, item, int(item["voters"]), result, threshold)
        mean = hint.team_means.get(str(item["ref"])) if hint is not None else None
        if mean is not None and hint is not None:
            lines.append(engine.text("session_result_mirror", period=hint.period,
                                     mean=_nl(mean)))
    if hint is not None and hint.lines.get(str(session.get("theme_id"))):
        lines += ["", engine.text("session_summary_mirror", period=hint.period)]
        lines += hint.lines[str(session["theme_id"])]
    lines += ["", engine.text("session_summary_agreements")]
    _post(engine, session, "summary", [Reply("\n".join(lines))])
    now = _stamp(_now(engine))
    store.update_session(int(session["id"]), status="closed", closed_at=now)
    session["status"] = "closed"


def _ask_agreements(engine: TurnEngine, session: dict[str, Any], member_id: int | None) -> None:
    """The owner who closed the conversation writes the agreements down in the private chat."""
    if member_id is None:
        return
    store = engine.store
    now = _now(engine)
    chats = [m for m in store.member_chats(int(session["team_id"]), _stamp(now))
             if int(m["member_id"]) == int(member_id)]
    if not chats:
        return
    chat = chats[0]
    text = engine.text("session_agree_ask", title=session["title"])
    reply = Reply(text, choices=[Choice(engine.text("session_agree_button"),
                                        f"go:{AGREE_PREFIX}{session['id']}")],
                  expects="choice")
    store.enqueue_row(platform=chat["platform"], chat_id=chat["chat_id"], kind=KIND_OWNER,
                      period=f"s{session['id']}:agree", payload=_payload([reply]),
                      not_before=_stamp(now), now=_stamp(now), member_id=int(member_id),
                      team_id=int(session["team_id"]))


def _status(engine: TurnEngine, session: dict[str, Any]) -> str:
    items = engine.store.session_items(int(session["id"]))
    open_votes = [i for i in items if i["status"] == "open"
                  and ITEM_KINDS.get(i["kind"], ItemKind(_render_quote)).vote]
    lines = [engine.text("session_status", title=session["title"])]
    for item in open_votes:
        if session["vote"] == "private":
            lines.append(engine.text("session_count", n=item["body"].get("number", 1),
                                     votes=format_count(int(item["voters"]))))
    lines.append(engine.text("session_status_hint"))
    return "\n".join(lines)


def _theme_list(engine: TurnEngine) -> str:
    return "\n".join(f"{t.number}. {t.title}" for t in engine.content.praatplaat.themes)


# -- private votes -------------------------------------------------------------------------------


def _parse_vote(value: str) -> tuple[int, str] | None:
    raw = value[len(VOTE_PREFIX):] if value.startswith(VOTE_PREFIX) else ""
    item, _, option = raw.partition(":")
    return (int(item), option) if item.isdigit() and option else None


@action("cast_vote")
def cast_vote(turn: Turn, arg: str | None) -> None:
    """A member's private vote (``go:vote:<item>:<option>``): counted once, anonymously. Only
    the acknowledgement is said: the member's own conversation stays where it was (its prompt
    is not shown again, its buttons keep working)."""
    turn.quiet = True
    store = turn.store
    parsed = _parse_vote(str(turn.value or ""))
    item = store.session_item(parsed[0]) if parsed else None
    session = store.session(int(item["session_id"])) if item else None
    if parsed is None or item is None or session is None or session["vote"] != "private" \
            or not ITEM_KINDS.get(item["kind"], ItemKind(_render_quote)).vote:
        turn.say("session_vote_unknown")
        return
    team_id = int(session["team_id"])
    if turn.member_id is None or store.role_in_team(turn.member_id, team_id) is None:
        store.audit("session_vote:denied", actor=turn.member_id, team_id=team_id)
        turn.say("session_vote_not_member")
        return
    option = parsed[1]
    if option == SKIP:
        _next_ballot(turn, session, item)
        return
    if option not in {str(v) for v, _ in item["body"]["options"]}:
        turn.say("session_vote_unknown")
        return
    counted = store.cast_ballot(int(item["id"]), turn.member_id, option)
    if counted is None:
        turn.say("session_vote_closed")
        return
    if counted is False:
        turn.say("session_vote_twice")
        return
    voters = int((store.session_item(int(item["id"])) or {}).get("voters") or 0)
    turn.say("session_vote_counted", votes=format_count(voters))
    _count_in_group(turn, session, item, voters)
    _next_ballot(turn, session, item)


def _count_in_group(turn: Turn, session: dict[str, Any], item: dict[str, Any],
                    voters: int) -> None:
    """The group sees how many voted so far: one message per minute at most, with the count
    as it is when it is sent (a row not sent yet is brought up to date)."""
    now = turn.now().astimezone(UTC)
    bucket = int(now.timestamp()) // COUNT_EVERY
    key = f"i{item['id']}:{bucket}"
    reply = Reply(turn.text("session_count", n=item["body"].get("number", 1),
                            votes=format_count(voters)), thread_id=session.get("thread_id"))
    full_key = f"{session['platform']}:{session['chat_id']}:{KIND_COUNT}:s{session['id']}:{key}"
    if not turn.store.refresh_pending_row(full_key, _payload([reply])):
        send_at = datetime.fromtimestamp((bucket + 1) * COUNT_EVERY, UTC)
        _post(turn.engine, session, key, [reply], not_before=send_at, kind=KIND_COUNT)


def _next_ballot(turn: Turn, session: dict[str, Any], item: dict[str, Any]) -> None:
    """All votes at once: the member's next open vote that they did not vote on yet."""
    if session["mode"] != "all" or turn.member_id is None:
        return
    store = turn.store
    for other in store.session_items(int(session["id"])):
        if other["position"] <= item["position"] or other["status"] != "open":
            continue
        if not ITEM_KINDS.get(other["kind"], ItemKind(_render_quote)).vote:
            continue
        if store.has_ballot(int(other["id"]), turn.member_id):
            continue
        chats = [m for m in store.member_chats(int(session["team_id"]),
                                               _stamp(turn.now()))
                 if int(m["member_id"]) == turn.member_id]
        _send_ballots(turn.engine, session, other, chats)
        return


@condition("vote_button")
def vote_button(turn: Turn, arg: str | None) -> bool:
    return str(turn.value or "").startswith(VOTE_PREFIX)


# -- native polls --------------------------------------------------------------------------------


def _poll_matches(ref: str | None, poll_ref: str) -> bool:
    """A poll's stored platform reference (Telegram ``<message id>:<poll id>``, Matrix the
    event id) against the reference of an update (Telegram's poll id, Matrix's event id)."""
    if not ref:
        return False
    return ref == poll_ref or ref.rsplit(":", 1)[-1] == poll_ref


def handle_poll(engine: TurnEngine, inc: Incoming) -> list[Reply]:
    """A native poll's state (counts only): kept as the item's counts; a closed poll closes its
    item, and the conversation's summary follows when nothing is ending any more."""
    store = engine.store
    ref = inc.poll_ref or ""
    found = next((p for p in store.poll_items(inc.platform) if _poll_matches(p["ref"], ref)),
                 None)
    if found is None:
        return []
    item = store.session_item(int(found["id"]))
    session = store.session(int(found["session_id"]))
    if item is None or session is None:
        return []
    values = [str(v) for v, _ in item["body"]["options"]]
    counts = {v: int(n) for v, n in zip(values, inc.counts, strict=False)}
    voters = inc.voters or sum(counts.values())
    store.set_poll_counts(int(item["id"]), counts, voters)
    if inc.closed or item["status"] == "closing":
        store.close_vote(int(item["id"]), int(session["threshold"]), _stamp(_now(engine)))
        if session["status"] == "closing" and not any(
                i["status"] in ("open", "closing") for i in store.session_items(
                    int(session["id"]))):
            _finish(engine, session)
    return []


def finish_stuck_sessions(engine: TurnEngine, now: datetime | None = None) -> int:
    """The schedule's tick: a conversation whose poll did not report its end within
    :data:`CLOSING_GRACE` is summed up with the last counts the platform gave."""
    store = engine.store
    now = now or _now(engine)
    done = 0
    with store.transaction():
        for session in store.sessions_in("closing"):
            items = store.session_items(int(session["id"]))
            waiting = [i for i in items if i["status"] == "closing"]
            if not waiting:
                _finish(engine, session)
                done += 1
                continue
            ends = [store.outbox_ref(_row_key(session, f"i{i['id']}:end")) for i in waiting]
            out = [e for e in ends if e is not None and e[0] not in ("pending", "sending")]
            since = datetime.fromisoformat(str(session["closed_at"] or session["started_at"]))
            if len(out) == len(waiting) and now - since > CLOSING_GRACE:
                _finish(engine, session)
                done += 1
    return done


# -- agreements ("Wat we ermee doen") --------------------------------------------------------------


def _agree_session(turn: Turn) -> dict[str, Any] | None:
    sid = turn.ctx.get("agree_session")
    return turn.store.session(int(sid)) if sid is not None else None


@action("start_agreements")
def start_agreements(turn: Turn, arg: str | None) -> None:
    """The button under "which agreements?": only a reader of the team (owners read) writes
    them, for a conversation that was closed."""
    raw = str(turn.value or "")[len(AGREE_PREFIX):]
    session = turn.store.session(int(raw)) if raw.isdigit() else None
    team_id = int(session["team_id"]) if session else None
    if session is None or session["status"] == "open" or turn.member_id is None or \
            not turn.store.may_read_team(turn.member_id, int(session["team_id"])):
        turn.store.audit("session_agree:denied", actor=turn.member_id, team_id=team_id)
        turn.ctx.pop("agree_session", None)
        turn.say("session_agree_denied")
        return
    turn.ctx.update(agree_session=int(session["id"]), wwd_team=int(session["team_id"]))
    for key in ("wwd_text", "wwd_who"):
        turn.ctx.pop(key, None)
    if session.get("theme_id"):
        turn.ctx["wwd_theme"] = str(session["theme_id"])
    else:
        turn.ctx.pop("wwd_theme", None)
    turn.say("session_agree_intro", title=session["title"])


@condition("agreeing")
def agreeing(turn: Turn, arg: str | None) -> bool:
    return turn.ctx.get("agree_session") is not None


@condition("agreement_has_theme")
def agreement_has_theme(turn: Turn, arg: str | None) -> bool:
    return bool(turn.ctx.get("wwd_theme"))


@action("save_agreement")
def save_agreement(turn: Turn, arg: str | None) -> None:
    """One agreement as an action of the team (the read right is checked again by the store)."""
    from bot.engine.mirror import save_action

    session = _agree_session(turn)
    before = {int(r["id"]) for r in turn.store.team_actions(int(session["team_id"]), limit=500)
              } if session else set()
    save_action(turn, arg)
    if session is None:
        return
    for row in turn.store.team_actions(int(session["team_id"]), limit=500):
        if int(row["id"]) not in before:
            turn.store.link_action_to_session(int(row["id"]), int(session["id"]))
    if session.get("theme_id"):
        turn.ctx["wwd_theme"] = str(session["theme_id"])


@action("end_agreements")
def end_agreements(turn: Turn, arg: str | None) -> None:
    """Done: the agreements go to the group (its list so far, once per version of it)."""
    session = _agree_session(turn)
    for key in ("agree_session", "wwd_theme", "wwd_text", "wwd_who"):
        turn.ctx.pop(key, None)
    if session is None:
        return
    rows = turn.store.session_actions(int(session["id"]))
    if not rows:
        turn.say("session_agree_none")
        return
    lines = [turn.text("session_agreements_group", title=session["title"])]
    lines += ["• " + _describe(turn, r) for r in rows]
    lines.append(turn.text("session_agreements_footer"))
    _post(turn.engine, session, f"agreements:{len(rows)}", [Reply("\n".join(lines))])
    turn.say("session_agree_posted", n=len(rows))


def _describe(turn: Turn, row: dict[str, Any]) -> str:
    from bot.engine.mirror import _describe as describe

    return describe(turn, row)


# -- what the mirror of the last round says (a plug-in of the reports) ----------------------------


@dataclass(frozen=True, slots=True)
class SessionMirror:
    """What the team's mirror of its last published round says, as a linked group may see it
    (every figure from ``k + 1`` people): the round, the theme with the widest gap between the
    groups, per theme a few lines, and the team's mean per question where it is shown."""

    period: str
    widest: str | None = None
    lines: dict[str, list[str]] = field(default_factory=dict)
    team_means: dict[str, float] = field(default_factory=dict)


def _mirror(engine: TurnEngine, team_id: int, theme_id: str | None) -> SessionMirror | None:
    hook = engine.plugins.session_mirror
    if hook is None:
        return None
    try:
        return hook(team_id, theme_id, _k(engine))  # type: ignore[no-any-return]
    except Exception:  # the conversation goes on without the mirror
        log.exception("the mirror for a team conversation failed")
        return None
