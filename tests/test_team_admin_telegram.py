"""Team leaders' self-service over real HTTP: the Telegram transport (in process) against the
fake Bot API, with the hooks installed the way ``teamspiegel run`` does (``bot.app``)."""

from __future__ import annotations

import pytest

from bot.app import install_invite_links, install_plugins
from bot.engine.flows import load_dialogues
from bot.store import Store
from bot.transports.telegram import TelegramTransport
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import Person, settings_for

TEXTS = load_dialogues().texts
BOT = "teamspiegel_test_bot"


@pytest.fixture
def fake():
    with FakeBotAPI(token="987656:AAE-teamadmin-token-value-x12345678") as server:
        yield server


@pytest.fixture
async def transport(fake, engine):
    settings = settings_for(fake)
    install_plugins(engine, settings)
    t = TelegramTransport(engine, settings, poll_timeout=1)
    await t.start()
    install_invite_links(engine, [t])
    yield t
    await t.stop()


def audit(store: Store, action: str) -> list[dict]:
    return [e for e in store.audit_entries() if e["action"] == action]


async def test_a_leader_makes_and_runs_a_team_over_http(fake, transport, store) -> None:
    leader = Person(fake, 6201)
    await leader.say("/start")
    await leader.press("Ja, ik doe mee")
    await leader.press("Teamleider of manager")
    assert "/nieuwteam NAAM" in leader.last().text  # the invite-code question says how
    await leader.say("/nieuwteam Wijkteam Oost")
    overview = leader.keyboard_message()
    assert "Team Wijkteam Oost" in overview.text and "Leden: 1" in overview.text
    await leader.press("Uitnodiging voor leden (link en QR)")
    [invite] = [m for m in leader.messages() if m.kind == "photo"]
    [[button]] = invite.reply_markup["inline_keyboard"]
    prefix = f"https://t.me/{BOT}?start="
    assert button["url"].startswith(prefix)
    code = button["url"][len(prefix):]
    # a member joins with it, and is refused every owner operation (audited)
    member = Person(fake, 6202)
    await member.say(f"/start {code}")
    await member.press("Ja, ik doe mee")
    await member.press("Professional (uitvoering)")
    await member.say("/team")
    assert any((m.text or "").startswith(TEXTS["team_no_right"])
               for m in member.messages()[-2:])
    assert audit(store, "team_overview:denied")
    group = -100777
    team = store.team_by_name("Wijkteam Oost")
    with store.transaction():
        store.link_chat("telegram", str(group), int(team["id"]), None)
    await member._apushed(fake.push_group_message(6202, group, "/gesprek 4"))
    assert fake.last_message(group).text == TEXTS["session_owner_only"]
    assert audit(store, "session:denied")
    # the leader: the tip slot with the CLI's validation, then the nudge
    await leader.say("/team")
    await leader.press("Dag en tijd van de maandtip")
    await leader.say("30 14:30")
    assert "Dag moet een getal van 1 tot en met 20 zijn" in "\n".join(
        m.text or "" for m in leader.messages()[-3:])
    await leader.press("Seintje aan wie de ronde nog niet deed")
    await leader.press("Ja, stuur het seintje")
    assert TEXTS["team_nudged"] in [m.text for m in leader.messages()[-3:]]
    assert audit(store, "nudge")
    assert store.conn.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'nudge'"
                              ).fetchone()[0] == 2  # the leader and the member
