"""What Teamspiegel says: content packs, each one YAML file with its source attribution.

A *pack* is one YAML file: who published what it quotes (``source``), a ``version``, who it is
for (``audience``) and its items. Two packs have a shape of their own and are always there:

* ``praatplaat.yaml``: the Praatplaat, 10 themes in 4 groups of reflection questions;
* ``kalender.yaml``: the Verjaardagskalender, 12 monthly tips.

Every other ``content/<id>.yaml`` is a generic :class:`Pack` with any of:

* ``themes``: reflection units, each with questions in the same answer forms as the Praatplaat
  (scale with anchors and a declared direction, open text, scale + open follow-up), optional
  ``quotes`` shown before the first question;
* ``cases``: case conversations: the case told in a few quoted messages (``quotes``), then
  questions (per role), answered as text;
* ``tips``: a series of tips (title, text, quote) sent one per month, each with one reflection
  question of our own;
* ``dilemmas``: cards for the team conversation: a two-sided vote plus discussion prompts.

Teams can add packs of their own in the same format (``teamspiegel content add FILE --team
TEAM``, kept per version in the store: :mod:`bot.packs`). A pack cannot change the privacy rules:
keys such as ``k`` or ``share_text`` are refused with a clear message.

Every problem in a file is reported as ``<file>:<line>: <field.path>: <what is wrong>`` (see
:mod:`bot.yamlio`), also for cross-field problems such as a duplicate id, which points at the
duplicate's own line.

Quoted and our own words: everything in a pack is quoted from its source unless the field is
listed in the item's ``ours`` (our own words: shown without quotation marks). ``quotes`` are
always quoted (shown in quotation marks). The content tests check every quoted field word for
word against the source texts in ``content/sources/``.

The content directory is ``content/`` next to the ``bot`` package, unless the environment
variable ``TEAMSPIEGEL_CONTENT`` names another directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from bot.nl import MONTHS
from bot.yamlio import ConfigError, FieldIssues, Loc, format_loc, load_model, load_yaml

__all__ = [
    "ALL",
    "AUDIENCES",
    "BUILTIN_PACKS",
    "DEFAULT_CONTENT_DIR",
    "DEFAULT_PACKS",
    "ENV_CONTENT_DIR",
    "KALENDER_FILE",
    "MIN_SCORE_ITEMS",
    "MONTHS_NL",
    "PRAATPLAAT_FILE",
    "PRIVACY_KEYS",
    "ROLES",
    "Case",
    "Content",
    "Dilemma",
    "Group",
    "Kalender",
    "MoreInfo",
    "Pack",
    "PackTheme",
    "Praatplaat",
    "Question",
    "Quote",
    "SOURCES_DIR",
    "Scale",
    "SeriesTip",
    "Source",
    "SourceFile",
    "Sources",
    "Theme",
    "Tip",
    "TipUnit",
    "Unit",
    "check_sources",
    "content_dir",
    "get_content",
    "load_content",
    "load_sources",
    "pack_summary",
    "summary",
]

#: Role ids of members. ``manager`` = teamleider/manager, ``beleid`` = beleidsmedewerker,
#: ``bestuurder`` = wethouder/raadslid/bestuurder.
ROLES: tuple[str, ...] = ("professional", "manager", "beleid", "bestuurder")
#: Audience value meaning "every role".
ALL = "all"
AUDIENCES: tuple[str, ...] = (ALL, *ROLES)

ENV_CONTENT_DIR = "TEAMSPIEGEL_CONTENT"
#: The repository's ``content/`` directory (``bot/../content``).
DEFAULT_CONTENT_DIR: Path = (Path(__file__).resolve().parent.parent / "content").resolve()
PRAATPLAAT_FILE = "praatplaat.yaml"
KALENDER_FILE = "kalender.yaml"
#: the two packs of their own shape; every other ``content/*.yaml`` is a :class:`Pack`
BUILTIN_PACKS: tuple[str, ...] = ("praatplaat", "kalender")
#: the packs a team uses until an owner chooses (bot.packs)
DEFAULT_PACKS: tuple[str, ...] = ("praatplaat", "kalender")
#: the source texts the content quotes, inside the content directory (with provenance.yaml)
SOURCES_DIR = "sources"
PROVENANCE_FILE = "provenance.yaml"

#: Keys that would change the privacy rules. A pack is content only: who sees what (k, frozen
#: snapshots, sharing free text) is decided by Teamspiegel, never by a pack.
PRIVACY_KEYS: frozenset[str] = frozenset({
    "k", "min_group", "min_k", "threshold", "privacy", "anonymous", "anonymity", "snapshot",
    "snapshots", "share", "share_text", "shared", "share_default", "visible_to", "readers",
    "retention", "show_names", "names",
})

MONTHS_NL: tuple[str, ...] = MONTHS  # Dutch month names (bot.nl)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    # a pack may come from a team: plain text only, no control characters (newlines are fine)
    bad = [ch for ch in value if ord(ch) < 32 and ch not in "\n\t" or 0x7F <= ord(ch) < 0xA0]
    if bad:
        raise ValueError(f"contains a control character ({ord(bad[0]):#04x}); use plain text")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


def _max(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; keep it under {limit + 1} "
                             "(it must fit on a phone screen)")
        return value

    return AfterValidator(check)


Text = Annotated[str, AfterValidator(_not_blank)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=48)]
Url = Annotated[str, AfterValidator(_http_url)]
#: lengths that keep a message readable on a phone (and below every platform's limit)
Title = Annotated[str, AfterValidator(_not_blank), _max(120)]
ShortText = Annotated[str, AfterValidator(_not_blank), _max(400)]
LongText = Annotated[str, AfterValidator(_not_blank), _max(1200)]
Label = Annotated[str, AfterValidator(_not_blank), _max(40)]


def _check_audience(values: list[str]) -> list[str]:
    """Audience: non-empty, known values, no duplicates, ``all`` only on its own."""
    if not values:
        raise ValueError(f"must name at least one of: {', '.join(AUDIENCES)}")
    issues: list[tuple[Loc, str]] = []
    for i, value in enumerate(values):
        if value not in AUDIENCES:
            issues.append(((i,), f"unknown audience {value!r}; use one of: {', '.join(AUDIENCES)}"))
        elif value in values[:i]:
            issues.append(((i,), f"{value!r} is listed twice"))
    if ALL in values and len(values) > 1:
        issues.append(((values.index(ALL),), f"{ALL!r} cannot be combined with roles"))
    if issues:
        raise FieldIssues(issues)
    return values


def _roles(audience: list[str]) -> set[str]:
    """The roles an audience names (``all``: every role)."""
    return set(ROLES) if ALL in audience else set(audience)


def _privacy_keys(data: Any) -> None:
    """Refuse keys that would change the privacy rules (before any other check)."""
    if isinstance(data, dict):
        found = [(str(key),) for key in data if str(key) in PRIVACY_KEYS]
        if found:
            raise FieldIssues([(loc, "a pack cannot change the privacy rules (k, frozen "
                                     "snapshots, who sees shared texts); remove this key")
                               for loc in found])


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Authored(_Frozen):
    """What a pack's author writes: it may not touch the privacy rules (a key like ``k`` is
    refused wherever it appears), and names the fields in its own words in ``ours``."""

    if TYPE_CHECKING:
        ours: list[str]

    @model_validator(mode="before")
    @classmethod
    def _no_privacy(cls, data: Any) -> Any:
        _privacy_keys(data)
        return data

    def is_ours(self, name: str) -> bool:
        return name in self.ours


class _ForAudience(_Authored):
    """Authored content with an ``audience``: the roles it is for (checked), or ``alle``."""

    if TYPE_CHECKING:
        audience: list[str]

    @field_validator("audience", check_fields=False)
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        return _check_audience(value)

    def for_role(self, role: str) -> bool:
        """Whether a member with ``role`` gets this. Unknown roles raise ValueError."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return ALL in self.audience or role in self.audience


class Source(_Frozen):
    """Where a content pack comes from; shown wherever its content is shown."""

    title: Text
    publication: Text
    publisher: Text
    #: None when the source does not print its year (we do not guess one)
    year: int | None = Field(default=None, ge=1990, le=2100)
    url: Url | None = None

    def attribution(self) -> str:
        """Short Dutch attribution line, e.g. ``Bron: Verjaardagskalender — ..., 2022``."""
        year = f", {self.year}" if self.year else ""
        return f"Bron: {self.title} — {self.publisher}{year}"


class Scale(_Frozen):
    """The anchor words of one 1-5 scale: what 1 and 5 mean (``Nooit`` … ``Heel vaak``)."""

    low: Label
    high: Label


class Quote(_Frozen):
    """A passage quoted word for word from the pack's source (shown in quotation marks).

    ``cite`` says who or where (``opdracht sociaal wijkteam, 2016``, ``2.8. Betekenisvol
    verantwoorden``), also as printed. A bare string is a quote without ``cite``.
    """

    text: LongText
    cite: Title | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data

    def shown(self) -> str:
        """How a member reads it: „…”, with the citation on its own line."""
        text = f"„{self.text.strip()}”"
        return f"{text}\n— {self.cite}" if self.cite else text


#: a theme score needs at least this many scale items of one direction; with fewer, reports
#: show the items themselves and say the theme has too few scale items to score
MIN_SCORE_ITEMS = 2


def _check_ours(model: BaseModel, names: list[str], allowed: tuple[str, ...]) -> None:
    """``ours`` names the fields that hold our own words (not quoted from the source)."""
    issues: list[tuple[Loc, str]] = []
    for i, name in enumerate(names):
        if name not in allowed:
            issues.append((("ours", i), f"{name!r} cannot be marked as ours here; "
                                         f"use one of: {', '.join(allowed)}"))
        elif name in names[:i]:
            issues.append((("ours", i), f"{name!r} is listed twice"))
        elif getattr(model, name) in (None, "", []):
            issues.append((("ours", i), f"{name!r} is marked as ours but has no value"))
    if issues:
        raise FieldIssues(issues)


class Question(_ForAudience):
    """One question, quoted as printed (or marked ``ours``), with the answer form it asks for.

    ``kind: text`` is an open question. ``kind: scale`` is answered 1-5 with the question's own
    ``anchors`` and a declared ``higher_is_better`` (true, false, or null when neither end is
    better). A scale question whose second half is open carries that half, verbatim, as
    ``follow_up``: the closed part (:attr:`ask`) is asked on the scale, then the follow-up as
    its own prompt, stored as the text of the same answer (one question for counting).
    """

    id: Slug
    text: ShortText
    kind: Literal["scale", "text"]
    audience: list[str]
    anchors: Scale | None = None
    #: required for a scale (``null`` allowed, but it must be written): which end is better
    higher_is_better: bool | None = None
    #: the open half of a multi-part question: the end of ``text``, asked after the scale
    follow_up: Text | None = None
    #: false keeps a scale item out of its theme's score (it is reported on its own)
    theme_score: bool = True
    #: where the Praatplaat (appendix) and chapter 2 word a question differently, ``text``
    #: follows the Praatplaat and this keeps the chapter's wording as a note
    chapter_text: Text | None = None
    #: fields in our own words (``[text]``): a question we wrote, not one quoted from the source
    ours: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _answer_form(self) -> Question:
        issues: list[tuple[Loc, str]] = []
        given = self.model_fields_set
        if self.kind == "scale":
            if self.anchors is None:
                issues.append((("anchors",), "a scale question needs anchors "
                                             "{low: ..., high: ...}: what 1 and 5 mean"))
            if "higher_is_better" not in given:
                issues.append((("higher_is_better",), "a scale question must declare "
                                                      "higher_is_better: true, false or null"))
            if self.follow_up is not None:
                if not self.text.endswith(self.follow_up):
                    issues.append((("follow_up",), "must be the end of 'text' (the open half "
                                                   "of the question, as printed)"))
                elif not self.ask:
                    issues.append((("follow_up",), "leaves no closed part of 'text' to ask on "
                                                   "the scale"))
        else:
            for name in ("anchors", "higher_is_better", "follow_up", "theme_score"):
                if name in given:
                    issues.append(((name,), f"only a scale question has {name!r}"))
        try:
            _check_ours(self, self.ours, ("text", "follow_up"))
        except FieldIssues as exc:
            issues.extend(exc.issues)
        if issues:
            raise FieldIssues(issues)
        return self

    @property
    def ask(self) -> str:
        """What is asked first: the whole text, or for a scale with a follow-up its closed part."""
        if self.follow_up is None:
            return self.text
        return self.text[: len(self.text) - len(self.follow_up)].strip()

    @property
    def in_theme_score(self) -> bool:
        """Whether this item is averaged into its theme's score."""
        return self.kind == "scale" and self.higher_is_better is not None and self.theme_score

    def is_ours(self, name: str = "text") -> bool:
        return name in self.ours


class MoreInfo(_Frozen):
    """A "Meer weten?" reference of a theme."""

    title: Text
    url: Url


class Unit(_Authored):
    """What a reflection round walks through: a theme, a case or a tip, with its questions.

    ``kind`` tells them apart (``theme``, ``case``, ``tip``); reports and menus treat them
    alike. Question ids start with the unit's id (``regie-1``).
    """

    kind: ClassVar[str] = "theme"
    #: fields that may be marked ``ours`` on this kind of unit
    OURS: ClassVar[tuple[str, ...]] = ("title", "intro")

    id: Slug
    title: Title
    intro: ShortText | None = None
    #: passages quoted word for word, shown before the first question (in quotation marks)
    quotes: list[Quote] = Field(default_factory=list, max_length=8)
    questions: list[Question] = Field(min_length=1, max_length=30)
    more_info: list[MoreInfo] = Field(default_factory=list)
    #: fields that hold our own words, not the source's (e.g. ``[intro]``)
    ours: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _question_ids(self) -> Unit:
        _check_ours(self, self.ours, self.OURS)
        issues: list[tuple[Loc, str]] = []
        for i, question in enumerate(self.questions):
            if not question.id.startswith(f"{self.id}-"):
                issues.append(
                    (("questions", i, "id"), f"must start with the {self.kind} id: '{self.id}-...'")
                )
        # the items averaged into one theme score must point the same way
        scored = [(i, q) for i, q in enumerate(self.questions) if q.in_theme_score]
        if scored:
            first_i, first = scored[0]
            for i, q in scored[1:]:
                if q.higher_is_better != first.higher_is_better:
                    issues.append((
                        ("questions", i, "higher_is_better"),
                        f"{_direction(q.higher_is_better)} here but {first.id} is "
                        f"{_direction(first.higher_is_better)}: both would be averaged into one "
                        "theme score; set 'theme_score: false' on one of them",
                    ))
        if issues:
            raise FieldIssues(issues)
        return self

    @property
    def label(self) -> str:
        """How menus name the unit (``4. Regie voeren`` for a numbered theme)."""
        number = getattr(self, "number", None)
        return f"{number}. {self.title}" if number else self.title

    def questions_for(self, role: str) -> list[Question]:
        return [q for q in self.questions if q.for_role(role)]

    def _for(self, role: str | None) -> list[Question]:
        return list(self.questions) if role is None else self.questions_for(role)

    def scale_items(self, role: str | None = None) -> list[Question]:
        """The scale questions (of ``role``, or all), in order."""
        return [q for q in self._for(role) if q.kind == "scale"]

    def score_items(self, role: str | None = None) -> list[Question]:
        """The scale items averaged into this theme's score (one direction, see the validator)."""
        return [q for q in self._for(role) if q.in_theme_score]

    @property
    def score_direction(self) -> bool | None:
        """``higher_is_better`` of the theme score (None when the theme has no score items)."""
        items = self.score_items()
        return items[0].higher_is_better if items else None

    def direction_groups(self, role: str | None = None) -> dict[bool | None, list[Question]]:
        """Scale items by ``higher_is_better``: never average across these groups."""
        groups: dict[bool | None, list[Question]] = {}
        for q in self.scale_items(role):
            groups.setdefault(q.higher_is_better, []).append(q)
        return groups

    def can_score(self, role: str | None = None) -> bool:
        """Whether the theme has enough score items (:data:`MIN_SCORE_ITEMS`) for a score."""
        return len(self.score_items(role)) >= MIN_SCORE_ITEMS


class Theme(Unit):
    """One of the Praatplaat's 10 themes."""

    number: int = Field(ge=1, le=10)
    intro: ShortText


class PackTheme(Unit):
    """A reflection theme of a pack (numbered when the source numbers it)."""

    number: int | None = Field(default=None, ge=1, le=99)


class Case(Unit):
    """A case conversation: the case told in a few quoted messages, then questions per role.

    Each ``quotes`` entry is one short message of the story, quoted word for word.
    """

    kind: ClassVar[str] = "case"

    quotes: list[Quote] = Field(min_length=1, max_length=8)


class TipUnit(Unit):
    """The reflection question of a series tip, as a unit of one question (built by
    :attr:`SeriesTip.unit`; never written in a file)."""

    kind: ClassVar[str] = "tip"


def _direction(value: bool | None) -> str:
    return "higher_is_better: " + ("null" if value is None else str(value).lower())


class Group(_Frozen):
    id: Slug
    title: Text
    themes: list[Theme] = Field(min_length=1)


def _duplicates(items: list[tuple[Loc, Any]], what: str, issues: list[tuple[Loc, str]]) -> None:
    """Append an issue for every item whose key was seen before (pointing at the duplicate)."""
    first: dict[Any, Loc] = {}
    for loc, key in items:
        if key in first:
            issues.append(
                (loc, f"duplicate {what} {key!r} (first used at {format_loc(first[key])})")
            )
        else:
            first[key] = loc


@dataclass
class _Index:
    themes: tuple[Unit, ...]
    theme: dict[str, Unit] = field(default_factory=dict)
    question: dict[str, Question] = field(default_factory=dict)
    theme_of: dict[str, Unit] = field(default_factory=dict)
    group_of: dict[str, Group] = field(default_factory=dict)


class _Reflection:
    """Lookups shared by every pack with reflection units (the Praatplaat and :class:`Pack`).

    A unit is a theme, a case or a tip's question; ``theme`` and ``theme_of`` find any of them
    (answers store the unit's id as ``theme_id``). The subclasses provide ``id``, ``title``,
    ``version``, ``source`` and ``index``.
    """

    @property
    def index(self) -> _Index:  # pragma: no cover - provided by the subclasses
        raise NotImplementedError

    @property
    def units(self) -> list[Unit]:
        """Every reflection unit, in order."""
        return list(self.index.themes)

    def round_units(self) -> list[Unit]:
        """The units of a whole round ("Hele ronde"): the themes, not cases or tips."""
        return [u for u in self.index.themes if u.kind == "theme"]

    @property
    def questions(self) -> list[Question]:
        """All questions in order."""
        return [q for t in self.index.themes for q in t.questions]

    def theme(self, theme_id: str) -> Unit:
        """The unit with this id; KeyError if unknown."""
        try:
            return self.index.theme[theme_id]
        except KeyError:
            raise KeyError(f"unknown theme id {theme_id!r}") from None

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError if unknown."""
        try:
            return self.index.question[question_id]
        except KeyError:
            raise KeyError(f"unknown question id {question_id!r}") from None

    def theme_of(self, question_id: str) -> Unit:
        """The unit a question belongs to; KeyError if unknown."""
        try:
            return self.index.theme_of[question_id]
        except KeyError:
            raise KeyError(f"unknown question id {question_id!r}") from None

    def questions_for(self, theme_id: str, role: str) -> list[Question]:
        """The questions of a unit that a member with ``role`` is asked, in order."""
        return self.theme(theme_id).questions_for(role)

    def units_for(self, role: str) -> list[Unit]:
        """The units with at least one question for ``role``."""
        return [u for u in self.index.themes if u.questions_for(role)]

    def unscored_themes(self, role: str | None = None) -> list[Unit]:
        """Themes with too few scale items for a theme score (fewer than MIN_SCORE_ITEMS)."""
        return [t for t in self.index.themes if not t.can_score(role)]

    def for_role(self, role: str) -> bool:
        """Whether the pack has anything a member with ``role`` answers privately."""
        return bool(self.units_for(role))


class Praatplaat(_Frozen, _Reflection):
    """The 10 themes in 4 groups with their sub-questions."""

    id: Literal["praatplaat"] = "praatplaat"
    title: Title = "Praatplaat"
    audience: list[str] = Field(default_factory=lambda: [ALL])
    source: Source
    version: Text
    groups: list[Group] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_and_index(self) -> Praatplaat:
        issues: list[tuple[Loc, str]] = []
        groups: list[tuple[Loc, Any]] = []
        themes: list[tuple[Loc, Any]] = []
        numbers: list[tuple[Loc, Any]] = []
        questions: list[tuple[Loc, Any]] = []
        for g, group in enumerate(self.groups):
            groups.append((("groups", g, "id"), group.id))
            for t, theme in enumerate(group.themes):
                tloc: Loc = ("groups", g, "themes", t)
                themes.append(((*tloc, "id"), theme.id))
                numbers.append(((*tloc, "number"), theme.number))
                for q, question in enumerate(theme.questions):
                    questions.append(((*tloc, "questions", q, "id"), question.id))
        _duplicates(groups, "group id", issues)
        _duplicates(themes, "theme id", issues)
        _duplicates(numbers, "theme number", issues)
        _duplicates(questions, "question id", issues)
        missing = sorted(set(range(1, 11)) - {n for _, n in numbers})
        if missing:
            issues.append(
                (
                    ("groups",),
                    f"theme numbers must be 1..10; missing: {', '.join(map(str, missing))}",
                )
            )
        if issues:
            raise FieldIssues(issues)

        return self

    @cached_property
    def index(self) -> _Index:
        """Lookups by id, built once. A plain cached attribute, because pydantic's private
        attributes cost a few microseconds per access and the engine looks up on every turn."""
        idx = _Index(
            themes=tuple(sorted((t for g in self.groups for t in g.themes),
                                key=lambda t: t.number))  # type: ignore[attr-defined]
        )
        for group in self.groups:
            for theme in group.themes:
                idx.theme[theme.id] = theme
                idx.group_of[theme.id] = group
                for question in theme.questions:
                    idx.question[question.id] = question
                    idx.theme_of[question.id] = theme
        return idx

    @property
    def themes(self) -> list[Theme]:  # type: ignore[override]
        """All themes in Praatplaat order (by number)."""
        return list(self.index.themes)  # type: ignore[arg-type]

    if TYPE_CHECKING:  # the shared lookups, typed as the Praatplaat's themes (no extra call)
        def theme(self, theme_id: str) -> Theme: ...  # type: ignore[override]

        def theme_of(self, question_id: str) -> Theme: ...  # type: ignore[override]

    def group_of(self, theme_id: str) -> Group:
        """The group a theme belongs to; KeyError if unknown."""
        try:
            return self.index.group_of[theme_id]
        except KeyError:
            raise KeyError(f"unknown theme id {theme_id!r}") from None


class Tip(_ForAudience):
    """One month of the Verjaardagskalender."""

    month: int = Field(ge=1, le=12)
    title: Text
    text: Text
    quote: Text
    quote_role: Text
    audience: list[str]
    question: Text
    #: fields that hold our own words, not the calendar's (e.g. ``[audience, question]``)
    ours: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ours(self) -> Tip:
        _check_ours(self, self.ours,
                    ("title", "text", "quote", "quote_role", "audience", "question"))
        return self

    @property
    def month_name(self) -> str:
        """Dutch month name, e.g. ``januari``."""
        return MONTHS_NL[self.month - 1]



class Kalender(_Frozen):
    """Twelve monthly tips, January to December."""

    id: Literal["kalender"] = "kalender"
    title: Title = "Verjaardagskalender"
    audience: list[str] = Field(default_factory=lambda: [ALL])
    source: Source
    version: Text
    tips: list[Tip]

    @model_validator(mode="after")
    def _twelve_months(self) -> Kalender:
        issues: list[tuple[Loc, str]] = []
        _duplicates(
            [(("tips", i, "month"), t.month) for i, t in enumerate(self.tips)], "month", issues
        )
        missing = sorted(set(range(1, 13)) - {t.month for t in self.tips})
        if missing:
            issues.append((("tips",), f"need one tip per month 1..12; missing: {missing}"))
        if len(self.tips) != 12:
            issues.append((("tips",), f"need exactly 12 tips, found {len(self.tips)}"))
        if issues:
            raise FieldIssues(issues)
        return self

    @property
    def units(self) -> list[Unit]:
        """The calendar has no reflection units (its tips get a 1-5 reaction)."""
        return []

    def for_role(self, role: str) -> bool:
        return any(t.for_role(role) for t in self.tips)

    def tip_for_month(self, month: int) -> Tip:
        """The tip of ``month`` (1..12); ValueError outside that range."""
        for tip in self.tips:
            if tip.month == month:
                return tip
        raise ValueError(f"no tip for month {month!r}; months are 1..12")


class SeriesTip(_ForAudience):
    """One tip of a series (``tips:`` of a pack): sent one per month, in ``number`` order,
    with one reflection question of our own (``question``), answered as text."""

    id: Slug
    number: int = Field(ge=1, le=99)
    title: Title
    text: LongText
    quote: LongText
    #: who said it, as printed before or after the quote ("Eén van de deelnemende gemeenten")
    quote_role: Title
    audience: list[str]
    question: ShortText
    ours: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ours(self) -> SeriesTip:
        _check_ours(self, self.ours,
                    ("title", "text", "quote", "quote_role", "audience", "question"))
        return self


    @cached_property
    def unit(self) -> TipUnit:
        """The tip's question as a unit of one open question (id ``<tip id>-vraag``)."""
        return TipUnit(
            id=self.id, title=self.title, ours=["title"] if self.is_ours("title") else [],
            questions=[Question(id=f"{self.id}-vraag", text=self.question, kind="text",
                                audience=list(self.audience),
                                ours=["text"] if self.is_ours("question") else [])],
        )


class Dilemma(_ForAudience):
    """A dilemma card for the team conversation: a two-sided vote plus discussion prompts.

    ``title`` is the dilemma as the source prints it ("Zelfbeschikking versus veiligheid?"),
    ``sides`` the two answers to vote on (short: they become buttons or poll options),
    ``prompts`` what to talk about after the vote, ``quotes`` optional context from the source.
    """

    id: Slug
    title: Title
    sides: list[Label] = Field(min_length=2, max_length=2)
    prompts: list[ShortText] = Field(min_length=1, max_length=6)
    quotes: list[Quote] = Field(default_factory=list, max_length=3)
    audience: list[str] = Field(default_factory=lambda: [ALL])
    ours: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Dilemma:
        _check_ours(self, self.ours, ("title", "sides", "prompts"))
        if self.sides[0].strip().casefold() == self.sides[1].strip().casefold():
            raise FieldIssues([(("sides", 1), "the two sides must differ")])
        return self

    def options(self) -> list[tuple[str, str]]:
        """The vote's two options as (value, label): values ``a`` and ``b``."""
        return [("a", self.sides[0]), ("b", self.sides[1])]


class Pack(_Authored, _Reflection):
    """A content pack: source, version, audience and items (themes, cases, tips, dilemmas)."""

    id: Slug
    title: Title
    version: Annotated[str, AfterValidator(_not_blank), _max(40)]
    source: Source
    #: who the pack is for; every item's audience must lie within it
    audience: list[str]
    intro: ShortText | None = None
    #: passages quoted from the source, shown once at the start of a round
    quotes: list[Quote] = Field(default_factory=list, max_length=4)
    themes: list[PackTheme] = Field(default_factory=list, max_length=60)
    cases: list[Case] = Field(default_factory=list, max_length=30)
    tips: list[SeriesTip] = Field(default_factory=list, max_length=24)
    dilemmas: list[Dilemma] = Field(default_factory=list, max_length=30)
    ours: list[str] = Field(default_factory=list)

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        return _check_audience(value)

    @model_validator(mode="after")
    def _check_and_index(self) -> Pack:
        issues: list[tuple[Loc, str]] = []
        if self.id in BUILTIN_PACKS:
            issues.append((("id",), f"{self.id!r} is the name of a built-in pack"))
        try:
            _check_ours(self, self.ours, ("title", "intro"))
        except FieldIssues as exc:
            issues.extend(exc.issues)
        if not (self.themes or self.cases or self.tips or self.dilemmas):
            issues.append(((), "a pack needs at least one of: themes, cases, tips, dilemmas"))
        ids: list[tuple[Loc, Any]] = []
        questions: list[tuple[Loc, Any]] = []
        allowed = _roles(self.audience)
        for name in ("themes", "cases", "tips", "dilemmas"):
            for i, item in enumerate(getattr(self, name)):
                ids.append(((name, i, "id"), item.id))
                audience = getattr(item, "audience", None)
                if audience is not None and not _roles(audience) <= allowed:
                    issues.append(((name, i, "audience"), _outside(audience, self.audience)))
                for q, question in enumerate(getattr(item, "questions", [])):
                    questions.append(((name, i, "questions", q, "id"), question.id))
                    if not _roles(question.audience) <= allowed:
                        issues.append(((name, i, "questions", q, "audience"),
                                       _outside(question.audience, self.audience)))
        _duplicates(ids, "id", issues)
        _duplicates(questions, "question id", issues)
        _duplicates([(("tips", i, "number"), t.number) for i, t in enumerate(self.tips)],
                    "tip number", issues)
        if issues:
            raise FieldIssues(issues)
        return self

    @cached_property
    def index(self) -> _Index:
        units: list[Unit] = [*self.themes, *self.cases,
                             *(t.unit for t in sorted(self.tips, key=lambda t: t.number))]
        idx = _Index(themes=tuple(units))
        for unit in units:
            idx.theme[unit.id] = unit
            for question in unit.questions:
                idx.question[question.id] = question
                idx.theme_of[question.id] = unit
        return idx

    def series(self) -> list[SeriesTip]:
        """The tips in the order they are sent."""
        return sorted(self.tips, key=lambda t: t.number)

    def tip(self, tip_id: str) -> SeriesTip:
        for tip in self.tips:
            if tip.id == tip_id:
                return tip
        raise KeyError(f"unknown tip id {tip_id!r}")

    def dilemma(self, dilemma_id: str) -> Dilemma:
        for item in self.dilemmas:
            if item.id == dilemma_id:
                return item
        raise KeyError(f"unknown dilemma id {dilemma_id!r}")

    def for_role(self, role: str) -> bool:
        return role in _roles(self.audience)


def _outside(audience: list[str], pack: list[str]) -> str:
    return (f"{'+'.join(audience)} is not within the pack's audience ({'+'.join(pack)}); "
            "widen the pack's audience or narrow this one")


#: a pack as loaded: one of the two built-in shapes or a generic pack
AnyPack = Praatplaat | Kalender | Pack


class Content(_Frozen):
    """All packs of the content directory, as loaded together."""

    praatplaat: Praatplaat
    kalender: Kalender
    #: every other pack of the content directory, by file name
    packs: list[Pack] = Field(default_factory=list)

    @cached_property
    def version(self) -> str:
        """Combined content version, stored with answers: ``praatplaat=<v>;kalender=<v>``
        (made once: the content is frozen, and every saved answer asks)."""
        return f"praatplaat={self.praatplaat.version};kalender={self.kalender.version}"

    @property
    def all_packs(self) -> list[AnyPack]:
        """Every pack, the two built-in ones first."""
        return [self.praatplaat, self.kalender, *self.packs]

    @cached_property
    def pack_index(self) -> dict[str, AnyPack]:
        """Pack id -> pack (the first with that id), built once: the content is frozen, and the
        engine asks for a pack on every turn."""
        index: dict[str, AnyPack] = {}
        for pack in self.all_packs:
            index.setdefault(pack.id, pack)
        return index

    def pack(self, pack_id: str) -> AnyPack:
        """The pack with this id; KeyError if there is none."""
        found = self.pack_index.get(pack_id)
        if found is None:
            raise KeyError(f"unknown pack {pack_id!r}")
        return found

    def has_pack(self, pack_id: str) -> bool:
        return pack_id in self.pack_index

    def unit_owners(self) -> dict[str, str]:
        """Unit id -> id of the pack that has it (unit ids are unique over all packs)."""
        owners: dict[str, str] = {}
        for pack in self.all_packs:
            for unit in pack.units:
                owners.setdefault(unit.id, pack.id)
        return owners


class SourceFile(_Frozen):
    """One source text kept in ``content/sources/``: a copy of a seed, pinned by checksum."""

    file: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    #: the seed of the project this is a copy of (``../shared/seeds/<seed>``)
    seed: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    title: Text
    publisher: Text
    year: int | None = Field(default=None, ge=1990, le=2100)
    used_by: list[str] = Field(min_length=1)


class Sources(_Frozen):
    sources: list[SourceFile] = Field(min_length=1)


def load_sources(dir: Path | None = None) -> tuple[Path, Sources] | None:
    """``<content>/sources/provenance.yaml``, validated; None when the folder has none."""
    base = (Path(dir) if dir is not None else content_dir()) / SOURCES_DIR
    path = base / PROVENANCE_FILE
    if not path.exists():
        return None
    return base, load_model(path, Sources)


def check_sources(dir: Path | None = None) -> list[str]:
    """Problems with the source copies (missing file, checksum differs), as file:line lines."""
    loaded = load_sources(dir)
    if loaded is None:
        return []
    base, sources = loaded
    _, locate = load_yaml(base / PROVENANCE_FILE)
    problems: list[str] = []
    for i, item in enumerate(sources.sources):
        path = base / item.file
        where = f"{base / PROVENANCE_FILE}:{locate(('sources', i, 'sha256'))}: sources[{i}]"
        if not path.exists():
            problems.append(f"{where}.file: {item.file} is missing from {base}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != item.sha256:
            problems.append(f"{where}.sha256: {item.file} does not match its checksum "
                            "(source copies are never edited)")
    return problems


def content_dir() -> Path:
    """The content directory: ``$TEAMSPIEGEL_CONTENT`` if set, else :data:`DEFAULT_CONTENT_DIR`."""
    override = os.environ.get(ENV_CONTENT_DIR, "").strip()
    return Path(override).expanduser() if override else DEFAULT_CONTENT_DIR


def pack_files(base: Path) -> list[Path]:
    """The generic pack files of a content directory (``*.yaml`` but the built-in two)."""
    builtin = {PRAATPLAAT_FILE, KALENDER_FILE}
    return sorted(p for p in base.glob("*.yaml") if p.name not in builtin)


def check_pack_file(path: Path, pack: Pack, taken: dict[str, tuple[str, str]]) -> list[str]:
    """Cross-pack problems of one pack file: its id must match the file name, and its unit and
    dilemma ids must not be used by another pack (``taken``: id -> (pack id, file))."""
    _, locate = load_yaml(path)
    problems: list[str] = []
    if path.stem != pack.id:
        problems.append(f"{path}:{locate(('id',))}: id: must match the file name "
                        f"({path.stem!r}), found {pack.id!r}")
    problems += unit_id_conflicts(path, pack, taken, locate)
    return problems


def unit_id_conflicts(
    name: Path | str, pack: Pack, taken: dict[str, tuple[str, str]], locate: Any
) -> list[str]:
    """Unit and dilemma ids of ``pack`` already used by another pack (answers and follow-ups
    name a unit by its id, so it must be unique over every pack a team can use)."""
    problems: list[str] = []
    for section in ("themes", "cases", "tips", "dilemmas"):
        for i, item in enumerate(getattr(pack, section)):
            owner = taken.get(item.id)
            if owner is not None and owner[0] != pack.id:
                loc = (section, i, "id")
                problems.append(f"{name}:{locate(loc)}: {format_loc(loc)}: {item.id!r} is "
                                f"already used by pack {owner[0]!r} ({owner[1]}); choose "
                                "another id")
    return problems


def taken_ids(packs: list[AnyPack]) -> dict[str, tuple[str, str]]:
    """Unit and dilemma id -> (pack id, where) over these packs."""
    taken: dict[str, tuple[str, str]] = {}
    for pack in packs:
        items: list[Any] = [*pack.units, *getattr(pack, "dilemmas", [])]
        for item in items:
            taken.setdefault(item.id, (pack.id, f"{pack.id}.yaml"))
    return taken


def load_content(dir: Path | None = None) -> Content:
    """Load and validate every pack in ``dir`` (default: :func:`content_dir`).

    Problems of all files are collected into one :class:`~bot.yamlio.ConfigError`.
    """
    base = Path(dir) if dir is not None else content_dir()
    problems: list[str] = []
    praatplaat: Praatplaat | None = None
    kalender: Kalender | None = None
    try:
        praatplaat = load_model(base / PRAATPLAAT_FILE, Praatplaat)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        kalender = load_model(base / KALENDER_FILE, Kalender)
    except ConfigError as exc:
        problems.extend(exc.problems)
    packs: list[Pack] = []
    taken = taken_ids([p for p in (praatplaat, kalender) if p is not None])
    for path in pack_files(base):
        try:
            pack = load_model(path, Pack)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        found = check_pack_file(path, pack, taken)
        problems.extend(found)
        if not found:
            packs.append(pack)
            for pid in taken_ids([pack]):
                taken.setdefault(pid, (pack.id, path.name))
    if problems or praatplaat is None or kalender is None:
        raise ConfigError(problems)
    return Content(praatplaat=praatplaat, kalender=kalender, packs=packs)


@functools.lru_cache(maxsize=1)
def get_content() -> Content:
    """The default content, loaded once per process. ``get_content.cache_clear()`` reloads."""
    return load_content()


def _audience_label(audience: list[str]) -> str:
    return "+".join(a for a in AUDIENCES if a in audience)


def summary(content: Content) -> str:
    """Human-readable overview for ``teamspiegel content check``."""
    p, k = content.praatplaat, content.kalender
    questions = p.questions
    kinds = Counter(q.kind for q in questions)
    follow_ups = sum(q.follow_up is not None for q in questions)
    lines = [
        f"Content version: {content.version}",
        "",
        f"Praatplaat (version {p.version})",
        f"  {p.source.attribution()}",
        f"  {len(p.groups)} groups, {len(p.themes)} themes, {len(questions)} questions "
        f"({kinds['scale']} scale, {follow_ups} of them with an open follow-up; "
        f"{kinds['text']} text)",
    ]
    for group in p.groups:
        lines.append(f"  [{group.id}] {group.title}")
        for theme in group.themes:
            special = [q for q in theme.questions if ALL not in q.audience]
            extra = (
                " (" + ", ".join(f"{q.id}: {_audience_label(q.audience)}" for q in special) + ")"
                if special
                else ""
            )
            lines.append(
                f"    {theme.number:>2}. {theme.title} [{theme.id}] - "
                f"{len(theme.questions)} questions{extra}; {_score_line(theme)}"
            )
            lines += _scale_lines(theme)
    unscored = p.unscored_themes()
    lines.append(
        f"  Too few scale items for a theme score (< {MIN_SCORE_ITEMS}): "
        + (", ".join(f"{t.number} ({len(t.score_items())})" for t in unscored) or "none")  # type: ignore[attr-defined]
    )
    ours = [t.id for t in p.themes if t.ours]
    lines.append(f"  Our own words (marked 'ours'): {len(ours)} themes "
                 f"({', '.join(sorted({f for t in p.themes for f in t.ours}))})")
    per_audience = Counter(_audience_label(q.audience) for q in questions)
    lines.append(
        "  Questions per audience: "
        + ", ".join(
            f"{label} {n}" for label, n in sorted(per_audience.items(), key=lambda x: -x[1])
        )
    )
    lines.append(
        "  Questions per role: "
        + ", ".join(f"{role} {sum(q.for_role(role) for q in questions)}" for role in ROLES)
    )
    lines += [
        "",
        f"Verjaardagskalender (version {k.version})",
        f"  {k.source.attribution()}",
        f"  {len(k.tips)} tips",
    ]
    for tip in sorted(k.tips, key=lambda t: t.month):
        lines.append(
            f"    {tip.month:>2}. {tip.month_name:<9} {tip.title} "
            f"[{_audience_label(tip.audience)}] - quote: {tip.quote_role}"
        )
    per_role = ", ".join(f"{role} {sum(t.for_role(role) for t in k.tips)}" for role in ROLES)
    lines.append(f"  Tips per role: {per_role}")
    tip_ours = sorted({f for t in k.tips for f in t.ours})
    lines.append(f"  Our own words (marked 'ours'): {sum(bool(t.ours) for t in k.tips)} tips "
                 f"({', '.join(tip_ours)})")
    for pack in content.packs:
        lines += ["", *pack_summary(pack)]
    lines += ["", *packs_table(content.all_packs)]
    return "\n".join(lines)


def _scale_lines(theme: Unit) -> list[str]:
    lines = []
    for q in theme.scale_items():
        assert q.anchors is not None
        lines.append(
            f"        {q.id}: 1 = {q.anchors.low!r}, 5 = {q.anchors.high!r}, "
            f"{_direction(q.higher_is_better)}"
            + ("" if q.in_theme_score or q.higher_is_better is None
               else ", not in the theme score")
            + (", + open follow-up" if q.follow_up else "")
        )
    return lines


def _items(pack: AnyPack) -> Iterator[Any]:
    yield from pack.units
    yield from getattr(pack, "dilemmas", [])
    if isinstance(pack, Kalender):
        yield from pack.tips


def pack_counts(pack: AnyPack) -> dict[str, int]:
    """How many themes, cases, tips, dilemmas and questions a pack has."""
    if isinstance(pack, Kalender):
        return {"themes": 0, "cases": 0, "tips": len(pack.tips), "dilemmas": 0, "questions": 0}
    return {
        "themes": len(pack.round_units()),
        "cases": sum(u.kind == "case" for u in pack.units),
        "tips": sum(u.kind == "tip" for u in pack.units),
        "dilemmas": len(getattr(pack, "dilemmas", [])),
        "questions": len(pack.questions),
    }


def per_role(pack: AnyPack) -> dict[str, int]:
    """Per role: how many items (questions, tips, dilemmas) of the pack reach it."""
    out: dict[str, int] = {}
    for role in ROLES:
        n = 0
        if isinstance(pack, Kalender):
            n = sum(t.for_role(role) for t in pack.tips)
        else:
            n = sum(q.for_role(role) for q in pack.questions)
            n += sum(role in _roles(d.audience) for d in getattr(pack, "dilemmas", []))
        out[role] = n
    return out


def pack_summary(pack: Pack) -> list[str]:
    """The lines ``content check`` prints for one generic pack."""
    c = pack_counts(pack)
    kinds = Counter(q.kind for q in pack.questions)
    lines = [
        f"{pack.title} [{pack.id}] (version {pack.version}) for {_audience_label(pack.audience)}",
        f"  {pack.source.attribution()}",
        f"  {c['themes']} themes, {c['cases']} cases, {c['tips']} tips, {c['dilemmas']} "
        f"dilemmas; {c['questions']} questions ({kinds['scale']} scale, "
        f"{sum(q.follow_up is not None for q in pack.questions)} of them with an open "
        f"follow-up; {kinds['text']} text)",
    ]
    for unit in pack.units:
        who = sorted({_audience_label(q.audience) for q in unit.questions})
        n = len(unit.questions)
        lines.append(f"    {unit.kind:<5} {unit.label} [{unit.id}] - {n} "
                     f"question{'s' if n != 1 else ''} for {', '.join(who)}; "
                     f"{len(unit.quotes)} quote{'s' if len(unit.quotes) != 1 else ''}")
        lines += _scale_lines(unit)
    for dilemma in pack.dilemmas:
        lines.append(f"    dilemma {dilemma.title} [{dilemma.id}] - vote: "
                     f"{dilemma.sides[0]} / {dilemma.sides[1]}; {len(dilemma.prompts)} prompts")
    ours = sum(len(i.ours) for i in _items(pack)) + sum(len(q.ours) for q in pack.questions)
    quotes = len(pack.quotes) + sum(len(u.quotes) for u in pack.units) + sum(
        len(d.quotes) for d in pack.dilemmas) + len(pack.tips)
    lines.append(f"  Quoted passages: {quotes}; fields in our own words (marked 'ours'): {ours}")
    return lines


def packs_table(packs: list[AnyPack], *, chosen: set[str] | None = None) -> list[str]:
    """One line per pack with its counts per audience (role), for ``content check``."""
    lines = ["Packs (what reaches each role, questions + tips + dilemma cards: professional / "
             "manager / beleid / bestuurder):"]
    for pack in packs:
        counts = per_role(pack)
        mark = ""
        if chosen is not None:
            mark = "[x] " if pack.id in chosen else "[ ] "
        default = " (default)" if pack.id in DEFAULT_PACKS else ""
        lines.append(f"  {mark}{pack.id:<22} v{pack.version:<4} "
                     + " / ".join(str(counts[r]) for r in ROLES) + f"  {pack.title}{default}")
    return lines


def _score_line(theme: Unit) -> str:
    items = theme.score_items()
    if not theme.can_score():
        return f"no theme score ({len(items)} scale item{'s' if len(items) != 1 else ''})"
    better = "higher is better" if theme.score_direction else "higher is worse"
    return f"theme score from {len(items)} items ({better})"
