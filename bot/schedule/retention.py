"""Retention: answers and the audit log are kept for a limited time, then deleted.

The period is ``TEAMSPIEGEL_RETENTION_YEARS`` (default 3 years, :mod:`bot.config`). The schedule's
tick (:func:`bot.schedule.runner.run_schedule`) calls a :class:`RetentionTick` with the current
time; at most once an hour it deletes answers given before ``now - period``, reflection runs
left without answers, tip reactions, audit log entries and finished outbox rows of that age
(:meth:`bot.store.Store.purge_older_than`), and then checkpoints the WAL so that nothing of it
stays readable in the database files (``secure_delete`` is on).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot.store import Store

__all__ = ["PURGE_EVERY", "RetentionTick", "cutoff", "describe", "purge_expired"]

log = logging.getLogger(__name__)

#: how often the tick looks for expired data
PURGE_EVERY = timedelta(hours=1)


def cutoff(now: datetime, years: float) -> datetime:
    """The moment before which data is expired."""
    if now.tzinfo is None:
        raise ValueError("cutoff needs an aware datetime")
    return now - timedelta(days=365.25 * years)


def _years_nl(years: float) -> str:
    if float(years).is_integer():
        n = int(years)
        return f"{n} jaar"
    return f"{years:g} jaar".replace(".", ",")


def describe(years: float) -> str:
    """One Dutch line for ``teamspiegel status`` and ``teamspiegel schedule``."""
    return (f"Bewaartermijn: antwoorden, reacties op tips en het logboek {_years_nl(years)} "
            "(TEAMSPIEGEL_RETENTION_YEARS); daarna wist de planning ze vanzelf.")


def purge_expired(store: Store, now: datetime, years: float) -> dict[str, int]:
    """Delete what is older than the retention period at ``now``; returns counts per table."""
    before = cutoff(now, years).astimezone(UTC).isoformat(timespec="seconds")
    counts = store.purge_older_than(before)
    if any(counts.values()):
        log.info("retention (%s): deleted %s from before %s", _years_nl(years),
                 {k: v for k, v in counts.items() if v}, before[:10])
        store.checkpoint()
    return counts


class RetentionTick:
    """Called on every schedule tick; purges at most once per ``every`` (and at once after the
    clock jumped backwards)."""

    def __init__(self, store: Store, years: float, every: timedelta = PURGE_EVERY) -> None:
        self.store = store
        self.years = years
        self.every = every
        self.last: datetime | None = None

    def __call__(self, now: datetime) -> dict[str, int] | None:
        if self.last is not None and self.last <= now < self.last + self.every:
            if self.store.checkpoint_pending:  # an earlier erasure could not truncate yet
                self.store.checkpoint()
            return None
        self.last = now
        return purge_expired(self.store, now, self.years)
