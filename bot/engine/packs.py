"""Conditions, actions, providers and renderers of content packs (``dialogues/packs.yaml``).

Registered in :data:`bot.engine.registry.REGISTRY` (the engine imports this module).

* Members: "Meer vragen en casussen" in the menu lists the packs their team uses that have
  questions for their role (other than the Praatplaat, which has its own entries); a pack's
  whole round, one of its themes, a case or a tip's question then runs through the same
  reflection flow as the Praatplaat (``dialogues/reflect.yaml``), with the same answer forms,
  pausing, editing and sharing.
* A series tip in the private chat carries a button ``go:pack:<pack>:<tip>`` that asks its
  question; it works only while the member's team uses the pack.
* Owners: "Vragenpakketten" in ``/beheer`` switches packs on and off for their team
  (:func:`bot.packs.choose_packs`, audited); every press checks again that they own the team.

What is quoted is shown in quotation marks with its source; our own words never are.
"""

from __future__ import annotations

from typing import Any

from bot.content import Pack, Unit
from bot.engine.actions import _start_run
from bot.engine.intros import unit_intro
from bot.engine.messages import Choice, Reply, global_button
from bot.engine.registry import action, condition, provider, renderer
from bot.engine.turn import Turn
from bot.nl import PACK_NOUNS, amount
from bot.packs import library

__all__ = ["GO_PREFIX", "go_value", "unit_intro"]

#: value prefix of the button under a series tip: ``go:pack:<pack id>:<tip id>``
GO_PREFIX = "pack:"


def go_value(pack_id: str, unit_id: str) -> str:
    """The button value that starts a unit of a pack from a broadcast (a series tip)."""
    return global_button("go", f"{GO_PREFIX}{pack_id}:{unit_id}")


def _role(turn: Turn) -> str:
    return str(turn.ctx.get("role", "professional"))


def _team(turn: Turn) -> int | None:
    team = turn.ctx.get("team_id")
    return int(team) if team is not None else None


def _member_packs(turn: Turn) -> list[Any]:
    return library(turn.engine).member_packs(_team(turn), _role(turn))


def _picked(turn: Turn) -> Any | None:
    """The pack a member picked in "Meer vragen en casussen" (if the team still uses it)."""
    pack_id = turn.ctx.get("pick_pack")
    return next((p for p in _member_packs(turn) if p.id == pack_id), None)


# -- members: picking a pack and what to do in it ------------------------------------------------


@condition("has_member_packs")
def has_member_packs(turn: Turn, arg: str | None) -> bool:
    return bool(_member_packs(turn))


@condition("one_member_pack")
def one_member_pack(turn: Turn, arg: str | None) -> bool:
    return len(_member_packs(turn)) == 1


@condition("member_pack_choice")
def member_pack_choice(turn: Turn, arg: str | None) -> bool:
    return any(p.id == str(turn.value) for p in _member_packs(turn))


@condition("pack_unit_choice")
def pack_unit_choice(turn: Turn, arg: str | None) -> bool:
    pack = _picked(turn)
    return pack is not None and any(u.id == str(turn.value) for u in pack.units_for(_role(turn)))


@condition("pack_has_round")
def pack_has_round(turn: Turn, arg: str | None) -> bool:
    pack = _picked(turn)
    return pack is not None and bool(_round_units(pack, _role(turn)))


@action("pick_pack")
def pick_pack(turn: Turn, arg: str | None) -> None:
    """The pack picked from the list, or (``pick_pack:only``) the one pack there is."""
    packs = _member_packs(turn)
    if arg == "only" and packs:
        turn.ctx["pick_pack"] = packs[0].id
    else:
        turn.ctx["pick_pack"] = str(turn.value)


@action("start_pack_round")
def start_pack_round(turn: Turn, arg: str | None) -> None:
    pack = _picked(turn)
    if pack is not None:
        _start_run(turn, "tour", pack)


@action("start_pack_unit")
def start_pack_unit(turn: Turn, arg: str | None) -> None:
    pack = _picked(turn)
    if pack is not None:
        _start_run(turn, str(turn.value), pack)


@condition("go_pack")
def go_pack(turn: Turn, arg: str | None) -> bool:
    """A button ``go:pack:<pack>:<unit>`` under a series tip, for a unit this member may
    answer in a pack one of their teams uses."""
    return _go_target(turn) is not None


def _go_target(turn: Turn) -> tuple[int, Pack, Unit] | None:
    value = str(turn.value or "")
    if not value.startswith(GO_PREFIX) or turn.member_id is None:
        return None
    pack_id, _, unit_id = value[len(GO_PREFIX):].partition(":")
    lib = library(turn.engine)
    teams = [int(m["team_id"]) for m in turn.store.memberships(turn.member_id)]
    current = _team(turn)
    for team_id in sorted(teams, key=lambda t: t != current):  # the current team first
        if not lib.is_enabled(team_id, pack_id):
            continue
        try:
            pack = lib.reflection(team_id, pack_id)
            unit = pack.theme(unit_id)
        except KeyError:
            continue
        role = turn.store.role_in_team(turn.member_id, team_id) or _role(turn)
        if isinstance(pack, Pack) and unit.questions_for(role):
            return team_id, pack, unit
    return None


@action("start_go_pack")
def start_go_pack(turn: Turn, arg: str | None) -> None:
    target = _go_target(turn)
    if target is None:
        turn.say("pack_not_available")
        return
    team_id, pack, unit = target
    turn.ctx["team_id"] = team_id
    _start_run(turn, unit.id, pack)
    turn.ctx["brief"] = True  # they just read the tip: ask, do not repeat it


@action("say_pack_not_available")
def say_pack_not_available(turn: Turn, arg: str | None) -> None:
    turn.say("pack_not_available")


@provider("member_pack_choices")
def member_pack_choices(turn: Turn) -> list[Choice]:
    return [Choice(p.title, p.id) for p in _member_packs(turn)]


def _round_units(pack: Any, role: str) -> list[Unit]:
    return [u for u in pack.round_units() if u.questions_for(role)]


@renderer("pack_units")
def render_pack_units(turn: Turn) -> list[Reply]:
    """What a member can do in the picked pack: the whole round (its themes), or one theme,
    case or tip."""
    pack = _picked(turn)
    if pack is None:
        return [Reply(turn.text("packs_none"), choices=[Choice(turn.text("packs_back"), "back")],
                      expects="choice")]
    role = _role(turn)
    lines = [pack.title]
    if pack.intro:
        lines += ["", pack.intro]
    lines += ["", pack.source.attribution(), "", turn.text("pack_what")]
    choices: list[Choice] = []
    units = _round_units(pack, role)
    if len(units) > 1:
        n = sum(len(u.questions_for(role)) for u in units)
        choices.append(Choice(turn.text("pack_round", n=n), "round"))
    for unit in pack.units_for(role):
        choices.append(Choice(_unit_label(turn, unit), unit.id))
    return [Reply("\n".join(lines), choices=choices, expects="choice")]


def _unit_label(turn: Turn, unit: Unit) -> str:
    if unit.kind == "case":
        return turn.text("case_label", title=unit.title)
    if unit.kind == "tip":
        return turn.text("tip_label", title=unit.title)
    return unit.label


# -- showing a unit before its first question ------------------------------------------------------


# -- owners: which packs the team uses ---------------------------------------------------------


def _owner_team(turn: Turn) -> int | None:
    from bot.engine.access import _owned_team

    return _owned_team(turn, "packs")


@action("toggle_pack")
def toggle_pack(turn: Turn, arg: str | None) -> None:
    """``pack:on:<id>`` / ``pack:off:<id>``: switch a pack on or off for the owner's team
    (checked again, audited). The button says what it does, so an older button pressed again
    never undoes a newer choice."""
    from bot.packs import choose_packs

    team_id = _owner_team(turn)
    if team_id is None:
        return
    _, want, pack_id = str(turn.value).split(":", 2) if str(turn.value).count(":") >= 2 else (
        "", "", "")
    lib = library(turn.engine)
    use = next((u for u in lib.uses(team_id) if u.id == pack_id), None)
    if use is None or want not in ("on", "off"):
        turn.say("pack_unknown")
        return
    on = want == "on"
    choose_packs(turn.store, turn.content, team_id, on=[pack_id] if on else [],
                 off=[] if on else [pack_id], actor=turn.member_id, via="chat")
    team = turn.store.get_team(team_id)
    name = team["name"] if team else ""
    turn.say("pack_switched_on" if on else "pack_switched_off", pack=use.pack.title, team=name)


@renderer("pack_choice")
def render_pack_choice(turn: Turn) -> list[Reply]:
    """The owner's list: every pack the team can use, on or off, with what it holds."""
    team_id = turn.ctx.get("access_team")
    done = Choice(turn.text("packs_done"), "done")
    if team_id is None or not turn.store.is_owner(turn.member_id, int(team_id)):
        return [Reply(turn.text("not_owner"), choices=[done], expects="choice")]
    team = turn.store.get_team(int(team_id))
    lines = [turn.text("packs_choose", team=team["name"] if team else ""), ""]
    choices: list[Choice] = []
    for use in library(turn.engine).uses(int(team_id)):
        state = turn.text("pack_on" if use.enabled else "pack_off")
        own = turn.text("pack_own") if use.origin == "team" else ""
        lines.append(f"{state} {use.pack.title}{own}: {_holds(turn, use.pack)}")
        key = "pack_turn_off" if use.enabled else "pack_turn_on"
        want = "off" if use.enabled else "on"
        choices.append(Choice(turn.text(key, pack=use.pack.title), f"pack:{want}:{use.id}"))
    return [Reply("\n".join(lines), choices=[*choices, done], expects="choice")]


def _holds(turn: Turn, pack: Any) -> str:
    """What a pack holds, in a few Dutch words (``11 thema's, 7 dilemma's``)."""
    from bot.content import pack_counts

    counts = pack_counts(pack)
    parts = [amount(counts[key], *nouns) for key, nouns in PACK_NOUNS.items() if counts[key]]
    return ", ".join(parts) or turn.text("pack_empty")
