"""The dialogue engine: one ``Incoming`` in, a list of ``Reply`` out, every turn durable.

Per turn: load the conversation from the store, turn the input into a trigger, let the shared
``transitions`` machine move the conversation (conditions and actions are looked up in
:mod:`bot.engine.registry`, filled by the modules imported below), render the new state's prompt, and commit everything in one
transaction *before* any reply is returned. A crash between two turns loses nothing that the
person saw acknowledged.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any

from transitions import Event, EventData, Machine, State, Transition

from bot.content import Content, get_content

# the modules that register the dialogues' names (conditions, actions, providers, renderers)
from bot.engine import access as _access  # noqa: F401  typed invites, the owners' flow
from bot.engine import mirror as _mirror  # noqa: F401  the mirror, "Wat we ermee doen"
from bot.engine import packs as _packs  # noqa: F401  content packs
from bot.engine import replay, understand
from bot.engine import rounds as _rounds  # noqa: F401  rounds, resuming, reviewing
from bot.engine import session as _session  # noqa: F401  the team conversation
from bot.engine import team as _team  # noqa: F401  team leaders' self-service
from bot.engine.actions import apply_edit
from bot.engine.flows import Dialogues, StateSpec, load_dialogues
from bot.engine.groups import handle_group
from bot.engine.messages import (
    GLOBAL_BUTTONS,
    SCALE_VALUES,
    Choice,
    CommandHelp,
    Failure,
    Incoming,
    OwedPrompt,
    Reply,
)
from bot.engine.placeholders import check_placeholders, passed_values
from bot.engine.registry import REGISTRY
from bot.engine.turn import MAX_TEXT, Plugins, Turn
from bot.nl import format_count, format_years
from bot.store import Conversation, Store, is_outage, utcnow
from bot.yamlio import ConfigError, load_yaml

__all__ = ["MAX_TEXT", "MEDIA_KINDS", "TEXT_VALUES", "Engine", "OwedPrompt", "Plugins", "Turn"]

log = logging.getLogger(__name__)

#: placeholders every text may use; their values come from the settings (see text_values)
TEXT_VALUES = ("controller", "retention", "min_group")


def text_values(settings: dict[str, Any], unknown_controller: str) -> dict[str, str]:
    """The engine-wide text values: who is responsible (``unknown_controller``: the words for
    "not configured"), how long data is kept, the k."""
    return {
        "controller": str(settings.get("controller") or unknown_controller),
        "retention": format_years(float(settings.get("retention_years") or 3)),
        "min_group": str(settings.get("min_group") or 3),
    }


START_STATE = "onboarding.welcome"
#: an undecryptable message in a group room is explained at most this often per room (seconds)
GROUP_EXPLAIN_EVERY = 3600.0
#: context key: the options of the last scheduled message a person got (a tip's 1..5), which a
#: typed number or label answers until the next prompt is shown (:meth:`Engine.scheduled_delivered`)
SCHEDULED = "_s"
#: button values with these prefixes are global triggers, valid from any state
BUTTON_TRIGGERS = GLOBAL_BUTTONS
#: what a transport may call a message the engine cannot read; each has a text ``media_<kind>``
#: ("Foto's"), anything else is ``media_other``
MEDIA_KINDS = ("photo", "sticker", "voice", "audio", "video", "document", "location", "contact",
               "poll")


class _State(State):
    """A state of the shared machine. Our states are named by strings (no Enum), so the name
    is a plain attribute rather than the library's property; entering and leaving run the
    state's callbacks (none are given today) without the library's two log lines each."""

    name: str = ""  # shadows State.name (a property) with an instance attribute

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.name = name

    def enter(self, event_data: EventData) -> None:
        if self.on_enter:
            event_data.machine.callbacks(self.on_enter, event_data)

    def exit(self, event_data: EventData) -> None:
        if self.on_exit:
            event_data.machine.callbacks(self.on_exit, event_data)


#: the logger whose warning ``transitions`` writes for a trigger a state does not take
_TRANSITIONS_LOG = logging.getLogger("transitions.core")


class _Transition(Transition):
    """A transition of the shared machine. Where it is *plain* (every condition and callback a
    callable, no ``prepare`` or ``after`` callbacks: every transition this engine adds) it runs
    as the library's :meth:`Transition.execute` does with the machine's lean configuration
    (:meth:`_Machine.lean`): the conditions in order (``conditions`` then ``unless``, the first
    that fails stops it), the ``before`` callbacks in order, then the state change (the source's
    exit callbacks, the model's state, the destination's enter callbacks), without the
    library's chains, per-callback lookups and debug lines. Anything else takes the library's
    path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain = self._is_plain()
        self._direct = self._direct_calls()

    def _is_plain(self) -> bool:
        return (not self.prepare and not self.after
                and all(callable(f) for f in self.before)
                and all(callable(c.func) for c in self.conditions))

    def _direct_calls(self) -> tuple[tuple[tuple[Any, Any, Any], ...],
                                     tuple[tuple[Any, Any], ...]] | None:
        """Where every condition and ``before`` callback is a dialogue's :class:`_TurnCall`,
        they are called here with the turn directly (the same functions and arguments in the
        same order, without a wrapper's frame per call); else None."""
        if not self._plain:
            return None
        checks: list[tuple[Any, Any, Any]] = []
        for cond in self.conditions:
            check = cond.func
            if not isinstance(check, _TurnCall):
                return None
            checks.append((check.func, check.arg, cond.target))
        acts: list[tuple[Any, Any]] = []
        for act in self.before:
            if not isinstance(act, _TurnCall):
                return None
            acts.append((act.func, act.arg))
        return tuple(checks), tuple(acts)

    def add_callback(self, trigger: str, func: Any) -> None:
        super().add_callback(trigger, func)
        self._plain = self._is_plain()
        self._direct = self._direct_calls()

    def execute(self, event_data: EventData) -> bool:
        if self._plain and event_data.machine.lean():
            return self._run(event_data)
        return bool(super().execute(event_data))

    def _run_direct(self, event: Event, state: State, model: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> bool:
        """:meth:`_run` of a transition whose callables are all :class:`_TurnCall` (``_direct``):
        the same calls, in the same order. The event's data is made only when a state's
        callbacks are there to take it (the source's exit, the destination's enter or final)."""
        turn = kwargs["turn"]
        checks, acts = self._direct  # type: ignore[misc]
        for check, arg, target in checks:
            if not check(turn, arg) == target:
                return False
        for act, arg in acts:
            act(turn, arg)
        if self.dest:  # None: an internal transition, the state stays
            machine = event.machine
            states = machine.states
            source = states[self.source]
            dest = states[self.dest]
            if source.on_exit or dest.on_enter or dest.final:
                event_data = EventData(state, event, machine, model, args, kwargs)
                event_data.transition = self
                self._move(event_data)
            else:
                setattr(model, machine.model_attribute, dest.value)
        return True

    def _run(self, event_data: EventData) -> bool:
        """:meth:`execute` of a plain transition on a lean machine (:meth:`_Event.trigger` runs
        a transition of :class:`_TurnCall` callables through :meth:`_run_direct` instead)."""
        for cond in self.conditions:  # plain: every func is a callable
            if not cond.func(event_data) == cond.target:  # type: ignore[operator]
                return False
        for func in self.before:
            func(event_data)  # type: ignore[operator]
        if self.dest:  # None: an internal transition, the state stays
            self._move(event_data)
        return True

    def _move(self, event_data: EventData) -> None:
        """The state change of a plain transition with a destination, as the library makes
        it: the source's exit callbacks, the model's new state, the destination's enter and
        final callbacks (for :meth:`_run` and :meth:`_run_direct`)."""
        machine = event_data.machine
        states = machine.states
        source = states[self.source]
        if source.on_exit:
            source.exit(event_data)
        assert self.dest is not None  # (callers: only a transition with a destination)
        dest = states[self.dest]
        setattr(event_data.model, machine.model_attribute, dest.value)
        event_data.state = dest
        if dest.on_enter:
            dest.enter(event_data)
        if dest.final:
            machine.callbacks(machine.on_final, event_data)


class _Event(Event):
    """An event (trigger) of the shared machine. With the machine's lean configuration
    (:meth:`_Machine.lean`) it does what the library's ``trigger`` -> ``_process`` ->
    ``_trigger`` -> ``_process`` chain does for it: the transitions from the model's state
    are tried in order until one executes; a state that does not take the trigger logs the
    library's warning and gives False (``ignore_invalid_triggers``); an exception propagates
    (no ``on_exception`` callbacks). No partial, queue or callback lists are built per call."""

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        machine = self.machine
        if not machine.lean():
            return bool(super().trigger(model, *args, **kwargs))
        value = getattr(model, machine.model_attribute)
        state = machine.states.get(value) if isinstance(value, str) else None
        if state is None:
            state = machine.get_state(value)
        transitions = self.transitions.get(state.name)
        if transitions is None:
            ignore = state.ignore_invalid_triggers
            if ignore is None:
                ignore = machine.ignore_invalid_triggers
            if not ignore:
                return bool(super().trigger(model, *args, **kwargs))  # raises MachineError
            # the library's words, formatted as it does
            _TRANSITIONS_LOG.warning(f"{machine.name}Can't trigger event {self.name} "
                                     f"from state {state.name}!")
            return False
        event_data: EventData | None = None  # made for the first transition that needs it
        for trans in transitions:  # the machine's transition_cls: _Transition
            if trans._direct is not None:  # type: ignore[attr-defined]
                if trans._run_direct(self, state, model, args, kwargs):  # type: ignore[attr-defined]
                    return True
                continue
            if event_data is None:
                event_data = EventData(state, self, machine, model, args, kwargs)
            event_data.transition = trans
            if trans._run(event_data) if trans._plain else trans.execute(  # type: ignore[attr-defined]
                    event_data):
                event_data.result = True
                break
        return bool(event_data is not None and event_data.result)


class _Machine(Machine):
    """The shared ``transitions`` machine. Every callback and condition given to it is a
    callable taking the event (``send_event=True``): none needs resolving by name, so the
    library's per-call lookup (``resolve_callable``) is skipped. Its events and transitions
    are :class:`_Event` and :class:`_Transition`: lean while :meth:`lean` holds."""

    state_cls = _State
    event_cls = _Event
    transition_cls = _Transition

    def add_model(self, model: Any, initial: Any = None) -> None:
        """A conversation's :class:`_Model` is registered with its state only: the engine fires
        events through ``machine.events`` and never calls a model's convenience methods, so the
        library's ``trigger``/``may_*``/``is_*`` partials (about a hundred per model, ~35 KB
        and most of a millisecond each) are not made. The engine adds each model once (its
        cache is keyed by conversation). Any other model is decorated as usual."""
        if not isinstance(model, _Model):
            super().add_model(model, initial)
            return
        self.set_state(self.initial if initial is None else initial, model)  # type: ignore[arg-type]
        self.models.append(model)

    def lean(self) -> bool:
        """The configuration the lean event and transition paths are written for: events get
        the EventData, no queue, and no machine-wide prepare/before/after/finalize/exception
        callbacks."""
        # the lists behind the library's properties (transitions is pinned below 0.10)
        return bool(self.send_event and not (
            self._queued or self._prepare_event or self._before_state_change
            or self._after_state_change or self._finalize_event or self._on_exception))

    def get_state(self, state: str | Enum) -> State:
        # about seven times per event, always with a known state's name
        found = self.states.get(state) if isinstance(state, str) else None
        return found if found is not None else super().get_state(state)

    def callback(self, func: str | Callable[..., bool | None], event_data: EventData) -> None:
        if isinstance(func, str):  # a name: never given by this engine, resolved as usual
            super().callback(func, event_data)
            return
        func(event_data)

    def callbacks(
        self, funcs: Iterable[str | Callable[..., bool | None]], event_data: EventData
    ) -> None:
        # called about ten times per event, mostly with nothing to call (a state's enter and
        # exit, the machine's prepare and finalize lists): the library's per-callback INFO
        # line is left out, the calls are the same and in the same order
        for func in funcs:
            if isinstance(func, str):
                super().callback(func, event_data)
            else:
                func(event_data)


class _TurnCall:
    """A dialogue's condition or action as the machine holds it: called with the event, it
    calls the registered function with the turn and the argument written after a colon in the
    YAML (``value:ja``). A plain transition of the lean machine calls ``func`` directly."""

    __slots__ = ("arg", "func")

    def __init__(self, func: Callable[[Any, str | None], Any], arg: str | None) -> None:
        self.func = func
        self.arg = arg

    def __call__(self, event: EventData) -> Any:
        return self.func(event.kwargs["turn"], self.arg)


class _Model:
    """What the shared machine moves: one per conversation, state only."""

    __slots__ = ("state", "__dict__")

    def __init__(self, state: str) -> None:
        self.state = state


def _split(name: str) -> tuple[str, str | None]:
    head, sep, arg = name.partition(":")
    return head, (arg if sep else None)


class Engine:
    """Runs the dialogue flows for every conversation on every platform."""

    def __init__(
        self,
        store: Store,
        content: Content | None = None,
        dialogues: Dialogues | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        settings: dict[str, Any] | None = None,
        model_cache_size: int = 4096,
    ) -> None:
        self.store = store
        self.content = content or get_content()
        self.dialogues = dialogues or load_dialogues()
        self.clock = clock or partial(datetime.now, UTC)  # (no Python frame per call)
        self.settings = settings or {}
        #: values every text may use (``{controller}`` in the consent text, ...)
        self.text_values: dict[str, str] = text_values(
            self.settings, self.dialogues.text("controller_unknown"))
        #: texts without values of the caller's, filled in once (see :meth:`text`)
        self._plain_texts: dict[str, str] = {}
        self.registry = REGISTRY
        #: the prompt renderers by name (looked up once per prompt)
        self._renderers = self.registry["renderer"]
        self._check_names()
        self.machine = _Machine(
            model=None,
            states=list(self.dialogues.states),
            initial=START_STATE,
            send_event=True,
            auto_transitions=False,
            ignore_invalid_triggers=True,
        )
        self._add_transitions()
        self._models: OrderedDict[tuple[str, str], _Model] = OrderedDict()
        self._cache_size = model_cache_size
        #: optional features the application plugs in (reports, dashboard and invite links)
        #: without the engine importing them
        self.plugins = Plugins()
        #: derived values that depend only on content (e.g. a run's question list)
        self.memo: dict[Any, Any] = {}
        #: a say-state's own options (its ``choices`` list): the Choices and their [label, value]
        #: pairs as the context keeps them (``_p``), made once per state; never to be changed
        self._static_choices: dict[str, tuple[tuple[Choice, ...], list[list[str]]]] = {}
        #: group rooms -> when an undecryptable message there was last explained (monotonic)
        self._explained: OrderedDict[tuple[str, str], float] = OrderedDict()

    def text(self, key: str, **values: object) -> str:
        """A text of ``texts.yaml`` with its placeholders filled in; the engine-wide values
        (:data:`TEXT_VALUES`) fill in whatever the caller did not pass. A text without values
        of the caller's is the same every time: made once."""
        if not values:
            found = self._plain_texts.get(key)
            if found is not None:
                return found
        extra = {name: self.text_values[name] for name in self.dialogues.placeholders(key)
                 if name in self.text_values and name not in values}
        text = self.dialogues.text(key, **values, **extra)
        if not values:
            self._plain_texts[key] = text
        return text

    # -- building the machine ------------------------------------------------------------

    def _callable(self, kind: str, name: str) -> Callable[[EventData], Any]:
        head, arg = _split(name)
        return _TurnCall(self.registry[kind][head], arg)

    def _add_transitions(self) -> None:
        d = self.dialogues
        for flow in d.flows.values():
            for state_name, spec in flow.states.items():
                source = f"{flow.flow}.{state_name}"
                for t in spec.transitions:
                    self._add(t.event, source, d.qualify(flow.flow, t.to) if t.to else None, t)
        for t in d.commands.any:
            self._add(t.event, "*", t.to, t)

    def _add(self, trigger: str, source: str, dest: str | None, t: Any) -> None:
        self.machine.add_transition(
            trigger,
            source,
            dest,
            conditions=[self._callable("condition", c) for c in t.if_],
            unless=[self._callable("condition", c) for c in t.unless],
            before=[self._callable("action", a) for a in t.do],
        )

    def _check_names(self) -> None:
        """Every name a dialogue uses must exist; errors point at file and line."""
        d = self.dialogues
        problems: list[str] = []
        known_triggers = {"choice", "scale", "text", "next", "edited", *BUTTON_TRIGGERS}
        known_triggers |= {f"cmd_{c}" for c in d.commands.commands}

        def check(path: Any, loc: tuple[Any, ...], kind: str, name: str) -> None:
            head, _ = _split(name)
            ok = head in self.registry[kind] if kind in self.registry else name in d.texts
            if kind == "state":
                ok = name in d.states
            if kind == "trigger":
                ok = name in known_triggers
            if not ok:
                _, locate = load_yaml(path)
                problems.append(f"{path}:{locate(loc)}: {'.'.join(map(str, loc))}: "
                                f"onbekende {kind} '{name}'")

        for flow in d.flows.values():
            path = d.files[flow.flow]
            for sname, spec in flow.states.items():
                base: tuple[Any, ...] = ("states", sname)
                if spec.say:
                    check(path, (*base, "say"), "text", spec.say)
                if spec.short:
                    check(path, (*base, "short"), "text", spec.short)
                if spec.render:
                    check(path, (*base, "render"), "renderer", spec.render)
                if isinstance(spec.choices, str):
                    check(path, (*base, "choices"), "provider", spec.choices)
                for i, t in enumerate(spec.transitions):
                    self._check_transition(check, path, (*base, "transitions", i), t, flow.flow)
        cpath = d.files.get("commands") or (next(iter(d.files.values())).parent / "commands.yaml")
        for i, t in enumerate(d.commands.any):
            self._check_transition(check, cpath, ("any", i), t, "")
        problems += self._check_placeholders(cpath.parent / "texts.yaml")
        if problems:
            raise ConfigError(problems)

    def _check_placeholders(self, path: Any) -> list[str]:
        """Every ``{name}`` in texts.yaml must be a value the code passes for that text, or one
        the engine fills into every text (TEXT_VALUES)."""
        found = check_placeholders(self.dialogues.texts, passed_values(), TEXT_VALUES)
        if not found:
            return []
        try:
            _, locate = load_yaml(path)
        except Exception:  # not where we thought: the key still names the text
            def locate(loc: tuple[Any, ...]) -> int:
                return 1
        return [f"{path}:{locate(('texts', key))}: texts.{key}: {msg}" for key, msg in found]

    def _check_transition(
        self, check: Callable[..., None], path: Any, loc: tuple[Any, ...], t: Any, flow: str
    ) -> None:
        check(path, (*loc, "event"), "trigger", t.event)
        if t.to:
            target = self.dialogues.qualify(flow, t.to) if flow else t.to
            check(path, (*loc, "to"), "state", target)
        for c in [*t.if_, *t.unless]:
            check(path, (*loc, "if"), "condition", c)
        for a in t.do:
            check(path, (*loc, "do"), "action", a)

    def _model(self, conv: Conversation) -> _Model:
        key = (conv.platform, conv.user_id or conv.chat_id)
        model = self._models.get(key)
        if model is None:
            model = _Model(conv.state)
            self.machine.add_model(model, initial=conv.state)
            self._models[key] = model
            if len(self._models) > self._cache_size:
                _, old = self._models.popitem(last=False)
                self.machine.remove_model(old)
        else:
            self._models.move_to_end(key)
            model.state = conv.state
        return model

    def _forget_model(self, platform: str, user_id: str) -> None:
        """Drop a conversation's model from the cache and from the shared machine."""
        model = self._models.pop((platform, user_id), None)
        if model is not None:
            self.machine.remove_model(model)

    def _fire(self, model: _Model, trigger: str, turn: Turn) -> bool:
        event = self.machine.events.get(trigger)
        if event is None:
            return False
        return bool(event.trigger(model, turn=turn))

    # -- turns ---------------------------------------------------------------------------

    def handle(self, incoming: Incoming, *, owe: bool = False) -> list[Reply]:
        """Handle one input durably; the replies are returned after the commit.

        ``owe``: the turn's transaction also records that its replies are owed, until the
        transport calls :meth:`replies_delivered` (see :meth:`owed_prompts`). When the turn
        fails, nothing of it is stored and the one reply is the error text with ``failed`` set
        (``"retry"`` when the store was unavailable, else ``"error"``).
        """
        later: list[Callable[[], object]] = []
        try:
            with self.store.transaction():
                replies = self._handle_in_tx(incoming, later, owe)
        except Exception as exc:
            self._forget_model(incoming.platform, incoming.user_id)
            return [self._failure(incoming, exc)]
        self._run_later(later)
        return replies

    def _failure(self, incoming: Incoming, exc: BaseException) -> Reply:
        """The reply of a failed turn. An unavailable store was reported by the store itself
        (once per outage); any other failure is a bug and is logged with its traceback."""
        kind: Failure = "retry"
        if not is_outage(exc):
            log.error("turn failed for %s chat", incoming.platform, exc_info=exc)
            kind = "error"
        return Reply(self.dialogues.text("error"), failed=kind)

    def _run_later(self, later: list[Callable[[], object]]) -> None:
        """Work a turn deferred until after its commit (e.g. drawing a chart): slow work
        never holds the database's write lock, and its failure loses nothing."""
        for job in later:
            try:
                job()
            except Exception:
                log.exception("deferred work of a turn failed")

    def handle_many(
        self, incomings: Sequence[Incoming], *, owe: bool = False
    ) -> list[list[Reply]]:
        """Group commit: several turns in one transaction, replies only after it commits.

        A failing turn does not undo the others. The batch first runs optimistically, without a
        savepoint per turn; when a turn (or the commit) fails for another reason than an
        outage, that attempt is rolled back whole, its in-memory traces are dropped (the
        conversations' models, its deferred jobs, its replies; the one change a turn makes to
        its input is put back) and the batch runs again one savepoint per turn, where the
        failing turn alone gets the failed reply. When the store is unavailable (at the start,
        in a turn or at the commit) nothing of the batch is stored and every turn gets the
        failed reply (``failed="retry"``); see :meth:`handle`.
        """
        if len(incomings) > 1 and not any(i.kind == "undecryptable" for i in incomings):
            # (an undecryptable message's explanation is rate-limited in memory: such a batch
            # is not run twice)
            inputs = [(i.kind, i.value) for i in incomings]
            later: list[Callable[[], object]] = []
            try:
                with self.store.transaction():
                    handle_in_tx = self._handle_in_tx
                    results = [handle_in_tx(incoming, later, owe) for incoming in incomings]
            except Exception as exc:
                for incoming, (kind, value) in zip(incomings, inputs, strict=True):
                    self._forget_model(incoming.platform, incoming.user_id)
                    incoming.kind, incoming.value = kind, value
                if is_outage(exc):
                    return [[self._failure(incoming, exc)] for incoming in incomings]
            else:
                self._run_later(later)
                return results
        return self._handle_many_savepoints(incomings, owe)

    def _handle_many_savepoints(
        self, incomings: Sequence[Incoming], owe: bool
    ) -> list[list[Reply]]:
        """Group commit with a savepoint per turn: a failing turn's writes alone are undone,
        and its deferred jobs never run."""
        results: list[list[Reply]] = []
        later: list[Callable[[], object]] = []
        try:
            with self.store.transaction():
                for incoming in incomings:
                    jobs = len(later)
                    try:
                        with self.store.savepoint():
                            results.append(self._handle_in_tx(incoming, later, owe))
                    except Exception as exc:
                        del later[jobs:]  # the failed turn's
                        self._forget_model(incoming.platform, incoming.user_id)
                        if is_outage(exc):
                            raise  # the whole batch goes: the store cannot take it now
                        results.append([self._failure(incoming, exc)])
        except Exception as exc:
            for incoming in incomings:
                self._forget_model(incoming.platform, incoming.user_id)
            return [[self._failure(incoming, exc)] for incoming in incomings]
        self._run_later(later)
        return results

    def _handle_in_tx(
        self, inc: Incoming, later: list[Callable[[], object]], owe: bool = False
    ) -> list[Reply]:
        store = self.store
        # a person's own turn on a platform with ordered event ids: the replay check rides in
        # the conversation row (bot.engine.replay); everything else claims the event id
        kind = inc.kind
        private = not inc.is_group and kind != "undecryptable" and kind != "poll"
        number = replay.ordered_id(inc.platform, inc.event_id) if private else None
        if number is None:
            if inc.event_id and not store.claim_event(inc.platform, inc.event_id):
                return []  # a replayed event
            if kind == "undecryptable":
                return self._undecryptable(inc)
            if kind == "poll":  # a native poll's counts: no person, no conversation
                return _session.handle_poll(self, inc)
            if inc.is_group:
                return handle_group(self, inc)
        # the conversation is the sender's, never the room's (a room can change hands)
        conv = store.load_conversation(inc.platform, inc.user_id)
        seen: replay.Verdict = "new"
        if number is not None:
            seen = replay.verdict(conv.recent_events if conv else None, number)
            if seen == "replay" or (
                    seen == "ask" and not store.claim_event(inc.platform, inc.event_id or "")):
                return []  # a replayed event
        moved = False
        if conv is None:
            member_id = store.member_id(inc.platform, inc.user_id)
            conv = Conversation(None, inc.platform, inc.chat_id, member_id, START_STATE, {}, 0,
                                user_id=inc.user_id)
        else:
            if conv.member_unreachable and conv.member_id is not None:
                store.mark_reachable(conv.member_id)
            if conv.chat_id != inc.chat_id:  # the chat where we last talked privately
                conv.chat_id, moved = inc.chat_id, True
        turn = Turn(self, conv, inc, later=later)
        before = (conv.state, conv.prompt_seq)
        try:
            show_prompt = self._dispatch(turn)
        except Exception:
            # the machine may hold a state that was rolled back
            self._forget_model(conv.platform, inc.user_id)
            raise
        if turn.forgotten:
            store.delete_conversation(conv.platform, inc.user_id)
            self._forget_model(conv.platform, inc.user_id)
            if number is not None and seen != "ask":  # its window went with the conversation
                store.claim_event(inc.platform, inc.event_id or "")
            return turn.replies
        if show_prompt and not turn.quiet:
            turn.replies.extend(self._render_prompt(turn))
        if number is not None:
            conv.recent_events = replay.remember(conv.recent_events, number)
        if owe and turn.replies and inc.event_id:
            conv.owe = (inc.event_id, utcnow())  # written with the conversation
        if ((conv.state, conv.prompt_seq) != before or conv.id is None or show_prompt or moved
                or number is not None or conv.owe is not None):
            store.save_conversation(conv)
        return turn.replies

    def _undecryptable(self, inc: Incoming) -> list[Reply]:
        """A message the transport could not decrypt (its key never came): explained once per
        event (its id was claimed), in a group room at most once an hour; nothing is stored."""
        if inc.is_group:
            key, now = (inc.platform, inc.chat_id), time.monotonic()
            if now - self._explained.get(key, -math.inf) < GROUP_EXPLAIN_EVERY:
                return []
            self._explained[key] = now
            self._explained.move_to_end(key)
            if len(self._explained) > self._cache_size:
                self._explained.popitem(last=False)
        return [Reply(self.text("undecryptable"))]

    def _dispatch(self, turn: Turn) -> bool:
        """Run the input through the machine; True when the prompt should be (re)shown."""
        inc, conv = turn.incoming, turn.conv
        first_contact = conv.id is None  # show where they are, e.g. the welcome
        if inc.kind == "unsupported":
            what = self.text(f"media_{inc.media}" if inc.media in MEDIA_KINDS else "media_other")
            turn.say("unsupported", what=what)
            return first_contact
        if inc.kind == "edit":
            if not apply_edit(turn):
                return first_contact
            trigger: str | None = "edited"  # a shared text changed: the dialogue asks again
        else:
            trigger = self._trigger_for(turn)
        if trigger is None:
            turn.retry = True
            return not turn.replies or turn.replies[-1].notice is None
        model = self._model(conv)
        if not self._fire(model, trigger, turn):
            if trigger.startswith("cmd_"):
                turn.say("not_now" if turn.member_id or trigger != "cmd_start" else "need_start")
            else:
                turn.say("unknown_input")
            turn.retry = True
            return True
        if turn.jump is not None and turn.jump in self.dialogues.states:
            self.machine.set_state(turn.jump, model)
        for _ in range(10):
            conv.state = model.state
            spec = self.dialogues.states[conv.state]
            if turn.forgotten or not spec.auto:
                break
            if not self._fire(model, "next", turn):
                raise RuntimeError(f"automatic state {conv.state} has no way out")
        else:
            raise RuntimeError("automatic states loop")
        conv.state = model.state
        return not turn.forgotten

    def _trigger_for(self, turn: Turn) -> str | None:
        """Which trigger this input is, or None after replying with a hint."""
        inc, conv = turn.incoming, turn.conv
        ctx = conv.context
        kind = inc.kind
        if kind == "text" and ctx.get(SCHEDULED):
            picked = _match_scheduled(inc.text, ctx[SCHEDULED])
            if picked is not None:  # typed to the last scheduled message: it is pressed
                del ctx[SCHEDULED]
                inc.kind, inc.value = "choice", picked
                kind = "choice"
        if kind == "command":
            name = self.dialogues.command_names.get((inc.command or "").lower())
            if name is None:
                turn.say("unknown_command")
                return None
            turn.args = inc.args.strip()
            return f"cmd_{name}"
        pressed = kind == "choice"
        raw = (inc.value if pressed and inc.value is not None else inc.text) or ""
        if pressed:
            head, sep, rest = raw.partition(":")
            if sep and head in BUTTON_TRIGGERS:
                turn.value = rest
                return head
            if inc.prompt_token and inc.prompt_token != str(conv.prompt_seq):
                notice = self.dialogues.text("stale_button")
                turn.replies.append(Reply(notice, notice=notice))
                return None
        prompt = ctx.get("_p") or {}
        expects = prompt.get("ex", "none")
        stripped = raw.strip()
        labels: list[str] | None = prompt.get("sl")
        spec = self.dialogues.states.get(conv.state)
        takes_score = spec is not None and spec.accepts_scale
        if expects == "scale" or takes_score:
            # a scale question: digits, number words, its anchors; a state that takes a
            # corrected score (the explanation after a scale): digits only
            if pressed:
                score = int(stripped) if stripped in SCALE_VALUES else None
            else:
                score = understand.match_scale(raw, labels, words=expects == "scale")
            if score is not None:
                turn.value = score
                return "scale"
        choices: list[list[str]] = prompt.get("ch", [])
        if choices:
            value = _match_choice(raw, choices, pressed=pressed, numbers=not takes_score,
                                  loose="typo" if prompt.get("tx") else "words")
            if value is not None:
                turn.value = value
                return "choice"
        if inc.kind == "text" and (expects == "text" or prompt.get("tx")):
            if len(raw) > MAX_TEXT:
                turn.say("too_long", length=format_count(len(raw)), limit=format_count(MAX_TEXT))
                return None
            if stripped:
                turn.value = stripped
                return "text"
        if expects == "scale" and labels:
            turn.say("scale_miss", low=labels[0].lower(), high=labels[1].lower())
        elif expects == "scale":
            turn.say("scale_miss_plain")
        else:
            turn.say("unknown_input")
        return None

    # -- prompts -------------------------------------------------------------------------

    def _render_prompt(self, turn: Turn) -> list[Reply]:
        """The state's prompt; after a miss (``turn.retry``) its short form: a say-state's
        ``short`` text, and renderers leave out intros."""
        conv = turn.conv
        ctx = conv.context
        ctx.pop(SCHEDULED, None)  # a new prompt: typed input is for this one now
        state = conv.state
        spec: StateSpec = self.dialogues.states[state]
        seen_choices: list[list[str]] | None = None  # "ch" below, made once for a say-state
        if spec.render:
            replies: list[Reply] = self._renderers[spec.render](turn)
        else:
            assert spec.say is not None
            if isinstance(spec.choices, str):
                choices = self.registry["provider"][spec.choices](turn)
            else:  # the state's own options: the same every time
                static = self._static_choices.get(state)
                if static is None:
                    options = tuple(Choice(c.label, c.value) for c in spec.choices or [])
                    static = (options, [[c.label, c.value] for c in options])
                    self._static_choices[state] = static
                choices = list(static[0])
                seen_choices = static[1]
            say = spec.short if turn.retry and spec.short else spec.say
            replies = [Reply(self.text(say), choices, spec.expects)]
        if spec.personal:  # e.g. a list of your own answers
            for reply in replies:
                reply.personal = True
        prompt = replies[-1]
        key = f"{state}|{ctx.get('run')}|{ctx.get('i')}"
        if ctx.get("_pk") != key:
            conv.prompt_seq += 1
            ctx["_pk"] = key
        prompt.prompt_token = str(conv.prompt_seq)
        prompt.is_prompt = True
        if spec.accepts_scale:
            prompt.numbered = False  # typed numbers are a score here, not an option
        if spec.side_trip:
            prompt.side_trip = True
        # what the next input is matched against (a scale's 1..5 need no list)
        if prompt.expects == "scale":
            seen_choices = []
        elif seen_choices is None:
            seen_choices = [[c.label, c.value] for c in prompt.choices]
        # (a say-state's "ch" is one list shared by every context that holds it: read only)
        seen: dict[str, Any] = {"ex": prompt.expects, "ch": seen_choices, "tx": spec.accepts_text}
        if prompt.scale_labels:
            seen["sl"] = list(prompt.scale_labels)
        ctx["_p"] = seen
        return replies

    # -- replies owed ----------------------------------------------------------------------

    def replies_delivered(self, platform: str, event_ids: Sequence[str]) -> int:
        """The replies of these turns (by their event ids) were delivered: forget the debts."""
        if not event_ids:
            return 0
        return self.store.replies_delivered(platform, list(event_ids))

    def owed_prompts(self, platform: str, *, older_than: float | None = None) -> list[OwedPrompt]:
        """Conversations whose last turn was committed but whose replies were never confirmed
        delivered (a crash, a platform down for too long), with their current prompt, oldest
        first; only debts older than ``older_than`` seconds when given. The prompt goes to the
        conversation's private chat; pay each with :meth:`replies_delivered` (its event id)."""
        before = None
        if older_than is not None:
            since = datetime.now(UTC) - timedelta(seconds=older_than)
            before = since.isoformat(timespec="seconds")
        out: list[OwedPrompt] = []
        for debt in self.store.owed_replies(platform, before=before):
            user_id = str(debt["user_id"])
            try:
                replies = self.current_prompt(platform, user_id)
            except Exception:
                log.exception("could not render the owed prompt of a %s chat", platform)
                continue
            out.append(OwedPrompt(str(debt["chat_id"]), user_id, str(debt["event_id"]), replies))
        return out

    def current_prompt(self, platform: str, user_id: str) -> list[Reply]:
        """Re-render where a person's conversation is (for reminders and after a restart)."""
        conv = self.store.load_conversation(platform, user_id)
        if conv is None:
            return []
        turn = Turn(self, conv, Incoming(platform, user_id, conv.chat_id, "text"))
        return self._render_prompt(turn)

    def personal_refusal(self) -> Reply:
        """What a transport sends instead of a personal reply (``Reply.personal``) it may not
        deliver because someone else is in the chat."""
        return Reply(self.dialogues.text("personal_private_only"))

    # -- what transports and the outbox tell the engine ---------------------------------------

    def owed_event_ids(self, platform: str) -> set[str]:
        """The event ids of the turns whose replies are owed now (see :meth:`owed_prompts`)."""
        return {str(d["event_id"]) for d in self.store.owed_replies(platform)}

    def set_reachable(self, platform: str, user_id: str, reachable: bool) -> bool:
        """Record that a person blocked the bot in their private chat (``reachable=False``:
        marked, their scheduled messages cancelled) or unblocked it. The store's one rule
        (``member_unreachable`` / ``mark_reachable``) is also what the outbox uses when a send
        comes back unreachable, and writing again makes a person reachable (a turn). Never
        raises: False when nothing was recorded (unknown person, store unavailable)."""
        try:
            with self.store.transaction():
                member_id = self.store.member_id(platform, user_id)
                if member_id is None:
                    return False
                if reachable:
                    self.store.mark_reachable(member_id)
                else:
                    self.store.member_unreachable(member_id, utcnow())
        except Exception as exc:
            if not is_outage(exc):  # an outage was reported by the store, once
                log.exception("could not record whether a %s chat is reachable", platform)
            return False
        return True

    def scheduled_delivered(self, platform: str, member_id: int, reply: Reply) -> None:
        """The outbox delivered a scheduled message with options (a tip's 1..5) into a person's
        private chat: it is their last prompt now, so a typed number or label answers it (on
        Matrix, without buttons, the only way). Kept in the conversation, so it survives a
        restart; called inside the outbox's transaction; the next prompt shown replaces it."""
        if not reply.choices:
            return
        user_id = self.store.member_user_id(member_id)
        conv = self.store.load_conversation(platform, user_id) if user_id else None
        if conv is None:
            return
        conv.context[SCHEDULED] = [[c.label, c.value] for c in reply.choices]
        self.store.save_conversation(conv)

    def command_menu(self) -> list[CommandHelp]:
        """The commands with their help, for a platform's command menu."""
        return [CommandHelp(name, spec.help, bool(spec.group))
                for name, spec in self.dialogues.commands.commands.items()]


def _match_scheduled(text: str, choices: list[list[str]]) -> str | None:
    """The option of a scheduled message a typed answer names: its number or its label."""
    typed = text.strip().lower().rstrip(".")
    for n, (label, value) in enumerate(choices, 1):
        if typed in (str(n), label.lower()):
            return value
    return None


def _match_choice(raw: str, choices: list[list[str]], *, pressed: bool = False,
                  numbers: bool = True, loose: str = "words") -> str | None:
    """The option an input picks. A pressed button sends its value (matched exactly); typed
    text is understood by :func:`bot.engine.understand.match_choice` (numbers, labels and
    close typos, never the values, which are button data and often English)."""
    if pressed:
        for _label, value in choices:
            if raw == value:
                return value
        return None
    return understand.match_choice(raw, choices, numbers=numbers, loose=loose)
