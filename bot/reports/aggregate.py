"""Privacy-safe aggregation of reflection answers for managers.

Pure Python, no database access: the store hands over :class:`AnswerRecord` objects and this
module turns them into a :class:`TeamReport` that holds aggregates only.

Report structure
================

Per team and period (a quarter label such as ``"2026-Q3"``) the report is a small tree of cells::

    total (team, period)                 the score items of the themes in the total
    `-- theme (team, theme, period)      a theme's score: its score items only
        `-- question (team, question, period)
            `-- group (team, question, period, group)   the mirror: uitvoering, management,
                                                        beleid (optional)

Every scale question is a question cell with its group split, also one outside any theme score
(such a question is the root of its own small tree). Every cell is an aggregate over *answers*
(the latest answer per member, question and period; earlier versions are ignored). It carries
``n`` (distinct members who gave a scale answer), ``n_answers`` (how many scale answers), the
pooled ``mean`` and the sample standard deviation ``sd`` of those answers. Question and group
cells hold exactly one answer per member, so there ``n == n_answers``.

Answer forms
------------
A theme cell averages only the theme's *score items* (``score``): scale items of one direction
(``higher_is_better``), and only when the theme has enough of them
(:meth:`bot.content.Theme.can_score`). A theme without a score is a cell with reason
``NO_SCORE`` that never carries a number; its items are reported one by one. The total averages
only the themes in ``total_themes`` (scored themes where higher is better). So no cell ever
averages items of opposite direction. (Without ``score`` every scale item counts for its theme
and every theme for the total: generic callers and the tests.)

Why pooled means
----------------
Pooling makes every edge of the tree *additive*: the answers of a total are split without overlap
over its themes, those of a theme over its score items, and those of a question over its groups
(each answer is given as exactly one role). So ``n_answers``, the sum and the sum of squares of a
parent are exactly the sums over its children. That is deliberate: it is precisely what a manager
can exploit by subtraction, so it is what the suppression below is built and tested against,
with no blind spots. A member-weighted theme mean (each person's mean first) would not be
additive, but it leaks in a way no subtraction rule sees: when people answered different
questions of a theme, the theme mean minus the question means reveals contrasts within one
person's answers.

Distinct-member counts ``n`` add up over the group split of a question (one answer per member).
Over themes and questions they do not in general (members answer several questions), so there
only the answer-level quantities are subtractive; where ``n`` happens to add up as well (each
person answered one theme, or one question of a theme) it follows the same equations, and the
same suppression pattern protects it.

Why the mirror splits questions, not themes or the total
--------------------------------------------------------
Groups under the total *and* under themes or questions would turn the report into a two-way
table with margins (groups x themes, plus totals both ways: ``group total = sum of its theme
cells`` closes a cycle with ``total = sum of themes``). There "every row and column has zero or
at least two hidden cells" is not enough: a hidden cell that bridges two otherwise separate
cycles of hidden cells can be computed. So the group split hangs under the question cells only,
and there are no group cells under the total or a theme: the equations stay a tree, where the
simple local rules below are provably sufficient (``tests/test_aggregate.py`` also shows the
bridging leak the extra cells would bring). A group's view of a *theme* is computed by the
views from the group's shown question cells (:mod:`bot.reports.mirror`): a function of shown
cells reveals nothing beyond them. Snapshots of algorithm 1 had role groups under the total
instead (``role_groups``); they are read as they were. For the same reason there are no
monthly sub-cells of a quarter.

Rules
=====
1. Threshold: a cell is shown only when at least ``k`` (default 3, never below 3) different members
   contributed a scale answer. Otherwise ``reason == "too_few"``.
2. Complementary suppression, per additive equation ``parent = sum(children)``:

   * If the parent is shown and some children are hidden, the hidden children together (what a
     manager gets from ``parent - shown children``) must rest on at least ``k`` distinct
     members. If not, the smallest shown child is hidden too (``reason == "complementary"``),
     until it holds. This also covers a hidden child with *zero* members (for example a role
     whose only member did not answer): ``parent - shown children = 0`` would reveal that nobody
     in that group answered. Since a shown parent has at least ``k`` members, the rule never has
     to hide the parent itself: with all children hidden the remainder is the parent.
   * If the parent is hidden, all its children are hidden too (``reason == "parent_hidden"``).
     Otherwise a theme hidden by rule 2a could be recomputed from its questions (pooled theme =
     sum of its question cells).

   The rules are applied to a fixed point. Why this is enough: the equations form a tree
   (every cell is the parent of at most one equation and a child in at most one: the total over
   its themes, a theme over its score items, a question over its groups; algorithm-1 snapshots
   had the total in two, over roles and over themes, still a tree), and every equation
   ends with zero or at least two unknowns (a single hidden child of a shown parent is always
   below ``k``, so rule 2a adds a second one). In a tree of equations that each keep two
   unknowns, any one unknown can be changed and the change absorbed by another unknown of each
   equation it touches, without ever coming back to it: no hidden cell's count, sum or sum of
   squares is determined by the shown cells. The only combinations that *can* be derived are
   remainders ``parent - shown children``, and rule 2a makes each rest on at least ``k`` people
   (rule 2b makes the subtree under a suppressed theme part of that remainder).
   ``tests/test_aggregate.py`` checks this with exact linear algebra over random teams, and
   checks that weaker variants of these rules fail it.
3. Spread: the sample standard deviation, on every shown cell (views show it only in words,
   on one level of a question: :mod:`bot.reports.snapshot`, rule 4). Minimum/maximum and quartiles
   are single people's answers (with three people, mean + min + max give all three answers), so
   they are not computed.
4. The viewer (``exclude``): a reader who answered knows their own answers and can take them out
   of any cell. With ``exclude`` set to that reader's member id, every rule above counts members
   *other than* the reader: a cell needs ``k`` others, and every remainder of rule 2a must rest on
   ``k`` others. This makes a report viewer-dependent; :mod:`bot.reports.snapshot` keeps what it
   needs to apply it at view time.
5. Participation: distinct members who answered anything (a scale or a text) in the period, hidden
   below ``k``. Who did or did not answer is never listed.
6. Free text: only answers with ``share_text=True``, only when the question cell is shown (for an
   open question without a scale: when at least ``k`` members other than the viewer answered it
   and its theme was not hidden by suppression), without member id, time or month: a month
   label points at a late or lone author. The order is left to the caller (a snapshot shuffles
   once, when it is published).
7. Periods are separate samples (never cumulative), so comparing periods gives no difference
   attack; ``compare_teams`` puts shown cells of several teams side by side but never computes a
   total across teams (which would let a hidden team be computed).

What a reader sees is less than this report holds: views are built from frozen snapshots by
:mod:`bot.reports.snapshot`, which shows the mean with one decimal, ``n`` only as a band and the
spread only in words where an exhaustive proof allows it (``tests/test_snapshot_rules.py``). The
exact numbers here are what the suppression proof (``tests/test_aggregate.py``) works on.

Empty themes: when the team total of a period is shown, a theme that nobody answered in that
period is marked ``reason == "no_answers"`` (its questions too) and left out of the total's
equation. That nobody in the team answered a theme is a fact about the whole team, not about one
person, and protecting that zero would, in the common "one theme per meeting" use, hide the only
theme that was discussed (and all its questions). Questions and role groups are different: a
question can be addressed to one role (the Praatplaat has five, for managers and policy makers,
always inside a mixed theme) and a role group can be one person, so there a zero is protected
like any small count, and the suppression pattern does not tell 0 from 1 either.

Empty questions: the same holds for a question asked to every role that nobody answered, in a
theme that at least ``k`` members (other than the viewer) answered (any of its scale items):
nobody of them answered it, so it is marked ``NO_ANSWERS`` with its group cells and left out of
its theme's equation (only when the caller names
such questions in ``everyone``; a snapshot does, from the content). When that empties every
score item of the theme, the theme's score is ``NO_ANSWERS`` too (and left out of the total):
hiding it as "too few" would hide a zero anyone can add up from its announced items. Otherwise a team that skips
one question would lose another question of the theme to suppression. A question addressed to
some roles only keeps its protection: there a zero can be one person's.

Known limits (documented, not solved here): if everybody in a shown cell gave the same answer, the
mean shows it (that is true of any average); a pooled theme mean weighs a member by the number of
questions they answered; the caller must pass a ``roles`` map that covers the team's membership
(not only those who answered), otherwise the set of groups itself could tell who answered; a
group that only an answer's own role brings in (a member who changed role) is listed too, so
such a group can appear although no member has that role any more. A group whose roles are not
asked a question (``asked``) has no cell there: its zero is known from the content.
"""

from __future__ import annotations

import functools
import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from bot.nl import format_number
from bot.periods import month_of, quarter_of

__all__ = [
    "COMPLEMENTARY",
    "DEFAULT_K",
    "EXPORT_COLUMNS",
    "GROUP_ORDER",
    "LEVEL_GROUP",
    "LEVEL_QUESTION",
    "LEVEL_ROLE",
    "LEVEL_THEME",
    "LEVEL_TOTAL",
    "MIN_K",
    "MIXED",
    "NO_ANSWERS",
    "NO_SCORE",
    "OTHER_ROLE",
    "PARENT_HIDDEN",
    "REASONS_NL",
    "TOO_FEW",
    "AnswerRecord",
    "Cell",
    "Change",
    "Comparison",
    "Insights",
    "PeriodData",
    "SharedText",
    "StoredAnswer",
    "TeamReport",
    "TextItem",
    "build_team_report",
    "collect",
    "compare_teams",
    "format_number_nl",
    "month_of",
    "period_cells",
    "period_label_nl",
    "period_texts",
    "quarter_of",
    "report_to_rows",
    "summary_nl",
]

MIN_K = 3
DEFAULT_K = 3
OTHER_ROLE = "overig"

LEVEL_TOTAL = "total"
LEVEL_ROLE = "role"
LEVEL_THEME = "theme"
LEVEL_QUESTION = "question"
#: a mirror group (uitvoering, management, beleid) within one question
LEVEL_GROUP = "group"
#: the order mirror groups are listed in (unknown groups after these, by name)
GROUP_ORDER = ("uitvoering", "management", "beleid", OTHER_ROLE)

TOO_FEW = "too_few"
COMPLEMENTARY = "complementary"
PARENT_HIDDEN = "parent_hidden"
NO_ANSWERS = "no_answers"
#: a theme with too few scale items of one direction for a theme score (no numbers, ever)
NO_SCORE = "no_score"
#: a cell of an algorithm-1 snapshot that averaged items of opposite direction (never shown)
MIXED = "mixed"

REASONS_NL = {
    TOO_FEW: "te weinig mensen",
    COMPLEMENTARY: "verborgen zodat een verborgen groep niet uit te rekenen is",
    PARENT_HIDDEN: "verborgen omdat het hele thema verborgen is",
    NO_ANSWERS: "niemand heeft dit thema beantwoord",
    NO_SCORE: "te weinig schaalvragen voor een themascore",
    MIXED: "oude berekening met vragen van tegengestelde richting",
}


# --------------------------------------------------------------------------------------------
# Input


class StoredAnswer(NamedTuple):
    """An answer row as the store hands it over: the same fields as :class:`AnswerRecord`,
    without per-row validation (the schema's CHECK keeps ``scale`` in 1..5). About ten times
    cheaper to build, which matters for a dashboard page over years of answers."""

    member_id: int
    team_id: int
    theme_id: str
    question_id: str
    period: str
    answered_at: datetime
    scale: int | None
    text: str | None
    share_text: bool
    answer_id: int | None = None  # the store's row id (a snapshot's texts refer to it)
    #: the mirror group of the role the answer was given as (None: the member's group)
    group: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One stored answer (possibly an earlier version of it)."""

    member_id: int
    team_id: int
    theme_id: str
    question_id: str
    period: str
    answered_at: datetime
    scale: int | None
    text: str | None
    share_text: bool
    answer_id: int | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if self.scale is not None and (
            isinstance(self.scale, bool) or not isinstance(self.scale, int) or not 1 <= self.scale <= 5
        ):
            raise ValueError(f"scale must be 1-5 or None, got {self.scale!r}")


def period_label_nl(period: str) -> str:
    """``"2026-Q3"`` -> ``"Q3 2026"``; other labels are returned unchanged."""
    year, sep, quarter = period.partition("-")
    if sep and quarter.startswith("Q") and year.isdigit():
        return f"{quarter} {year}"
    return period


#: Dutch number: decimal comma, a real minus sign, optional ``+`` (:func:`bot.nl.format_number`)
format_number_nl = format_number


# --------------------------------------------------------------------------------------------
# Output


@dataclass(frozen=True, slots=True)
class Cell:
    """One aggregate. Hidden cells carry no numbers at all (``n``, ``mean`` ... are ``None``).

    Cells of :func:`build_team_report` carry exact numbers (``n``, ``n_answers``, ``mean``,
    ``sd``). Cells of a view (:mod:`bot.reports.snapshot`) carry only what a reader may see:
    ``mean`` with one decimal, ``n_band`` and, where allowed, ``spread`` in words; their ``n``,
    ``n_answers`` and ``sd`` are ``None``.
    """

    level: str  # LEVEL_TOTAL, LEVEL_ROLE, LEVEL_THEME or LEVEL_QUESTION
    team_id: int
    period: str
    theme_id: str | None
    question_id: str | None
    role: str | None
    shown: bool
    reason: str | None  # None when shown; TOO_FEW, COMPLEMENTARY, PARENT_HIDDEN or NO_ANSWERS
    n: int | None = None  # distinct members with a scale answer
    n_answers: int | None = None  # scale answers (== n for a question cell)
    mean: float | None = None  # pooled mean of the answers (1-5)
    sd: float | None = None  # sample standard deviation of the answers
    n_band: str | None = None  # views: "3-4", "5-9", ... instead of n
    spread: str | None = None  # views: "weinig verschil" / "veel verschil", where allowed

    @property
    def key(self) -> tuple[str, str, str | None, str | None, str | None]:
        return (self.level, self.period, self.theme_id, self.question_id, self.role)


@dataclass(frozen=True, slots=True)
class TextItem:
    """A shared free-text answer: no member id, no time, no month."""

    theme_id: str
    question_id: str
    period: str
    text: str


@dataclass(frozen=True, slots=True)
class Change:
    """Change of a theme's mean between the last two periods in which it was shown."""

    theme_id: str
    from_period: str
    to_period: str
    from_mean: float
    to_mean: float
    delta: float


@dataclass(frozen=True, slots=True)
class Insights:
    """What the short summary talks about, for the latest period of the report."""

    period: str | None
    participation: int | None
    total: Cell | None
    rose: Change | None  # biggest rise ending in ``period``
    fell: Change | None  # biggest fall ending in ``period``
    widest: Cell | None  # shown theme with the largest spread in ``period`` (exact reports)
    spread_themes: tuple[str, ...] = ()  # views: themes with a question of "veel verschil"


@dataclass(slots=True)
class TeamReport:
    """Everything a manager may see about one team: aggregates only (see the module docstring).

    Cells are listed per level in period order; ``cell()`` looks one up by its key.
    """

    team_id: int
    k: int
    periods: list[str]
    participation: dict[str, int | None]
    totals: list[Cell]
    roles: list[Cell]
    themes: list[Cell]
    questions: list[Cell]
    texts: list[TextItem]
    changes: list[Change]
    insights: Insights
    _index: dict[tuple, Cell] = field(default_factory=dict, repr=False, compare=False)
    #: views only (:mod:`bot.reports.snapshot`): participation per published period as a band,
    #: the round that is still open and its participation band, the version of each snapshot
    participation_band: dict[str, str] = field(default_factory=dict)
    open_period: str | None = None
    open_participation: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    #: a synthetic example (the Demoteam): never real answers
    demo: bool = False
    #: mirror groups within each question (``LEVEL_GROUP``), in period order
    groups: list[Cell] = field(default_factory=list)
    #: views: participation as a reader may see it, "8" or "10 of meer" (of ``team_size``)
    participation_text: dict[str, str] = field(default_factory=dict)
    #: views: how many members the team had when the period was published (None: unknown)
    team_size: dict[str, int | None] = field(default_factory=dict)
    #: views: the open round's team size (members now)
    open_team_size: int | None = None
    #: which end of each theme score is good (True, False; None: neither), when known
    directions: dict[str, bool | None] = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        return [*self.totals, *self.roles, *self.themes, *self.questions, *self.groups]

    def shown_cells(self) -> list[Cell]:
        return [c for c in self.cells() if c.shown]

    def cell(
        self,
        level: str,
        period: str,
        theme_id: str | None = None,
        question_id: str | None = None,
        role: str | None = None,
    ) -> Cell | None:
        if not self._index:
            self._index = {c.key: c for c in self.cells()}
        return self._index.get((level, period, theme_id, question_id, role))

    def theme_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.themes:
            seen.setdefault(c.theme_id or "", None)
        return list(seen)

    def group_ids(self, period: str | None = None) -> list[str]:
        """The mirror groups of one period (or of all periods), in :data:`GROUP_ORDER`."""
        found = {c.role for c in self.groups if c.role and (period is None or c.period == period)}
        return sorted(found, key=group_sort_key)


def group_sort_key(group: str) -> tuple:
    """Known mirror groups first, in :data:`GROUP_ORDER`; others after, by name."""
    if group in GROUP_ORDER:
        return (0, GROUP_ORDER.index(group), "")
    return (1, 0, group)


# --------------------------------------------------------------------------------------------
# Building


class _Acc:
    """Accumulator of answers for one cell (filled inline in the hot loop)."""

    __slots__ = ("count", "total", "sumsq", "members")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.sumsq = 0
        self.members: set[int] = set()

    def merge(self, other: _Acc) -> None:
        self.count += other.count
        self.total += other.total
        self.sumsq += other.sumsq
        self.members |= other.members


_EMPTY = _Acc()


class SharedText(NamedTuple):
    """A text its author chose to share, with what is needed to withdraw it later."""

    theme_id: str
    question_id: str
    text: str
    member_id: int
    answer_id: int | None


@dataclass(slots=True)
class PeriodData:
    """What one period's cells are computed from, before any threshold or suppression.

    ``accs`` holds the non-empty accumulators by cell key; ``questions`` is the structure (the
    scale questions, ``(theme_id, question_id)`` in natural order), ``groups`` the mirror groups
    of the team (cells per question). A snapshot stores exactly this (with member ids replaced by
    indices). ``role_groups`` are the role groups under the team total of algorithm-1 snapshots
    (read only; see "Why no role groups under the total" in the module docstring).
    """

    period: str
    role_groups: list[str]
    questions: list[tuple[str, str]]
    accs: dict[tuple, _Acc]
    participants: set[int]
    answered: dict[tuple[str, str], set[int]]  # (theme, question) -> members who answered
    shared: list[SharedText]
    #: questions asked to every role: where nobody answered one of them in a theme that at
    #: least k people answered, that zero is announced (see "Empty questions")
    everyone: set[tuple[str, str]] = field(default_factory=set)
    #: the items averaged into their theme's score (None: every scale item, every theme scored)
    score: set[tuple[str, str]] | None = None
    #: the themes averaged into the team total (None: every scored theme)
    total_themes: set[str] | None = None
    #: mirror groups of the team: each question's answers split by the group of the role they
    #: were given as
    groups: list[str] = field(default_factory=list)
    #: (theme, question) -> the groups whose roles are asked it (None: every group)
    asked: dict[tuple[str, str], set[str]] | None = None
    #: members of the team when the period was published (None: not recorded)
    team_size: int | None = None
    #: the snapshot algorithm this was computed or stored with
    algorithm: int = 2

    def acc(self, key: tuple) -> _Acc:
        return self.accs.get(key, _EMPTY)

    def scored_themes(self) -> list[str]:
        """Themes with a theme score, in structure order."""
        themes = list(dict.fromkeys(t for t, _q in self.questions))
        if self.score is None:
            return themes
        have = {t for t, _q in self.score}
        return [t for t in themes if t in have]

    def in_score(self, theme_id: str, question_id: str) -> bool:
        return self.score is None or (theme_id, question_id) in self.score

    def in_total(self, theme_id: str) -> bool:
        return self.total_themes is None or theme_id in self.total_themes

    def groups_of(self, theme_id: str, question_id: str) -> list[str]:
        """The group cells of one question: the groups asked it, and any group that answered
        it anyway (a role changed, older content): the split must add up to the question."""
        if self.asked is None:
            return list(self.groups)
        asked = self.asked.get((theme_id, question_id), set(self.groups))
        p = self.period
        return [g for g in self.groups
                if g in asked or (LEVEL_GROUP, p, theme_id, question_id, g) in self.accs]


@functools.lru_cache(maxsize=4096)
def _natural_key(text: str) -> tuple:
    """Sort key that puts "t2" before "t10"."""
    parts: list[tuple[int, int | str]] = []
    num = ""
    word = ""
    for ch in text:
        if ch.isdigit():
            if word:
                parts.append((1, word))
                word = ""
            num += ch
        else:
            if num:
                parts.append((0, int(num)))
                num = ""
            word += ch
    if num:
        parts.append((0, int(num)))
    if word:
        parts.append((1, word))
    return tuple(parts)


def _stats(acc: _Acc) -> tuple[float, float | None]:
    mean = acc.total / acc.count
    if acc.count < 2:
        return mean, None
    var = (acc.sumsq - acc.total * acc.total / acc.count) / (acc.count - 1)
    return mean, math.sqrt(max(var, 0.0))


def _suppress(
    equations: list[tuple[tuple, list[tuple]]],
    members: dict[tuple, set[int]],
    shown: dict[tuple, bool],
    reasons: dict[tuple, str | None],
    k: int,
) -> None:
    """Complementary suppression over additive equations ``parent = sum(children)``.

    Mutates ``shown`` and ``reasons`` until a fixed point (see the module docstring, rule 2).
    """
    changed = True
    while changed:
        changed = False
        for parent, children in equations:
            if not shown[parent]:
                for child in children:
                    if shown[child]:
                        shown[child] = False
                        reasons[child] = PARENT_HIDDEN
                        changed = True
                continue
            while True:
                hidden = [c for c in children if not shown[c]]
                if not hidden:
                    break
                rest: set[int] = set()
                for c in hidden:
                    rest |= members[c]
                if len(rest) >= k:
                    break
                visible = [c for c in children if shown[c]]
                if not visible:  # cannot happen for a parent with >= k members; stay safe
                    shown[parent] = False
                    reasons[parent] = COMPLEMENTARY
                    changed = True
                    break
                victim = min(visible, key=lambda c: (len(members[c]), c))
                shown[victim] = False
                reasons[victim] = COMPLEMENTARY
                changed = True


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError("k must be an int")
    if k < MIN_K:
        raise ValueError(f"k must be at least {MIN_K}, got {k}")


def collect(
    records: Iterable[AnswerRecord | StoredAnswer],
    team_id: int,
    periods: list[str] | None = None,
    roles: dict[int, str] | None = None,
    questions: Iterable[tuple[str, str]] | None = None,
    everyone: Iterable[tuple[str, str]] = (),
    *,
    score: Iterable[tuple[str, str]] | None = None,
    total_themes: Iterable[str] | None = None,
    asked: dict[tuple[str, str], set[str]] | None = None,
    team_size: int | None = None,
) -> list[PeriodData]:
    """Accumulate one team's answers per period (no threshold, no suppression yet).

    Only the latest answer per (member, question, period) of ``team_id`` counts (ties on
    ``answered_at``: the later record). ``periods`` selects and orders the periods (default: all
    periods found, sorted). ``roles`` maps member id -> mirror group for the team's whole
    membership; it adds a group split of every question (a record's own ``group``, the group of
    the role it was answered as, wins over the member's). ``questions`` is the structure every
    period lists (a snapshot passes the content's scale questions, so that a question nobody
    answered is a zero cell like any other); questions found in the answers are always added.
    ``everyone``: the questions asked to every role (see "Empty questions" in the module
    docstring). ``score``: the items averaged into their theme's score (default: all; a theme
    without any is not scored); ``total_themes``: the themes averaged into the total (default:
    every scored theme); ``asked``: the groups asked each question (default: all).
    """
    # 1. latest answer per (member, question, period); ties on time: the later record wins
    latest: dict[tuple[int, str, str], AnswerRecord | StoredAnswer] = {}
    for rec in records:
        if rec.team_id != team_id:
            continue
        key = (rec.member_id, rec.question_id, rec.period)
        cur = latest.get(key)
        if cur is None or rec.answered_at >= cur.answered_at:
            latest[key] = rec

    if periods is None:
        period_list = sorted({key[2] for key in latest})
    else:
        period_list = list(dict.fromkeys(periods))

    # 2. one pass: accumulate per question cell and per group cell; themes and totals are
    #    merged from these afterwards (pooled statistics are additive)
    by_question: dict[tuple[str, str, str], _Acc] = {}
    by_group: dict[tuple[str, str, str, str], _Acc] = {}
    participants: dict[str, set[int]] = {p: set() for p in period_list}
    answered: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    shared: dict[str, list[SharedText]] = defaultdict(list)
    scale_questions: dict[tuple[str, str], None] = dict.fromkeys(questions or ())
    found_groups: set[str] = set()

    for rec in latest.values():
        p = rec.period
        who = participants.get(p)
        if who is None:
            continue  # period not selected
        scale = rec.scale
        raw = rec.text
        text = raw.strip() if raw else ""
        if scale is None and not text:
            continue  # skipped: not an answer
        m = rec.member_id
        qkey = (p, rec.theme_id, rec.question_id)
        who.add(m)
        answered[qkey].add(m)
        if scale is not None:
            acc = by_question.get(qkey)
            if acc is None:
                acc = by_question[qkey] = _Acc()
                scale_questions[(qkey[1], qkey[2])] = None
            acc.count += 1
            acc.total += scale
            acc.sumsq += scale * scale
            acc.members.add(m)
            if roles is not None:
                group = rec.group or roles.get(m) or OTHER_ROLE
                found_groups.add(group)
                gkey = (p, rec.theme_id, rec.question_id, group)
                gacc = by_group.get(gkey)
                if gacc is None:
                    gacc = by_group[gkey] = _Acc()
                gacc.count += 1
                gacc.total += scale
                gacc.sumsq += scale * scale
                gacc.members.add(m)
        if text and rec.share_text:
            shared[p].append(SharedText(rec.theme_id, rec.question_id, text, m, rec.answer_id))

    score_set = None if score is None else set(score)
    total_set = None if total_themes is None else set(total_themes)
    by_theme: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
    tot: dict[str, _Acc] = defaultdict(_Acc)
    for (p, t, q), acc in by_question.items():
        if score_set is None or (t, q) in score_set:
            by_theme[(p, t)].merge(acc)
    for (p, t), acc in by_theme.items():
        if total_set is None or t in total_set:
            tot[p].merge(acc)

    question_list = sorted(scale_questions, key=lambda tq: (_natural_key(tq[0]), _natural_key(tq[1])))
    groups: list[str] = []
    if roles is not None:
        groups = sorted(set(roles.values()) | found_groups, key=group_sort_key)

    out: list[PeriodData] = []
    everyone_set = set(everyone)
    for p in period_list:
        accs: dict[tuple, _Acc] = {}
        if p in tot:
            accs[(LEVEL_TOTAL, p, None, None, None)] = tot[p]
        for t, q in question_list:
            if (p, t) in by_theme:
                accs[(LEVEL_THEME, p, t, None, None)] = by_theme[(p, t)]
            if (p, t, q) in by_question:
                accs[(LEVEL_QUESTION, p, t, q, None)] = by_question[(p, t, q)]
            for g in groups:
                if (p, t, q, g) in by_group:
                    accs[(LEVEL_GROUP, p, t, q, g)] = by_group[(p, t, q, g)]
        out.append(PeriodData(
            p, [], question_list, accs, participants[p],
            {(t, q): who for (pp, t, q), who in answered.items() if pp == p}, shared.get(p, []),
            everyone_set, score_set, total_set, groups, asked, team_size,
        ))
    return out


def period_cells(
    data: PeriodData, team_id: int, k: int, exclude: int | None = None,
) -> tuple[list[Cell], dict[str, str | None]]:
    """Threshold and complementary suppression for one period (module docstring, rules 1-4).

    ``exclude``: the viewer, whose own answers do not count towards ``k``. Returns the cells
    (total, role groups of old snapshots, themes, questions, groups) with exact numbers, and the
    reason per theme.
    """
    p = data.period
    total_key = (LEVEL_TOTAL, p, None, None, None)
    role_keys = [(LEVEL_ROLE, p, None, None, g) for g in data.role_groups]
    themes = list(dict.fromkeys(t for t, _q in data.questions))
    scored = set(data.scored_themes())
    theme_keys = [(LEVEL_THEME, p, t, None, None) for t in themes]
    q_by_theme: dict[str, list[tuple]] = defaultdict(list)
    g_by_question: dict[tuple, list[tuple]] = {}
    for t, q in data.questions:
        qk = (LEVEL_QUESTION, p, t, q, None)
        q_by_theme[t].append(qk)
        g_by_question[qk] = [(LEVEL_GROUP, p, t, q, g) for g in data.groups_of(t, q)]
    keys = [total_key, *role_keys, *theme_keys,
            *(x for t in themes for qk in q_by_theme[t] for x in (qk, *g_by_question[qk]))]

    accs = data.accs
    if exclude is None:
        members = {key: accs[key].members if key in accs else _EMPTY.members for key in keys}
    else:
        members = {key: accs[key].members - {exclude} if key in accs else _EMPTY.members
                   for key in keys}
    shown = {key: len(members[key]) >= k for key in keys}
    reasons: dict[tuple, str | None] = {key: None if ok else TOO_FEW for key, ok in shown.items()}
    for tk in theme_keys:
        if tk[2] not in scored:  # too few scale items of one direction: never a score
            shown[tk] = False
            reasons[tk] = NO_SCORE

    def announce(qk: tuple) -> None:
        reasons[qk] = NO_ANSWERS
        for gk in g_by_question[qk]:
            reasons[gk] = NO_ANSWERS

    # who answered any scale item of a theme (its score items or not)
    answered_theme = {t: set().union(*(members[qk] for qk in q_by_theme[t])) for t in themes}
    if shown[total_key]:
        # a theme nobody answered is a fact about the whole team: say so, and leave it out
        # of the subtraction (see the module docstring, "Empty themes")
        empty = [tk for tk in theme_keys
                 if not any(qk in accs for qk in q_by_theme[tk[2]])]
        for tk in empty:
            if reasons[tk] != NO_SCORE:
                reasons[tk] = NO_ANSWERS
            for qk in q_by_theme[tk[2]]:
                announce(qk)
            q_by_theme[tk[2]] = []
    if data.everyone:
        # a question for every role that nobody answered, in a theme that k others answered:
        # a fact about all of them, announced (see the module docstring, "Empty questions")
        for t in themes:
            if len(answered_theme[t]) < k:
                continue
            empty_q = [qk for qk in q_by_theme[t]
                       if qk not in accs and (qk[2], qk[3]) in data.everyone]
            for qk in empty_q:
                announce(qk)
            if empty_q:
                q_by_theme[t] = [qk for qk in q_by_theme[t] if qk not in empty_q]
                tk = (LEVEL_THEME, p, t, None, None)
                if (t in scored and reasons[tk] != NO_SCORE
                        and not any(data.in_score(qk[2], qk[3]) for qk in q_by_theme[t])):
                    # every score item announced empty: so is the score (it would be a hidden
                    # zero anyone could compute from its announced items)
                    reasons[tk] = NO_ANSWERS

    equations: list[tuple[tuple, list[tuple]]] = []
    if role_keys:
        equations.append((total_key, role_keys))
    total_children = [tk for tk in theme_keys
                      if tk[2] in scored and data.in_total(tk[2]) and reasons[tk] != NO_ANSWERS]
    if total_children:
        equations.append((total_key, total_children))
    for tk in theme_keys:
        if tk[2] in scored and reasons[tk] != NO_ANSWERS:
            children = [qk for qk in q_by_theme[tk[2]] if data.in_score(qk[2], qk[3])]
            if children:
                equations.append((tk, children))
    for t in themes:
        for qk in q_by_theme[t]:
            if g_by_question[qk]:
                equations.append((qk, g_by_question[qk]))
    _suppress(equations, members, shown, reasons, k)

    cells: list[Cell] = []
    theme_reasons: dict[str, str | None] = {}
    for key in keys:
        level, _p, t, q, role = key
        if shown[key]:
            acc = accs[key]
            mean, sd = _stats(acc)
            cell = Cell(level, team_id, p, t, q, role, True, None, len(acc.members), acc.count,
                        mean, sd)
        else:
            cell = Cell(level, team_id, p, t, q, role, False, reasons[key])
        if level == LEVEL_THEME and t is not None:
            theme_reasons[t] = reasons[key]
        cells.append(cell)
    return cells, theme_reasons


def period_texts(
    data: PeriodData,
    cells: list[Cell],
    theme_reasons: dict[str, str | None],
    k: int,
    exclude: int | None = None,
    shared: Iterable[SharedText] | None = None,
) -> list[TextItem]:
    """The shared texts a reader may see (rule 6), in the order of ``shared`` (default: the
    period's own list)."""
    shown_questions = {(c.theme_id, c.question_id) for c in cells
                       if c.level == LEVEL_QUESTION and c.shown}
    scale_questions = set(data.questions)
    out: list[TextItem] = []
    for item in data.shared if shared is None else shared:
        tq = (item.theme_id, item.question_id)
        who = data.answered.get(tq, set())
        if len(who) - (exclude in who) < k:
            continue
        if tq in scale_questions:
            if tq not in shown_questions:
                continue
        elif theme_reasons.get(item.theme_id) in (COMPLEMENTARY, PARENT_HIDDEN):
            continue
        out.append(TextItem(item.theme_id, item.question_id, data.period, item.text))
    return out


def build_team_report(
    records: Iterable[AnswerRecord | StoredAnswer],
    team_id: int,
    periods: list[str] | None = None,
    k: int = DEFAULT_K,
    rng: random.Random | None = None,
    roles: dict[int, str] | None = None,
    exclude: int | None = None,
    everyone: Iterable[tuple[str, str]] = (),
    *,
    score: Iterable[tuple[str, str]] | None = None,
    total_themes: Iterable[str] | None = None,
    asked: dict[tuple[str, str], set[str]] | None = None,
) -> TeamReport:
    """Aggregate one team's answers into a report with exact numbers (see the module docstring).

    ``records`` may hold several teams and earlier versions of answers; only the latest answer per
    (member, question, period) of ``team_id`` counts (ties on ``answered_at``: the later record).
    ``periods`` selects and orders the periods (default: all periods found, sorted). ``roles``
    maps member id -> mirror group for the team's whole membership; it enables the group split
    of every question. ``exclude``: the member id of the reader (rule 4). ``score``,
    ``total_themes``, ``asked``: see :func:`collect`. Texts are shuffled with ``rng`` per
    question.
    """
    _check_k(k)
    if rng is None:
        rng = random.Random()
    data = collect(records, team_id, periods, roles, everyone=everyone, score=score,
                   total_themes=total_themes, asked=asked)
    totals: list[Cell] = []
    role_cells: list[Cell] = []
    theme_cells: list[Cell] = []
    question_cells: list[Cell] = []
    group_cells: list[Cell] = []
    sink = {LEVEL_TOTAL: totals, LEVEL_ROLE: role_cells, LEVEL_THEME: theme_cells,
            LEVEL_QUESTION: question_cells, LEVEL_GROUP: group_cells}
    participation: dict[str, int | None] = {}
    texts: list[TextItem] = []
    for pd in data:
        cells, theme_reasons = period_cells(pd, team_id, k, exclude)
        for cell in cells:
            sink[cell.level].append(cell)
        count = len(pd.participants)
        participation[pd.period] = count if count >= k else None
        by_question: dict[tuple[str, str], list[SharedText]] = defaultdict(list)
        for item in pd.shared:
            by_question[(item.theme_id, item.question_id)].append(item)
        for tq in sorted(by_question, key=lambda tq: (_natural_key(tq[0]), _natural_key(tq[1]))):
            items = by_question[tq]
            rng.shuffle(items)
            texts.extend(period_texts(pd, cells, theme_reasons, k, exclude, items))

    period_list = [pd.period for pd in data]
    changes = _changes(theme_cells, period_list)
    insights = _insights(period_list, participation, totals, theme_cells, changes)
    report = TeamReport(team_id, k, period_list, participation, totals, role_cells, theme_cells,
                        question_cells, texts, changes, insights)
    report.groups = group_cells
    return report


def _changes(theme_cells: list[Cell], period_list: list[str]) -> list[Change]:
    order = {p: i for i, p in enumerate(period_list)}
    by_theme: dict[str, list[Cell]] = defaultdict(list)
    for c in theme_cells:
        if c.shown and c.mean is not None and c.theme_id is not None:
            by_theme[c.theme_id].append(c)
    changes: list[Change] = []
    for theme_id, cells in by_theme.items():
        if len(cells) < 2:
            continue
        cells.sort(key=lambda c: order[c.period])
        a, b = cells[-2], cells[-1]
        assert a.mean is not None and b.mean is not None
        changes.append(Change(theme_id, a.period, b.period, a.mean, b.mean, b.mean - a.mean))
    changes.sort(key=lambda ch: (-ch.delta, ch.theme_id))
    return changes


def _insights(
    period_list: list[str],
    participation: dict[str, int | None],
    totals: list[Cell],
    theme_cells: list[Cell],
    changes: list[Change],
) -> Insights:
    if not period_list:
        return Insights(None, None, None, None, None, None)
    last = period_list[-1]
    total = next((c for c in totals if c.period == last), None)
    recent = [ch for ch in changes if ch.to_period == last]
    rose = max((ch for ch in recent if round(ch.delta, 1) > 0), key=lambda ch: ch.delta, default=None)
    fell = min((ch for ch in recent if round(ch.delta, 1) < 0), key=lambda ch: ch.delta, default=None)
    widest = max(
        (c for c in theme_cells if c.period == last and c.shown and c.sd is not None),
        key=lambda c: c.sd or 0.0,
        default=None,
    )
    return Insights(last, participation.get(last), total, rose, fell, widest)


# --------------------------------------------------------------------------------------------
# Several teams, export, summary


@dataclass(frozen=True, slots=True)
class Comparison:
    """Shown cells of several teams for the same (level, period, theme, question)."""

    level: str
    period: str
    theme_id: str | None
    question_id: str | None
    by_team: dict[int, Cell]


def compare_teams(reports: Iterable[TeamReport], level: str = LEVEL_THEME) -> list[Comparison]:
    """Put the *shown* cells of several teams side by side (for a manager of several teams).

    Hidden cells are left out and no total across teams is computed: a cross-team total minus the
    shown teams would reveal a hidden team. Rows without any shown cell are dropped.
    """
    if level not in (LEVEL_TOTAL, LEVEL_THEME, LEVEL_QUESTION):
        raise ValueError(f"level must be total, theme or question, got {level!r}")
    rows: dict[tuple[str, str | None, str | None], dict[int, Cell]] = {}
    seen: set[int] = set()
    for report in reports:
        if report.team_id in seen:
            raise ValueError(f"team {report.team_id} given twice")
        seen.add(report.team_id)
        for c in report.cells():
            if c.level == level and c.shown:
                rows.setdefault((c.period, c.theme_id, c.question_id), {})[report.team_id] = c

    def sort_key(item: tuple[tuple[str, str | None, str | None], dict[int, Cell]]) -> tuple:
        (p, t, q), _ = item
        return (p, _natural_key(t or ""), _natural_key(q or ""))

    return [
        Comparison(level, p, t, q, dict(sorted(by_team.items())))
        for (p, t, q), by_team in sorted(rows.items(), key=sort_key)
    ]


EXPORT_COLUMNS = (
    "team_id", "period", "level", "role", "theme_id", "question_id", "shown", "reason",
    "n_band", "mean", "spread", "version",
)


def report_to_rows(report: TeamReport) -> list[dict]:
    """What a view shows, as rows for CSV/XLSX export: one dict per cell plus participation.

    Only what a reader may see (:mod:`bot.reports.snapshot`): never a member id, an individual
    answer, a text, an exact count or more than one decimal. Hidden cells are listed with empty
    numbers and their reason, so a spreadsheet shows why a value is missing. The open round is
    not in the export (it has no numbers yet).
    """
    rows: list[dict] = []
    for p in report.periods:
        band = report.participation_band.get(p)
        shown = band is not None and not band.startswith("minder")
        rows.append({
            "team_id": report.team_id, "period": p, "level": "participation", "role": None,
            "theme_id": None, "question_id": None, "shown": shown,
            "reason": None if shown else TOO_FEW, "n_band": band, "mean": None, "spread": None,
            "version": report.versions.get(p),
        })
    for c in report.cells():
        rows.append({
            "team_id": c.team_id, "period": c.period, "level": c.level, "role": c.role,
            "theme_id": c.theme_id, "question_id": c.question_id, "shown": c.shown,
            "reason": c.reason, "n_band": c.n_band,
            "mean": None if c.mean is None else round(c.mean, 1),
            "spread": c.spread, "version": report.versions.get(c.period),
        })
    return rows


def summary_nl(report: TeamReport, theme_titles: dict[str, str]) -> str:
    """A short Dutch summary of a view (:mod:`bot.reports.snapshot`), for a phone screen: the
    latest published round, and the round that is still open. Changes are named by whether a
    theme got better or worse (its direction), never a rise as good news by itself."""
    from bot.periods import quarter_last_day

    ins = report.insights
    too_few = f"We tonen pas iets vanaf {report.k} mensen."

    def title(theme_id: str) -> str:
        return theme_titles.get(theme_id, theme_id)

    def change(ch: Change) -> str:
        text = format_number_nl(ch.delta, sign=True)
        if report.directions.get(ch.theme_id, True) is False:
            text += "; hier is hoger minder goed"
        return f"{title(ch.theme_id)} ({text})"

    def members(text: str | None, size: int | None) -> str:
        return f"{text} van de {size} teamleden" if size else f"{text} teamleden"

    lines: list[str] = []
    if report.demo:
        lines.append("Voorbeeld met verzonnen antwoorden.")
    if ins.period is not None:
        label = period_label_nl(ins.period)
        text = report.participation_text.get(ins.period) or report.participation_band.get(
            ins.period)
        if text:
            lines.append(f"Deelname {label}: {members(text, report.team_size.get(ins.period))}.")
        if ins.total is None or not ins.total.shown or ins.total.mean is None:
            lines.append(f"Nog te weinig scores om iets te laten zien. {too_few}")
        else:
            lines.append(f"Gemiddeld over de thema's: {format_number_nl(ins.total.mean)} (van 5).")
            if ins.rose is not None:
                lines.append(f"Meest vooruit: {change(ins.rose)}.")
            if ins.fell is not None:
                lines.append(f"Meest achteruit: {change(ins.fell)}.")
            if ins.spread_themes:
                names = ", ".join(title(t) for t in ins.spread_themes[:3])
                lines.append(f"De meningen lopen uiteen bij: {names}.")
            hidden = sum(1 for c in report.themes if c.period == ins.period and not c.shown
                         and c.reason in (TOO_FEW, COMPLEMENTARY, PARENT_HIDDEN))
            if hidden:
                word = "thema" if hidden == 1 else "thema's"
                lines.append(f"{hidden} {word} verborgen: te weinig antwoorden.")
        unscored = ([t for t, d in report.directions.items() if d is None] if report.directions
                    else [c.theme_id for c in report.themes
                          if c.period == ins.period and c.reason == NO_SCORE])
        if unscored:
            lines.append(f"{len(unscored)} thema's hebben te weinig schaalvragen voor een "
                         "score; die staan per vraag in de spiegel.")
    if report.open_period is not None:
        label = period_label_nl(report.open_period)
        last = quarter_last_day(report.open_period)
        until = f", uiterlijk {last.day}-{last.month}-{last.year}" if last else ""
        lines.append(f"Lopende ronde {label}: tot nu toe "
                     f"{members(report.open_participation, report.open_team_size)}. "
                     f"Cijfers komen als de ronde sluit{until}.")
    if not lines or (report.demo and len(lines) == 1):
        lines.append(f"Nog geen antwoorden. {too_few}")
    return "\n".join(lines)
