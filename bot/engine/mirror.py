"""Conditions, actions, providers and renderers of the mirror and of "Wat we ermee doen".

Registered in :data:`bot.engine.registry.REGISTRY` (the engine imports this module).

* ``/spiegel`` (readers): the mirror of every team the person may read (plug-in ``mirror``).
* ``/teamspiegel`` (every member): their own team's mirror, actions and tip reactions (plug-in
  ``team_mirror``); the Demoteam's members get its made-up example.
* ``/watwedoen``: members read their team's actions; readers of a team also add one (theme,
  what, who as a role, by when) and mark one done, in ``dialogues/actions.yaml``. Every step
  checks the read right again; only the actions of the team picked are touched.
* ``/gespreksplaat THEMA`` (readers): a printable plate for the team meeting (plug-in
  ``gespreksplaat``).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.engine.actions import _personal, may_read
from bot.engine.messages import Choice, Reply
from bot.engine.registry import action, condition, provider, renderer
from bot.engine.team_actions import describe_action, parse_due
from bot.engine.turn import Turn
from bot.store.actions import WHO

ACTION_TEXT_MAX = 300


def _reader_teams(turn: Turn) -> list[dict]:
    if turn.member_id is None:
        return []
    return [t for t in turn.store.report_teams(turn.member_id)
            if turn.store.may_read_team(turn.member_id, int(t["id"]))]


def _actions_team(turn: Turn) -> int | None:
    """The team picked for ``/watwedoen``, if the person may still read it."""
    team_id = turn.ctx.get("wwd_team")
    if team_id is None or turn.member_id is None:
        return None
    if not turn.store.may_read_team(turn.member_id, int(team_id)):
        return None
    return int(team_id)


def _hook(turn: Turn, plugin: Callable[[Turn], list[Reply]] | None) -> list[Reply] | None:
    return None if plugin is None else plugin(turn)


@action("show_mirror")
def show_mirror(turn: Turn, arg: str | None) -> None:
    """``/spiegel``: for people with a granted read right (the Demoteam: its example)."""
    if may_read(turn):
        replies = _hook(turn, turn.engine.plugins.mirror)
        if replies is not None:
            turn.replies.extend(_personal(replies))
            return
    replies = _hook(turn, turn.engine.plugins.team_mirror)
    if replies is not None and any(m["is_demo"] for m in turn.store.memberships(
            turn.member_id or 0)):
        turn.replies.extend(_personal(replies))
        return
    turn.store.audit("chat_mirror:denied", actor=turn.member_id)
    turn.say("not_manager")


@action("show_team_mirror")
def show_team_mirror(turn: Turn, arg: str | None) -> None:
    """``/teamspiegel``: what the member's own team said, for every member."""
    replies = _hook(turn, turn.engine.plugins.team_mirror)
    if replies is None:
        turn.say("no_team_mirror")
        return
    turn.replies.extend(_personal(replies))


@action("send_gespreksplaat")
def send_gespreksplaat(turn: Turn, arg: str | None) -> None:
    replies = _hook(turn, turn.engine.plugins.gespreksplaat) if may_read(turn) else None
    if replies is None:
        turn.store.audit("chat_gespreksplaat:denied", actor=turn.member_id)
        turn.say("not_manager")
        return
    turn.replies.extend(_personal(replies))


# -- "Wat we ermee doen" -----------------------------------------------------------------------


def _describe(turn: Turn, row: dict) -> str:
    return describe_action(row, turn.content)


@action("show_actions")
def show_actions(turn: Turn, arg: str | None) -> None:
    """A member's read-only view of their team's actions."""
    lines: list[str] = []
    for team in turn.store.memberships(turn.member_id or 0):
        if team["is_demo"]:
            continue
        rows = turn.store.team_actions(int(team["team_id"]), limit=10)
        if rows:
            lines += [turn.text("actions_title", team=team["team_name"])]
            lines += ["• " + _describe(turn, r) for r in rows]
    turn.replies.append(Reply("\n".join(lines) if lines else turn.text("actions_none")))


@condition("reads_several_teams")
def reads_several_teams(turn: Turn, arg: str | None) -> bool:
    return len(_reader_teams(turn)) > 1


@action("set_actions_team")
def set_actions_team(turn: Turn, arg: str | None) -> None:
    teams = _reader_teams(turn)
    chosen = str(turn.value) if turn.value is not None else None
    pick = next((t for t in teams if str(t["id"]) == chosen), teams[0] if teams else None)
    turn.ctx["wwd_team"] = None if pick is None else int(pick["id"])


@provider("reader_team_choices")
def reader_team_choices(turn: Turn) -> list[Choice]:
    return [Choice(str(t["name"]), str(t["id"])) for t in _reader_teams(turn)]


@condition("reader_team_choice")
def reader_team_choice(turn: Turn, arg: str | None) -> bool:
    return any(str(t["id"]) == str(turn.value) for t in _reader_teams(turn))


@renderer("actions_list")
def render_actions_list(turn: Turn) -> list[Reply]:
    team_id = _actions_team(turn)
    menu = Choice(turn.text("button_menu"), "menu")
    if team_id is None:
        return [Reply(turn.text("not_manager"), choices=[menu], expects="choice")]
    team = turn.store.get_team(team_id) or {}
    rows = turn.store.team_actions(team_id, limit=20)
    lines = [turn.text("actions_title", team=team.get("name", ""))]
    lines += ["• " + _describe(turn, r) for r in rows] or [turn.text("actions_empty")]
    choices = [Choice(turn.text("actions_new"), "new")]
    if any(r["status"] == "open" for r in rows):
        choices.append(Choice(turn.text("actions_finish"), "done"))
    choices.append(menu)
    return [Reply("\n".join(lines), choices=choices, expects="choice")]


@action("set_action_theme")
def set_action_theme(turn: Turn, arg: str | None) -> None:
    turn.ctx["wwd_theme"] = str(turn.value)


@condition("valid_action_text")
def valid_action_text(turn: Turn, arg: str | None) -> bool:
    text = " ".join(str(turn.value or "").split())
    return 0 < len(text) <= ACTION_TEXT_MAX


@action("set_action_text")
def set_action_text(turn: Turn, arg: str | None) -> None:
    turn.ctx["wwd_text"] = " ".join(str(turn.value).split())


@provider("action_who_choices")
def action_who_choices(turn: Turn) -> list[Choice]:
    return [Choice(label[0].upper() + label[1:], key) for key, label in WHO.items()]


@action("set_action_who")
def set_action_who(turn: Turn, arg: str | None) -> None:
    turn.ctx["wwd_who"] = str(turn.value) if str(turn.value) in WHO else None


@condition("valid_action_due")
def valid_action_due(turn: Turn, arg: str | None) -> bool:
    try:
        parse_due(str(turn.value or ""), turn.now().date())
    except ValueError:
        return False
    return True


@action("say_action_due_problem")
def say_action_due_problem(turn: Turn, arg: str | None) -> None:
    try:
        parse_due(str(turn.value or ""), turn.now().date())
    except ValueError as exc:
        turn.replies.append(Reply(str(exc)))


@action("save_action")
def save_action(turn: Turn, arg: str | None) -> None:
    """Store the new action (the read right is checked again in the store)."""
    team_id = _actions_team(turn)
    theme = turn.ctx.pop("wwd_theme", None)
    text = turn.ctx.pop("wwd_text", None)
    who = turn.ctx.pop("wwd_who", None)
    if team_id is None or not theme or not text:
        turn.say("not_manager")
        return
    due = None
    if turn.value != "none":
        day = parse_due(str(turn.value or ""), turn.now().date())
        due = day.isoformat() if day else None
    try:
        turn.content.praatplaat.theme(str(theme))
    except KeyError:
        turn.say("actions_text_invalid")
        return
    turn.store.add_action(team_id, str(theme), str(text), turn.member_id, who=who, due=due)
    turn.store.audit("action_add", actor=turn.member_id, team_id=team_id, detail=str(theme))
    turn.say("actions_saved")


@provider("open_action_choices")
def open_action_choices(turn: Turn) -> list[Choice]:
    team_id = _actions_team(turn)
    rows = [] if team_id is None else turn.store.team_actions(team_id, status="open")
    out = [Choice(_short(describe_action(r, turn.content)), str(r["id"])) for r in rows]
    return [*out, Choice(turn.text("button_back"), "back")]


def _short(text: str, limit: int = 60) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


@action("finish_action")
def finish_action(turn: Turn, arg: str | None) -> None:
    team_id = _actions_team(turn)
    try:
        action_id = int(str(turn.value))
    except ValueError:
        action_id = -1
    if team_id is None or not turn.store.set_action_status(action_id, team_id, "done",
                                                           turn.member_id):
        turn.say("actions_not_found")
        return
    turn.store.audit("action_done", actor=turn.member_id, team_id=team_id, detail=str(action_id))
    turn.say("actions_marked_done")
