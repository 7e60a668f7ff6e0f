"""The consent step and /privacy say who is responsible, how long data is kept and who sees
what, with the values of this deployment (TEAMSPIEGEL_CONTROLLER, retention, k)."""

from __future__ import annotations

from pathlib import Path

from bot.app import engine_settings
from bot.config import Settings
from bot.engine.core import Engine
from bot.engine.messages import Incoming
from bot.store import Store


def _engine(tmp_path: Path, dialogues, **settings: object) -> Engine:  # noqa: ANN001
    values = Settings(db_path=tmp_path / "t.db", **settings)  # type: ignore[arg-type]
    return Engine(Store(values.db_path), dialogues=dialogues, settings=engine_settings(values))


def _say(engine: Engine, text: str, *, user: str = "u1", group: bool = False) -> str:
    if text.startswith("/"):
        command, _, args = text[1:].partition(" ")
        inc = Incoming("console", user, "g1" if group else user, "command", text=text,
                       command=command, args=args, is_group=group)
    else:
        inc = Incoming("console", user, user, "text", text=text)
    return "\n".join(r.text for r in engine.handle(inc))


def test_welcome_names_the_configured_controller_retention_and_k(tmp_path, dialogues) -> None:
    engine = _engine(tmp_path, dialogues, controller="Gemeente Zaandam, privacy@zaandam.nl",
                     retention_years=2.0, min_group=4)
    welcome = _say(engine, "/start")
    assert "Verantwoordelijk: Gemeente Zaandam, privacy@zaandam.nl." in welcome
    assert "Na 2 jaar wis ik ze." in welcome
    assert "minstens 4 mensen" in welcome
    assert "elke maand een tip" in welcome  # the messages the bot will send, every kind
    assert "seintje van je teamleider" in welcome and "de stemvraag" in welcome
    assert "/privacy" in welcome and "{" not in welcome


def test_welcome_without_a_controller_says_it_is_not_set(tmp_path, dialogues) -> None:
    welcome = _say(_engine(tmp_path, dialogues), "/start")
    assert dialogues.text("controller_unknown") in welcome
    assert "Na 3 jaar" in welcome


def test_privacy_before_consent_keeps_nothing_and_works_in_groups(tmp_path, dialogues) -> None:
    engine = _engine(tmp_path, dialogues, controller="Wijkteam BV", retention_years=1.5)
    text = _say(engine, "/privacy")
    assert "Verantwoordelijk: Wijkteam BV." in text
    assert "Bewaartermijn: 1,5 jaar" in text
    assert "afgesloten ronde" in text and "{" not in text
    assert engine.store.member_id("console", "u1") is None  # asking stores no member
    group = _say(engine, "/privacy", user="u2", group=True)
    assert "Verantwoordelijk: Wijkteam BV." in group


def test_explicit_values_win_over_the_engine_wide_ones(tmp_path, dialogues) -> None:
    engine = _engine(tmp_path, dialogues, min_group=5)
    assert "minstens 5 mensen" in engine.text("ask_share")
    assert "minstens 7 mensen" in engine.text("ask_share", min_group=7)
