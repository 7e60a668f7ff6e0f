"""Tests for bot.reports.charts: a valid PNG, and an SVG with only shown cells, escaped, drawn
from what a view shows (the rounded mean), never from more."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import datetime

import matplotlib.image as mpimg
import pytest

from bot.reports.aggregate import (
    LEVEL_THEME,
    LEVEL_TOTAL,
    AnswerRecord,
)
from bot.reports.charts import chart_series, theme_chart_png, theme_chart_svg
from bot.reports.snapshot import view_of_records


def build_team_report(records, team):  # noqa: ANN001, ANN201 - what a reader's chart is drawn from
    return view_of_records(records, team)

SVG = "{http://www.w3.org/2000/svg}"
TEAM = 3
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TITLES = {"t1": "Regie <voeren> & \"samen\"", "t2": "Openstaan voor verandering",
          "t3": "Bekend maakt bemind"}


def answer(member, theme, question, scale, period):
    year, quarter = period.split("-Q")
    at = datetime(int(year), 3 * int(quarter) - 2, 5)
    return AnswerRecord(member, TEAM, theme, question, period, at, scale, None, False)


@pytest.fixture
def report():
    records = []
    for period, people in (("2026-Q2", range(1, 6)), ("2026-Q3", range(1, 8))):
        for m in people:
            records.append(answer(m, "t1", "t1q1", 1 + (m % 5), period))
            records.append(answer(m, "t1", "t1q2", 3, period))
    # t2: enough people in Q3 only; t3 (two people) and t4 (one other person) are never
    # shown, but together they are three people, so no other theme has to be hidden for them
    for m in (1, 2, 3, 4):
        records.append(answer(m, "t2", "t2q1", 4, "2026-Q3"))
    for m in (1, 2):
        records.append(answer(m, "t3", "t3q1", 5, "2026-Q3"))
    records.append(answer(3, "t4", "t4q1", 1, "2026-Q3"))
    return build_team_report(records, TEAM)


def test_fixture_has_shown_and_hidden_cells(report):
    assert report.cell(LEVEL_THEME, "2026-Q3", "t1").shown
    assert not report.cell(LEVEL_THEME, "2026-Q3", "t3").shown
    assert report.cell(LEVEL_THEME, "2026-Q3", "t2").shown
    assert not report.cell(LEVEL_THEME, "2026-Q3", "t4").shown
    assert not report.cell(LEVEL_THEME, "2026-Q2", "t2").shown


def shown_theme_cells(report):
    return {(c.theme_id, c.period): c for c in report.themes + report.totals if c.shown}


def test_series_hold_only_shown_cells(report):
    series = chart_series(report, TITLES)
    drawn = {(s.theme_id, p.period) for s in series for p in s.points}
    assert drawn == set(shown_theme_cells(report))
    assert "t3" not in {s.theme_id for s in series}


def test_png_is_a_valid_png(report):
    out = io.BytesIO()
    data = theme_chart_png(report, TITLES, out=out)
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert out.getvalue() == data
    image = mpimg.imread(io.BytesIO(data), format="png")
    height, width = image.shape[:2]
    assert width == 900  # 6 inch at 150 dpi: sharp on a phone, small enough for chat
    assert height > 3 * 250  # one column of three panels, scrolls on a phone
    assert image.shape[2] in (3, 4)


def test_png_when_nothing_can_be_shown():
    empty = build_team_report([], TEAM)
    data = theme_chart_png(empty, {})
    assert data.startswith(PNG_MAGIC)
    height, width = mpimg.imread(io.BytesIO(data), format="png").shape[:2]
    assert (width, height) == (900, 240)


def test_svg_parses_and_shows_only_shown_cells(report):
    svg = theme_chart_svg(report, TITLES)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text
    assert desc is not None and "minstens 3 mensen" in desc.text
    labelled = root.get("aria-labelledby").split()
    assert labelled == [title.get("id"), desc.get("id")]

    points = [g for g in root.iter(f"{SVG}g") if g.get("class") == "point"]
    drawn = {(g.get("data-theme"), g.get("data-period")): g for g in points}
    expected = shown_theme_cells(report)
    assert set(drawn) == set(expected)
    for key, g in drawn.items():
        cell = expected[key]
        assert g.get("data-mean") == f"{cell.mean:.1f}"
        assert g.get("data-n") == cell.n_band
        assert g.find(f"{SVG}title").text  # every point has an accessible label
    # the total panel has no theme; its points are the shown totals
    assert {p for t, p in drawn if t is None} == {
        c.period for c in report.totals if c.shown and c.level == LEVEL_TOTAL}


def test_svg_escapes_titles_and_has_no_external_resources(report):
    svg = theme_chart_svg(report, TITLES)
    assert "<voeren>" not in svg
    assert "&lt;voeren&gt; &amp; " in svg
    root = ET.fromstring(svg)
    panel_titles = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "panel-title"]
    assert TITLES["t1"] in panel_titles
    assert "Bekend maakt bemind" not in panel_titles  # never shown
    footer = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "Niet getoond (te weinig antwoorden): Bekend maakt bemind, t4" in footer
    lowered = svg.lower()
    assert "href" not in lowered and "<script" not in lowered and "url(" not in lowered
    assert lowered.count("http") == 1  # only the xmlns declaration


def test_svg_escapes_the_id_prefix_and_handles_an_empty_report():
    svg = theme_chart_svg(build_team_report([], TEAM), {}, id_prefix='a"b<c')
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").get("id") == 'a"b<c-title'
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "Nog geen afgesloten ronde" in texts
    assert not [g for g in root.iter(f"{SVG}g") if g.get("class") == "point"]


def test_chart_series_follow_the_praatplaat_order():
    """Themes are drawn in the order of the titles given (theme 1..10), not by id."""
    from bot.content import get_content
    from bot.reports.charts import chart_series
    from bot.reports.service import theme_titles

    titles = theme_titles(get_content())
    first, second = list(titles)[:2]
    assert first > second  # ids out of alphabetical order, so sorting by id would swap them
    at = datetime(2026, 5, 1)
    records = [
        AnswerRecord(m, 1, theme, f"{theme}-1", "2026-Q2", at, 3, None, False)
        for m in range(1, 4) for theme in (second, first)
    ]
    series = chart_series(build_team_report(records, 1), titles)
    assert [s.theme_id for s in series if s.theme_id] == [first, second]


def test_chart_shows_no_more_than_the_rounded_mean():
    """Two teams whose exact means differ but round alike get the very same chart: a point's
    position says nothing a reader cannot read in its label."""
    def team(scales):  # noqa: ANN001, ANN202
        return view_of_records([answer(m, "t1", "t1q1", s, "2026-Q3")
                                for m, s in enumerate(scales, 1)], TEAM)

    a, b = team([4, 4, 4, 4, 4, 4, 5]), team([4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5])  # 4.14 / 4.09
    assert a.cell(LEVEL_THEME, "2026-Q3", "t1").mean == b.cell(LEVEL_THEME, "2026-Q3", "t1").mean
    assert theme_chart_svg(a, TITLES).replace("5-9", "10-19") == theme_chart_svg(b, TITLES)
    assert "data-sd" not in theme_chart_svg(a, TITLES)
