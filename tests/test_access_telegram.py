"""Who may read, over real HTTP: the Telegram transport (in process) against the fake Bot API,
with the report, dashboard and invite-link hooks installed the way ``teamspiegel run`` does.
"""

from __future__ import annotations

import pytest

from bot.app import install_invite_links, install_plugins
from bot.engine.flows import load_dialogues
from bot.store import Store
from bot.transports.telegram import TelegramTransport
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import Person, settings_for

TEXTS = load_dialogues().texts
SHARED = "Dit deel ik met de teamleider: we werken langs elkaar heen"
BOT = "teamspiegel_test_bot"


@pytest.fixture
def fake():
    with FakeBotAPI(token="987655:AAE-access-token-value-x1234567890ab") as server:
        yield server


@pytest.fixture
async def transport(fake, engine):
    settings = settings_for(fake, web_url="https://dashboard.example", secret_key="s" * 32)
    install_plugins(engine, settings)
    t = TelegramTransport(engine, settings, poll_timeout=1)
    await t.start()
    install_invite_links(engine, [t])
    yield t
    await t.stop()


def noord(store: Store) -> tuple[int, str]:
    """Wijkteam Noord: three colleagues answered theme 3 and shared a text."""
    with store.transaction():
        team_id = store.create_team("Wijkteam Noord")
        for i in range(3):
            mid = store.get_or_create_member("telegram", f"90{i}")
            store.set_consent(mid)
            store.join_team(mid, team_id, "professional")
            run = store.start_run(mid, team_id, "verandering", "2026-Q2")
            for qid, scale, text in (("verandering-1", 2 + i, None),
                                     ("verandering-4", None, f"{SHARED} ({i})")):
                store.save_answer(run_id=run, member_id=mid, team_id=team_id,
                                  role="professional", theme_id="verandering", question_id=qid,
                                  period="2026-Q2", content_version="test", scale=scale,
                                  text=text)
            store.set_answer_share(run, "verandering-4", True)
    return team_id, store.create_invite(team_id)


async def join(person: Person, code: str, role: str) -> None:
    await person.say(f"/start {code}")
    await person.press("Ja, ik doe mee")
    await person.press(role)


def seen(person: Person) -> str:
    out = []
    for m in person.messages():
        out.append(m.text or m.caption or "")
        for row in (m.reply_markup or {}).get("inline_keyboard", []):
            out += [b.get("url", "") for b in row]
    return "\n".join(out)


async def test_self_declared_manager_gets_nothing_over_http(fake, transport, store) -> None:
    team_id, code = noord(store)
    boss = Person(fake, 6001)
    await join(boss, code, "Teamleider of manager")
    assert boss.last().text.endswith("Wat wil je doen?")
    assert "Teamrapport" not in [b for row in boss.last().buttons() for b in row]
    for command in ("/rapport", "/rapport 3", "/dashboard"):
        await boss.say(command)
        assert any((m.text or "").startswith(TEXTS["not_manager"])
                   for m in boss.messages()[-2:]), command
    await boss.say("/koppel")
    assert any((m.text or "").startswith(TEXTS["not_owner"]) for m in boss.messages()[-2:])
    group = -100900
    await boss._apushed(fake.push_group_message(6001, group, f"/koppel {code}"))
    assert fake.last_message(group).text == TEXTS["group_link_new_way"]
    transcript = seen(boss)
    assert SHARED not in transcript and "/login/" not in transcript
    assert "Gemiddeld" not in transcript
    assert not [m for m in boss.messages() if m.kind in ("photo", "document")]
    assert store.chat_team("telegram", str(group)) is None
    assert store.report_teams(store.member_id("telegram", "6001")) == []


async def test_owner_gives_a_named_leader_read_rights_once_over_http(fake, transport,
                                                                     store) -> None:
    team_id, code = noord(store)
    with store.transaction():
        owner_code = store.create_typed_invite(team_id, "owner")
    owner = Person(fake, 6101)
    await join(owner, owner_code, "Professional (uitvoering)")
    assert any("Je bent nu eigenaar van Wijkteam Noord" in (m.text or "")
               for m in owner.messages())
    await owner.say("/beheer")
    await owner.press("Leesrecht geven (uitnodiging)")
    await owner.say("Bas de Vries")
    [made] = [m for m in owner.messages() if m.kind == "photo"]
    assert "Bas de Vries" in made.caption
    [[button]] = made.reply_markup["inline_keyboard"]
    prefix = f"https://t.me/{BOT}?start="
    assert button["url"].startswith(prefix)
    invite = button["url"][len(prefix):]

    bas = Person(fake, 6102)
    await join(bas, invite, "Teamleider of manager")
    assert any("Je hebt nu leesrecht op Wijkteam Noord" in (m.text or "")
               for m in bas.messages())
    await bas.say("/rapport 3")
    assert SHARED in seen(bas)
    await bas.say("/dashboard")
    assert "https://dashboard.example/login/" in seen(bas)

    late = Person(fake, 6103)
    await join(late, invite, "Teamleider of manager")
    assert any((m.text or "").startswith(TEXTS["invite_used"]) for m in late.messages())
    await late.say("/rapport 3")
    assert SHARED not in seen(late)
