"""A member's own theme figures (/mijnreflecties, the end-of-round summary) never average items
of opposite direction, and say when a theme has too few scale items for an average."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.reports.chat import install
from bot.scoring import own_theme_text
from bot.store import Store
from tests.people import Person
from tests.test_reports_chat import NOW, answer, team

PP = get_content().praatplaat


def test_opposite_directions_are_never_averaged() -> None:
    verandering = PP.theme("verandering")
    # 4 and 4 on the two score items, 1 (= little difficulty with change) on the other
    text = own_theme_text(verandering, {"verandering-1": 4, "verandering-2": 4,
                                        "verandering-3": 1})
    assert text == "gemiddeld 4,0, vraag 3.3: 1, hoger is minder goed"  # not (4 + 4 + 1) / 3


def test_a_theme_without_a_score_shows_its_item() -> None:
    text = own_theme_text(PP.theme("opdrachten"), {"opdrachten-1": 5})
    assert text == "vraag 2.1: 5, hoger is minder goed"
    assert "gemiddeld" not in text
    assert own_theme_text(PP.theme("maatwerk"), {"maatwerk-2": 3}) == "vraag 10.2: 3"
    assert own_theme_text(PP.theme("regie"), {}) is None


def test_my_reflections_in_the_chat(engine: Engine, store: Store) -> None:
    engine.clock = lambda: NOW
    install(engine, Settings(db_path=Path(store.path)))
    team_id, code = team(store, "Wijkteam Eigen")
    me = Person(engine, "eigen").onboard("professional", code)
    answer(store, me, team_id, "2026-Q3", {"verandering-1": 4, "verandering-2": 4,
                                           "verandering-3": 1, "opdrachten-1": 5})
    me.type("/mijnreflecties")
    text = me.text()
    assert "• Openstaan voor verandering — 2026 Q3: gemiddeld 4,0, vraag 3.3: 1, hoger is " \
           "minder goed" in text
    assert "• Omgaan met conflicterende opdrachten — 2026 Q3: vraag 2.1: 5, hoger is minder " \
           "goed" in text
    assert "3,0" not in text  # the old average of 4, 4 and 1


def test_the_end_of_round_summary_keeps_directions_apart(engine: Engine, store: Store) -> None:
    from tests.test_flows import Chat
    from tests.test_snapshots import walk

    with store.transaction():
        team_id = store.create_team("Wijkteam Samenvatting")
        code = store.create_invite(team_id)
    chat = Chat(engine, "samenvatting")
    chat.onboard("professional", code)
    walk(chat, "verandering", {"verandering-1": 4, "verandering-2": 4, "verandering-3": 1})
    summary = chat.texts()
    assert "Openstaan voor verandering: gemiddeld 4,0, vraag 3.3: 1, hoger is minder goed" \
        in summary
    assert "gemiddeld 3,0" not in summary
