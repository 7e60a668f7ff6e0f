"""``/dashboard`` in the chat: a one-time login link to the dashboard, for readers only.

Plugged into the engine as ``dashboard_link`` (:class:`bot.engine.turn.Plugins`) by
:func:`bot.app.install_plugins`; the engine and the reports never import the dashboard.
"""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.engine.messages import Link, Reply
from bot.engine.turn import Turn
from bot.web.auth import create_login_link

__all__ = ["DashboardLink"]

log = logging.getLogger(__name__)


class DashboardLink:
    """The ``dashboard_link`` plug-in: a login link (15 minutes, single use) for someone with
    a granted read right; the link is personal (the engine marks it so)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, turn: Turn) -> list[Reply]:
        member_id = turn.member_id
        if member_id is None or not turn.store.report_teams(member_id):
            return [Reply(turn.text("not_manager"))]
        try:
            url = create_login_link(turn.store, member_id, self.settings, now=turn.now())
        except (ValueError, RuntimeError) as exc:  # e.g. no public address configured
            log.warning("no dashboard link: %s", exc)
            return [Reply(turn.text("dashboard_missing"))]
        return [Reply(turn.text("dashboard_link"),
                      links=[Link(turn.text("dashboard_button"), url)])]
