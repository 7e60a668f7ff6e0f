"""Property test: random inputs never crash, never lose an acknowledged answer, always resumable.

Each example is a fresh SQLite file with two Engines on it (each with its own Store connection),
a person who sends a random sequence of inputs, and a bystander whose data must never change.
Every step is handled by one of the two engines at random, so a step only works if the previous
one was committed to the file and the machine's cached models follow the store.

The oracle after every step:

* no reply is the generic error text (no turn failed);
* a replayed event id returns nothing and changes nothing;
* answers change only where the person deliberately changed them: the answer under the cursor
  (scale on a question, text on a question or an explanation, share on the share question), the
  answer whose chat message was edited (and its share, on the question asked after that edit),
  or everything at a confirmed /vergeet. Every other answer row, once stored, stays byte for byte
  the same; a text that changed is never shared until the person says yes again;
* an answer acknowledged by moving on (question -> explain, -> share) is stored with that value;
* the conversation's state is a known, non-automatic state, and the *other* engine re-renders
  the same prompt (same expectation and choices) as the one the person last saw.

Random seeds found two crashes (/start before having a team, then 'Hele ronde'; a unicode
digit such as '²' at a choice prompt); both are fixed and have their own tests in
test_flows.py. Each run now explores new random examples.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content import ROLES, get_content
from bot.engine.core import MEDIA_KINDS, Engine
from bot.engine.flows import load_dialogues
from bot.engine.messages import Incoming, Reply
from bot.engine.understand import match_scale, parse_number
from bot.store import Store

CONTENT = get_content()
DIALOGUES = load_dialogues()
PLATFORM = "console"
USER = "person"
BYSTANDER = "bystander"
DECLINED = DIALOGUES.text("declined")
FORGOTTEN = DIALOGUES.text("forgotten")
ERROR = DIALOGUES.text("error")
EDIT_SAVED = DIALOGUES.text("edit_saved")
AUTO_STATES = {name for name, spec in DIALOGUES.states.items() if spec.auto}
CURSOR_STATES = {"reflect.question", "reflect.explain", "reflect.follow_up", "reflect.share"}
#: states right after a scale answer: its explanation or the open half of the question
AFTER_SCALE = {"reflect.explain", "reflect.follow_up"}
#: a side trip that ends with only its thanks (back where the person was, nothing shown again)
TRIP = "extras.tip_text"

COMMANDS = [
    "/start", "/start onzin", "/menu", "/pauze", "/stop", "/verder", "/terug", "/overslaan",
    "/help", "/mijnreflecties", "/mijngegevens", "/vergeet", "/herinneringen uit",
    "/herinneringen aan", "/pauze tot 2099-01-15", "/pauze tot gisteren", "/rapport",
    "/dashboard", "/koppel", "/START", "/terug extra woorden", "/herinneringen", "/rol",
    "/herinneringen misschien",
]
BUTTONS = ["go:tour", "go:theme", "go:later", "go:resume", "go:menu", "tip:2025-03:4",
           "tip:2025-04:1"]

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "   ", "ja", "nee", "verder", "Verder", "1", "5.", "0", "6", "demo",
                     "Hele ronde (10 thema's)", "Ja, anoniem delen", "x" * 4000, "y" * 4001,
                     " " * 4001 + "z", "🙂" * 4000, "ë\n\tï", "/", "//", "/ help",
                     "vier", "één", "٤", "４", "helemaal wel", "nooit", "heel vaak", "jaa",
                     "verdr", "één thema", "nee, ik doe niet mee", "tour", "resume"]),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=8),
)
unknown_commands = st.from_regex(r"/[a-z]{1,12}", fullmatch=True).filter(
    lambda c: c[1:] not in DIALOGUES.command_names)
KINDS = (["choice"] * 8 + ["scale"] * 3 + ["text"] * 3 + ["command"] * 3
         + ["unknown_command", "media", "stale", "edit", "replay", "button"])


@dataclass
class Snapshot:
    state: str | None
    context: dict[str, Any]
    prompt_seq: int | None
    member_id: int | None
    #: (run id, question id) -> (scale, text, share_text, source_ref, row id)
    answers: dict[tuple[int, str], tuple[Any, ...]]


def snapshot(store: Store, user: str = USER) -> Snapshot:
    conv = store.load_conversation(PLATFORM, user)
    member_id = store.member_id(PLATFORM, user)
    rows = store.conn.execute(
        """SELECT a.run_id, a.question_id, a.scale, a.text, a.share_text, a.source_ref, a.id
           FROM answers a JOIN members m ON m.id = a.member_id
           WHERE m.platform = ? AND m.platform_user_id = ?""", (PLATFORM, user)).fetchall()
    return Snapshot(
        conv.state if conv else None,
        conv.context if conv else {},
        conv.prompt_seq if conv else None,
        member_id,
        {(r[0], r[1]): tuple(r[2:]) for r in rows},
    )


def question_in(text: str) -> str:
    found = [q.id for q in CONTENT.praatplaat.questions if q.ask in text]
    assert len(found) == 1, text
    return found[0]


def last_prompt(replies: list[Reply]) -> Reply | None:
    prompts = [r for r in replies if r.is_prompt]
    return prompts[-1] if prompts else None


def typed(text: str, n: int, user: str = USER) -> Incoming:
    if text.startswith("/") and len(text) > 1:
        name, _, args = text[1:].partition(" ")
        return Incoming(PLATFORM, user, user, "command", text=text, command=name.lower(),
                        args=args, event_id=f"e{n}")
    return Incoming(PLATFORM, user, user, "text", text=text, event_id=f"e{n}",
                    message_ref=f"m{n}")


def press(value: str, token: str | None, n: int) -> Incoming:
    return Incoming(PLATFORM, USER, USER, "choice", text=value, value=value, prompt_token=token,
                    event_id=f"e{n}")


def draw_input(data: st.DataObject, shown: Reply | None, n: int,
               history: list[Incoming]) -> Incoming:
    """One input, chosen the way a person (or a transport) would, from the prompt shown."""
    choices = [(c.label, c.value) for c in shown.choices] if shown else []
    token = shown.prompt_token if shown else None
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    if kind == "choice" and choices:
        label, value = data.draw(st.sampled_from(choices), label="choice")
        how = data.draw(st.sampled_from(["press", "value", "number", "label"]), label="how")
        if how == "press":
            return press(value, token, n)
        if how == "number":
            return typed(str(choices.index((label, value)) + 1), n)
        return typed(label if how == "label" else value, n)
    if kind in ("choice", "scale"):
        return typed(str(data.draw(st.integers(1, 5), label="scale")), n)
    if kind == "text":
        return typed(data.draw(texts, label="text"), n)
    if kind == "command":
        return typed(data.draw(st.sampled_from(COMMANDS), label="command"), n)
    if kind == "unknown_command":
        return typed(data.draw(unknown_commands, label="unknown"), n)
    if kind == "media":
        media = data.draw(st.sampled_from([*MEDIA_KINDS, "hologram"]), label="media")
        return Incoming(PLATFORM, USER, USER, "unsupported", media=media, event_id=f"e{n}")
    if kind == "stale":
        older = str(int(token) - 1) if token and token.isdigit() else "0"
        stale = data.draw(st.sampled_from([older, "999999", "x"]), label="token")
        value = choices[0][1] if choices else "1"
        return press(value, stale, n)
    if kind == "button":
        return press(data.draw(st.sampled_from(BUTTONS), label="button"), token, n)
    refs = [h.message_ref for h in history if h.message_ref]
    if kind == "edit" and refs:
        ref = data.draw(st.sampled_from(refs), label="ref")
        text = data.draw(st.one_of(st.text(max_size=30), st.just("z" * 4001)), label="edit")
        return Incoming(PLATFORM, USER, USER, "edit", text=text, message_ref=ref,
                        event_id=f"e{n}")
    if kind == "replay" and history:
        return data.draw(st.sampled_from(history), label="replay")
    return typed(data.draw(texts, label="text"), n)


def raw_of(inc: Incoming) -> str:
    return (inc.value if inc.kind == "choice" and inc.value is not None else inc.text) or ""


def scale_of(inc: Incoming, qid: str | None) -> int | None:
    """The score an input gives the question ``qid`` (a button's value, or typed)."""
    raw = raw_of(inc)
    if inc.kind == "choice":
        return int(raw)
    anchors = CONTENT.praatplaat.question(qid or "").anchors
    return match_scale(raw, (anchors.low, anchors.high) if anchors else None)


def check_step(inc: Incoming, replies: list[Reply], pre: Snapshot, post: Snapshot,
               replayed: bool, cursor: str | None) -> None:
    """``cursor``: the question the person was answering before this step, if any."""
    texts_ = [r.text for r in replies]
    assert ERROR not in texts_, f"turn failed: {inc}"
    if replayed:
        assert replies == []
        assert (post.state, post.prompt_seq, post.context, post.answers) == (
            pre.state, pre.prompt_seq, pre.context, pre.answers)
        return
    forgot = pre.state == "extras.forget" and post.state is None
    if forgot:
        assert post.member_id is None and post.answers == {}
        return
    declined = pre.state == "onboarding.welcome" and post.state is None
    if declined:  # saying no (or /vergeet) at the start keeps nothing, not even the conversation
        erased = inc.kind == "command" and inc.command == "vergeet" and FORGOTTEN in texts_
        assert post.answers == {} and (DECLINED in texts_ or erased), (
            f"vanished without declining: {inc}")
        # also not the member row of someone who said yes, went back (/terug) and said no
        assert post.member_id is None, "declined, but the member row stayed"
        return
    if post.state is None:
        assert pre.state is None, f"conversation vanished without /vergeet after {inc}"
    elif pre.member_id is not None:
        assert post.member_id == pre.member_id, "member changed without /vergeet"
    if pre.state not in CURSOR_STATES:
        cursor = None
    stripped = raw_of(inc).strip()
    edit_key = None
    if inc.kind == "edit" and EDIT_SAVED in texts_:
        edit_key = next(k for k, v in pre.answers.items() if v[3] == inc.message_ref)
    transition = (pre.state, post.state)
    changed = []
    for key in set(pre.answers) | set(post.answers):
        before, after = pre.answers.get(key), post.answers.get(key)
        assert after is not None, f"answer {key} lost after {inc}"
        if before == after:
            continue
        changed.append(key)
        if key == edit_key:
            assert after[1] == stripped and after[0] == before[0]  # type: ignore[index]
            if after[1] != before[1]:  # type: ignore[index]
                assert after[2] == 0, "a changed text stayed shared"
            continue
        reshare = pre.context.get("reshare") or {}
        if pre.state == "reflect.share_again" and key == (reshare.get("run"), reshare.get("q")):
            assert before is not None and after[:2] == before[:2] and after[2] in (0, 1)
            continue
        assert key[1] == cursor, f"answer {key} changed by {inc} while at {pre.state} {cursor}"
        if pre.state == "reflect.question" and post.state in AFTER_SCALE:
            assert after[0] == scale_of(inc, cursor)
            assert before is None or after[1] == before[1]
        elif pre.state in AFTER_SCALE and post.state == pre.state:  # a corrected score
            assert before is not None and after[0] == parse_number(stripped)
            assert after[1] == before[1]
        elif pre.state in {"reflect.question", *AFTER_SCALE} and post.state == "reflect.share":
            assert after[1] == stripped
            assert before is None or after[0] == before[0]
            if before is None or before[1] != after[1]:
                assert after[2] == 0, "a changed text stayed shared before the question"
        elif pre.state == "reflect.share":
            assert before is not None and after[:2] == before[:2]
            assert after[2] in (0, 1)
        else:
            raise AssertionError(f"answer {key} changed by {inc} on {transition}")
    assert len(changed) <= 1, f"{inc} changed several answers: {changed}"
    # an acknowledged answer is stored with what was acknowledged
    rows = [v for k, v in post.answers.items() if k[1] == cursor]
    if pre.state == "reflect.question" and post.state in AFTER_SCALE:
        assert any(v[0] == scale_of(inc, cursor) for v in rows), (inc, rows)
    if pre.state in {"reflect.question", *AFTER_SCALE} and post.state == "reflect.share":
        assert len(stripped) <= 4000
        assert any(v[1] == stripped for v in rows), (inc, rows)


def same_prompt(a: Reply, b: Reply) -> bool:
    return (a.expects, [c.value for c in a.choices], a.prompt_token) == (
        b.expects, [c.value for c in b.choices], b.prompt_token)


def check_resumable(other: Engine, post: Snapshot, shown: Reply | None) -> None:
    """The other engine (its own connection) re-renders the prompt the person last saw."""
    if post.state is None:
        return
    assert post.state in DIALOGUES.states and post.state not in AUTO_STATES, post.state
    prompt = other.current_prompt(PLATFORM, USER)
    assert prompt and prompt[-1].is_prompt and prompt[-1].text.strip()
    if shown is not None:  # None: nothing shown yet (the very first message was a photo)
        assert same_prompt(prompt[-1], shown), (prompt[-1], shown)


def set_up_bystander(engine: Engine) -> Snapshot:
    for n, line in enumerate(["/start", "ja", "manager", "demo", "hele ronde", "2", "uitleg", "ja",
                              "4", "verder"]):
        assert ERROR not in [r.text for r in engine.handle(typed(line, 10_000 + n, BYSTANDER))]
    snap = snapshot(engine.store, BYSTANDER)
    assert len(snap.answers) == 2
    return snap


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Snapshot]:
    """A migrated database with the bystander in it, copied for every example (fast)."""
    path = tmp_path_factory.mktemp("prop") / "template.db"
    store = Store(path)
    snap = set_up_bystander(Engine(store, CONTENT, DIALOGUES))
    store.close()  # checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path, snap


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)
@given(data=st.data())
def test_random_inputs_never_crash_lose_or_strand(
    template: tuple[Path, Snapshot], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        shutil.copyfile(template[0], path)
        bystander = template[1]
        stores = [Store(path, synchronous="NORMAL"), Store(path, synchronous="NORMAL")]
        try:
            engines = [Engine(s, CONTENT, DIALOGUES) for s in stores]
            assert snapshot(stores[0], BYSTANDER) == bystander
            prefix = data.draw(st.sampled_from(["none", "consent", "menu", "tour"]), label="at")
            role = data.draw(st.sampled_from(ROLES), label="role")
            lines = {"none": [], "consent": ["/start"],
                     "menu": ["/start", "ja", role, "demo"],
                     "tour": ["/start", "ja", role, "demo", "hele ronde"]}[prefix]
            shown: Reply | None = None
            qid: str | None = None
            for n, line in enumerate(lines):
                shown = last_prompt(engines[0].handle(typed(line, 20_000 + n))) or shown
            if shown is not None and shown.expects in ("scale", "text"):
                qid = question_in(shown.text)
            history: list[Incoming] = []
            #: the prompt shown before a side trip (the tip's reaction): a trip ends with only
            #: its thanks, and that prompt is the current one again
            before_trip: tuple[Reply | None, str | None] = (None, None)
            steps = data.draw(st.integers(1, 40), label="steps")
            for n in range(steps):
                pre = snapshot(stores[0])
                inc = draw_input(data, shown, n, history)
                replayed = inc in history
                which = data.draw(st.integers(0, 1), label="engine")
                replies = engines[which].handle(inc)
                if not replayed:
                    history.append(inc)
                post = snapshot(stores[0])
                check_step(inc, replies, pre, post, replayed, qid)
                if post.state == TRIP and pre.state != TRIP:
                    before_trip = (shown, pre.state)
                if pre.state == TRIP and post.state != TRIP and last_prompt(replies) is None:
                    assert replies and post.state == before_trip[1], (inc, replies)
                    shown = before_trip[0]
                shown = last_prompt(replies) or shown
                if post.state is None:
                    shown = None
                if shown is not None and post.state == "reflect.question":
                    assert shown.expects in ("scale", "text")
                    qid = question_in(shown.text)
                check_resumable(engines[1 - which], post, shown)
            assert snapshot(stores[0], BYSTANDER) == bystander
            # a brand-new engine on the file continues from the same state
            last = snapshot(stores[0])
            fresh_store = Store(path)
            try:
                fresh = Engine(fresh_store, CONTENT, DIALOGUES)
                if last.state is not None:
                    mine = engines[0].current_prompt(PLATFORM, USER)[-1]
                    theirs = fresh.current_prompt(PLATFORM, USER)[-1]
                    assert (theirs.text, theirs.expects, theirs.choices) == (
                        mine.text, mine.expects, mine.choices)
                    if shown is not None:
                        assert same_prompt(theirs, shown)
                replies = fresh.handle(typed("/help", 99_999))
                assert ERROR not in [r.text for r in replies]
                after = snapshot(fresh_store)
                if last.state is not None:
                    assert (after.state, after.answers) == (last.state, last.answers)
            finally:
                fresh_store.close()
        finally:
            for s in stores:
                s.close()
