"""Rounds, resuming and editing: the names the dialogues use for them.

- A new full round while another is open is asked first (``reflect.confirm_new``); nothing is
  dropped without a word. A new round in a period with earlier answers starts from them (see
  :func:`bot.engine.actions.load_round`).
- Someone in two or more teams says which team a round is for (``reflect.pick_team``); every
  question then names the team.
- ``/terug`` at the first question says there is nothing before it.
- ``/rol`` changes the role a person answers as, for the answers still to come. It never
  touches a right to read: owners grant those (``bot.store.access``).
- A side trip (reacting to the monthly tip) ends with only its thanks: the conversation goes back
  to exactly where it was, and the prompt the person last saw stays the one that counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.content import ROLES
from bot.engine.actions import (
    ROLE_LABELS,
    _questions_for,
    questions_of,
    reflection_pack,
    run_questions,
)
from bot.engine.messages import Choice, Reply
from bot.engine.registry import action, condition, provider, renderer
from bot.engine.turn import Turn
from bot.engine.understand import normalize

#: the answering roles as the person picks them (the same words as at the start)
ROLE_CHOICES = (
    Choice("Professional (uitvoering)", "professional"),
    Choice("Teamleider of manager", "manager"),
    Choice("Beleidsmedewerker", "beleid"),
    Choice("Bestuurder (wethouder, raadslid)", "bestuurder"),
)


# -- which team a round is for -------------------------------------------------------------------


def _teams(turn: Turn) -> list[dict[str, Any]]:
    if turn.member_id is None:
        return []
    return turn.store.memberships(turn.member_id)


@condition("in_several_teams")
def in_several_teams(turn: Turn, arg: str | None) -> bool:
    return len(_teams(turn)) > 1


@condition("my_team_choice")
def my_team_choice(turn: Turn, arg: str | None) -> bool:
    value = str(turn.value or "")
    return value.isdigit() and any(int(m["team_id"]) == int(value) for m in _teams(turn))


@provider("round_team_choices")
def round_team_choices(turn: Turn) -> list[Choice]:
    return [Choice(str(m["team_name"]), str(m["team_id"])) for m in _teams(turn)]


@action("set_round_team")
def set_round_team(turn: Turn, arg: str | None) -> None:
    """The team the coming round (or review) is for; its role is the one answered as there."""
    team_id = int(str(turn.value))
    turn.ctx["team_id"] = team_id
    role = turn.store.role_in_team(turn.member_id or 0, team_id)
    if role:
        turn.ctx["role"] = role


@action("intend")
def intend(turn: Turn, arg: str | None) -> None:
    """What the person asked for before a question in between (``tour``, ``theme``,
    ``review``): ``reflect.begin`` does it once the team is known."""
    turn.ctx["intent"] = arg or "tour"


@condition("round_intent")
def round_intent(turn: Turn, arg: str | None) -> bool:
    return turn.ctx.get("intent", "tour") == arg


# -- a new round while one is open ----------------------------------------------------------------


def _run_ctx(run: dict[str, Any], role: str) -> dict[str, Any]:
    """A context that names a run's questions (its pack, scope and the role)."""
    ctx: dict[str, Any] = {"scope": str(run["scope"]), "role": role,
                           "team_id": run["team_id"]}
    if run.get("pack") not in (None, "praatplaat"):
        ctx.update(pack=run["pack"], pv=run.get("pack_version"))
    return ctx


def _scope_name(turn: Turn, run: dict[str, Any]) -> str:
    scope = str(run["scope"])
    pack = reflection_pack(turn.engine, _run_ctx(run, "professional"))
    if scope == "tour" and pack.id == "praatplaat":
        return turn.text("scope_tour")
    if scope == "tour":
        return str(pack.title)
    try:
        return turn.text("scope_theme", theme=pack.theme(scope).title)
    except KeyError:
        return scope


@renderer("confirm_new")
def render_confirm_new(turn: Turn) -> list[Reply]:
    """'You still have a round open': how far it is, and the choice."""
    run = turn.store.latest_run(turn.member_id or 0, unfinished=True)
    choices = [Choice("Verder waar je was", "resume"), Choice("Nieuwe ronde beginnen", "new"),
               Choice("Naar het menu", "menu")]
    if run is None:
        text = turn.text("confirm_new_nothing_open")
        return [Reply(text, choices=choices[1:], expects="choice")]
    team_id = int(run["team_id"])
    qs = _questions_for(turn, str(run["scope"]), run)
    answered = turn.store.period_answer_runs(
        turn.member_id or 0, team_id, turn.store.answer_period(team_id, turn.now()),
        str(run.get("pack") or "praatplaat"))
    answered.update(dict.fromkeys(turn.store.run_answers(int(run["id"])), 0))
    n = sum(1 for q in qs if q in answered)
    text = turn.text("confirm_new", scope=_scope_name(turn, run), n=n,
                     total=len(qs))
    return [Reply(text, choices=choices, expects="choice", personal=True)]


@action("close_open_run")
def close_open_run(turn: Turn, arg: str | None) -> None:
    """A new full round replaces the open ones: they are finished (their answers stay and
    count), so no old round comes back later as 'Verder waar je was'."""
    cursors = turn.ctx.get("cursors") or {}
    for run in turn.store.open_runs(turn.member_id or 0):
        turn.store.finish_run(int(run["id"]))
        cursors.pop(str(run["id"]), None)


# -- going back -------------------------------------------------------------------------------------


@condition("at_first_question")
def at_first_question(turn: Turn, arg: str | None) -> bool:
    return int(turn.ctx.get("i", 0)) == 0 and not turn.ctx.get("editing")


@condition("editing")
def editing(turn: Turn, arg: str | None) -> bool:
    return bool(turn.ctx.get("editing"))


@action("nothing_before")
def nothing_before(turn: Turn, arg: str | None) -> None:
    """``/terug`` at the first question: say so, and repeat only the short question."""
    turn.say("nothing_before")
    turn.retry = True


# -- the role one answers as (/rol) --------------------------------------------------------------


@renderer("change_role")
def render_change_role(turn: Turn) -> list[Reply]:
    role = str(turn.ctx.get("role") or "professional")
    text = turn.text("ask_change_role", role=ROLE_LABELS.get(role, role))
    return [Reply(text, choices=list(ROLE_CHOICES), expects="choice")]


def _remap(i: int, old: Sequence[str], new: Sequence[str]) -> int:
    """The cursor ``i`` of a question list after the list changed: the same question, or the
    next one that is still asked."""
    for qid in old[max(i, 0):]:
        if qid in new:
            return new.index(qid)
    return len(new)


@action("change_role")
def change_role(turn: Turn, arg: str | None) -> None:
    """The role a person answers as, in every team, for the answers still to come: answers
    given keep the role they were given in; an open round goes on with the questions of the new
    role from where it was. Read rights are not touched."""
    new = str(turn.value)
    if new not in ROLES or turn.member_id is None:
        return
    ctx = turn.ctx
    old = str(ctx.get("role") or "professional")
    turn.store.set_member_role(turn.member_id, new)
    if new != old:
        if ctx.get("scope") and "qs" not in ctx:
            before = list(run_questions(turn))
            ctx["role"] = new
            ctx["i"] = _remap(int(ctx.get("i", 0)), before, list(run_questions(turn)))
        cursors: dict[str, int] = ctx.get("cursors") or {}
        for run_id, i in list(cursors.items()):
            run = turn.store.get_run(int(run_id)) if run_id.isdigit() else None
            if run is None:
                cursors.pop(run_id, None)
                continue
            cursors[run_id] = _remap(int(i), questions_of(turn.engine, _run_ctx(run, old)),
                                     questions_of(turn.engine, _run_ctx(run, new)))
    ctx["role"] = new
    turn.say("role_changed", role=ROLE_LABELS.get(new, new))


# -- /herinneringen -----------------------------------------------------------------------------------


@condition("args_are")
def args_are(turn: Turn, arg: str | None) -> bool:
    """The words after a command, e.g. ``args_are:uit`` for ``/herinneringen uit``."""
    return normalize(turn.args) == (arg or "")


# -- side trips that end with only their thanks ---------------------------------------------------


@action("remember_back")
def remember_back(turn: Turn, arg: str | None) -> None:
    """Before a side trip (the monthly tip's reaction): where the person is, with the prompt
    they last saw, so that ``back_quietly`` returns there without showing anything again."""
    conv = turn.conv
    if conv.state == "extras.tip_text" and turn.ctx.get("back"):
        return  # a second press on the tip: the trip started earlier
    turn.ctx["back"] = {"state": conv.state, "seq": conv.prompt_seq,
                        "pk": turn.ctx.get("_pk"), "p": turn.ctx.get("_p")}


@action("back_quietly")
def back_quietly(turn: Turn, arg: str | None) -> None:
    """End a side trip with only what was said (the thanks): back to the remembered state, its
    prompt as the person last saw it (their buttons there keep working). Without a remembered
    place: to the menu, shown as usual."""
    back = turn.ctx.pop("back", None)
    state = str((back or {}).get("state") or "")
    if state not in turn.engine.dialogues.states or turn.engine.dialogues.states[state].auto:
        turn.jump = "menu.main"
        return
    turn.jump = state
    turn.quiet = True
    turn.conv.prompt_seq = int(back["seq"])  # type: ignore[index]
    for key, saved in (("_pk", back.get("pk")), ("_p", back.get("p"))):  # type: ignore[union-attr]
        if saved is None:
            turn.ctx.pop(key, None)
        else:
            turn.ctx[key] = saved


@action("say_quietly")
def say_quietly(turn: Turn, arg: str | None) -> None:
    """Say a text and nothing more (e.g. 'Later' under the invitation for a new round)."""
    turn.say(str(arg))
    turn.quiet = True
