"""The dashboard's "Beheer" page: a team leader runs the team, and sees its team conversations.

``/team/{id}/beheer`` shows an owner or a reader the team in counts (members, participation as a
band during a round), the member invite code, and the history of the team's conversations
(per vote how many voted and, from the threshold, the counts: never who voted what). Owners
also get the forms: a new code, a leader invite, the monthly tip's slot, the round cadence and
the anonymous nudge. Every form posts with the session's CSRF token and goes through
:class:`bot.teamadmin.TeamAdmin`, the same implementation as ``/team`` in the chat and the
command line: the right is checked again, every change and refusal is audited, and its Dutch
error is shown on the page.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.teamadmin import CADENCES, AdminError, TeamAdmin

__all__ = ["admin_routes"]

#: SQLite integers are 64-bit: a larger id cannot exist
MAX_ID = 2**63 - 1


class AdminPages:
    """The routes of the Beheer page over the dashboard's shared state (``pages``)."""

    def __init__(self, pages: Any) -> None:
        self.pages = pages
        self.admin = TeamAdmin(pages.store, k=pages.k, open_teams=pages.settings.open_teams,
                               content=pages.content, clock=pages.clock)

    def _link(self, token: str) -> str | None:
        username = getattr(self.pages.settings, "telegram_bot_username", None)
        return f"https://t.me/{username.lstrip('@')}?start={token}" if username else None

    def _page(self, request: Request, session: Any, team_id: int, *, error: str | None = None,
              notice: list[str] | None = None, status: int = 200) -> Response:
        from bot.reports.sessions import session_history

        try:
            overview = self.admin.overview(team_id, session.member_id, via="web")
            code = self.admin.member_invite(team_id, session.member_id, via="web")
        except AdminError:
            return self.pages.forbidden(request, session)
        return self.pages.render(request, "beheer.html", {
            "title": f"Beheer van {overview.name}", "o": overview, "team_id": team_id,
            "code": code, "link": self._link(code), "error": error, "notice": notice or [],
            "cadences": list(CADENCES.items()),
            "sessions": session_history(self.pages.store, team_id),
        }, session=session, status=status)

    async def show(self, request: Request) -> Response:
        session = self.pages.session(request)
        if session is None:
            return self.pages.not_logged_in(request)
        team_id = int(request.path_params["team_id"])
        if team_id > MAX_ID:
            return self.pages.forbidden(request, session)
        return self._page(request, session, team_id)

    async def act(self, request: Request) -> Response:
        """One owner operation (``what`` in the path), checked and audited by the service."""
        pages = self.pages
        posted = await pages.posted(request)
        if isinstance(posted, Response):
            return posted
        session, team_id, form = posted
        what = str(request.path_params["what"])
        if team_id > MAX_ID:
            return pages.forbidden(request, session)
        actor = session.member_id
        notice: list[str] = []
        try:
            if what == "code":
                token, revoked = self.admin.rotate_invite(team_id, actor, via="web")
                notice = [f"Nieuwe code: {token}. Oude codes die nu niet meer werken: {revoked}."]
            elif what == "leesrecht":
                token, expires = self.admin.leader_invite(team_id, str(form.get("name") or ""),
                                                          actor, via="web")
                link = self._link(token)
                notice = [f"Uitnodiging voor leesrecht (één keer te gebruiken, tot "
                          f"{expires.day}-{expires.month}-{expires.year}). Stuur hem alleen naar "
                          "die persoon.", f"Code: {token}"] + ([f"Link: {link}"] if link else [])
            elif what == "maandtip":
                if form.get("off"):
                    slot = self.admin.set_tip_slot(team_id, actor, via="web", off=True)
                else:
                    day = str(form.get("day") or "").strip()
                    at = str(form.get("time") or "").strip()
                    slot = self.admin.set_tip_text(team_id, f"{day} {at}".strip() or "aan",
                                                   actor, via="web")
                notice = [f"De maandtip komt nu: {slot}."]
            elif what == "rondes":
                notice = [f"Rondes: {self.admin.set_cadence(team_id, str(form.get('cadence') or ''), actor, via='web')}."]  # noqa: E501
            elif what == "seintje":
                self.admin.nudge(team_id, actor, via="web")
                notice = ["Het seintje gaat uit, op een werkdag tussen 9 en 17 uur. Het noemt "
                          "niemand, en je ziet niet wie het krijgt."]
            else:
                return pages.message(request, "Niet gevonden", ["Deze pagina bestaat niet."],
                                     status=404, session=session)
        except AdminError as exc:
            if not pages.store.may_read_team(actor, team_id):
                return pages.forbidden(request, session)
            return self._page(request, session, team_id, error=str(exc), status=400)
        if notice:
            return self._page(request, session, team_id, notice=notice)
        return RedirectResponse(f"/team/{team_id}/beheer", status_code=303)


def admin_routes(pages: Any) -> list[Route]:
    admin = AdminPages(pages)
    return [
        Route("/team/{team_id:int}/beheer", admin.show, methods=["GET"]),
        Route("/team/{team_id:int}/beheer/{what}", admin.act, methods=["POST"]),
    ]
