"""Content packs in the chat, in process: a real Engine on a real SQLite file in tmp_path.

A member whose team uses other packs picks "Meer vragen en casussen", a pack and a theme, case
or tip; the questions run through the same reflection flow as the Praatplaat and are stored with
their pack and its version. Owners switch packs on and off in /beheer. Expected texts come from
``dialogues/texts.yaml`` and the packs themselves.
"""

from __future__ import annotations

from bot.content import Pack, get_content
from bot.engine.core import Engine
from bot.packs import PackLibrary, choose_packs
from bot.store import Store
from tests.people import Person

CONTENT = get_content()
CASUS = CONTENT.pack("casus")
BU = CONTENT.pack("beleidsuitgangspunten")
TIPS = CONTENT.pack("tips-2017")
assert isinstance(CASUS, Pack) and isinstance(BU, Pack) and isinstance(TIPS, Pack)


class PackChat(Person):
    """A person in a private chat (tests/people.py), choosing options by their label."""

    def choice(self, label_start: str) -> str:
        """The value of the option of the current prompt whose label starts so."""
        found = [c.value for c in self.prompt().choices if c.label.startswith(label_start)]
        assert len(found) == 1, (label_start, [c.label for c in self.prompt().choices])
        return found[0]


def t(engine: Engine, key: str, **values: object) -> str:
    return engine.dialogues.text(key, **values)


def team_with(store: Store, *packs: str, name: str = "Wijkteam Noord") -> tuple[int, str]:
    team = store.create_team(name)
    if packs:
        choose_packs(store, CONTENT, team, on=list(packs))
    return team, store.create_invite(team)


def joined(engine: Engine, user: str, role: str, token: str) -> PackChat:
    chat = PackChat(engine, user)
    chat.onboard(role, code=token)
    return chat


def test_case_conversation_privately(engine: Engine) -> None:
    team, token = team_with(engine.store, "casus")
    chat = joined(engine, "pro", "professional", token)
    menu = [c.value for c in chat.prompt().choices]
    assert "packs" in menu and "tour" in menu  # the Praatplaat stays, the cases come with it
    chat.press("packs")  # one extra pack: straight to its cases
    assert chat.state == "packs.pick_unit"
    labels = [c.label for c in chat.prompt().choices]
    assert labels[0] == t(engine, "case_label", title="Robert")
    assert len(labels) == 6 and not any(c.value == "round" for c in chat.prompt().choices)
    assert CASUS.source.attribution() in chat.prompt().text

    chat.press("robert")
    assert chat.state == "reflect.question"
    robert = CASUS.theme("robert")
    texts = [r.text for r in chat.last]
    # the case told in a few short messages, each quote in quotation marks
    assert texts[0].startswith(t(engine, "case_header", title="Robert"))
    assert robert.intro in texts[0] and "„" not in texts[0]  # our intro: no quotation marks
    for quote in robert.quotes:
        assert f"„{quote.text.strip()}”" in texts
    assert t(engine, "pack_source_note", source=CASUS.source.attribution()) in "\n".join(texts)
    # then "Wat zou jouw team doen?", as text
    prompt = chat.prompt()
    assert "Wat zou jouw team doen?" in prompt.text and prompt.expects == "text"
    assert "„" not in prompt.text  # our question, no quotation marks

    chat.type("Samen met Robert praten, niet over hem.")
    assert chat.state == "reflect.share"
    chat.press("ja")
    # the professional's own question comes next, the manager's and beleid's do not
    assert "Wat zou jij Robert als eerste vragen?" in chat.prompt().text
    chat.type("Wat wil je zelf?")
    chat.press("nee")
    assert chat.state == "reflect.summary"

    rows = {r["question_id"]: r for r in engine.store.member_answers(chat.member_id or -1)}
    assert set(rows) == {"robert-1", "robert-2"}
    one, two = rows["robert-1"], rows["robert-2"]
    assert (one["pack"], one["pack_version"], one["theme_id"], one["team_id"]) == (
        "casus", CASUS.version, "robert", team)
    assert one["content_version"] == f"casus={CASUS.version}"
    assert one["text"] == "Samen met Robert praten, niet over hem." and one["share_text"] == 1
    assert two["share_text"] == 0 and one["scale"] is None
    run = engine.store.get_run(one["run_id"])
    assert run is not None and (run["pack"], run["scope"], run["finished_at"] is not None) == (
        "casus", "robert", True)


def test_policy_round_for_beleid_with_scale_and_open_half(engine: Engine) -> None:
    _, token = team_with(engine.store, "beleidsuitgangspunten", "sturing")
    chat = joined(engine, "pol", "beleid", token)
    chat.press("packs")
    assert chat.state == "packs.pick_pack"  # two packs for beleid: choose
    assert [c.value for c in chat.prompt().choices] == ["beleidsuitgangspunten", "sturing"]
    chat.press("beleidsuitgangspunten")
    assert chat.choice("Alle thema's") == "round"
    assert t(engine, "pack_round", n=11) in [c.label for c in chat.prompt().choices]
    chat.press("round")
    first = BU.themes[0]
    text = "\n".join(r.text for r in chat.last)
    assert t(engine, "theme_header", n=1, title="Zelfredzaamheid") in text
    for quote in first.quotes:
        assert quote.shown() in text  # what stands out, quoted, with its source document
    for quote in BU.quotes:  # the pack's "Wat valt op?", once, at the start of the round
        assert quote.shown() in text
    prompt = chat.prompt()
    q = first.questions[0]
    assert prompt.expects == "scale" and q.ask in prompt.text and q.follow_up not in prompt.text
    assert prompt.scale_labels == ("Helemaal niet", "Heel sterk")
    chat.type("vier")
    assert chat.state == "reflect.follow_up"
    assert chat.prompt().text.startswith("Waar zie je dat aan?")
    chat.type("In de keukentafelgesprekken.")
    chat.press("nee")
    # the next theme, with its own quotes; the pack's quotes are not repeated
    text = "\n".join(r.text for r in chat.last)
    assert "Participatie" in text and BU.quotes[0].shown() not in text
    chat.type("/pauze")
    [row] = engine.store.member_answers(chat.member_id or -1)
    assert (row["pack"], row["question_id"], row["scale"], row["text"]) == (
        "beleidsuitgangspunten", "zelfredzaamheid-1", 4, "In de keukentafelgesprekken.")
    # resuming comes back to the pack's second theme
    chat.type("/verder")
    assert chat.state == "reflect.question"
    assert BU.themes[1].questions[0].ask in chat.prompt().text


def test_professionals_see_no_policy_round(engine: Engine) -> None:
    """The policy round is for management, policy and the board: a professional in the same
    team is not offered it (the dilemmas are for the team conversation, not this menu)."""
    _, token = team_with(engine.store, "beleidsuitgangspunten", "tips-2017")
    chat = joined(engine, "pro", "professional", token)
    assert "packs" not in [c.value for c in chat.prompt().choices]
    manager = joined(engine, "boss", "manager", token)
    manager.press("packs")
    assert manager.state == "packs.pick_unit"  # tips-2017 is for beleid and bestuur only


def test_default_team_offers_no_extra_packs(engine: Engine) -> None:
    _, token = team_with(engine.store)
    chat = joined(engine, "a", "beleid", token)
    assert "packs" not in [c.value for c in chat.prompt().choices]
    chat.type("Meer vragen en casussen")
    assert chat.state == "menu.main"


def test_owner_switches_packs_in_beheer(engine: Engine) -> None:
    store = engine.store
    team, token = team_with(store)
    owner = joined(engine, "owner", "manager", token)
    store.grant_access(team, owner.member_id or -1, "owner", by=None, via="cli")
    member = joined(engine, "member", "professional", token)
    owner.type("/beheer")
    owner.press(owner.choice(t(engine, "access_packs")))
    assert owner.state == "packs.choose"
    listing = owner.prompt().text
    assert "✅ Praatplaat" in listing and "⬜ Casussen: Robert en vijf gemeenten" in listing
    old_token = owner.conv.prompt_seq  # type: ignore[union-attr]
    owner.press("pack:on:casus")
    assert t(engine, "pack_switched_on", pack=CASUS.title, team="Wijkteam Noord") in owner.texts()
    assert "✅ Casussen" in owner.prompt().text
    assert PackLibrary(store, CONTENT).is_enabled(team, "casus")
    # the same button pressed again (an old message) changes nothing: it says what it does
    owner.press("pack:on:casus", token=str(old_token))
    assert PackLibrary(store, CONTENT).is_enabled(team, "casus")
    # the member's menu has the cases now
    member.type("/menu")
    assert "packs" in [c.value for c in member.prompt().choices]
    # and off again
    owner.press("pack:off:casus")
    assert t(engine, "pack_switched_off", pack=CASUS.title, team="Wijkteam Noord") in owner.texts()
    member.type("/menu")
    assert "packs" not in [c.value for c in member.prompt().choices]
    audit = [(a["action"], a["actor_member_id"], a["detail"]) for a in store.audit_entries(team)
             if a["action"] == "packs_chosen"]
    assert audit == [("packs_chosen", owner.member_id, "chat: +casus"),
                     ("packs_chosen", owner.member_id, "chat: -casus")]
    owner.press("done")
    assert owner.state == "access.main"


def test_a_member_cannot_switch_packs(engine: Engine) -> None:
    """The owner's flow is for owners; a member who presses an old button changes nothing."""
    store = engine.store
    team, token = team_with(store)
    member = joined(engine, "member", "professional", token)
    member.type("/beheer")
    assert t(engine, "not_owner") in member.texts()
    member.press("pack:on:casus", token=None)
    assert not PackLibrary(store, CONTENT).is_enabled(team, "casus")
    # an owner whose right was taken away mid-flow is refused at the press
    owner = joined(engine, "owner", "manager", token)
    store.grant_access(team, owner.member_id or -1, "owner", by=None, via="cli")
    owner.type("/beheer")
    owner.press(owner.choice(t(engine, "access_packs")))
    store.conn.execute("DELETE FROM team_access WHERE member_id = ?", (owner.member_id,))
    owner.press("pack:on:casus")
    assert t(engine, "not_owner") in owner.texts()
    assert not PackLibrary(store, CONTENT).is_enabled(team, "casus")
    assert any(a["action"] == "packs:denied" for a in store.audit_entries(team))


def test_series_tip_button_asks_its_question(engine: Engine) -> None:
    _, token = team_with(engine.store, "tips-2017")
    chat = joined(engine, "pol", "beleid", token)
    tip = TIPS.tip("personas")
    chat.press(f"go:pack:tips-2017:{tip.id}", token=None)
    assert chat.state == "reflect.question"
    # they just read the tip: only its heading, then its question (ours: no quotation marks)
    assert chat.last[0].text.startswith(t(engine, "tip_header", n=3, title=tip.title))
    assert tip.text not in chat.texts()
    assert tip.question in chat.prompt().text and chat.prompt().expects == "text"
    chat.type("Robert, uit de casussen.")
    chat.press("ja")
    [row] = engine.store.member_answers(chat.member_id or -1)
    assert (row["pack"], row["theme_id"], row["question_id"]) == (
        "tips-2017", "personas", "personas-vraag")


def test_series_tip_button_of_a_pack_the_team_dropped(engine: Engine) -> None:
    store = engine.store
    team, token = team_with(store, "tips-2017")
    chat = joined(engine, "pol", "beleid", token)
    choose_packs(store, CONTENT, team, off=["tips-2017"])
    chat.press("go:pack:tips-2017:personas", token=None)
    assert t(engine, "pack_not_available") in chat.texts()
    assert chat.store.member_answers(chat.member_id or -1) == []
    # a professional has no question in this pack at all
    choose_packs(store, CONTENT, team, on=["tips-2017"])
    pro = joined(engine, "pro", "professional", token)
    pro.press("go:pack:tips-2017:personas", token=None)
    assert t(engine, "pack_not_available") in pro.texts()


def test_praatplaat_answers_stay_praatplaat(engine: Engine) -> None:
    """Answers of the Praatplaat are stored as before, with the pack named."""
    _, token = team_with(engine.store, "casus")
    chat = joined(engine, "pro", "professional", token)
    chat.press("tour")
    chat.type("4")
    [row] = engine.store.member_answers(chat.member_id or -1)
    assert (row["pack"], row["pack_version"], row["content_version"]) == (
        "praatplaat", CONTENT.praatplaat.version, CONTENT.version)


def test_my_reflections_show_each_pack_on_its_own(engine: Engine) -> None:
    _, token = team_with(engine.store, "casus")
    chat = joined(engine, "pro", "professional", token)
    chat.press("tour")
    chat.type("5")
    chat.type("/menu")
    chat.press("packs")
    chat.press("robert")
    chat.type("Met Robert zelf praten.")
    chat.press("nee")
    chat.type("/mijnreflecties")
    text = chat.texts()
    assert "Samenhang tussen beleid, management en uitvoering — " in text
    assert f"{CASUS.title}:\n• Robert — " in text and "1 antwoord" in text
    assert text.index("Samenhang") < text.index(CASUS.title)
    [mine] = [r for r in chat.last if CASUS.title in r.text]
    assert mine.personal  # your own answers: never in a shared room
