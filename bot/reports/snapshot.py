"""Frozen, versioned snapshots of a team's period, and the views a reader gets from them.

Pure Python, no database access: :mod:`bot.reports.service` publishes and loads snapshots through
the store; this module decides what a snapshot holds and what a view of it shows.

Why snapshots
=============
A live aggregate can be differenced: a reader who looks before and after one known colleague
answers, edits an answer or uses ``/vergeet`` reads that colleague's answers from the change of a
one-decimal mean. So a period's aggregates are computed once, when the period (the team's round)
closes, and frozen: every view (chat, dashboard, CSV/XLSX/PNG) shows a snapshot. Later edits and
erasures change the stored answers, never a published snapshot's numbers (anonymous aggregates of
at least ``k`` people are not personal data). While a period is open a view shows at most the
participation as a band ("3-4", "5-9", ...), never an exact count that moves by one.

The only thing that leaves a published snapshot is free text: a shared text disappears when its
author edits it (consent is asked again), withdraws consent, or is erased. That one change is
visible by design: erasure must remove a person's own words, and a reader who saw the text before
can tell that it is gone.

What a snapshot holds (``ALGORITHM_VERSION`` 2)
===============================================
The accumulators of :class:`bot.reports.aggregate.PeriodData` *before* threshold and suppression
(count, sum and sum of squares of the answers per cell, and which members contributed: total,
theme scores, questions and the mirror groups of every question), the structure they were
computed with (score items, themes of the total, which groups are asked what) and the team's
size at publication, because
the rules are applied per viewer at view time (rule 4 of :mod:`bot.reports.aggregate`: ``k``
counts members other than the reader). Members appear only as indices local to the snapshot,
assigned in random order; the store keeps the index of each member separately
(``snapshot_members``), and erasure deletes that row: the numbers, and every other reader's view,
stay exactly as they were. The structure (all scale questions of the content, the team's mirror
groups) is fixed at publication, so a question nobody answered is a zero cell like any other.
Algorithm 1 (before answer forms) pooled every scale item of a theme and split the total by role;
such snapshots are read as stored, and a view hides their cells that average items a theme score
now keeps apart (``MIXED``): hiding never makes another cell computable.
Shared texts are kept apart (``snapshot_texts``), in an order drawn at random once at publication
and without any date.

What a view shows
=================
1. A cell only from ``k`` members other than the viewer, with complementary suppression (the
   rules and proof of :mod:`bot.reports.aggregate`, applied with the viewer excluded).
2. The mean with one decimal, never more (the charts are drawn from the rounded mean too).
3. ``n`` only as a band (:func:`n_band`): ``3-4``, ``5-9``, ``10-19``, ``20 of meer``.
4. The spread only in words, ``weinig verschil`` (sample sd < 1) or ``veel verschil``, and only on
   cells of one answer per person, only from ``n >= 5`` answers, only when the mean (one
   decimal) lies between 1,7 and 4,3, and never to a reader who answered that question (they
   could take their own answer out). On *one level* of a question: its group cells, and the
   question cell itself only when none of its groups is shown. No standard deviation as a
   number, no distribution (low/mid/high counts), no minimum or maximum.
5. Participation of a published round as "8 van 12" (members of the team at publication) only
   when at least ``k`` members other than the reader took part *and* at least ``k`` did not;
   otherwise the band ("3-4") or "10 of meer van 12" (:func:`participation_label`). A frozen
   count never moves by one person, and every reader reads it from the same snapshot; but "12
   van 12" would say that each member answered and "11 van 12" points at the one who did not,
   so the non-participants are protected like a small group. For the open round only the band
   of participation so far.

Reactions to the monthly tip are published the same way, per month (``KIND_TIPS``): the number of
reactions as a band, the mean with one decimal from ``k`` others, the shared texts in a random
order; the month that is still running shows only its band.

Why rule 4 holds (``tests/test_snapshot_rules.py`` enumerates it)
-----------------------------------------------------------------
The question: does the spread word ever narrow a cell's answers down to one multiset where the
mean alone (with the exact ``n``, which a reader may know anyway) would not? The gate depends only
on what the view already shows (``n``'s band boundary 5 and the displayed mean), so "no spread"
tells nothing new. Within one (``n``, mean) class the word splits the multisets in two; the proof
is that neither part is ever a single multiset:

* ``weinig verschil`` always holds the balanced multiset of each sum (values ``a`` and ``a + 1``,
  variance at most 0,3125) and the one made from it by replacing two equal values ``x, x`` by
  ``x - 1, x + 1`` (variance up by ``2 / (n - 1) <= 0,5``, so still below 1). With ``n >= 5`` and a
  mean between 1,65 and 4,35 there are always two equal values between 2 and 4 to do that with.
* ``veel verschil``, when not empty, holds the multiset of largest variance for some sum (as many
  1s and 5s as possible) and the one made from it by moving one step inward, which lowers the sum
  of squares by at most 6. From ``n >= 13`` the variance drops by at most ``6 / 12 = 0,5`` from at
  least 2, so both stay at or above 1; below 13 the test enumerates every multiset.

Why one level per question: a word on a question whose group means are shown (or derivable as
the remainder of the shown groups) is a word about a *union* of sub-multisets whose own means
the reader knows; that does pin sub-multisets the means alone would not (``{2,2,3}`` next to a
group averaging 1,0, for instance: ``tests/test_snapshot_rules.py`` enumerates it). A word on
a group cell is about that cell alone: no other shown figure involves its sum of squares, so the
single-cell proof below applies to it as it stands.

The test enumerates every multiset of 1..5 answers for every ``n`` from 3 to 30 (the gate fails
exactly outside these bounds: at ``n = 5``, mean 1,6 gives ``{1,1,1,1,4}`` alone), and reports how
many multisets each rule protects compared with the views of release 0.3 (sd with one decimal,
exact distribution and exact ``n``: for ``n = 3`` those gave the whole multiset in 33 of 35 cases).
The mean alone pins a multiset only near unanimity (``{1,1,1}``, ``{1,1,2}``, ...): that is the
documented limit of any average.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.reports.aggregate import (
    DEFAULT_K,
    LEVEL_GROUP,
    LEVEL_QUESTION,
    LEVEL_ROLE,
    LEVEL_THEME,
    LEVEL_TOTAL,
    MIN_K,
    MIXED,
    NO_ANSWERS,
    AnswerRecord,
    Cell,
    Change,
    Insights,
    PeriodData,
    SharedText,
    StoredAnswer,
    TeamReport,
    TextItem,
    _Acc,
    _changes,
    _check_k,
    collect,
    period_cells,
    period_texts,
)

__all__ = [
    "ALGORITHM_VERSION",
    "ROLE_GROUP",
    "Structure",
    "content_structure",
    "participation_label",
    "KIND_REFLECTION",
    "KIND_TIPS",
    "SPREAD_HIGH",
    "SPREAD_LOW",
    "Snapshot",
    "TipMonth",
    "build_view",
    "decode",
    "encode",
    "encode_tips",
    "mean_label",
    "n_band",
    "present",
    "spread_of",
    "structure",
    "tip_month_view",
    "view_of_records",
]

#: bump when what a snapshot stores or how a view is computed from it changes; old snapshots
#: keep their version and are read by the code of that version
ALGORITHM_VERSION = 2
#: versions this code can still read (1: before answer forms and the mirror, see decode)
READABLE_VERSIONS = (1, 2)
KIND_REFLECTION = "reflection"
KIND_TIPS = "tips"

SPREAD_MIN_N = 5
SPREAD_MEAN_TENTHS = (17, 43)  # the displayed mean, in tenths: 1,7 .. 4,3
SPREAD_LOW = "weinig verschil"
SPREAD_HIGH = "veel verschil"
BAND_EDGES = (5, 10, 20)


# --------------------------------------------------------------------------------------------
# What a reader may see of one cell


def n_band(count: int, k: int = MIN_K) -> str:
    """A count as a band: ``minder dan 3``, ``3-4``, ``5-9``, ``10-19``, ``20 of meer``."""
    if count < k:
        return f"minder dan {k}"
    low = k
    for edge in BAND_EDGES:
        if edge <= k:
            continue
        if count < edge:
            return f"{low}-{edge - 1}" if edge - 1 > low else str(low)
        low = edge
    return f"{low} of meer"


def mean_label(count: int, total: int) -> float:
    """The mean as every view shows it: one decimal (a float such as ``4.2``)."""
    return float(f"{total / count:.1f}")


def spread_of(count: int, total: int, sumsq: int) -> str | None:
    """The spread in words, or None where rule 4 of the module docstring does not allow it.

    Exact integer arithmetic: ``sd >= 1`` is ``count * sumsq - total**2 >= count * (count - 1)``.
    """
    if count < SPREAD_MIN_N:
        return None
    tenths = round(mean_label(count, total) * 10)
    if not SPREAD_MEAN_TENTHS[0] <= tenths <= SPREAD_MEAN_TENTHS[1]:
        return None
    wide = count * sumsq - total * total >= count * (count - 1)
    return SPREAD_HIGH if wide else SPREAD_LOW


def present(cell: Cell, acc: _Acc, k: int, viewer: int | None = None,
            spread_ok: bool = True) -> Cell:
    """The cell as a reader sees it: rounded mean, ``n`` as a band, spread in words or nothing.

    The spread word goes on one level of a question only (rule 4): on its group cells, and on
    the question cell itself only when none of its groups is shown (``spread_ok``)."""
    if not cell.shown or not acc.count:
        return cell
    spread = None
    if (cell.level in (LEVEL_QUESTION, LEVEL_GROUP) and spread_ok
            and (viewer is None or viewer not in acc.members)):
        spread = spread_of(acc.count, acc.total, acc.sumsq)
    return Cell(cell.level, cell.team_id, cell.period, cell.theme_id, cell.question_id,
                cell.role, True, None, mean=mean_label(acc.count, acc.total),
                n_band=n_band(len(acc.members), k), spread=spread)


# --------------------------------------------------------------------------------------------
# Storage format

#: the mirror group of each role a member answers as: the three layers of the Praatplaat's
#: "beleid, management en uitvoering" (bestuurders are counted with beleid: few in a team)
ROLE_GROUP: dict[str, str] = {
    "professional": "uitvoering",
    "manager": "management",
    "beleid": "beleid",
    "bestuurder": "beleid",
}


@dataclass(frozen=True, slots=True)
class Structure:
    """What the content fixes about every snapshot: the scale questions, those asked to every
    role, the items of each theme score (one direction, enough items), the themes of the team
    total (scored, higher is better) and which mirror groups are asked each question."""

    questions: list[tuple[str, str]]
    everyone: set[tuple[str, str]]
    score: set[tuple[str, str]]
    total_themes: set[str]
    asked: dict[tuple[str, str], set[str]]
    directions: dict[str, bool | None]


_STRUCTURES: dict[int, tuple[Any, Structure]] = {}


def content_structure(content: Any) -> Structure:
    """The :class:`Structure` of the content (see :meth:`bot.content.Theme.score_items`);
    computed once per content object."""
    cached = _STRUCTURES.get(id(content))
    if cached is not None and cached[0] is content:
        return cached[1]
    shape = _content_structure(content)
    if len(_STRUCTURES) > 16:
        _STRUCTURES.clear()
    _STRUCTURES[id(content)] = (content, shape)
    return shape


def _content_structure(content: Any) -> Structure:
    from bot.content import ROLES

    questions, everyone = structure(content)
    score: set[tuple[str, str]] = set()
    total: set[str] = set()
    directions: dict[str, bool | None] = {}
    asked: dict[tuple[str, str], set[str]] = {}
    for theme in content.praatplaat.themes:
        directions[theme.id] = theme.score_direction if theme.can_score() else None
        if theme.can_score():
            score |= {(theme.id, q.id) for q in theme.score_items()}
            if theme.score_direction is True:
                total.add(theme.id)
        for q in theme.scale_items():
            asked[(theme.id, q.id)] = {ROLE_GROUP.get(r, r) for r in ROLES if q.for_role(r)}
    return Structure(questions, everyone, score, total, asked, directions)


def structure(content: Any) -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """The scale questions of the content, ``(theme_id, question_id)``, and those among them
    asked to every role. Every snapshot lists them all, so that a question nobody answered is a
    zero cell like any other (announced only for questions asked to everyone).

    ``content``: the whole content (its Praatplaat), or one content pack (its themes, cases and
    tips): each pack is published as its own snapshot."""
    from bot.content import ROLES

    questions: list[tuple[str, str]] = []
    everyone: set[tuple[str, str]] = set()
    units = content.praatplaat.themes if hasattr(content, "praatplaat") else content.units
    for theme in units:
        for q in theme.questions:
            if getattr(q, "kind", "scale") == "text":
                continue
            questions.append((theme.id, q.id))
            if all(q.for_role(role) for role in ROLES):
                everyone.add((theme.id, q.id))
    return questions, everyone


def encode(data: PeriodData, rng: random.Random | None = None) -> tuple[dict[str, Any], dict[int, int]]:
    """A period's accumulators as JSON-able data, members replaced by indices in random order.

    Returns the data and the map member id -> index (stored apart, deleted on erasure). Only the
    answered-sets of questions with shared texts are kept (the text rule needs them).
    """
    rng = rng or random.SystemRandom()
    everyone: set[int] = set(data.participants)
    for acc in data.accs.values():
        everyone |= acc.members
    order = sorted(everyone)
    rng.shuffle(order)
    index = {member: i for i, member in enumerate(order)}

    def idx(members: Iterable[int]) -> list[int]:
        return sorted(index[m] for m in members)

    cells = [
        [level, theme, question, role, acc.count, acc.total, acc.sumsq, idx(acc.members)]
        for (level, _p, theme, question, role), acc in data.accs.items()
    ]
    with_texts = dict.fromkeys((s.theme_id, s.question_id) for s in data.shared)
    answered = [[t, q, idx(data.answered.get((t, q), ()))] for t, q in with_texts]
    out = {
        "v": ALGORITHM_VERSION,
        "period": data.period,
        "roles": list(data.role_groups),
        "groups": list(data.groups),
        "questions": [list(tq) for tq in data.questions],
        "cells": cells,
        "participants": idx(data.participants),
        "answered": answered,
        "everyone": sorted([t, q] for t, q in data.everyone),
        "score": None if data.score is None else sorted([t, q] for t, q in data.score),
        "total_themes": None if data.total_themes is None else sorted(data.total_themes),
        "asked": None if data.asked is None else sorted(
            [t, q, sorted(gs)] for (t, q), gs in data.asked.items()),
        "team_size": data.team_size,
    }
    return out, index


def decode(raw: Mapping[str, Any]) -> PeriodData:
    """The stored data back as :class:`PeriodData` (members are the snapshot's indices).

    Version 1 (before answer forms) pooled every scale item of a theme and had role groups under
    the team total; it is read as it was stored, and :func:`build_view` hides what of it mixes
    items of opposite direction (``MIXED``).
    """
    version = raw.get("v")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"unknown snapshot version {version!r}")
    period = str(raw["period"])
    accs: dict[tuple, _Acc] = {}
    for level, theme, question, role, count, total, sumsq, members in raw["cells"]:
        acc = _Acc()
        acc.count, acc.total, acc.sumsq = int(count), int(total), int(sumsq)
        acc.members = set(members)
        accs[(level, period, theme, question, role)] = acc
    answered = {(t, q): set(who) for t, q, who in raw["answered"]}
    score = raw.get("score")
    total_themes = raw.get("total_themes")
    asked = raw.get("asked")
    return PeriodData(
        period, list(raw["roles"]), [(t, q) for t, q in raw["questions"]], accs,
        set(raw["participants"]), answered, [], {(t, q) for t, q in raw.get("everyone", [])},
        None if score is None else {(t, q) for t, q in score},
        None if total_themes is None else set(total_themes),
        list(raw.get("groups", [])),
        None if asked is None else {(t, q): set(gs) for t, q, gs in asked},
        raw.get("team_size"), int(version),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One published period of one team, as loaded from the store."""

    id: int
    team_id: int
    period: str
    data: PeriodData
    algorithm: int
    content_version: str
    closed_early: bool = False

    @property
    def version(self) -> str:
        return f"algoritme {self.algorithm}; {self.content_version}"


# --------------------------------------------------------------------------------------------
# Views


def participation_label(participants: int, team_size: int | None, k: int,
                        viewer_took_part: bool | None) -> str:
    """How many took part, as a reader may see it: exact ("8") only when at least ``k``
    members took part *and* at least ``k`` did not, each not counting the reader; otherwise
    the band of the participants ("3-4"), or "10 of meer" when few did not take part.

    Why: a published round is frozen, so "8 van 12" never moves by one person (no differencing
    over time), and every reader gets it from the same snapshot. But "12 van 12" says that every
    member answered, and "11 van 12" points at the one who did not: who (did not) answer is
    never shown, so those non-participants are protected like a small group. ``viewer_took_part``:
    True or False when known; None when the reader's own part is unknown (counted both ways).
    """
    if team_size is None or team_size < participants:
        return n_band(participants, k)
    took = 1 if viewer_took_part in (True, None) else 0
    skipped = 1 if viewer_took_part in (False, None) else 0
    if participants < k:
        return n_band(participants, k)
    # from ``low`` on, fewer than k members other than the reader did not take part: one label
    low = team_size - skipped - (k - 1)
    if participants >= low:
        return f"{max(low, k)} of meer"
    if participants - took < k:
        return n_band(participants, k)
    return str(participants)


def _mixed(data: PeriodData, current: Structure | None) -> set[tuple]:
    """Cells of an algorithm-1 snapshot that averaged items a score keeps apart (by the current
    content): the team total, the role groups, and theme cells that pooled other items than the
    theme score's. Hiding a cell never makes another one computable."""
    if data.algorithm != 1 or current is None:
        return set()
    p = data.period
    out: set[tuple] = {(LEVEL_TOTAL, p, None, None, None)}
    out |= {(LEVEL_ROLE, p, None, None, g) for g in data.role_groups}
    by_theme: dict[str, set[str]] = {}
    for t, q in data.questions:
        by_theme.setdefault(t, set()).add(q)
    for t, qs in by_theme.items():
        if {(t, q) for q in qs} != {(t, q) for tt, q in current.score if tt == t}:
            out.add((LEVEL_THEME, p, t, None, None))
    return out


def build_view(
    team_id: int,
    snapshots: Iterable[Snapshot],
    k: int,
    *,
    viewer: Mapping[int, int] | None = None,
    texts: Mapping[int, list[SharedText]] | None = None,
    open_period: str | None = None,
    open_count: int | None = None,
    open_team_size: int | None = None,
    demo: bool = False,
    current: Structure | None = None,
    viewer_known: bool = False,
) -> TeamReport:
    """What a reader sees of a team: the published snapshots, and the open round's band.

    ``viewer`` maps snapshot id -> the reader's index in that snapshot (absent: the reader did
    not answer in it). ``texts`` maps snapshot id -> its shared texts in their stored order.
    ``current``: the content's structure now (directions of theme scores; hides what an old
    snapshot mixed). ``viewer_known``: the reader is a known member id (their absence from a
    snapshot means they did not take part); otherwise participation counts them both ways.
    """
    _check_k(k)
    viewer = viewer or {}
    texts = texts or {}
    sink: dict[str, list[Cell]] = {LEVEL_TOTAL: [], LEVEL_ROLE: [], LEVEL_THEME: [],
                                   LEVEL_QUESTION: [], LEVEL_GROUP: []}
    periods: list[str] = []
    bands: dict[str, str] = {}
    labels: dict[str, str] = {}
    sizes: dict[str, int | None] = {}
    versions: dict[str, str] = {}
    shown_texts: list[TextItem] = []
    spread_themes: dict[str, list[str]] = {}
    for snap in sorted(snapshots, key=lambda s: s.period):
        data = snap.data
        me = viewer.get(snap.id)
        cells, theme_reasons = period_cells(data, team_id, k, me)
        mixed = _mixed(data, current)
        if mixed:
            cells = [Cell(c.level, c.team_id, c.period, c.theme_id, c.question_id, c.role, False,
                          MIXED) if c.key in mixed and c.reason != NO_ANSWERS else c
                     for c in cells]
        with_groups = {(c.theme_id, c.question_id) for c in cells
                       if c.level == LEVEL_GROUP and c.shown}
        for cell in cells:
            spread_ok = (cell.level != LEVEL_QUESTION
                         or (cell.theme_id, cell.question_id) not in with_groups)
            shown = present(cell, data.acc(cell.key), k, me, spread_ok)
            sink[cell.level].append(shown)
            if shown.spread == SPREAD_HIGH and shown.theme_id is not None:
                spread_themes.setdefault(data.period, []).append(shown.theme_id)
        periods.append(data.period)
        bands[data.period] = n_band(len(data.participants), k)
        took: bool | None = True if me is not None else (False if viewer_known else None)
        labels[data.period] = participation_label(len(data.participants), data.team_size, k,
                                                  took)
        sizes[data.period] = data.team_size
        versions[data.period] = snap.version
        shown_texts += period_texts(data, cells, theme_reasons, k, me, texts.get(snap.id, []))

    directions = dict(current.directions) if current is not None else {}
    changes: list[Change] = _changes(sink[LEVEL_THEME], periods)
    last = periods[-1] if periods else None
    total = next((c for c in sink[LEVEL_TOTAL] if c.period == last), None)
    recent = [ch for ch in changes if ch.to_period == last]

    def better(ch: Change) -> float:  # how much better the theme got: direction-aware
        direction = directions.get(ch.theme_id, True)
        if direction is None:
            return 0.0
        return ch.delta if direction else -ch.delta

    rose = max((ch for ch in recent if round(better(ch), 1) > 0), key=better, default=None)
    fell = min((ch for ch in recent if round(better(ch), 1) < 0), key=better, default=None)
    wide = tuple(dict.fromkeys(spread_themes.get(last or "", [])))
    insights = Insights(last, None, total, rose, fell, None, wide)
    report = TeamReport(
        team_id, k, periods, dict.fromkeys(periods), sink[LEVEL_TOTAL], sink[LEVEL_ROLE],
        sink[LEVEL_THEME], sink[LEVEL_QUESTION], shown_texts, changes, insights,
    )
    report.groups = sink[LEVEL_GROUP]
    report.participation_band = bands
    report.participation_text = labels
    report.team_size = sizes
    report.versions = versions
    report.demo = demo
    report.directions = directions
    if open_period is not None and open_period not in bands:
        report.open_period = open_period
        report.open_participation = n_band(open_count or 0, k)
        report.open_team_size = open_team_size
    return report


def view_of_records(
    records: Iterable[AnswerRecord | StoredAnswer],
    team_id: int,
    *,
    k: int = DEFAULT_K,
    periods: list[str] | None = None,
    roles: dict[int, str] | None = None,
    questions: Iterable[tuple[str, str]] | None = None,
    everyone: Iterable[tuple[str, str]] = (),
    viewer: int | None = None,
    demo: bool = False,
    rng: random.Random | None = None,
    score: Iterable[tuple[str, str]] | None = None,
    total_themes: Iterable[str] | None = None,
    asked: dict[tuple[str, str], set[str]] | None = None,
    team_size: int | None = None,
    current: Structure | None = None,
) -> TeamReport:
    """A view built straight from answer records, as if every period were published now (the
    Demoteam's example, tests). ``viewer`` is a member id of the records; ``roles`` maps member
    id -> mirror group."""
    rng = rng or random.Random()
    data = collect(records, team_id, periods, roles, questions, everyone, score=score,
                   total_themes=total_themes, asked=asked, team_size=team_size)
    snapshots: list[Snapshot] = []
    texts: dict[int, list[SharedText]] = {}
    me: dict[int, int] = {}
    for i, pd in enumerate(data, 1):
        snapshots.append(Snapshot(-i, team_id, pd.period, pd, ALGORITHM_VERSION, ""))
        shared = list(pd.shared)
        rng.shuffle(shared)
        texts[-i] = shared
        if viewer is not None and viewer in pd.participants:
            me[-i] = viewer
    return build_view(team_id, snapshots, k, viewer=me, texts=texts, demo=demo,
                      current=current, viewer_known=viewer is not None)


# --------------------------------------------------------------------------------------------
# Reactions to the monthly tip


@dataclass(frozen=True, slots=True)
class TipMonth:
    """What a reader sees of the reactions to one month's tip."""

    month: str  # "2026-07"
    tip_month: int
    shown: bool
    mean: float | None
    n_band: str
    texts: list[str]


def encode_tips(
    month: str, rows: Iterable[tuple[int, int, int | None, str | None, bool]],
    rng: random.Random | None = None,
) -> tuple[dict[str, Any], dict[int, int], list[tuple[str, int]]]:
    """One month's reactions ``(member_id, tip_month, scale, text, share)`` as snapshot data.

    Returns the data, the map member id -> index, and the shared texts ``(text, member_id)``
    in an order drawn here, once.
    """
    rng = rng or random.SystemRandom()
    rows = list(rows)
    order = sorted({r[0] for r in rows})
    rng.shuffle(order)
    index = {member: i for i, member in enumerate(order)}
    scales = [(r[0], int(r[2])) for r in rows if r[2] is not None]
    texts = [(str(r[3]).strip(), r[0]) for r in rows if r[4] and r[3] and str(r[3]).strip()]
    rng.shuffle(texts)
    data = {
        "v": ALGORITHM_VERSION,
        "month": month,
        "tip_month": int(rows[0][1]) if rows else int(month[-2:]),
        "count": len(scales),
        "total": sum(v for _, v in scales),
        "scaled": sorted(index[m] for m, _ in scales),
        "members": sorted(index.values()),
    }
    return data, index, texts


def tip_month_view(data: Mapping[str, Any], texts: list[str], k: int,
                   viewer: int | None = None) -> TipMonth:
    """One month of reactions for a reader: shown from ``k`` reactions other than their own."""
    if data.get("v") not in READABLE_VERSIONS:  # the tip format is the same in both
        raise ValueError(f"unknown snapshot version {data.get('v')!r}")
    scaled = set(data["scaled"])
    others = len(scaled - {viewer})
    shown = others >= k
    count, total = int(data["count"]), int(data["total"])
    return TipMonth(str(data["month"]), int(data["tip_month"]), shown,
                    mean_label(count, total) if shown else None,
                    n_band(len(data["members"]), k),
                    list(texts) if len(set(data["members"]) - {viewer}) >= k else [])
