"""Content: counts and wording against the seeds, and clear file:line errors for broken YAML."""

from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.content import (
    DEFAULT_CONTENT_DIR,
    MIN_SCORE_ITEMS,
    ROLES,
    Content,
    check_sources,
    content_dir,
    get_content,
    load_content,
    load_sources,
    summary,
)
from bot.yamlio import ConfigError, format_loc, load_model, load_yaml

REPO = Path(__file__).resolve().parent.parent
#: the source texts inside the repository (copies of the seeds, pinned in provenance.yaml)
SOURCES = DEFAULT_CONTENT_DIR / "sources"
PRAATPLAAT_SEED = SOURCES / "001_16f6e2d2d66bb775.txt"
KALENDER_SEED = SOURCES / "000_8335c64eacf0dd82.txt"
#: the project's seeds beside the repository; compared with the copies only when present
SHARED_SEEDS = REPO.parent / "shared" / "seeds"

# The only differences allowed between the seeds' OCR text and our content. Each entry is OCR
# damage, not wording: (as OCR'd, as printed).
OCR_FIXES: tuple[tuple[str, str], ...] = (
    ("|s ", "Is "),  # capital I read as a pipe
    ("Voel je Je ", "Voel je je "),  # stray capital
    ("cliént", "cliënt"),  # diaeresis read as acute accent
    ("casuistiek", "casuïstiek"),  # lost diaeresis
    ("[te]", "(te)"),  # parenthesis read as bracket
)


def normalise(text: str) -> str:
    """Undo OCR damage and layout so printed wording can be compared as plain substrings.

    Joins words broken across lines ("verschil-\\nlende"), applies OCR_FIXES, drops quote marks
    (the OCR renders them inconsistently: ' ‘ ’ " and sometimes loses one), unifies dashes and
    collapses whitespace.
    """
    text = re.sub(r"-\n\s*(?=[a-zëé])", "", text)
    for wrong, right in OCR_FIXES:
        text = text.replace(wrong, right)
    text = re.sub(r"[‘’'\"“”]", "", text)
    text = re.sub(r"[–—]", "-", text)
    return re.sub(r"\s+", " ", text).strip()


def fold(text: str) -> str:
    """Case- and accent-insensitive form, for titles printed in capitals."""
    decomposed = unicodedata.normalize("NFKD", normalise(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content(DEFAULT_CONTENT_DIR)


# --------------------------------------------------------------------------------------------
# Praatplaat: counts and structure


def test_praatplaat_counts(content: Content) -> None:
    p = content.praatplaat
    assert [g.title for g in p.groups] == [
        "Overkoepelend: op alle niveaus",
        "Inrichting van de uitvoering",
        "Samenwerking tussen professionals",
        "De cliënt centraal",
    ]
    assert len(p.themes) == 10
    assert [t.number for t in p.themes] == list(range(1, 11))
    assert [len(t.questions) for t in p.themes] == [4, 3, 4, 3, 2, 4, 3, 4, 2, 5]
    assert len(p.questions) == 34
    assert len({q.id for q in p.questions}) == 34
    assert sum(q.kind == "scale" for q in p.questions) == 24
    assert sum(q.kind == "text" for q in p.questions) == 10


def test_theme_titles(content: Content) -> None:
    titles = {t.number: t.title for t in content.praatplaat.themes}
    assert titles[1] == "Samenhang tussen beleid, management en uitvoering"
    assert titles[4] == "Regie voeren"
    assert titles[6] == "Bekend maakt bemind"
    assert titles[9] == "Invloed van de cliënt"
    assert titles[10] == "Oplossing op maat"


def test_role_specific_questions(content: Content) -> None:
    p = content.praatplaat
    special = {q.id: q.audience for q in p.questions if q.audience != ["all"]}
    assert special == {
        "opdrachten-3": ["manager"],
        "tijd-3": ["manager", "beleid", "bestuurder"],
        "expertise-4": ["manager", "beleid", "bestuurder"],
        "maatwerk-4": ["manager"],
        "maatwerk-5": ["beleid", "bestuurder"],
    }
    assert p.question("opdrachten-3").text.startswith("Als teamleider of manager:")
    per_role = {role: sum(q.for_role(role) for q in p.questions) for role in ROLES}
    assert per_role == {"professional": 29, "manager": 33, "beleid": 32, "bestuurder": 32}


def test_praatplaat_lookups(content: Content) -> None:
    p = content.praatplaat
    assert p.theme("regie").number == 4
    assert p.theme_of("maatwerk-5").id == "maatwerk"
    assert p.group_of("maatwerk").title == "De cliënt centraal"
    assert [q.id for q in p.questions_for("maatwerk", "professional")] == [
        "maatwerk-1",
        "maatwerk-2",
        "maatwerk-3",
    ]
    assert [q.id for q in p.questions_for("maatwerk", "manager")] == [
        "maatwerk-1",
        "maatwerk-2",
        "maatwerk-3",
        "maatwerk-4",
    ]
    assert p.question("maatwerk-5").for_role("bestuurder")
    assert not p.question("maatwerk-5").for_role("manager")
    with pytest.raises(KeyError):
        p.question("nope-1")
    with pytest.raises(KeyError):
        p.theme("nope")
    with pytest.raises(ValueError):
        p.question("regie-1").for_role("teamleider")
    for theme in p.themes:
        assert all(q.id.startswith(f"{theme.id}-") for q in theme.questions)
        assert 1 <= theme.intro.count(".") + theme.intro.count("?") <= 4, theme.id
        assert len(theme.intro) <= 300, theme.id
        assert theme.more_info, theme.id


def test_sources_and_versions(content: Content) -> None:
    p, k = content.praatplaat, content.kalender
    assert (
        p.source.title == "Praatplaat: 10 uitdagende vragen voor de praktijk van integraal werken"
    )
    assert p.source.attribution() == (
        "Bron: Praatplaat: 10 uitdagende vragen voor de praktijk van integraal werken"
        " — Movisie / Integraal Werken in de Wijk"  # the seed prints no year: none is invented
    )
    assert k.source.attribution() == (
        "Bron: Verjaardagskalender — Integraal Werken in de Wijk (Movisie, Vilans), 2022"
    )
    assert content.version == f"praatplaat={p.version};kalender={k.version}"


# --------------------------------------------------------------------------------------------
# Praatplaat: wording against the seed


def _chapter2() -> str:
    lines = PRAATPLAAT_SEED.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("2.1 OVERKOEPELEND"))
    end = next(i for i, line in enumerate(lines) if line.startswith("DE PRAKTIJK IN BEELD"))
    return "\n".join(lines[start:end])


def test_questions_are_the_seed_questions_in_order(content: Content) -> None:
    """Each theme's questions, joined, are exactly the seed's "Vragen" block of that theme."""
    blocks = re.findall(r"(?ms)^Vragen\s*$(.*?)^Meer weten\?", _chapter2())
    assert len(blocks) == 10
    for theme, block in zip(content.praatplaat.themes, blocks, strict=True):
        block = re.sub(r"(?m)^\s*[=»*•-]\s+", "", block)  # bullets, as OCR'd
        expected = normalise(block)
        ours = " ".join(normalise(q.chapter_text or q.text) for q in theme.questions)
        assert ours == expected, theme.id


def test_question_wording_spot_checks(content: Content) -> None:
    p = content.praatplaat
    assert p.question("samenhang-1").text == (
        "Is er sprake van een gezamenlijk gedragen visie en daaruit voortvloeiende samenhangende"
        " aanpak vanuit beleid en praktijk?"
    )
    assert p.question("tijd-2").text == (
        "Is er overleg over prangende vraagstukken, bijvoorbeeld aan de hand van casuïstiek?"
    )
    assert p.question("invloed-1").text == (
        "Hoe kun je ervoor zorgen dat cliënten zoveel mogelijk zelf aan het stuur zitten?"
    )
    chapter = normalise(_chapter2())
    appendix = normalise(_appendix())
    for question in p.questions:
        if question.chapter_text is None:
            assert normalise(question.text) in chapter, question.id
        else:  # the Praatplaat's own wording; the chapter's is kept as a note
            assert normalise(question.chapter_text) in chapter, question.id
            assert normalise(question.text) in appendix, question.id
            assert normalise(question.text) not in chapter, question.id
        assert "|" not in question.text and "cliént" not in question.text


def _appendix() -> str:
    text = PRAATPLAAT_SEED.read_text(encoding="utf-8")
    return text[text.index("PRAATPLAAT: 10 UITDAGENDE VRAGEN"):]


def test_verandering_2_follows_the_praatplaat(content: Content) -> None:
    q = content.praatplaat.question("verandering-2")
    assert q.text == "Is er draagvlak voor de verandering? Gaat het leiden tot verbetering?"
    assert q.chapter_text == (
        "Is er draagvlak voor de verandering? Gaat het - op den duur - leiden tot verbetering?")


def test_theme_titles_and_links_are_in_the_seed(content: Content) -> None:
    seed_text = PRAATPLAAT_SEED.read_text(encoding="utf-8")
    folded = fold(seed_text)
    for theme in content.praatplaat.themes:
        assert fold(theme.title) in folded, theme.title
        for item in theme.more_info:
            assert item.url in seed_text, item.url
    for group in content.praatplaat.groups:
        assert fold(group.title.replace(":", "")) in folded, group.title


# --------------------------------------------------------------------------------------------
# Kalender


def test_kalender_counts(content: Content) -> None:
    k = content.kalender
    assert len(k.tips) == 12
    assert [t.month for t in k.tips] == list(range(1, 13))
    assert k.tip_for_month(1).title == "Stel sociaal team samen op basis van visie en opdracht"
    assert k.tip_for_month(5).title == "Blijf als bestuur nieuwsgierig naar de praktijk"
    assert k.tip_for_month(12).title == "Hou de lijnen kort"
    assert k.tip_for_month(1).month_name == "januari"
    assert k.tip_for_month(11).audience == ["professional"]
    with pytest.raises(ValueError):
        k.tip_for_month(13)
    for tip in k.tips:
        assert tip.question.endswith("?")
        assert len(tip.question) <= 120


def _kalender_blocks() -> list[tuple[str, str]]:
    """(title, block) per month: the title is the "## " heading printed before "# <MONTH>"."""
    text = KALENDER_SEED.read_text(encoding="utf-8")
    months = (
        "JANUARI FEBRUARI MAART APRIL MEI JUNI JULI AUGUSTUS SEPTEMBER OKTOBER NOVEMBER DECEMBER"
    )
    out: list[tuple[str, str]] = []
    for month in months.split():
        match = re.search(rf"(?m)^# {month}\s*$", text)
        assert match, month
        title = re.findall(r"(?m)^## (.+)$", text[: match.start()])[-1]
        rest = text[match.end() :]
        nxt = re.search(r"(?m)^## ", rest)
        out.append((title.strip(), rest[: nxt.start()] if nxt else rest))
    return out


def test_tips_match_the_seed(content: Content) -> None:
    blocks = _kalender_blocks()
    for tip, (title, block) in zip(content.kalender.tips, blocks, strict=True):
        assert fold(tip.title) == fold(title), tip.month
        body = normalise(block)
        assert normalise(tip.text) in body, tip.month
        assert normalise(tip.quote) in body, tip.month
        assert normalise(tip.quote_role) in body, tip.month
        # the quote's role is printed right after the quote
        after = body.split(normalise(tip.quote), 1)[1]
        assert after.strip().startswith(normalise(tip.quote_role)), tip.month


# --------------------------------------------------------------------------------------------
# Loader API


def test_summary_and_cache(content: Content, monkeypatch: pytest.MonkeyPatch) -> None:
    text = summary(content)
    assert "4 groups, 10 themes, 34 questions" in text
    assert "12 tips" in text
    assert "Regie voeren" in text

    monkeypatch.delenv("TEAMSPIEGEL_CONTENT", raising=False)
    assert content_dir() == DEFAULT_CONTENT_DIR
    get_content.cache_clear()
    try:
        assert get_content() is get_content()
        assert get_content() == content
    finally:
        get_content.cache_clear()


def test_content_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("praatplaat.yaml", "kalender.yaml"):
        (tmp_path / name).write_text((DEFAULT_CONTENT_DIR / name).read_text(encoding="utf-8"))
    monkeypatch.setenv("TEAMSPIEGEL_CONTENT", str(tmp_path))
    assert content_dir() == tmp_path
    assert load_content().praatplaat.question("regie-1").kind == "scale"


# --------------------------------------------------------------------------------------------
# Broken YAML: clear file:line: field: message errors


def _copy(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    d = tmp_path / "content"
    d.mkdir()
    p_lines = (DEFAULT_CONTENT_DIR / "praatplaat.yaml").read_text(encoding="utf-8").splitlines()
    k_lines = (DEFAULT_CONTENT_DIR / "kalender.yaml").read_text(encoding="utf-8").splitlines()
    (d / "kalender.yaml").write_text("\n".join(k_lines) + "\n", encoding="utf-8")
    (d / "praatplaat.yaml").write_text("\n".join(p_lines) + "\n", encoding="utf-8")
    return d, p_lines, k_lines


def _line_of(lines: list[str], needle: str, start: int = 0) -> int:
    """1-based number of the first line at or after ``start`` (0-based) containing ``needle``."""
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    d, lines, _ = _copy(tmp_path)
    n = _line_of(lines, "- id: regie-2")
    lines[n - 1] = lines[n - 1] + ": oops: nested"
    _write(d / "praatplaat.yaml", lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    message = str(err.value)
    assert f"{d / 'praatplaat.yaml'}:{n}: YAML syntax error" in message


def test_missing_field_points_at_its_parent(tmp_path: Path) -> None:
    d, lines, _ = _copy(tmp_path)
    theme_line = _line_of(lines, "- id: verandering")
    intro = _line_of(lines, "intro:", theme_line)
    del lines[intro - 1 : intro + 2]  # "intro: >-" and its two lines
    _write(d / "praatplaat.yaml", lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    assert err.value.problems == [
        f"{d / 'praatplaat.yaml'}:{theme_line}: groups[0].themes[2].intro: Field required"
    ]


def test_wrong_type_points_at_the_field(tmp_path: Path) -> None:
    d, lines, _ = _copy(tmp_path)
    n = _line_of(lines, "number: 3")
    lines[n - 1] = lines[n - 1].replace("3", '"drie"')
    m = _line_of(lines, "kind: scale", n)
    lines[m - 1] = lines[m - 1].replace("scale", "schaal")
    _write(d / "praatplaat.yaml", lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    problems = err.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{d / 'praatplaat.yaml'}:{n}: groups[0].themes[2].number: ")
    assert "integer" in problems[0]
    assert problems[1].startswith(
        f"{d / 'praatplaat.yaml'}:{m}: groups[0].themes[2].questions[0].kind: "
    )
    assert "'scale' or 'text'" in problems[1]


def test_duplicate_question_id_points_at_the_duplicate(tmp_path: Path) -> None:
    d, lines, _ = _copy(tmp_path)
    n = _line_of(lines, "- id: regie-2")
    lines[n - 1] = lines[n - 1].replace("regie-2", "regie-1")
    _write(d / "praatplaat.yaml", lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    assert err.value.problems == [
        f"{d / 'praatplaat.yaml'}:{n}: groups[1].themes[0].questions[1].id: "
        "duplicate question id 'regie-1' (first used at groups[1].themes[0].questions[0].id)"
    ]


def test_duplicate_theme_number_and_bad_audience_and_url(tmp_path: Path) -> None:
    d, lines, _ = _copy(tmp_path)
    n = _line_of(lines, "number: 5")
    lines[n - 1] = lines[n - 1].replace("5", "4")
    a = _line_of(lines, "audience: [manager]")
    lines[a - 1] = lines[a - 1].replace("[manager]", "[manager, teamleider]")
    u = _line_of(lines, 'url: "https://www.movisie.nl/artikel/wat-telt')
    lines[u - 1] = lines[u - 1].replace("https://", "www.")
    _write(d / "praatplaat.yaml", lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    text = str(err.value)
    f = d / "praatplaat.yaml"
    assert f"{f}:{a}: groups[0].themes[1].questions[2].audience[1]: unknown audience" in text
    assert f"{f}:{u}: groups[1].themes[1].more_info[0].url: must be an http(s) URL" in text
    assert "duplicate theme number" not in text
    # cross-field checks only run once the fields themselves are valid; fix those and retry
    lines[a - 1] = lines[a - 1].replace("[manager, teamleider]", "[manager]")
    lines[u - 1] = lines[u - 1].replace("www.", "https://")
    _write(f, lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    assert err.value.problems == [
        f"{f}:{_line_of(lines, 'groups:')}: groups: theme numbers must be 1..10; missing: 5",
        f"{f}:{n}: groups[1].themes[1].number: "
        "duplicate theme number 4 (first used at groups[1].themes[0].number)",
    ]  # sorted by line


def test_kalender_duplicate_month_and_unknown_field(tmp_path: Path) -> None:
    d, _, lines = _copy(tmp_path)
    n = _line_of(lines, "- month: 12")
    lines[n - 1] = lines[n - 1].replace("12", "11")
    _write(d / "kalender.yaml", lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    f = d / "kalender.yaml"
    assert err.value.problems == [
        f"{f}:{_line_of(lines, 'tips:')}: tips: need one tip per month 1..12; missing: [12]",
        f"{f}:{n}: tips[11].month: duplicate month 11 (first used at tips[10].month)",
    ]

    lines[n - 1] = lines[n - 1].replace("11", "12")
    q = _line_of(lines, "quote_role:", n)
    lines.insert(q, "    quote_rol: oeps")
    _write(f, lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    assert err.value.problems == [
        f"{f}:{q + 1}: tips[11].quote_rol: Extra inputs are not permitted"
    ]


def test_errors_of_both_files_are_collected(tmp_path: Path) -> None:
    d, p_lines, k_lines = _copy(tmp_path)
    p = _line_of(p_lines, 'version: "2"')
    p_lines[p - 1] = 'version: ""'
    k = _line_of(k_lines, 'publisher: "Integraal')
    del k_lines[k - 1]
    _write(d / "praatplaat.yaml", p_lines)
    _write(d / "kalender.yaml", k_lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    assert err.value.problems == [
        f"{d / 'praatplaat.yaml'}:{p}: version: must not be empty",
        f"{d / 'kalender.yaml'}:{_line_of(k_lines, 'source:')}: source.publisher: Field required",
    ]


def test_missing_file_and_duplicate_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_content(tmp_path)
    f = tmp_path / "x.yaml"
    f.write_text("a: 1\nb: 2\na: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_yaml(f)
    assert str(err.value) == f"{f}:3: a: duplicate key (first defined on line 1)"


def test_load_model_is_generic(tmp_path: Path) -> None:
    class Item(BaseModel):
        name: str
        size: int

    class Doc(BaseModel):
        items: list[Item]

    f = tmp_path / "doc.yaml"
    f.write_text("items:\n  - name: a\n    size: 1\n  - name: b\n    size: big\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_model(f, Doc)
    assert err.value.problems[0].startswith(f"{f}:5: items[1].size: ")

    f.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(f))}:1: \(root\): "):
        load_model(f, Doc)

    f.write_text("items:\n  - name: ok\n    size: 2\n", encoding="utf-8")
    assert load_model(f, Doc).items[0].size == 2
    data, locate = load_yaml(f)
    assert data == {"items": [{"name": "ok", "size": 2}]}
    assert locate(("items", 0, "size")) == 3
    assert locate(("items", 5, "size")) == 1  # nearest existing node: the "items" key
    assert format_loc(("items", 0, "size")) == "items[0].size"


# --------------------------------------------------------------------------------------------
# Answer forms: anchors, directions, follow-ups, theme scores


def test_every_scale_item_has_anchors_and_a_declared_direction(content: Content) -> None:
    for q in content.praatplaat.questions:
        if q.kind == "scale":
            assert q.anchors is not None, q.id
            assert q.anchors.low.strip() and q.anchors.high.strip(), q.id
            assert q.anchors.low.casefold() != q.anchors.high.casefold(), q.id
            assert "higher_is_better" in q.model_fields_set, q.id  # written, not defaulted
            assert q.higher_is_better in (True, False, None), q.id
        else:
            assert q.anchors is None and q.follow_up is None, q.id
            assert "higher_is_better" not in q.model_fields_set, q.id


def test_no_theme_score_mixes_directions(content: Content) -> None:
    """The items averaged into a theme score all point the same way, for every role."""
    for theme in content.praatplaat.themes:
        for role in (None, *ROLES):
            items = theme.score_items(role)
            assert len({q.higher_is_better for q in items}) <= 1, (theme.id, role)
            assert all(q.higher_is_better is not None for q in items), theme.id
            assert all(q.kind == "scale" for q in items), theme.id
        groups = theme.direction_groups()
        assert sum(len(g) for g in groups.values()) == len(theme.scale_items())
        if theme.score_items():
            ids = {q.id for q in groups[theme.score_direction]}
            assert {q.id for q in theme.score_items()} <= ids


def test_examples_of_the_issue_have_honest_forms(content: Content) -> None:
    p = content.praatplaat
    # working from different assignments: 5 is bad, and it is theme 2's only scale item
    o1 = p.question("opdrachten-1")
    assert o1.kind == "scale" and o1.higher_is_better is False
    assert (o1.anchors.low, o1.anchors.high) == ("Nooit", "Heel vaak")  # type: ignore[union-attr]
    # own difficulty with change is never averaged with "Is er draagvlak"
    v3 = p.question("verandering-3")
    assert v3.higher_is_better is False and not v3.in_theme_score
    assert v3 not in p.theme("verandering").score_items()
    assert [q.id for q in p.theme("verandering").score_items()] == [
        "verandering-1", "verandering-2"]
    # themes with too few scale items for a score say so
    assert [t.number for t in p.unscored_themes()] == [2, 5, 9, 10]
    assert MIN_SCORE_ITEMS == 2
    assert [len(p.theme(t).score_items()) for t in ("opdrachten", "vraagverheldering",
                                                    "invloed", "maatwerk")] == [1, 1, 0, 1]
    assert p.theme("tijd").can_score("professional") and p.theme("tijd").can_score("manager")
    # anchors of their own, not one scale for all
    assert len({(q.anchors.low, q.anchors.high) for q in p.questions if q.anchors}) >= 4


def test_multi_part_questions_ask_their_open_half_as_a_follow_up(content: Content) -> None:
    p = content.praatplaat
    with_follow_up = {q.id: q for q in p.questions if q.follow_up}
    assert set(with_follow_up) == {"regie-3", "bekend-3", "vraagverheldering-2", "expertise-3"}
    assert p.question("regie-3").ask == "Voel je je in staat om de regie te nemen?"
    assert p.question("bekend-3").follow_up == "Hoe zou je dat kunnen realiseren?"
    assert p.question("expertise-3").follow_up == "Wat heb je nodig om dit tijdig te doen?"
    assert p.question("vraagverheldering-2").follow_up == (
        "En hoe verloopt het vertalen daarvan in de praktijk?")
    for q in with_follow_up.values():
        assert q.kind == "scale"
        assert f"{q.ask} {q.follow_up}" == q.text  # the two halves, verbatim, make the question
        assert q.ask.endswith("?") and q.follow_up.endswith("?")  # type: ignore[union-attr]
    # still one question each for counting
    assert len(p.questions) == 34


def test_our_own_words_are_marked_and_are_not_in_the_source(content: Content) -> None:
    seed = normalise(PRAATPLAAT_SEED.read_text(encoding="utf-8"))
    for theme in content.praatplaat.themes:
        assert theme.is_ours("intro") and not theme.is_ours("title"), theme.id
        assert normalise(theme.intro) not in seed, theme.id
    calendar = normalise(KALENDER_SEED.read_text(encoding="utf-8"))
    for tip in content.kalender.tips:
        assert tip.is_ours("question") and tip.is_ours("audience"), tip.month
        assert not tip.is_ours("text") and not tip.is_ours("quote"), tip.month
        assert normalise(tip.question) not in calendar, tip.month


def test_tip_questions_speak_to_the_tips_audience(content: Content) -> None:
    """May and July are for policy and the board ("Vooral voor ..."): their questions ask
    those readers about what they do, not the practice about what it receives."""
    k = content.kalender
    for month in (5, 7):
        tip = k.tip_for_month(month)
        assert "professional" not in tip.audience, month
        assert "jij" in tip.question.split(), tip.question
        assert "jullie" not in tip.question, tip.question


# --------------------------------------------------------------------------------------------
# Source texts inside the repository


def test_sources_are_pinned_copies() -> None:
    loaded = load_sources(DEFAULT_CONTENT_DIR)
    assert loaded is not None
    base, sources = loaded
    assert base == SOURCES
    files = {s.file: s for s in sources.sources}
    # every seed the content quotes: the Praatplaat's publication (also the cases), the
    # calendar, the Zaanstad evaluation, the 2017 tips and the policy principles
    assert set(files) == {PRAATPLAAT_SEED.name, KALENDER_SEED.name, "002_ea7b81b0548672bc.txt",
                          "003_8616fdd1383bd5cc.txt", "004_521ae0d13e8462b0.txt"}
    for item in sources.sources:
        digest = hashlib.sha256((SOURCES / item.file).read_bytes()).hexdigest()
        assert digest == item.sha256, item.file
        assert item.seed == item.file
    assert files[PRAATPLAAT_SEED.name].used_by == ["praatplaat.yaml", "casus.yaml"]
    assert files[KALENDER_SEED.name].used_by == ["kalender.yaml"]
    assert check_sources(DEFAULT_CONTENT_DIR) == []


def test_a_changed_source_copy_fails_the_check(tmp_path: Path) -> None:
    d = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR, d)
    copy = d / "sources" / KALENDER_SEED.name
    copy.write_text(copy.read_text(encoding="utf-8").replace("JANUARI", "JANUARl"),
                    encoding="utf-8")
    (d / "sources" / PRAATPLAAT_SEED.name).unlink()
    problems = check_sources(d)
    provenance = d / "sources" / "provenance.yaml"
    lines = provenance.read_text(encoding="utf-8").splitlines()
    sha = [i + 1 for i, line in enumerate(lines) if "sha256:" in line]
    assert problems == [
        f"{provenance}:{sha[0]}: sources[0].sha256: {KALENDER_SEED.name} does not match its "
        "checksum (source copies are never edited)",
        f"{provenance}:{sha[1]}: sources[1].file: {PRAATPLAAT_SEED.name} is missing from "
        f"{d / 'sources'}",
    ]


@pytest.mark.skipif(not SHARED_SEEDS.is_dir(),
                    reason="../shared/seeds is not beside this clone: nothing to compare with")
def test_sources_match_the_shared_seeds() -> None:
    loaded = load_sources(DEFAULT_CONTENT_DIR)
    assert loaded is not None
    for item in loaded[1].sources:
        assert (SOURCES / item.file).read_bytes() == (SHARED_SEEDS / item.seed).read_bytes()


# --------------------------------------------------------------------------------------------
# Answer forms: clear errors for broken content


def _question_block(lines: list[str], qid: str) -> tuple[int, int]:
    """0-based (first, end) line range of a question's mapping in praatplaat.yaml."""
    first = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {qid}")
    end = first + 1
    while end < len(lines) and lines[end].startswith(" " * 12) and \
            not lines[end].strip().startswith(("- id:", "#")):
        end += 1
    return first, end


def _problems_after(tmp_path: Path, edit: Callable[[list[str]], None]) -> tuple[Path, list[str]]:
    d, lines, _ = _copy(tmp_path)
    edit(lines)
    _write(d / "praatplaat.yaml", lines)
    with pytest.raises(ConfigError) as err:
        load_content(d)
    return d / "praatplaat.yaml", err.value.problems


def test_scale_without_anchors_or_direction_fails(tmp_path: Path) -> None:
    def edit(lines: list[str]) -> None:
        first, end = _question_block(lines, "regie-2")
        for i in reversed(range(first, end)):
            if lines[i].strip().startswith(("anchors:", "higher_is_better:")):
                del lines[i]

    f, problems = _problems_after(tmp_path, edit)
    lines = f.read_text(encoding="utf-8").splitlines()
    n = _line_of(lines, "- id: regie-2")
    assert problems == [
        f"{f}:{n}: groups[1].themes[0].questions[1].anchors: a scale question needs anchors "
        "{low: ..., high: ...}: what 1 and 5 mean",
        f"{f}:{n}: groups[1].themes[0].questions[1].higher_is_better: a scale question must "
        "declare higher_is_better: true, false or null",
    ]


def test_unknown_answer_kind_fails(tmp_path: Path) -> None:
    def edit(lines: list[str]) -> None:
        first, end = _question_block(lines, "invloed-1")
        for i in range(first, end):
            lines[i] = lines[i].replace("kind: text", "kind: keuze")

    f, problems = _problems_after(tmp_path, edit)
    n = _line_of(f.read_text(encoding="utf-8").splitlines(), "kind: keuze")
    assert len(problems) == 1
    assert problems[0].startswith(f"{f}:{n}: groups[3].themes[0].questions[0].kind: ")
    assert "'scale' or 'text'" in problems[0]


def test_mixed_directions_in_one_theme_score_fail(tmp_path: Path) -> None:
    def edit(lines: list[str]) -> None:  # verandering-3 back into the theme score
        first, end = _question_block(lines, "verandering-3")
        del lines[next(i for i in range(first, end) if "theme_score: false" in lines[i])]

    f, problems = _problems_after(tmp_path, edit)
    lines = f.read_text(encoding="utf-8").splitlines()
    first, end = _question_block(lines, "verandering-3")
    n = next(i for i in range(first, end) if "higher_is_better" in lines[i]) + 1
    assert problems == [
        f"{f}:{n}: groups[0].themes[2].questions[2].higher_is_better: higher_is_better: false "
        "here but verandering-1 is higher_is_better: true: both would be averaged into one "
        "theme score; set 'theme_score: false' on one of them"
    ]


def test_follow_up_must_be_the_open_end_of_the_question(tmp_path: Path) -> None:
    def edit(lines: list[str]) -> None:
        first, end = _question_block(lines, "bekend-3")
        for i in range(first, end):
            lines[i] = lines[i].replace('follow_up: "Hoe zou je', 'follow_up: "Hoe kun je')
        first, end = _question_block(lines, "invloed-2")
        lines.insert(end, " " * 12 + 'anchors: {low: "Nooit", high: "Altijd"}')

    f, problems = _problems_after(tmp_path, edit)
    lines = f.read_text(encoding="utf-8").splitlines()
    fu = _line_of(lines, 'follow_up: "Hoe kun je')
    an = _line_of(lines, 'anchors: {low: "Nooit", high: "Altijd"}', _question_block(lines,
                                                                                   "invloed-2")[0])
    assert problems == [
        f"{f}:{fu}: groups[2].themes[0].questions[2].follow_up: must be the end of 'text' (the "
        "open half of the question, as printed)",
        f"{f}:{an}: groups[3].themes[0].questions[1].anchors: only a scale question has "
        "'anchors'",
    ]


def test_ours_names_known_fields_only(tmp_path: Path) -> None:
    def edit(lines: list[str]) -> None:
        n = next(i for i, line in enumerate(lines) if line.strip() == "ours: [intro]")
        lines[n] = lines[n].replace("[intro]", "[intro, questions]")

    f, problems = _problems_after(tmp_path, edit)
    n = _line_of(f.read_text(encoding="utf-8").splitlines(), "ours: [intro, questions]")
    assert problems == [f"{f}:{n}: groups[0].themes[0].ours[1]: 'questions' cannot be marked "
                        "as ours here; use one of: title, intro"]


def test_content_check_cli_refuses_a_scale_without_anchors(tmp_path: Path) -> None:
    from tests.cli import run_cli

    d, lines, _ = _copy(tmp_path)
    shutil.copytree(DEFAULT_CONTENT_DIR / "sources", d / "sources")
    first, end = _question_block(lines, "opdrachten-1")
    n = next(i for i in range(first, end) if "anchors:" in lines[i])
    del lines[n]
    _write(d / "praatplaat.yaml", lines)
    proc = run_cli("content", "check", "--dir", str(d))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"{d / 'praatplaat.yaml'}:{first + 1}: groups[0].themes[1].questions[0].anchors: "
        "a scale question needs anchors {low: ..., high: ...}: what 1 and 5 mean")
    ok = run_cli("content", "check")
    assert ok.returncode == 0, ok.stderr
    assert "Too few scale items for a theme score (< 2): 2 (1), 5 (1), 9 (0), 10 (1)" in ok.stdout
    assert "opdrachten-1: 1 = 'Nooit', 5 = 'Heel vaak', higher_is_better: false" in ok.stdout
    assert "checksums match" in ok.stdout
