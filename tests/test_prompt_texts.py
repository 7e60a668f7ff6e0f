"""A question's texts are made once per place in a round and shared by everyone on the engine
(bot/engine/actions.py: render_question): what differs per person still differs."""

from __future__ import annotations

from bot.engine.core import Engine
from tests.test_flows import PP, Chat


def test_people_on_one_engine_each_see_their_own_question_texts(engine: Engine) -> None:
    one, two = Chat(engine, "u1"), Chat(engine, "u2")
    one.onboard()
    two.onboard()
    team = two.store.create_team("Wijkteam Zuid")
    two.type(f"/start {two.store.create_invite(team)}")
    one.press("tour")
    first = one.prompt().text
    two.press("tour")
    two.type("wijkteam zuid")  # in two teams: every question names the round's team
    assert two.state == "reflect.question" and two.question_id == one.question_id
    assert "· Wijkteam Zuid" in two.prompt().text
    assert "Wijkteam" not in first
    assert one.last[0].text.startswith(f"Thema {PP.themes[0].number}: ")  # the theme's intro
    assert two.last[-2].text == one.last[0].text  # the same intro for both

    qid = one.answer(scale=4)
    one.type("/terug")  # the question again, now with the answer given
    again = one.prompt().text
    assert one.question_id == qid and again != first and again.startswith(first.split("\n")[0])
    assert "4" in again.split("\n\n", 2)[2]
    assert "Wijkteam" not in again
    # the other person at the same place: their own heading and their own earlier answer
    assert two.answer(scale=2) == qid
    two.type("/terug")
    mine = two.prompt().text
    assert "· Wijkteam Zuid" in mine and "2" in mine.split("\n\n", 2)[2]
    assert mine.split("\n\n")[1] == again.split("\n\n")[1]  # the question itself
    assert mine.split("\n\n")[2] != again.split("\n\n")[2]  # each their own answer
    assert two.prompt().personal and one.prompt().personal
