"""When things are due (tips, invites, reminders) and the outbox that delivers them.

- :mod:`bot.schedule.calendar`: working days, tip slots, quarters (pure, Europe/Amsterdam)
- :mod:`bot.schedule.tips`: a monthly tip as chat messages
- :mod:`bot.schedule.planner`: due work from the store -> outbox rows, exactly once
- :mod:`bot.schedule.dispatcher`: outbox -> platforms, under rate limits, crash-safe
"""

from __future__ import annotations

from bot.schedule.calendar import (
    TeamSchedule,
    is_working_day,
    is_working_time,
    month_period,
    next_working_time,
    quarter_of,
    quarter_slot,
    tip_slot,
)
from bot.schedule.dispatcher import (
    Dispatcher,
    DispatchStats,
    Limits,
    RetryAfter,
    Sender,
    TransientError,
    Uncertain,
    UncertainPolicy,
    Unreachable,
    drop_uncertain,
    recover_in_flight,
    requeue_uncertain,
    status_counts,
    status_text,
)
from bot.schedule.planner import (
    PlanResult,
    plan_due,
    schedule_overview,
    set_team_schedule,
    telegram_link,
)
from bot.schedule.tips import preview_tip, tip_replies

__all__ = [
    "DispatchStats",
    "Dispatcher",
    "Limits",
    "PlanResult",
    "RetryAfter",
    "Sender",
    "TeamSchedule",
    "TransientError",
    "Uncertain",
    "UncertainPolicy",
    "Unreachable",
    "drop_uncertain",
    "is_working_day",
    "is_working_time",
    "month_period",
    "next_working_time",
    "plan_due",
    "preview_tip",
    "quarter_of",
    "quarter_slot",
    "recover_in_flight",
    "requeue_uncertain",
    "schedule_overview",
    "set_team_schedule",
    "status_counts",
    "status_text",
    "telegram_link",
    "tip_replies",
    "tip_slot",
]
