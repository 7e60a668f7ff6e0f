"""The console chat as a real process: scripted ``--jsonl`` walks, SIGKILL mid-walk; and the
commands that read what the walks stored (export, teams), in process.

A person (:class:`tests.people.ConsolePerson`) talks to ``teamspiegel chat --jsonl`` line by
line through pipes: it reads reply lines until one expects an answer (the prompt), the walk
decides the next input from that prompt's ``expects`` and ``choices``, and writes it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.cli import EXPORT_FIELDS
from bot.content import get_content
from bot.engine.messages import Reply
from tests.cli import clean_env, run_cli
from tests.people import TEAMSPIEGEL, ConsolePerson, console_people
from tests.waiting import PATIENCE

PP = get_content().praatplaat


def role_questions(role: str) -> list[str]:
    return [q.id for q in PP.questions if q.for_role(role)]


def role_only(role: str) -> set[str]:
    """Questions asked to this role but not to every role."""
    return {q.id for q in PP.questions if "all" not in q.audience and q.for_role(role)}


def cli(db: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``teamspiegel ARGV`` on this database, in process."""
    proc = run_cli(*argv, env=clean_env(db), cwd=db.parent)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def bots() -> Iterator[list[ConsolePerson]]:
    """Every ConsolePerson a test starts is killed at the end, even when the test fails."""
    with console_people() as started:
        yield started


def start(db: Path, user: str, started: list[ConsolePerson]) -> ConsolePerson:
    bot = ConsolePerson(db, user)
    started.append(bot)
    return bot


# -- reading prompts -----------------------------------------------------------------------


def values(prompt: Reply) -> list[str]:
    return [c.value for c in prompt.choices]


def number_of(prompt: Reply, value: str) -> str:
    return str(values(prompt).index(value) + 1)


def kind_of(prompt: Reply) -> str:
    vals = values(prompt)
    if prompt.expects in ("scale", "text"):
        return "question"
    if vals == ["verder"]:
        return "explain"
    if vals == ["ja", "nee"] and "anoniem" in prompt.text:
        return "share"
    if vals == ["edit", "menu"]:
        return "summary"
    if vals == ["ja", "nee"]:
        return "consent"
    if "professional" in vals:
        return "role"
    if vals == ["demo"]:
        return "team"
    if "tour" in vals:
        return "menu"
    return "other"


def question_of(prompt: Reply) -> str:
    """Which question a prompt asks (by its wording from the content)."""
    found = [q.id for q in PP.questions if q.ask in prompt.text]
    assert len(found) == 1, prompt.text
    return found[0]


@dataclass
class Walk:
    """What a scripted walk answered, per question id: (scale, text, share)."""

    expected: dict[str, tuple[int | None, str | None, int]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    prompt: Reply | None = None


def onboard(bot: ConsolePerson, role: str, code: str) -> Reply:
    prompt = bot.until_prompt()[-1]
    assert kind_of(prompt) == "consent"
    prompt = bot.step("ja")
    assert kind_of(prompt) == "role"
    prompt = bot.step(number_of(prompt, role))  # by number, as people type it
    assert kind_of(prompt) == "team"
    got = bot.type(code)
    prompt = got[-1]
    assert any(r.text.startswith("Welkom bij") for r in got), got
    assert kind_of(prompt) == "menu"
    return prompt


def answer_questions(bot: ConsolePerson, prompt: Reply, walk: Walk, limit: int | None = None,
                     ) -> Reply:
    """Answer questions from ``prompt`` on until the summary (or ``limit`` questions)."""
    while kind_of(prompt) == "question":
        if limit is not None and len(walk.asked) >= limit:
            break
        qid = question_of(prompt)
        n = len(walk.asked)
        walk.asked.append(qid)
        scale: int | None = None
        text: str | None = None
        if prompt.expects == "scale":
            assert values(prompt) == ["1", "2", "3", "4", "5"]
            scale = n % 5 + 1
            prompt = bot.step(str(scale))
            assert kind_of(prompt) == "explain", prompt
            if n % 2:
                prompt = bot.step("verder")
                walk.expected[qid] = (scale, None, 0)
                continue
            text = f"toelichting bij {qid} – ëen “test” ✓"
        else:
            text = f"open antwoord op {qid}: zo doen wij het"
        prompt = bot.step(text)
        assert kind_of(prompt) == "share", prompt
        share = n % 3 == 0
        prompt = bot.step("ja" if share else "nee")
        walk.expected[qid] = (scale, text, int(share))
    walk.prompt = prompt
    return prompt


def db_answers(db: Path, user: str) -> dict[str, tuple[int | None, str | None, int]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            """SELECT a.question_id, a.scale, a.text, a.share_text FROM answers a
               JOIN members m ON m.id = a.member_id WHERE m.platform_user_id = ?
               ORDER BY a.id""", (user,)).fetchall()
    finally:
        con.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def invite_code(db: Path, name: str) -> str:
    out = cli(db, "team", "create", name).stdout
    match = re.search(r"Uitnodigingscode: (\S+)", out)
    assert match, out
    return match.group(1)


# -- the full walks ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One database in which a professional and a manager walked the whole tour."""
    db = tmp_path_factory.mktemp("walk") / "teamspiegel.db"
    code = invite_code(db, "Wijkteam Centrum")
    walks: dict[str, Walk] = {}
    started: list[ConsolePerson] = []
    try:
        for role in ("professional", "manager"):
            bot = start(db, f"{role}-1", started)
            menu = onboard(bot, role, code)
            prompt = bot.step(number_of(menu, "tour"))
            walk = Walk()
            prompt = answer_questions(bot, prompt, walk)
            assert kind_of(prompt) == "summary", prompt
            assert bot.close() == 0
            assert "Traceback" not in bot.stderr()
            walks[role] = walk
    finally:
        for bot in started:
            bot.ensure_dead()
    return {"db": db, "walks": walks, "code": code}


@pytest.mark.parametrize("role", ["professional", "manager"])
def test_walk_asks_every_question_of_the_role_in_order(walked: dict[str, Any], role: str) -> None:
    walk: Walk = walked["walks"][role]
    assert walk.asked == role_questions(role)
    assert {PP.theme_of(q).id for q in walk.asked} == {t.id for t in PP.themes}  # all 10
    assert len({PP.theme_of(q).id for q in walk.asked}) == 10


@pytest.mark.parametrize("role", ["professional", "manager"])
def test_walk_every_answer_is_in_sqlite(walked: dict[str, Any], role: str) -> None:
    walk: Walk = walked["walks"][role]
    stored = db_answers(walked["db"], f"{role}-1")
    assert len(stored) == len(role_questions(role))
    assert stored == walk.expected
    assert list(stored) == walk.asked


def test_manager_gets_manager_questions_professional_does_not(walked: dict[str, Any]) -> None:
    pro = db_answers(walked["db"], "professional-1")
    boss = db_answers(walked["db"], "manager-1")
    manager_only = role_only("manager")
    assert manager_only, "the content has questions for managers"
    assert manager_only <= set(boss)
    assert not (set(pro) & {q.id for q in PP.questions if "all" not in q.audience})
    assert len(boss) - len(pro) == len(manager_only)
    con = sqlite3.connect(walked["db"])
    roles = dict(con.execute(
        """SELECT m.platform_user_id, group_concat(DISTINCT a.role) FROM answers a
           JOIN members m ON m.id = a.member_id GROUP BY m.platform_user_id""").fetchall())
    runs = con.execute("SELECT scope, finished_at IS NOT NULL FROM runs").fetchall()
    con.close()
    assert roles == {"professional-1": "professional", "manager-1": "manager"}
    assert runs == [("tour", 1), ("tour", 1)]


def test_export_jsonl(walked: dict[str, Any]) -> None:
    db = walked["db"]
    out = cli(db, "export", "--format", "jsonl").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    total = sum(len(w.expected) for w in walked["walks"].values())
    assert len(rows) == total
    for row in rows:
        assert {"team", "role", "theme", "question_id", "scale", "text", "answered_at"} <= set(row)
        assert row["team"] == "Wijkteam Centrum"
        assert row["theme"] == PP.theme_of(row["question_id"]).id
        assert "member_id" not in row  # no person in the export
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row["answered_at"])
    by_role: dict[str, dict[str, tuple]] = {}
    for row in rows:
        by_role.setdefault(row["role"], {})[row["question_id"]] = (
            row["scale"], row["text"], int(row["share_text"]))
    # texts kept "alleen voor mij" stay out of the operator's export
    expected = {role: {q: (scale, text if share else None, share)
                       for q, (scale, text, share) in w.expected.items()}
                for role, w in walked["walks"].items()}
    assert any(text and not share for w in walked["walks"].values()
               for _, text, share in w.expected.values())  # there were private texts
    assert by_role == expected

    # only when asked for, with a warning; both exports are in the audit log
    proc = cli(db, "export", "--format", "jsonl", "--with-private-texts")
    assert "alleen voor mij" in proc.stderr
    everything: dict[str, dict[str, tuple]] = {}
    for row in map(json.loads, proc.stdout.splitlines()):
        everything.setdefault(row["role"], {})[row["question_id"]] = (
            row["scale"], row["text"], int(row["share_text"]))
    assert everything == {role: w.expected for role, w in walked["walks"].items()}
    con = sqlite3.connect(db)
    audit = con.execute(
        "SELECT detail FROM audit_log WHERE action = 'operator_export' ORDER BY id").fetchall()
    con.close()
    assert [d for (d,) in audit][-2:] == [f"formaat=jsonl; rijen={total}; privé-teksten=nee",
                                          f"formaat=jsonl; rijen={total}; privé-teksten=ja"]


def test_export_csv(walked: dict[str, Any], tmp_path: Path) -> None:
    db = walked["db"]
    out = cli(db, "export", "--format", "csv").stdout
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames == EXPORT_FIELDS
    rows = list(reader)
    total = sum(len(w.expected) for w in walked["walks"].values())
    assert len(rows) == total
    texts = {r["text"] for r in rows if r["text"]}
    assert any("“test” ✓" in t for t in texts)  # unicode survives
    target = tmp_path / "export.csv"
    cli(db, "export", "--format", "csv", "--output", str(target))
    assert target.read_text(encoding="utf-8").replace("\r\n", "\n") == out.replace("\r\n", "\n")


def test_team_list_after_walk(walked: dict[str, Any]) -> None:
    out = cli(walked["db"], "team", "list").stdout
    assert re.search(r"Wijkteam Centrum\s+–\s+2 leden", out), out


def test_team_create_and_list(tmp_path: Path) -> None:
    db = tmp_path / "teams.db"
    out = cli(db, "team", "list").stdout
    assert "Nog geen teams" in out
    created = cli(db, "team", "create", "Wijkteam Zuid").stdout
    assert "Team 'Wijkteam Zuid' gemaakt" in created
    token = re.search(r"Uitnodigingscode: (\S+)", created)
    assert token and re.fullmatch(r"[A-Za-z0-9_-]{22}", token.group(1))
    cli(db, "team", "create", "Wijkteam Noord")
    out = cli(db, "team", "list").stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 2
    assert "Wijkteam Noord" in lines[0] and "Wijkteam Zuid" in lines[1]  # sorted by name
    assert all("0 leden" in line for line in lines)
    dup = cli(db, "team", "create", "wijkteam zuid", check=False)
    assert dup.returncode != 0 and "Kan team niet maken" in dup.stderr
    assert "Traceback" not in dup.stderr
    assert len([x for x in cli(db, "team", "list").stdout.splitlines() if x.strip()]) == 2


# -- crash and restart --------------------------------------------------------------------------


def test_sigkill_mid_walk_resumes_same_question(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "kill.db"
    code = invite_code(db, "Wijkteam West")
    bot = start(db, "u1", bots)
    onboard(bot, "manager", code)
    prompt = bot.step("hele ronde")
    walk = Walk()
    prompt = answer_questions(bot, prompt, walk, limit=7)
    assert kind_of(prompt) == "question"
    waiting_on = question_of(prompt)
    before = db_answers(db, "u1")
    assert before == walk.expected and len(before) == 7
    bot.kill()
    assert bot.proc.returncode == -signal.SIGKILL

    bot = start(db, "u1", bots)
    got = bot.until_prompt()
    prompt = got[-1]
    assert kind_of(prompt) == "question"
    assert question_of(prompt) == waiting_on
    assert db_answers(db, "u1") == before
    # and the walk goes on to the end from there, in the same run
    prompt = answer_questions(bot, prompt, walk)
    assert kind_of(prompt) == "summary"
    assert walk.asked == role_questions("manager")
    assert db_answers(db, "u1") == walk.expected
    assert bot.close() == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    con.close()


def test_sigkill_after_acknowledged_scale_keeps_it(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "kill2.db"
    code = invite_code(db, "Wijkteam West")
    bot = start(db, "u1", bots)
    onboard(bot, "professional", code)
    prompt = bot.step("hele ronde")
    walk = Walk()
    prompt = answer_questions(bot, prompt, walk, limit=3)
    while prompt.expects != "scale":
        prompt = bot.step("/overslaan")
    qid = question_of(prompt)
    prompt = bot.step("2")
    assert kind_of(prompt) == "explain"  # acknowledged
    bot.kill()

    assert db_answers(db, "u1")[qid] == (2, None, 0)
    bot = start(db, "u1", bots)
    prompt = bot.until_prompt()[-1]
    assert kind_of(prompt) == "explain"
    prompt = bot.step("na de crash")
    assert kind_of(prompt) == "share"
    prompt = bot.step("ja")
    assert db_answers(db, "u1")[qid] == (2, "na de crash", 1)
    for q, value in walk.expected.items():
        assert db_answers(db, "u1")[q] == value
    assert bot.close() == 0


def test_eof_ends_cleanly_and_keeps_state(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "eof.db"
    bot = start(db, "u1", bots)
    prompt = bot.until_prompt()[-1]
    prompt = bot.step("ja")
    prompt = bot.step("professional")
    prompt = bot.step("demo")
    prompt = bot.step("hele ronde")
    prompt = bot.step("4")
    explain = prompt
    assert bot.close() == 0
    assert "Traceback" not in bot.stderr()

    bot = start(db, "u1", bots)
    prompt = bot.until_prompt()[-1]
    assert prompt == explain
    assert bot.close() == 0
    assert list(db_answers(db, "u1").values()) == [(4, None, 0)]


def test_blank_lines_are_ignored(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "blank.db"
    bot = start(db, "u1", bots)
    prompt = bot.until_prompt()[-1]
    bot.write("")
    bot.write("   ")
    prompt = bot.step("ja")
    assert kind_of(prompt) == "role"
    assert bot.close() == 0


def test_commands_over_jsonl(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "cmd.db"
    bot = start(db, "u1", bots)
    bot.until_prompt()
    for line in ("ja", "manager", "demo", "hele ronde", "3", "verder"):
        prompt = bot.step(line)
    qid = question_of(prompt)
    got = bot.type("/pauze")
    paused = got[-1]
    assert values(paused) == ["resume", "menu"]
    got = bot.type("/verder")
    prompt = got[-1]
    assert question_of(prompt) == qid
    got = bot.type("/help")
    prompt = got[-1]
    assert got[0].text.startswith("Zo werk ik")
    # a Demoteam 'manager' has no read right: no reader's part in the help
    assert "/rapport" not in got[0].text
    assert question_of(prompt) == qid
    got = bot.type("/mijngegevens")
    prompt = got[-1]
    assert any(r.document and r.document[0].endswith(".json") for r in got)
    got = bot.type("/onbekend")
    prompt = got[-1]
    assert "ken ik niet" in got[0].text
    assert question_of(prompt) == qid
    assert bot.close() == 0


@pytest.mark.e2e
def test_broken_content_makes_chat_fail_with_file_line(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    src = Path(__file__).resolve().parent.parent / "content"
    for f in src.glob("*.yaml"):
        (content / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    pp = content / "praatplaat.yaml"
    lines = pp.read_text(encoding="utf-8").splitlines()
    n = next(i for i, line in enumerate(lines) if line.strip().startswith("kind: scale"))
    lines[n] = lines[n].replace("scale", "schaal")
    pp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "c.db"
    proc = subprocess.run([str(TEAMSPIEGEL), "chat", "--jsonl", "--user", "u"], input="ja\n",
                          env=clean_env(db, TEAMSPIEGEL_CONTENT=str(content)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=PATIENCE)
    assert proc.returncode == 1
    assert f"{pp}:{n + 1}:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scale_meaning_shown_once() -> None:
    from bot.engine.messages import Choice, Reply
    from bot.transports.console import render_text

    told = Reply("Vraag?\nKies 1 t/m 5 (1 = niet, 5 = wel).", [Choice("1", "1")], "scale",
                 ("Niet", "Wel"))
    assert render_text(told).count("1 = ") == 1
    untold = Reply("Hoe herkenbaar?", [Choice("1", "1")], "scale", ("Niet", "Heel"))
    assert "[1 = Niet … 5 = Heel]" in render_text(untold)
