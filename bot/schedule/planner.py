"""What is due now: computes due work from the store and puts it in the outbox, exactly once.

:func:`plan_due` keeps no state in memory. Each run looks at the store and the clock, and inserts
outbox rows with a unique dedup key ``{platform}:{chat_id}:{kind}:{period}`` (``INSERT OR
IGNORE``), so a restart, a second process or a clock jump can never plan a message twice.

Kinds and periods:

``tip``       monthly tip, period ``2026-07``; private chats and linked team group chats
``invite``    quarterly reflection invite, period ``2026-Q3``; private chats
``reminder``  reminder for an unfinished reflection run, period ``run{id}:1`` / ``run{id}:2``

Catch-up: a tip or invite is planned from its slot until :data:`CATCH_UP` (5 days) after it, so
a bot that was down over a long weekend still sends this month's tip, but a bot started in the
middle of the month does not send a tip that is weeks old (it waits for next month). A row
planned on a later day than its slot waits for working time (09:00-17:00 on a working day).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.content import ROLES
from bot.engine.messages import Choice, Reply, global_button, reply_to_payload
from bot.engine.team_actions import tip_note
from bot.nl import MONTHS_SHORT, WEEKDAYS_SHORT
from bot.schedule.calendar import (
    AMSTERDAM,
    TeamSchedule,
    cadence_includes,
    is_working_time,
    next_working_day,
    next_working_time,
    quarter_period,
    quarter_slot,
    quarter_start,
    tip_slot,
)
from bot.schedule.tips import tip_replies

if TYPE_CHECKING:
    from bot.content import Content
    from bot.store import Store

__all__ = [
    "CATCH_UP",
    "INVITE_TEXT",
    "KIND_INVITE",
    "KIND_REMINDER",
    "KIND_TIP",
    "LinkProvider",
    "MIN_SOCIAL_PROOF",
    "PlanResult",
    "REMINDER_FIRST",
    "REMINDER_GAP",
    "REMINDER_MAX_AGE",
    "REMINDER_SECOND",
    "invite_replies",
    "iso",
    "plan_due",
    "reminder_replies",
    "telegram_link",
]

log = logging.getLogger(__name__)

KIND_TIP = "tip"
KIND_INVITE = "invite"
KIND_REMINDER = "reminder"

#: How long after its slot a missed tip or invite is still sent.
CATCH_UP = timedelta(days=5)
#: First reminder when a run has been idle this long, second when idle this long.
REMINDER_FIRST = timedelta(days=3)
REMINDER_SECOND = timedelta(days=7)
#: The second reminder also waits this long after the first was planned (so a bot that was down
#: for a week does not send both at once).
REMINDER_GAP = timedelta(days=2)
#: Runs idle for longer than this get no (first) reminder any more: too late to nudge.
REMINDER_MAX_AGE = timedelta(days=28)
#: Social proof in reminders only from this many colleagues (privacy: never below 3).
MIN_SOCIAL_PROOF = 3

INVITE_TEXT = (
    "Een nieuw kwartaal: tijd om weer even stil te staan bij jullie samenwerking. "
    "De hele ronde is {questions} vragen, zo'n {minutes} minuten. Liever één thema, of later?"
)
#: about how long a question takes (a score, now and then a few words): ~20 seconds
SECONDS_PER_QUESTION = 20
REMINDER_TEXTS = {
    1: "Je reflectie staat nog open. Zin om verder te gaan waar je gebleven was?",
    2: "Nog één keer een seintje: je reflectie staat nog open. Daarna laat ik je met rust.",
}
REMINDER_STOP_HINT = "Liever geen herinneringen? Stuur /herinneringen uit."

#: (platform, period) -> URL of the bot's private chat, for the button in group tips.
LinkProvider = Callable[[str, str], "str | None"]


@dataclass(slots=True)
class PlanResult:
    """What one :func:`plan_due` call inserted (per kind; ``groups`` = group rows among tips)."""

    counts: dict[str, int] = field(
        default_factory=lambda: {KIND_TIP: 0, KIND_INVITE: 0, KIND_REMINDER: 0}
    )
    groups: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def iso(moment: datetime) -> str:
    """The store's timestamp format: UTC, seconds, ``+00:00``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def telegram_link(bot_username: str) -> LinkProvider:
    """Links to the private chat with a Telegram bot (``https://t.me/<name>``)."""
    name = bot_username.lstrip("@")

    def link(platform: str, period: str) -> str | None:
        return f"https://t.me/{name}" if platform == "telegram" else None

    return link


def _payload(replies: list[Reply]) -> str:
    return json.dumps([reply_to_payload(r) for r in replies], ensure_ascii=False,
                      separators=(",", ":"))


def minutes_for(questions: int) -> int:
    """About how long a round takes, in whole five minutes (29-33 questions: 10)."""
    return max(5, round(questions * SECONDS_PER_QUESTION / 60 / 5) * 5)


def invite_replies(questions: int = 29) -> list[Reply]:
    """The invitation for a new round: how many questions (the person's role decides) and about
    how long; the whole round, one theme, or later."""
    text = INVITE_TEXT.format(questions=questions, minutes=minutes_for(questions))
    return [Reply(text=text, choices=[Choice("Hele ronde", global_button("go", "tour")),
                                      Choice("Eén thema", global_button("go", "theme")),
                                      Choice("Later", global_button("go", "later"))],
                  expects="choice")]


def social_proof(colleagues: int, others: int) -> str | None:
    """Coarse words for how many others of the team reflected this quarter, never a count that
    moves by one (who has or has not answered is never shown): nothing below
    :data:`MIN_SOCIAL_PROOF`, then "a few", then "more than half"."""
    if colleagues < MIN_SOCIAL_PROOF:
        return None
    if colleagues * 2 > others:
        return "Al meer dan de helft van je team heeft dit kwartaal gereflecteerd."
    return "Al een paar collega's uit je team hebben dit kwartaal gereflecteerd."


def reminder_replies(n: int, colleagues: int, others: int | None = None) -> list[Reply]:
    """Reminder ``n`` (1 or 2); ``colleagues`` = other team members who reflected this quarter,
    ``others`` = the team's other members (default: as many as ``colleagues``)."""
    parts = [REMINDER_TEXTS[n]]
    proof = social_proof(colleagues, colleagues if others is None else others)
    if proof:
        parts.append(proof)
    parts.append(REMINDER_STOP_HINT)
    return [Reply(text="\n\n".join(parts), choices=[Choice("Verder gaan", global_button("go", "resume"))],
                  expects="choice")]


def _months_back(local: datetime) -> list[tuple[int, int]]:
    """(year, month) of the previous and the current month (catch-up may cross a month end)."""
    prev = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return [prev, (local.year, local.month)]


def _not_before(slot: datetime, now: datetime) -> datetime:
    """On the slot's own day: the slot (the team chose that time). On a later catch-up day:
    the next working time."""
    if now.astimezone(AMSTERDAM).date() == slot.date():
        return slot
    return next_working_time(now)


def _due(slot: datetime | None, now: datetime) -> bool:
    return slot is not None and slot <= now < slot + CATCH_UP


def plan_due(
    store: Store,
    now: datetime,
    *,
    content: Content | None = None,
    links: LinkProvider | None = None,
    bot_username: str | None = None,
    platforms: Iterable[str] | None = None,
) -> PlanResult:
    """Insert every outbox row that is due at ``now`` and not planned yet.

    ``platforms``: only plan for chats on these platforms (None = all). ``links`` (or, for
    Telegram, ``bot_username``) gives the private-chat link shown under group tips.
    """
    if now.tzinfo is None:
        raise ValueError("plan_due needs an aware datetime")
    if links is None and bot_username:
        links = telegram_link(bot_username)
    plats = None if platforms is None else sorted(set(platforms))
    result = PlanResult()
    now_s = iso(now)
    with store.transaction():
        result.cancelled = store.cancel_unwanted(now_s)
        teams = store.schedule_teams()
        _plan_tips(store, now, _using(store, teams, "kalender"), content, links, plats, result)
        # a pack's series tip before the invitation: the invitation keeps clear of both
        _plan_series(store, now, teams, content, links, plats, result)
        _plan_invites(store, now, _using(store, teams, "praatplaat"), plats, result, content)
        if is_working_time(now):
            _plan_reminders(store, now, plats, result)
    if result.total or result.cancelled:
        log.info("planned %s (%d group rows), cancelled %d", result.counts, result.groups,
                 result.cancelled)
    return result


def _using(store: Store, teams: list[dict[str, Any]], pack: str) -> list[dict[str, Any]]:
    """The teams that use a default pack (the calendar's tips, the Praatplaat's quarterly
    invite): an owner may switch either off (bot.packs); a team that never chose uses both."""
    off = set(store.teams_choosing(pack, enabled=False))
    return [t for t in teams if int(t["id"]) not in off]


def _plan_series(
    store: Store,
    now: datetime,
    teams: list[dict[str, Any]],
    content: Content | None,
    links: LinkProvider | None,
    plats: list[str] | None,
    result: PlanResult,
) -> None:
    """The monthly tip of a content pack's series (bot.schedule.series), counted as ``series``
    (only when there is one: the other counts stay as they were)."""
    from bot.schedule.series import KIND_SERIES, plan_series

    extra = set(store.teams_with_extra_packs())
    teams = [t for t in teams if int(t["id"]) in extra]
    if not teams:  # most teams use the default packs only: nothing to load
        return
    if content is None:
        from bot.content import get_content

        content = get_content()
    private, groups = plan_series(store, now, teams, content, links, plats)
    if private + groups:
        result.counts[KIND_SERIES] = result.counts.get(KIND_SERIES, 0) + private + groups
        result.groups += groups


def _series_overview(store: Store, team: dict[str, Any], schedule: TeamSchedule,
                     now: datetime, months: int, content: Content | None) -> list[str]:
    """The next tips of a team's pack series, for ``teamspiegel schedule``."""
    if int(team["id"]) not in set(store.teams_with_extra_packs()):
        return []
    from bot.content import Pack
    from bot.packs import PackLibrary
    from bot.schedule.series import series_slot, series_tip

    if content is None:
        from bot.content import get_content

        content = get_content()
    lib = PackLibrary(store, content)
    team_id = int(team["id"])
    calendar = lib.is_enabled(team_id, "kalender")
    lines: list[str] = []
    for pack in lib.enabled(team_id):
        chosen = store.pack_chosen_at(team_id, pack.id)
        if not isinstance(pack, Pack) or not pack.tips or chosen is None:
            continue
        local = now.astimezone(AMSTERDAM)
        year, month, shown = local.year, local.month, 0
        for _ in range(months + 2):
            slot = series_slot(year, month, schedule, after_calendar=calendar)
            tip = series_tip(pack, datetime.fromisoformat(chosen), year, month, schedule,
                             after_calendar=calendar)
            if slot is not None and slot > now and tip is not None and shown < months:
                lines.append(f"  reeks      {_when(slot)}  {pack.id} {tip.number}: {tip.title}")
                shown += 1
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return lines


def _schedule_of(team: dict[str, Any]) -> TeamSchedule:
    return TeamSchedule.from_json(team.get("tip_schedule"))


def _plan_tips(
    store: Store,
    now: datetime,
    teams: list[dict[str, Any]],
    content: Content | None,
    links: LinkProvider | None,
    plats: list[str] | None,
    result: PlanResult,
) -> None:
    local = now.astimezone(AMSTERDAM)
    # (period, not_before) -> team ids: teams sharing a slot are planned in one statement
    due: dict[tuple[str, int, str], list[int]] = {}
    for team in teams:
        schedule = _schedule_of(team)
        for year, month in _months_back(local):
            slot = tip_slot(year, month, schedule)
            if slot is not None and _due(slot, now):
                key = (f"{year}-{month:02d}", month, iso(_not_before(slot, now)))
                due.setdefault(key, []).append(int(team["id"]))
    if not due:
        return
    if content is None:
        from bot.content import get_content

        content = get_content()
    kalender = content.kalender
    source = kalender.source.attribution()
    for (period, month, not_before), team_ids in sorted(due.items()):
        tip = kalender.tip_for_month(month)
        notes = {tid: _followup_note(store, tid, content, now) for tid in team_ids}

        # teams without news share one payload and one statement
        plain = [tid for tid in team_ids if not notes[tid]]
        batches = ([(plain, None)] if plain else []) + [
            ([tid], notes[tid]) for tid in team_ids if notes[tid]
        ]
        # privately only to the people the tip speaks to (its audience); every tip still goes
        # to the team's linked group chats
        audience = list(tip.audience)
        roles = None if "all" in audience else [r for r in ROLES if r in audience]
        for ids, note in batches:
            result.counts[KIND_TIP] += store.enqueue_member_rows(
                team_ids=ids, kind=KIND_TIP, period=period, payload=_tip_payload(tip, period, source, False, note),
                not_before=not_before, now=iso(now), platforms=plats, roles=roles,
            )
        for team_id in team_ids:
            for platform in store.team_chat_platforms(team_id, plats):
                link = links(platform, period) if links else None
                n = store.enqueue_group_rows(
                    team_id=team_id, platform=platform, kind=KIND_TIP, period=period,
                    payload=_tip_payload(tip, period, source, True, notes[team_id], link),
                    not_before=not_before,
                    now=iso(now),
                )
                result.counts[KIND_TIP] += n
                result.groups += n


def _tip_payload(
    tip: Any, period: str, source: str, group: bool, note: str | None, link: str | None = None
) -> str:
    # "you said, we did" travels with the tip
    out = tip_replies(tip, period, group=group, private_link=link, source_line=source, note=note)
    return _payload(out)


def _followup_note(store: Store, team_id: int, content: Any, now: datetime) -> str | None:
    """"Wat we ermee doen" in the monthly tip: the team's open actions and those done in the
    past month (:func:`bot.engine.team_actions.tip_note`), or None."""
    return tip_note(store, team_id, content, now)


def _apart_from_tip(schedule: TeamSchedule, slot: datetime, now: datetime) -> datetime:
    """When the invitation for a new round goes out: at its slot (:func:`quarter_slot` keeps
    that clear of the tip's day); caught up later (the bot was down), on the next working day
    when the month's tip is caught up that same day. Computed, never looked up: this runs for
    every team on every tick of the catch-up window."""
    moment = _not_before(slot, now)
    if moment == slot:
        return moment
    local = moment.astimezone(AMSTERDAM)
    # a pack's series tip "instead of the calendar" has the calendar tip's slot too
    tip = tip_slot(local.year, local.month, schedule)
    if tip is None:
        return moment
    tip_day = (_not_before(tip, now) if _due(tip, now) else tip).astimezone(AMSTERDAM).date()
    if local.date() != tip_day:
        return moment
    return datetime.combine(next_working_day(local.date()), schedule.at, tzinfo=AMSTERDAM)


def _plan_invites(
    store: Store,
    now: datetime,
    teams: list[dict[str, Any]],
    plats: list[str] | None,
    result: PlanResult,
    content: Content | None = None,
) -> None:
    local = now.astimezone(AMSTERDAM)
    quarter = (local.month - 1) // 3 + 1
    prev = (local.year, quarter - 1) if quarter > 1 else (local.year - 1, 4)
    due: dict[tuple[str, str, str], list[int]] = {}
    for team in teams:
        schedule = _schedule_of(team)
        for year, q in (prev, (local.year, quarter)):
            if not cadence_includes(team.get("reflection_cadence"), q):
                continue  # rounds every half year, once a year, or paused
            slot = quarter_slot(year, q, schedule)
            if _due(slot, now):
                # members who already started a run this quarter need no invite
                since = iso(quarter_start(slot))
                at = _apart_from_tip(schedule, slot, now)
                key = (quarter_period(year, q), iso(at), since)
                due.setdefault(key, []).append(int(team["id"]))
    if not due:
        return
    counts = _questions_per_role(content)
    for (period, not_before, since), team_ids in sorted(due.items()):
        for role in ROLES:  # the invitation says how many questions: the role decides
            result.counts[KIND_INVITE] += store.enqueue_member_rows(
                team_ids=team_ids, kind=KIND_INVITE, period=period,
                payload=_payload(invite_replies(counts[role])), not_before=not_before,
                now=iso(now), platforms=plats, skip_run_since=since, roles=[role],
            )


def _questions_per_role(content: Content | None) -> dict[str, int]:
    pp = getattr(content, "praatplaat", None)
    if pp is None:
        from bot.content import get_content

        pp = get_content().praatplaat
    return {role: sum(1 for q in pp.questions if q.for_role(role)) for role in ROLES}


def _plan_reminders(
    store: Store, now: datetime, plats: list[str] | None, result: PlanResult
) -> None:
    now_s = iso(now)
    candidates = store.reminder_candidates(
        now=now_s, stale_before=iso(now - REMINDER_FIRST), oldest=iso(now - REMINDER_MAX_AGE),
        platforms=plats,
    )
    if not candidates:
        return

    def key(c: dict[str, Any], n: int) -> str:
        return f"{c['platform']}:{c['chat_id']}:{KIND_REMINDER}:run{c['run_id']}:{n}"

    existing = store.outbox_by_keys([key(c, n) for c in candidates for n in (1, 2)])
    quarter_since = iso(quarter_start(now))
    second_idle = iso(now - REMINDER_SECOND)
    gap = iso(now - REMINDER_GAP)
    for c in candidates:
        first = existing.get(key(c, 1))
        if first is None:
            n = 1
        elif key(c, 2) in existing:
            continue  # never a third
        elif c["last_activity_at"] <= second_idle and first["created_at"] <= gap:
            n = 2
        else:
            continue
        colleagues = store.team_reflectors_since(
            int(c["team_id"]), quarter_since, exclude_member=int(c["member_id"])
        )
        others = store.team_member_count(int(c["team_id"])) - 1
        inserted = store.enqueue_row(
            platform=c["platform"], chat_id=c["chat_id"], kind=KIND_REMINDER,
            period=f"run{c['run_id']}:{n}",
            payload=_payload(reminder_replies(n, colleagues, others)),
            not_before=now_s, now=now_s, member_id=int(c["member_id"]),
            team_id=int(c["team_id"]),
        )
        result.counts[KIND_REMINDER] += int(inserted)


# -- team schedule administration (``teamspiegel schedule`` / ``teamspiegel team schedule``) --------

def _when(moment: datetime) -> str:
    local = moment.astimezone(AMSTERDAM)
    return (f"{WEEKDAYS_SHORT[local.weekday()]} {local.day} {MONTHS_SHORT[local.month - 1]} "
            f"{local.year} {local:%H:%M}")


def set_team_schedule(
    store: Store,
    team_id: int,
    *,
    off: bool | None = None,
    day: int | None = None,
    time: str | None = None,
    default: bool = False,
    reset: bool = False,
) -> TeamSchedule:
    """Change a team's monthly tip slot; fields left None keep their value.

    ``day``: the Nth working day (1..20), ``time``: ``HH:MM`` local (07:00-21:00), ``off``:
    no monthly tips (giving a day or time without ``off`` switches tips back on), ``default``
    (alias ``reset``): back to the default (first working day, 09:00) before applying the other
    arguments. Raises ValueError (Dutch message) for bad values or an unknown team.
    """
    team = store.get_team(team_id)
    if team is None:
        raise ValueError(f"team {team_id} bestaat niet")
    if default or reset:
        current = TeamSchedule()
    else:
        current = TeamSchedule.from_json(team.get("tip_schedule"))
    if off is None and (day is not None or time is not None):
        off = False
    new = TeamSchedule(
        off=current.off if off is None else bool(off),
        day=current.day if day is None else day,
        time=current.time if time is None else time.strip(),
    ).validate()
    if new.day == 1:
        new = TeamSchedule(off=new.off, day=None, time=new.time)
    with store.transaction():
        store.set_tip_schedule(team_id, new.to_json())
    return new


def schedule_overview(
    store: Store, now: datetime, months: int = 3, *, content: Content | None = None
) -> str:
    """Per team: the next ``months`` monthly tip slots with their tip, and the next quarterly
    invite (text for ``teamspiegel schedule``)."""
    if now.tzinfo is None:
        raise ValueError("schedule_overview needs an aware datetime")
    teams = store.schedule_teams()
    if not teams:
        return "Nog geen teams."
    titles: dict[int, str] = {}
    try:
        if content is None:
            from bot.content import get_content

            content = get_content()
        titles = {t.month: t.title for t in content.kalender.tips}
    except Exception as exc:  # the overview stays useful without content
        log.warning("no tip titles for the schedule overview: %s", exc)
    local = now.astimezone(AMSTERDAM)
    lines: list[str] = []
    for team in teams:
        schedule = _schedule_of(team)
        lines.append(f"{team['name']} (tips: {schedule.describe()})")
        if schedule.off:
            lines.append("  maandelijkse tip: uit")
        else:
            year, month, shown = local.year, local.month, 0
            for _ in range(months + 2):
                slot = tip_slot(year, month, schedule)
                if slot is not None and slot > now and shown < months:
                    lines.append(f"  tip        {_when(slot)}  {titles.get(month, '?')}")
                    shown += 1
                year, month = (year, month + 1) if month < 12 else (year + 1, 1)
        lines += _series_overview(store, team, schedule, now, months, content)
        cadence = team.get("reflection_cadence")
        if any(cadence_includes(cadence, q) for q in (1, 2, 3, 4)):
            year, quarter = local.year, (local.month - 1) // 3 + 1
            for _ in range(5):
                slot = quarter_slot(year, quarter, schedule)
                if slot > now and cadence_includes(cadence, quarter):
                    lines.append(f"  10 vragen  {_when(slot)}  {quarter_period(year, quarter)}")
                    break
                year, quarter = (year, quarter + 1) if quarter < 4 else (year + 1, 1)
        else:
            lines.append(f"  10 vragen: {team.get('reflection_cadence')}")
    return "\n".join(lines)
