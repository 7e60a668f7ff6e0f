"""The exhaustive proof of what a view may show of one cell (bot.reports.snapshot, rule 4).

A reader sees a question cell as: the mean with one decimal, the number of people as a band and,
where allowed, the spread in words. The question for every rule: does the view ever narrow the
cell's answers down to one multiset where the mean alone would not? The reader is assumed to know
the exact number of people (a manager may well know who took part), which is stronger than the
band, so every comparison below groups by the exact ``n``.

For every ``n`` from 3 to 30, every multiset of answers 1..5 goes through the real presentation
code (:func:`bot.reports.snapshot.present`). Beyond 30 the two lemmas of the module docstring are
checked sum by sum up to ``n = 200``. The release 0.3 views (sd with one decimal, exact
distribution, exact ``n``) are measured the same way, and weaker variants of the rule are shown to
fail, so the checker is not vacuous.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable

import pytest

import bot.reports.snapshot as snapshot
from bot.reports.aggregate import LEVEL_QUESTION, LEVEL_THEME, Cell, _Acc, format_number_nl
from bot.reports.snapshot import SPREAD_HIGH, SPREAD_LOW, n_band, present

N_MAX = 30
K = 3
Multiset = tuple[int, ...]
View = Callable[[Multiset], tuple]


def multisets(n: int) -> Iterable[Multiset]:
    return itertools.combinations_with_replacement(range(1, 6), n)


def cell_of(answers: Multiset, level: str = LEVEL_QUESTION) -> tuple[Cell, _Acc]:
    """The exact cell and accumulator of one question's answers (members 0..n-1)."""
    acc = _Acc()
    acc.count, acc.total, acc.sumsq = len(answers), sum(answers), sum(a * a for a in answers)
    acc.members = set(range(len(answers)))
    n = len(answers)
    mean = acc.total / n
    sd = math.sqrt((acc.sumsq - acc.total ** 2 / n) / (n - 1))
    return Cell(level, 1, "2026-Q3", "t", "q" if level == LEVEL_QUESTION else None, None, True,
                None, n, n, mean, sd), acc


def shown(answers: Multiset, viewer: int | None = None) -> tuple:
    """Exactly what a view shows of the cell: mean text, spread word, n band."""
    cell, acc = cell_of(answers)
    c = present(cell, acc, K, viewer)
    assert (c.n, c.n_answers, c.sd) == (None, None, None)  # never an exact count or sd
    assert c.mean is not None
    return (format_number_nl(c.mean), c.spread, c.n_band)


def mean_alone(answers: Multiset) -> tuple:
    return (format_number_nl(sum(answers) / len(answers)),)


def old_view(answers: Multiset) -> tuple:
    """What release 0.3 showed: mean and sd with one decimal (chat, dashboard), the distribution
    low/mid/high when every non-empty bucket had k and two were non-empty, and the exact n."""
    _, acc = cell_of(answers)
    n = len(answers)
    sd = math.sqrt((acc.sumsq - acc.total ** 2 / n) / (n - 1))
    dist = (sum(a <= 2 for a in answers), sum(a == 3 for a in answers),
            sum(a >= 4 for a in answers))
    nonzero = [b for b in dist if b]
    return (format_number_nl(acc.total / n), format_number_nl(sd),
            dist if len(nonzero) >= 2 and min(nonzero) >= K else None)


def pinned(n: int, view: View) -> set[Multiset]:
    """The multisets of size n that the view narrows down to themselves alone."""
    classes: dict[tuple, list[Multiset]] = defaultdict(list)
    for m in multisets(n):
        classes[view(m)].append(m)
    return {ms[0] for ms in classes.values() if len(ms) == 1}


def narrowed(n: int, view: View) -> set[Multiset]:
    """Multisets the view pins down although the mean alone (with the exact n) does not."""
    return pinned(n, view) - pinned(n, mean_alone)


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(3, N_MAX + 1))
def test_a_view_never_narrows_answers_more_than_the_mean_alone(n: int) -> None:
    assert narrowed(n, shown) == set()


def test_what_each_rule_protects(capsys: pytest.CaptureFixture[str]) -> None:
    """The table for the report: multisets pinned down by each view, per n."""
    lines = [f"{'n':>3} {'multisets':>9} {'0.3 views':>10} {'mean alone':>10} {'now':>5}"]
    for n in range(3, 11):
        total = sum(1 for _ in multisets(n))
        old, base, now = (len(pinned(n, v)) for v in (old_view, mean_alone, shown))
        lines.append(f"{n:>3} {total:>9} {old:>10} {base:>10} {now:>5}")
        assert now == base  # the view pins exactly what any average pins (unanimity and near)
        assert old > base
        if n == 3:
            assert (old, total) == (33, 35)  # the finding, reproduced
            assert base == 4  # {1,1,1}, {1,1,2}, {4,5,5}, {5,5,5}
    with capsys.disabled():
        print("\nmultisets pinned down by a view of one cell:\n" + "\n".join(lines))


def test_the_spread_is_shown_where_it_is_allowed() -> None:
    """The rule is not 'never': from five people and a mean away from the ends, both words."""
    assert shown((2, 3, 3, 3, 4))[1] == SPREAD_LOW
    assert shown((1, 1, 3, 5, 5))[1] == SPREAD_HIGH
    assert shown((1, 1, 1, 1, 4))[1] is None  # mean 1,6: {1,1,1,1,4} would stand alone
    assert shown((2, 3, 4, 4))[1] is None  # four people: never
    words = {shown(m)[1] for n in (5, 8, 12) for m in multisets(n)}
    assert words == {None, SPREAD_LOW, SPREAD_HIGH}
    assert [n_band(n) for n in (2, 3, 4, 5, 9, 10, 19, 20, 250)] == [
        "minder dan 3", "3-4", "3-4", "5-9", "5-9", "10-19", "10-19", "20 of meer", "20 of meer"]
    assert n_band(5, k=5) == "5-9" and n_band(4, k=4) == "4"


def test_a_reader_who_answered_gets_no_spread() -> None:
    """Someone who knows their own answer could take it out: with the spread word they could
    then pin the others down where the mean alone would not. So a reader in the cell gets the
    mean and the band only."""
    answers = (2, 3, 3, 3, 4)
    cell, acc = cell_of(answers)
    assert present(cell, acc, K, viewer=None).spread == SPREAD_LOW
    assert present(cell, acc, K, viewer=0).spread is None  # member 0 answered
    assert present(cell, acc, K, viewer=99).spread == SPREAD_LOW  # someone else

    # ... and why: for the reader who answered 2, "weinig verschil" at mean 3,0 leaves only
    # {3,3,3,4} for the other four; the mean alone leaves many
    def others(view: View, mine: int) -> set[Multiset]:
        target = view(answers)
        out = set()
        for m in multisets(len(answers)):
            if mine in m and view(m) == target:
                rest = list(m)
                rest.remove(mine)
                out.add(tuple(rest))
        return out

    def with_spread(m: Multiset) -> tuple:
        c, a = cell_of(m)
        return (format_number_nl(c.mean), snapshot.spread_of(a.count, a.total, a.sumsq))

    assert others(with_spread, 2) == {(3, 3, 3, 4)}
    assert len(others(mean_alone, 2)) > 5


def test_no_spread_on_theme_or_total_cells() -> None:
    cell, acc = cell_of((1, 1, 3, 5, 5, 5), level=LEVEL_THEME)
    c = present(cell, acc, K)
    assert c.spread is None and c.mean == 3.3 and c.n_band == "5-9"


@pytest.mark.parametrize(("patch", "value"), [
    ("SPREAD_MIN_N", 4),  # four people
    ("SPREAD_MEAN_TENTHS", (16, 44)),  # a mean of 1,6 or 4,4
    ("SPREAD_MEAN_TENTHS", (10, 50)),  # any mean
])
def test_weaker_rules_fail_the_checker(monkeypatch: pytest.MonkeyPatch, patch: str,
                                       value: object) -> None:
    monkeypatch.setattr(snapshot, patch, value)
    assert any(narrowed(n, shown) for n in range(3, 9))


def _extreme(n: int, total: int) -> list[int]:
    """The multiset of largest variance with this sum (as many 1s and 5s as possible)."""
    fives, rest = divmod(total - n, 4)
    values = [5] * fives + ([1 + rest] if rest else [])
    return values + [1] * (n - len(values))


def _sd_at_least_one(values: list[int]) -> bool:
    n, s, q = len(values), sum(values), sum(v * v for v in values)
    return n * q - s * s >= n * (n - 1)


def test_the_lemmas_hold_beyond_the_enumeration() -> None:
    """For 30 < n <= 200 and every sum whose mean is shown with a spread word: 'weinig
    verschil' holds two multisets (the balanced one and a neighbour), and when the most spread
    multiset has sd >= 1, so does a neighbour of it: neither word stands for one multiset."""
    for n in range(N_MAX + 1, 201):
        for total in range(n, 5 * n + 1):
            tenths = round(float(f"{total / n:.1f}") * 10)
            if not snapshot.SPREAD_MEAN_TENTHS[0] <= tenths <= snapshot.SPREAD_MEAN_TENTHS[1]:
                continue
            low, r = divmod(total, n)
            balanced = [low + 1] * r + [low] * (n - r)
            assert not _sd_at_least_one(balanced)
            x = next(v for v in (2, 3, 4) if balanced.count(v) >= 2)
            neighbour = list(balanced)
            neighbour.remove(x)
            neighbour.remove(x)
            neighbour += [x - 1, x + 1]
            assert not _sd_at_least_one(neighbour) and sorted(neighbour) != sorted(balanced)
            extreme = _extreme(n, total)
            if _sd_at_least_one(extreme):
                moved = sorted(extreme)  # one step inward from both ends
                assert moved[0] < moved[-1] - 1, (n, total)
                moved[0] += 1
                moved[-1] -= 1
                assert _sd_at_least_one(moved), (n, total)


# --------------------------------------------------------------------------------------------
# The mirror: the spread word on one level of a question


def _word(m: Multiset) -> str | None:
    return snapshot.spread_of(len(m), sum(m), sum(v * v for v in m))


def test_a_word_on_a_split_question_would_narrow_a_group() -> None:
    """The rejected design: the question's word while its groups' means are known (shown, or
    derivable as a remainder). For a group of three whose sum is known, the word about the
    union still picks out one multiset in cases where the group's mean alone leaves several."""
    found = []
    for n_g, n_r in ((3, 3), (3, 4), (4, 3)):
        for s_g in range(n_g, 5 * n_g + 1):
            others = [g for g in multisets(n_g) if sum(g) == s_g]
            for s_r in range(n_r, 5 * n_r + 1):
                group = [r for r in multisets(n_r) if sum(r) == s_r]
                if len(group) < 2:
                    continue  # the mean alone pins it already
                words: dict[str | None, set[Multiset]] = defaultdict(set)
                for r in group:
                    for g in others:
                        words[_word(r + g)].add(r)
                found += [(n_g, s_g, rs) for w, rs in words.items() if w and len(rs) == 1]
    assert found  # e.g. beside a group averaging 1,0 "weinig verschil" leaves {2,2,3} alone
    assert (3, 3, {(2, 2, 3)}) in found


def test_the_view_puts_the_word_on_one_level_of_a_question() -> None:
    from datetime import datetime

    from bot.reports.aggregate import LEVEL_GROUP, AnswerRecord
    from bot.reports.snapshot import view_of_records

    at = datetime(2026, 7, 1, 9)
    answers = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 2, 7: 3, 8: 3, 9: 3, 10: 4}
    roles = {m: "uitvoering" if m <= 5 else "beleid" for m in answers}
    records = [AnswerRecord(m, 1, "t", "q", "2026-Q3", at, v, None, False)
               for m, v in answers.items()]
    view = view_of_records(records, 1, roles=roles)
    question = view.cell(LEVEL_QUESTION, "2026-Q3", "t", "q")
    assert question.shown and question.spread is None  # its groups are shown: no word here
    assert view.cell(LEVEL_GROUP, "2026-Q3", "t", "q", "uitvoering").spread == SPREAD_HIGH
    assert view.cell(LEVEL_GROUP, "2026-Q3", "t", "q", "beleid").spread == SPREAD_LOW
    # every group too small to show: the question is the one level, and gets the word
    small = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c"}
    few = view_of_records(records[:5], 1, roles=small)
    assert not any(c.shown for c in few.groups)
    assert few.cell(LEVEL_QUESTION, "2026-Q3", "t", "q").spread == SPREAD_HIGH


# --------------------------------------------------------------------------------------------
# Participation of a published round: "8 van 12"


@pytest.mark.parametrize("took", [True, False, None])
def test_participation_never_narrows_who_did_not_take_part(took: bool | None) -> None:
    """Exact only with k participants and k non-participants besides the reader; otherwise
    every count of fewer than k non-participants (0 included: "everyone answered") reads the
    same, so nobody's (non-)participation follows from it."""
    from bot.reports.snapshot import participation_label

    skipped = 1 if took in (False, None) else 0
    for size in range(1, 40):
        labels: dict[str, set[int]] = defaultdict(set)
        for p in range(0, size + 1):
            if took is True and p == 0 or took is False and p == size:
                continue  # impossible for this reader
            labels[participation_label(p, size, K, took)].add(p)
        for label, ps in labels.items():
            if label.isdigit():
                (p,) = ps
                assert p - (1 if took in (True, None) else 0) >= K
                assert size - p - skipped >= K
            few_out = {p for p in ps if size - p - skipped < K}
            if few_out:  # a top band: it holds every count with few non-participants
                top = {p for p in range(size + 1) if size - p - skipped < K and p >= K
                       and not (took is False and p == size)}
                assert top <= ps or label.startswith("minder"), (size, label, ps)
    assert participation_label(8, 12, K, True) == "8"
    assert participation_label(12, 12, K, True) == "10 of meer"
    assert participation_label(11, 12, K, False) == "9 of meer"
    assert participation_label(3, 12, K, True) == "3-4"  # two others only
    assert participation_label(2, 12, K, None) == "minder dan 3"
    assert participation_label(8, None, K, True) == "5-9"  # team size unknown (old snapshot)
