"""Honest answer forms and understanding what people type (issue 10).

Three layers: the pure matcher (:mod:`bot.engine.understand`), the engine on a real SQLite file
(the ``Chat`` helper of ``test_flows``), and the console ``--jsonl`` contract in a real
``teamspiegel chat`` process. Each example of the issue is here; every one of them failed on
the code before this change (typed words on a scale, typos, values typed as words, a number at
"Wil je dit toelichten?" stored as the explanation "3", the whole welcome repeated after a miss).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.core import Engine
from bot.engine.understand import edit_distance, match_choice, match_scale, normalize
from tests.people import ConsolePerson
from tests.test_console import bots as bots  # noqa: F401  (fixture)
from tests.test_console import invite_code, kind_of, onboard, values
from tests.test_flows import PP, Chat, role_questions, t

CONSENT = [["Ja, ik doe mee", "ja"], ["Nee, liever niet", "nee"]]
ROLE = [["Professional (uitvoering)", "professional"], ["Teamleider of manager", "manager"],
        ["Beleidsmedewerker", "beleid"], ["Bestuurder (wethouder, raadslid)", "bestuurder"]]
MENU = [["Verder waar je was", "resume"], ["Hele ronde (10 thema's)", "tour"],
        ["Eén thema kiezen", "theme"], ["Antwoorden bekijken of aanpassen", "review"],
        ["Mijn reflecties door de tijd", "mine"], ["Teamrapport", "report"]]
SHARE = [["Ja, anoniem delen", "ja"], ["Nee, alleen voor mij", "nee"]]
SUMMARY = [["Antwoord aanpassen", "edit"], ["Naar het menu", "menu"]]
VERDER = [["Verder", "verder"]]


# -- the matcher ------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "labels", "expected"), [
    ("4", None, 4), ("4.", None, 4), (" 4 ", None, 4), ("vier", None, 4), ("één", None, 1),
    ("Vijf", None, 5), ("４", None, 4), ("٤", None, 4), ("helemaal wel", ("Helemaal niet",
    "Helemaal wel"), 5), ("Helemaal niet", ("Helemaal niet", "Helemaal wel"), 1),
    ("heel vaak", ("Nooit", "Heel vaak"), 5), ("nooit", ("Nooit", "Heel vaak"), 1),
    ("helemal wel", ("Helemaal niet", "Helemaal wel"), 5),  # one letter off
    # not a score
    ("6", None, None), ("0", None, None), ("4,5", None, None), ("²", None, None),
    ("①", None, None), ("heel vaak", ("Helemaal niet", "Helemaal wel"), None),
    ("helemaal", ("Helemaal niet", "Helemaal wel"), None), ("wel", ("Helemaal niet",
    "Helemaal wel"), None), ("vier of vijf", None, None), ("", None, None),
])
def test_match_scale(typed: str, labels: tuple[str, str] | None, expected: int | None) -> None:
    assert match_scale(typed, labels) == expected


def test_match_scale_digits_only_where_words_may_be_text() -> None:
    assert match_scale("3", ("Nooit", "Heel vaak"), words=False) == 3
    assert match_scale("vier", ("Nooit", "Heel vaak"), words=False) is None
    assert match_scale("nooit", ("Nooit", "Heel vaak"), words=False) is None


@pytest.mark.parametrize(("typed", "choices", "expected"), [
    # the examples
    ("jaa", CONSENT, "ja"), ("verdr", VERDER, "verder"), ("aanpassen", SUMMARY, "edit"),
    ("aanpassen", MENU, "review"), ("één thema", MENU, "theme"),
    ("wijkteam professional", ROLE, "professional"),
    # numbers, labels, heads, words
    ("2", ROLE, "manager"), ("2.", ROLE, "manager"), ("١", CONSENT, "ja"),
    ("TEAMLEIDER OF MANAGER", ROLE, "manager"), ("manager", ROLE, "manager"),
    ("beleid", ROLE, "beleid"), ("wethouder", ROLE, "bestuurder"), ("ja", CONSENT, "ja"),
    ("Ja, ik doe mee!", CONSENT, "ja"), ("ja hoor", CONSENT, "ja"), ("verder", MENU, "resume"),
    ("hele ronde", MENU, "tour"), ("menu", SUMMARY, "menu"), ("anoniem", SHARE, "ja"),
    ("alleen voor mij", SHARE, "nee"),
    # a plain no picks the option that says no, never the one that says yes
    ("nee, ik doe niet mee", CONSENT, "nee"), ("ik doe niet mee", CONSENT, "nee"),
    ("niet delen", SHARE, "nee"), ("liever niet", SHARE, "nee"), ("neej", CONSENT, "nee"),
    # values are button data, not words
    ("tour", MENU, None), ("resume", MENU, None), ("review", MENU, None), ("edit", SUMMARY, None),
    ("mine", MENU, None), ("report", MENU, None),
    # not clear: ask again rather than guess
    ("mee", CONSENT, None), ("na", CONSENT, None), ("ik weet het niet", CONSENT, None),
    ("ja maar niet nu", CONSENT, None), ("niet nu", MENU, None), ("²", CONSENT, None),
    ("3", CONSENT, None), ("blablabla", MENU, None), ("", CONSENT, None),
])
def test_match_choice(typed: str, choices: list[list[str]], expected: str | None) -> None:
    assert match_choice(typed, choices) == expected


def test_match_choice_where_free_text_is_also_an_answer() -> None:
    """At 'Wil je dit toelichten?' only the option itself (or a slip of it) is the option;
    a sentence that starts with its word is an explanation."""
    assert match_choice("verdr", VERDER, loose="typo") == "verder"
    assert match_choice("Verder", VERDER, loose="typo") == "verder"
    assert match_choice("verder niks te melden", VERDER, loose="typo") is None
    assert match_choice("1", VERDER, numbers=False, loose="typo") is None
    assert match_choice("aanpassen", SUMMARY, loose="none") is None


def test_normalize_and_distance() -> None:
    assert normalize("  Eén   THEMA's! ") == "een themas"
    assert normalize("²") == "²"  # no compatibility folding: not a digit
    assert edit_distance("verdr", "verder") == 1
    assert edit_distance("verdre", "verder") == 1  # swapped neighbours
    assert edit_distance("ja", "nee") == 3


# -- the engine -------------------------------------------------------------------------------


@pytest.fixture
def chat(engine: Engine) -> Chat:
    return Chat(engine)


def _to_question(chat: Chat, qid: str, role: str = "professional") -> None:
    """Onboard and start the theme of ``qid``, skipping up to it."""
    if chat.state is None:
        chat.onboard(role)
    chat.press("theme")
    chat.press(PP.theme_of(qid).id)
    for _ in range(len(PP.theme_of(qid).questions)):
        if chat.question_id == qid:
            return
        chat.type("/overslaan")
        assert chat.state == "reflect.question"
    assert chat.question_id == qid


@pytest.mark.parametrize(("qid", "typed", "score"), [
    ("samenhang-1", "4.", 4), ("samenhang-1", " 4 ", 4), ("samenhang-1", "vier", 4),
    ("samenhang-1", "helemaal wel", 5), ("samenhang-1", "Helemaal niet", 1),
    ("samenhang-2", "heel vaak", 5), ("samenhang-2", "nooit", 1), ("samenhang-1", "４", 4),
    ("samenhang-1", "٤", 4), ("opdrachten-1", "heel vaak", 5),
])
def test_scale_understands_what_people_type(engine: Engine, qid: str, typed: str,
                                            score: int) -> None:
    chat = Chat(engine)
    _to_question(chat, qid)
    chat.type(typed)
    assert chat.state == "reflect.explain", chat.texts()
    assert chat.answers()[qid]["scale"] == score


def test_scale_miss_names_the_questions_own_anchors(chat: Chat, engine: Engine) -> None:
    _to_question(chat, "samenhang-2")  # 1 = nooit, 5 = heel vaak
    for typed in ("heel erg", "6", "helemaal wel"):
        chat.type(typed)
        assert chat.last[0].text == "Kies een getal van 1 t/m 5 (1 = nooit, 5 = heel vaak)."
        assert t(engine, "unknown_input") not in chat.texts()
        assert chat.state == "reflect.question" and chat.answers() == {}


def test_question_prompt_shows_its_own_anchors(chat: Chat) -> None:
    _to_question(chat, "opdrachten-1")
    prompt = chat.prompt()
    assert "1 = nooit, 5 = heel vaak" in prompt.text
    assert prompt.scale_labels == ("Nooit", "Heel vaak")
    assert prompt.to_json()["scale_labels"] == ["Nooit", "Heel vaak"]
    assert "helemaal wel" not in prompt.text


def test_typed_words_of_options_and_their_typos(engine: Engine) -> None:
    chat = Chat(engine)
    chat.type("/start")
    chat.type("jaa")
    assert chat.state == "onboarding.role"
    chat.type("wijkteam professional")
    assert chat.state == "onboarding.team"
    chat.type("demo")
    assert chat.state == "menu.main"
    assert list(chat.teams().values()) == ["professional"]
    chat.type("één thema")
    assert chat.state == "reflect.pick_theme"
    chat.type("regie")
    assert chat.state == "reflect.question" and chat.question_id == "regie-1"
    chat.type("3")
    chat.type("verdr")
    assert chat.state == "reflect.question" and chat.question_id == "regie-2"
    for _ in range(len(PP.questions)):
        if chat.state != "reflect.question":
            break
        chat.type("/overslaan")
    assert chat.state == "reflect.summary"
    chat.type("aanpassen")
    assert chat.state == "reflect.edit_pick"


@pytest.mark.parametrize(("where", "typed", "pressed"), [
    ("menu", "tour", "reflect.question"), ("menu", "resume", None), ("menu", "mine", None), ("summary", "edit", "reflect.edit_pick"),
    ("summary", "review", None),
])
def test_option_values_are_not_typed_words(engine: Engine, where: str, typed: str,
                                           pressed: str | None) -> None:
    chat = Chat(engine)
    chat.onboard()
    if where == "summary":
        chat.press("theme")
        chat.press("invloed")
        chat.answer()
        chat.answer()
        assert chat.state == "reflect.summary"
    before = chat.conv
    chat.type(typed)
    assert chat.last[0].text == t(engine, "unknown_input")
    after = chat.conv
    assert before is not None and after is not None
    assert (after.state, after.prompt_seq) == (before.state, before.prompt_seq)
    if pressed:  # the buttons still send those values
        chat.press(typed)
        assert chat.state == pressed


def test_a_bare_number_at_the_explanation_corrects_the_score(chat: Chat, engine: Engine) -> None:
    _to_question(chat, "samenhang-1")
    chat.type("4")
    assert chat.state == "reflect.explain"
    assert chat.prompt().numbered is False  # "1" is a score here, not option 1
    assert chat.prompt().to_json()["numbered"] is False
    chat.type("3")
    assert chat.last[0].text == t(engine, "scale_corrected", n=3)
    assert chat.state == "reflect.explain"
    row = chat.answers()["samenhang-1"]
    assert (row["scale"], row["text"], row["share_text"]) == (3, None, 0)
    chat.type(" 1 ")  # "1" too: it is not the number of 'Verder'
    assert chat.answers()["samenhang-1"]["scale"] == 1 and chat.state == "reflect.explain"
    chat.type("3, want we zien elkaar te weinig")  # a number with words is an explanation
    assert chat.state == "reflect.share"
    row = chat.answers()["samenhang-1"]
    assert (row["scale"], row["text"]) == (1, "3, want we zien elkaar te weinig")


def test_a_miss_at_the_explanation_button_is_free_text_not_lost(chat: Chat) -> None:
    _to_question(chat, "samenhang-1")
    chat.type("2")
    chat.type("verder niks")  # starts like the button, but is an explanation
    assert chat.state == "reflect.share"
    assert chat.answers()["samenhang-1"]["text"] == "verder niks"


@pytest.mark.parametrize("qid", ["regie-3", "bekend-3", "vraagverheldering-2", "expertise-3"])
def test_multi_part_question_asks_its_open_half(chat: Chat, engine: Engine, qid: str) -> None:
    q = PP.question(qid)
    _to_question(chat, qid, "manager")
    assert q.ask in chat.prompt().text
    assert q.follow_up not in chat.prompt().text  # type: ignore[operator]
    chat.type("4")
    assert chat.state == "reflect.follow_up"
    prompt = chat.prompt()
    assert prompt.text.startswith(q.follow_up)  # type: ignore[arg-type]
    assert t(engine, "ask_explain") not in prompt.text
    assert [c.value for c in prompt.choices] == ["verder"] and prompt.numbered is False
    chat.type("5")  # a bare number still corrects the score
    assert chat.answers()[qid]["scale"] == 5 and chat.state == "reflect.follow_up"
    chat.type("Door vaker samen op huisbezoek te gaan.")
    assert chat.state == "reflect.share"
    chat.press("ja")
    rows = [r for r in chat.store.member_answers(chat.member_id or -1) if r["question_id"] == qid]
    assert len(rows) == 1  # one question for counting
    assert (rows[0]["scale"], rows[0]["text"], rows[0]["share_text"]) == (
        5, "Door vaker samen op huisbezoek te gaan.", 1)


def test_follow_up_can_be_left_open(chat: Chat) -> None:
    _to_question(chat, "regie-3")
    chat.type("2")
    chat.press("verder")
    assert chat.state in {"reflect.question", "reflect.summary"}
    row = chat.answers()["regie-3"]
    assert (row["scale"], row["text"]) == (2, None)


def test_a_miss_repeats_only_the_short_welcome(chat: Chat, engine: Engine) -> None:
    chat.type("/start")
    chat.type("misschien")
    assert [r.text for r in chat.last] == [t(engine, "unknown_input"), t(engine, "welcome_short")]
    assert t(engine, "welcome") not in chat.texts()
    assert [c.value for c in chat.prompt().choices] == ["ja", "nee"]
    chat.type("ja")
    assert chat.state == "onboarding.role"


def test_a_miss_repeats_only_the_short_question(chat: Chat, engine: Engine) -> None:
    chat.onboard()
    chat.press("tour")
    assert chat.last[0].text.startswith("Thema 1:")  # intro with the first question
    q = PP.question(chat.question_id or "")
    chat.type("weet niet")
    assert not any(r.text.startswith("Thema ") for r in chat.last)
    assert PP.themes[0].intro not in chat.texts()
    prompt = chat.prompt()
    assert prompt.text == q.ask and prompt.expects == "scale"
    assert prompt.scale_labels == (q.anchors.low, q.anchors.high)  # type: ignore[union-attr]
    chat.type("4")
    assert chat.answers()[q.id]["scale"] == 4


def test_source_is_shown_once_per_round(chat: Chat, engine: Engine) -> None:
    source = PP.source.attribution()
    chat.onboard()
    chat.press("tour")
    assert source in chat.last[0].text and "van ons" in chat.last[0].text
    for _ in range(5):  # the next questions, theme 2's intro included
        chat.answer()
        assert source not in chat.texts()
    chat.type("/menu")
    chat.press("theme")
    chat.press("regie")  # a new round
    assert source in chat.texts()


@pytest.mark.parametrize("role", ["professional", "manager", "beleid"])
def test_role_walk_counts_with_follow_ups(engine: Engine, role: str) -> None:
    """The whole tour per role: 29 / 33 / 32 answered questions, follow-ups inside them."""
    chat = Chat(engine, f"walk-{role}")
    chat.onboard(role)
    chat.press("tour")
    follow_ups = 0
    for _ in range(len(PP.questions)):  # bounded: a question that is not understood repeats
        if chat.state != "reflect.question":
            break
        q = PP.question(chat.question_id or "")
        if q.kind == "scale":
            chat.type("vier")
            if chat.state == "reflect.follow_up":
                follow_ups += 1
                chat.type(f"open deel van {q.id}")
                chat.press("nee")
            else:
                chat.press("verder")
        else:
            chat.type(f"antwoord op {q.id}")
            chat.press("nee")
    answers = chat.answers()
    assert len(answers) == {"professional": 29, "manager": 33, "beleid": 32}[role]
    assert list(answers) == role_questions(role)
    assert follow_ups == 4
    for qid in ("regie-3", "bekend-3", "vraagverheldering-2", "expertise-3"):
        assert (answers[qid]["scale"], answers[qid]["text"]) == (4, f"open deel van {qid}")


# -- the console --jsonl contract ---------------------------------------------------------------


def test_console_jsonl_understands_people(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "understand.db"
    code = invite_code(db, "Wijkteam Oost")
    bot = ConsolePerson(db, "u1")
    bots.append(bot)
    prompt = bot.until_prompt()[-1]
    assert kind_of(prompt) == "consent"
    got = bot.type("blabla")  # a miss: the short question, not the whole welcome
    prompt = got[-1]
    assert [r.text for r in got][-1] == "Doe je mee?" and kind_of(prompt) == "consent"
    assert not any("Wat ik bewaar" in r.text for r in got)
    prompt = bot.step("jaa")
    assert kind_of(prompt) == "role"
    prompt = bot.step("teamleider")
    prompt = bot.step(code)
    assert kind_of(prompt) == "menu"
    got = bot.type("tour")  # a value, not a Dutch word: not understood
    prompt = got[-1]
    assert kind_of(prompt) == "menu" and "begreep ik niet" in got[0].text
    prompt = bot.step("één thema")
    assert prompt.choices[1].value == "opdrachten"
    prompt = bot.step("2")
    # opdrachten-1: its own anchors, in the text and as an added field; the shape stays
    assert prompt.expects == "scale" and values(prompt) == ["1", "2", "3", "4", "5"]
    assert "1 = nooit, 5 = heel vaak" in prompt.text
    assert prompt.scale_labels == ("Nooit", "Heel vaak")
    got = bot.type("heel erg")
    prompt = got[-1]
    assert got[0].text == "Kies een getal van 1 t/m 5 (1 = nooit, 5 = heel vaak)."
    assert prompt.expects == "scale" and not any(r.text.startswith("Thema") for r in got)
    prompt = bot.step("heel vaak")
    assert kind_of(prompt) == "explain" and prompt.numbered is False
    got = bot.type("3")  # a corrected score, not the explanation "3"
    prompt = got[-1]
    assert got[0].text == "Aangepast: je antwoord is nu 3." and kind_of(prompt) == "explain"
    prompt = bot.step("verdr")
    assert prompt.expects == "text"  # opdrachten-2, an open question
    assert bot.close() == 0
    assert "Traceback" not in bot.stderr()
    con = sqlite3.connect(db)
    rows = con.execute("SELECT question_id, scale, text FROM answers").fetchall()
    con.close()
    assert rows == [("opdrachten-1", 3, None)]


def test_console_jsonl_follow_up(tmp_path: Path, bots: list[ConsolePerson]) -> None:
    db = tmp_path / "followup.db"
    code = invite_code(db, "Wijkteam Zuid")
    bot = ConsolePerson(db, "u2")
    bots.append(bot)
    menu = onboard(bot, "professional", code)
    prompt = bot.step(str(values(menu).index("theme") + 1))
    prompt = bot.step("regie voeren")
    for _ in range(2):
        prompt = bot.step("/overslaan")
    assert prompt.text.endswith("Kies 1 t/m 5 (1 = helemaal niet, 5 = helemaal wel).")
    assert "Voel je je in staat om de regie te nemen?" in prompt.text
    assert "Hoe vind je dat?" not in prompt.text
    prompt = bot.step("helemaal wel")
    assert prompt.text.startswith(PP.question("regie-3").follow_up)  # type: ignore[arg-type]
    assert values(prompt) == ["verder"] and prompt.expects == "choice"
    prompt = bot.step("Dan stem ik af wie wat doet.")
    assert kind_of(prompt) == "share"
    prompt = bot.step("nee")
    assert kind_of(prompt) == "summary"
    assert bot.close() == 0
    con = sqlite3.connect(db)
    rows = con.execute("SELECT question_id, scale, text FROM answers").fetchall()
    con.close()
    assert rows == [("regie-3", 5, "Dan stem ik af wie wat doet.")]


def test_text_transports_show_unnumbered_options_without_numbers() -> None:
    """Where typed numbers are a score (after a scale answer), Matrix and the console do not
    number the options: "1" would otherwise read as option 1."""
    from bot.engine.messages import Choice, Reply, reply_from_payload, reply_to_payload
    from bot.transports.console import render_text
    from bot.transports.matrix import render_reply

    reply = Reply("Wil je dit toelichten?", [Choice("Verder", "verder")], "choice",
                  numbered=False)
    assert render_text(reply).splitlines()[-1] == "  - Verder"
    body = render_reply(reply, "@bot:example.org")[0]
    assert body["body"].endswith("• Verder") and "1." not in body["body"]
    assert "<ul><li>Verder</li></ul>" in body["formatted_body"]
    assert reply_from_payload(reply_to_payload(reply)).numbered is False
    numbered = Reply("Welk thema?", [Choice("Regie voeren", "regie")], "choice")
    assert render_text(numbered).splitlines()[-1] == "  1. Regie voeren"
    assert render_reply(numbered, "@bot:example.org")[0]["body"].endswith("1. Regie voeren")


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_is_normalised_as_any_other(text: str) -> None:
    """ASCII takes a shortcut (lower case only): the same as case folding and decomposing."""
    from bot.engine.understand import _PUNCT, _fold

    slow = " ".join(_PUNCT.sub(" ", re.sub(r"['’‘`´]", "", _fold(text))).split())
    assert normalize(text) == slow


def test_label_forms_are_made_once_and_stay_the_same() -> None:
    from bot.engine.understand import _keys, _label_words

    assert _keys("2. Nee, alleen voor mij (privé)") == ("2 nee alleen voor mij prive",
                                                        "nee alleen voor mij prive", "nee")
    assert _label_words("2. Nee, alleen voor mij") == ("nee", "alleen", "voor", "mij")
    assert match_choice("nee", [["Ja, delen", "ja"], ["Nee, alleen voor mij", "nee"]]) == "nee"
    assert _keys.cache_info().hits >= 1
