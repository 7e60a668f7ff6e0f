"""How many SQL statements an ordinary answer turn runs (issue 15): counted with SQLite's trace
callback, a behaviour rather than a timing. Transaction control (BEGIN/COMMIT, savepoints) is
counted apart: with group commit it is shared by the batch.

The issue's target is at most 3 statements per ordinary answer turn, and a scale answer sent
through Telegram runs 3: the conversation load (which also reads the team's published periods;
served from the conversation cache after the person's previous turn, when the load is a
``PRAGMA data_version`` that proves the cached row current: bot.store.convcache), the answer
upsert (whose ``updated_at`` is also the run's activity) and the conversation update (which also
carries the owed reply and the window of recent Telegram update ids: the replay check). Release 0.4's first pass ran 7: a claim in ``handled_events``, the period check, the
run's ``last_activity_at`` and a row in ``owed_replies`` came on top. These tests pin the
numbers so a statement that comes back is noticed."""

from __future__ import annotations

from collections.abc import Callable

from bot.engine.core import Engine
from bot.engine.messages import Incoming

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class Turns:
    def __init__(self, engine: Engine, invite: str, user: str = "42") -> None:
        self.engine, self.invite, self.user, self.n = engine, invite, user, 0

    def incoming(self, kind: str, text: str, *, value: str | None = None,
                 command: str | None = None, args: str = "") -> Incoming:
        self.n += 1
        conv = self.engine.store.load_conversation("telegram", self.user)
        token = str(conv.prompt_seq) if conv and kind == "choice" else None
        return Incoming("telegram", self.user, self.user, kind, text=text, value=value,
                        event_id=f"u{self.n}", prompt_token=token, command=command, args=args)

    def send(self, kind: str, text: str, **kwargs: str) -> list:
        return self.engine.handle(self.incoming(kind, text, **kwargs), owe=True)

    def press(self, value: str, owe: bool = True) -> Callable[[], list]:
        """The turn of a button press, to run (and count) later."""
        inc = self.incoming("choice", value, value=value)
        return lambda: self.engine.handle(inc, owe=owe)


def counted(store, turn) -> tuple[list[str], list[str]]:  # noqa: ANN001
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        turn()
    finally:
        store.conn.set_trace_callback(None)
    control = [s for s in statements if s.lstrip().upper().startswith(CONTROL)]
    work = [s for s in statements if s not in control]
    return work, control


def test_statements_per_ordinary_answer_turn(store, engine):
    invite = store.create_invite(store.create_team("Wijkteam Zuid"))
    turns = Turns(engine, invite)
    turns.send("command", f"/start {invite}", command="start", args=invite)
    for value in ("ja", "professional", "tour"):
        turns.press(value)()

    work, control = counted(store, turns.press("4"))  # a scale answer
    assert [r.text.split("?")[0] for r in engine.current_prompt("telegram", "42")] == [
        "Wil je dit toelichten"]
    assert len(work) <= 3, "\n".join(work)
    assert len(control) == 2  # one transaction: BEGIN and COMMIT
    writes = [s for s in work if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert [w.split("(")[0].split(" SET")[0].split()[-1] for w in writes] == [
        "answers", "conversations"], "\n".join(work)
    for gone in ("handled_events", "owed_replies", "UPDATE runs", "FROM snapshots s\n"):
        assert not any(gone in s for s in work[1:]), (gone, work)
    # the conversation came from the cache: its load is the check that the cache is current
    assert work[0] == "PRAGMA data_version", work
    assert not any("FROM conversations" in s for s in work), work

    work, _ = counted(store, turns.press("verder"))  # on to the next question
    assert len(work) <= 2, "\n".join(work)

    # without an owed reply (a platform that confirms nothing): the same three
    work, _ = counted(store, turns.press("3", owe=False))
    assert len(work) <= 3, "\n".join(work)


def test_a_replayed_update_costs_one_read(store, engine):
    invite = store.create_invite(store.create_team("Wijkteam Zuid"))
    turns = Turns(engine, invite)
    turns.send("command", f"/start {invite}", command="start", args=invite)
    inc = turns.incoming("choice", "ja", value="ja")
    engine.handle(inc, owe=True)
    # the consent turn wrote the member row: the conversation is read from the database
    work, _ = counted(store, lambda: engine.handle(inc, owe=True))
    assert work[0] == "PRAGMA data_version" and len(work) == 2, work
    assert work[1].lstrip().startswith("SELECT"), work
    # after an ordinary turn it is cached: a replay then reads nothing else
    for value in ("professional", "tour"):
        turns.press(value)()
    inc = turns.incoming("choice", "4", value="4")
    engine.handle(inc, owe=True)
    work, _ = counted(store, lambda: engine.handle(inc, owe=True))
    assert work == ["PRAGMA data_version"], work


def test_the_conversation_update_writes_only_what_changed(store, engine):
    """An ordinary turn's conversation UPDATE leaves out the member id (unchanged) and, without
    a debt, the owed reply: an indexed column in the SET list rewrites its index entry (the
    ``conversations_member`` and the partial ``conversations_owed`` index) even when its
    value stays the same."""
    invite = store.create_invite(store.create_team("Wijkteam Zuid"))
    turns = Turns(engine, invite)
    turns.send("command", f"/start {invite}", command="start", args=invite)
    for value in ("ja", "professional", "tour"):
        turns.press(value)()

    work, _ = counted(store, turns.press("4", owe=False))
    update = [s for s in work if s.lstrip().startswith("UPDATE conversations")]
    assert len(update) == 1, work
    sets = update[0].split(" SET ")[1].split(" WHERE ")[0]
    assert "member_id" not in sets and "owed_" not in sets, update
    assert "recent_events" in sets and "state" in sets and "context" in sets, update

    work, _ = counted(store, turns.press("verder", owe=True))
    update = [s for s in work if s.lstrip().startswith("UPDATE conversations")]
    assert "owed_event" in update[0] and "member_id" not in update[0], update
    assert store.owed_count() == 1


def test_a_changed_member_id_is_saved(store):
    """The member id a load saw is remembered: a changed one is written, an unchanged one
    and the stored debt and update-id window are kept."""
    from bot.store import Conversation

    m1 = store.get_or_create_member("telegram", "7")
    m2 = store.get_or_create_member("telegram", "8")
    with store.transaction():
        conv = Conversation(None, "telegram", "7", m1, "menu.main", {"a": 1}, 1, user_id="7",
                            recent_events="5 6", owe=("e1", "2026-01-01T00:00:00"))
        store.save_conversation(conv)
    with store.transaction():
        conv = store.load_conversation("telegram", "7")
        assert conv is not None and conv.member_id == m1
        conv.member_id, conv.recent_events, conv.state = m2, None, "menu.other"
        store.save_conversation(conv)
    with store.transaction():
        again = store.load_conversation("telegram", "7")
        assert again is not None
        assert (again.member_id, again.state, again.recent_events) == (m2, "menu.other", "5 6")
        assert store.owed_replies("telegram")[0]["event_id"] == "e1"
        again.member_id = None  # and back to none (a conversation before joining)
        store.save_conversation(again)
    conv = store.load_conversation("telegram", "7")
    assert conv is not None and conv.member_id is None
