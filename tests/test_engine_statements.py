"""How many SQL statements an ordinary answer turn runs (issue 15): counted with SQLite's trace
callback, a behaviour rather than a timing. Transaction control (BEGIN/COMMIT, savepoints) is
counted apart: with group commit it is shared by the batch.

The issue's target is at most 3 statements per ordinary answer turn; today a scale answer runs 7
(replay claim, conversation load, the period check, the answer, the run's activity, the
conversation, the owed reply). These tests pin today's numbers so a change that adds a
statement to every turn is noticed; lower them as statements are folded together."""

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
    assert len(work) <= 7, "\n".join(work)
    assert len(control) == 2  # one transaction: BEGIN and COMMIT
    assert sum(s.lstrip().upper().startswith(("INSERT", "UPDATE")) for s in work) <= 5

    work, _ = counted(store, turns.press("verder"))  # on to the next question
    assert len(work) <= 4, "\n".join(work)

    # without an owed reply (a platform that confirms nothing): one statement less
    work, _ = counted(store, turns.press("3", owe=False))
    assert len(work) <= 6, "\n".join(work)
