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

What a snapshot holds (``ALGORITHM_VERSION`` 1)
===============================================
The accumulators of :class:`bot.reports.aggregate.PeriodData` *before* threshold and suppression
(count, sum and sum of squares of the answers per cell, and which members contributed), because
the rules are applied per viewer at view time (rule 4 of :mod:`bot.reports.aggregate`: ``k``
counts members other than the reader). Members appear only as indices local to the snapshot,
assigned in random order; the store keeps the index of each member separately
(``snapshot_members``), and erasure deletes that row: the numbers, and every other reader's view,
stay exactly as they were. The structure (all scale questions of the content, the team's role
groups) is fixed at publication, so a question nobody answered is a zero cell like any other.
Shared texts are kept apart (``snapshot_texts``), in an order drawn at random once at publication
and without any date.

What a view shows
=================
1. A cell only from ``k`` members other than the viewer, with complementary suppression (the
   rules and proof of :mod:`bot.reports.aggregate`, applied with the viewer excluded).
2. The mean with one decimal, never more (the charts are drawn from the rounded mean too).
3. ``n`` only as a band (:func:`n_band`): ``3-4``, ``5-9``, ``10-19``, ``20 of meer``.
4. The spread only in words, ``weinig verschil`` (sample sd < 1) or ``veel verschil``, and only on
   question cells (one answer per person), only from ``n >= 5`` answers, only when the mean (one
   decimal) lies between 1,7 and 4,3, and never to a reader who answered that question (they
   could take their own answer out). No standard deviation as a number, no distribution
   (low/mid/high counts), no minimum or maximum.
5. Participation as a band; for the open round only the band of participation so far.

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
    LEVEL_QUESTION,
    LEVEL_ROLE,
    LEVEL_THEME,
    LEVEL_TOTAL,
    MIN_K,
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
ALGORITHM_VERSION = 1
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


def present(cell: Cell, acc: _Acc, k: int, viewer: int | None = None) -> Cell:
    """The cell as a reader sees it: rounded mean, ``n`` as a band, spread in words or nothing."""
    if not cell.shown or not acc.count:
        return cell
    spread = None
    if cell.level == LEVEL_QUESTION and (viewer is None or viewer not in acc.members):
        spread = spread_of(acc.count, acc.total, acc.sumsq)
    return Cell(cell.level, cell.team_id, cell.period, cell.theme_id, cell.question_id,
                cell.role, True, None, mean=mean_label(acc.count, acc.total),
                n_band=n_band(len(acc.members), k), spread=spread)


# --------------------------------------------------------------------------------------------
# Storage format


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
        "questions": [list(tq) for tq in data.questions],
        "cells": cells,
        "participants": idx(data.participants),
        "answered": answered,
        "everyone": sorted([t, q] for t, q in data.everyone),
    }
    return out, index


def decode(raw: Mapping[str, Any]) -> PeriodData:
    """The stored data back as :class:`PeriodData` (members are the snapshot's indices)."""
    version = raw.get("v")
    if version != ALGORITHM_VERSION:
        raise ValueError(f"unknown snapshot version {version!r}")
    period = str(raw["period"])
    accs: dict[tuple, _Acc] = {}
    for level, theme, question, role, count, total, sumsq, members in raw["cells"]:
        acc = _Acc()
        acc.count, acc.total, acc.sumsq = int(count), int(total), int(sumsq)
        acc.members = set(members)
        accs[(level, period, theme, question, role)] = acc
    answered = {(t, q): set(who) for t, q, who in raw["answered"]}
    return PeriodData(period, list(raw["roles"]), [(t, q) for t, q in raw["questions"]], accs,
                      set(raw["participants"]), answered, [],
                      {(t, q) for t, q in raw.get("everyone", [])})


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


def build_view(
    team_id: int,
    snapshots: Iterable[Snapshot],
    k: int,
    *,
    viewer: Mapping[int, int] | None = None,
    texts: Mapping[int, list[SharedText]] | None = None,
    open_period: str | None = None,
    open_count: int | None = None,
    demo: bool = False,
) -> TeamReport:
    """What a reader sees of a team: the published snapshots, and the open round's band.

    ``viewer`` maps snapshot id -> the reader's index in that snapshot (absent: the reader did
    not answer in it). ``texts`` maps snapshot id -> its shared texts in their stored order.
    """
    _check_k(k)
    viewer = viewer or {}
    texts = texts or {}
    sink: dict[str, list[Cell]] = {LEVEL_TOTAL: [], LEVEL_ROLE: [], LEVEL_THEME: [],
                                   LEVEL_QUESTION: []}
    periods: list[str] = []
    bands: dict[str, str] = {}
    versions: dict[str, str] = {}
    shown_texts: list[TextItem] = []
    spread_themes: dict[str, list[str]] = {}
    for snap in sorted(snapshots, key=lambda s: s.period):
        data = snap.data
        me = viewer.get(snap.id)
        cells, theme_reasons = period_cells(data, team_id, k, me)
        for cell in cells:
            shown = present(cell, data.acc(cell.key), k, me)
            sink[cell.level].append(shown)
            if shown.spread == SPREAD_HIGH and shown.theme_id is not None:
                spread_themes.setdefault(data.period, []).append(shown.theme_id)
        periods.append(data.period)
        bands[data.period] = n_band(len(data.participants), k)
        versions[data.period] = snap.version
        shown_texts += period_texts(data, cells, theme_reasons, k, me, texts.get(snap.id, []))

    changes: list[Change] = _changes(sink[LEVEL_THEME], periods)
    last = periods[-1] if periods else None
    total = next((c for c in sink[LEVEL_TOTAL] if c.period == last), None)
    recent = [ch for ch in changes if ch.to_period == last]
    rose = max((ch for ch in recent if round(ch.delta, 1) > 0), key=lambda ch: ch.delta,
               default=None)
    fell = min((ch for ch in recent if round(ch.delta, 1) < 0), key=lambda ch: ch.delta,
               default=None)
    wide = tuple(dict.fromkeys(spread_themes.get(last or "", [])))
    insights = Insights(last, None, total, rose, fell, None, wide)
    report = TeamReport(
        team_id, k, periods, dict.fromkeys(periods), sink[LEVEL_TOTAL], sink[LEVEL_ROLE],
        sink[LEVEL_THEME], sink[LEVEL_QUESTION], shown_texts, changes, insights,
    )
    report.participation_band = bands
    report.versions = versions
    report.demo = demo
    if open_period is not None and open_period not in bands:
        report.open_period = open_period
        report.open_participation = n_band(open_count or 0, k)
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
) -> TeamReport:
    """A view built straight from answer records, as if every period were published now (the
    Demoteam's example, tests). ``viewer`` is a member id of the records."""
    rng = rng or random.Random()
    data = collect(records, team_id, periods, roles, questions, everyone)
    snapshots: list[Snapshot] = []
    texts: dict[int, list[SharedText]] = {}
    me: dict[int, int] = {}
    for i, pd in enumerate(data, 1):
        snapshots.append(Snapshot(-i, team_id, pd.period, pd, ALGORITHM_VERSION, ""))
        shared = list(pd.shared)
        rng.shuffle(shared)
        texts[-i] = shared
        if viewer is not None:
            me[-i] = viewer
    return build_view(team_id, snapshots, k, viewer=me, texts=texts, demo=demo)


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
    if data.get("v") != ALGORITHM_VERSION:
        raise ValueError(f"unknown snapshot version {data.get('v')!r}")
    scaled = set(data["scaled"])
    others = len(scaled - {viewer})
    shown = others >= k
    count, total = int(data["count"]), int(data["total"])
    return TipMonth(str(data["month"]), int(data["tip_month"]), shown,
                    mean_label(count, total) if shown else None,
                    n_band(len(data["members"]), k),
                    list(texts) if len(set(data["members"]) - {viewer}) >= k else [])
