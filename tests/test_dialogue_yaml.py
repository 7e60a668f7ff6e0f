"""Broken dialogue and content YAML: one ConfigError naming file, line and field.

Each case copies the real ``dialogues/`` into tmp_path, breaks one thing, and expects the error
to point at the broken line. Expected line numbers are found in the copied file, not hard-coded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.flows import load_dialogues
from bot.store import Store
from bot.yamlio import ConfigError
from tests.cli import clean_env, run_cli
from tests.waiting import PATIENCE

REPO = Path(__file__).resolve().parent.parent
DIALOGUES = REPO / "dialogues"
CONTENT = REPO / "content"
TEAMSPIEGEL = REPO / ".venv" / "bin" / "teamspiegel"


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> tuple[Path, Path, int]:
    """Copy dialogues/, replace the first ``old`` in ``file``; returns (dir, file, line)."""
    target = tmp_path / "dialogues"
    shutil.copytree(DIALOGUES, target)
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}: the real dialogue changed, update this test"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target, path, line


def load_and_check(directory: Path) -> None:
    """What the bot does at start-up: load the dialogues, build the engine (name checks)."""
    dialogues = load_dialogues(directory)
    Engine(Store(":memory:"), get_content(), dialogues)


def error_of(directory: Path) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_and_check(directory)
    return err.value


def test_real_dialogues_load() -> None:
    load_and_check(DIALOGUES)


CASES = [
    # (id, file, old, new, line offset from `old`, words the message must contain)
    ("unknown-state", "reflect.yaml", "do: save_scale, to: explain}",
     "do: save_scale, to: explian}", ["states.question.transitions", "to", "explian"]),
    ("unknown-state-in-commands", "commands.yaml", "{event: cmd_menu, if: onboarded, to: menu.main}",
     "{event: cmd_menu, if: onboarded, to: menu.hoofd}", ["any", "to", "menu.hoofd"]),
    ("unknown-action", "reflect.yaml", "do: save_scale,", "do: save_scael,",
     ["states.question.transitions", "do", "save_scael"]),
    ("unknown-condition", "reflect.yaml", "if: question_is_text,", "if: question_is_tekst,",
     ["states.question.transitions", "if", "question_is_tekst"]),
    ("unknown-text", "reflect.yaml", "say: ask_explain", "say: ask_explian",
     ["states.explain.say", "ask_explian"]),
    ("unknown-renderer", "reflect.yaml", "render: summary", "render: samenvatting",
     ["states.summary.render", "samenvatting"]),
    ("unknown-provider", "reflect.yaml", "choices: theme_choices", "choices: themas",
     ["states.pick_theme.choices", "themas"]),
    ("unknown-event", "onboarding.yaml", "{event: cmd_terug, to: welcome}",
     "{event: cmd_terugg, to: welcome}", ["states.role.transitions", "event", "cmd_terugg"]),
    ("wrong-type-bool", "reflect.yaml", "auto: true", "auto: misschien", ["states.ask.auto"]),
    ("wrong-type-enum", "reflect.yaml", "expects: choice", "expects: 5",
     ["states.pick_theme.expects"]),
    ("wrong-type-list", "menu.yaml", "      - {label: Verder, value: resume}",
     "      - Verder", ["states.paused.choices"]),
    ("wrong-type-text", "texts.yaml", "  ask_role: Wat is je rol?", "  ask_role: [Wat, rol]",
     ["texts.ask_role"]),
    ("unknown-field", "reflect.yaml", "    expects: choice\n    choices: theme_choices",
     "    expects: choice\n    keuzes: theme_choices", ["keuzes"]),
]


@pytest.mark.parametrize(("file", "old", "new", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_broken_dialogue_names_file_line_field(
    tmp_path: Path, file: str, old: str, new: str, words: list[str]
) -> None:
    directory, path, line = broken_copy(tmp_path, file, old, new)
    if old.startswith("    expects: choice\n"):
        line += 1  # the broken key is on the second line of the snippet
    err = error_of(directory)
    message = str(err)
    assert f"{path}:{line}:" in message, message
    for word in words:
        assert word in message, (word, message)
    assert all(p.startswith(f"{path}:") for p in err.problems), err.problems


def test_missing_say(tmp_path: Path) -> None:
    directory, path, _ = broken_copy(tmp_path, "reflect.yaml", "    say: ask_share\n", "")
    text = path.read_text(encoding="utf-8").splitlines()
    state_line = text.index("  share:") + 1
    message = str(error_of(directory))
    assert f"{path}:{state_line}: states.share" in message, message
    assert "say" in message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    directory, path, line = broken_copy(
        tmp_path, "reflect.yaml", "  explain:\n", "  explain:\n    say: [niet dicht\n")
    message = str(error_of(directory))
    # the parser notices the problem on the broken line or the next one
    assert f"{path}:" in message and "YAML" in message, message
    reported = int(message.split(f"{path}:")[1].split(":")[0])
    assert line + 1 <= reported <= line + 2, message


def test_duplicate_key(tmp_path: Path) -> None:
    directory, path, line = broken_copy(tmp_path, "texts.yaml", "  ask_role: Wat is je rol?\n",
                                        "  ask_role: Wat is je rol?\n  ask_role: Nog eens?\n")
    message = str(error_of(directory))
    assert f"{path}:{line + 1}: ask_role: duplicate key" in message, message


def test_duplicate_flow_name(tmp_path: Path) -> None:
    directory, _, _ = broken_copy(tmp_path, "extras.yaml", "flow: extras", "flow: menu")
    message = str(error_of(directory))
    assert "extras.yaml:1: flow: 'menu'" in message or "menu.yaml:1: flow: 'menu'" in message


def test_several_problems_reported_together(tmp_path: Path) -> None:
    directory, path, _ = broken_copy(tmp_path, "reflect.yaml", "to: explain}", "to: nergens}")
    text = path.read_text(encoding="utf-8").replace("do: go_back", "do: ga_terug", 1)
    path.write_text(text, encoding="utf-8")
    lines = str(error_of(directory)).splitlines()
    assert len(lines) == 2, lines
    assert all(line.startswith(f"{path}:") for line in lines)
    assert "nergens" in lines[0] and "ga_terug" in lines[1]


def test_name_problems_are_separate_entries(tmp_path: Path) -> None:
    directory, path, _ = broken_copy(tmp_path, "reflect.yaml", "to: explain}", "to: nergens}")
    text = path.read_text(encoding="utf-8").replace("do: go_back", "do: ga_terug", 1)
    path.write_text(text, encoding="utf-8")
    err = error_of(directory)
    assert err.problems == str(err).splitlines()
    assert len(err.problems) == 2


def test_missing_file(tmp_path: Path) -> None:
    target = tmp_path / "dialogues"
    shutil.copytree(DIALOGUES, target)
    (target / "texts.yaml").unlink()
    assert "texts.yaml" in str(error_of(target))
    with pytest.raises(ConfigError):
        load_dialogues(tmp_path / "bestaat-niet")


# -- teamspiegel content check ------------------------------------------------------------------


def content_check(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("content", "check", *argv, env=clean_env(**env), cwd=REPO)


def test_content_check_real_content_ok() -> None:
    proc = content_check()
    assert proc.returncode == 0, proc.stderr
    content = get_content()
    assert f"{len(content.praatplaat.themes)} themes" in proc.stdout
    assert "Dialogues:" in proc.stdout


def broken_content(tmp_path: Path) -> tuple[Path, Path, int]:
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    path = target / "praatplaat.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    n = next(i for i, line in enumerate(lines) if line.strip() == "number: 2")
    lines[n] = lines[n].replace("number: 2", "number: twee")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target, path, n + 1


def test_content_check_broken_content_dir(tmp_path: Path) -> None:
    directory, path, line = broken_content(tmp_path)
    proc = content_check("--dir", str(directory))
    assert proc.returncode != 0
    assert f"{path}:{line}:" in proc.stderr and "number" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_content_check_broken_content_env(tmp_path: Path) -> None:
    directory, path, line = broken_content(tmp_path)
    proc = content_check(TEAMSPIEGEL_CONTENT=str(directory))
    assert proc.returncode != 0
    assert f"{path}:{line}:" in proc.stderr, proc.stderr


def test_content_check_broken_dialogues(tmp_path: Path) -> None:
    directory, path, line = broken_copy(tmp_path, "reflect.yaml", "to: explain}", "to: explian}")
    proc = content_check("--dialogues", str(directory))
    assert proc.returncode != 0
    assert f"{path}:{line}:" in proc.stderr and "explian" in proc.stderr, proc.stderr
    proc = content_check(TEAMSPIEGEL_DIALOGUES=str(directory))
    assert proc.returncode != 0 and f"{path}:{line}:" in proc.stderr


# -- placeholders in texts.yaml -------------------------------------------------------------------


@pytest.mark.e2e
def test_placeholder_typo_fails_content_check_and_start_up(tmp_path: Path, capsys) -> None:
    """{nn} instead of {n}: every conversation would fail at its first question ("Er ging iets
    mis"). It must stop `content check` and the bot's start, naming file, line and text."""
    directory, path, line = broken_copy(tmp_path, "texts.yaml", "Vraag {n} van {total}",
                                        "Vraag {nn} van {total}")
    err = error_of(directory)
    assert len(err.problems) == 1, err.problems
    (problem,) = err.problems
    assert problem.startswith(f"{path}:{line}: texts.question_progress:"), problem
    assert "{nn}" in problem
    filled = problem.split("de code vult hier in: ", 1)[1].rstrip(")").split(", ")
    assert {"n", "theme", "total"} <= set(filled) and "nn" not in filled

    from bot.cli import main

    assert main(["content", "check", "--dialogues", str(directory)]) == 1
    assert f"{path}:{line}:" in capsys.readouterr().err

    # start-up: `teamspiegel run` (here: the console chat, no token) refuses to start
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEAMSPIEGEL_", "TELEGRAM_",
                                                                    "MATRIX_"))}
    env.update(TEAMSPIEGEL_DIALOGUES=str(directory), TEAMSPIEGEL_DB=str(tmp_path / "t.db"))
    proc = subprocess.run([str(TEAMSPIEGEL), "run"], env=env, capture_output=True, text=True,
                          timeout=PATIENCE, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{path}:{line}:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(("new", "words"), [
    ("Vraag {0} van {total}", ["{0}", "naam"]),
    ("Vraag {} van {total}", ["{}", "naam"]),
    ("Vraag {n van {total}", ["accolades"]),
    ("Vraag {n.x} van {total}", ["{n.x}", "naam"]),
])
def test_placeholders_must_be_plain_names(tmp_path: Path, new: str, words: list[str]) -> None:
    directory, path, line = broken_copy(tmp_path, "texts.yaml", "Vraag {n} van {total}", new)
    (problem,) = error_of(directory).problems
    assert problem.startswith(f"{path}:{line}: texts.question_progress:"), problem
    assert all(w in problem for w in words), problem


def test_a_text_nobody_fills_in_has_no_placeholders(tmp_path: Path) -> None:
    """`menu` is shown through a flow's `say:` without values: a {voornaam} there would be
    shown with its braces."""
    directory, path, line = broken_copy(tmp_path, "texts.yaml", "menu: Wat wil je doen?",
                                        "menu: Wat wil je doen, {voornaam}?")
    (problem,) = error_of(directory).problems
    assert problem.startswith(f"{path}:{line}: texts.menu:") and "{voornaam}" in problem


def test_the_code_scan_sees_literal_computed_and_spread_keys() -> None:
    from bot.engine.placeholders import TextValues, _scan, check_placeholders

    found = TextValues()
    _scan('''
turn.say("joined", team=name)
turn.say("a" if x else "b", n=1)
turn.say(f"invite_{reason}", why=r)
d.text("open", **values)
fig.text(0.5, 0.5, "x", fontsize=9)
fig.text(0.1 / w, 0.2, note, color="k")
''', found)
    assert found.by_key["joined"] == {"team"}
    assert found.by_key["a"] == found.by_key["b"] == {"n"}
    assert found.dynamic == {"why"} and found.open_keys == {"open"}
    texts = {"joined": "Welkom bij {team} ({why})", "a": "{n} {team}", "open": "{what} {ever}",
             "plain": "{fontsize}"}
    problems = check_placeholders(texts, found)
    assert problems == [("a", "onbekende plaatshouder {team} (de code vult hier in: n, why)"),
                        ("plain", "onbekende plaatshouder {fontsize} "
                                  "(de code vult hier in: why)")]


def test_engine_wide_values_may_appear_in_any_text(tmp_path: Path) -> None:
    """{controller}, {retention} and {min_group} are filled into every text by the engine."""
    from bot.engine.core import TEXT_VALUES

    directory, _, _ = broken_copy(tmp_path, "texts.yaml", "menu: Wat wil je doen?",
                                  "menu: Wat wil je doen? ({min_group})")
    load_and_check(directory)
    assert "min_group" in TEXT_VALUES
