"""Packs a team writes itself: ``teamspiegel content add FILE --team TEAM``, validated with the
same ``file:line: field: problem`` errors, versioned, seen by that team only, unable to change
the privacy rules. The example of ``docs/content-packs.md`` is the file these tests add."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.mydata import export_document
from bot.packs import PackLibrary, add_team_pack, choose_packs
from bot.store import Store
from bot.yamlio import ConfigError
from tests.cli import clean_env, run_cli
from tests.test_packs_chat import PackChat, t

REPO = Path(__file__).resolve().parent.parent
CONTENT = get_content()


def doc_example() -> str:
    """The complete example pack of docs/content-packs.md (its first ```yaml block)."""
    doc = (REPO / "docs" / "content-packs.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    return block


def cli(db: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*argv, env=clean_env(db), cwd=db.parent)


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def line_no(text: str, needle: str, start: int = 0) -> int:
    lines = lines_of(text)
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


# -- the command line ------------------------------------------------------------------------------


def test_content_add_from_the_docs_example(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert cli(db, "team", "create", "Wijkteam Noord").returncode == 0
    assert cli(db, "team", "create", "Wijkteam Zuid").returncode == 0
    path = tmp_path / "onze-vragen.yaml"
    path.write_text(doc_example(), encoding="utf-8")
    proc = cli(db, "content", "add", str(path), "--team", "Wijkteam Noord")
    assert proc.returncode == 0, proc.stderr
    assert "Pakket 'onze-vragen' (versie 1) toegevoegd voor Wijkteam Noord" in proc.stdout
    assert "1 themes, 1 cases, 1 tips, 1 dilemmas" in proc.stdout
    again = cli(db, "content", "add", str(path), "--team", "Wijkteam Noord")
    assert again.returncode == 0 and "niets veranderd" in again.stdout
    # the team's list shows it, switched on, as its own; the other team has no such pack
    listing = cli(db, "team", "packs", "Wijkteam Noord").stdout
    assert re.search(r"\[x\] onze-vragen .* \(eigen pakket van het team\)", listing), listing
    other = cli(db, "team", "packs", "Wijkteam Zuid")
    assert "onze-vragen" not in other.stdout
    refused = cli(db, "team", "packs", "Wijkteam Zuid", "--on", "onze-vragen")
    assert refused.returncode != 0 and "ken ik niet voor Wijkteam Zuid" in refused.stderr
    check = cli(db, "content", "check", "--team", "Wijkteam Noord")
    assert check.returncode == 0, check.stderr
    assert "[x] onze-vragen" in check.stdout and "[x] praatplaat" in check.stdout
    # every pack with what reaches each role (professional / manager / beleid / bestuurder)
    assert re.search(r"^  casus +v1 +12 / 12 / 12 / 12  Casussen: Robert en vijf gemeenten$",
                     check.stdout, flags=re.M), check.stdout
    assert re.search(r"^  tips-2017 +v1 +0 / 0 / 8 / 8 ", check.stdout, flags=re.M)
    assert re.search(r"^  \[x\] onze-vragen +v1 +4 / 5 / 4 / 4 ", check.stdout, flags=re.M)
    # a changed file under the same version is refused; a new version is added
    changed = doc_example().replace("Lukt het om tijd", "Lukt het echt om tijd")
    path.write_text(changed, encoding="utf-8")
    conflict = cli(db, "content", "add", str(path), "--team", "Wijkteam Noord")
    assert conflict.returncode == 1
    assert conflict.stderr.strip().startswith(f"{path}:1: version: version '1' of pack "
                                              "'onze-vragen' was added before with other content")
    path.write_text(changed.replace('version: "1"', 'version: "2"'), encoding="utf-8")
    assert cli(db, "content", "add", str(path), "--team", "Wijkteam Noord").returncode == 0
    store = Store(db)
    try:
        team = store.team_by_name("Wijkteam Noord")
        assert team is not None
        assert [r["version"] for r in store.team_pack_versions(team["id"], "onze-vragen")] == [
            "1", "2"]
        assert [a["detail"] for a in store.audit_entries(team["id"])
                if a["action"] == "pack_added"] == ["onze-vragen v1", "onze-vragen v2"]
    finally:
        store.close()


def _problems(store: Store, team: int, text: str, name: str = "p.yaml") -> list[str]:
    with pytest.raises(ConfigError) as err:
        add_team_pack(store, CONTENT, team, name, text=text)
    return err.value.problems


def test_a_pack_cannot_change_the_privacy_rules(store: Store) -> None:
    team = store.create_team("Noord")
    text = doc_example().replace('version: "1"\n', 'version: "1"\nk: 1\n')
    assert _problems(store, team, text) == [
        f"p.yaml:{line_no(text, 'k: 1')}: k: a pack cannot change the privacy rules (k, frozen "
        "snapshots, who sees shared texts); remove this key"]
    text = doc_example().replace("        kind: text\n        audience: [manager]",
                                 "        kind: text\n        audience: [manager]\n"
                                 "        share_text: true")
    [problem] = _problems(store, team, text)
    assert problem.startswith(f"p.yaml:{line_no(text, 'share_text: true')}: "
                              "themes[0].questions[1].share_text: a pack cannot change the "
                              "privacy rules")
    assert store.team_pack_ids(team) == []


def test_the_same_errors_as_every_pack(store: Store) -> None:
    team = store.create_team("Noord")
    base = doc_example()
    # a scale without anchors: the Praatplaat's own message
    text = base.replace('        anchors: {low: "Nooit", high: "Altijd"}\n', "")
    assert _problems(store, team, text) == [
        f"p.yaml:{line_no(text, '- id: werkdruk-1')}: themes[0].questions[0].anchors: a scale "
        "question needs anchors {low: ..., high: ...}: what 1 and 5 mean"]
    # three sides to a dilemma
    text = base.replace('sides: ["Zelf doen", "Doorverwijzen"]',
                        'sides: ["Zelf doen", "Doorverwijzen", "Allebei"]')
    assert _problems(store, team, text) == [
        f"p.yaml:{line_no(text, 'sides: [')}: dilemmas[0].sides: List should have at most 2 "
        "items after validation, not 3"]
    # an item for everyone in a pack for two roles (cross-field checks run once the fields
    # themselves are valid, as in every pack)
    text = base.replace("audience: [all]\nintro:", "audience: [professional, manager]\nintro:")
    q = line_no(text, "- id: werkdruk-1")
    problems = _problems(store, team, text)
    assert f"p.yaml:{line_no(text, 'audience: [all]', q)}: themes[0].questions[0].audience: " \
           "all is not within the pack's audience (professional+manager); widen the pack's " \
           "audience or narrow this one" in problems
    assert len(problems) == 4  # werkdruk-1, the case's question, the tip, the dilemma
    # a built-in pack's name, a theme id the Praatplaat uses
    text = base.replace("id: onze-vragen", "id: casus").replace("- id: werkdruk\n",
                                                                 "- id: regie\n")
    text = text.replace("id: werkdruk-1", "id: regie-1").replace("id: werkdruk-2", "id: regie-2")
    assert _problems(store, team, text) == [
        f"p.yaml:{line_no(text, 'id: casus')}: id: 'casus' is a pack of Teamspiegel itself; "
        "choose another id for your own pack",
        f"p.yaml:{line_no(text, '- id: regie')}: themes[0].id: 'regie' is already used by "
        "pack 'praatplaat' (praatplaat.yaml); choose another id",
    ]
    # broken YAML
    assert _problems(store, team, "id: x\n  title: [") [0].startswith("p.yaml:2: YAML syntax")


def test_team_packs_are_seen_by_their_team_only(engine: Engine) -> None:
    store = engine.store
    noord, zuid = store.create_team("Noord"), store.create_team("Zuid")
    pack, status = add_team_pack(store, CONTENT, noord, "onze-vragen.yaml", text=doc_example())
    assert status == "added" and pack.id == "onze-vragen"
    lib = PackLibrary(store, CONTENT)
    assert "onze-vragen" in [u.id for u in lib.uses(noord) if u.enabled]
    assert "onze-vragen" not in [u.id for u in lib.uses(zuid)]
    with pytest.raises(KeyError):
        choose_packs(store, CONTENT, zuid, on=["onze-vragen"])
    with pytest.raises(KeyError):
        lib.get(zuid, "onze-vragen")
    # a member of Zuid pressing a button of Noord's pack gets nothing of it
    z = PackChat(engine, "z")
    z.onboard("professional", code=store.create_invite(zuid))
    z.press("go:pack:onze-vragen:overleg", token=None)
    assert t(engine, "pack_not_available") in z.texts()
    assert "packs" not in [c.value for c in z.prompt().choices]


def test_answers_keep_the_version_they_were_given_under(engine: Engine) -> None:
    store = engine.store
    team = store.create_team("Noord")
    add_team_pack(store, CONTENT, team, "onze-vragen.yaml", text=doc_example())
    chat = PackChat(engine, "n")
    chat.onboard("professional", code=store.create_invite(team))
    chat.press("packs")
    assert chat.state == "packs.pick_unit"
    chat.press("werkdruk")
    assert "Lukt het om tijd te maken voor overleg?" in chat.prompt().text
    assert "„We plannen ruimte voor overleg in, ook als het druk is.”" in chat.texts()
    chat.type("2")
    chat.type("Vaste dinsdag")
    chat.press("nee")
    # version 2 asks it differently; the answer given stays with version 1's question
    v2 = doc_example().replace('version: "1"', 'version: "2"').replace(
        "Lukt het om tijd te maken voor overleg? Wat helpt daarbij?",
        "Is er tijd voor overleg in de week? Wat helpt daarbij?")
    add_team_pack(store, CONTENT, team, "onze-vragen.yaml", text=v2)
    [row] = store.member_answers(chat.member_id or -1)
    assert (row["pack"], row["pack_version"], row["scale"]) == ("onze-vragen", "1", 2)
    doc = export_document(store, CONTENT, chat.member_id, chat.conv, engine.clock())
    [answer] = [a for a in doc["antwoorden"] if a["vraag"].startswith("Lukt het")]
    assert answer["vragenpakket"] == "Onze eigen vragen (versie 1)"
    # a new run asks version 2
    chat.type("/menu")
    chat.press("packs")
    chat.press("werkdruk")
    assert "Is er tijd voor overleg in de week?" in chat.prompt().text


# -- the migration ---------------------------------------------------------------------------------


def test_a_release_3_database_carries_over(tmp_path: Path) -> None:
    """Every answer and run of release 0.3 is the Praatplaat's, the teams use the default packs,
    and the new tables work on the old data."""
    from tests.test_access_migration import v3_database

    path = tmp_path / "v3.db"
    v3_database(path)
    store = Store(path)
    try:
        [answer] = store.member_answers(7)
        assert (answer["pack"], answer["pack_version"], answer["content_version"]) == (
            "praatplaat", None, "praatplaat=1;kalender=1")
        run = store.get_run(3)
        assert run is not None and run["pack"] == "praatplaat" and run["pack_version"] is None
        lib = PackLibrary(store, CONTENT)
        assert [p.id for p in lib.enabled(1)] == ["praatplaat", "kalender"]
        assert store.answer_packs(1) == ["praatplaat"]
        # an old answer is read with the Praatplaat (no version stored: the current one)
        assert lib.for_answer(1, answer["pack"], answer["pack_version"]) is CONTENT.praatplaat
        add_team_pack(store, CONTENT, 1, "onze-vragen.yaml", text=doc_example())
        assert [p.id for p in lib.enabled(1)] == ["praatplaat", "kalender", "onze-vragen"]
        tables = set(store.db.table_names())
        assert {"team_packs", "team_pack_choices"} <= tables
    finally:
        store.close()


# -- dilemma cards for the team conversation ---------------------------------------------------------


def test_dilemma_cards_ready_for_a_vote(store: Store) -> None:
    """What the team conversation calls: the cards of the packs a team uses, each a two-sided
    vote (fits Telegram's sendPoll: question <= 300, options <= 100 characters) plus prompts."""
    from bot.packs import find_dilemma, team_dilemmas

    team = store.create_team("Noord")
    assert team_dilemmas(store, CONTENT, team) == []  # the defaults have no dilemmas
    choose_packs(store, CONTENT, team, on=["beleidsuitgangspunten"])
    cards = team_dilemmas(store, CONTENT, team)
    assert [c.id for _, c in cards][:2] == ["zelfbeschikking-of-veiligheid",
                                            "ingrijpen-of-loslaten"]
    assert len(cards) == 7
    for pack, card in cards:
        assert pack.id == "beleidsuitgangspunten"
        assert len(card.title) <= 300 and all(len(label) <= 100 for _, label in card.options())
        assert [v for v, _ in card.options()] == ["a", "b"] and card.prompts
        assert all(q.shown().startswith("„") for q in card.quotes)
    pack, card = find_dilemma(store, CONTENT, team, "1")  # type: ignore[misc]
    assert card.options() == [("a", "Zelfbeschikking"), ("b", "Veiligheid")]
    assert find_dilemma(store, CONTENT, team, "privacy")[1].id == "hoe-strikt-privacy"  # type: ignore[index]
    assert find_dilemma(store, CONTENT, team, "99") is None
    # a team's own cards come with its own pack, for that team only
    add_team_pack(store, CONTENT, team, "onze-vragen.yaml", text=doc_example())
    assert [c.id for _, c in team_dilemmas(store, CONTENT, team)][-1] == "doorverwijzen"
    other = store.create_team("Zuid")
    assert team_dilemmas(store, CONTENT, other) == []
