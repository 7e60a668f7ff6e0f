"""End to end: the real bot process (``teamspiegel run``) against the fake Bot API.

A team and an invite are made with the CLI; a new person opens the invite's deep link, consents,
picks a role and walks the whole tour with buttons and typed text. Halfway the bot process is
killed with SIGKILL right after it handled a button press but before Telegram heard so (the fake
then delivers that update again), and restarted: the person continues at the same question, and
the re-delivered update is not handled twice. Then /vergeet, and a revoked invite.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bot.content import get_content
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import TEAMSPIEGEL, Person, TelegramBot, bot_env, db_rows
from tests.waiting import PATIENCE

pytestmark = pytest.mark.slow

TOKEN = "7000001:AAHx-e2e-secret-token-abcdefghijklmnop"
USER, OTHER = 5001, 5002
KILL_AFTER = 9  # questions answered before the crash
FOLLOW_UPS = tuple(q.follow_up for q in get_content().praatplaat.questions if q.follow_up)


def cli(db: Path, *args: str) -> str:
    out = subprocess.run([TEAMSPIEGEL, "--db", str(db), *args], capture_output=True, text=True,
                         cwd=db.parent, timeout=PATIENCE, env=bot_env(db))
    assert out.returncode == 0, out.stderr
    return out.stdout


def _progress(text: str) -> tuple[int, int] | None:
    # a new theme's introduction comes in the same message, before the question
    match = re.search(r"^Vraag (\d+) van (\d+)", text, re.MULTILINE)
    return (int(match.group(1)), int(match.group(2))) if match else None


async def _answer_question(person: Person, n: int, expected: list[dict]) -> None:
    """Answer the question on screen; vary scale, explanation and sharing per question."""
    question = person.last().text
    if question.rstrip().endswith("Met /overslaan sla je deze vraag over."):  # a text question
        text = f"Antwoord op vraag {n}: we overleggen te weinig."
        await person.say(text)
        share = n % 2 == 0
        assert person.last().text.startswith("Mag je tekst anoniem gedeeld worden")
        await person.press("Ja, anoniem delen" if share else "Nee, alleen voor mij")
        expected.append({"scale": None, "text": text, "share": int(share)})
        return
    scale = n % 5 + 1
    await person.press(str(scale))
    # "Wil je dit toelichten?", or the open half of a multi-part question in its place
    assert person.last().text.startswith(("Wil je dit toelichten?", *FOLLOW_UPS)), (
        person.transcript())
    if n % 3 == 0:  # no explanation
        await person.press("Verder")
        expected.append({"scale": scale, "text": None, "share": 0})
        return
    text = f"Toelichting bij vraag {n}."
    await person.say(text)
    share = n % 3 == 1
    await person.press("Ja, anoniem delen" if share else "Nee, alleen voor mij")
    expected.append({"scale": scale, "text": text, "share": int(share)})


async def test_whole_tour_with_a_crash_and_restart(tmp_path):
    db = tmp_path / "teamspiegel.db"
    log = tmp_path / "bot.log"
    created = cli(db, "team", "create", "Wijkteam Oost")
    assert "Uitnodigingscode:" in created
    invite = cli(db, "team", "invite", "Wijkteam Oost", "--bot", "teamspiegel_test_bot")
    link = re.search(r"Telegram: (\S+)", invite).group(1)
    assert link.startswith("https://t.me/teamspiegel_test_bot?start=")
    token = link.split("start=")[1]
    # no monthly tip in the middle of the tour, whatever day the test runs (the quarterly
    # invite skips people who started a run, and plans run only at start-up: see _env)
    cli(db, "team", "schedule", "Wijkteam Oost", "--off")

    with FakeBotAPI(token=TOKEN) as fake:
        bot = TelegramBot(db, fake, log)
        try:
            bot.start()
            person = Person(fake, USER)

            # the deep link sends "/start <token>"
            await person.say(f"/start {token}")
            assert person.last().text.startswith("Hoi! Ik ben Teamspiegel")
            await person.press("Ja, ik doe mee")
            await person.press("Professional (uitvoering)")
            assert any(m.text.startswith("Welkom bij Wijkteam Oost!") for m in person.messages())
            await person.press("Hele ronde (10 thema's)")

            expected: list[dict] = []
            total = None
            crashed = False
            while True:
                text = person.last().text
                if text.startswith("Klaar!"):
                    break
                progress = _progress(text)
                assert progress, person.transcript()
                n, total = progress
                assert n == len(expected) + 1, person.transcript()  # never a skipped question
                if not crashed and n > KILL_AFTER and person.last().callback_data():
                    crashed = True  # at the first scale question after KILL_AFTER
                    await _crash_and_restart(bot, fake, person)
                    expected.append({"scale": 3, "text": None, "share": 0})
                    continue
                await _answer_question(person, n, expected)

            assert crashed and total == len(expected) == 29
            rows = db_rows(db, """SELECT a.scale, a.text, a.share_text FROM answers a
                                  JOIN members m ON m.id = a.member_id
                                  WHERE m.platform_user_id = ? ORDER BY a.id""", (str(USER),))
            assert [{"scale": s, "text": t, "share": sh} for s, t, sh in rows] == expected
            assert db_rows(db, "SELECT COUNT(*) FROM runs WHERE finished_at IS NOT NULL") == [(1,)]
            # every button press was answered
            pressed = {u["callback_query"]["id"] for c in fake.calls("getUpdates")
                       for u in (c.response or {}).get("result", []) if "callback_query" in u}
            answered = {a["callback_query_id"] for a in fake.callback_answers()}
            assert len(pressed) > 50 and pressed <= answered

            # /vergeet removes everything about the person
            await person.say("/vergeet")
            await person.press("Ja, wis alles")
            assert person.last().text.startswith("Alles is gewist")
            assert db_rows(db, "SELECT COUNT(*) FROM members WHERE platform_user_id = ?",
                           (str(USER),)) == [(0,)]
            for table in ("answers", "runs", "memberships", "conversations"):
                assert db_rows(db, f"SELECT COUNT(*) FROM {table}") == [(0,)], table

            # a revoked invite is refused
            cli(db, "team", "revoke", token)
            other = Person(fake, OTHER)
            await other.say(f"/start {token}")
            await other.press("Ja, ik doe mee")
            await other.press("Professional (uitvoering)")
            # the refusal and the question for a code: one turn, one message
            assert other.last().text.startswith(
                "Deze uitnodiging is ingetrokken. Vraag je teamleider om een nieuwe.\n\n"
                "Wat is de uitnodigingscode van je team?"), other.transcript()
            assert db_rows(db, "SELECT COUNT(*) FROM memberships") == [(0,)]

            assert bot.terminate() == 0
            assert fake.token.split(":")[1] not in log.read_text()
        finally:
            bot.cleanup()


async def _crash_and_restart(bot: TelegramBot, fake: FakeBotAPI, person: Person) -> None:
    """SIGKILL right after a press was handled but before it was confirmed; then restart."""
    question = person.keyboard_message()
    # the bot is waiting in a long poll; the *next* getUpdates (the one that would confirm
    # the press) is held by the fake until the bot is gone: it is killed in that window
    fake.wait_for(lambda: (c := fake.calls("getUpdates")) and c[-1].status is None, PATIENCE)
    fake.add_fault(None, count=1, method="getUpdates", delay=10 * PATIENCE)
    _, data = person.press_data("3")
    update_id = fake.push_callback(USER, data, question.message_id)
    fake.wait_for(lambda: any((m.text or "").startswith("Wil je dit toelichten?")
                              for m in person.messages()[-1:]), PATIENCE)
    sent_before = len(fake.calls("sendMessage"))
    bot.kill()
    assert any(u["update_id"] == update_id for u in fake.pending_updates())  # unconfirmed
    fake.clear_faults()

    bot.start()
    # the press is delivered again and the engine drops it. The kill came right after the reply
    # arrived: when the bot had not yet noted that, it owes the reply and sends the current
    # question once more (a repeat, never a gap); otherwise nothing new.
    await fake.wait_for_async(
        lambda: all(u["update_id"] != update_id for u in fake.pending_updates()), PATIENCE)
    again = fake.calls("sendMessage")[sent_before:]
    assert len(again) <= 1, [c.params.get("text") for c in again]
    assert all(c.params["text"].startswith("Wil je dit toelichten?") for c in again)
    assert person.last().text.startswith("Wil je dit toelichten?")
    # the person continues at the same place
    await person.press("Verder")
