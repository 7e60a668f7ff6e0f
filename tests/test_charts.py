"""The mirror (bot.reports.mirror) and its picture (bot.reports.charts): what they show, from
cells a reader may see only, in the items' directions, readable on a 390 px phone."""

from __future__ import annotations

import io
from datetime import datetime

from bot.content import get_content
from bot.reports.aggregate import AnswerRecord
from bot.reports.charts import HEAT_COLORS, MIN_TEXT_PX_AT_390, heat_color, mirror_png
from bot.reports.mirror import TEAM, MirrorValue, build_mirror, mirror_lines
from bot.reports.snapshot import ROLE_GROUP, content_structure, view_of_records

CONTENT = get_content()
PP = CONTENT.praatplaat
SHAPE = content_structure(CONTENT)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
AT = {"2026-Q2": datetime(2026, 4, 2, 10), "2026-Q3": datetime(2026, 7, 2, 10)}
#: three layers of three people, and one policy officer's role answered as bestuurder
ROLES = {**{m: "professional" for m in (1, 2, 3, 4)}, **{m: "manager" for m in (5, 6, 7)},
         **{m: "beleid" for m in (8, 9)}, 10: "bestuurder"}


def records(levels: dict[str, dict[str, int]], period: str = "2026-Q3") -> list[AnswerRecord]:
    """Every member answers every scale question of their role at their layer's level per
    theme (``levels[group][theme_id]``, default 3)."""
    out = []
    for m, role in ROLES.items():
        group = ROLE_GROUP[role]
        for theme in PP.themes:
            for q in theme.scale_items(role):
                out.append(AnswerRecord(m, 1, theme.id, q.id, period, AT[period],
                                        levels.get(group, {}).get(theme.id, 3), None, False))
    return out


def view(recs: list[AnswerRecord], viewer: int | None = None):  # noqa: ANN201
    groups = {m: ROLE_GROUP[r] for m, r in ROLES.items()}
    return view_of_records(recs, 1, roles=groups, questions=SHAPE.questions,
                           everyone=SHAPE.everyone, score=SHAPE.score,
                           total_themes=SHAPE.total_themes, asked=SHAPE.asked,
                           team_size=len(ROLES), current=SHAPE, viewer=viewer)


def test_the_gap_is_named_in_plain_dutch() -> None:
    levels = {"uitvoering": {"regie": 2}, "beleid": {"regie": 4}, "management": {"regie": 3}}
    mirror = build_mirror(view(records(levels)), CONTENT)
    regie = next(r for r in mirror.rows if r.theme_id == "regie")
    assert {g: regie.values[g].mean for g in mirror.columns()} == {
        TEAM: 2.9, "uitvoering": 2.0, "management": 3.0, "beleid": 4.0}
    assert mirror.gaps[0].sentence() == "Beleid ziet regie voeren als 4,0, de uitvoering als 2,0."
    text = "\n".join(mirror_lines(mirror))
    assert "Grootste verschillen:" in text and "• Beleid ziet regie voeren als 4,0" in text


def test_a_rise_of_an_item_where_higher_is_worse_is_not_called_better() -> None:
    before = records({"uitvoering": {"opdrachten": 2}}, "2026-Q2")
    after = records({"uitvoering": {"opdrachten": 4}}, "2026-Q3")
    mirror = build_mirror(view(before + after), CONTENT)
    row = next(r for r in mirror.rows if r.theme_id == "opdrachten")
    assert row.question_id == "opdrachten-1" and row.direction is False
    assert row.note and "te weinig schaalvragen" in row.note  # theme 2 has no score
    assert row.values["uitvoering"].trend() == "up"
    assert row.trend_nl("uitvoering") == "hoger, minder goed (+2,0)"
    assert "beter" not in (row.trend_nl("uitvoering") or "").replace("minder goed", "")
    # the colour follows the direction: a 4 where higher is worse is red
    assert heat_color(row.values["uitvoering"], False) == HEAT_COLORS["low"]
    assert heat_color(MirrorValue(4.0), True) == HEAT_COLORS["good"]
    line = next(line for line in mirror_lines(mirror) if "conflicterende" in line)
    assert "(hoger is minder goed)" in line and "(één vraag)" in line


def test_themes_without_a_score_are_said_to_be_so() -> None:
    mirror = build_mirror(view(records({})), CONTENT)
    themes_with_rows = {r.theme_id for r in mirror.rows}
    assert set(mirror.unscored) == {"opdrachten", "vraagverheldering", "invloed", "maatwerk"}
    assert "invloed" not in themes_with_rows  # text questions only: nothing to average
    assert all(r.note for r in mirror.rows if r.theme_id in mirror.unscored)


def test_a_small_group_is_hidden_everywhere_in_the_mirror() -> None:
    global ROLES
    saved = ROLES
    ROLES = {**{m: "professional" for m in (1, 2, 3, 4)}, **{m: "manager" for m in (5, 6, 7)},
             8: "beleid", 9: "beleid"}  # two in beleid: below k
    try:
        mirror = build_mirror(view(records({"beleid": {"regie": 5}})), CONTENT)
    finally:
        ROLES = saved
    for row in mirror.rows:
        assert row.values["beleid"].mean is None
        # and one more group with it, or the question minus the others would give beleid
        assert sum(v.mean is None for g, v in row.values.items() if g != TEAM) >= 2
    assert not mirror.gaps or all("beleid" not in (g.high, g.low) for g in mirror.gaps)


def test_the_picture_is_compact_and_readable_at_390_px() -> None:
    from PIL import Image

    mirror = build_mirror(view(records({"beleid": {"regie": 4}})), CONTENT)
    data = mirror_png(mirror, "Wijkteam Noord", source=PP.source.attribution())
    assert data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    assert width == 780 and height < 2200  # not the old 900 x 2800 column of dots
    assert MIN_TEXT_PX_AT_390 >= 12  # every text of the picture, shown 390 px wide


def test_the_picture_without_a_round() -> None:
    assert mirror_png(None, "Nieuw team").startswith(PNG_MAGIC)
