"""Wires the planner and the dispatcher into the running bot (see :func:`bot.app.serve`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from bot.engine.core import Engine
from bot.schedule.dispatcher import Dispatcher, Limits
from bot.schedule.planner import plan_due
from bot.schedule.retention import RetentionTick

log = logging.getLogger(__name__)


def _links(senders: dict[str, Any]) -> Any:
    """Private-chat links under group tips, from senders that know how to make them."""

    def link(platform: str, period: str) -> str | None:
        make = getattr(senders.get(platform), "private_link", None)
        return make(f"tip-{period}") if make else None

    return link


#: report snapshots published per tick at most (a catch-up after an upgrade takes a few ticks
#: instead of holding the event loop; ~5 ms each)
PUBLISH_PER_TICK = 50


def publish_reports(engine: Engine, settings: Settings, now: datetime) -> None:
    """Publish every period that ended and has no report snapshot yet (see
    :func:`bot.reports.service.publish_due`); a failure is logged, never fatal."""
    try:
        from bot.reports.service import publish_due
    except ImportError:  # reports not installed in this build
        return
    try:
        publish_due(engine.store, now, k=max(3, int(settings.min_group)), content=engine.content,
                    limit=PUBLISH_PER_TICK)
    except Exception:
        log.exception("publishing report snapshots failed")


async def run_schedule(
    engine: Engine, settings: Settings, senders: dict[str, Any], stop: asyncio.Event
) -> None:
    """Plan due work from the store every tick and drain the outbox until ``stop``; publish
    report snapshots of ended periods on the same tick."""
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
    )
    links = _links(senders)
    retention = RetentionTick(store, settings.retention_years)

    def plan(now: datetime) -> object:
        try:  # old answers and audit entries go (at most once an hour)
            retention(now)
        except Exception:
            log.exception("retention purge failed")
        publish_reports(engine, settings, now)
        return plan_due(store, now, content=engine.content, links=links,
                        platforms=list(senders))

    await dispatcher.run_forever(stop, tick_seconds=1.0, plan=plan,
                                 plan_every=settings.tick_seconds)
