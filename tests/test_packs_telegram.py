"""Content packs in Telegram: python-telegram-bot against the fake Bot API (real HTTP).

A member of a team that uses the cases and the policy principles runs Robert's case
conversation privately with inline buttons; a series tip sent the way the outbox sends it
carries a button that asks its question.
"""

from __future__ import annotations

import pytest

from bot.content import Pack, get_content
from bot.packs import choose_packs
from bot.schedule.series import series_replies
from tests.test_telegram import USER, fake, onboard, person, transport  # noqa: F401

CONTENT = get_content()
CASUS = CONTENT.pack("casus")
TIPS = CONTENT.pack("tips-2017")
assert isinstance(CASUS, Pack) and isinstance(TIPS, Pack)


@pytest.fixture
def team(store):  # noqa: ANN001, ANN201
    team_id = store.create_team("Wijkteam Oost")
    choose_packs(store, CONTENT, team_id, on=["casus", "beleidsuitgangspunten", "tips-2017"])
    return team_id, store.create_invite(team_id)


async def test_case_conversation_with_buttons(fake, person, store, team):  # noqa: ANN001, F811
    await onboard(person, team[1])
    menu = person.keyboard_message()
    assert ["Meer vragen en casussen"] in menu.buttons()
    await person.press("Meer vragen en casussen")
    # a professional has questions in the cases only: straight to them
    assert ["Casus: Robert"] in person.keyboard_message().buttons(), person.transcript()
    before = len(person.messages())
    await person.press("Casus: Robert")
    new = [m.text for m in person.messages()[before:]]
    robert = CASUS.theme("robert")
    # the case is told in a few replies, each quote its own paragraph in quotation marks;
    # one turn's replies arrive joined (blank line between) as far as Telegram's limit allows
    told = "\n\n".join(new)
    assert new[0].startswith("Casus: Robert")
    assert [t for t in told.split("\n\n") if t.startswith("„")] == [
        q.shown() for q in robert.quotes]
    assert "Wat zou jouw team doen?" in new[-1]
    await person.say("We vragen Robert eerst zelf wat hij wil.")
    await person.press("Ja, anoniem delen")
    assert "Wat zou jij Robert als eerste vragen?" in person.last().text
    await person.say("Waar ben je bang voor?")
    await person.press("Nee, alleen voor mij")
    assert person.last().text.startswith("Klaar!"), person.transcript()
    rows = store.conn.execute(
        "SELECT question_id, pack, text, share_text FROM answers ORDER BY id").fetchall()
    assert rows == [("robert-1", "casus", "We vragen Robert eerst zelf wat hij wil.", 1),
                    ("robert-2", "casus", "Waar ben je bang voor?", 0)]


async def test_series_tip_button_asks_its_question(fake, transport, person, store,  # noqa: ANN001, F811
                                                   team):
    await onboard(person, team[1], role="Beleidsmedewerker")
    tip = TIPS.series()[1]
    await transport.sender.send(str(USER), series_replies(TIPS, tip, group=False),
                                is_group=False)
    assert person.keyboard_message().buttons() == [["Beantwoord de vraag"]]
    await person.press("Beantwoord de vraag")
    assert tip.question in person.last().text, person.transcript()
    await person.say("Een eigen budget per wijkteam.")
    await person.press("Ja, anoniem delen")
    [row] = store.conn.execute(
        "SELECT question_id, pack, pack_version, text FROM answers").fetchall()
    assert row == (f"{tip.id}-vraag", "tips-2017", TIPS.version, "Een eigen budget per wijkteam.")
