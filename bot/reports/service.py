"""The one place that turns stored answers into what a reader sees.

Chat (/rapport), CLI exports and the dashboard all go through :func:`team_report_for`, which
checks access, writes the audit log, publishes the periods that ended and have no snapshot yet,
and builds the reader's view from the team's snapshots (:mod:`bot.reports.snapshot`). The
Demoteam gets its synthetic example (:mod:`bot.reports.demo`), never real answers.

Publishing: :func:`publish_due` (the schedule's tick, and every view for its own team) publishes
each ended period once; :func:`close_round` publishes a team's open round early (``teamspiegel
report publish TEAM``). What is answered after an early close counts for the team's next period
(:meth:`bot.store.Store.answer_period`); a change to an answer of a published period changes the
person's own record, never the snapshot.
"""

from __future__ import annotations

import json
import logging
import random
from collections import OrderedDict
from datetime import UTC, datetime

from bot.periods import month_of, quarter_of
from bot.reports.aggregate import (
    MIN_K,
    PeriodData,
    SharedText,
    StoredAnswer,
    TeamReport,
    _check_k,
    collect,
    period_cells,
    period_texts,
)
from bot.reports.snapshot import (
    ALGORITHM_VERSION,
    KIND_REFLECTION,
    KIND_TIPS,
    ROLE_GROUP,
    Snapshot,
    TipMonth,
    build_view,
    content_structure,
    decode,
    encode,
    encode_tips,
    n_band,
    structure,
    tip_month_view,
)
from bot.store import Store, utcnow

__all__ = [
    "AccessDenied",
    "NothingToClose",
    "close_round",
    "pack_reports_for",
    "load_records",
    "publish",
    "publish_due",
    "publish_tips",
    "snapshot_kind",
    "team_report",
    "team_report_for",
    "theme_titles",
    "tips_report",
]

log = logging.getLogger(__name__)


class AccessDenied(Exception):
    """The member may not read this team. The message says nothing about the team."""

    def __init__(self) -> None:
        super().__init__("Je hebt geen toegang tot dit team.")


class NothingToClose(Exception):
    """The team's open round has no answers: there is nothing to publish."""


def load_records(store: Store, team_id: int, period: str,
                 pack: str = "praatplaat") -> list[StoredAnswer]:
    """One team's answers in one period and one content pack, with their row ids (texts refer
    to them) and the mirror group of the role each was given as."""
    parse, new, group = datetime.fromisoformat, tuple.__new__, ROLE_GROUP.get
    return [
        new(StoredAnswer, (r[0], r[1], r[2], r[3], r[4], parse(r[5]), r[6], r[7], bool(r[8]),
                           r[9], group(r[10], r[10])))
        for r in store.period_answer_rows(team_id, period, pack)
    ]


def team_groups(store: Store, team_id: int) -> dict[int, str]:
    """Member id -> mirror group, for the team's whole membership."""
    return {m: ROLE_GROUP.get(role, role) for m, role in store.team_roles(team_id).items()}


def snapshot_kind(pack: str) -> str:
    """The snapshot kind of a content pack: every pack is published as its own snapshot, so
    nothing is ever averaged across packs (``reflection`` is the Praatplaat's)."""
    return KIND_REFLECTION if pack == "praatplaat" else f"{KIND_REFLECTION}:{pack}"


def _structure(store: Store, content: object, team_id: int, period: str,
               pack: str) -> tuple[list[tuple[str, str]], set[tuple[str, str]], str]:
    """The questions a pack's snapshot lists, and the content version it records. A team's
    own pack may have been answered under several versions in one period: the union."""
    if pack == "praatplaat":
        listed, asked = structure(content)
        return listed, asked, str(getattr(content, "version", ""))
    from bot.packs import PackLibrary

    lib = PackLibrary(store, content)  # type: ignore[arg-type]
    versions = store.pack_versions_in(team_id, period, pack)
    found = [lib.for_answer(team_id, pack, v) for v in versions] or [
        lib.for_answer(team_id, pack, None)]
    questions: list[tuple[str, str]] = []
    everyone: set[tuple[str, str]] = set()
    unique = {id(p): p for p in found if p is not None}
    for obj in unique.values():
        q, e = structure(obj)
        questions += [tq for tq in q if tq not in questions]
        everyone |= e
    return questions, everyone, f"{pack}={','.join(versions)}"


def _content(content: object | None) -> object:
    if content is None:
        from bot.content import get_content

        content = get_content()
    return content


# --------------------------------------------------------------------------------------------
# Publishing


def publish(
    store: Store, team_id: int, period: str, *, k: int = MIN_K, content: object | None = None,
    closed_early: bool = False, actor: int | None = None, pack: str = "praatplaat",
) -> int | None:
    """Freeze one period of one team as a snapshot; None when it was published already.

    One transaction: the answers read, the snapshot, its member indices and its texts. Texts
    are kept only when a reader without answers of their own could see them (the view applies
    the reader's rule on top), in an order drawn once, at random, here.

    Each content pack is its own snapshot (``pack``). Publishing the Praatplaat's period (the
    team's round) publishes every other pack answered in that period with it.
    """
    _check_k(k)
    content = _content(content)
    rng = random.SystemRandom()
    kind = snapshot_kind(pack)
    with store.transaction():
        if pack == "praatplaat":
            if period in store.closed_periods(team_id, period):
                return None
        elif period in store.snapshot_periods(team_id, kind):
            return None
        roles = team_groups(store, team_id)
        questions, everyone, version = _structure(store, content, team_id, period, pack)
        shape = content_structure(content) if pack == "praatplaat" else None
        # the Praatplaat's theme scores keep directions apart (answer forms); another pack's
        # units are reported per question, each pack on its own
        [data] = collect(load_records(store, team_id, period, pack), team_id, [period], roles,
                         questions, everyone,
                         score=shape.score if shape else None,
                         total_themes=shape.total_themes if shape else None,
                         asked=shape.asked if shape else None,
                         team_size=store.team_size(team_id))
        encoded, index = encode(data, rng)
        cells, theme_reasons = period_cells(data, team_id, k)
        shared = list(data.shared)
        rng.shuffle(shared)
        keep = {(t.theme_id, t.question_id, t.text) for t in
                period_texts(data, cells, theme_reasons, k, None, shared)}
        texts = [(s.theme_id, s.question_id, s.text, s.member_id, s.answer_id, pos)
                 for pos, s in enumerate(shared) if (s.theme_id, s.question_id, s.text) in keep]
        snapshot_id = store.insert_snapshot(
            team_id=team_id, period=period, published_at=utcnow(), closed_early=closed_early,
            algorithm_version=ALGORITHM_VERSION, content_version=version, data=encoded,
            members=index, texts=texts, kind=kind,
        )
        if snapshot_id is not None:
            store.audit("report_publish" + (":early" if closed_early else ""), actor=actor,
                        team_id=team_id,
                        detail=period if pack == "praatplaat" else f"{period} {pack}")
        if pack == "praatplaat":  # the round closes for every pack at once
            for other in store.answer_packs(team_id, period):
                if other != "praatplaat":
                    publish(store, team_id, period, k=k, content=content,
                            closed_early=closed_early, actor=actor, pack=other)
    return snapshot_id


def publish_tips(store: Store, team_id: int, month: str, *, k: int = MIN_K) -> int | None:
    """Freeze the reactions to one month's tip of one team; None when published already."""
    _check_k(k)
    with store.transaction():
        rows = [(int(r[0]), int(r[1]), r[2], r[3], bool(r[4]))
                for r in store.tip_reaction_month_rows(team_id, month)]
        data, index, texts = encode_tips(month, rows)
        keep = texts if len(rows) >= k else []
        snapshot_id = store.insert_snapshot(
            team_id=team_id, period=month, published_at=utcnow(), closed_early=False,
            algorithm_version=ALGORITHM_VERSION, content_version="", data=data, members=index,
            texts=[(None, None, text, member, None, pos) for pos, (text, member)
                   in enumerate(keep)],
            kind=KIND_TIPS,
        )
        if snapshot_id is not None:
            store.audit("tips_publish", team_id=team_id, detail=month)
    return snapshot_id


def publish_due(
    store: Store, now: datetime, *, team_id: int | None = None, k: int = MIN_K,
    content: object | None = None, limit: int | None = None,
) -> list[tuple[int, str]]:
    """Publish every period that ended before ``now`` and has no snapshot yet (all teams but
    the Demoteam, or one team): reflection rounds per quarter, tip reactions per month.
    ``limit``: at most this many in one call (the tick's catch-up after an upgrade publishes
    years of periods a batch per tick; a view publishes its own team at once). Returns the
    (team, period) pairs published."""
    current, this_month = quarter_of(now), month_of(now)
    teams = [team_id] if team_id is not None else store.publishable_teams()
    done: list[tuple[int, str]] = []
    for tid in teams:
        team = store.get_team(tid)
        if team is None or team["is_demo"]:
            continue
        published = set(store.snapshot_periods(tid))
        for period in store.answer_periods(tid):
            if limit is not None and len(done) >= limit:
                break
            if period < current and period not in published:
                if publish(store, tid, period, k=k, content=content) is not None:
                    done.append((tid, period))
        published = set(store.snapshot_periods(tid, KIND_TIPS))
        for month in store.tip_reaction_months(tid):
            if limit is not None and len(done) >= limit:
                break
            if month < this_month and month not in published:
                if publish_tips(store, tid, month, k=k) is not None:
                    done.append((tid, month))
        if limit is not None and len(done) >= limit:
            break
    if done:
        log.info("published %d snapshot(s)", len(done))
    return done


def close_round(
    store: Store, team_id: int, now: datetime, *, k: int = MIN_K, content: object | None = None,
    actor: int | None = None,
) -> str:
    """Publish the team's open round now (an owner or the operator closes it early).

    Returns the period published; answers given from now on count for the next one. Raises
    :class:`NothingToClose` when nobody answered in the open round yet.
    """
    publish_due(store, now, team_id=team_id, k=k, content=content)
    with store.transaction():
        period = store.answer_period(team_id, now)
        if not store.period_participants(team_id, period):
            raise NothingToClose(period)
        publish(store, team_id, period, k=k, content=content, closed_early=True, actor=actor)
    return period


# --------------------------------------------------------------------------------------------
# Views

#: decoded snapshot data by its stored text: a snapshot never changes, so neither does this
#: (about 60 kB each decoded; decoding one again costs well under a millisecond)
_DECODED: OrderedDict[str, PeriodData] = OrderedDict()
_DECODED_MAX = 256


def _decoded(row: dict) -> PeriodData:
    raw = str(row["data"])
    data = _DECODED.get(raw)
    if data is None:
        data = decode(json.loads(raw))
        _DECODED[raw] = data
        if len(_DECODED) > _DECODED_MAX:
            _DECODED.popitem(last=False)
    else:
        _DECODED.move_to_end(raw)
    return data


def team_report(
    store: Store, team_id: int, *, k: int = MIN_K, viewer: int | None = None,
    periods: list[str] | None = None, last: int | None = None, now: datetime | None = None,
    content: object | None = None, pack: str = "praatplaat",
) -> TeamReport:
    """What ``viewer`` (a member id, or None for the operator) sees of a team: the published
    snapshots (``periods`` or the ``last`` N) and the open round's participation band. Publishes
    the team's ended periods first. No access check: callers check.

    ``pack``: the content pack (the Praatplaat by default); every pack is its own report."""
    now = now or datetime.now(UTC)
    team = store.get_team(team_id)
    if team is not None and team["is_demo"]:
        from bot.reports.demo import demo_report

        if pack != "praatplaat":  # the Demoteam's example is the Praatplaat's only
            return build_view(team_id, [], k, demo=True)
        return demo_report(team_id, now=now, k=k, content=_content(content), last=last)
    publish_due(store, now, team_id=team_id, k=k, content=content)
    rows = store.snapshot_rows(team_id, periods=periods, last=last, kind=snapshot_kind(pack))
    snapshots = [
        Snapshot(int(r["id"]), team_id, str(r["period"]), _decoded(r), int(r["algorithm_version"]),
                 str(r["content_version"]), bool(r["closed_early"]))
        for r in rows
    ]
    ids = [s.id for s in snapshots]
    me = store.snapshot_index(viewer, ids) if viewer is not None else {}
    texts: dict[int, list[SharedText]] = {}
    for sid, theme_id, question_id, text in store.snapshot_text_rows(ids):
        texts.setdefault(int(sid), []).append(SharedText(theme_id, question_id, text, -1, None))
    open_period = open_count = None
    if periods is None:
        open_period = store.answer_period(team_id, now)
        open_count = store.period_participants(team_id, open_period, pack)
    return build_view(team_id, snapshots, k, viewer=me, texts=texts, open_period=open_period,
                      open_count=open_count, open_team_size=store.team_size(team_id),
                      current=(content_structure(_content(content)) if pack == "praatplaat"
                               else None),
                      viewer_known=viewer is not None)


def tips_report(
    store: Store, team_id: int, *, k: int = MIN_K, viewer: int | None = None,
    now: datetime | None = None,
) -> tuple[list[TipMonth], str, str]:
    """Reactions to the monthly tips as a reader sees them: the published months (newest
    first), and the running month with its band of reactions so far. No access check."""
    now = now or datetime.now(UTC)
    team = store.get_team(team_id)
    month = month_of(now)
    if team is not None and team["is_demo"]:
        return [], month, "minder dan 3"
    publish_due(store, now, team_id=team_id, k=k)
    rows = store.snapshot_rows(team_id, kind=KIND_TIPS)
    ids = [int(r["id"]) for r in rows]
    me = store.snapshot_index(viewer, ids) if viewer is not None else {}
    texts: dict[int, list[str]] = {}
    for sid, _theme, _question, text in store.snapshot_text_rows(ids):
        texts.setdefault(int(sid), []).append(str(text))
    months = [tip_month_view(json.loads(r["data"]), texts.get(int(r["id"]), []), k,
                             me.get(int(r["id"])))
              for r in reversed(rows)]
    return months, month, n_band(store.month_reactions(team_id, month), k)


def team_report_for(
    store: Store, member_id: int | None, team_id: int, *, action: str, k: int = MIN_K,
    periods: list[str] | None = None, last: int | None = None, now: datetime | None = None,
    content: object | None = None,
) -> TeamReport:
    """A team's view for a member who may read it (``store.may_read_team``); audited.

    ``member_id=None`` is the operator on the command line (audited as such).
    """
    if member_id is not None and not store.may_read_team(member_id, team_id):
        with store.transaction():
            store.audit(f"{action}:denied", actor=member_id, team_id=team_id)
        raise AccessDenied()
    with store.transaction():
        store.audit(action, actor=member_id, team_id=team_id)
    return team_report(store, team_id, k=k, viewer=member_id, periods=periods, last=last,
                       now=now, content=content)


def pack_reports_for(
    store: Store, member_id: int | None, team_id: int, *, action: str, k: int = MIN_K,
    last: int | None = None, now: datetime | None = None, content: object | None = None,
) -> list[tuple[object, TeamReport]]:
    """Every content pack of a team other than the Praatplaat that has something to show (a
    published period or answers in the open one), each as its own report, for a member who may
    read the team; audited once as ``<action>:packs``. Nothing is averaged across packs.

    Returns (pack, report) pairs in the order of the team's packs; the pack is the one the team
    answers now (its latest version), for titles and questions."""
    if member_id is not None and not store.may_read_team(member_id, team_id):
        with store.transaction():
            store.audit(f"{action}:packs:denied", actor=member_id, team_id=team_id)
        raise AccessDenied()
    team = store.get_team(team_id)
    if team is None or team["is_demo"]:
        return []
    from bot.packs import PackLibrary

    lib = PackLibrary(store, _content(content))  # type: ignore[arg-type]
    answered = [p for p in store.answer_packs(team_id) if p != "praatplaat"]
    if not answered:
        return []
    with store.transaction():
        store.audit(f"{action}:packs", actor=member_id, team_id=team_id,
                    detail=" ".join(answered))
    out: list[tuple[object, TeamReport]] = []
    for pack_id in answered:
        pack = lib.for_answer(team_id, pack_id, None)
        if pack is None:
            continue
        report = team_report(store, team_id, k=k, viewer=member_id, last=last, now=now,
                             content=content, pack=pack_id)
        if report.periods or getattr(report, "open_period", None):
            out.append((pack, report))
    return out


def theme_titles(content: object) -> dict[str, str]:
    return {t.id: t.title for t in content.praatplaat.themes}  # type: ignore[attr-defined]
