"""Outbox queries (filled in by the schedule work)."""

from __future__ import annotations


class OutboxQueries:
    """Mixed into :class:`bot.store.Store`; uses ``self.conn``."""
