"""Content packs through the console: ``teamspiegel chat --jsonl`` as a real process.

A team switches the cases and the policy principles on with ``teamspiegel team packs``; a
member runs Robert's case conversation privately in the ``--jsonl`` contract (the ``expects`` /
``choices`` shape as for every prompt), a policy officer a theme of the policy round; a SIGKILL
between two answers loses nothing, and the database holds each answer with its pack and version.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.content import Pack, get_content
from tests.people import ConsolePerson
from tests.test_console import bots as bots  # noqa: F401  (fixture)
from tests.test_console import cli, number_of, onboard, start, values

CONTENT = get_content()
CASUS = CONTENT.pack("casus")
BU = CONTENT.pack("beleidsuitgangspunten")
assert isinstance(CASUS, Pack) and isinstance(BU, Pack)


def team_code(db: Path) -> str:
    out = cli(db, "team", "create", "Wijkteam Oost").stdout
    code = next(line.split(": ", 1)[1].strip() for line in out.splitlines()
                if line.startswith("Uitnodigingscode"))
    cli(db, "team", "packs", "Wijkteam Oost", "--on", "casus", "beleidsuitgangspunten")
    return code


def test_case_conversation_in_jsonl(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "t.db"
    code = team_code(db)
    bot = start(db, "pro", bots)
    menu = onboard(bot, "professional", code)
    assert "packs" in values(menu)
    # only the cases have questions for a professional: straight to them
    prompt = bot.step(number_of(menu, "packs"))
    assert prompt.expects == "choice" and values(prompt)[0] == "robert"
    assert "round" not in values(prompt)
    got = bot.type("Casus: Robert")  # by its words, as people type it
    prompt = got[-1]
    texts = [r.text for r in got]
    assert texts[0].startswith("Casus: Robert")
    # the story, a message at a time, each quote in quotation marks; then the question
    story = [t for t in texts if t.startswith("„")]
    assert story == [q.shown() for q in CASUS.theme("robert").quotes]
    assert [r.expects for r in got[1:-1]] == ["none"] * len(story)
    assert prompt.expects == "text" and "Wat zou jouw team doen?" in prompt.text
    prompt = bot.step("Eerst aan Robert zelf vragen wat hij wil.")
    assert values(prompt) == ["ja", "nee"] and "anoniem" in prompt.text
    prompt = bot.step("ja")
    assert prompt.expects == "text" and "Wat zou jij Robert als eerste vragen?" in prompt.text
    bot.kill()  # between two answers: what was answered stays

    bot = start(db, "pro", bots)
    prompt = bot.until_prompt()[-1]  # back where it was
    assert "Wat zou jij Robert als eerste vragen?" in prompt.text
    prompt = bot.step("Waar slaap je slecht van?")
    prompt = bot.step("nee")
    assert values(prompt) == ["edit", "menu"]  # the summary: done
    assert bot.close() == 0
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT question_id, pack, pack_version, text, share_text FROM answers ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [
        ("robert-1", "casus", CASUS.version, "Eerst aan Robert zelf vragen wat hij wil.", 1),
        ("robert-2", "casus", CASUS.version, "Waar slaap je slecht van?", 0),
    ]


def test_policy_theme_in_jsonl(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "t.db"
    code = team_code(db)
    bot = start(db, "pol", bots)
    menu = onboard(bot, "beleid", code)
    prompt = bot.step(number_of(menu, "packs"))
    assert values(prompt) == ["beleidsuitgangspunten", "casus"]  # two packs for beleid
    prompt = bot.step(number_of(prompt, "beleidsuitgangspunten"))
    assert values(prompt)[0] == "round"
    got = bot.type(number_of(prompt, "preventie"))
    prompt = got[-1]
    theme = BU.theme("preventie")
    assert all(q.shown() in "\n".join(r.text for r in got) for q in theme.quotes)
    assert prompt.expects == "scale" and prompt.scale_labels == ("Helemaal niet",
                                                                  "Heel sterk")
    prompt = bot.step("heel sterk")  # the anchor's words
    assert prompt.text.startswith("Waar zie je dat aan?")
    prompt = bot.step("Buurtwerk bij de school.")
    prompt = bot.step("nee")
    assert values(prompt) == ["edit", "menu"]
    assert bot.close() == 0
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT question_id, pack, scale, text FROM answers").fetchone()
    finally:
        conn.close()
    assert row == ("preventie-1", "beleidsuitgangspunten", 5, "Buurtwerk bij de school.")
