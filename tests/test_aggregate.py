"""Tests for bot.reports.aggregate: anonymity threshold, complementary suppression, texts.

The property tests compare every report with an independent ground truth computed here from the
raw records, and then act as the manager: they try every parent-minus-children subtraction along
the report's hierarchy, and solve the whole system of additive equations with exact linear algebra
to see whether any hidden cell can be computed from shown ones. A manager who answered knows their
own answers, so the same checks run with the reader's answers taken out ("k others").
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.reports.aggregate import (
    COMPLEMENTARY,
    LEVEL_GROUP,
    LEVEL_QUESTION,
    LEVEL_THEME,
    LEVEL_TOTAL,
    NO_ANSWERS,
    NO_SCORE,
    OTHER_ROLE,
    PARENT_HIDDEN,
    TOO_FEW,
    AnswerRecord,
    TeamReport,
    TextItem,
    build_team_report,
    compare_teams,
    format_number_nl,
    month_of,
    period_label_nl,
    quarter_of,
    report_to_rows,
    summary_nl,
)
from bot.reports.snapshot import view_of_records

TEAM = 7
T0 = datetime(2026, 7, 1, 9, 0)
QUARTER_START = {"2026-Q1": datetime(2026, 1, 1, 9), "2026-Q2": datetime(2026, 4, 1, 9),
                 "2026-Q3": datetime(2026, 7, 1, 9), "2026-Q4": datetime(2026, 10, 1, 9)}


def rec(member, question, scale, *, theme="t1", period="2026-Q3", at=None, text=None,
        share=False, team=TEAM):
    return AnswerRecord(member, team, theme, question, period, at or QUARTER_START[period], scale,
                        text, share)


# ------------------------------------------------------------------------------------------
# Ground truth and the attacker's checks


def latest_answers(records, team_id, periods):
    latest = {}
    for idx, r in enumerate(records):
        if r.team_id != team_id or r.period not in periods:
            continue
        key = (r.member_id, r.question_id, r.period)
        if key not in latest or (r.answered_at, idx) >= latest[key][0]:
            latest[key] = ((r.answered_at, idx), r)
    return [r for _, r in latest.values()]


def truth_cells(report: TeamReport, records, roles, score=None, total=None):
    """cell key -> list of (member, scale) answers behind it, computed independently.

    ``score``: the (theme, question) items of theme scores (None: all); ``total``: the themes
    of the total (None: every scored theme)."""
    cells = defaultdict(list)
    for r in latest_answers(records, report.team_id, set(report.periods)):
        if r.scale is None:
            continue
        a = (r.member_id, r.scale)
        cells[(LEVEL_QUESTION, r.period, r.theme_id, r.question_id, None)].append(a)
        if score is None or (r.theme_id, r.question_id) in score:
            cells[(LEVEL_THEME, r.period, r.theme_id, None, None)].append(a)
            if total is None or r.theme_id in total:
                cells[(LEVEL_TOTAL, r.period, None, None, None)].append(a)
        if roles is not None:
            group = r.group or roles.get(r.member_id, OTHER_ROLE)
            cells[(LEVEL_GROUP, r.period, r.theme_id, r.question_id, group)].append(a)
    return cells


def equations_of(report: TeamReport, period, score=None, total_themes=None):
    """The additive hierarchy of one period, built from the report's own structure: the total
    over the themes in it, a scored theme over its score items, a question over its groups."""
    total = (LEVEL_TOTAL, period, None, None, None)
    roles = [c.key for c in report.roles if c.period == period]
    themes = [c for c in report.themes if c.period == period and c.reason != NO_SCORE]
    eqs = []
    if roles:
        eqs.append((total, roles))
    in_total = [t.key for t in themes if total_themes is None or t.theme_id in total_themes]
    if in_total:
        eqs.append((total, in_total))
    for t in themes:
        items = [c.key for c in report.questions if c.period == period and c.theme_id == t.theme_id
                 and (score is None or (c.theme_id, c.question_id) in score)]
        if items:
            eqs.append((t.key, items))
    for q in report.questions:
        if q.period != period:
            continue
        groups = [c.key for c in report.groups if c.period == period
                  and (c.theme_id, c.question_id) == (q.theme_id, q.question_id)]
        if groups:
            eqs.append((q.key, groups))
    return eqs


def moments(answers):
    return (len(answers), sum(s for _, s in answers), sum(s * s for _, s in answers))


def known(cell):
    """Shown cells and announced zeros are known to the manager."""
    return cell.shown or cell.reason == NO_ANSWERS


def shown_moments(cell):
    """What a manager reads off a shown cell: answer count, sum and sum of squares."""
    if cell.reason == NO_ANSWERS:
        return 0, 0, 0
    count = cell.n_answers
    total = round(cell.mean * count)
    sumsq = round((cell.sd ** 2) * (count - 1) + total * total / count)
    return count, total, sumsq


def rref_single_unknowns(rows, ncols):
    """Columns whose value is fixed by the equations (a row of the RREF with one entry)."""
    m = [[Fraction(v) for v in row] for row in rows]
    pivot_row = 0
    for col in range(ncols):
        pr = next((r for r in range(pivot_row, len(m)) if m[r][col] != 0), None)
        if pr is None:
            continue
        m[pivot_row], m[pr] = m[pr], m[pivot_row]
        pv = m[pivot_row][col]
        m[pivot_row] = [v / pv for v in m[pivot_row]]
        for r in range(len(m)):
            if r != pivot_row and m[r][col] != 0:
                f = m[r][col]
                m[r] = [a - f * b for a, b in zip(m[r], m[pivot_row], strict=True)]
        pivot_row += 1
    determined = []
    for row in m[:pivot_row]:
        nz = [i for i, v in enumerate(row) if v != 0]
        if len(nz) == 1:
            determined.append(nz[0])
    return determined


def check_report(report: TeamReport, records, k, roles, viewer=None, everyone=(), score=None,
                 total=None):
    """``viewer``: the reader's member id; every count below leaves the reader out.
    ``everyone``: the questions asked to every role (their zeros may be announced).
    ``score``/``total``: the items of theme scores and the themes of the total (None: all)."""
    truth = truth_cells(report, records, roles, score, total)
    if viewer is not None:
        pass  # the reader's own answers stay in the numbers, but never count towards k

    def others(members):
        return set(members) - {viewer}

    cells = {c.key: c for c in report.cells()}
    assert len(cells) == len(report.cells()), "duplicate cell keys"

    # (1) threshold and correct numbers; hidden cells carry nothing
    for key, cell in cells.items():
        answers = truth.get(key, [])
        members = {m for m, _ in answers}
        if cell.shown:
            assert len(others(members)) >= k, key
            assert cell.reason is None
            assert cell.n == len(members)
            assert cell.n_answers == len(answers)
            assert cell.mean == pytest.approx(statistics.fmean(s for _, s in answers))
            if len(answers) > 1:
                assert cell.sd == pytest.approx(statistics.stdev(s for _, s in answers), abs=1e-9)
        else:
            assert cell.reason in (TOO_FEW, COMPLEMENTARY, PARENT_HIDDEN, NO_ANSWERS, NO_SCORE)
            if cell.reason == NO_SCORE:  # a theme without score items: never a number
                assert cell.level == LEVEL_THEME and score is not None
                assert not any(t == cell.theme_id for t, _q in score)
            elif cell.reason == NO_ANSWERS and cell.level == LEVEL_GROUP:
                qkey = (LEVEL_QUESTION, cell.period, cell.theme_id, cell.question_id, None)
                assert not answers and cells[qkey].reason == NO_ANSWERS
            elif cell.reason == NO_ANSWERS:  # an announced zero: a fact about >= k people
                assert not answers and cell.level in (LEVEL_THEME, LEVEL_QUESTION)
                theme_qs = [key for key in truth if key[0] == LEVEL_QUESTION
                            and key[1] == cell.period and key[2] == cell.theme_id]
                if not theme_qs:  # a whole theme nobody answered
                    assert cells[(LEVEL_TOTAL, cell.period, None, None, None)].shown
                elif cell.level == LEVEL_THEME:  # an answered theme whose score items
                    # were all announced empty: the score is an empty sum, no number of anyone
                    answered_theme = {m for key in theme_qs for m, _ in truth[key]}
                    assert len(others(answered_theme)) >= k
                    score_qs = [c for c in cells.values() if c.level == LEVEL_QUESTION
                                and c.period == cell.period and c.theme_id == cell.theme_id
                                and (score is None or (c.theme_id, c.question_id) in score)]
                    assert score_qs and all(c.reason == NO_ANSWERS for c in score_qs)
                else:  # a question for everyone that nobody answered in an answered theme
                    assert (cell.theme_id, cell.question_id) in set(everyone)
                    answered_theme = {m for key in theme_qs for m, _ in truth[key]}
                    assert len(others(answered_theme)) >= k
            assert (cell.n, cell.n_answers, cell.mean, cell.sd) == (None, None, None, None)
            if cell.reason == TOO_FEW:
                assert len(others(members)) < k
    # every answer is in some question cell (nothing silently dropped)
    for key in truth:
        assert key in cells, key

    # (2) no hidden cell can be computed from shown cells along the hierarchy
    for period in report.periods:
        eqs = equations_of(report, period, score, total)
        for parent, children in eqs:
            # the hierarchy is additive in answers (that is what a manager may exploit)
            assert moments(truth.get(parent, [])) == tuple(
                map(sum, zip(*(moments(truth.get(c, [])) for c in children), strict=True)))
            involved = [parent, *children]
            hidden = [x for x in involved if not known(cells[x])]
            # explicit subtraction: parent minus the shown children (or children summed)
            if len(hidden) == 1:
                (x,) = hidden
                shown_sum = [0, 0, 0]
                for c in children:
                    if c != x:
                        for i, v in enumerate(shown_moments(cells[c])):
                            shown_sum[i] += v
                if x == parent:
                    derived = tuple(shown_sum)
                else:
                    pm = shown_moments(cells[parent])
                    derived = tuple(pm[i] - shown_sum[i] for i in range(3))
                assert derived != moments(truth.get(x, [])), f"{x} = {parent} - shown children"
                pytest.fail(f"{x} is the only hidden cell in {parent} = sum(children)")
            # the remainder parent - shown children must itself rest on >= k people
            if cells[parent].shown and hidden:
                rest = others(m for c in hidden for m, _ in truth.get(c, []))
                assert len(rest) >= k, (parent, hidden, rest)
        # whole system at once: exact linear algebra over all equations of the period
        hidden_keys = sorted({x for p_, ch in eqs for x in (p_, *ch) if not known(cells[x])},
                             key=repr)
        col = {x: i for i, x in enumerate(hidden_keys)}
        rows = []
        for parent, children in eqs:
            row = [0] * len(hidden_keys)
            if parent in col:
                row[col[parent]] += 1
            for c in children:
                if c in col:
                    row[col[c]] -= 1
            if any(row):
                rows.append(row)
        for i in rref_single_unknowns(rows, len(hidden_keys)):
            pytest.fail(f"hidden cell {hidden_keys[i]} is determined by the shown cells")

    # (3) texts: only shared, latest, from shown cells; no member ids or times
    assert {f.name for f in dataclasses.fields(TextItem)} == {
        "theme_id", "question_id", "period", "text"}
    latest = latest_answers(records, report.team_id, set(report.periods))
    shared = Counter()
    for r in latest:
        if r.share_text and r.text and r.text.strip():
            shared[(r.period, r.theme_id, r.question_id, r.text.strip())] += 1
    got = Counter((t.period, t.theme_id, t.question_id, t.text) for t in report.texts)
    assert not got - shared, "a text that was not shared (or not the latest answer) is shown"
    answered = defaultdict(set)
    for r in latest:
        if r.scale is not None or (r.text and r.text.strip()):
            answered[(r.period, r.theme_id, r.question_id)].add(r.member_id)
    for t in report.texts:
        assert len(others(answered[(t.period, t.theme_id, t.question_id)])) >= k
        qcell = cells.get((LEVEL_QUESTION, t.period, t.theme_id, t.question_id, None))
        if qcell is not None:
            assert qcell.shown
    # participation
    for period in report.periods:
        who = {r.member_id for r in latest if r.period == period
               and (r.scale is not None or (r.text and r.text.strip()))}
        assert report.participation[period] == (len(who) if len(who) >= k else None)


# ------------------------------------------------------------------------------------------
# Hypothesis: random teams


PERIODS = ["2026-Q2", "2026-Q3"]


@st.composite
def scenarios(draw):
    n_members = draw(st.integers(1, 9))
    n_themes = draw(st.integers(1, 3))
    themes = {}
    for t in range(n_themes):
        n_q = draw(st.integers(1, 3))
        themes[f"t{t}"] = [(f"t{t}q{q}", draw(st.booleans()) and draw(st.booleans()))
                           for q in range(n_q)]  # (question id, is_open)
    all_q = [(t, q, is_open) for t, qs in themes.items() for q, is_open in qs]
    periods = PERIODS[: draw(st.integers(1, 2))]
    members = list(range(100, 100 + n_members))
    counter = iter(range(10**6))

    def one(member, theme, question, is_open, period, scale, day):
        text = draw(st.sampled_from([None, None, "", "  ", "tekst"]))
        if is_open and text in (None, "", "  "):
            text = "open"
        if text and text.strip():
            text = f"{text} #{next(counter)}"  # unique, so a shown text can be traced
        return AnswerRecord(member, TEAM, theme, question, period,
                            QUARTER_START[period] + timedelta(days=day),
                            None if is_open else scale, text, draw(st.booleans()))

    records = []
    # whole-theme walks (so that many cells pass k) ...
    for _ in range(draw(st.integers(0, 12))):
        member = draw(st.sampled_from(members))
        theme = draw(st.sampled_from(list(themes)))
        period = draw(st.sampled_from(periods))
        day = draw(st.integers(0, 80))
        for q, is_open in themes[theme]:
            records.append(one(member, theme, q, is_open, period,
                               draw(st.integers(1, 5)), day))
    # ... and loose answers, including changed answers and skips
    for _ in range(draw(st.integers(0, 25))):
        member = draw(st.sampled_from(members))
        theme, q, is_open = draw(st.sampled_from(all_q))
        period = draw(st.sampled_from(periods))
        scale = draw(st.none() | st.integers(1, 5))
        records.append(one(member, theme, q, is_open, period, scale, draw(st.integers(0, 80))))
    # another team's answers must never leak in
    records.append(AnswerRecord(1, TEAM + 1, "t0", "t0q0", periods[0], T0, 5, "ander team", True))
    draw(st.randoms()).shuffle(records)

    roles = None
    if draw(st.booleans()):
        names = ["sociaal werker", "consulent", "teamleider"][: draw(st.integers(1, 3))]
        covered = draw(st.lists(st.sampled_from(members), unique=True))
        roles = {m: draw(st.sampled_from(names)) for m in covered}
        # some answers were given as another role than the member has now (/rol)
        for i in draw(st.sets(st.integers(0, len(records) - 1), max_size=4)):
            if records[i].team_id == TEAM:
                records[i] = dataclasses.replace(records[i], group=draw(st.sampled_from(names)))
    k = draw(st.sampled_from([3, 3, 4]))
    explicit_periods = draw(st.none() | st.just(periods))
    viewer = draw(st.none() | st.sampled_from(members))
    everyone = draw(st.sets(st.sampled_from([(t, q) for t, q, _ in all_q])))
    # answer forms: only some items count for their theme's score, only some themes for the total
    score = total = None
    if draw(st.booleans()):
        score = draw(st.sets(st.sampled_from([(t, q) for t, q, _ in all_q])))
        total = draw(st.none() | st.sets(st.sampled_from(list(themes))))
    return records, roles, k, explicit_periods, viewer, everyone, score, total


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms(use_true_random=False))
def test_random_teams_are_safe(scenario, rnd):
    records, roles, k, periods, viewer, everyone, score, total = scenario
    report = build_team_report(records, TEAM, periods=periods, k=k, rng=rnd, roles=roles,
                               exclude=viewer, everyone=everyone, score=score,
                               total_themes=total)
    for cell in report.cells():
        event(f"{cell.level} {'shown' if cell.shown else cell.reason}")
    event(f"texts shown: {bool(report.texts)}; reader answered: {viewer is not None}")
    check_report(report, records, k, roles, viewer, everyone, score, total)
    # what a reader sees of the same cells: shown exactly where the exact report shows them
    view = view_of_records(records, TEAM, periods=periods, k=k, roles=roles, viewer=viewer,
                           everyone=everyone, rng=rnd, score=score, total_themes=total)
    assert [(c.key, c.shown, c.reason) for c in view.cells()] == [
        (c.key, c.shown, c.reason) for c in report.cells()]
    for row in report_to_rows(view):
        assert "member_id" not in row and "n" not in row
        if not row["shown"]:
            assert row["n_band"] is None or row["level"] == "participation"
            assert row["mean"] is None


def _no_suppression(equations, members, shown, reasons, k):
    pass


def _no_closure(equations, members, shown, reasons, k):
    """Rule 2a only: a theme hidden by suppression keeps its questions."""
    for parent, children in equations:
        while shown[parent]:
            hidden = [c for c in children if not shown[c]]
            if not hidden or len(set().union(*(members[c] for c in hidden))) >= k:
                break
            victim = min((c for c in children if shown[c]), key=lambda c: len(members[c]))
            shown[victim] = False
            reasons[victim] = COMPLEMENTARY


def _classic_single_cell(equations, members, shown, reasons, k):
    """The textbook rule: never leave exactly one hidden cell, ignore small remainders."""
    for parent, children in equations:
        if not shown[parent]:
            for c in children:
                if shown[c]:
                    shown[c] = False
                    reasons[c] = PARENT_HIDDEN
        elif sum(1 for c in children if not shown[c]) == 1:
            victim = min((c for c in children if shown[c]), key=lambda c: len(members[c]))
            shown[victim] = False
            reasons[victim] = COMPLEMENTARY


def _one_theme_per_person():
    records = []
    for m in (1, 2, 3):
        records += [rec(m, "t1q1", 4, theme="t1"), rec(m, "t1q2", 5, theme="t1")]
    for m in (4, 5, 6, 7):
        records += [rec(m, "t2q1", 2, theme="t2"), rec(m, "t2q2", 3, theme="t2")]
    return records + [rec(8, "t3q1", 1, theme="t3")], None


def _two_small_roles():
    records = [rec(m, "q1", 3) for m in range(1, 7)]
    return records, {1: "a", 2: "a", 3: "a", 4: "a", 5: "b", 6: "c"}


@pytest.mark.parametrize(("variant", "scenario", "message"), [
    (_no_suppression, _one_theme_per_person, "shown children"),
    (_no_closure, _one_theme_per_person, "shown children"),
    (_classic_single_cell, _two_small_roles, "assert 2 >= 3"),
])
def test_checker_catches_weaker_rules(monkeypatch, variant, scenario, message):
    """The checker is not vacuous: each weaker rule set leaks, and the checker says where."""
    import bot.reports.aggregate as aggregate

    records, roles = scenario()
    check_report(build_team_report(records, TEAM, roles=roles), records, 3, roles)
    monkeypatch.setattr(aggregate, "_suppress", variant)
    report = build_team_report(records, TEAM, roles=roles)
    with pytest.raises(AssertionError, match=message):
        check_report(report, records, 3, roles)


@given(st.integers(max_value=2))
def test_k_below_three_raises(k):
    with pytest.raises(ValueError):
        build_team_report([], TEAM, k=k)


# ------------------------------------------------------------------------------------------
# Hand-made cases: the attacks the rules are there for


def test_role_split_hides_a_lonely_role_and_its_complement():
    records = [rec(m, "q1", 4) for m in (1, 2, 3, 4)] + [rec(5, "q1", 1)]
    roles = {1: "sociaal werker", 2: "sociaal werker", 3: "sociaal werker", 4: "sociaal werker",
             5: "teamleider"}
    report = build_team_report(records, TEAM, k=3, roles=roles)
    total = report.cell(LEVEL_TOTAL, "2026-Q3")
    assert total.shown and total.n == 5
    sw = report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q1", role="sociaal werker")
    tl = report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q1", role="teamleider")
    assert (sw.shown, sw.reason) == (False, COMPLEMENTARY)
    assert (tl.shown, tl.reason) == (False, TOO_FEW)


def test_role_that_did_not_answer_is_not_revealed():
    # the only teamleider did not answer: showing "sociaal werker n=4" next to "total n=4"
    # would tell the manager exactly that
    records = [rec(m, "q1", 3) for m in (1, 2, 3, 4)]
    roles = {1: "sw", 2: "sw", 3: "sw", 4: "sw", 9: "teamleider"}
    report = build_team_report(records, TEAM, roles=roles)
    assert report.cell(LEVEL_TOTAL, "2026-Q3").shown
    assert not report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q1", role="sw").shown
    assert not report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q1", role="teamleider").shown


def test_roles_all_large_enough_are_shown():
    records = [rec(m, "q1", 2 + m % 3) for m in range(1, 8)]
    roles = {m: ("a" if m <= 4 else "b") for m in range(1, 8)}
    report = build_team_report(records, TEAM, roles=roles)
    a = report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q1", role="a")
    b = report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q1", role="b")
    assert (a.n, b.n) == (4, 3) and a.shown and b.shown


def test_one_theme_per_person_hides_theme_and_its_questions():
    # themes split over people: total = t1 + t2 + t3 exactly. t3 has one person; hiding it alone
    # would leave total - t1 - t2 = that person's answers.
    records, _ = _one_theme_per_person()
    report = build_team_report(records, TEAM)
    p = "2026-Q3"
    assert report.cell(LEVEL_TOTAL, p).shown
    assert report.cell(LEVEL_THEME, p, "t3").reason == TOO_FEW
    assert report.cell(LEVEL_THEME, p, "t1").reason == COMPLEMENTARY  # the smallest shown
    assert report.cell(LEVEL_THEME, p, "t2").shown
    # t1's questions (same 3 people each) would give t1 back: they go too
    assert report.cell(LEVEL_QUESTION, p, "t1", "t1q1").reason == PARENT_HIDDEN
    assert report.cell(LEVEL_QUESTION, p, "t1", "t1q2").reason == PARENT_HIDDEN
    check_report(report, records, 3, None)


def test_one_theme_per_quarter_keeps_its_questions():
    # the other themes exist (answered in another quarter) but nobody answered them now
    records = [rec(m, "t1q1", 2, theme="t1", period="2026-Q2") for m in (1, 2, 3)]
    records += [rec(m, "t2q1", 3 + m % 2, theme="t2") for m in (1, 2, 3, 4)]
    records += [rec(m, "t2q2", 4, theme="t2") for m in (1, 2, 3, 4)]
    report = build_team_report(records, TEAM)
    p = "2026-Q3"
    assert report.cell(LEVEL_THEME, p, "t1").reason == NO_ANSWERS
    assert report.cell(LEVEL_QUESTION, p, "t1", "t1q1").reason == NO_ANSWERS
    assert report.cell(LEVEL_THEME, p, "t2").shown
    assert report.cell(LEVEL_QUESTION, p, "t2", "t2q1").shown
    assert report.cell(LEVEL_QUESTION, p, "t2", "t2q2").shown
    # a question that nobody answered is still protected like any small count
    records += [rec(m, "t2q3", 5, theme="t2", period="2026-Q2") for m in (1, 2, 3)]
    report = build_team_report(records, TEAM)
    assert report.cell(LEVEL_QUESTION, p, "t2", "t2q3").reason == TOO_FEW
    assert report.cell(LEVEL_QUESTION, p, "t2", "t2q1").reason == COMPLEMENTARY
    check_report(report, records, 3, None)


def test_empty_question_for_everyone_is_announced_not_protected():
    # five people answered q1 of the theme, nobody q2: protecting that zero would hide q1
    records = [rec(m, "q1", 2 + m % 3) for m in range(1, 6)]
    records += [rec(1, "q2", 4, period="2026-Q2")]  # q2 exists (answered in another quarter)
    report = build_team_report(records, TEAM)
    assert report.cell(LEVEL_QUESTION, "2026-Q3", "t1", "q1").reason == COMPLEMENTARY
    report = build_team_report(records, TEAM, everyone={("t1", "q2")})
    assert report.cell(LEVEL_QUESTION, "2026-Q3", "t1", "q2").reason == NO_ANSWERS
    assert report.cell(LEVEL_QUESTION, "2026-Q3", "t1", "q1").shown
    check_report(report, records, 3, None, everyone={("t1", "q2")})
    # (without ``everyone``, above, the zero is protected: a question for some roles only can
    # have one person's zero) ... and a theme below k announces nothing
    few = build_team_report(records[:2] + records[-1:], TEAM, everyone={("t1", "q2")})
    assert few.cell(LEVEL_QUESTION, "2026-Q3", "t1", "q2").reason == TOO_FEW


def test_question_remainder_is_protected():
    # everyone answered q1; member 4 alone answered q2. theme - q1 = member 4's answer to q2
    records = [rec(m, "q1", 3) for m in (1, 2, 3, 4)] + [rec(4, "q2", 5)]
    report = build_team_report(records, TEAM)
    p = "2026-Q3"
    assert report.cell(LEVEL_THEME, p, "t1").shown
    assert report.cell(LEVEL_QUESTION, p, "t1", "q2").reason == TOO_FEW
    assert report.cell(LEVEL_QUESTION, p, "t1", "q1").reason == COMPLEMENTARY
    check_report(report, records, 3, None)


# ------------------------------------------------------------------------------------------
# Plain unit tests


def test_quarter_and_month_labels():
    assert quarter_of(datetime(2026, 7, 14)) == "2026-Q3"
    assert quarter_of(datetime(2026, 12, 31)) == "2026-Q4"
    assert quarter_of(datetime(2026, 1, 1)) == "2026-Q1"
    assert month_of(datetime(2026, 7, 14)) == "2026-07"
    assert period_label_nl("2026-Q3") == "Q3 2026"
    assert format_number_nl(0.84, sign=True) == "+0,8"
    assert format_number_nl(-0.5, sign=True) == "\u22120,5"
    assert format_number_nl(3.0) == "3,0"


def test_means_sd_and_pooling():
    records = [rec(1, "q1", 2), rec(2, "q1", 3), rec(3, "q1", 4),
               rec(1, "q2", 5), rec(2, "q2", 5), rec(3, "q2", 5)]
    report = build_team_report(records, TEAM)
    q1 = report.cell(LEVEL_QUESTION, "2026-Q3", "t1", "q1")
    assert (q1.n, q1.n_answers, q1.mean, q1.sd) == (3, 3, 3.0, 1.0)
    theme = report.cell(LEVEL_THEME, "2026-Q3", "t1")
    assert (theme.n, theme.n_answers) == (3, 6)
    assert theme.mean == pytest.approx(24 / 6)
    assert theme.sd == pytest.approx(statistics.stdev([2, 3, 4, 5, 5, 5]))
    total = report.cell(LEVEL_TOTAL, "2026-Q3")
    assert total.mean == theme.mean


def test_latest_answer_wins():
    records = [
        rec(1, "q1", 1, at=T0),
        rec(1, "q1", 5, at=T0 + timedelta(days=3)),  # changed later: counts
        rec(2, "q1", 4, at=T0 + timedelta(days=2)),
        rec(2, "q1", 2, at=T0 + timedelta(days=1)),  # older version, listed later: ignored
        rec(3, "q1", 3, at=T0),
        rec(3, "q1", 4, at=T0),  # same time: the later record wins
    ]
    report = build_team_report(records, TEAM)
    q1 = report.cell(LEVEL_QUESTION, "2026-Q3", "t1", "q1")
    assert q1.n == 3 and q1.mean == pytest.approx((5 + 4 + 4) / 3)
    # withdrawing an answer (latest version has neither scale nor text) removes the member
    withdrawn = records + [rec(3, "q1", None, at=T0 + timedelta(days=9))]
    report = build_team_report(withdrawn, TEAM)
    assert report.cell(LEVEL_QUESTION, "2026-Q3", "t1", "q1").reason == TOO_FEW
    assert report.participation["2026-Q3"] is None


def test_participation_hidden_below_k_and_counts_text_only_answers():
    records = [rec(1, "q1", 3), rec(2, "q1", 4)]
    report = build_team_report(records, TEAM)
    assert report.participation == {"2026-Q3": None}
    records.append(rec(3, "open1", None, text="Meer overleg graag"))
    report = build_team_report(records, TEAM)
    assert report.participation == {"2026-Q3": 3}
    assert report.cell(LEVEL_TOTAL, "2026-Q3").reason == TOO_FEW  # only 2 gave a score
    report = build_team_report(records, TEAM, k=4)
    assert report.participation == {"2026-Q3": None}


def test_other_teams_and_unselected_periods_are_ignored():
    records = [rec(m, "q1", 5) for m in (1, 2, 3)]
    records += [rec(m, "q1", 1, team=99) for m in (4, 5, 6)]
    records += [rec(m, "q1", 1, period="2026-Q2") for m in (1, 2, 3)]
    report = build_team_report(records, TEAM, periods=["2026-Q3", "2026-Q4"])
    assert report.periods == ["2026-Q3", "2026-Q4"]
    assert report.cell(LEVEL_TOTAL, "2026-Q3").mean == 5.0
    assert report.cell(LEVEL_TOTAL, "2026-Q4").reason == TOO_FEW
    assert report.participation["2026-Q4"] is None


def test_texts_only_shared_only_in_shown_cells_random_order():
    records = [rec(m, "q1", 3, text=f"q1 tekst {m}", share=m != 2,
                   at=T0 + timedelta(days=40 if m == 4 else 0)) for m in (1, 2, 3, 4)]
    # a cell below k in another quarter: its shared texts stay hidden
    records += [rec(m, "q1", 4, text="te weinig", share=True, period="2026-Q2") for m in (1, 2)]
    report = build_team_report(records, TEAM, rng=random.Random(1))
    texts = {t.text for t in report.texts}
    assert texts == {"q1 tekst 1", "q1 tekst 3", "q1 tekst 4"}
    # no month, no time: "the only one in August" would point at a late author
    assert not any(hasattr(t, "month") for t in report.texts)
    orders = {tuple(t.text for t in build_team_report(records, TEAM, rng=random.Random(s)).texts)
              for s in range(20)}
    assert len(orders) > 1
    again = [t.text for t in build_team_report(records, TEAM, rng=random.Random(1)).texts]
    assert again == [t.text for t in report.texts]


def test_open_question_texts_need_k_authors():
    records = [rec(m, "q1", 3) for m in (1, 2, 3)]
    records += [rec(m, "open", None, text=f"open {m}", share=True) for m in (1, 2)]
    report = build_team_report(records, TEAM)
    assert report.texts == []
    records.append(rec(3, "open", None, text="open 3", share=False))
    report = build_team_report(records, TEAM)
    assert sorted(t.text for t in report.texts) == ["open 1", "open 2"]
    assert not any(c.question_id == "open" for c in report.questions)


def _two_quarters():
    records = []
    for m in range(1, 5):
        records += [rec(m, "t1q1", 2, theme="t1", period="2026-Q2"),
                    rec(m, "t2q1", 4, theme="t2", period="2026-Q2"),
                    rec(m, "t1q1", 3, theme="t1", period="2026-Q3"),
                    rec(m, "t2q1", 4 if m > 2 else 3, theme="t2", period="2026-Q3"),
                    rec(m, "t3q1", 1 + (m % 2) * 4, theme="t3", period="2026-Q3")]
    return records


def test_changes_and_insights():
    report = build_team_report(_two_quarters(), TEAM)
    by_theme = {c.theme_id: c for c in report.changes}
    assert by_theme["t1"].delta == pytest.approx(1.0)
    assert by_theme["t2"].delta == pytest.approx(-0.5)
    assert "t3" not in by_theme
    ins = report.insights
    assert ins.period == "2026-Q3" and ins.participation == 4
    assert ins.rose.theme_id == "t1" and ins.fell.theme_id == "t2"
    assert ins.widest.theme_id == "t3"


def test_summary_nl_normal_case():
    titles = {"t1": "Regie voeren", "t2": "Samen <leren>", "t3": "Ruimte"}
    records = _two_quarters() + [rec(5, "t3q1", 3, theme="t3")]  # 5 people: spread in words
    text = summary_nl(view_of_records(records, TEAM), titles)
    lines = text.split("\n")
    assert lines[0] == "Deelname Q3 2026: 5-9 teamleden."
    assert "Meest vooruit: Regie voeren (+1,0)." in lines
    assert "Meest achteruit: Samen <leren> (\u22120,5)." in lines
    assert "De meningen lopen uiteen bij: Ruimte." in lines
    assert all(len(line) <= 80 for line in lines)
    assert len(text) < 400
    # a change is the difference of the rounded means a reader sees, never of exact ones
    view = view_of_records(_two_quarters(), TEAM)
    assert {ch.theme_id: round(ch.delta, 6) for ch in view.changes} == {"t1": 1.0, "t2": -0.5}


def test_summary_nl_too_few():
    assert summary_nl(view_of_records([], TEAM), {}) == (
        "Nog geen antwoorden. We tonen pas iets vanaf 3 mensen.")
    two = [rec(1, "q1", 3), rec(2, "q1", 4)]
    expected = ("Deelname Q3 2026: minder dan 3 teamleden.\n"
                "Nog te weinig scores om iets te laten zien. We tonen pas iets vanaf 3 mensen.")
    assert summary_nl(view_of_records(two, TEAM), {}) == expected
    assert "vanaf 5 mensen" in summary_nl(view_of_records(two, TEAM, k=5), {})
    # three took part, but only two gave a score
    text_only = two + [rec(3, "open", None, text="Fijn team")]
    assert summary_nl(view_of_records(text_only, TEAM), {}) == (
        "Deelname Q3 2026: 3-4 teamleden.\n"
        "Nog te weinig scores om iets te laten zien. We tonen pas iets vanaf 3 mensen.")


def test_compare_teams_only_shown_cells_and_no_cross_team_total():
    records = [rec(m, "q1", 4, team=1) for m in (1, 2, 3)]
    records += [rec(m, "q1", 2, team=2) for m in (4, 5)]
    records += [rec(m, "q1", 3, team=3) for m in (6, 7, 8, 9)]
    reports = [build_team_report(records, t) for t in (1, 2, 3)]
    rows = compare_teams(reports)
    assert len(rows) == 1
    row = rows[0]
    assert (row.level, row.period, row.theme_id) == (LEVEL_THEME, "2026-Q3", "t1")
    assert set(row.by_team) == {1, 3}
    assert all(c.shown for c in row.by_team.values())
    with pytest.raises(ValueError):
        compare_teams([reports[0], reports[0]])


def test_report_to_rows_aggregates_only():
    records = [rec(m, "q1", 3, text="geheim", share=True) for m in (11, 12, 13)]
    rows = report_to_rows(view_of_records(records, TEAM, roles={11: "a", 12: "a", 13: "a"}))
    assert {r["level"] for r in rows} == {"participation", LEVEL_TOTAL, LEVEL_THEME,
                                          LEVEL_QUESTION, LEVEL_GROUP}
    for r in rows:
        assert set(r) == {"team_id", "period", "level", "role", "theme_id", "question_id",
                          "shown", "reason", "n_band", "mean", "spread", "version"}
        assert "geheim" not in map(str, r.values())
        assert not {11, 12, 13} & set(r.values())
        assert r["n_band"] in (None, "3-4")  # never an exact count
        assert r["mean"] in (None, 3.0)


def _big_team(seed=3):
    """12 members x 12 quarters x 34 questions, plus changed answers: 5,000 records."""
    rnd = random.Random(seed)
    questions = [(f"t{t}", f"t{t}q{q}") for t in range(1, 11) for q in range(1, 5)][:34]
    records = []
    for year in (2024, 2025, 2026):
        for quarter in range(4):
            for m in range(1, 13):
                for t, q in questions:
                    at = datetime(year, quarter * 3 + 1 + rnd.randrange(3), 1 + rnd.randrange(28))
                    text = "Meer tijd voor overleg" if rnd.random() < 0.2 else None
                    records.append(AnswerRecord(m, TEAM, t, q, quarter_of(at), at,
                                                rnd.randint(1, 5), text, rnd.random() < 0.5))
    for old in rnd.sample(records, 5000 - len(records)):  # earlier versions of some answers
        records.append(dataclasses.replace(old, scale=1, answered_at=old.answered_at - timedelta(1)))
    rnd.shuffle(records)
    return records


def test_large_team_report_is_complete():
    """Speed is measured in bench/reports.py, not here; this checks the result on 5,000 rows."""
    records = _big_team()
    assert len(records) == 5000
    roles = {m: "sw" if m < 9 else "consulent" for m in range(1, 13)}
    report = build_team_report(records, TEAM, roles=roles, rng=random.Random(0))
    assert len(report.periods) == 12
    assert all(report.participation[p] == 12 for p in report.periods)


def test_stored_rows_give_the_same_report_as_validated_records():
    """The store's cheap NamedTuple rows and AnswerRecord are interchangeable."""
    from bot.reports.aggregate import StoredAnswer

    records = _big_team()
    rows = [StoredAnswer(*dataclasses.astuple(r)) for r in records]
    roles = {m: "sw" if m < 9 else "consulent" for m in range(1, 13)}
    a = build_team_report(records, TEAM, roles=roles, rng=random.Random(0))
    b = build_team_report(rows, TEAM, roles=roles, rng=random.Random(0))
    assert a == b
    assert any(c.shown for c in b.themes)


# ------------------------------------------------------------------------------------------
# The mirror: groups split questions, never the total or a theme (the equations stay a tree)


def test_two_way_tables_need_more_than_the_local_rule():
    """Why the group split hangs under questions only. With groups under the total *and*
    under themes (a groups x themes table with margins), every equation can keep two or more
    hidden cells and yet one hidden cell is fixed: it bridges two cycles of hidden cells. In the
    tree the report keeps, that cannot happen (module docstring, rule 2)."""
    rows, cols = ["A", "B", "C", "Tot"], ["t1", "t2", "t3", "T"]
    eqs = [((r, "T"), [(r, c) for c in cols[:-1]]) for r in rows]
    eqs += [(("Tot", c), [(r, c) for r in rows[:-1]]) for c in cols]
    hidden = sorted({("Tot", "t2"), ("A", "t3"), ("C", "t3"), ("Tot", "T"), ("C", "t1"),
                     ("A", "t1"), ("B", "t2"), ("Tot", "t3"), ("B", "T")})
    for parent, children in eqs:  # the local rule holds everywhere ...
        assert sum(x in hidden for x in (parent, *children)) != 1
    col = {x: i for i, x in enumerate(hidden)}
    matrix = []
    for parent, children in eqs:
        row = [0] * len(hidden)
        if parent in col:
            row[col[parent]] += 1
        for c in children:
            if c in col:
                row[col[c]] -= 1
        if any(row):
            matrix.append(row)
    # ... and still the whole team's t3 is computable from what is shown
    assert [hidden[i] for i in rref_single_unknowns(matrix, len(hidden))] == [("Tot", "t3")]


def _mirror_team():
    """Four professionals, three managers, one policy officer answer two questions of t1."""
    roles = {m: "uitvoering" for m in (1, 2, 3, 4)} | {5: "management", 6: "management",
                                                       7: "management", 8: "beleid"}
    records = []
    for m, group in roles.items():
        low = group == "uitvoering"
        records += [rec(m, "q1", 2 if low else 4), rec(m, "q2", 3 if low else 5)]
    return records, roles


def test_groups_split_each_question_and_protect_a_lonely_group():
    records, roles = _mirror_team()
    report = build_team_report(records, TEAM, roles=roles)
    p = "2026-Q3"
    for q in ("q1", "q2"):
        assert report.cell(LEVEL_QUESTION, p, "t1", q).n == 8
        uitvoering = report.cell(LEVEL_GROUP, p, "t1", q, "uitvoering")
        assert uitvoering.shown and uitvoering.n == 4
        # one policy officer: hidden, and management with it (question minus uitvoering would
        # otherwise be management plus one person)
        assert report.cell(LEVEL_GROUP, p, "t1", q, "beleid").reason == TOO_FEW
        assert report.cell(LEVEL_GROUP, p, "t1", q, "management").reason == COMPLEMENTARY
    assert not any(c.level == LEVEL_GROUP and c.question_id is None for c in report.cells())
    check_report(report, records, 3, roles)


def test_a_group_is_asked_only_its_questions():
    records, roles = _mirror_team()
    records += [rec(m, "q3", 4) for m in (5, 6, 7, 8)]  # a question for managers and beleid
    asked = {("t1", "q1"): {"uitvoering", "management", "beleid"},
             ("t1", "q2"): {"uitvoering", "management", "beleid"},
             ("t1", "q3"): {"management", "beleid"}}
    report = build_team_report(records, TEAM, roles=roles, asked=asked)
    # no zero cell for uitvoering on q3: its roles are not asked it (that zero is known)
    assert report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q3", "uitvoering") is None
    assert report.cell(LEVEL_GROUP, "2026-Q3", "t1", "q3", "management").reason == COMPLEMENTARY
    check_report(report, records, 3, roles)


def test_theme_scores_never_mix_directions():
    """A theme score holds its score items only; an item kept out is reported on its own, and a
    theme with too few score items has no score at all (issue 10)."""
    records = []
    for m in range(1, 6):
        records += [rec(m, "t1q1", 4, theme="t1"), rec(m, "t1q2", 4, theme="t1"),
                    rec(m, "t1q3", 1, theme="t1"),  # higher is worse: not in the score
                    rec(m, "t2q1", 5, theme="t2")]  # the only scale item of t2
    score = {("t1", "t1q1"), ("t1", "t1q2")}
    report = build_team_report(records, TEAM, score=score, total_themes={"t1"})
    p = "2026-Q3"
    assert report.cell(LEVEL_THEME, p, "t1").mean == 4.0  # not (4 + 4 + 1) / 3
    assert report.cell(LEVEL_THEME, p, "t2").reason == NO_SCORE
    assert report.cell(LEVEL_THEME, p, "t2").mean is None
    assert report.cell(LEVEL_QUESTION, p, "t1", "t1q3").mean == 1.0
    assert report.cell(LEVEL_QUESTION, p, "t2", "t2q1").mean == 5.0
    assert report.cell(LEVEL_TOTAL, p).mean == 4.0
    check_report(report, records, 3, None, score=score, total={"t1"})


def test_a_theme_whose_score_items_were_all_announced_empty_is_empty_too():
    """Found by the random teams above: three people answered only a scale item outside the
    theme's score; the score item, asked to everyone, is announced as answered by nobody. The
    theme's score is then an empty sum: it is announced too, never hidden as a derivable zero."""
    period = "2026-Q3"
    records = [AnswerRecord(m, TEAM, "t1", "t1q1", period, QUARTER_START[period], 1, None, False)
               for m in (100, 101, 102)]
    records.append(AnswerRecord(103, TEAM, "t0", "t0q0", period, QUARTER_START[period], 4, None,
                                False))
    # an earlier quarter in which the score item was answered (so the report knows it)
    records.append(AnswerRecord(100, TEAM, "t1", "t1q0", "2026-Q2", QUARTER_START["2026-Q2"], 1,
                                None, False))
    everyone = score = {("t0", "t0q0"), ("t1", "t1q0")}
    report = build_team_report(records, TEAM, k=3, everyone=everyone, score=score)
    cells = {c.key: c for c in report.cells()}
    assert cells[(LEVEL_QUESTION, period, "t1", "t1q0", None)].reason == NO_ANSWERS
    assert cells[(LEVEL_THEME, period, "t1", None, None)].reason == NO_ANSWERS
    check_report(report, records, 3, None, everyone=everyone, score=score)
