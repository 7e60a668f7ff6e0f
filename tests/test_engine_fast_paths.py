"""The engine's fast paths of a turn (issue 15) give what the general paths give: the replay
window's check, the question lists and the question under the cursor of a Praatplaat round,
and a say-state's own options made once per state. Each test fails when its fast path serves
something the general path would not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.content import ROLES
from bot.engine import replay
from bot.engine.actions import (
    ALL_ANSWERS,
    _question,
    menu_choices,
    questions_of,
    reflection_pack,
)
from bot.engine.core import Engine
from bot.engine.messages import Incoming
from bot.engine.turn import Turn
from bot.store import Conversation


def verdict_by_split(recent: str | None, number: int) -> replay.Verdict:
    """:func:`replay.verdict` as it was written before its fast path (the reference)."""
    if not recent:
        return "ask"
    tokens = recent.split(" ")
    if str(number) in tokens:
        return "replay"
    if number > int(tokens[0]):
        return "new"
    ids = [int(x) for x in tokens]
    if number in ids:
        return "replay"
    if number > min(ids):
        return "new"
    return "replay" if len(ids) >= replay.WINDOW else "ask"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 10**18), min_size=0, max_size=20), st.integers(0, 10**18),
       st.booleans())
def test_the_replay_check_is_the_split_rule(ids: list[int], number: int, remembered: bool) -> None:
    if remembered:  # a window as the engine writes it
        recent: str | None = None
        for n in ids:
            recent = replay.remember(recent, n)
    else:  # any order, even longer than a window
        recent = " ".join(map(str, ids)) or None
    assert replay.verdict(recent, number) == verdict_by_split(recent, number)
    for near in {*ids[:3], *(n + 1 for n in ids[-2:]), *(max(n - 1, 0) for n in ids[:2])}:
        assert replay.verdict(recent, near) == verdict_by_split(recent, near)


def test_the_replay_check_on_digits_inside_other_ids() -> None:
    # "12" is inside "112" and "121": only a whole id between spaces is a replay
    for recent in ("112 121", "5 112", "121", "3 12", "12 30"):
        for number in (12, 112, 121, 1, 2, 21, 30, 3):
            assert replay.verdict(recent, number) == verdict_by_split(recent, number), (
                recent, number)


def _turn(engine: Engine, ctx: dict[str, Any]) -> Turn:
    conv = Conversation(None, "console", "c1", 7, "reflect.question", ctx, 0, user_id="u1")
    return Turn(engine, conv, Incoming("console", "u1", "c1", "text", text=""))


def _expected_questions(engine: Engine, scope: str, role: str) -> tuple[str, ...]:
    pp = engine.content.praatplaat
    if scope == ALL_ANSWERS:
        return tuple(q.id for t in pp.units for q in t.questions)
    themes = pp.round_units() if scope == "tour" else [pp.theme(scope)]
    return tuple(q.id for t in themes for q in t.questions if q.for_role(role))


def test_the_praatplaat_question_lists_by_scope_and_role(engine: Engine) -> None:
    scopes = ["tour", ALL_ANSWERS, *(t.id for t in engine.content.praatplaat.themes)]
    for _ in range(2):  # the second time from the memo
        for scope in scopes:
            for role in ROLES:
                expected = _expected_questions(engine, scope, role)
                assert questions_of(engine, {"scope": scope, "role": role}) == expected
                # the same round named with the Praatplaat's id takes the general path
                assert questions_of(engine, {"scope": scope, "role": role,
                                             "pack": "praatplaat"}) == expected


def _other_pack(engine: Engine) -> tuple[Any, str]:
    """A pack beside the Praatplaat, and a role with questions in its round."""
    return next((p, role) for p in engine.content.packs for role in ROLES
                if hasattr(p, "round_units") and any(
                    q.for_role(role) for t in p.round_units() for q in t.questions))


def test_a_round_of_another_pack_never_gets_the_praatplaats_list(engine: Engine) -> None:
    pack, role = _other_pack(engine)
    praatplaat = questions_of(engine, {"scope": "tour", "role": role})
    other = questions_of(engine, {"scope": "tour", "role": role, "pack": pack.id,
                                  "pv": str(pack.version)})
    assert other == tuple(q.id for t in pack.round_units() for q in t.questions
                          if q.for_role(role))
    assert other and other != praatplaat
    # a list kept in the context (version 0.1) wins
    assert questions_of(engine, {"scope": "tour", "qs": ["x", "y"]}) == ("x", "y")


@pytest.mark.parametrize("pack", ["praatplaat", None, "other"])
def test_the_question_under_the_cursor(engine: Engine, pack: str | None) -> None:
    ctx: dict[str, Any] = {"scope": "tour", "role": "professional", "team_id": 1}
    if pack == "other":
        other, ctx["role"] = _other_pack(engine)
        pack = other.id
    if pack:
        ctx["pack"] = pack
        if pack != "praatplaat":
            ctx["pv"] = str(engine.content.pack(pack).version)
    turn = _turn(engine, ctx)
    qs = questions_of(engine, ctx)
    assert qs
    for i in [*range(len(qs)), len(qs), len(qs) + 3, -1]:
        ctx["i"] = i
        found = _question(turn)
        if 0 <= i < len(qs):
            assert found is reflection_pack(engine, ctx).question(qs[i])
        else:
            assert found is None
    # the cursor moves, the scope changes, the list is kept in the context: never stale
    ctx["i"] = 0
    ctx["scope"] = engine.content.praatplaat.themes[3].id
    ctx.pop("pack", None)
    assert _question(turn) is engine.content.praatplaat.themes[3].questions[0]
    ctx["qs"] = [engine.content.praatplaat.themes[5].questions[1].id]
    assert _question(turn) is engine.content.praatplaat.themes[5].questions[1]
    ctx.pop("scope")
    ctx.pop("qs")
    assert _question(turn) is None


def test_a_say_states_options_are_its_own_every_time(engine: Engine, tmp_path: Path) -> None:
    """The options of a say-state are made once per state: each prompt still gets its own
    list (a transport may change it), and what the context keeps to match input is the
    state's options."""
    spec = engine.dialogues.states["reflect.share"]
    assert isinstance(spec.choices, list) and spec.choices
    pairs = [[c.label, c.value] for c in spec.choices]
    turn = _turn(engine, {"scope": "tour", "i": 0})
    turn.conv.state = "reflect.share"
    first = engine._render_prompt(turn)[-1]
    assert [[c.label, c.value] for c in first.choices] == pairs
    assert turn.ctx["_p"]["ch"] == pairs
    first.choices.clear()  # what a transport does with its reply is its own
    second_turn = _turn(engine, {"scope": "tour", "i": 0})
    second_turn.conv.state = "reflect.share"
    second = engine._render_prompt(second_turn)[-1]
    assert [[c.label, c.value] for c in second.choices] == pairs
    assert second_turn.ctx["_p"]["ch"] == pairs
    # another say-state gets its own options, not the first one's
    other = _turn(engine, {"scope": "tour", "i": 0})
    other.conv.state = "reflect.explain"
    prompt = engine._render_prompt(other)[-1]
    explain = engine.dialogues.states["reflect.explain"].choices
    assert isinstance(explain, list)
    assert [[c.label, c.value] for c in prompt.choices] == [[c.label, c.value] for c in explain]
    assert other.ctx["_p"]["ch"] != pairs


def test_the_theme_list_is_the_contents_and_each_reply_its_own(engine: Engine) -> None:
    from bot.engine.actions import theme_choices

    turn = _turn(engine, {})
    expected = [(f"{t.number}. {t.title}", t.id) for t in engine.content.praatplaat.themes]
    first = theme_choices(turn)
    assert [(c.label, c.value) for c in first] == expected
    first.clear()  # what a transport does with its reply is its own
    assert [(c.label, c.value) for c in theme_choices(turn)] == expected


_OPTION_SETS = [
    [["Verder", "verder"]],
    [["Ja, anoniem delen", "ja"], ["Nee, alleen voor mij", "nee"]],
    [["Ja, ik doe mee", "ja"], ["Nee, ik doe niet mee", "nee"], ["Later", "later"]],
    [["1. Samenhang in het team", "samenhang"], ["2. Opdrachten (wijk)", "opdrachten"]],
]
_WORDS = ["verder", "verdr", "ver", "ja", "nee", "niet", "geen", "anoniem", "delen", "deel",
          "alleen", "voor", "mij", "ik", "doe", "mee", "later", "samenhang", "samnhang", "team",
          "opdrachten", "wijk", "soms", "lastig", "door", "wisselende", "bezetting", "liever",
          "Één", "thema's", "!", ",", "2"]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(_OPTION_SETS),
       st.lists(st.sampled_from(_WORDS) | st.text(alphabet="abdenrstv ", max_size=8),
                min_size=1, max_size=7),
       st.sampled_from(["typo", "words", "none"]), st.booleans())
@example(_OPTION_SETS[0], ["ver"], "typo", False)  # the start of a label
@example(_OPTION_SETS[0], ["verdr"], "typo", False)  # a typo of a label
@example(_OPTION_SETS[1], ["nee,", "alleen", "voor"], "typo", True)
@example(_OPTION_SETS[2], ["niet", "mee"], "typo", True)
@example(_OPTION_SETS[0], ["soms", "lastig", "door", "wisselende", "bezetting"], "typo", False)
def test_a_typed_answer_is_matched_as_without_the_typo_shortcut(
        choices: list[list[str]], words: list[str], loose: str, numbers: bool) -> None:
    """The shortcut for typed text that cannot be an option (``_typo_possible``) gives what the
    whole rule gives."""
    from unittest import mock

    from bot.engine import understand

    raw = " ".join(words)
    fast = understand.match_choice(raw, choices, numbers=numbers, loose=loose)
    with mock.patch.object(understand, "_typo_possible", lambda text, keys: True):
        whole = understand.match_choice(raw, choices, numbers=numbers, loose=loose)
    assert fast == whole


def test_the_menus_rights_read_says_what_report_teams_and_owned_teams_say(
        store: Any, engine: Engine) -> None:
    """The menu asks both rights in one statement (``Store.rights``); it must agree with the two
    reads it replaces in every case: none, a reader, an owner, the Demoteam, an owner who left
    the team (owns, but reads nothing: no membership), rights taken away."""
    team = store.create_team("Noord")
    demo = store.create_team("Demoteam", is_demo=True)
    people = {name: store.get_or_create_member("telegram", str(i), name)
              for i, name in enumerate(("niemand", "lezer", "eigenaar", "demo", "weg"), 1)}
    with store.transaction():
        for name, member in people.items():
            store.join_team(member, demo if name == "demo" else team, "professional")
        store.grant_access(team, people["lezer"], "reader", by=None, via="cli")
        store.grant_access(team, people["eigenaar"], "owner", by=None, via="cli")
        store.grant_access(team, people["weg"], "owner", by=None, via="cli")
        for access in ("reader", "owner"):  # as an older database may hold it: the Demoteam
            store.conn.execute(  # gives no right
                """INSERT OR REPLACE INTO team_access (team_id, member_id, access, granted_via,
                   granted_at) VALUES (?, ?, ?, 'cli', 'x')""", (demo, people["demo"], access))
            assert store.rights(people["demo"]) == (False, False)

    def both(member: int) -> tuple[bool, bool]:
        return bool(store.report_teams(member)), bool(store.owned_teams(member))

    expected = {"niemand": (False, False), "lezer": (True, False), "eigenaar": (True, True),
                "demo": (False, False), "weg": (True, True)}
    for name, member in people.items():
        assert store.rights(member) == both(member) == expected[name], name
    with store.transaction():
        store.conn.execute("DELETE FROM memberships WHERE member_id = ?", (people["weg"],))
        store.revoke_access(team, people["lezer"], by=None)
    assert store.rights(people["weg"]) == both(people["weg"]) == (False, True)
    assert store.rights(people["lezer"]) == both(people["lezer"]) == (False, False)
    # and the menu shows what they say
    turn = _turn(engine, {})
    turn.conv.member_id = people["eigenaar"]
    values = [c.value for c in menu_choices(turn)]
    assert "report" in values and "access" in values
    turn.conv.member_id = people["weg"]
    values = [c.value for c in menu_choices(turn)]
    assert "report" not in values and "access" in values


def test_a_summarys_answers_are_the_period_answers_it_replaces(store: Any) -> None:
    """``Store.period_scores`` (the round's summary) gives each question's (scale, text) as
    ``period_answers`` does: the person's own rows of that team, period and pack only, and of
    several rows for a question (older databases: one per round) the latest."""
    team, other = store.create_team("Noord"), store.create_team("Zuid")
    me, you = (store.get_or_create_member("telegram", u, u) for u in ("1", "2"))
    with store.transaction():
        for member in (me, you):
            for t in (team, other):
                store.join_team(member, t, "professional")
        runs = [store.start_run(me, team, "tour", "2026-Q3") for _ in range(2)]
        mine = dict(member_id=me, team_id=team, role="professional", theme_id="t1",
                    period="2026-Q3", content_version="1")
        store.save_answer(run_id=runs[0], question_id="q1", scale=2, **mine)
        store.save_answer(run_id=runs[0], question_id="q2", text="eerst", **mine)
        store.save_answer(run_id=runs[1], question_id="q2", scale=4, text="later", **mine)
        store.save_answer(run_id=runs[1], question_id="q3", text="", **mine)
        store.conn.execute("UPDATE answers SET updated_at = '2026-07-0' || id")  # in id order
        for elsewhere in ({"member_id": you}, {"team_id": other}, {"period": "2026-Q2"},
                          {"pack": "teamdynamiek"}):
            row = {**mine, **elsewhere}
            run = store.start_run(row["member_id"], row["team_id"], "tour", row["period"])
            store.save_answer(run_id=run, question_id="q1", scale=5, text="niet", **row)
    for pack in ("praatplaat", "teamdynamiek"):
        full = store.period_answers(me, team, "2026-Q3", pack)
        assert store.period_scores(me, team, "2026-Q3", pack) == {
            q: (r["scale"], r["text"]) for q, r in full.items()}
    assert store.period_scores(me, team, "2026-Q3") == {
        "q1": (2, None), "q2": (4, "later"), "q3": (None, "")}
