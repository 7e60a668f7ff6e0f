"""Wires the planner and the dispatcher into the running bot (see :func:`bot.app.serve`).

Besides planning and sending, the schedule keeps ``handled_events`` small: the ids of handled
updates and events are only needed while the platform may deliver them again (see
:data:`HANDLED_EVENTS_KEEP`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.engine.core import Engine
from bot.schedule.dispatcher import Dispatcher, Limits
from bot.schedule.planner import iso, plan_due
from bot.schedule.retention import RetentionTick
from bot.store import Store, is_outage

log = logging.getLogger(__name__)

#: How long a handled update/event id is remembered (replay protection), per platform.
#: Telegram hands out an unconfirmed update again for at most 24 hours: two days is safe (and
#: after a week without updates Telegram may start update ids anywhere, so old ids must go).
#: Matrix replays only the events after the last saved sync token: the sync of a crash, and a
#: gap filled with /messages after a downtime; both are handled by the first syncs after a
#: start, before any pruning, so a fortnight is ample. Other platforms: a fortnight.
HANDLED_EVENTS_KEEP = {"telegram": timedelta(days=2), "matrix": timedelta(days=14)}
DEFAULT_EVENTS_KEEP = timedelta(days=14)
#: pruning runs this often (with the planner)
PRUNE_EVERY = timedelta(hours=1)


def prune_handled_events(store: Store, now: datetime) -> int:
    """Forget handled event ids past their platform's window (see HANDLED_EVENTS_KEEP)."""
    n = 0
    known = set(HANDLED_EVENTS_KEEP)
    for platform, keep in HANDLED_EVENTS_KEEP.items():
        n += store.prune_events(iso(now - keep), platform=platform)
    for platform in set(store.event_platforms()) - known:
        n += store.prune_events(iso(now - DEFAULT_EVENTS_KEEP), platform=platform)
    if n:
        log.info("forgot %d handled event ids past their replay window", n)
    return n


def _links(senders: dict[str, Any]) -> Any:
    """Private-chat links under group tips, from senders that know how to make them."""

    def link(platform: str, period: str) -> str | None:
        make = getattr(senders.get(platform), "private_link", None)
        return make(f"tip-{period}") if make else None

    return link


#: report snapshots published per tick at most (a catch-up after an upgrade takes a few ticks
#: instead of holding the event loop; ~5 ms each)
PUBLISH_PER_TICK = 50


def plan_team_results(engine: Engine, settings: Settings, now: datetime,
                      platforms: list[str]) -> None:
    """Results back to the team after a round is published, and the owners' monthly question
    about open actions (:mod:`bot.schedule.results`); a failure is logged, never fatal."""
    from bot.schedule.results import plan_results

    try:
        plan_results(engine.store, now, content=engine.content,
                     k=max(3, int(settings.min_group)), platforms=platforms)
    except Exception:
        log.exception("planning team results failed")


def publish_reports(engine: Engine, settings: Settings, now: datetime) -> None:
    """Publish every period that ended and has no report snapshot yet (see
    :func:`bot.reports.service.publish_due`); a failure is logged, never fatal."""
    from bot.reports.service import publish_due

    try:
        publish_due(engine.store, now, k=max(3, int(settings.min_group)), content=engine.content,
                    limit=PUBLISH_PER_TICK)
    except Exception as exc:
        if is_outage(exc):  # the store says so, once per outage; published at a later tick
            engine.store.health.failed(exc)
        else:
            log.exception("publishing report snapshots failed")


def finish_sessions(engine: Engine, now: datetime) -> None:
    """Team conversations whose native poll never reported its end are summed up with the
    last counts (:func:`bot.engine.session.finish_stuck_sessions`); a failure is logged."""
    from bot.engine.session import finish_stuck_sessions

    try:
        finish_stuck_sessions(engine, now)
    except Exception as exc:
        if is_outage(exc):
            engine.store.health.failed(exc)
        else:
            log.exception("finishing team conversations failed")


async def run_schedule(
    engine: Engine, settings: Settings, senders: dict[str, Any], stop: asyncio.Event
) -> None:
    """Plan due work from the store every tick and drain the outbox until ``stop``; publish
    report snapshots of ended periods and prune old event ids on the same tick. Database errors
    and bugs are logged and waited out; only ``stop`` ends this."""
    if not senders:
        while not stop.is_set():
            publish_reports(engine, settings, datetime.now(UTC))
            try:
                await asyncio.wait_for(stop.wait(), timeout=settings.tick_seconds)
            except TimeoutError:
                pass
        return
    store = engine.store
    dispatcher = Dispatcher(
        store,
        senders,
        Limits(
            global_per_second=settings.rate_global_per_second,
            per_chat_per_second=settings.rate_chat_per_second,
            per_group_per_minute=settings.rate_group_per_minute,
        ),
        uncertain=settings.uncertain_policy,
        on_delivered=engine.scheduled_delivered,
    )
    links = _links(senders)
    retention = RetentionTick(store, settings.retention_years)
    next_prune: datetime | None = None

    def plan(now: datetime) -> object:
        nonlocal next_prune
        try:  # old answers and audit entries go (at most once an hour)
            retention(now)
        except Exception as exc:
            if is_outage(exc):
                raise  # reported once by the dispatcher's planning; tried again next tick
            log.exception("retention purge failed")
        publish_reports(engine, settings, now)
        plan_team_results(engine, settings, now, list(senders))
        finish_sessions(engine, now)
        result = plan_due(store, now, content=engine.content, links=links,
                          platforms=list(senders))
        if next_prune is None or now >= next_prune:
            prune_handled_events(store, now)
            next_prune = now + PRUNE_EVERY
        return result

    await dispatcher.run_forever(stop, tick_seconds=1.0, plan=plan,
                                 plan_every=settings.tick_seconds)
