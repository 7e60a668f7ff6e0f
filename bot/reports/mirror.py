"""The mirror: how uitvoering, management and beleid see the same theme, from a reader's view.

Everything here is computed from a :class:`~bot.reports.aggregate.TeamReport` *view*, that is
from cells a reader may see (rounded means of shown cells). A function of shown cells reveals
nothing beyond them, so nothing here needs a privacy rule of its own: the rules are applied
where the cells are made (:mod:`bot.reports.snapshot`).

What it shows, per published round:

- per theme and group, the group's **theme figure**: the average of the group's means on the
  theme's score items asked to everyone (so every group is compared on the same questions),
  only when all of them are shown for that group. A theme without a score (too few scale items
  of one direction) is shown by its scale item(s) instead, and says so;
- per question and group the group's mean (the group cells of the view);
- the largest gaps between groups in plain Dutch ("Beleid ziet regie voeren als 4,1, de
  uitvoering als 2,6");
- a trend against the previous published round, never called "beter" or "slechter" without the
  item's direction (``higher_is_better``; for ``false`` a rise is bad news, for ``null`` it is
  neither).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.reports.aggregate import (
    LEVEL_GROUP,
    LEVEL_QUESTION,
    NO_ANSWERS,
    Cell,
    TeamReport,
    format_number_nl,
    group_sort_key,
    period_label_nl,
)

__all__ = [
    "GROUP_LABELS",
    "GROUP_SUBJECTS",
    "TEAM",
    "Gap",
    "Mirror",
    "MirrorRow",
    "MirrorValue",
    "build_mirror",
    "goodness",
    "participation_nl",
    "trend_symbol",
]

#: the column of the whole team in a mirror row
TEAM = "team"
GROUP_LABELS = {TEAM: "Team", "uitvoering": "Uitvoering", "management": "Management",
                "beleid": "Beleid", "overig": "Overig"}
#: how a group is named inside a sentence
GROUP_SUBJECTS = {"uitvoering": "de uitvoering", "management": "het management",
                  "beleid": "beleid", "overig": "overige rollen"}
GROUPS_NOTE = ("Uitvoering: professionals. Management: teamleiders en managers. "
               "Beleid: beleidsmedewerkers en bestuurders.")
#: a difference between two groups is named from this size on
GAP_MIN = 0.5
#: a trend arrow from this change on (smaller ones are rounding noise)
TREND_MIN = 0.2
MAX_GAPS = 3


def goodness(mean: float, direction: bool | None) -> float | None:
    """How good a mean is on a 1-5 scale where 5 is good; None when neither end is better."""
    if direction is None:
        return None
    return mean if direction else 6 - mean


@dataclass(frozen=True, slots=True)
class MirrorValue:
    """One cell of the mirror: a mean (one decimal) or nothing, and its trend."""

    mean: float | None
    previous: float | None = None
    spread: str | None = None
    #: why there is no mean ("te weinig mensen", ...), when there is none
    reason: str | None = None

    @property
    def shown(self) -> bool:
        return self.mean is not None

    @property
    def delta(self) -> float | None:
        if self.mean is None or self.previous is None:
            return None
        return round(self.mean - self.previous, 1)

    def trend(self) -> str | None:
        """``up``, ``down`` or ``same`` against the previous round; None without one."""
        delta = self.delta
        if delta is None:
            return None
        if delta >= TREND_MIN:
            return "up"
        if delta <= -TREND_MIN:
            return "down"
        return "same"


def trend_symbol(trend: str | None) -> str:
    return {"up": "▲", "down": "▼", "same": "="}.get(trend or "", "")


@dataclass(slots=True)
class MirrorRow:
    """One line of the mirror: a theme's figure, or one scale question."""

    theme_id: str
    question_id: str | None
    number: str  # "4" for a theme, "4.2" for a question
    title: str
    direction: bool | None
    values: dict[str, MirrorValue]
    #: e.g. "te weinig schaalvragen voor een themascore: de vraag zelf"
    note: str | None = None

    def shown_groups(self) -> list[str]:
        return [g for g, v in self.values.items() if g != TEAM and v.shown]

    def trend_nl(self, group: str) -> str | None:
        """The trend of one column in words, never "beter" unless the direction says so."""
        value = self.values.get(group)
        if value is None or value.delta is None:
            return None
        trend = value.trend()
        delta = format_number_nl(value.delta, sign=True)
        if trend == "same":
            return f"gelijk ({delta})"
        word = "hoger" if trend == "up" else "lager"
        if self.direction is None:
            return f"{word} ({delta})"
        good = (trend == "up") == bool(self.direction)
        return f"{word}, {'beter' if good else 'minder goed'} ({delta})"


@dataclass(frozen=True, slots=True)
class Gap:
    """The difference between the highest and the lowest group on one row."""

    row: MirrorRow
    high: str
    low: str

    @property
    def size(self) -> float:
        hi = self.row.values[self.high].mean
        lo = self.row.values[self.low].mean
        assert hi is not None and lo is not None
        return round(hi - lo, 1)

    def sentence(self) -> str:
        """"Beleid ziet regie voeren als 4,1, de uitvoering als 2,6." (+ the direction when 5
        is not the good end)."""
        hi = self.row.values[self.high].mean
        lo = self.row.values[self.low].mean
        assert hi is not None and lo is not None
        subject = GROUP_SUBJECTS.get(self.high, self.high)
        subject = subject[0].upper() + subject[1:]
        other = GROUP_SUBJECTS.get(self.low, self.low)
        text = (f"{subject} ziet {_lower_first(self.row.title)} als {format_number_nl(hi)}, "
                f"{other} als {format_number_nl(lo)}.")
        if self.row.direction is False:
            text = text[:-1] + " (hier is hoger minder goed)."
        return text


@dataclass(slots=True)
class Mirror:
    """The mirror of one published round of one team, as a reader may see it."""

    team_id: int
    period: str
    previous: str | None
    groups: list[str]
    rows: list[MirrorRow]
    questions: dict[str, list[MirrorRow]]
    gaps: list[Gap]
    participation: str | None
    k: int
    demo: bool = False
    unscored: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return period_label_nl(self.period)

    def columns(self) -> list[str]:
        return [TEAM, *self.groups]

    def has_numbers(self) -> bool:
        return any(v.shown for row in self.rows for v in row.values.values())


def _lower_first(title: str) -> str:
    """"Regie voeren" -> "regie voeren"; keeps acronyms and names as they are."""
    if len(title) > 1 and title[0].isupper() and not title[1].isupper():
        return title[0].lower() + title[1:]
    return title


def participation_nl(report: TeamReport, period: str) -> str | None:
    """"8 van de 12 teamleden" (or a band) for a published round; None when unknown."""
    text = report.participation_text.get(period) or report.participation_band.get(period)
    if not text:
        return None
    size = report.team_size.get(period)
    if size:
        return f"{text} van de {size} teamleden"
    return f"{text} teamleden"


def _reason_nl(cell: Cell | None, k: int) -> str:
    if cell is None:
        return "niet gevraagd"
    if cell.reason == NO_ANSWERS:
        return "geen antwoorden"
    if cell.reason == "too_few":
        return f"minder dan {k} mensen"
    return "verborgen (privacy)"


def _value(cell: Cell | None, previous: Cell | None, k: int) -> MirrorValue:
    if cell is None or not cell.shown or cell.mean is None:
        return MirrorValue(None, reason=_reason_nl(cell, k))
    prev = previous.mean if previous is not None and previous.shown else None
    return MirrorValue(round(cell.mean, 1), None if prev is None else round(prev, 1),
                       cell.spread)


def _average(values: Iterable[float]) -> float:
    items = list(values)
    return float(f"{sum(items) / len(items):.1f}")


def build_mirror(report: TeamReport, content: Any, period: str | None = None) -> Mirror | None:
    """The mirror of ``period`` (default: the latest published round); None without one."""
    if not report.periods:
        return None
    period = period or report.periods[-1]
    if period not in report.periods:
        return None
    at = report.periods.index(period)
    previous = report.periods[at - 1] if at > 0 else None
    groups = report.group_ids(period)
    columns = [TEAM, *groups]
    k = report.k

    def cell_of(p: str | None, theme_id: str, question_id: str, group: str) -> Cell | None:
        if p is None:
            return None
        if group == TEAM:
            return report.cell(LEVEL_QUESTION, p, theme_id, question_id)
        return report.cell(LEVEL_GROUP, p, theme_id, question_id, group)

    rows: list[MirrorRow] = []
    questions: dict[str, list[MirrorRow]] = {}
    unscored: list[str] = []
    for theme in content.praatplaat.themes:
        numbered = {q.id: f"{theme.number}.{i}" for i, q in enumerate(theme.questions, 1)}
        q_rows: list[MirrorRow] = []
        unanswered: set[str] = set()
        for q in theme.scale_items():
            qcell = report.cell(LEVEL_QUESTION, period, theme.id, q.id)
            if qcell is None:
                continue  # not in this snapshot (older content)
            if qcell.reason == NO_ANSWERS:
                unanswered.add(q.id)  # nobody in the team answered it: not in the figure
            values = {g: _value(cell_of(period, theme.id, q.id, g),
                                cell_of(previous, theme.id, q.id, g), k) for g in columns}
            q_rows.append(MirrorRow(theme.id, q.id, numbered[q.id], q.ask, q.higher_is_better,
                                    values))
        questions[theme.id] = q_rows
        if theme.can_score():
            common = [q for q in theme.score_items()
                      if "all" in q.audience and q.id not in unanswered]
            by_id = {r.question_id: r for r in q_rows}
            items = [by_id[q.id] for q in common if q.id in by_id]
            if not items:
                continue  # nobody in the team answered this theme in this round
            values = {}
            for g in columns:
                now = [r.values[g].mean for r in items]
                before = [r.values[g].previous for r in items]
                if items and all(v is not None for v in now):
                    prev = (_average(v for v in before if v is not None)
                            if all(v is not None for v in before) else None)
                    values[g] = MirrorValue(_average(v for v in now if v is not None), prev)
                else:
                    reasons = [r.values[g].reason for r in items if r.values[g].reason]
                    values[g] = MirrorValue(None, reason=reasons[0] if reasons else
                                            "geen antwoorden")
            rows.append(MirrorRow(theme.id, None, str(theme.number), theme.title,
                                  theme.score_direction, values))
        else:
            unscored.append(theme.id)
            for r in q_rows:
                if r.question_id in unanswered:
                    continue
                rows.append(MirrorRow(theme.id, r.question_id, r.number, theme.title,
                                      r.direction, r.values,
                                      note="te weinig schaalvragen voor een themascore: "
                                           "dit is de ene vraag"))
    gaps = []
    for row in rows:
        shown = [g for g in row.shown_groups()]
        if len(shown) < 2:
            continue
        high = max(shown, key=lambda g: (row.values[g].mean or 0, -group_sort_key(g)[1]))
        low = min(shown, key=lambda g: (row.values[g].mean or 0, group_sort_key(g)[1]))
        gap = Gap(row, high, low)
        if gap.size >= GAP_MIN:
            gaps.append(gap)
    gaps.sort(key=lambda g: (-g.size, g.row.number))
    return Mirror(report.team_id, period, previous, groups, rows, questions, gaps[:MAX_GAPS],
                  participation_nl(report, period), k, report.demo, unscored)


def value_nl(value: MirrorValue) -> str:
    """"3,4 ▲", "3,4" or "–" (as in the picture)."""
    if value.mean is None:
        return "–"
    symbol = trend_symbol(value.trend())
    return format_number_nl(value.mean) + (f" {symbol}" if symbol else "")


def row_line(row: MirrorRow, columns: list[str]) -> str:
    """One mirror row as a chat line: "4. Regie voeren: team 3,0 · uitvoering 3,3 ▲ · ..."."""
    parts = [f"{GROUP_LABELS.get(c, c).lower()} {value_nl(row.values[c])}" for c in columns
             if c in row.values]
    label = f"{row.number}. {row.title}"
    if row.note:
        label += " (één vraag)"
    if row.direction is False:
        label += " (hoger is minder goed)"
    return f"{label}: " + " · ".join(parts)


def mirror_lines(mirror: Mirror, *, with_rows: bool = True) -> list[str]:
    """The mirror in chat lines: the rows, the largest gaps, what the signs mean."""
    lines: list[str] = []
    if not mirror.has_numbers():
        return [f"Nog te weinig antwoorden per groep om de spiegel te tonen: we tonen pas iets "
                f"vanaf {mirror.k} mensen."]
    if with_rows:
        lines.append(f"De spiegel ({mirror.label}), per thema van 1 tot 5:")
        lines += [f"• {row_line(row, mirror.columns())}" for row in mirror.rows]
    if mirror.gaps:
        lines += ["", "Grootste verschillen:"]
        lines += [f"• {gap.sentence()}" for gap in mirror.gaps]
    elif len(mirror.groups) > 1:
        lines += ["", "Geen grote verschillen tussen de groepen (of te weinig mensen per groep)."]
    notes = []
    if mirror.previous:
        notes.append(f"▲▼ = hoger/lager dan {period_label_nl(mirror.previous)}")
    notes.append(f"– = minder dan {mirror.k} mensen of verborgen")
    lines += ["", "; ".join(notes) + "."]
    return lines
