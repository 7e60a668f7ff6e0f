"""Named conditions, actions, choice providers and prompt renderers used by the dialogues.

Every name a dialogue file uses is registered with one of the decorators of
:mod:`bot.engine.registry` (here, and in the modules the engine imports beside this one). Each
function takes the :class:`~bot.engine.turn.Turn` and the optional argument written after a
colon in the YAML (``value:ja`` -> ``arg="ja"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.content import Question
from bot.engine.messages import Choice, Reply
from bot.engine.registry import REGISTRY, action, condition, provider, renderer
from bot.engine.turn import MAX_TEXT, Turn
from bot.engine.turn import TurnEngine as Engine  # what actions may use of the engine
from bot.nl import ROLE_NAMES, format_count
from bot.scoring import own_theme_text

__all__ = ["REGISTRY", "action", "apply_edit", "condition", "provider", "renderer", "say"]

#: the scope of a review ("Antwoorden bekijken of aanpassen"): every question of the period
ALL_ANSWERS = "all"

ROLE_LABELS = ROLE_NAMES  # the roles as people read them (bot.nl)


# -- helpers ------------------------------------------------------------------------------


def reflection_pack(engine: Engine, ctx: dict[str, Any]) -> Any:
    """The pack of the run in a conversation context: the Praatplaat unless the context names
    another pack (``pack``, and for a team's own pack the version ``pv`` it was started with)."""
    pack_id = ctx.get("pack")
    if not pack_id or pack_id == "praatplaat":
        return engine.content.praatplaat
    from bot.packs import library

    return library(engine).reflection(ctx.get("team_id"), str(pack_id), ctx.get("pv"))


def questions_of(engine: Engine, ctx: dict[str, Any]) -> tuple[str, ...]:
    """The question ids of the run in a conversation context, from its pack, scope and role.

    Not stored in the conversation: the context keeps only the cursor (``i``). Conversations
    saved by version 0.1 still carry their list as ``qs``; it is used while that run lasts.
    The same tuple every time (made once per pack, scope and role): never to be changed.
    """
    stored = ctx.get("qs")
    if stored is not None:
        return tuple(stored)
    scope = ctx.get("scope")
    if not scope:
        return ()
    pack_id = ctx.get("pack")
    if not pack_id:  # the Praatplaat (its version is the content's): by scope and role only
        short = ("pp_questions", scope, ctx.get("role", "professional"))
        listed: tuple[str, ...] | None = engine.memo.get(short)
        if listed is None:
            listed = questions_of(engine, {"scope": scope, "role": short[2], "pack": "praatplaat"})
            engine.memo[short] = listed
        return listed
    team = None if engine.content.has_pack(pack_id) else ctx.get("team_id")
    key = ("questions", pack_id, ctx.get("pv"), team, scope, ctx.get("role", "professional"))
    found: tuple[str, ...] | None = engine.memo.get(key)
    if found is None:
        role = key[-1]
        pack = reflection_pack(engine, ctx)
        if scope == ALL_ANSWERS:  # reviewing a period: every question, whatever the role
            found = tuple(q.id for t in pack.units for q in t.questions)
        else:
            themes = pack.round_units() if scope == "tour" else [pack.theme(str(scope))]
            found = tuple(q.id for t in themes for q in t.questions if q.for_role(role))
        engine.memo[key] = found
    return found


def current_question_id(engine: Engine, ctx: dict[str, Any]) -> str | None:
    """The id of the question under the cursor, if any."""
    qs, i = questions_of(engine, ctx), ctx.get("i", 0)
    return qs[i] if 0 <= i < len(qs) else None


def run_questions(turn: Turn) -> tuple[str, ...]:
    return questions_of(turn.engine, turn.ctx)


def _question(turn: Turn) -> Question | None:
    """The question under the cursor, if any (asked several times per turn: the Praatplaat's
    round, the common case, is looked up in its index without finding its pack first)."""
    ctx = turn.conv.context
    engine = turn.engine
    i = ctx.get("i", 0)
    qs = questions_of(engine, ctx)
    if not 0 <= i < len(qs):
        return None
    if "qs" not in ctx and not ctx.get("pack"):
        return engine.content.praatplaat.index.question[qs[i]]
    return reflection_pack(engine, ctx).question(qs[i])  # type: ignore[no-any-return]


def _questions_for(turn: Turn, scope: str,
                   run: dict[str, Any] | None = None) -> tuple[str, ...]:
    ctx = {"scope": scope, "role": turn.ctx.get("role", "professional")}
    if run is not None and run.get("pack") not in (None, "praatplaat"):
        ctx.update(pack=run["pack"], pv=run.get("pack_version"), team_id=run["team_id"])
    return questions_of(turn.engine, ctx)


def _leave_run(turn: Turn) -> None:
    """Remember where an open run was before the conversation turns to another run or to a
    review, so 'Verder waar je was' comes back to exactly that question."""
    ctx = turn.ctx
    if ctx.get("run") and not ctx.get("review") and not ctx.get("editing"):
        ctx.setdefault("cursors", {})[str(ctx["run"])] = ctx.get("i", 0)


def _start_run(turn: Turn, scope: str, pack: Any = None) -> None:
    """A new run of ``scope`` (``tour`` or a unit id) in ``pack`` (default: the Praatplaat)."""
    ctx = turn.ctx
    _leave_run(turn)
    team_id = int(ctx["team_id"])
    pack_id = None if pack is None or pack.id == "praatplaat" else pack.id
    version = None if pack_id is None else str(pack.version)
    period = turn.store.answer_period(team_id, turn.now())
    run_id = turn.store.start_run(
        turn.member_id or 0, team_id, scope, period,
        pack=pack_id or "praatplaat", pack_version=version,
    )
    ctx.pop("qs", None)
    ctx.pop("brief", None)
    ctx.pop("intent", None)
    _set_pack(ctx, pack_id, version)
    ctx.update(run=run_id, scope=scope, i=0, editing=False, review=False)
    # in a period where the person answered before, the round starts from those answers: each
    # question shows the earlier one, and what is changed is changed in place (one answer per
    # question, pack and period)
    done = load_round(turn, team_id, period)
    qs = run_questions(turn)
    earlier = sum(1 for q in qs if q in done)
    if earlier:  # about the person's own answers: only for them (Reply.personal)
        turn.replies.append(Reply(turn.text("round_from_earlier", n=earlier, total=len(qs),
                                            period=period_label(period)), personal=True))


def period_label(period: str) -> str:
    """``2026-Q3`` -> ``2026 Q3`` (how periods are shown to people)."""
    return period.replace("-", " ")


def load_round(turn: Turn, team_id: int, period: str) -> dict[str, int]:
    """Remember in the conversation which questions of the run's pack the person answered in
    this team's period and in which run's row (``done``), and the team's name when they are in
    several teams (every question shows it). Built once per round, kept up to date by each
    save: an ordinary answer turn needs no extra query."""
    ctx = turn.ctx
    pack = str(ctx.get("pack") or "praatplaat")
    done = turn.store.period_answer_runs(turn.member_id or 0, team_id, period, pack)
    ctx["done"] = done
    ctx["done_for"] = [team_id, period, pack]
    teams = turn.store.memberships(turn.member_id or 0) if turn.member_id else []
    if len(teams) > 1:
        ctx["team_label"] = next((str(m["team_name"]) for m in teams
                                  if int(m["team_id"]) == team_id), "")
    else:
        ctx.pop("team_label", None)
    return done


def _done_key(ctx: dict[str, Any], team_id: int, period: str) -> list[Any]:
    return [team_id, period, str(ctx.get("pack") or "praatplaat")]


def round_done(turn: Turn) -> dict[str, int]:
    """Question id -> run holding the person's answer in the round's team, pack and period
    (built when missing, e.g. a conversation saved by an older version)."""
    ctx = turn.ctx
    done = ctx.get("done")
    if isinstance(done, dict) and isinstance(ctx.get("done_for"), list):
        return done
    team_id = ctx.get("team_id")
    if not team_id or turn.member_id is None:
        return {}
    return load_round(turn, int(team_id), turn.store.answer_period(int(team_id), turn.now()))


def _answer_run(turn: Turn, question_id: str) -> int:
    """The run whose row holds this question's answer in the round (else the current run)."""
    return int(round_done(turn).get(question_id, turn.ctx["run"]))


def _set_pack(ctx: dict[str, Any], pack_id: str | None, version: str | None) -> None:
    """Remember the run's pack in the context (nothing for the Praatplaat)."""
    if pack_id and pack_id != "praatplaat":
        ctx.update(pack=pack_id, pv=version)
    else:
        ctx.pop("pack", None)
        ctx.pop("pv", None)


def _join(turn: Turn, team_id: int) -> None:
    ctx = turn.ctx
    role = ctx.get("role", "professional")
    turn.store.join_team(turn.member_id or 0, team_id, role)
    ctx["team_id"] = team_id
    team = turn.store.get_team(team_id)
    turn.say("joined", team=team["name"] if team else "je team")


def _answer_label(row: dict[str, Any]) -> str:
    parts = []
    if row.get("scale") is not None:
        parts.append(str(row["scale"]))
    if row.get("text"):
        text = row["text"]
        parts.append(f"“{text[:60]}{'…' if len(text) > 60 else ''}”")
    return " · ".join(parts) or "overgeslagen"


def _personal(replies: list[Reply]) -> list[Reply]:
    """Mark replies as personal: transports send them only into a chat with the person alone."""
    for reply in replies:
        reply.personal = True
    return replies


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- conditions ---------------------------------------------------------------------------


@condition("value")
def value_is(turn: Turn, arg: str | None) -> bool:
    return str(turn.value) == arg


@condition("has_args")
def has_args(turn: Turn, arg: str | None) -> bool:
    return bool(turn.args)


#: deep-link payloads that are not invite codes (e.g. the link under a group tip)
NON_INVITE_PAYLOADS = ("tip-", "go-")


@condition("has_invite_arg")
def has_invite_arg(turn: Turn, arg: str | None) -> bool:
    return bool(turn.args) and not turn.args.startswith(NON_INVITE_PAYLOADS)


@condition("consented")
def consented(turn: Turn, arg: str | None) -> bool:
    if turn.member_id is None:
        return False
    member = turn.store.get_member(turn.member_id)
    return bool(member and member["consent_at"])


@condition("has_role")
def has_role(turn: Turn, arg: str | None) -> bool:
    return bool(turn.ctx.get("role"))


@condition("has_team")
def has_team(turn: Turn, arg: str | None) -> bool:
    return bool(turn.ctx.get("team_id"))


@condition("onboarded")
def onboarded(turn: Turn, arg: str | None) -> bool:
    return has_role(turn, None) and has_team(turn, None) and consented(turn, None)


@condition("has_pending_invite")
def has_pending_invite(turn: Turn, arg: str | None) -> bool:
    return bool(turn.ctx.get("invite"))


# who may read, who owns: a granted right (bot.store.access), never the role one answers as


def may_read(turn: Turn) -> bool:
    """A granted read right on at least one real team (owners read too)."""
    return turn.member_id is not None and bool(turn.store.report_teams(turn.member_id))


def demo_report_available(turn: Turn) -> bool:
    """A member of the Demoteam, and a demo report (synthetic answers) is installed."""
    if turn.engine.plugins.demo_report is None or turn.member_id is None:
        return False
    return any(m["is_demo"] for m in turn.store.memberships(turn.member_id))


@condition("may_read")
def may_read_condition(turn: Turn, arg: str | None) -> bool:
    return may_read(turn)


@condition("is_owner")
def is_owner(turn: Turn, arg: str | None) -> bool:
    return turn.member_id is not None and bool(turn.store.owned_teams(turn.member_id))


@condition("has_open_run")
def has_open_run(turn: Turn, arg: str | None) -> bool:
    if turn.member_id is None:
        return False
    return turn.store.latest_run(turn.member_id, unfinished=True) is not None


@condition("has_any_run")
def has_any_run(turn: Turn, arg: str | None) -> bool:
    return turn.member_id is not None and turn.store.latest_run(turn.member_id) is not None


@condition("has_question")
def has_question(turn: Turn, arg: str | None) -> bool:
    return _question(turn) is not None


@condition("question_is_scale")
def question_is_scale(turn: Turn, arg: str | None) -> bool:
    q = _question(turn)
    return q is not None and q.kind == "scale"


@condition("question_is_text")
def question_is_text(turn: Turn, arg: str | None) -> bool:
    q = _question(turn)
    return q is not None and q.kind == "text"


@condition("question_has_follow_up")
def question_has_follow_up(turn: Turn, arg: str | None) -> bool:
    """A scale question whose open half is asked next, as its own prompt."""
    q = _question(turn)
    return q is not None and q.kind == "scale" and q.follow_up is not None


@condition("answered_question")
def answered_question(turn: Turn, arg: str | None) -> bool:
    return str(turn.value) in run_questions(turn)


@condition("resume_in")
def resume_in(turn: Turn, arg: str | None) -> bool:
    state = str(turn.ctx.get("resume", ""))
    return state == arg or state.startswith(f"{arg}.")


# -- actions: onboarding ------------------------------------------------------------------


@action("give_consent")
def give_consent(turn: Turn, arg: str | None) -> None:
    inc = turn.incoming
    member_id = turn.store.get_or_create_member(inc.platform, inc.user_id)  # no name: ever
    turn.store.set_consent(member_id)
    turn.conv.member_id = member_id


@action("decline")
def decline(turn: Turn, arg: str | None) -> None:
    """Saying no at the start: keep nothing, not even the conversation (nor a copy of it in
    the WAL: checkpointed after the commit). Someone who said yes, went back (/terug) and then
    said no has a member row by then: it goes too."""
    if turn.member_id is not None:
        turn.store.delete_member(turn.member_id)
        turn.conv.member_id = None
    turn.say("declined")
    turn.forgotten = True
    turn.later.append(turn.store.checkpoint)


@action("set_role")
def set_role(turn: Turn, arg: str | None) -> None:
    role = str(turn.value)
    turn.ctx["role"] = role
    if turn.ctx.get("team_id") and turn.member_id:
        turn.store.join_team(turn.member_id, int(turn.ctx["team_id"]), role)


@action("use_invite_arg")
def use_invite_arg(turn: Turn, arg: str | None) -> None:
    turn.ctx["invite"] = turn.args.split()[0]


@action("join_demo")
def join_demo(turn: Turn, arg: str | None) -> None:
    _join(turn, turn.store.demo_team())


# -- actions: reflection ------------------------------------------------------------------


@action("start_tour")
def start_tour(turn: Turn, arg: str | None) -> None:
    _start_run(turn, "tour")  # the Praatplaat's ten themes


@action("start_theme")
def start_theme(turn: Turn, arg: str | None) -> None:
    _start_run(turn, str(turn.value))


@action("resume_run")
def resume_run(turn: Turn, arg: str | None) -> None:
    """Continue the open run exactly where it was (rebuilt from the store if needed)."""
    run = turn.store.latest_run(turn.member_id or 0, unfinished=True)
    if run is None:
        return
    ctx = turn.ctx
    cursors: dict[str, int] = ctx.setdefault("cursors", {})
    same = ctx.get("run") == run["id"] and ctx.get("scope")
    if same and not ctx.get("review") and not ctx.get("editing"):
        cursors.pop(str(run["id"]), None)
        return
    if str(run["id"]) in cursors:
        i = cursors.pop(str(run["id"]))
    else:  # no remembered cursor (e.g. a conversation from version 0.1): first unanswered
        qs = _questions_for(turn, run["scope"], run)
        team_id = int(run["team_id"])
        answered: dict[str, Any] = turn.store.period_answer_runs(
            turn.member_id or 0, team_id, turn.store.answer_period(team_id, turn.now()),
            str(run.get("pack") or "praatplaat"))
        answered.update(dict.fromkeys(turn.store.run_answers(run["id"]), run["id"]))
        i = next((n for n, q in enumerate(qs) if q not in answered), len(qs))
    if not same:
        ctx.pop("qs", None)
    _set_pack(ctx, run.get("pack"), run.get("pack_version"))
    ctx.update(run=run["id"], scope=run["scope"], i=i, editing=False, review=False,
               team_id=run["team_id"])
    load_round(turn, int(run["team_id"]),
               turn.store.answer_period(int(run["team_id"]), turn.now()))


@action("advance")
def advance(turn: Turn, arg: str | None) -> None:
    ctx = turn.ctx
    if ctx.get("editing"):
        ctx["i"] = len(run_questions(turn))
        ctx["editing"] = False
    else:
        ctx["i"] = ctx.get("i", 0) + 1


@action("go_back")
def go_back(turn: Turn, arg: str | None) -> None:
    turn.ctx["i"] = max(0, turn.ctx.get("i", 0) - 1)
    turn.ctx["editing"] = False


def _save(turn: Turn, *, scale: int | None = None, text: str | None = None) -> None:
    """Save the answer under the cursor. One answer per question, pack and period: when the
    person answered this question earlier in the period (another round), that row is changed."""
    q = _question(turn)
    assert q is not None
    ctx = turn.ctx
    team_id = int(ctx["team_id"])
    pack = reflection_pack(turn.engine, ctx)
    praatplaat = pack.id == "praatplaat"
    # the one place that decides a new answer's period (a round closed early counts what comes
    # after it for the next one); a changed answer keeps its first period
    period = turn.store.answer_period(team_id, turn.now())
    done = round_done(turn)
    if ctx.get("done_for") != _done_key(ctx, team_id, period) and not ctx.get("review"):
        done = load_round(turn, team_id, period)  # a new quarter, or the round closed early
    run_id = int(ctx["run"])
    target = int(done.get(q.id, run_id))
    turn.store.save_answer(
        run_id=target,
        member_id=turn.member_id or 0,
        team_id=team_id,
        role=str(ctx.get("role", "professional")),
        theme_id=pack.theme_of(q.id).id,
        question_id=q.id,
        period=period,
        # the combined version for the Praatplaat (as before); "<pack>=<version>" for a pack
        content_version=turn.content.version if praatplaat else f"{pack.id}={pack.version}",
        scale=scale,
        text=text,
        source_ref=turn.incoming.message_ref if text else None,
        pack=pack.id,
        pack_version=str(pack.version),
    )
    if target != run_id:  # the round being walked saw activity too (reminders look at it)
        from bot.store import utcnow

        turn.store.touch_run(run_id, utcnow())
    done[q.id] = target


@action("save_scale")
def save_scale(turn: Turn, arg: str | None) -> None:
    _save(turn, scale=int(turn.value))


@action("correct_scale")
def correct_scale(turn: Turn, arg: str | None) -> None:
    """A bare number right after a scale answer corrects that answer (it is no explanation)."""
    _save(turn, scale=int(turn.value))
    turn.say("scale_corrected", n=int(turn.value))


@action("save_text")
def save_text(turn: Turn, arg: str | None) -> None:
    _save(turn, text=str(turn.value))


@action("save_explanation")
def save_explanation(turn: Turn, arg: str | None) -> None:
    """A new or changed explanation is not shared until the person says so (the flow asks
    next); a changed one also leaves published reports."""
    q = _question(turn)
    assert q is not None
    turn.store.set_answer_text(_answer_run(turn, q.id), q.id, str(turn.value),
                               turn.incoming.message_ref)


@action("share")
def share(turn: Turn, arg: str | None) -> None:
    q = _question(turn)
    assert q is not None
    turn.store.set_answer_share(_answer_run(turn, q.id), q.id, arg == "1")


@action("finish_run")
def finish_run(turn: Turn, arg: str | None) -> None:
    """Reaching the end of the questions finishes a run; reviewing or editing does not."""
    run_id = turn.ctx.get("run")
    if run_id and not turn.ctx.get("review"):
        turn.store.finish_run(int(run_id))  # an already finished run stays as it was


@action("review_period")
@action("review_last_run")
def review_period(turn: Turn, arg: str | None) -> None:
    """'Antwoorden bekijken of aanpassen': every answer of the team's current period in the pack
    of the latest round, from whichever round it was given in (none yet this period: the
    latest period with answers)."""
    ctx = turn.ctx
    member = turn.member_id or 0
    run = turn.store.latest_run(member)
    if run is None:
        return
    team_id = int(ctx.get("team_id") or run["team_id"])
    pack = str(run.get("pack") or "praatplaat")
    period = turn.store.answer_period(team_id, turn.now())
    if not turn.store.period_answer_runs(member, team_id, period, pack):
        period = turn.store.latest_answer_period(member, team_id, pack) or period
    _leave_run(turn)
    ctx.pop("qs", None)
    ctx.pop("intent", None)
    _set_pack(ctx, run.get("pack"), run.get("pack_version"))
    ctx.update(run=run["id"], scope=ALL_ANSWERS, editing=False, review=True, team_id=team_id)
    ctx["i"] = len(run_questions(turn))
    load_round(turn, team_id, period)


@action("edit_question")
def edit_question(turn: Turn, arg: str | None) -> None:
    turn.ctx["i"] = run_questions(turn).index(str(turn.value))
    turn.ctx["editing"] = True


# -- actions: pause, privacy, preferences ------------------------------------------------------


@action("remember_resume")
def remember_resume(turn: Turn, arg: str | None) -> None:
    """Where to come back to after a pause or a side trip (``menu.resume``): the state the
    person is in now (the menu too); from a side trip, where that trip started."""
    state = turn.conv.state
    if state == "extras.tip_text":
        state = str((turn.ctx.get("back") or {}).get("state") or "menu.main")
    elif state.startswith("extras."):
        return
    turn.ctx["resume"] = state


@action("resume_paused")
def resume_paused(turn: Turn, arg: str | None) -> None:
    """Nothing to do: ``menu.resume`` reads the remembered state."""


@action("say")
def say(turn: Turn, arg: str | None) -> None:
    turn.say(str(arg))


@action("say_help")
def say_help(turn: Turn, arg: str | None) -> None:
    text = turn.text("help")
    if may_read(turn):  # a granted right, not the role one answers as
        text += "\n\n" + turn.text("help_manager")
    if is_owner(turn, None):
        text += "\n\n" + turn.text("help_owner")
    turn.replies.append(Reply(text))


@action("send_export")
def send_export(turn: Turn, arg: str | None) -> None:
    """Everything held about the person, readable (also before consent: then very little)."""
    from bot.engine.mydata import FILENAME, export_document, export_json

    doc = export_document(turn.store, turn.content, turn.member_id, turn.conv, turn.now())
    key = "export_caption" if turn.member_id is not None else "export_caption_before_consent"
    turn.replies.append(Reply(turn.text(key),
                              document=(FILENAME, export_json(doc), "application/json"),
                              personal=True))


@action("forget")
def forget(turn: Turn, arg: str | None) -> None:
    """Erase everything of the person (before consent: the pending conversation). After the
    commit the WAL is checkpointed, so no old copy of a page stays in the files; the reply
    tells the transport to leave and forget the private chat (Matrix)."""
    if turn.member_id is not None:
        turn.store.delete_member(turn.member_id)
    turn.conv.member_id = None
    turn.forgotten = True
    turn.later.append(turn.store.checkpoint)
    turn.replies.append(Reply(turn.text("forgotten"), leave_chat=True))


@action("set_reminders")
def set_reminders(turn: Turn, arg: str | None) -> None:
    """``set_reminders:off`` / ``set_reminders:on`` (``/herinneringen uit`` / ``aan``)."""
    off = arg == "off" if arg else turn.args.lower().startswith("uit")
    turn.store.update_member(turn.member_id or 0, reminders_off=int(off))
    turn.say("reminders_off" if off else "reminders_on")


@action("show_reminders")
def show_reminders(turn: Turn, arg: str | None) -> None:
    """``/herinneringen`` without a word: what the setting is, and how to change it."""
    member = turn.store.get_member(turn.member_id or 0)
    off = bool(member and member["reminders_off"])
    turn.say("reminders_status_off" if off else "reminders_status_on")


def parse_date(text: str) -> date | None:
    """``2027-01-15``, ``15-01-2027`` or ``15-1-2027`` (with or without a leading 'tot')."""
    words = text.lower().split()
    if words and words[0] == "tot":
        words = words[1:]
    if len(words) != 1:
        return None
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(words[0], fmt).date()
        except ValueError:
            continue
    return None


@action("pause_until")
def pause_until(turn: Turn, arg: str | None) -> None:
    when = parse_date(turn.args)
    if when is None or when <= turn.now().date():
        turn.say("pause_date_invalid")
        return
    turn.store.update_member(turn.member_id or 0, paused_until=when.isoformat())
    turn.say("paused_until", date=when.strftime("%d-%m-%Y"))


# -- actions: monthly tip ------------------------------------------------------------------


@action("save_tip_reaction")
def save_tip_reaction(turn: Turn, arg: str | None) -> None:
    period, _, scale = str(turn.value).rpartition(":")
    month = int(period.split("-")[1])
    turn.store.save_tip_reaction(turn.member_id or 0, turn.ctx.get("team_id"), period, month,
                                 int(scale))
    turn.ctx["tip"] = period


@action("save_tip_text")
def save_tip_text(turn: Turn, arg: str | None) -> None:
    turn.store.set_tip_reaction_text(turn.member_id or 0, str(turn.ctx.get("tip")),
                                     str(turn.value), True)
    turn.say("tip_text_saved")


# -- actions: views for the person and for managers ---------------------------------------------


@action("show_my_reflections")
def show_my_reflections(turn: Turn, arg: str | None) -> None:
    from bot.engine.views import my_reflections

    turn.replies.extend(_personal(my_reflections(turn)))


@action("show_report")
def show_report(turn: Turn, arg: str | None) -> None:
    """Reports for people with a granted read right. The Demoteam's members get the demo
    report (synthetic answers, plug-in ``demo_report``) and never anything of real people."""
    plugins = turn.engine.plugins
    if plugins.report is not None and may_read(turn):
        turn.replies.extend(_personal(plugins.report(turn)))  # for the reader only
        return
    if demo_report_available(turn) and plugins.demo_report is not None:
        replies = plugins.demo_report(turn)
        if replies:
            turn.replies.extend(_personal(replies))
            return
    turn.store.audit("chat_report:denied", actor=turn.member_id)
    turn.say("not_manager")


@action("send_dashboard_link")
def send_dashboard_link(turn: Turn, arg: str | None) -> None:
    """A dashboard login link, for people with a granted read right only."""
    hook = turn.engine.plugins.dashboard_link
    if hook is None or not may_read(turn):
        turn.store.audit("dashboard_link:denied", actor=turn.member_id)
        turn.say("not_manager")
        return
    turn.replies.extend(_personal(hook(turn)))  # a login link is the person's key


def apply_edit(turn: Turn) -> bool:
    """An edited chat message that carried a free-text answer updates that answer.

    Returns True when that text had been shared: a changed text is no longer shared (and leaves
    published reports) until its author agrees again, so the engine then fires ``edited`` and
    the dialogue asks (``reflect.share_again``).
    """
    inc = turn.incoming
    if turn.member_id is None or not inc.message_ref:
        return False
    row = turn.store.answer_by_source_ref(turn.member_id, inc.message_ref)
    text = inc.text.strip()
    if row is None or not text:
        turn.say("edit_unknown")
        return False
    if len(text) > MAX_TEXT:
        turn.say("too_long", length=format_count(len(text)), limit=format_count(MAX_TEXT))
        return False
    turn.store.set_answer_text(row["run_id"], row["question_id"], text)
    turn.say("edit_saved")
    if row["share_text"] and text != row["text"]:
        turn.value = {"run": int(row["run_id"]), "q": str(row["question_id"])}
        return True
    return False


@action("ask_reshare")
def ask_reshare(turn: Turn, arg: str | None) -> None:
    """Remember which answer to ask about, and where the person was (to go back after)."""
    turn.ctx["reshare"] = dict(turn.value or {})
    turn.ctx["resume"] = turn.conv.state


@action("reshare")
def reshare(turn: Turn, arg: str | None) -> None:
    """Consent (``reshare:1``) or not (``reshare:0``) to share the changed text."""
    target = turn.ctx.pop("reshare", None)
    if target and arg == "1":
        turn.store.set_answer_share(int(target["run"]), str(target["q"]), True)


# -- choice providers -----------------------------------------------------------------------


@provider("menu_choices")
def menu_choices(turn: Turn) -> list[Choice]:
    """Always in this order, so a typed number never changes meaning with the person's state
    (typing "2" is always the whole round, and asks first when one is open): continue, the
    whole round, one theme, review, your reflections. Only what the team uses (its packs) and
    a granted right (report, managing the team) add options, after those."""
    from bot.packs import library

    lib = library(turn.engine)
    team = turn.ctx.get("team_id")
    choices = [Choice("Verder waar je was", "resume")]
    if lib.is_enabled(team, "praatplaat"):  # a team may use other packs only
        choices += [Choice("Hele ronde (10 thema's)", "tour"), Choice("Eén thema kiezen", "theme")]
    choices += [Choice("Antwoorden bekijken of aanpassen", "review"),
                Choice("Mijn reflecties door de tijd", "mine")]
    if lib.member_packs(team, str(turn.ctx.get("role", "professional"))):
        choices.append(Choice(turn.text("menu_packs"), "packs"))
    # both granted rights in one read (may_read and is_owner), not the role one answers as
    reads, owns = turn.store.rights(turn.member_id) if turn.member_id is not None else (
        False, False)
    if reads or demo_report_available(turn):
        choices.append(Choice("Teamrapport", "report"))
    if owns:
        choices.append(Choice("Team beheren", "access"))
    return choices


@provider("theme_choices")
def theme_choices(turn: Turn) -> list[Choice]:
    """The Praatplaat's themes (made once per engine: content does not change while it runs;
    Choice is immutable, every reply gets its own list)."""
    found: tuple[Choice, ...] | None = turn.engine.memo.get("theme_choices")
    if found is None:
        found = tuple(Choice(f"{t.number}. {t.title}", t.id)
                      for t in turn.content.praatplaat.themes)
        turn.engine.memo["theme_choices"] = found
    return list(found)


def _round_period(turn: Turn) -> tuple[int, int, str, str] | None:
    """(member, team, period, pack) of the round's answers (every round in that period
    counts), or None when there is no person or team to read them for."""
    round_done(turn)
    team, period, pack = turn.ctx.get("done_for") or [None, "", "praatplaat"]
    if not team or turn.member_id is None:
        return None
    return turn.member_id, int(team), str(period), str(pack)


def round_answers(turn: Turn) -> dict[str, dict[str, Any]]:
    """The person's answers in the round's team, pack and period (from every round in it)."""
    where = _round_period(turn)
    return {} if where is None else turn.store.period_answers(*where)


@provider("answered_choices")
def answered_choices(turn: Turn) -> list[Choice]:
    answers = round_answers(turn)
    pp = reflection_pack(turn.engine, turn.ctx)
    return [
        Choice(f"{_short(pp.question(qid).text, 40)} ({_answer_label(answers[qid])})", qid)
        for qid in run_questions(turn)
        if qid in answers
    ]


# -- renderers --------------------------------------------------------------------------------

#: a scale question's buttons (Choice is immutable: every reply gets its own list of them)
_SCALE_CHOICES = tuple(Choice(str(n), str(n)) for n in range(1, 6))


@dataclass(frozen=True, slots=True)
class _QuestionTexts:
    """What a question says at one place in a round, whoever is asked: the theme's intro (or
    ``pack_intro``: a pack's own, made per turn), the heading with the question, the hint."""

    intro: str | None
    pack_intro: bool
    head: str
    hint: str


def _question_texts(turn: Turn, pp: Any, q: Question, theme: Any, qs: Sequence[str], i: int,
                    team: str | None, editing: bool) -> _QuestionTexts:
    first_of_theme = i == 0 or pp.theme_of(qs[i - 1]).id != theme.id
    intro = None
    pack_intro = first_of_theme and not editing and pp.id != "praatplaat"
    if first_of_theme and not editing and not pack_intro:
        intro = f"Thema {theme.number}: {theme.title}\n\n{theme.intro}"
        if i == 0:  # once per round: where the questions come from, and what is ours
            intro += "\n\n" + turn.text("source_note", source=pp.source.attribution())
    if editing:  # a review lists every question of the period: no "n of total" there
        head = turn.text("question_team", theme=theme.title, team=team) if team else theme.title
    elif team:
        head = turn.text("question_progress_team", n=i + 1, total=len(qs), theme=theme.title,
                         team=team)
    else:
        head = turn.text("question_progress", n=i + 1, total=len(qs), theme=theme.title)
    if q.kind == "scale":
        assert q.anchors is not None  # the content loader requires them
        hint = turn.text("scale_hint", low=q.anchors.low.lower(), high=q.anchors.high.lower())
    else:
        hint = turn.text("text_hint")
    return _QuestionTexts(intro, pack_intro, f"{head}\n\n{q.ask}", f"\n\n{hint}")


@renderer("question")
def render_question(turn: Turn) -> list[Reply]:
    """The question under the cursor with its own anchors. The first question of a run also
    says where the questions come from, the first of a theme gives the theme's intro; after
    input that was not understood (``turn.retry``) only the short question is repeated."""
    ctx = turn.conv.context
    engine = turn.engine
    pp = reflection_pack(engine, ctx)
    qs, i = questions_of(engine, ctx), ctx["i"]
    assert 0 <= i < len(qs)
    q: Question = pp.question(qs[i])
    anchors = (q.anchors.low, q.anchors.high) if q.anchors is not None else None
    if turn.retry:
        if q.kind == "scale":
            choices = [Choice(str(n), str(n)) for n in range(1, 6)]
            return [Reply(q.ask, choices=choices, expects="scale", scale_labels=anchors)]
        return [Reply(q.ask, expects="text")]
    replies: list[Reply] = []
    editing = bool(ctx.get("editing"))
    team = ctx.get("team_label")  # only for someone in several teams
    # the texts of this question at this place in the round are the same for everyone (content
    # and texts do not change while the engine runs): made once, only the person's earlier
    # answer is looked up per turn
    praatplaat = pp.id == "praatplaat"
    key = ("question_texts", pp.id, None if praatplaat else str(pp.version),
           None if praatplaat else ctx.get("team_id"),  # a team's own pack
           q.id, i, len(qs), qs[i - 1] if i else None, team, editing)
    texts: _QuestionTexts | None = engine.memo.get(key)
    if texts is None:
        theme = pp.theme_of(q.id)
        texts = _question_texts(turn, pp, q, theme, qs, i, team, editing)
        engine.memo[key] = texts
    if texts.pack_intro:
        from bot.engine.intros import unit_intro  # a pack's themes, cases and tips

        replies += unit_intro(turn, pp, pp.theme_of(q.id), first_of_round=i == 0)
    elif texts.intro is not None:
        replies.append(Reply(texts.intro))
    text = texts.head
    quotes = False
    # the answer already saved (after a pause, /terug, or from an earlier round this period);
    # only looked up when the round knows there is one: an ordinary turn costs no query
    done = round_done(turn)
    row = turn.store.answer_row(int(done[q.id]), q.id) if q.id in done else None
    if row and (row["scale"] is not None or row["text"]):
        text += "\n\n" + turn.text("previous_answer", answer=_answer_label(row))
        if not editing:
            text += "\n" + turn.text("keep_answer")
        quotes = True
    text += texts.hint
    if q.kind == "scale":
        replies.append(Reply(text, choices=list(_SCALE_CHOICES), expects="scale",
                             scale_labels=anchors))
    else:
        replies.append(Reply(text, expects="text"))
    replies[-1].personal = quotes  # it quotes the person's earlier answer
    return replies


@renderer("follow_up")
def render_follow_up(turn: Turn) -> list[Reply]:
    """The open half of a multi-part scale question, asked as its own prompt."""
    q = _question(turn)
    assert q is not None and q.follow_up is not None
    text = q.follow_up if turn.retry else f"{q.follow_up}\n\n{turn.text('follow_up_hint')}"
    return [Reply(text, choices=[Choice("Verder", "verder")], expects="choice")]


@renderer("summary")
def render_summary(turn: Turn) -> list[Reply]:
    """What the person answered for the round's questions in this period (every round in it
    counts: one answer per question). A review lists every question of the period."""
    ctx = turn.ctx
    # the person's answers of the round's team, pack and period: question id -> (scale, text)
    where = _round_period(turn)
    answers = {} if where is None else turn.store.period_scores(*where)
    pp = reflection_pack(turn.engine, ctx)
    lines: list[str] = []
    by_theme: dict[str, list[tuple[str, int | None, str | None]]] = {}
    for qid in run_questions(turn):
        found = answers.get(qid)
        if found is not None:
            by_theme.setdefault(pp.theme_of(qid).id, []).append((qid, *found))
    for theme in pp.units:
        rows = by_theme.get(theme.id)
        if not rows:
            continue
        scales = {qid: scale for qid, scale, _ in rows if scale is not None}
        texts = sum(1 for _, _, text in rows if text)
        parts = []
        own = own_theme_text(theme, scales)  # score items only: never opposite directions
        if own:
            parts.append(own)
        if texts:
            parts.append(f"{texts} toelichting{'en' if texts != 1 else ''}")
        lines.append(f"• {theme.title}: {', '.join(parts) or 'beantwoord'}")
    menu = Choice("Naar het menu", "menu")
    if not lines:
        return [Reply(turn.text("summary_empty"), choices=[menu], expects="choice")]
    if ctx.get("review"):
        period = str((ctx.get("done_for") or [None, ""])[1])
        team = ctx.get("team_label")
        title = turn.text("review_title", period=period_label(period)
                          + (f" · {team}" if team else ""))
    else:
        title = turn.text("summary_title")
    text = "\n".join([title, *lines, "", turn.text("summary_footer")])
    return [Reply(text, choices=[Choice("Antwoord aanpassen", "edit"), menu], expects="choice")]

