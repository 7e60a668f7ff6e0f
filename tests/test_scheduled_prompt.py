"""A typed answer to a scheduled message: the engine remembers it, durably (issue 14).

When the outbox delivers a tip with options into a person's private chat, the engine records
in the conversation that this tip is their last prompt; a typed "4" then answers the tip (on
Matrix, without buttons, the only way to answer it), also after a restart in between. The next
prompt shown replaces it. Real SQLite file, the real dispatcher and engine; the platform's
sender is a small recording one (the Matrix end-to-end test sends the same through Synapse).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.channel import DeliveryKey
from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.messages import Reply, reply_to_payload
from bot.schedule.dispatcher import Dispatcher
from bot.schedule.tips import tip_replies
from bot.store import Store
from tests.people import Person

PLATFORM = "matrix"
USER = "@ann:example.org"
ROOM = "!dm:example.org"
LONG_AGO = "2000-01-01T00:00:00+00:00"


class RecordingSender:
    """The outgoing side of a platform that delivers everything (and remembers it)."""

    platform = PLATFORM
    idempotent = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []

    async def send(self, chat_id: str, replies: list[Reply], *, is_group: bool,
                   key: DeliveryKey | None = None) -> str | None:
        self.sent.append((chat_id, replies))
        return f"$event{len(self.sent)}"


def say(engine: Engine, text: str, n: int) -> list[Reply]:
    """Ann types ``text`` in her Matrix DM (event ``$in<n>``); ``/x`` is a command."""
    return Person(engine, USER, platform=PLATFORM, chat=ROOM).type(text, event_id=f"$in{n}")


def onboard(engine: Engine, store: Store) -> int:
    """Ann joins a team and stops at the first question of a theme."""
    team = store.create_team("Wijkteam Oost")
    code = store.create_invite(team)
    steps = [f"/start {code}", "ja", "Professional", "Eén thema kiezen", "3"]
    for n, text in enumerate(steps):
        replies = say(engine, text, n)
    assert "Vraag 1 van" in replies[-1].text
    return team


def deliver_tip(store: Store, engine: Engine, team: int) -> RecordingSender:
    """The monthly tip through the outbox, as `teamspiegel run` sends it."""
    tip = get_content().kalender.tip_for_month(3)
    replies = tip_replies(tip, "2026-03", group=False, source_line="Bron: test")
    assert replies[-1].choices  # 1..5: how recognisable is the tip
    with store.transaction():
        store.enqueue_row(platform=PLATFORM, chat_id=ROOM, kind="tip", period="2026-03",
                          payload=json.dumps([reply_to_payload(r) for r in replies]),
                          not_before=LONG_AGO, now=LONG_AGO,
                          member_id=store.member_id(PLATFORM, USER), team_id=team)
    sender = RecordingSender()
    dispatcher = Dispatcher(store, {PLATFORM: sender}, on_delivered=engine.scheduled_delivered)
    assert asyncio.run(dispatcher.run_once()).rows_sent == 1
    return sender


def test_a_typed_number_answers_the_tip_also_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "teamspiegel.db"
    store = Store(path)
    engine = Engine(store)
    team = onboard(engine, store)
    deliver_tip(store, engine, team)
    store.close()

    store = Store(path)  # a restart between the tip and the answer
    engine = Engine(store)
    replies = say(engine, "4", 10)
    (reaction,) = store.tip_reactions(team)
    assert (reaction["period"], reaction["scale"]) == ("2026-03", 4)
    assert not store.member_answers(store.member_id(PLATFORM, USER))  # not the question's
    assert replies
    store.close()


def test_the_label_works_too_and_answers_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "teamspiegel.db")
    engine = Engine(store)
    team = onboard(engine, store)
    sender = deliver_tip(store, engine, team)
    label = sender.sent[-1][1][-1].choices[1].label  # the option for 2, as it reads
    say(engine, label, 10)
    assert [r["scale"] for r in store.tip_reactions(team)] == [2]
    store.close()


def test_without_the_tip_or_after_the_next_prompt_a_number_is_the_question_s(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "teamspiegel.db")
    engine = Engine(store)
    team = onboard(engine, store)
    member = store.member_id(PLATFORM, USER)
    say(engine, "4", 10)  # no tip: the question under the cursor
    assert [a["scale"] for a in store.member_answers(member)] == [4]
    assert store.tip_reactions(team) == []

    deliver_tip(store, engine, team)
    say(engine, "/menu", 11)  # a new prompt is shown: typed input is for that one now
    say(engine, "Verder waar je was", 12)
    say(engine, "5", 13)
    assert store.tip_reactions(team) == []
    store.close()


def test_the_engine_keeps_the_options_in_the_conversation(store: Store, engine: Engine) -> None:
    team = onboard(engine, store)
    tip = get_content().kalender.tip_for_month(3)
    replies = tip_replies(tip, "2026-03", group=False, source_line="Bron: test")
    engine.scheduled_delivered(PLATFORM, store.member_id(PLATFORM, USER), replies[-1])
    conv = store.load_conversation(PLATFORM, USER)
    assert conv is not None and conv.context.get("_s")
    engine.scheduled_delivered(PLATFORM, 10**15, replies[-1])  # nobody: nothing happens
    assert store.tip_reactions(team) == []
