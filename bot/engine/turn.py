"""What a turn is, and what conditions, actions and renderers may use of the engine.

:class:`Turn` lives here, below the engine (:mod:`bot.engine.core`) and below every module that
registers names (:mod:`bot.engine.actions`, ``access``, ``packs``, ``views``, ``groups``), so
none of them imports the engine and the engine imports them without a cycle.
:class:`TurnEngine` is the part of the engine they see; :class:`Plugins` are the optional
features the application plugs in (reports, the dashboard link, invite links), typed, so the
engine never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.content import Content
from bot.engine.flows import Dialogues
from bot.engine.messages import Incoming, Reply
from bot.store import Conversation, Store

__all__ = ["MAX_TEXT", "Plugins", "Turn", "TurnEngine"]

#: the longest free text we accept (characters); longer text gets ``too_long``
MAX_TEXT = 4000


@dataclass
class Plugins:
    """Optional features the application plugs into the engine (see :func:`bot.app.build_engine`).

    The engine and the dialogue actions call them and never import them; unset means "not in
    this installation" and the dialogue says so.
    """

    #: ``/rapport`` for someone with a granted read right (:mod:`bot.reports.chat`)
    report: Callable[[Turn], list[Reply]] | None = None
    #: the Demoteam's example report with made-up answers (:mod:`bot.reports.chat`)
    demo_report: Callable[[Turn], list[Reply]] | None = None
    #: ``/spiegel``: the mirror of the teams a reader may read (:mod:`bot.reports.chat`)
    mirror: Callable[[Turn], list[Reply]] | None = None
    #: ``/teamspiegel``: a member's own team's mirror, actions and tip reactions
    team_mirror: Callable[[Turn], list[Reply]] | None = None
    #: ``/gespreksplaat THEMA``: a printable plate of one theme for the team meeting
    gespreksplaat: Callable[[Turn], list[Reply]] | None = None
    #: a one-time dashboard login link (:mod:`bot.web.chat`)
    dashboard_link: Callable[[Turn], list[Reply]] | None = None
    #: lines for ``/mijnreflecties``: what the team's readers said they do (:mod:`bot.reports.chat`)
    followups: Callable[[Turn], list[str]] | None = None
    #: ``(platform, token, group) -> url``: the link behind an invite, where the platform's links
    #: carry a payload (Telegram); None: the dialogue says what to type instead
    invite_link: Callable[[str, str, bool], str | None] | None = None
    #: the team leaders' self-service (``/team``, ``/nieuwteam``): a
    #: :class:`bot.teamadmin.TeamAdmin` (one implementation behind the chat, the command line
    #: and the dashboard)
    team_admin: Any | None = None
    #: ``(team, theme, k) -> SessionMirror | None``: what the team's mirror of its last round says
    #: next to a team conversation (:mod:`bot.reports.sessions`, see :mod:`bot.engine.session`)
    session_mirror: Callable[[int, str | None, int], Any] | None = None


class TurnEngine(Protocol):
    """What conditions, actions and renderers may use of the engine
    (:class:`bot.engine.core.Engine` implements it)."""

    store: Store
    content: Content
    dialogues: Dialogues
    clock: Callable[[], datetime]
    settings: dict[str, Any]
    #: derived values that depend only on content (e.g. a run's question list)
    memo: dict[Any, Any]
    plugins: Plugins

    def text(self, key: str, **values: object) -> str:
        """A text of ``texts.yaml`` with its placeholders filled in."""
        ...


@dataclass(slots=True)
class Turn:
    """Everything conditions, actions and renderers may look at during one turn (slots: one is
    made per turn, and its fields are read many times)."""

    engine: TurnEngine
    conv: Conversation
    incoming: Incoming
    value: Any = None
    args: str = ""
    replies: list[Reply] = field(default_factory=list)
    forgotten: bool = False
    #: the input was not understood: the prompt is repeated in its short form (no welcome,
    #: no theme intro)
    retry: bool = False
    #: jobs to run after the turn committed (they may fill in replies, e.g. an image)
    later: list[Callable[[], object]] = field(default_factory=list)
    #: the prompt is not shown again: the person sees only the replies said (e.g. the thanks
    #: for a tip reaction); their last prompt stays the current one
    quiet: bool = False
    #: a state an action sends the conversation back to (where a side trip started)
    jump: str | None = None

    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def content(self) -> Content:
        return self.engine.content

    @property
    def ctx(self) -> dict[str, Any]:
        return self.conv.context

    @property
    def member_id(self) -> int | None:
        return self.conv.member_id

    def now(self) -> datetime:
        return self.engine.clock()

    def text(self, key: str, **values: object) -> str:
        return self.engine.text(key, **values)

    def say(self, key: str, **values: object) -> None:
        self.replies.append(Reply(self.text(key, **values)))
