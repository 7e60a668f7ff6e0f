"""Reports in the chat: ``/rapport``, ``/rapport THEMA`` and follow-ups.

:func:`install` plugs these into the engine (:class:`bot.engine.turn.Plugins`; the engine never
imports this module; the dashboard link is :mod:`bot.web.chat`'s):

``report``
    ``/rapport`` (and the menu's "Teamrapport"): per team the member may read a short summary
    of the latest published round plus a chart image, and how many took part in the open round
    so far (a band, no numbers); with several teams one block per team and a small comparison.
    ``/rapport THEMA`` (number 1-10, id or a piece of the title) drills into one theme: per
    question the mean, the number of people as a band and, where allowed, the spread in words,
    hidden cells as "–", and the texts whose authors chose to share them anonymously (no date).
    ``/rapport TEAMNAAM`` gives one team, ``/rapport PAKKET`` one content pack's section and
    ``/rapport [PAKKET] ONDERDEEL`` only its matching parts (a case, a principle). Everything goes through
    :func:`bot.reports.service.team_report_for` (access check, audit log, snapshots); a team the
    member may not read gets the same answer as a team that does not exist.
``demo_report``
    the Demoteam's report: a synthetic example ("Voorbeeld met verzonnen antwoorden"), for any
    member of the Demoteam, never built from anybody's real answers (:mod:`bot.reports.demo`).
``mirror``
    ``/spiegel``: the mirror of the latest published round per team the reader may read (how
    uitvoering, management and beleid see each theme, the largest gaps in plain Dutch, trends),
    with the picture; with several teams also the same rows side by side (never a total across
    teams, never a team the reader may not read).
``gespreksplaat``
    ``/gespreksplaat THEMA``: a printable plate of one theme for the team meeting (picture and
    PDF; :mod:`bot.reports.gespreksplaat`).
``team_mirror``
    ``/teamspiegel``: for every member, the mirror of their own team's latest published round
    (the same rules: at least ``k`` people besides themselves), what the team does with it and
    the reactions to the monthly tips.
``followups``
    lines for ``/mijnreflecties``: the team's "Wat we ermee doen" (open actions first).

Pictures are slow to draw (matplotlib), so PNG bytes are cached in memory. The key is what the
picture shows (every value of the mirror as the reader sees it).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.engine.flows import Dialogues, default_dialogues
from bot.engine.messages import Reply
from bot.nl import month_label
from bot.reports.aggregate import (
    LEVEL_GROUP,
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
from bot.reports.charts import mirror_png
from bot.reports.demo import DEMO_NOTE
from bot.reports.mirror import GROUP_LABELS, Mirror, build_mirror, mirror_lines, value_nl
from bot.reports.service import (
    AccessDenied,
    pack_reports_for,
    team_report,
    team_report_for,
    theme_titles,
    tips_report,
)
from bot.themes import resolve_theme

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.content import Theme
    from bot.engine.core import Engine
    from bot.engine.turn import Turn

__all__ = ["ChartCache", "ReportHooks", "install", "resolve_theme"]

log = logging.getLogger(__name__)

#: how many quarters the chat report looks back (the dashboard shows everything)
CHAT_PERIODS = 8
#: shared texts shown per theme in the chat (the rest is on the dashboard)
MAX_TEXTS = 6
MAX_TEXT_CHARS = 300
MAX_FOLLOWUP_THEMES = 5

DEMO_HEAD = f"{DEMO_NOTE}: zo ziet een teamrapport eruit."


month_label_nl = month_label  # "2026-07" -> "juli 2026" (bot.nl)


def _texts() -> Dialogues:
    """The texts of ``texts.yaml`` (for what is drawn up outside a turn)."""
    return default_dialogues()


def _short(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary (never mid-word)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _spread_nl(word: str) -> str:
    """The spread in the words a manager reads: "de meningen lopen uiteen"."""
    from bot.reports.snapshot import SPREAD_HIGH

    return "de meningen lopen uiteen" if word == SPREAD_HIGH else "de meningen liggen dicht bij elkaar"


def readable_teams(turn: Turn) -> list[dict[str, Any]]:
    """The teams whose reports the person of ``turn`` may read (none before they are known)."""
    member_id = turn.member_id
    if member_id is None:
        return []
    store = turn.store
    return [t for t in store.report_teams(member_id) if store.may_read_team(member_id, int(t["id"]))]


class ChartCache:
    """A small LRU of PNG bytes, keyed by everything the picture draws."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(mirror: Mirror | None, team_name: str, source: str) -> tuple:
        if mirror is None:
            return (None, team_name, source)
        rows = tuple((r.number, r.title, r.direction,
                      tuple((g, v.mean, v.previous) for g, v in r.values.items()))
                     for r in mirror.rows)
        return (mirror.team_id, mirror.period, mirror.previous, mirror.k, mirror.demo,
                mirror.participation, rows, team_name, source)

    def png(self, mirror: Mirror | None, team_name: str, source: str = "") -> bytes:
        key = self.key(mirror, team_name, source)
        data = self._items.get(key)
        if data is not None:
            self.hits += 1
            self._items.move_to_end(key)
            return data
        self.misses += 1
        data = mirror_png(mirror, team_name, source=source)
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
        teams = readable_teams(turn)
        if member_id is None or not teams:
            return [Reply(turn.text("not_manager"))]
        store = turn.store
        arg = turn.args.strip()
        if not arg:
            return self._overview(turn, teams)
        themes = resolve_theme(turn.content, arg)
        if len(themes) == 1:
            return self._theme(turn, teams, themes[0])
        if len(themes) > 1:
            options = "\n".join(f"/rapport {t.number} – {t.title}" for t in themes)
            return [Reply(turn.text("report_which_theme", options=options))]
        team = store.team_by_name(arg)
        if team is not None:
            try:
                report = self._team_report(turn, member_id, int(team["id"]), "chat_report")
            except AccessDenied:
                return [Reply(turn.text("report_unknown"))]
            return [self._team_block(turn, team["name"], report)]
        return self._pack_part(turn, teams, arg)

    def _pack_part(self, turn: Turn, teams: list[dict[str, Any]], arg: str) -> list[Reply]:
        """``/rapport PAKKET`` or ``/rapport [PAKKET] ONDERDEEL``: one content pack's section,
        or only the parts (a case, a principle, a tip) that match, for every readable team that
        answers that pack. The same sections as in ``/rapport``, so the same rules."""
        sections: list[tuple[str, Any, TeamReport]] = []
        for team in teams:
            try:
                packs = pack_reports_for(turn.store, turn.member_id, int(team["id"]),
                                         action="chat_report_pack", k=self.k,
                                         last=CHAT_PERIODS, now=turn.now(), content=turn.content)
            except AccessDenied:
                continue
            sections += [(str(team["name"]), pack, report) for pack, report in packs]
        found = resolve_pack_part([pack for _, pack, _ in sections], arg)
        if found is None:
            return [Reply(turn.text("report_unknown"))]
        pack_id, parts = found
        if pack_id is None:  # parts of several packs: which one?
            return [Reply(turn.text("report_which_part", options="\n".join(
                f"/rapport {p} {u} – {label}" for p, u, label in parts)))]
        chosen = {u for _, u, _ in parts} or None
        return [Reply(pack_section(pack, name, report, units=chosen))
                for name, pack, report in sections if pack.id == pack_id]

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
        pack_ids: list[str] = []
        for name, report in reports:  # each other pack its own section, never averaged in
            if report.demo:
                continue
            try:
                packs: list[tuple[Any, TeamReport]] = pack_reports_for(
                    turn.store, turn.member_id, by_name[name], action="chat_report", k=self.k,
                    last=CHAT_PERIODS, now=turn.now(), content=turn.content)
            except AccessDenied:
                continue
            replies += [Reply(pack_section(pack, name, pack_report))
                        for pack, pack_report in packs]
            pack_ids += [pack.id for pack, _ in packs]
        real = [(name, report) for name, report in reports if not report.demo]
        if len(real) > 1:
            compare = self._compare(real)
            if compare:
                replies.append(Reply(compare))
        hint = turn.text("report_per_theme")
        if pack_ids:
            hint += " " + turn.text("report_per_pack",
                                    commands=", ".join(f"/rapport {p}"
                                                       for p in dict.fromkeys(pack_ids)))
        replies[-1].text += "\n\n" + hint + " " + turn.content.praatplaat.source.attribution()
        return replies

    def _team_block(self, turn: Turn, name: str, report: TeamReport, *,
                    rows: bool = False) -> Reply:
        titles = theme_titles(turn.content)
        period = report.insights.period
        head = f"Teamrapport {name}" + (f" ({period_label_nl(period)})" if period else "")
        if report.demo:
            head += f"\n{DEMO_HEAD}"
        text = f"{head}\n{summary_nl(report, titles)}"
        mirror = build_mirror(report, turn.content)
        if mirror is not None:
            lines = mirror_lines(mirror, with_rows=rows)
            text += "\n\n" + "\n".join(lines).strip()
        reply = Reply(text)
        self._picture(turn, reply, name, mirror)
        return reply

    def _picture(self, turn: Turn, reply: Reply, name: str, mirror: Mirror | None) -> None:
        """The mirror picture, drawn after the commit (matplotlib must not hold the lock)."""
        if mirror is None:  # nothing published yet: nothing to draw
            return
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "team"
        source = turn.content.praatplaat.source.attribution()

        def draw() -> None:
            reply.image = (f"teamspiegel-{slug}.png", self.charts.png(mirror, name, source))

        turn.later.append(draw)

    @staticmethod
    def _compare(reports: list[tuple[str, TeamReport]]) -> str | None:
        """Team averages side by side for the latest period (shown cells only, no sum)."""
        rows = compare_teams([r for _, r in reports], LEVEL_TOTAL)
        if not rows:
            return None
        latest = rows[-1]
        lines = [f"Teams naast elkaar ({period_label_nl(latest.period)}, gemiddeld over de "
                 "thema's):"]
        for name, report in reports:
            cell = latest.by_team.get(report.team_id)
            value = format_number_nl(cell.mean) if cell and cell.mean is not None else "–"
            lines.append(f"• {name}: {value}")
        return "\n".join(lines)

    @staticmethod
    def _compare_mirrors(mirrors: list[tuple[str, Mirror]]) -> str | None:
        """The mirror rows of several teams side by side, per theme (each team's own shown
        values; a team below k shows "–"; never a figure across teams)."""
        if len(mirrors) < 2:
            return None
        lines = [_texts().text("report_teams_side_by_side")]
        numbers = list(dict.fromkeys(r.number for _, m in mirrors for r in m.rows))
        for number in numbers:
            title = next(r.title for _, m in mirrors for r in m.rows if r.number == number)
            lines.append(f"{number}. {title}")
            for name, m in mirrors:
                row = next((r for r in m.rows if r.number == number), None)
                if row is None:
                    continue
                parts = [f"{GROUP_LABELS.get(c, c).lower()} {value_nl(row.values[c])}"
                         for c in m.columns()]
                lines.append(f"   {name}: " + " · ".join(parts))
        return "\n".join(lines)

    # -- /spiegel ----------------------------------------------------------------------------

    def mirror(self, turn: Turn) -> list[Reply]:
        """``/spiegel``: the mirror per team the reader may read, and side by side."""
        member_id = turn.member_id
        teams = readable_teams(turn)
        if member_id is None or not teams:
            return [Reply(turn.text("not_manager"))]
        replies: list[Reply] = []
        mirrors: list[tuple[str, Mirror]] = []
        for name, report in self._reports(turn, teams, "chat_mirror"):
            mirror = build_mirror(report, turn.content)
            head = f"Teamspiegel {name}"
            if mirror is None:
                replies.append(Reply(f"{head}\n{turn.text('report_no_round')}"))
                continue
            mirrors.append((name, mirror))
            lines = [f"{head} ({mirror.label})"]
            if mirror.participation:
                lines.append(f"Deelname: {mirror.participation}.")
            lines += mirror_lines(mirror)
            reply = Reply("\n".join(lines))
            self._picture(turn, reply, name, mirror)
            replies.append(reply)
        compare = self._compare_mirrors(mirrors)
        if compare:
            replies.append(Reply(compare))
        if not replies:
            return [Reply(turn.text("not_manager"))]
        replies[-1].text += "\n\n" + turn.content.praatplaat.source.attribution()
        return replies

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
        open_note = (_texts().text("report_open", period=period_label_nl(report.open_period))
                     if report.open_period else None)
        theme_cells = {c.period: c for c in report.themes if c.theme_id == theme.id}
        if not report.periods:
            return "\n".join([*lines, _texts().text("report_no_round"),
                              *filter(None, [open_note])])
        # the latest published period in which anybody in the team answered this theme
        period = report.periods[-1]
        for p in reversed(report.periods):
            cell = theme_cells.get(p)
            if cell is not None and cell.reason != NO_ANSWERS:
                period = p
                break
        if not theme.can_score():
            lines.append(_texts().text("report_no_theme_score"))
        elif theme_cells:
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
                lines.append(f"{theme.number}.{i} {q.text}")
                if q.higher_is_better is False:
                    lines.append("   (hier is hoger minder goed)")
                elif q.kind == "scale" and not q.in_theme_score and theme.can_score():
                    lines.append("   " + _texts().text("report_not_in_theme_score"))
                if cell.shown and cell.mean is not None:
                    parts = [f"gemiddeld {format_number_nl(cell.mean)}"]
                    if cell.spread:
                        parts.append(_spread_nl(cell.spread))
                    parts.append(f"{cell.n_band} mensen")
                    lines.append("   " + " · ".join(parts))
                else:
                    lines.append("   –")
                groups = []
                for g in report.group_ids(period):
                    gc = report.cell(LEVEL_GROUP, period, theme.id, q.id, g)
                    if gc is None:
                        continue
                    value = self._value(gc)
                    if gc.shown and gc.spread:
                        value += f" ({_spread_nl(gc.spread)})"
                    groups.append(f"{GROUP_LABELS.get(g, g).lower()} {value}")
                if groups:
                    lines.append("   " + " · ".join(groups))
        texts = [t for t in report.texts if t.theme_id == theme.id and t.period == period]
        if texts:
            number = {q.id: f"{theme.number}.{i}" for i, q in enumerate(theme.questions, 1)}
            lines += ["", _texts().text("report_shared_texts")]
            for item in texts[:MAX_TEXTS]:
                lines.append(f"• {number.get(item.question_id, '')} "
                             f"“{_short(item.text, MAX_TEXT_CHARS)}”")
            if len(texts) > MAX_TEXTS:
                lines.append(_texts().text("report_more_on_dashboard", n=len(texts) - MAX_TEXTS))
        if not questions and not texts and len(lines) == 1:
            lines.append(_texts().text("report_nothing_yet", period=period_label_nl(period)))
        if any(not c.shown for c in questions) or any(
            not c.shown and c.reason != NO_ANSWERS for c in theme_cells.values()
        ):
            lines += ["", _texts().text("report_hidden", k=report.k)]
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
        reply.text += "\n\n" + turn.text("report_per_theme") + " " + \
            turn.content.praatplaat.source.attribution()
        return [reply]

    # -- /gespreksplaat ----------------------------------------------------------------------

    def gespreksplaat(self, turn: Turn) -> list[Reply]:
        """``/gespreksplaat THEMA``: the printable plate of one theme per team the reader may
        read, as a picture and as a PDF (drawn after the commit)."""
        member_id = turn.member_id
        teams = readable_teams(turn)
        if member_id is None or not teams:
            return [Reply(turn.text("not_manager"))]
        themes = resolve_theme(turn.content, turn.args.strip()) if turn.args.strip() else []
        if len(themes) != 1:
            options = "\n".join(f"/gespreksplaat {t.number} – {t.title}"
                                 for t in (themes or turn.content.praatplaat.themes))
            return [Reply(turn.text("report_which_plate", options=options))]
        theme = themes[0]
        replies: list[Reply] = []
        for name, report in self._reports(turn, teams, f"chat_gespreksplaat:{theme.id}"):
            reply = Reply(f"Gespreksplaat {theme.number}. {theme.title} – {name}: om te printen "
                          "of te delen in het teamoverleg.")

            def draw(reply: Reply = reply, report: TeamReport = report, name: str = name) -> None:
                from bot.reports.gespreksplaat import gespreksplaat_pdf, gespreksplaat_png

                slug = f"gespreksplaat-{theme.id}"
                reply.image = (f"{slug}.png", gespreksplaat_png(report, turn.content, name,
                                                                theme.id))
                reply.document = (f"{slug}.pdf", gespreksplaat_pdf(report, turn.content, name,
                                                                   theme.id),
                                  "application/pdf")

            turn.later.append(draw)
            replies.append(reply)
        return replies or [Reply(turn.text("not_manager"))]

    # -- /teamspiegel ------------------------------------------------------------------------

    def team_mirror(self, turn: Turn) -> list[Reply]:
        """``/teamspiegel``: every member's view of their own team's latest published round."""
        member_id = turn.member_id
        if member_id is None:
            return [Reply(turn.text("no_team_mirror"))]
        store = turn.store
        replies: list[Reply] = []
        for team in store.memberships(member_id):
            team_id, name = int(team["team_id"]), str(team["team_name"])
            with store.transaction():
                store.audit("chat_team_mirror", actor=member_id, team_id=team_id)
            report = team_report(store, team_id, k=self.k, viewer=member_id, last=2,
                                 now=turn.now(), content=turn.content)
            replies.append(self._member_block(turn, team_id, name, report))
        if not replies:
            return [Reply(turn.text("no_team_mirror"))]
        replies[-1].text += "\n\n" + turn.content.praatplaat.source.attribution()
        return replies

    def _member_block(self, turn: Turn, team_id: int, name: str, report: TeamReport) -> Reply:
        mirror = build_mirror(report, turn.content)
        lines = [f"Teamspiegel {name}" + (f" ({mirror.label})" if mirror else "")]
        if report.demo:
            lines.append(DEMO_HEAD)
        if mirror is None:
            lines.append(turn.text("team_mirror_no_round"))
        else:
            lines.append(turn.text("team_mirror_rule", k=report.k))
            if mirror.participation:
                lines.append(f"Deelname: {mirror.participation}.")
            lines += mirror_lines(mirror)
        if report.open_period:
            size = f" van de {report.open_team_size}" if report.open_team_size else ""
            lines.append(f"Lopende ronde {period_label_nl(report.open_period)}: tot nu toe "
                         f"{report.open_participation}{size} teamleden.")
        if not report.demo:
            lines += action_lines(turn.store, team_id, turn.content)
            lines += self._tip_lines(turn, team_id)
        reply = Reply("\n".join(lines))
        self._picture(turn, reply, name, mirror)
        return reply

    def _tip_lines(self, turn: Turn, team_id: int) -> list[str]:
        months, _month, _band = tips_report(turn.store, team_id, k=self.k,
                                            viewer=turn.member_id, now=turn.now())
        if not months:
            return []
        latest = months[0]
        try:
            title = turn.content.kalender.tip_for_month(latest.tip_month).title
        except ValueError:
            title = ""
        head = f"Reacties op de maandtip van {month_label_nl(latest.month)}"
        head += f" ({title})" if title else ""
        if not latest.shown or latest.mean is None:
            return ["", f"{head}: minder dan {self.k} reacties naast de jouwe."]
        out = ["", f"{head}: herkenbaar {format_number_nl(latest.mean)} van 5 "
                   f"({latest.n_band} reacties)."]
        out += [f"• “{_short(t, MAX_TEXT_CHARS)}”" for t in latest.texts[:3]]
        return out

    # -- /mijnreflecties ------------------------------------------------------------------------

    def followups(self, turn: Turn) -> list[str]:
        member_id = turn.member_id
        if member_id is None:
            return []
        lines: list[str] = []
        for team in turn.store.memberships(member_id):
            if team["is_demo"]:
                continue
            lines += action_lines(turn.store, int(team["team_id"]), turn.content,
                                  team_name=str(team["team_name"]))
        return lines


def action_lines(store: Any, team_id: int, content: Any, *, team_name: str | None = None,
                 limit: int = MAX_FOLLOWUP_THEMES) -> list[str]:
    """"Wat we ermee doen": the team's open actions (what, who, by when), then the latest done
    ones; empty when there are none."""
    from bot.engine.team_actions import describe_action

    rows = store.team_actions(team_id, limit=limit * 2)
    if not rows:
        return []
    head = "Wat we ermee doen" + (f" ({team_name})" if team_name else "") + ":"
    out = ["", head]
    for row in rows[:limit]:
        out.append("• " + describe_action(row, content))
    return out


def _date_nl(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).strftime("%d-%m-%Y")
    except ValueError:
        return ""


def install(engine: Engine, settings: Settings | None = None) -> ReportHooks:
    """Plug ``report``, ``demo_report``, ``mirror``, ``team_mirror``, ``gespreksplaat`` and
    ``followups`` into the engine (:class:`bot.engine.turn.Plugins`)."""
    hooks = ReportHooks(settings)
    engine.plugins.report = hooks.report
    engine.plugins.demo_report = hooks.demo_report
    engine.plugins.mirror = hooks.mirror
    engine.plugins.team_mirror = hooks.team_mirror
    engine.plugins.gespreksplaat = hooks.gespreksplaat
    engine.plugins.followups = hooks.followups
    return hooks


#: shared texts per theme or case in a pack's section of the chat report
PACK_TEXTS = 3


def resolve_pack_part(
    packs: list[Any], arg: str
) -> tuple[str | None, list[tuple[str, str, str]]] | None:
    """What ``/rapport ARG`` names among the teams' other packs: a whole pack (its id, or 3+
    letters of its title: ``(pack id, [])``), or parts of packs (a part's id, its number, or 3+
    letters of its label), optionally after a pack's id (``casus robert``, ``sturing 2``):
    ``(pack id, [(pack id, part id, label), ...])``, with None for the pack id when parts of
    several packs match. None when nothing matches."""
    raw = " ".join(arg.lower().split()).rstrip(".")
    by_id = {p.id: p for p in packs}
    if not raw or not by_id:
        return None
    head, _, rest = raw.partition(" ")
    if raw in by_id:
        return raw, []
    within: str | None = head if head in by_id and rest else None
    word = rest if within else raw
    candidates = [by_id[within]] if within else list(by_id.values())
    if not within and len(raw) >= 3:
        titled = [p for p in candidates if raw in p.title.lower()]
        if len(titled) == 1:
            return titled[0].id, []
    exact = [(p.id, u.id, u.label) for p in candidates for u in p.units
             if u.id == word or (word.isdigit() and u.label.startswith(f"{word}."))]
    if not exact and len(word) >= 3:
        exact = [(p.id, u.id, u.label) for p in candidates for u in p.units
                 if word in u.label.lower()]
    if not exact:
        return None
    packs_hit = {p for p, _, _ in exact}
    return (within or (exact[0][0] if len(packs_hit) == 1 else None)), exact


def pack_section(pack: Any, team: str, report: TeamReport, *,
                 units: set[str] | None = None) -> str:
    """One content pack's part of ``/rapport``: per theme, case or tip of the latest published
    period its scale questions (mean with one decimal, people as a band, "–" when hidden) and
    the texts shared anonymously. Its own numbers only: never averaged with another pack.
    ``units``: only these parts (``/rapport casus robert``)."""
    period = report.periods[-1] if report.periods else None
    head = f"{pack.title} – {team}" + (f" ({period_label_nl(period)})" if period else "")
    lines = [head]
    hidden = False
    if period is None:
        lines.append(_texts().text("report_no_round"))
    else:
        cells = {c.question_id: c for c in report.questions if c.period == period}
        texts = [t for t in report.texts if t.period == period]
        for unit in pack.units:
            if units is not None and unit.id not in units:
                continue
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
                rows.append("   " + _texts().text("report_more_on_dashboard",
                                                      n=len(shared) - PACK_TEXTS))
            if rows:
                lines += [f"• {unit.label}", *rows]
        if len(lines) == 1:
            lines.append(f"Nog niets te laten zien in {period_label_nl(period)}: we tonen pas "
                         f"iets vanaf {report.k} mensen.")
    if hidden:
        lines.append(_texts().text("report_hidden", k=report.k))
    if report.open_period:
        lines.append(_texts().text("report_open", period=period_label_nl(report.open_period)))
    lines.append(pack.source.attribution())
    return "\n".join(lines)
