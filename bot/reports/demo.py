"""The Demoteam's report: a synthetic example, never real answers.

Anyone can join the Demoteam to try the bot, so its real answers are nobody's business: its
report (chat, dashboard, exports) is built from answers made up here, deterministically (the same
period always gives the same example), for nine imaginary colleagues over the last four quarters,
and it says so: "Voorbeeld met verzonnen antwoorden". It goes through the same aggregation and
view rules as a real team, so it shows exactly what a real report looks like.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from bot.periods import quarter_of
from bot.reports.aggregate import MIN_K, AnswerRecord, TeamReport
from bot.reports.snapshot import ROLE_GROUP, content_structure, view_of_records

__all__ = ["DEMO_NOTE", "DEMO_QUARTERS", "demo_periods", "demo_records", "demo_report"]

DEMO_NOTE = "Voorbeeld met verzonnen antwoorden"
DEMO_QUARTERS = 4
#: the imaginary team: member number -> role (four managers and policy officers, who always
#: take part, and eight professionals, so that the example shows a whole mirror)
DEMO_ROLES = {**{m: "manager" for m in (1, 2, 3, 4)}, **{m: "beleid" for m in (5, 6, 7, 8)},
              **{m: "professional" for m in range(9, 17)}}
#: how each layer sees things in the example: policy a bit rosier than practice
DEMO_LEAN = {"manager": 0.3, "beleid": 0.7, "professional": -0.2}
#: made-up explanations, shared "anonymously" by imaginary colleagues
DEMO_TEXTS = (
    "(voorbeeld) We bellen elkaar vaker even op voordat we een besluit nemen.",
    "(voorbeeld) Het casusoverleg helpt, maar het schiet er soms bij in.",
    "(voorbeeld) Ik mis een vast aanspreekpunt bij de gemeente.",
    "(voorbeeld) Sinds we samen op huisbezoek gaan, snap ik de ander beter.",
    "(voorbeeld) Meer tijd om te leren van wat goed ging zou fijn zijn.",
)


def demo_periods(now: datetime, count: int = DEMO_QUARTERS) -> list[str]:
    """The ``count`` quarters that ended before ``now``, oldest first."""
    year, quarter = (int(x) for x in quarter_of(now).split("-Q"))
    out: list[str] = []
    for _ in range(count):
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
        out.append(f"{year}-Q{quarter}")
    return out[::-1]


def demo_records(team_id: int, periods: list[str], content: Any) -> list[AnswerRecord]:
    """Synthetic answers: every imaginary colleague answers the questions of their role, around
    a level per theme that slowly rises, with some explanations shared."""
    themes = list(content.praatplaat.themes)
    records: list[AnswerRecord] = []
    for step, period in enumerate(periods):
        rng = random.Random(f"teamspiegel-demo:{period}")
        year, quarter = (int(x) for x in period.split("-Q"))
        at = datetime(year, 3 * quarter - 2, 15, 10, 0)
        for member, role in DEMO_ROLES.items():
            if role == "professional" and rng.random() < 0.1:
                continue  # not everybody takes part every quarter
            for number, theme in enumerate(themes):
                level = (2.6 + 0.15 * ((number * 7) % 10) + 0.12 * step
                         + DEMO_LEAN.get(role, 0.0) * ((number % 3) - 0.5))
                for question in theme.questions:
                    if not question.for_role(role):
                        continue
                    if getattr(question, "kind", "scale") == "text":
                        if rng.random() < 0.3:
                            records.append(AnswerRecord(
                                member, team_id, theme.id, question.id, period, at, None,
                                rng.choice(DEMO_TEXTS), True))
                        continue
                    scale = min(5, max(1, round(rng.gauss(level, 0.9))))
                    text = rng.choice(DEMO_TEXTS) if rng.random() < 0.05 else None
                    records.append(AnswerRecord(member, team_id, theme.id, question.id, period,
                                                at, scale, text, text is not None))
    return records


def demo_report(
    team_id: int, *, now: datetime, k: int = MIN_K, content: Any, last: int | None = None,
) -> TeamReport:
    """The Demoteam's view: the synthetic answers through the real snapshot rules, marked as
    an example (``report.demo``)."""
    periods = demo_periods(now)
    if last is not None:
        periods = periods[-last:] if last > 0 else []
    records = demo_records(team_id, periods, content)
    shape = content_structure(content)
    groups = {m: ROLE_GROUP.get(role, role) for m, role in DEMO_ROLES.items()}
    return view_of_records(records, team_id, k=k, periods=periods, roles=groups,
                           questions=shape.questions, everyone=shape.everyone,
                           score=shape.score, total_themes=shape.total_themes,
                           asked=shape.asked, team_size=len(DEMO_ROLES), current=shape, demo=True,
                           rng=random.Random(f"teamspiegel-demo-texts:{','.join(periods)}"))
