"""Random walks through the packs (hypothesis): a member of a team that uses every pack, and an
owner switching packs off and on in between, never crash the engine, never lose or move an
acknowledged answer, always leave a prompt that can be shown again, and never start a round in
a pack the team does not use at that moment (a round already started may be finished)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content import ROLES, get_content
from bot.engine.core import Engine
from bot.engine.flows import load_dialogues
from bot.engine.messages import Incoming, Reply
from bot.packs import PackLibrary, choose_packs
from bot.store import Store

CONTENT = get_content()
DIALOGUES = load_dialogues()
ERROR = DIALOGUES.text("error")
USER = "walker"
EXTRA = ["casus", "beleidsuitgangspunten", "sturing", "tips-2017"]
TYPED = ["", "ja", "nee", "verder", "3", "vijf", "helemaal wel", "Casus: Robert", "klaar",
         "Een antwoord in eigen woorden.", "/menu", "/terug", "/overslaan", "/pauze", "/verder",
         "/mijnreflecties", "/beheer", "/help", "Meer vragen en casussen", "Alle thema's"]


def _typed(text: str, n: int) -> Incoming:
    if text.startswith("/"):
        name, _, args = text[1:].partition(" ")
        return Incoming("console", USER, USER, "command", text=text, command=name, args=args,
                        event_id=f"e{n}")
    return Incoming("console", USER, USER, "text", text=text, event_id=f"e{n}")


def _press(value: str, token: str | None, n: int) -> Incoming:
    return Incoming("console", USER, USER, "choice", text=value, value=value,
                    prompt_token=token, event_id=f"e{n}")


def _prompt(replies: list[Reply]) -> Reply | None:
    prompts = [r for r in replies if r.is_prompt]
    return prompts[-1] if prompts else None


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("packs-prop") / "template.db"
    store = Store(path)
    team = store.create_team("Wijkteam Oost")
    choose_packs(store, CONTENT, team, on=EXTRA)
    store.create_invite(team)
    store.close()
    return path


def _runs(store: Store) -> dict[int, str]:
    mid = store.member_id("console", USER)
    if mid is None:
        return {}
    return {int(r[0]): str(r[1]) for r in store.conn.execute(
        "SELECT id, pack FROM runs WHERE member_id = ?", (mid,))}


def _answers(store: Store) -> dict[tuple[int, str], tuple]:
    mid = store.member_id("console", USER)
    if mid is None:
        return {}
    return {(r["run_id"], r["question_id"]): (r["scale"], r["text"], r["pack"])
            for r in store.member_answers(mid)}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)
@given(data=st.data())
def test_random_walks_through_packs(template: Path, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        shutil.copyfile(template, path)
        store = Store(path, synchronous="NORMAL")
        try:
            engine = Engine(store, CONTENT, DIALOGUES)
            team = int(store.list_teams()[0]["id"])
            code = store.invites(team)[0]["token"]
            role = data.draw(st.sampled_from(ROLES), label="role")
            shown: Reply | None = None
            for n, line in enumerate(["/start", "ja", role, code, "Meer vragen en casussen"]):
                shown = _prompt(engine.handle(_typed(line, n))) or shown
            lib = PackLibrary(store, CONTENT)
            for n in range(10, 10 + data.draw(st.integers(1, 30), label="steps")):
                before = _answers(store)
                runs_before = _runs(store)
                how = data.draw(st.sampled_from(["press", "type", "owner"]), label="how")
                if how == "owner":  # the owner switches a pack off or on in between
                    pack = data.draw(st.sampled_from(EXTRA), label="pack")
                    on = data.draw(st.booleans(), label="on")
                    choose_packs(store, CONTENT, team, on=[pack] if on else [],
                                 off=[] if on else [pack])
                    continue
                if how == "press" and shown is not None and shown.choices:
                    choice = data.draw(st.sampled_from(shown.choices), label="choice")
                    inc = _press(choice.value, shown.prompt_token, n)
                else:
                    inc = _typed(data.draw(st.sampled_from(TYPED), label="typed"), n)
                replies = engine.handle(inc)
                assert ERROR not in [r.text for r in replies], inc
                after = _answers(store)
                # nothing acknowledged is lost; at most one answer changes per input
                assert set(before) <= set(after), inc
                changed = [k for k in after if after[k] != before.get(k)]
                assert len(changed) <= 1, (inc, changed)
                for run, pack in _runs(store).items():  # a new round: in a pack in use
                    if run not in runs_before:
                        assert lib.is_enabled(team, pack), (inc, run, pack)
                shown = _prompt(replies) or shown
                # the conversation can always show its prompt again (e.g. after a restart)
                again = engine.current_prompt("console", USER)
                assert again and again[-1].is_prompt and again[-1].text.strip()
        finally:
            store.close()
