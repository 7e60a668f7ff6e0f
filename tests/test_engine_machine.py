"""The engine's lean ``transitions`` event and transition paths (issue 15) do what the library
does for the engine's configuration: conditions and unless in order (the first that fails stops
the transition and the next one is tried), before callbacks in order, then the state change; an
invalid trigger is ignored with the library's warning; an exception propagates with the state
unchanged. Each scenario runs on the library's own ``Machine`` too, and both must agree."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from transitions import EventData, Machine

from bot.engine.core import _Event, _Machine, _Model, _Transition, _TurnCall


class Recorder:
    """Conditions and callbacks that write what they were called with into one log."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.answers: dict[str, bool] = {}

    def cond(self, name: str) -> Callable[[EventData], bool]:
        def check(event: EventData) -> bool:
            self.log.append(f"{name}@{event.model.state}")
            return self.answers.get(name, not name.startswith("u"))  # unless: False
        return check

    def act(self, name: str, fail: bool = False) -> Callable[[EventData], None]:
        def run(event: EventData) -> None:
            self.log.append(f"{name}@{event.model.state}:{event.kwargs.get('n')}")
            if fail:
                raise RuntimeError(name)
        return run


def build(cls: type[Machine], rec: Recorder, **extra: Any) -> Machine:
    machine = cls(model=None, states=["a", "b", "c"], initial="a", send_event=True,
                  auto_transitions=False, ignore_invalid_triggers=True, **extra)
    # "go" from a: two guarded ways, then a fallback; from b: an internal transition
    machine.add_transition("go", "a", "b", conditions=[rec.cond("c1"), rec.cond("c2")],
                           unless=[rec.cond("u1")], before=[rec.act("x1"), rec.act("x2")])
    machine.add_transition("go", "a", "c", conditions=[rec.cond("c3")], before=[rec.act("y")])
    machine.add_transition("go", "a", "a", before=[rec.act("z")])
    machine.add_transition("stay", "b", None, before=[rec.act("s")])
    machine.add_transition("boom", "a", "b", before=[rec.act("ok"), rec.act("bad", fail=True)])
    machine.add_transition("back", "*", "a", before=[rec.act("back")])
    return machine


class Plain:
    def __init__(self, state: str) -> None:
        self.state = state


def play(cls: type[Machine], answers: dict[str, bool],
         steps: list[str]) -> tuple[list[str], list[Any], str]:
    rec = Recorder()
    rec.answers = answers
    machine = build(cls, rec)
    model = _Model("a") if cls is _Machine else Plain("a")
    machine.add_model(model, initial="a")
    results: list[Any] = []
    for n, trigger in enumerate(steps):
        try:
            results.append(machine.events[trigger].trigger(model, n=n))
        except RuntimeError as exc:
            results.append(f"raised {exc}")
        results.append(model.state)
    return rec.log, results, model.state


SCENARIOS = [
    ({}, ["go", "stay", "back"]),  # the first way passes
    ({"c2": False}, ["go", "go"]),  # c2 fails: c1, c2 asked, then the second way
    ({"u1": True}, ["go"]),  # unless holds: the second way
    ({"c1": False, "c3": False}, ["go"]),  # only the fallback
    ({}, ["stay", "go", "stay", "go"]),  # invalid from a, then internal in b; invalid go in b
    ({}, ["boom", "go"]),  # a before callback raises: the state stays a
]


@pytest.mark.parametrize(("answers", "steps"), SCENARIOS)
def test_lean_machine_agrees_with_the_library(answers: dict[str, bool], steps: list[str]) -> None:
    ours = play(_Machine, answers, steps)
    library = play(Machine, answers, steps)
    assert ours == library


def test_order_of_conditions_unless_and_before_and_the_state_change() -> None:
    log, results, state = play(_Machine, {"c2": False}, ["go"])
    # c1 passes, c2 fails (u1 never asked); the second way: c3, then y while still in a
    assert log == ["c1@a", "c2@a", "c3@a", "y@a:0"]
    assert results == [True, "c"] and state == "c"
    log, results, _ = play(_Machine, {}, ["go"])
    assert log == ["c1@a", "c2@a", "u1@a", "x1@a:0", "x2@a:0"]
    assert results == [True, "b"]


def test_an_invalid_trigger_is_ignored_with_the_library_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="transitions.core"):
        log, results, state = play(_Machine, {}, ["stay"])
    assert results == [False, "a"] and log == [] and state == "a"
    assert [r.getMessage() for r in caplog.records] == ["Can't trigger event stay from state a!"]


def test_a_failing_callback_propagates_and_leaves_the_state() -> None:
    log, results, state = play(_Machine, {}, ["boom", "go"])
    assert log[:2] == ["ok@a:0", "bad@a:0"]
    assert results[:2] == ["raised bad", "a"]
    assert results[2:] == [True, "b"] and state == "b"


def test_the_lean_paths_are_the_ones_that_run() -> None:
    rec = Recorder()
    machine = build(_Machine, rec)
    assert machine.lean()
    assert all(isinstance(e, _Event) for e in machine.events.values())
    transitions = [t for e in machine.events.values() for ts in e.transitions.values() for t in ts]
    assert transitions and all(isinstance(t, _Transition) and t._plain for t in transitions)


def test_a_machine_outside_the_lean_configuration_takes_the_library_path() -> None:
    rec = Recorder()
    machine = build(_Machine, rec, prepare_event=[rec.act("prepare")],
                    finalize_event=[rec.act("finalize")])
    assert not machine.lean()
    model = _Model("a")
    machine.add_model(model, initial="a")
    assert machine.events["go"].trigger(model, n=7)
    assert rec.log == ["prepare@a:7", "c1@a", "c2@a", "u1@a", "x1@a:7", "x2@a:7", "finalize@b:7"]
    # an after callback makes a transition not plain: it still runs, after the change
    t = machine.events["back"].transitions["b"][0]
    t.add_callback("after", rec.act("after"))
    assert not t._plain
    rec.log.clear()
    assert machine.events["back"].trigger(model, n=8)
    assert rec.log == ["prepare@b:8", "back@b:8", "after@a:8", "finalize@a:8"]


def test_a_conversation_model_gets_its_state_only(engine: Any) -> None:
    """The engine's models are registered without the library's per-model convenience methods
    (``trigger``, ``may_*``, ``is_*``: ~35 KB per conversation); events still move them."""
    from tests.people import typed

    engine.handle(typed("m1", "/start"))
    model = engine._models[("console", "m1")]
    assert model in engine.machine.models
    assert vars(model) == {}  # nothing but the state (a slot)
    assert model.state == "onboarding.welcome"
    engine.handle(typed("m1", "ja"))
    assert model.state == engine.store.load_conversation("console", "m1").state != "onboarding.welcome"
    # any other model is decorated as the library does
    other = Plain("a")
    rec = Recorder()
    machine = build(_Machine, rec)
    machine.add_model(other, initial="a")
    assert other.go(n=1) and other.state == "b" and other.is_b()  # type: ignore[attr-defined]


def _turn_call_machine(cls: type[Machine], log: list[str], answers: dict[str, Any]) -> Machine:
    """The scenario machine of :func:`build` with the engine's kind of callables: registered
    functions taking the turn and an argument (:class:`_TurnCall`)."""

    def cond(turn: dict[str, Any], arg: str | None) -> Any:
        log.append(f"{arg}@{turn['n']}")
        return answers.get(str(arg), not str(arg).startswith("u"))

    def act(turn: dict[str, Any], arg: str | None) -> None:
        log.append(f"{arg}:{turn['n']}")
        if arg == "bad":
            raise RuntimeError(arg)

    machine = cls(model=None, states=["a", "b", "c"], initial="a", send_event=True,
                  auto_transitions=False, ignore_invalid_triggers=True)
    machine.add_transition("go", "a", "b", conditions=[_TurnCall(cond, "c1"), _TurnCall(cond, "c2")],
                           unless=[_TurnCall(cond, "u1")],
                           before=[_TurnCall(act, "x1"), _TurnCall(act, "x2")])
    machine.add_transition("go", "a", "c", conditions=[_TurnCall(cond, "c3")],
                           before=[_TurnCall(act, "y")])
    machine.add_transition("go", "a", "a", before=[_TurnCall(act, "z")])
    machine.add_transition("stay", "b", None, before=[_TurnCall(act, "s")])
    machine.add_transition("boom", "a", "b", before=[_TurnCall(act, "ok"), _TurnCall(act, "bad")])
    machine.add_transition("back", "*", "a", before=[_TurnCall(act, "back")])
    return machine


@pytest.mark.parametrize(("answers", "steps"), [
    *SCENARIOS,
    ({"c1": [], "c3": 1}, ["go"]),  # not a bool: compared with == True, as the library does
    ({"c1": 1, "c2": "yes"}, ["go", "back", "go"]),
])
@pytest.mark.parametrize("state_callbacks", [False, True])
def test_direct_calls_agree_with_the_library(answers: dict[str, Any], steps: list[str],
                                             state_callbacks: bool) -> None:
    """A plain transition whose callables are all :class:`_TurnCall` calls the registered
    functions with the turn directly: same calls, same order, same results as the library,
    also where states have enter and exit callbacks (they get the event's data)."""
    runs = []
    for cls in (_Machine, Machine):
        log: list[str] = []
        machine = _turn_call_machine(cls, log, answers)
        if state_callbacks:
            def seen(what: str, log: list[str] = log) -> Callable[[EventData], None]:
                def callback(event: EventData) -> None:
                    log.append(f"{what}:{event.event.name}:{event.transition.source}>"
                               f"{event.transition.dest}:{event.state.name}:"
                               f"{event.model.state}:{event.kwargs['turn']['n']}")
                return callback
            for name in ("a", "b", "c"):
                machine.get_state(name).add_callback("enter", seen(f"enter-{name}"))
            machine.get_state("a").add_callback("exit", seen("exit-a"))
        model = _Model("a") if cls is _Machine else Plain("a")
        machine.add_model(model, initial="a")
        results: list[Any] = []
        for n, trigger in enumerate(steps):
            try:
                results.append(machine.events[trigger].trigger(model, turn={"n": n}))
            except RuntimeError as exc:
                results.append(f"raised {exc}")
            results.append(model.state)
        runs.append((log, results))
    assert runs[0] == runs[1]


def test_the_direct_path_is_taken_only_for_turn_calls() -> None:
    log: list[str] = []
    machine = _turn_call_machine(_Machine, log, {})
    go = machine.events["go"].transitions["a"][0]
    assert go._direct is not None
    # a callback of another kind: the transition keeps to the wrappers' path, in order
    go.add_callback("before", lambda event: log.append("plain"))
    assert go._plain and go._direct is None
    model = _Model("a")
    machine.add_model(model, initial="a")
    assert machine.events["go"].trigger(model, turn={"n": 0}) and model.state == "b"
    assert log == ["c1@0", "c2@0", "u1@0", "x1:0", "x2:0", "plain"]


def test_the_engines_transitions_take_the_direct_path(engine: Any) -> None:
    transitions = [t for e in engine.machine.events.values()
                   for ts in e.transitions.values() for t in ts]
    assert transitions and all(t._direct is not None for t in transitions)
