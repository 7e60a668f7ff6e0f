"""Telegram: the sender is the person, personal replies never reach a group chat, and a
rejected token is never printed. Against the fake Bot API over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.messages import Reply
from bot.transports.telegram import TelegramTransport
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import Person, settings_for
from tests.waiting import PATIENCE

ALICE, BOB = 6101, 6102
GROUP = -1006103
SECRET = "Alleen-voor-mij-tekst 4e1b"


@pytest.fixture
def fake():
    with FakeBotAPI(token="987655:AAE-secret-token-value-y1234567890ab") as server:
        yield server


@pytest.fixture
async def transport(fake, engine):
    t = TelegramTransport(engine, settings_for(fake), poll_timeout=1)
    await t.start()
    yield t
    await t.stop()


@pytest.fixture
def team(store):
    team_id = store.create_team("Wijkteam Noord")
    return team_id, store.create_invite(team_id)


async def test_group_messages_are_keyed_by_the_sender_and_get_nothing_personal(
    fake, transport, store, team
):
    alice = Person(fake, ALICE)
    await alice.say(f"/start {team[1]}")
    await alice.press("Ja, ik doe mee")
    await alice.press("Professional (uitvoering)")
    await alice.press("Hele ronde (10 thema's)")
    await alice.press("3")
    await alice.say(SECRET)
    await alice.press("Nee, alleen voor mij")
    before = store.load_conversation("telegram", str(ALICE))
    assert before is not None and before.chat_id == str(ALICE)

    # In a group, Alice and Bob ask for personal things: the group gets only the hint to
    # go private, and neither Alice's conversation nor anybody's data changes.
    for user, line in [(ALICE, "/mijngegevens"), (ALICE, "/mijnreflecties"),
                       (ALICE, "/vergeet"), (BOB, "/mijngegevens"), (BOB, "/verder")]:
        await alice._apushed(fake.push_group_message(user, GROUP, line))
    await alice._apushed(fake.push_group_message(BOB, GROUP, "4"))
    group = fake.sent_to(GROUP)
    assert len(group) == 5
    assert all(m.text.startswith("Reflecteren doe je privé") for m in group)
    assert fake.calls("sendDocument") == []
    assert all(SECRET not in m.text for m in group)
    after = store.load_conversation("telegram", str(ALICE))
    assert after is not None
    assert (after.id, after.chat_id, after.state, after.prompt_seq) == (
        before.id, before.chat_id, before.state, before.prompt_seq)
    assert store.member_id("telegram", str(BOB)) is None
    assert store.load_conversation("telegram", str(BOB)) is None
    [answer] = store.member_answers(store.member_id("telegram", str(ALICE)))
    assert answer["text"] == SECRET


async def test_personal_replies_are_refused_in_a_group_chat(fake, transport, engine, store,
                                                          team):
    """Whatever the engine returns, a personal reply reaches only the person's own chat."""
    refusal = engine.text("personal_private_only")
    handle = engine.handle

    def leaky(incoming, **kwargs):
        if incoming.text.startswith("/export"):
            return [Reply("Je antwoorden: " + SECRET, personal=True),
                    Reply("bestand", document=("x.json", b"{}", "application/json"),
                          personal=True),
                    Reply("Verder met je ronde.")]
        return handle(incoming, **kwargs)

    engine.handle = leaky
    await Person(fake, ALICE)._apushed(fake.push_group_message(ALICE, GROUP, "/export"))
    assert [m.text for m in fake.sent_to(GROUP)] == [refusal, "Verder met je ronde."]
    assert fake.calls("sendDocument") == []
    # in the person's own chat the same replies do go out
    alice = Person(fake, ALICE)
    await alice.say("/export")
    assert [m.text for m in alice.messages()][0] == "Je antwoorden: " + SECRET
    assert len(fake.calls("sendDocument")) == 1


TEAMSPIEGEL = str(Path(sys.executable).with_name("teamspiegel"))


@pytest.mark.e2e
def test_a_rejected_token_is_not_printed(tmp_path):
    """``teamspiegel run`` with a token the Bot API refuses: one clear line, exit 1, and the
    token nowhere in what it printed (PTB's InvalidToken quotes it in full)."""
    wrong = "7000009:AAHx-wrong-secret-token-zyxwvutsrqpo"
    with FakeBotAPI(token="7000001:AAHx-the-right-token-abcdefghijkl") as fake:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "MATRIX_", "TEAMSPIEGEL_"))}
        env.update(TEAMSPIEGEL_DB=str(tmp_path / "t.db"), TELEGRAM_BOT_TOKEN=wrong,
                   TELEGRAM_BASE_URL=fake.base_url)
        proc = subprocess.run([TEAMSPIEGEL, "run"], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=PATIENCE)
        assert fake.calls("getMe"), "the bot never asked the Bot API"
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert wrong not in out and wrong.split(":", 1)[1] not in out
    assert "Traceback" not in out
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1] == ("Telegram weigert de bot-token (TELEGRAM_BOT_TOKEN). Controleer de "
                         "token bij @BotFather en start opnieuw.")
    assert not any(json.dumps(wrong)[1:-1] in line for line in lines)
