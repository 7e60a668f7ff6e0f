"""Reports for readers: privacy-safe aggregates, frozen snapshots, charts and exports."""

from bot.reports.aggregate import (
    AnswerRecord,
    Cell,
    Change,
    Comparison,
    Insights,
    TeamReport,
    TextItem,
    build_team_report,
    compare_teams,
    month_of,
    quarter_of,
    report_to_rows,
    summary_nl,
)

__all__ = [
    "AnswerRecord",
    "Cell",
    "Change",
    "Comparison",
    "Insights",
    "TeamReport",
    "TextItem",
    "build_team_report",
    "compare_teams",
    "month_of",
    "quarter_of",
    "report_to_rows",
    "summary_nl",
]
