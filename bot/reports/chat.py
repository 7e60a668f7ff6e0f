"""Reports in the chat: ``/rapport``, ``/rapport THEMA``, ``/dashboard`` and follow-ups.

:func:`install` puts three hooks on the engine (the engine never imports this module):

``report``
    ``/rapport`` (and the menu's "Teamrapport"): per team the member may read a short summary
    of the latest published round plus a chart image, and how many took part in the open round
    so far (a band, no numbers); with several teams one block per team and a small comparison.
    ``/rapport THEMA`` (number 1-10, id or a piece of the title) drills into one theme: per
    question the mean, the number of people as a band and, where allowed, the spread in words,
    hidden cells as "–", and the texts whose authors chose to share them anonymously (no date).
    ``/rapport TEAMNAAM`` gives one team. Everything goes through
    :func:`bot.reports.service.team_report_for` (access check, audit log, snapshots); a team the
    member may not read gets the same answer as a team that does not exist.
``demo_report``
    the Demoteam's report: a synthetic example ("Voorbeeld met verzonnen antwoorden"), for any
    member of the Demoteam, never built from anybody's real answers (:mod:`bot.reports.demo`).
``dashboard_link``
    a single-use login link for the web dashboard (when :mod:`bot.web` is installed).
``followups``
    lines for ``/mijnreflecties``: what the team's managers wrote under "Wat we ermee doen", the
    latest per theme ("jullie zeiden, wij doen").

Charts are slow to draw (matplotlib), so PNG bytes are cached in memory. The key is what the
chart shows (periods, threshold and every total and theme cell as the reader sees it).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.engine.messages import Link, Reply
from bot.reports.aggregate import (
    LEVEL_TOTAL,
    MIN_K,
    NO_ANSWERS,
    Cell,
    TeamReport,
    compare_teams,
    format_number_nl,
    period_label_nl,
    summary_nl,
)
from bot.reports.charts import theme_chart_png
from bot.reports.demo import DEMO_NOTE
from bot.reports.service import (
    AccessDenied,
    pack_reports_for,
    team_report,
    team_report_for,
    theme_titles,
)

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.content import Content, Theme
    from bot.engine.core import Engine, Turn

__all__ = ["ChartCache", "ReportHooks", "install", "resolve_theme"]

log = logging.getLogger(__name__)

#: how many quarters the chat report looks back (the dashboard shows everything)
CHAT_PERIODS = 8
#: shared texts shown per theme in the chat (the rest is on the dashboard)
MAX_TEXTS = 6
MAX_TEXT_CHARS = 300
MAX_FOLLOWUP_THEMES = 5

MONTHS_NL = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
             "september", "oktober", "november", "december")

DASHBOARD_TEXT = "Je inloglink voor het dashboard (15 minuten geldig, één keer te gebruiken):"
DASHBOARD_LABEL = "Open het dashboard"
DASHBOARD_MISSING = ("Het dashboard is hier (nog) niet beschikbaar. "
                     "Met /rapport krijg je het teamrapport in de chat.")
UNKNOWN_ARG = ("Dat thema of team vind ik niet bij jouw teams. Kies een thema met een nummer, "
               "bijvoorbeeld /rapport 4, of typ /rapport voor het hele rapport.")
HIDDEN_NOTE = "– = verborgen: te weinig mensen (we tonen pas iets vanaf {k})."
OPEN_NOTE = "{period} loopt nog: cijfers komen als de ronde sluit."
DEMO_HEAD = f"{DEMO_NOTE}: zo ziet een teamrapport eruit."


def month_label_nl(month: str) -> str:
    """``"2026-07"`` -> ``"juli 2026"``."""
    year, _, mm = month.partition("-")
    if year.isdigit() and mm.isdigit() and 1 <= int(mm) <= 12:
        return f"{MONTHS_NL[int(mm) - 1]} {year}"
    return month


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def resolve_theme(content: Content, arg: str) -> list[Theme]:
    """Themes matching ``arg``: a number (1-10), an id, or a piece of a title (3+ letters)."""
    themes = list(content.praatplaat.themes)
    raw = " ".join(arg.lower().split())
    if raw.startswith("thema "):
        raw = raw[len("thema "):]
    raw = raw.rstrip(".")
    if not raw:
        return []
    if raw.isdigit():
        return [t for t in themes if t.number == int(raw)]
    exact = [t for t in themes if t.id == raw]
    if exact:
        return exact
    if len(raw) < 3:
        return []
    return [t for t in themes if raw in t.title.lower()]


class ChartCache:
    """A small LRU of PNG bytes, keyed by everything the chart draws."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(report: TeamReport, titles: dict[str, str]) -> tuple:
        cells = tuple(
            (c.level, c.period, c.theme_id, c.shown, c.reason, c.n_band, c.mean, c.spread)
            for c in (*report.totals, *report.themes)
        )
        return (report.team_id, report.k, tuple(report.periods), cells, report.demo,
                tuple(sorted(titles.items())))

    def png(self, report: TeamReport, titles: dict[str, str]) -> bytes:
        key = self.key(report, titles)
        data = self._items.get(key)
        if data is not None:
            self.hits += 1
            self._items.move_to_end(key)
            return data
        self.misses += 1
        data = theme_chart_png(report, titles)
        self._items[key] = data
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return data


class ReportHooks:
    """The engine hooks, holding the settings and the chart cache."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        min_group = getattr(settings, "min_group", MIN_K) if settings is not None else MIN_K
        self.k = max(MIN_K, int(min_group))
        self.charts = ChartCache()

    # -- /rapport ----------------------------------------------------------------------------

    def report(self, turn: Turn) -> list[Reply]:
        member_id = turn.member_id
        if member_id is None:
            return [Reply(turn.text("not_manager"))]
        store = turn.store
        teams = [t for t in store.report_teams(member_id)
                 if store.may_read_team(member_id, int(t["id"]))]
        if not teams:
            return [Reply(turn.text("not_manager"))]
        arg = turn.args.strip()
        if not arg:
            return self._overview(turn, teams)
        themes = resolve_theme(turn.content, arg)
        if len(themes) == 1:
            return self._theme(turn, teams, themes[0])
        if len(themes) > 1:
            options = "\n".join(f"/rapport {t.number} – {t.title}" for t in themes)
            return [Reply(f"Welk thema bedoel je?\n{options}")]
        team = store.team_by_name(arg)
        if team is not None:
            try:
                report = self._team_report(turn, member_id, int(team["id"]), "chat_report")
            except AccessDenied:
                return [Reply(UNKNOWN_ARG)]
            return [self._team_block(turn, team["name"], report)]
        return [Reply(UNKNOWN_ARG)]

    def _team_report(
        self, turn: Turn, member_id: int, team_id: int, action: str
    ) -> TeamReport:
        return team_report_for(turn.store, member_id, team_id, action=action, k=self.k,
                               last=CHAT_PERIODS, now=turn.now(), content=turn.content)

    def _reports(
        self, turn: Turn, teams: list[dict[str, Any]], action: str
    ) -> list[tuple[str, TeamReport]]:
        out: list[tuple[str, TeamReport]] = []
        for team in teams:
            try:
                report = self._team_report(turn, turn.member_id or 0, int(team["id"]), action)
            except AccessDenied:  # role changed between the two queries: say nothing
                continue
            out.append((str(team["name"]), report))
        return out

    def _overview(self, turn: Turn, teams: list[dict[str, Any]]) -> list[Reply]:
        reports = self._reports(turn, teams, "chat_report")
        if not reports:
            return [Reply(turn.text("not_manager"))]
        replies = [self._team_block(turn, name, report) for name, report in reports]
        by_name = {str(t["name"]): int(t["id"]) for t in teams}
        for name, report in reports:  # each other pack its own section, never averaged in
            if report.demo:
                continue
            try:
                packs = pack_reports_for(turn.store, turn.member_id, by_name[name],
                                         action="chat_report", k=self.k, last=CHAT_PERIODS,
                                         now=turn.now(), content=turn.content)
            except AccessDenied:
                continue
            replies += [Reply(pack_section(pack, name, pack_report))
                        for pack, pack_report in packs]
        real = [(name, report) for name, report in reports if not report.demo]
        if len(real) > 1:
            compare = self._compare(real)
            if compare:
                replies.append(Reply(compare))
        replies[-1].text += "\n\nPer thema: /rapport 1 t/m 10. " + \
            turn.content.praatplaat.source.attribution()
        return replies

    def _team_block(self, turn: Turn, name: str, report: TeamReport) -> Reply:
        titles = theme_titles(turn.content)
        period = report.insights.period
        head = f"Teamrapport {name}" + (f" ({period_label_nl(period)})" if period else "")
        if report.demo:
            head += f"\n{DEMO_HEAD}"
        text = f"{head}\n{summary_nl(report, titles)}"
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "team"
        reply = Reply(text)
        if not report.periods:  # nothing published yet: no chart to draw
            return reply

        def draw() -> None:  # after the commit: matplotlib must not hold the write lock
            reply.image = (f"teamrapport-{slug}.png", self.charts.png(report, titles))

        turn.later.append(draw)
        return reply

    @staticmethod
    def _compare(reports: list[tuple[str, TeamReport]]) -> str | None:
        """Team averages side by side for the latest period (shown cells only, no sum)."""
        rows = compare_teams([r for _, r in reports], LEVEL_TOTAL)
        if not rows:
            return None
        latest = rows[-1]
        lines = [f"Teams naast elkaar ({period_label_nl(latest.period)}, gemiddeld over alle "
                 "thema's):"]
        for name, report in reports:
            cell = latest.by_team.get(report.team_id)
            value = format_number_nl(cell.mean) if cell and cell.mean is not None else "–"
            lines.append(f"• {name}: {value}")
        return "\n".join(lines)

    # -- /rapport THEMA ------------------------------------------------------------------------

    def _theme(self, turn: Turn, teams: list[dict[str, Any]], theme: Theme) -> list[Reply]:
        reports = self._reports(turn, teams, f"chat_report_theme:{theme.id}")
        if not reports:
            return [Reply(turn.text("not_manager"))]
        return [Reply(self._theme_text(theme, name, report)) for name, report in reports]

    def _theme_text(self, theme: Theme, name: str, report: TeamReport) -> str:
        lines = [f"Thema {theme.number}: {theme.title} – {name}"]
        if report.demo:
            lines.append(DEMO_HEAD)
        open_note = (OPEN_NOTE.format(period=period_label_nl(report.open_period))
                     if report.open_period else None)
        theme_cells = {c.period: c for c in report.themes if c.theme_id == theme.id}
        if not report.periods:
            return "\n".join([*lines, "Nog geen afgesloten ronde.", *filter(None, [open_note])])
        # the latest published period in which anybody in the team answered this theme
        period = report.periods[-1]
        for p in reversed(report.periods):
            cell = theme_cells.get(p)
            if cell is not None and cell.reason != NO_ANSWERS:
                period = p
                break
        if theme_cells:
            trend = " · ".join(
                f"{period_label_nl(p)} {self._value(theme_cells.get(p))}"
                for p in report.periods
                if p in theme_cells and theme_cells[p].reason != NO_ANSWERS
            )
            if trend:
                lines.append(f"Gemiddeld per kwartaal: {trend}")
        questions = [c for c in report.questions
                     if c.theme_id == theme.id and c.period == period and c.reason != NO_ANSWERS]
        if questions:
            lines += ["", f"{period_label_nl(period)}, per vraag:"]
            for i, q in enumerate(theme.questions, 1):
                cell = next((c for c in questions if c.question_id == q.id), None)
                if cell is None:
                    continue
                lines.append(f"{theme.number}.{i} {_short(q.text, 90)}")
                if cell.shown and cell.mean is not None:
                    parts = [f"gemiddeld {format_number_nl(cell.mean)}"]
                    if cell.spread:
                        parts.append(cell.spread)
                    parts.append(f"{cell.n_band} mensen")
                    lines.append("   " + " · ".join(parts))
                else:
                    lines.append("   –")
        texts = [t for t in report.texts if t.theme_id == theme.id and t.period == period]
        if texts:
            number = {q.id: f"{theme.number}.{i}" for i, q in enumerate(theme.questions, 1)}
            lines += ["", "Gedeeld (anoniem, met toestemming):"]
            for item in texts[:MAX_TEXTS]:
                lines.append(f"• {number.get(item.question_id, '')} "
                             f"“{_short(item.text, MAX_TEXT_CHARS)}”")
            if len(texts) > MAX_TEXTS:
                lines.append(f"…en nog {len(texts) - MAX_TEXTS} op het dashboard.")
        if not questions and not texts and len(lines) == 1:
            lines.append(f"Nog niets te laten zien in {period_label_nl(period)}.")
        if any(not c.shown for c in questions) or any(
            not c.shown and c.reason != NO_ANSWERS for c in theme_cells.values()
        ):
            lines += ["", HIDDEN_NOTE.format(k=report.k)]
        if open_note:
            lines += ["", open_note]
        return "\n".join(lines)

    @staticmethod
    def _value(cell: Cell | None) -> str:
        if cell is None or not cell.shown or cell.mean is None:
            return "–"
        return format_number_nl(cell.mean)

    # -- the Demoteam ---------------------------------------------------------------------------

    def demo_report(self, turn: Turn) -> list[Reply]:
        """The Demoteam's synthetic report (``/rapport`` and ``/rapport THEMA``), for any member
        of a demo team. Never real answers, so no read right is needed; audited all the same."""
        member_id = turn.member_id
        store = turn.store
        demo = [m for m in store.memberships(member_id) if m["is_demo"]] if member_id else []
        if not demo:
            return [Reply(turn.text("not_manager"))]
        team_id, name = int(demo[0]["team_id"]), str(demo[0]["team_name"])
        with store.transaction():
            store.audit("chat_demo_report", actor=member_id, team_id=team_id)
        report = team_report(store, team_id, k=self.k, last=CHAT_PERIODS, now=turn.now(),
                             content=turn.content)
        arg = turn.args.strip()
        themes = resolve_theme(turn.content, arg) if arg else []
        if len(themes) == 1:
            return [Reply(self._theme_text(themes[0], name, report))]
        reply = self._team_block(turn, name, report)
        reply.text += "\n\nPer thema: /rapport 1 t/m 10. " + \
            turn.content.praatplaat.source.attribution()
        return [reply]

    # -- /dashboard ---------------------------------------------------------------------------

    def dashboard_link(self, turn: Turn) -> list[Reply]:
        member_id = turn.member_id
        if member_id is None or not turn.store.report_teams(member_id):
            return [Reply(turn.text("not_manager"))]
        try:
            from bot.web.auth import create_login_link
        except ImportError:
            return [Reply(DASHBOARD_MISSING)]
        settings = self.settings
        if settings is None:
            from bot.config import Settings

            settings = Settings.from_env(env_file=None)
        try:
            url = create_login_link(turn.store, member_id, settings, now=turn.now())
        except (ValueError, RuntimeError) as exc:  # e.g. no public address configured
            log.warning("no dashboard link: %s", exc)
            return [Reply(DASHBOARD_MISSING)]
        return [Reply(DASHBOARD_TEXT, links=[Link(DASHBOARD_LABEL, url)])]

    # -- /mijnreflecties ------------------------------------------------------------------------

    def followups(self, turn: Turn) -> list[str]:
        member_id = turn.member_id
        if member_id is None:
            return []
        titles = theme_titles(turn.content)
        lines: list[str] = []
        for team in turn.store.memberships(member_id):
            latest: dict[str, dict[str, Any]] = {}
            for row in turn.store.followups(int(team["team_id"]), limit=50):
                latest.setdefault(str(row["theme_id"]), row)  # latest first
            if not latest:
                continue
            lines += ["", f"Jullie zeiden, wij doen ({team['team_name']}):"]
            for theme_id, row in list(latest.items())[:MAX_FOLLOWUP_THEMES]:
                when = _date_nl(str(row["created_at"]))
                lines.append(f"• {titles.get(theme_id, theme_id)}: {_short(str(row['text']), 200)}"
                             + (f" ({when})" if when else ""))
        return lines


def _date_nl(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).strftime("%d-%m-%Y")
    except ValueError:
        return ""


def install(engine: Engine, settings: Settings | None = None) -> ReportHooks:
    """Set the ``report``, ``demo_report``, ``dashboard_link`` and ``followups`` hooks."""
    hooks = ReportHooks(settings)
    engine.hooks["report"] = hooks.report
    engine.hooks["demo_report"] = hooks.demo_report
    engine.hooks["dashboard_link"] = hooks.dashboard_link
    engine.hooks["followups"] = hooks.followups
    return hooks


#: shared texts per theme or case in a pack's section of the chat report
PACK_TEXTS = 3


def pack_section(pack: Any, team: str, report: TeamReport) -> str:
    """One content pack's part of ``/rapport``: per theme, case or tip of the latest published
    period its scale questions (mean with one decimal, people as a band, "–" when hidden) and
    the texts shared anonymously. Its own numbers only: never averaged with another pack."""
    period = report.periods[-1] if report.periods else None
    head = f"{pack.title} – {team}" + (f" ({period_label_nl(period)})" if period else "")
    lines = [head]
    hidden = False
    if period is None:
        lines.append("Nog geen afgesloten ronde.")
    else:
        cells = {c.question_id: c for c in report.questions if c.period == period}
        texts = [t for t in report.texts if t.period == period]
        for unit in pack.units:
            rows: list[str] = []
            for q in unit.questions:
                cell = cells.get(q.id)
                if q.kind != "scale" or cell is None or cell.reason == NO_ANSWERS:
                    continue
                if cell.shown and cell.mean is not None:
                    rows.append(f"   {_short(q.ask, 70)}: gemiddeld "
                                f"{format_number_nl(cell.mean)} · {cell.n_band} mensen")
                else:
                    rows.append(f"   {_short(q.ask, 70)}: –")
                    hidden = True
            shared = [t for t in texts if t.theme_id == unit.id]
            rows += [f"   “{_short(t.text, MAX_TEXT_CHARS)}”" for t in shared[:PACK_TEXTS]]
            if len(shared) > PACK_TEXTS:
                rows.append(f"   …en nog {len(shared) - PACK_TEXTS} op het dashboard.")
            if rows:
                lines += [f"• {unit.label}", *rows]
        if len(lines) == 1:
            lines.append(f"Nog niets te laten zien in {period_label_nl(period)}: we tonen pas "
                         f"iets vanaf {report.k} mensen.")
    if hidden:
        lines.append(HIDDEN_NOTE.format(k=report.k))
    if getattr(report, "open_period", None):
        lines.append(OPEN_NOTE.format(period=period_label_nl(report.open_period)))
    lines.append(pack.source.attribution())
    return "\n".join(lines)
