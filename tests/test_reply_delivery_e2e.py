"""End to end (``teamspiegel run`` as a real process, the fake Bot API over real HTTP): the crash
window of a reply, and one process per database.

* A press is committed, its reply is on its way, and the bot gets SIGKILL before Telegram
  answered (and before the update was confirmed). Telegram hands the update out again and the
  engine drops it as a replay; the person used to be left without a question (1,565 of 18,000
  answers across 25 kills). Now the store remembers the reply is owed, and the restarted bot
  sends the current question.
* A second ``teamspiegel run`` on the same database is refused with a clear line and a non-zero
  exit; the lock dies with its holder (SIGKILL), so a restart after a crash just works.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import TEAMSPIEGEL, Person, TelegramBot, bot_env, db_rows
from tests.test_telegram_e2e import cli
from tests.waiting import PATIENCE

pytestmark = pytest.mark.slow

TOKEN = "7000004:AAHx-reply-e2e-secret-token-abcdefghijk"
USER = 6001


async def _to_first_question(person: Person, token: str) -> None:
    await person.say(f"/start {token}")
    await person.press("Ja, ik doe mee")
    await person.press("Professional (uitvoering)")
    await person.press("Eén thema kiezen")
    await person.press("1. Samenhang tussen beleid, management en uitvoering")
    assert "\n\nVraag 1 van" in person.last().text, person.transcript()  # after the intro


async def test_a_reply_lost_in_a_crash_is_sent_after_the_restart(tmp_path: Path) -> None:
    db = tmp_path / "teamspiegel.db"
    log = tmp_path / "bot.log"
    cli(db, "team", "create", "Wijkteam Noord")
    token = cli(db, "team", "invite", "Wijkteam Noord").split(": ", 1)[1].split()[0]
    with FakeBotAPI(token=TOKEN) as fake:
        bot = TelegramBot(db, fake, log)
        person = Person(fake, USER)
        try:
            bot.start()
            await _to_first_question(person, token)
            assert person.keyboard_message().callback_data()  # the first question

            # the next message to this person hangs (no answer, not delivered) ...
            fake.add_fault(None, count=1, method="sendMessage", chat_id=USER, delay=120.0)
            message_id, data = person.press_data("4")
            update_id = fake.push_callback(USER, data, message_id)
            before = len(fake.calls("sendMessage", USER))
            while not ((c := fake.calls("sendMessage", USER))[before:]
                       and c[-1].status is None):  # the request is out, unanswered
                assert bot.proc is not None and bot.proc.poll() is None
                time.sleep(0.01)
            # ... the press is stored, and the bot dies before the reply arrived
            assert db_rows(db, "SELECT scale FROM answers") == [(4,)]
            bot.kill()
            assert any(u["update_id"] == update_id for u in fake.pending_updates())
            assert not any((m.text or "").startswith("Wil je dit toelichten?")
                           for m in person.messages())
            fake.clear_faults()

            bot.start()
            # Telegram hands out the press again: not stored twice, and the question comes
            await fake.wait_for_async(
                lambda: person.last().text.startswith("Wil je dit toelichten?"), 60)
            await fake.wait_for_async(
                lambda: all(u["update_id"] != update_id for u in fake.pending_updates()), 60)
            assert db_rows(db, "SELECT scale FROM answers") == [(4,)]
            # (the "✅ Jouw keuze" edit comes after a reply: cosmetic, lost with the crash)
            await person.press("Verder")  # and the person goes on from there
            assert "Vraag 2 van" in person.last().text, person.transcript()
            assert db_rows(db, "SELECT COUNT(*) FROM conversations WHERE owed_event IS NOT NULL") == [
                (0,)]
            assert bot.terminate() == 0
        finally:
            bot.cleanup()
    assert "sending 1 owed replies" in log.read_text()


def test_a_second_bot_on_the_same_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "teamspiegel.db"
    log = tmp_path / "bot.log"
    cli(db, "team", "create", "Wijkteam Noord")
    with FakeBotAPI(token=TOKEN) as fake:
        first = TelegramBot(db, fake, log)
        try:
            first.start()
            second = subprocess.run([TEAMSPIEGEL, "run"], cwd=tmp_path, env=bot_env(db, fake),
                                    capture_output=True, text=True, timeout=PATIENCE)
            assert second.returncode != 0
            assert "Er draait al een Teamspiegel op database" in second.stderr, second.stderr
            assert "Another 'teamspiegel run'" in second.stderr
            assert "Traceback" not in second.stderr
            assert first.proc is not None and first.proc.poll() is None  # the first goes on
            status = cli(db, "status")
            assert f"Bot: draait (pid {first.proc.pid})" in status, status

            # the lock dies with its holder: after a SIGKILL a new bot starts at once
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(PATIENCE)
            assert "Bot: draait niet" in cli(db, "status")
            first.start()  # at once: it would refuse after 2 s if the lock were still held
            assert first.terminate() == 0
        finally:
            first.cleanup()
