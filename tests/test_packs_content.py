"""The content packs beside the Praatplaat and the Kalender: every quoted word against its source.

Each generic pack in ``content/`` (``tips-2017``, ``beleidsuitgangspunten``, ``sturing``,
``casus``) quotes a source text kept in ``content/sources/`` (``provenance.yaml`` says which
pack uses which). Every field that is not marked ``ours`` must appear word for word in that
source (OCR damage fixed only, listed per pack below); every field marked ``ours`` must not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.content import (
    DEFAULT_CONTENT_DIR,
    ROLES,
    Content,
    Pack,
    load_content,
    load_sources,
)
from tests.test_content import fold, normalise

SOURCES = DEFAULT_CONTENT_DIR / "sources"

#: The only differences allowed between a source's OCR text and a pack: (as OCR'd, as printed).
PACK_OCR_FIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "tips-2017": (),
    "beleidsuitgangspunten": (
        ("inwoners naar vermogen) meedoen", "inwoners (naar vermogen) meedoen"),  # lost "("
    ),
    "sturing": (
        ("KPI's?geformuleerd", "KPI's geformuleerd"),  # footnote mark read as "?"
        ("Alser met KPI's", "Als er met KPI's"),  # lost space
    ),
    "casus": (
        ("van....Mijn", "van.... Mijn"),  # lost space
        ("zichtbaar™", "zichtbaar’"),  # closing quote read as a trade mark
    ),
}
PACKS = tuple(PACK_OCR_FIXES)


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content(DEFAULT_CONTENT_DIR)


def source_of(pack_id: str) -> str:
    """The source text a pack quotes, with the pack's OCR fixes applied, normalised."""
    loaded = load_sources(DEFAULT_CONTENT_DIR)
    assert loaded is not None
    files = [s.file for s in loaded[1].sources if f"{pack_id}.yaml" in s.used_by]
    assert len(files) == 1, (pack_id, files)
    text = (SOURCES / files[0]).read_text(encoding="utf-8")
    for wrong, right in PACK_OCR_FIXES[pack_id]:
        assert wrong in text, f"{pack_id}: OCR fix {wrong!r} no longer needed"
        text = text.replace(wrong, right)
    return normalise(text)


def quoted(pack: Pack) -> list[tuple[str, str]]:
    """(where, text) of every field of the pack that is quoted, not ours."""
    out: list[tuple[str, str]] = []
    if pack.intro and not "intro" in pack.ours:  # noqa: E713
        out.append(("intro", pack.intro))
    out += [(f"quotes[{i}]", q.text) for i, q in enumerate(pack.quotes)]
    for unit in [*pack.themes, *pack.cases]:
        if not unit.is_ours("intro") and unit.intro:
            out.append((f"{unit.id}.intro", unit.intro))
        out += [(f"{unit.id}.quotes[{i}]", q.text) for i, q in enumerate(unit.quotes)]
        for q in unit.questions:
            if not q.is_ours("text"):
                out.append((q.id, q.text))
            if q.follow_up and not q.is_ours("follow_up"):
                out.append((f"{q.id}.follow_up", q.follow_up))
    for tip in pack.tips:
        for name in ("text", "quote", "quote_role"):
            if not tip.is_ours(name):
                out.append((f"{tip.id}.{name}", getattr(tip, name)))
    for d in pack.dilemmas:
        out += [(f"{d.id}.quotes[{i}]", q.text) for i, q in enumerate(d.quotes)]
        if not d.is_ours("sides"):
            out += [(f"{d.id}.sides", side) for side in d.sides]
        if not d.is_ours("prompts"):
            out += [(f"{d.id}.prompts", p) for p in d.prompts]
    return out


def ours(pack: Pack) -> list[tuple[str, str]]:
    """(where, text) of every sentence of the pack in our own words."""
    out: list[tuple[str, str]] = []
    if pack.intro and "intro" in pack.ours:
        out.append(("intro", pack.intro))
    for unit in [*pack.themes, *pack.cases]:
        if unit.intro and unit.is_ours("intro"):
            out.append((f"{unit.id}.intro", unit.intro))
        for q in unit.questions:
            if q.is_ours("text"):
                out.append((q.id, q.text))
    for tip in pack.tips:
        if tip.is_ours("question"):
            out.append((f"{tip.id}.question", tip.question))
    for d in pack.dilemmas:
        if d.is_ours("prompts"):
            out += [(f"{d.id}.prompts", p) for p in d.prompts]
    return out


# --------------------------------------------------------------------------------------------
# Every pack


def test_the_packs_and_their_counts(content: Content) -> None:
    assert [p.id for p in content.all_packs] == [
        "praatplaat", "kalender", "beleidsuitgangspunten", "casus", "sturing", "tips-2017"]
    bu = content.pack("beleidsuitgangspunten")
    assert isinstance(bu, Pack)
    assert len(bu.themes) == 11 and len(bu.dilemmas) == 7
    assert [t.number for t in bu.themes] == list(range(1, 12))
    casus = content.pack("casus")
    assert isinstance(casus, Pack)
    assert [c.id for c in casus.cases] == [
        "robert", "apeldoorn", "abg-gemeenten", "hellendoorn", "utrechtse-heuvelrug", "zeist"]
    tips = content.pack("tips-2017")
    assert isinstance(tips, Pack)
    assert [t.number for t in tips.series()] == list(range(1, 9))
    sturing = content.pack("sturing")
    assert isinstance(sturing, Pack)
    assert 4 <= len(sturing.questions) <= 8  # a short round
    for pack in content.packs:
        assert pack.source.attribution().startswith("Bron: ")
        assert pack.version


@pytest.mark.parametrize("pack_id", PACKS)
def test_quoted_text_is_word_for_word_in_the_source(content: Content, pack_id: str) -> None:
    pack = content.pack(pack_id)
    assert isinstance(pack, Pack)
    source = source_of(pack_id)
    missing = [(where, text) for where, text in quoted(pack) if normalise(text) not in source]
    assert not missing, missing
    # cited documents and sections are printed in the source too
    cites = [q.cite for q in [*pack.quotes, *(q for u in pack.units for q in u.quotes),
                              *(q for d in pack.dilemmas for q in d.quotes)] if q.cite]
    assert [c for c in cites if normalise(c) not in source] == []
    # titles that are not ours are printed (case and accents may differ: capitals)
    folded = fold(source)
    titles = [u.title for u in [*pack.themes, *pack.cases] if not u.is_ours("title")]
    titles += [t.title for t in pack.tips if not t.is_ours("title")]
    titles += [d.title for d in pack.dilemmas if not d.is_ours("title")]
    assert [t for t in titles if fold(t) not in folded] == []


@pytest.mark.parametrize("pack_id", PACKS)
def test_our_own_words_are_marked_and_are_not_in_the_source(content: Content,
                                                            pack_id: str) -> None:
    pack = content.pack(pack_id)
    assert isinstance(pack, Pack)
    source = source_of(pack_id)
    mine = ours(pack)
    assert mine, pack_id
    assert [(w, t) for w, t in mine if normalise(t) in source] == []
    # every question of a pack is either quoted (checked above) or marked as ours
    for q in pack.questions:
        assert q.is_ours("text") or normalise(q.text) in source, q.id
    # our words never come with quotation marks of their own
    assert [(w, t) for w, t in mine if re.search(r"[„“”\"]", t)] == []


def test_every_scale_item_has_anchors_and_a_direction(content: Content) -> None:
    for pack in content.packs:
        for q in pack.questions:
            if q.kind == "scale":
                assert q.anchors is not None and "higher_is_better" in q.model_fields_set, q.id
                if q.follow_up:
                    assert f"{q.ask} {q.follow_up}" == q.text, q.id
        for unit in pack.units:
            assert len({q.higher_is_better for q in unit.score_items()}) <= 1, unit.id


def test_unit_ids_are_unique_over_all_packs(content: Content) -> None:
    """Answers and follow-ups name a unit by id: one id, one unit, over every pack."""
    ids = [u.id for p in content.all_packs for u in p.units]
    ids += [d.id for p in content.packs for d in p.dilemmas]
    assert len(ids) == len(set(ids))
    assert content.unit_owners()["maatwerk"] == "praatplaat"
    assert content.unit_owners()["maatwerk-als-uitgangspunt"] == "beleidsuitgangspunten"


# --------------------------------------------------------------------------------------------
# tips-2017


def test_tips_2017_follow_the_news_item(content: Content) -> None:
    pack = content.pack("tips-2017")
    assert isinstance(pack, Pack)
    source = source_of("tips-2017")
    for tip in pack.series():
        # the numbered heading, then the text; the speaker, a colon and the quote
        assert normalise(f"{tip.number}. {tip.title}") in source, tip.id
        assert normalise(f"{tip.quote_role}: {tip.quote}") in source, tip.id
        assert source.index(normalise(tip.title)) < source.index(normalise(tip.text)), tip.id
        assert tip.is_ours("question") and tip.is_ours("audience"), tip.id
        assert tip.question.endswith("?") and len(tip.question) <= 120, tip.id
        assert tip.audience == ["beleid", "bestuurder"], tip.id
        # its question is a unit of one open question, for the tip's audience
        unit = pack.theme(tip.id)
        assert unit.kind == "tip" and [q.kind for q in unit.questions] == ["text"]
        assert unit.questions[0].text == tip.question and unit.questions[0].is_ours("text")
    assert pack.tip("personas").title == "Gebruik persona’s bij het gesprek over maatwerkoplossingen"


# --------------------------------------------------------------------------------------------
# beleidsuitgangspunten


def test_eleven_themes_as_the_table_of_contents_numbers_them(content: Content) -> None:
    pack = content.pack("beleidsuitgangspunten")
    assert isinstance(pack, Pack)
    source = source_of("beleidsuitgangspunten")
    toc = source[source.index("INHOUDSOPGAVE"): source.index("LITERATUUR 24")]
    for theme in pack.themes:
        assert normalise(f"{theme.number}. {theme.title}") in toc, theme.id
        [finding, policy] = theme.quotes
        # a policy passage is printed with its document in brackets right after it
        assert policy.cite and normalise(f"{policy.text} ({policy.cite})") in source, theme.id
        [q] = theme.questions
        assert q.kind == "scale" and q.follow_up and q.is_ours("text") and q.is_ours("follow_up")
        assert q.higher_is_better is None  # a principle seen in practice is no grade
        assert q.audience == ["manager", "beleid", "bestuurder"]
    assert [t.title for t in pack.themes][:3] == [
        "Zelfredzaamheid", "Participatie", "Versterken van wederkerigheid en omzien naar elkaar"]
    assert pack.themes[-1].title == "Efficiëntie en effectiviteit"


def test_seven_dilemmas_in_the_printed_order(content: Content) -> None:
    pack = content.pack("beleidsuitgangspunten")
    assert isinstance(pack, Pack)
    seed = (SOURCES / "004_521ae0d13e8462b0.txt").read_text(encoding="utf-8")
    block = seed[seed.index("EEN AANTAL DILEMMA'S UIT DE PRAKTIJK"):
                 seed.index("2. ONDERLIGGENDE WAARDEN")]
    printed = [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]
    assert [d.title for d in pack.dilemmas] == printed
    assert printed[0] == "Zelfbeschikking versus veiligheid?"
    for d in pack.dilemmas:
        assert len(d.sides) == 2 and d.is_ours("sides") and d.is_ours("prompts"), d.id
        assert [value for value, _ in d.options()] == ["a", "b"]
        assert fold(d.sides[0]) != fold(d.sides[1]), d.id
        assert all(len(side) <= 40 for side in d.sides) and d.prompts, d.id


# --------------------------------------------------------------------------------------------
# casus


def test_robert_and_five_municipalities(content: Content) -> None:
    pack = content.pack("casus")
    assert isinstance(pack, Pack)
    robert = pack.theme("robert")
    assert robert.kind == "case"
    assert robert.quotes[0].text.startswith("Ik ben 38 jaar.")
    assert robert.quotes[2].text.endswith("Wat ik zelf denk of kan is nog door geen van beiden "
                                          "aan mij gevraagd...")
    for case in pack.cases:
        # told in a few short messages, then "Wat zou jouw team doen?" and one question per role
        assert 2 <= len(case.quotes) <= 4 and all(len(q.text) <= 600 for q in case.quotes)
        assert case.questions[0].text == "Wat zou jouw team doen?"
        assert case.questions[0].audience == ["all"]
        assert all(q.kind == "text" for q in case.questions), case.id
        for role in ROLES:
            assert len(case.questions_for(role)) == 2, (case.id, role)
    municipalities = [c.title for c in pack.cases[1:]]
    assert municipalities == [
        "Gemeente Apeldoorn", "Gemeenten Alphen-Chaam, Baarle-Nassau en Gilze en Rijen",
        "Gemeente Hellendoorn", "Regionale sociale dienst in Utrechtse Heuvelrug",
        "Regionale sociale dienst in Zeist"]


# --------------------------------------------------------------------------------------------
# sturing


def test_sturing_cites_the_report_with_every_question(content: Content) -> None:
    pack = content.pack("sturing")
    assert isinstance(pack, Pack)
    for theme in pack.themes:
        assert theme.quotes and all(q.cite for q in theme.quotes), theme.id
        assert [q.kind for q in theme.questions] == ["scale"], theme.id
        assert theme.questions[0].is_ours("text")
        assert theme.questions[0].audience == ["manager", "beleid", "bestuurder"]
    assert {"minder-kpis", "niveaus-van-leren", "betekenisvol-verantwoorden"} <= {
        t.id for t in pack.themes}


def test_provenance_lists_every_pack(content: Content) -> None:
    loaded = load_sources(DEFAULT_CONTENT_DIR)
    assert loaded is not None
    used = {name for s in loaded[1].sources for name in s.used_by}
    assert used == {f"{p.id}.yaml" for p in content.all_packs}
    for item in loaded[1].sources:
        assert (Path(loaded[0]) / item.file).exists()
