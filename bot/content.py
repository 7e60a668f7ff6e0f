"""What Teamspiegel says: the Praatplaat (reflection questions) and the Verjaardagskalender (tips).

Content lives in ``content/*.yaml`` and is validated here with pydantic. Every problem in a file
is reported as ``<file>:<line>: <field.path>: <what is wrong>`` (see :mod:`bot.yamlio`), also for
cross-field problems such as a duplicate id, which points at the duplicate's own line.

The content directory is ``content/`` next to the ``bot`` package, unless the environment
variable ``TEAMSPIEGEL_CONTENT`` names another directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from bot.yamlio import ConfigError, FieldIssues, Loc, format_loc, load_model, load_yaml

__all__ = [
    "ALL",
    "AUDIENCES",
    "MIN_SCORE_ITEMS",
    "DEFAULT_CONTENT_DIR",
    "ENV_CONTENT_DIR",
    "KALENDER_FILE",
    "MONTHS_NL",
    "PRAATPLAAT_FILE",
    "ROLES",
    "Content",
    "Group",
    "Kalender",
    "MoreInfo",
    "Praatplaat",
    "Question",
    "SOURCES_DIR",
    "Scale",
    "Source",
    "SourceFile",
    "Sources",
    "Theme",
    "Tip",
    "content_dir",
    "get_content",
    "check_sources",
    "load_content",
    "load_sources",
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
#: the source texts the content quotes, inside the content directory (with provenance.yaml)
SOURCES_DIR = "sources"
PROVENANCE_FILE = "provenance.yaml"

MONTHS_NL: tuple[str, ...] = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


Text = Annotated[str, AfterValidator(_not_blank)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Url = Annotated[str, AfterValidator(_http_url)]


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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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

    low: Text
    high: Text


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


class Question(_Frozen):
    """One sub-question of a theme, quoted as printed, with the answer form it asks for.

    ``kind: text`` is an open question. ``kind: scale`` is answered 1-5 with the question's own
    ``anchors`` and a declared ``higher_is_better`` (true, false, or null when neither end is
    better). A scale question whose second half is open carries that half, verbatim, as
    ``follow_up``: the closed part (:attr:`ask`) is asked on the scale, then the follow-up as
    its own prompt, stored as the text of the same answer (one question for counting).
    """

    id: Slug
    text: Text
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

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        return _check_audience(value)

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

    def for_role(self, role: str) -> bool:
        """Whether a member with ``role`` is asked this question. Unknown roles raise ValueError."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return ALL in self.audience or role in self.audience


class MoreInfo(_Frozen):
    """A "Meer weten?" reference of a theme."""

    title: Text
    url: Url


class Theme(_Frozen):
    id: Slug
    number: int = Field(ge=1, le=10)
    title: Text
    intro: Text
    questions: list[Question] = Field(min_length=1)
    more_info: list[MoreInfo] = Field(default_factory=list)
    #: fields that hold our own words, not the source's (e.g. ``[intro]``)
    ours: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _question_ids(self) -> Theme:
        _check_ours(self, self.ours, ("title", "intro"))
        issues: list[tuple[Loc, str]] = []
        for i, question in enumerate(self.questions):
            if not question.id.startswith(f"{self.id}-"):
                issues.append(
                    (("questions", i, "id"), f"must start with the theme id: '{self.id}-...'")
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

    def is_ours(self, name: str) -> bool:
        return name in self.ours

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
    themes: tuple[Theme, ...]
    theme: dict[str, Theme] = field(default_factory=dict)
    question: dict[str, Question] = field(default_factory=dict)
    theme_of: dict[str, Theme] = field(default_factory=dict)
    group_of: dict[str, Group] = field(default_factory=dict)


class Praatplaat(_Frozen):
    """The 10 themes in 4 groups with their sub-questions."""

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
            themes=tuple(sorted((t for g in self.groups for t in g.themes), key=lambda t: t.number))
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
    def themes(self) -> list[Theme]:
        """All themes in Praatplaat order (by number)."""
        return list(self.index.themes)

    @property
    def questions(self) -> list[Question]:
        """All questions in Praatplaat order."""
        return [q for t in self.index.themes for q in t.questions]

    def theme(self, theme_id: str) -> Theme:
        """The theme with this id; KeyError if unknown."""
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

    def theme_of(self, question_id: str) -> Theme:
        """The theme a question belongs to; KeyError if unknown."""
        try:
            return self.index.theme_of[question_id]
        except KeyError:
            raise KeyError(f"unknown question id {question_id!r}") from None

    def group_of(self, theme_id: str) -> Group:
        """The group a theme belongs to; KeyError if unknown."""
        try:
            return self.index.group_of[theme_id]
        except KeyError:
            raise KeyError(f"unknown theme id {theme_id!r}") from None

    def questions_for(self, theme_id: str, role: str) -> list[Question]:
        """The questions of a theme that a member with ``role`` is asked, in order."""
        return self.theme(theme_id).questions_for(role)

    def unscored_themes(self, role: str | None = None) -> list[Theme]:
        """Themes with too few scale items for a theme score (fewer than MIN_SCORE_ITEMS)."""
        return [t for t in self.index.themes if not t.can_score(role)]


class Tip(_Frozen):
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

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        return _check_audience(value)

    @model_validator(mode="after")
    def _ours(self) -> Tip:
        _check_ours(self, self.ours,
                    ("title", "text", "quote", "quote_role", "audience", "question"))
        return self

    def is_ours(self, name: str) -> bool:
        return name in self.ours

    @property
    def month_name(self) -> str:
        """Dutch month name, e.g. ``januari``."""
        return MONTHS_NL[self.month - 1]

    def for_role(self, role: str) -> bool:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return ALL in self.audience or role in self.audience


class Kalender(_Frozen):
    """Twelve monthly tips, January to December."""

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

    def tip_for_month(self, month: int) -> Tip:
        """The tip of ``month`` (1..12); ValueError outside that range."""
        for tip in self.tips:
            if tip.month == month:
                return tip
        raise ValueError(f"no tip for month {month!r}; months are 1..12")


class Content(_Frozen):
    """All content packs, as loaded together."""

    praatplaat: Praatplaat
    kalender: Kalender

    @property
    def version(self) -> str:
        """Combined content version, stored with answers: ``praatplaat=<v>;kalender=<v>``."""
        return f"praatplaat={self.praatplaat.version};kalender={self.kalender.version}"


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


def load_content(dir: Path | None = None) -> Content:
    """Load and validate every content file in ``dir`` (default: :func:`content_dir`).

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
    if problems or praatplaat is None or kalender is None:
        raise ConfigError(problems)
    return Content(praatplaat=praatplaat, kalender=kalender)


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
            for q in theme.scale_items():
                assert q.anchors is not None
                lines.append(
                    f"        {q.id}: 1 = {q.anchors.low!r}, 5 = {q.anchors.high!r}, "
                    f"{_direction(q.higher_is_better)}"
                    + ("" if q.in_theme_score or q.higher_is_better is None
                       else ", not in the theme score")
                    + (", + open follow-up" if q.follow_up else "")
                )
    unscored = p.unscored_themes()
    lines.append(
        f"  Too few scale items for a theme score (< {MIN_SCORE_ITEMS}): "
        + (", ".join(f"{t.number} ({len(t.score_items())})" for t in unscored) or "none")
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
    return "\n".join(lines)


def _score_line(theme: Theme) -> str:
    items = theme.score_items()
    if not theme.can_score():
        return f"no theme score ({len(items)} scale item{'s' if len(items) != 1 else ''})"
    better = "higher is better" if theme.score_direction else "higher is worse"
    return f"theme score from {len(items)} items ({better})"
