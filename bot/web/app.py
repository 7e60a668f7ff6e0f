"""The dashboard's routes.

Every page is rendered on the server; charts are inline SVG; there is no JavaScript and no
resource from another origin. Every team page and export goes through
:func:`bot.reports.service.team_report_for`, which checks access, writes the audit log and builds
the reader's view from the team's published snapshots (:mod:`bot.reports.snapshot`), once per
request: published rounds only, the open round as a participation band. A team the manager may
not read and a team that does not exist get the same 403 page, which says nothing about the team.
Downloads are written by :mod:`bot.reports.export`, like the command line's.

Handlers are ``async`` on purpose: they run one at a time on the event loop, so the single SQLite
connection of the :class:`~bot.store.Store` is never used by two threads at once. Each request
costs a few indexed queries and one report build (milliseconds).

Login links: ``GET /login/{token}`` consumes the link and answers with a small page that moves on
to ``/`` (meta refresh) instead of an HTTP redirect. A SameSite=Strict cookie is not sent on a
navigation that another site started (a link clicked in a web chat), and an HTTP redirect keeps
that initiator; a page of our own that moves on starts a same-site navigation. ``HEAD`` requests
and link-preview fetchers (Telegram, Synapse, ...) get a neutral page and leave the link unused.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import Settings
from bot.content import Content, get_content
from bot.nl import ROLE_NAMES, month_label
from bot.redact import REDACTOR
from bot.reports.aggregate import (
    COMPLEMENTARY,
    LEVEL_QUESTION,
    LEVEL_THEME,
    LEVEL_TOTAL,
    NO_ANSWERS,
    PARENT_HIDDEN,
    TOO_FEW,
    Cell,
    TeamReport,
    compare_teams,
    format_number_nl,
    period_label_nl,
    summary_nl,
)
from bot.reports.charts import heat_color, mirror_legend
from bot.reports.demo import DEMO_NOTE
from bot.reports.export import csv_bytes, export_columns, export_rows, notes_nl, xlsx_bytes
from bot.reports.mirror import GROUP_LABELS, Mirror, build_mirror, participation_nl, trend_symbol
from bot.reports.service import AccessDenied, team_report_for, theme_titles, tips_report
from bot.store import Store
from bot.store.actions import WHO
from bot.web.auth import (
    COOKIE_NAME,
    SESSION_TTL,
    Session,
    SessionSigner,
    end_session,
    hash_token,
    request_is_https,
    session_alive,
    start_session,
)

__all__ = ["create_app", "run_web"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

CSP = (
    "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]

#: a period label that matches no answer: access check + audit without loading any data
NO_PERIODS = ["-"]
#: quarters in the team page's table (the chart and the exports hold all of them)
TABLE_PERIODS = 4
FOLLOWUP_MAX = 1000
MAX_ID = 2**63 - 1
#: link-preview fetchers open links in chat messages; they must not use up a login link
PREVIEW_AGENTS = ("bot", "synapse", "whatsapp", "facebookexternalhit", "preview", "slack")

ROLES_NL = ROLE_NAMES  # the roles as people chose them (bot.nl)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --------------------------------------------------------------------------------------------
# Small helpers for the templates


month_label_nl = month_label  # "2026-07" -> "juli 2026" (bot.nl)


def date_nl(stamp: str | None) -> str:
    """``"2026-07-03 10:00:00"`` -> ``"3-7-2026"``."""
    try:
        day = datetime.fromisoformat(str(stamp)[:10])
    except ValueError:
        return ""
    return f"{day.day}-{day.month}-{day.year}"


_HEAT = {color: name for name, color in
         (("good", "#cdebd3"), ("mid", "#fbe6b0"), ("low", "#f7cdc8"), ("neutral", "#dfe6ee"),
          ("hidden", "#f3f5f7"))}


def heat_class(value: Any, direction: bool | None) -> str:
    """The CSS class of a mirror cell: the same levels as the picture's colours."""
    return "heat-" + _HEAT.get(heat_color(value, direction), "hidden")


def spread_nl(word: str | None) -> str:
    from bot.reports.snapshot import SPREAD_HIGH

    if not word:
        return ""
    return "meningen lopen uiteen" if word == SPREAD_HIGH else "meningen dicht bij elkaar"


def describe_action(row: dict[str, Any], content: Content) -> str:
    from bot.engine.team_actions import describe_action as describe

    return describe(row, content)


class _Pages:
    """Shared state of one dashboard app (store, settings, content, clock, signer)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        content: Content,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.settings = settings
        self.content = content
        self.clock = clock
        self.k = max(3, int(settings.min_group))
        self.signer = SessionSigner(settings.secret_key)
        self.titles = theme_titles(content)
        self.theme_order = [t.id for t in content.praatplaat.themes]
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["nl"] = format_number_nl
        env.filters["period"] = period_label_nl
        env.filters["month"] = month_label_nl
        env.filters["date_nl"] = date_nl
        env.globals["reason_nl"] = self.reason_nl
        env.globals["demo_note"] = DEMO_NOTE
        env.globals["roles_nl"] = ROLES_NL
        env.globals["k"] = self.k
        env.globals["group_label"] = lambda g: GROUP_LABELS.get(g, g)
        env.globals["heat_class"] = heat_class
        env.globals["trend_symbol"] = trend_symbol
        env.globals["spread_nl"] = spread_nl
        env.globals["mirror_legend"] = mirror_legend
        env.globals["who_options"] = list(WHO.items())
        env.globals["describe_action"] = lambda row: describe_action(row, self.content)
        self.templates = Jinja2Templates(env=env)

    # -- rendering ---------------------------------------------------------------------------

    def reason_nl(self, cell: Cell | None) -> str:
        """Why a cell shows no number, in a few words."""
        if cell is None:
            return "geen cijfers"
        reason = cell.reason
        if reason == TOO_FEW:
            return f"minder dan {self.k} mensen"
        if reason in (COMPLEMENTARY, PARENT_HIDDEN):
            return "verborgen (privacy)"
        if reason == NO_ANSWERS:
            return "geen antwoorden"
        return ""

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        session: Session | None = None,
        status: int = 200,
    ) -> Response:
        ctx = {
            "csrf": self.signer.csrf_token(session) if session else None,
            "logged_in": session is not None,
            "title": "Teamspiegel",
            **context,
        }
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)

    def message(
        self,
        request: Request,
        title: str,
        lines: list[str],
        *,
        status: int,
        session: Session | None = None,
        home_link: bool = True,
        refresh_to: str | None = None,
    ) -> Response:
        return self.render(
            request, "message.html",
            {"title": title, "lines": lines, "home_link": home_link, "refresh_to": refresh_to},
            session=session, status=status,
        )

    async def posted(self, request: Request) -> tuple[Session, int, FormData] | Response:
        """A form posted to a team's page: its session, team id and form, or the response
        that refuses it (not logged in, a failed CSRF check). Every POST handler starts here."""
        session = self.session(request)
        if session is None:
            return self.not_logged_in(request)
        team_id = int(request.path_params["team_id"])
        form = await request.form()
        if not self.signer.check_csrf(session, str(form.get("csrf") or "")):
            return self.csrf_failed(request, session)
        return session, team_id, form

    def not_logged_in(self, request: Request) -> Response:
        return self.message(
            request, "Log eerst in",
            ["Je bent niet (meer) ingelogd.",
             "Stuur in de chat /dashboard. Je krijgt dan een link om in te loggen."],
            status=401, home_link=False,
        )

    def forbidden(self, request: Request, session: Session) -> Response:
        # the same page for another team and for a team that does not exist
        return self.message(
            request, "Geen toegang",
            ["Deze pagina kun je niet bekijken.",
             "Je ziet alleen de teams waarop je leesrecht hebt. Dat geeft de eigenaar van "
             "het team."],
            status=403, session=session,
        )

    # -- session -----------------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        """The request's session: a valid signature *and* a live row on the server (logout,
        erasure and a revoked right delete that row)."""
        now = self.clock()
        session = self.signer.load(request.cookies.get(COOKIE_NAME), now)
        if session is None or not session_alive(self.store, session, now):
            return None
        return session

    def report(
        self, session: Session, team_id: int, action: str, periods: list[str] | None = None,
        last: int | None = None,
    ) -> TeamReport:
        if team_id > MAX_ID:  # SQLite integers are 64-bit: such an id cannot exist
            raise AccessDenied()
        return team_report_for(
            self.store, session.member_id, team_id, action=action, k=self.k, periods=periods,
            last=last, now=self.clock(), content=self.content,
        )

    def team_name(self, team_id: int) -> str:
        team = self.store.get_team(team_id)
        return str(team["name"]) if team else ""

    def ordered_themes(self, theme_ids: list[str]) -> list[str]:
        """Theme ids in Praatplaat order; unknown ids (older content) at the end."""
        present = set(theme_ids)
        known = [t for t in self.theme_order if t in present]
        return known + [t for t in theme_ids if t not in self.theme_order]

    # -- pages -------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        token = request.path_params["token"]
        agent = request.headers.get("user-agent", "").lower()
        if request.method == "HEAD" or any(word in agent for word in PREVIEW_AGENTS):
            return self.message(
                request, "Inloggen",
                ["Open deze link in je browser om in te loggen op het Teamspiegel-dashboard."],
                status=200, home_link=False,
            )
        member_id: int | None = None
        if 10 <= len(token) <= 100:
            with self.store.transaction():
                member_id = self.store.consume_web_login(hash_token(token), self.clock())
                if member_id is not None:
                    self.store.audit("dashboard_login", actor=member_id)
                    value, session = start_session(self.store, self.signer, member_id,
                                                   self.clock())
        if member_id is None:
            return self.message(
                request, "Link werkt niet",
                ["Deze link is verlopen of al gebruikt. "
                 "Vraag in de chat een nieuwe met /dashboard."],
                status=403, home_link=False,
            )
        response = self.message(
            request, "Je bent ingelogd", ["Je bent ingelogd. We gaan naar je dashboard."],
            status=200, session=session, refresh_to="/",
        )
        response.set_cookie(
            COOKIE_NAME, value, max_age=int(SESSION_TTL.total_seconds()), path="/",
            secure=request_is_https(request.url.scheme, request.headers), httponly=True,
            samesite="Strict",  # type: ignore[arg-type]  # the header says Strict
        )
        return response

    async def logout(self, request: Request) -> Response:
        session = self.session(request)
        if session is not None:
            form = await request.form()
            if not self.signer.check_csrf(session, str(form.get("csrf") or "")):
                return self.csrf_failed(request, session)
            with self.store.transaction():  # the cookie is worthless from now on
                end_session(self.store, session)
                self.store.audit("dashboard_logout", actor=session.member_id)
        response = self.message(
            request, "Uitgelogd",
            ["Je bent uitgelogd. Tot de volgende keer!",
             "Wil je weer kijken? Stuur in de chat /dashboard."],
            status=200, home_link=False,
        )
        response.delete_cookie(
            COOKIE_NAME, path="/", httponly=True, samesite="Strict",  # type: ignore[arg-type]  # the header says Strict
            secure=request_is_https(request.url.scheme, request.headers),
        )
        return response

    def csrf_failed(self, request: Request, session: Session) -> Response:
        return self.message(
            request, "Formulier verlopen",
            ["Dit formulier is verlopen. Laad de pagina opnieuw en probeer het nog eens."],
            status=403, session=session,
        )

    async def index(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self.not_logged_in(request)
        member = self.store.get_member(session.member_id) or {}
        teams = self.store.report_teams(session.member_id)
        cards: list[dict[str, Any]] = []
        reports: list[TeamReport] = []
        for team in teams:
            team_id = int(team["id"])
            report = self.report(session, team_id, "dashboard_overview", last=1)
            period = report.periods[-1] if report.periods else None
            if not report.demo:
                reports.append(report)
            cards.append({
                "id": team_id, "name": team["name"], "role": team["role"], "period": period,
                "participation": participation_nl(report, period) if period else None,
                "total": report.cell(LEVEL_TOTAL, period) if period else None,
                "open_period": report.open_period,
                "open_participation": report.open_participation,
                "demo": report.demo,
            })
        latest = max((r.periods[-1] for r in reports if r.periods), default=None)
        same = [r for r in reports if r.periods and r.periods[-1] == latest]
        comparison: list[dict[str, Any]] = []
        if len(same) >= 2 and latest:
            rows = {(c.theme_id or ""): c.by_team for c in compare_teams(same, LEVEL_THEME)}
            totals = compare_teams(same, LEVEL_TOTAL)
            if totals:
                comparison.append({"title": "Alle thema's samen", "theme_id": None,
                                   "by_team": totals[0].by_team})
            for theme_id in self.ordered_themes(list(rows)):
                comparison.append({"title": self.titles.get(theme_id, theme_id),
                                   "theme_id": theme_id, "by_team": rows[theme_id]})
        compared = {r.team_id for r in same}
        # the mirror side by side: each team's own view, never a figure across teams
        mirrors: list[tuple[str, Mirror]] = []
        names = {int(t["id"]): str(t["name"]) for t in teams}
        for report in reports:
            mirror = build_mirror(report, self.content)
            if mirror is not None and mirror.has_numbers():
                mirrors.append((names.get(report.team_id, ""), mirror))
        side_by_side: list[dict[str, Any]] = []
        if len(mirrors) >= 2:
            numbers = list(dict.fromkeys(r.number for _, m in mirrors for r in m.rows))
            for number in numbers:
                entries = [(name, m, next((r for r in m.rows if r.number == number), None))
                           for name, m in mirrors]
                title = next(r.title for _, _, r in entries if r is not None)
                side_by_side.append({"number": number, "title": title, "entries": [
                    e for e in entries if e[2] is not None]})
        return self.render(request, "index.html", {
            "title": "Je teams",
            "name": member.get("display_name") or "",
            "cards": cards,
            "latest": latest,
            "comparison": comparison,
            "compared": [c for c in cards if c["id"] in compared],
            "side_by_side": side_by_side,
            "mirror_groups": list(dict.fromkeys(
                g for _, m in mirrors for g in m.columns())),
        }, session=session)

    async def team(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self.not_logged_in(request)
        team_id = int(request.path_params["team_id"])
        try:
            report = self.report(session, team_id, "dashboard_team")
        except AccessDenied:
            return self.forbidden(request, session)
        return self.team_page(request, session, team_id, report)

    def team_page(
        self,
        request: Request,
        session: Session,
        team_id: int,
        report: TeamReport,
        *,
        error: str | None = None,
        draft: str = "",
        draft_theme: str | None = None,
        status: int = 200,
    ) -> Response:
        recent = report.periods[-TABLE_PERIODS:]
        with_cells = self.ordered_themes(report.theme_ids())
        theme_rows = [
            {
                "id": theme_id,
                "title": self.titles.get(theme_id, theme_id),
                "cells": [report.cell(LEVEL_THEME, p, theme_id) for p in recent],
                "known": theme_id in self.titles,
            }
            for theme_id in with_cells
        ]
        other_themes = [(t, self.titles[t]) for t in self.theme_order if t not in with_cells]
        actions = self.store.team_actions(team_id, limit=100)
        mirror = build_mirror(report, self.content)
        return self.render(request, "team.html", {
            **self.packs_context(session, team_id, report),
            "title": self.team_name(team_id),
            "team_id": team_id,
            "report": report,
            "mirror": mirror,
            "linkable": set(self.titles),
            "theme_link": lambda theme_id: f"/team/{team_id}/thema/{theme_id}",
            "participation": [(p, participation_nl(report, p))
                              for p in reversed(report.periods)],
            "summary": summary_nl(report, self.titles).split("\n"),
            "recent": recent,
            "more_periods": len(report.periods) > len(recent),
            "theme_rows": theme_rows,
            "other_themes": other_themes,
            "actions": actions,
            "themes": [(t.id, t.title) for t in self.content.praatplaat.themes],
            "error": error,
            "draft": draft,
            "draft_theme": draft_theme,
            "source": self.content.praatplaat.source.attribution(),
        }, session=session, status=status)

    async def theme(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self.not_logged_in(request)
        team_id = int(request.path_params["team_id"])
        theme_id = str(request.path_params["theme_id"])
        try:
            report = self.report(session, team_id, "dashboard_theme")
        except AccessDenied:
            return self.forbidden(request, session)
        try:
            theme = self.content.praatplaat.theme(theme_id)
        except KeyError:
            return self.message(request, "Niet gevonden", ["Dit thema bestaat niet."],
                                status=404, session=session)
        periods = [p for p in reversed(report.periods)
                   if (c := report.cell(LEVEL_THEME, p, theme_id)) is not None
                   and c.reason != NO_ANSWERS]
        texts: dict[str, list[Any]] = defaultdict(list)
        for item in report.texts:
            if item.theme_id == theme_id:
                texts[item.question_id].append(item)
        for items in texts.values():
            items.sort(key=lambda t: t.period, reverse=True)  # stable: keeps the random order
        questions = []
        for q in theme.questions:
            rows = []
            if q.kind == "scale":
                rows = [(p, report.cell(LEVEL_QUESTION, p, theme_id, q.id)) for p in periods]
                if all(c is None for _p, c in rows):
                    rows = []  # nobody answered this question yet
            questions.append({"q": q, "rows": rows, "texts": texts.get(q.id, [])})
        actions = [a for a in self.store.team_actions(team_id, limit=100)
                   if a["theme_id"] == theme_id]
        mirror = build_mirror(report, self.content)
        mirror_rows = []
        if mirror is not None:
            mirror_rows = [r for r in mirror.rows if r.theme_id == theme_id
                           and r.question_id is None]
            mirror_rows += mirror.questions.get(theme_id, [])
        return self.render(request, "theme.html", {
            "title": theme.title,
            "report": report,
            "team_id": team_id,
            "team_name": self.team_name(team_id),
            "theme": theme,
            "theme_cells": [(p, report.cell(LEVEL_THEME, p, theme_id)) for p in periods
                            if theme.can_score()],
            "questions": questions,
            "actions": actions,
            "mirror": mirror if mirror_rows and mirror is not None and mirror.has_numbers()
            else None,
            "mirror_rows": mirror_rows,
            "linkable": set(),
            "theme_link": lambda t: "",
            "source": self.content.praatplaat.source.attribution(),
        }, session=session)

    async def tips(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self.not_logged_in(request)
        team_id = int(request.path_params["team_id"])
        try:
            self.report(session, team_id, "dashboard_tips", NO_PERIODS)
        except AccessDenied:
            return self.forbidden(request, session)
        published, month, band = tips_report(self.store, team_id, k=self.k,
                                             viewer=session.member_id, now=self.clock())
        months = []
        for item in published:
            try:
                tip_title = self.content.kalender.tip_for_month(item.tip_month).title
            except ValueError:
                tip_title = ""
            months.append({"item": item, "tip_title": tip_title})
        return self.render(request, "tips.html", {
            "title": "Reacties op de maandtips",
            "team_id": team_id,
            "team_name": self.team_name(team_id),
            "months": months,
            "open_month": month,
            "open_band": band,
            "source": self.content.kalender.source.attribution(),
        }, session=session)

    async def export(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self.not_logged_in(request)
        team_id = int(request.path_params["team_id"])
        kind = str(request.path_params["kind"])
        if kind not in ("csv", "xlsx", "pdf"):
            raise HTTPException(404)
        try:
            report = self.report(session, team_id, f"dashboard_export_{kind}")
        except AccessDenied:
            return self.forbidden(request, session)
        columns = export_columns()
        rows = export_rows(report, self.content, self.team_name(team_id))
        if not report.demo:  # every other pack the team answered: its own rows
            from bot.reports.export import pack_export_rows

            rows += pack_export_rows(self.store, session.member_id, team_id,
                                     action=f"dashboard_export_{kind}", k=self.k,
                                     now=self.clock(), content=self.content,
                                     team_name=self.team_name(team_id))
        filename = f"teamspiegel-team-{team_id}.{kind}"
        headers = {"content-disposition": f'attachment; filename="{filename}"'}
        if kind == "csv":
            return Response(csv_bytes(rows, columns), media_type="text/csv; charset=utf-8",
                            headers=headers)
        if kind == "pdf":
            from bot.reports.pdf import team_pdf

            pdf = team_pdf(report, self.content, self.team_name(team_id),
                           self.store.team_actions(team_id))
            return Response(pdf, media_type="application/pdf", headers=headers)
        notes = notes_nl(report, self.team_name(team_id),
                         self.content.praatplaat.source.attribution())
        return Response(xlsx_bytes(rows, columns, notes, sheet="Teamspiegel", about="Uitleg"),
                        media_type=XLSX_TYPE, headers=headers)

    async def team_pdf(self, request: Request) -> Response:
        request.path_params["kind"] = "pdf"
        return await self.export(request)

    async def gespreksplaat(self, request: Request) -> Response:
        """The printable plate of one theme for the team meeting (PDF or PNG)."""
        session = self.session(request)
        if session is None:
            return self.not_logged_in(request)
        team_id = int(request.path_params["team_id"])
        theme_id = str(request.path_params["theme_id"])
        kind = str(request.path_params["kind"])
        if kind not in ("pdf", "png"):
            raise HTTPException(404)
        try:
            report = self.report(session, team_id, f"dashboard_gespreksplaat_{kind}")
        except AccessDenied:
            return self.forbidden(request, session)
        try:
            self.content.praatplaat.theme(theme_id)
        except KeyError:
            raise HTTPException(404) from None
        from bot.reports.gespreksplaat import gespreksplaat_pdf, gespreksplaat_png

        name = self.team_name(team_id)
        make = gespreksplaat_pdf if kind == "pdf" else gespreksplaat_png
        data = make(report, self.content, name, theme_id)
        filename = f"gespreksplaat-{theme_id}.{kind}"
        return Response(data, media_type="application/pdf" if kind == "pdf" else "image/png",
                        headers={"content-disposition": f'attachment; filename="{filename}"'})

    async def followup(self, request: Request) -> Response:
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        session, team_id, form = posted
        try:
            self.report(session, team_id, "dashboard_followup", NO_PERIODS)
        except AccessDenied:
            return self.forbidden(request, session)
        theme_id = str(form.get("theme_id") or "")
        text = " ".join(str(form.get("text") or "").split())
        who = str(form.get("who") or "") or None
        due_raw = str(form.get("due") or "").strip()
        back = str(form.get("back") or "team")
        error = None
        due = None
        if theme_id not in self.titles:
            error = "Kies een thema."
        elif not text:
            error = "Schrijf kort op wat jullie ermee doen."
        elif len(text) > FOLLOWUP_MAX:
            error = f"Dat is te lang: maximaal {FOLLOWUP_MAX} tekens."
        elif who is not None and who not in WHO:
            error = "Kies wie het doet uit de lijst."
        elif due_raw:
            from bot.engine.team_actions import parse_due

            try:
                day = parse_due(due_raw, self.clock().date())
                due = day.isoformat() if day else None
            except ValueError as exc:
                error = str(exc)
        if error:
            report = self.report(session, team_id, "dashboard_team")
            return self.team_page(request, session, team_id, report, error=error, draft=text,
                                  draft_theme=theme_id, status=400)
        with self.store.transaction():
            self.store.add_action(team_id, theme_id, text, session.member_id, who=who, due=due)
            self.store.audit("action_add", actor=session.member_id, team_id=team_id,
                             detail=theme_id)
        if back == "thema":
            target = f"/team/{team_id}/thema/{theme_id}#wat-we-doen"
        else:
            target = f"/team/{team_id}#wat-we-doen"
        return RedirectResponse(target, status_code=303)

    # -- content packs: each pack its own section; owners choose them ---------------------------

    def packs_context(self, session: Session, team_id: int, report: TeamReport) -> dict[str, Any]:
        """The team page's packs: a section per other pack the team answered (its own numbers
        and shared texts, never averaged with the Praatplaat's) and, for an owner, the list of
        packs to switch on and off (the same implementation as /beheer and the CLI)."""
        from bot.packs import PackLibrary
        from bot.reports.service import pack_reports_for

        sections: list[dict[str, Any]] = []
        if not report.demo:
            for pack, pack_report in pack_reports_for(
                    self.store, session.member_id, team_id, action="dashboard_team", k=self.k,
                    last=TABLE_PERIODS, now=self.clock(), content=self.content):
                sections.append(_pack_section(pack, pack_report))
        choice = None
        if self.store.is_owner(session.member_id, team_id):
            choice = [{"id": u.id, "title": u.pack.title, "on": u.enabled,
                       "own": u.origin == "team"}
                      for u in PackLibrary(self.store, self.content).uses(team_id)]
        return {"pack_sections": sections, "pack_choice": choice}

    async def packs(self, request: Request) -> Response:
        """An owner switches the team's packs (the checked boxes are on); audited."""
        from bot.packs import choose_packs

        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        session, team_id, form = posted
        if team_id > MAX_ID or not self.store.is_owner(session.member_id, team_id):
            with self.store.transaction():
                self.store.audit("packs:denied", actor=session.member_id,
                                 team_id=team_id if team_id <= MAX_ID else None)
            return self.forbidden(request, session)
        from bot.packs import PackLibrary

        wanted = {str(v) for v in form.getlist("pack")}
        uses = PackLibrary(self.store, self.content).uses(team_id)
        on = [u.id for u in uses if u.id in wanted and not u.enabled]
        off = [u.id for u in uses if u.id not in wanted and u.enabled]
        choose_packs(self.store, self.content, team_id, on=on, off=off,
                     actor=session.member_id, via="web")
        return RedirectResponse(f"/team/{team_id}#pakketten", status_code=303)

    async def action_status(self, request: Request) -> Response:
        """Mark one of the team's actions done or open again (readers of the team only)."""
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        session, team_id, form = posted
        action_id = int(request.path_params["action_id"])
        try:
            self.report(session, team_id, "dashboard_action", NO_PERIODS)
        except AccessDenied:
            return self.forbidden(request, session)
        status = str(form.get("status") or "")
        if status not in ("open", "done") or action_id > MAX_ID:
            raise HTTPException(400)
        with self.store.transaction():
            changed = self.store.set_action_status(action_id, team_id, status,
                                                   session.member_id)
            if changed:
                self.store.audit(f"action_{status}", actor=session.member_id, team_id=team_id,
                                 detail=str(action_id))
        if not changed:
            raise HTTPException(404)
        return RedirectResponse(f"/team/{team_id}#wat-we-doen", status_code=303)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.message(request, "Niet gevonden", ["Deze pagina bestaat niet."],
                            status=404, session=self.session(request))

    async def server_error(self, request: Request, exc: Exception) -> Response:
        log.exception("dashboard error", exc_info=exc)
        return HTMLResponse(
            "<!doctype html><html lang=\"nl\"><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>Teamspiegel</title>"
            "<p>Er ging iets mis aan onze kant. Probeer het later nog eens.</p></html>",
            status_code=500,
            # this response leaves through the outermost middleware, past SecurityHeaders
            headers={k.decode(): v.decode() for k, v in SECURITY_HEADERS}
            | {"cache-control": "no-store"},
        )


class SecurityHeaders:
    """Adds the security headers to every response, and ``no-store`` to every page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() not in {name for name, _ in SECURITY_HEADERS}]
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _pack_section(pack: Any, report: TeamReport) -> dict[str, Any]:
    """One pack's part of the team page: per theme, case or tip of the latest published
    period its scale questions and its shared texts (the same rules as every view)."""
    period = report.periods[-1] if report.periods else None
    units = []
    if period is not None:
        cells = {c.question_id: c for c in report.questions if c.period == period}
        for unit in pack.units:
            questions = [(q.ask, cells.get(q.id)) for q in unit.questions
                         if q.kind == "scale" and q.id in cells
                         and cells[q.id].reason != NO_ANSWERS]
            texts = [t.text for t in report.texts if t.period == period
                     and t.theme_id == unit.id]
            if questions or texts:
                units.append({"title": unit.label, "questions": questions, "texts": texts})
    return {"id": pack.id, "title": pack.title, "period": period, "units": units,
            "report": report, "source": pack.source.attribution()}


def create_app(
    store: Store,
    settings: Settings,
    content: Content | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The dashboard as an ASGI app over ``store``. ``clock`` (aware UTC) is for tests."""
    from bot.web.admin import admin_routes

    pages = _Pages(store, settings, content or get_content(), clock or (lambda: datetime.now(UTC)))
    routes = [
        Route("/", pages.index, methods=["GET"]),
        Route("/login/{token}", pages.login, methods=["GET"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/team/{team_id:int}", pages.team, methods=["GET"]),
        Route("/team/{team_id:int}/thema/{theme_id}", pages.theme, methods=["GET"]),
        Route("/team/{team_id:int}/tips", pages.tips, methods=["GET"]),
        Route("/team/{team_id:int}/export.{kind}", pages.export, methods=["GET"]),
        Route("/team/{team_id:int}/rapport.pdf", pages.team_pdf, methods=["GET"]),
        Route("/team/{team_id:int}/thema/{theme_id}/gespreksplaat.{kind}", pages.gespreksplaat,
              methods=["GET"]),
        Route("/team/{team_id:int}/followup", pages.followup, methods=["POST"]),
        Route("/team/{team_id:int}/packs", pages.packs, methods=["POST"]),
        Route("/team/{team_id:int}/actie/{action_id:int}", pages.action_status,
              methods=["POST"]),
        *admin_routes(pages),  # /team/{id}/beheer: leaders' self-service, team conversations
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: pages.not_found, 500: pages.server_error},
    )
    app.add_middleware(SecurityHeaders)
    app.state.pages = pages
    return app


def run_web(settings: Settings) -> None:
    """Serve the dashboard with uvicorn on ``settings.web_host:web_port`` until stopped."""
    import uvicorn

    if not settings.secret_key:
        log.warning("TEAMSPIEGEL_SECRET is not set: dashboard sessions end when this process stops")
    store = Store(settings.db_path)
    from bot.notices import print_notices

    print_notices(store)
    try:
        app = create_app(store, settings)
        config = uvicorn.Config(app, host=settings.web_host, port=settings.web_port,
                                proxy_headers=True, server_header=False)
        # after Config: it sets up uvicorn's logging
        logging.getLogger("uvicorn.access").addFilter(REDACTOR)  # login tokens, secrets
        uvicorn.Server(config).run()
    finally:
        store.close()
