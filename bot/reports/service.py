"""The one place that turns stored answers into a report for someone who may read it.

Chat (/rapport), CLI exports and the dashboard all go through :func:`team_report_for`, which
checks access, writes the audit log and applies the anonymity rules.
"""

from __future__ import annotations

import random
from datetime import datetime

from bot.reports.aggregate import StoredAnswer, TeamReport, build_team_report
from bot.store import Store


class AccessDenied(Exception):
    """The member may not read this team. The message says nothing about the team."""

    def __init__(self) -> None:
        super().__init__("Je hebt geen toegang tot dit team.")


def load_records(store: Store, team_id: int, periods: list[str] | None = None) -> list[StoredAnswer]:
    parse, new = datetime.fromisoformat, tuple.__new__
    return [
        new(StoredAnswer, (r[0], r[1], r[2], r[3], r[4], parse(r[5]), r[6], r[7], bool(r[8])))
        for r in store.team_answer_rows(team_id, periods)
    ]


def team_report(
    store: Store, team_id: int, *, k: int = 3, periods: list[str] | None = None,
    rng: random.Random | None = None,
) -> TeamReport:
    """Aggregates of one team with suppression (no access check: callers check)."""
    return build_team_report(
        load_records(store, team_id, periods), team_id, periods=periods, k=k,
        rng=rng or random.Random(), roles=store.team_roles(team_id),
    )


def team_report_for(
    store: Store, member_id: int | None, team_id: int, *, action: str, k: int = 3,
    periods: list[str] | None = None, rng: random.Random | None = None,
) -> TeamReport:
    """A team's report for a member with a manager or policy role in that team; audited.

    ``member_id=None`` is the operator on the command line (audited as such).
    """
    if member_id is not None and not store.may_read_team(member_id, team_id):
        with store.transaction():
            store.audit(f"{action}:denied", actor=member_id, team_id=team_id)
        raise AccessDenied()
    with store.transaction():
        store.audit(action, actor=member_id, team_id=team_id)
    return team_report(store, team_id, k=k, periods=periods, rng=rng)


def theme_titles(content: object) -> dict[str, str]:
    return {t.id: t.title for t in content.praatplaat.themes}  # type: ignore[attr-defined]
