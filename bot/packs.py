"""Content packs per team: the built-in packs, packs a team wrote itself, and the team's choice.

One implementation behind the chat (``/beheer``, the member's menu), the command line
(``teamspiegel content add``, ``teamspiegel team packs``) and the dashboard:

* :class:`PackLibrary` finds a team's packs: every built-in pack of ``content/`` and the team's
  own packs (kept per version in the store). A team uses the packs its owner switched on; until
  an owner chooses, the defaults (Praatplaat + Verjaardagskalender, :data:`DEFAULT_PACKS`).
* :func:`add_team_pack` validates a team's YAML with the same rules and the same
  ``file:line: field: problem`` errors as the built-in packs, refuses anything that would change
  the privacy rules, and stores it as a new version. Answers keep the version they were given
  under (``answers.pack_version``), so they are always shown with their own questions.
* :func:`choose_packs` switches packs on and off for a team, audited.

Team packs are seen by their own team only: another team, a reader of another team, the
Demoteam and the built-in content never see them.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.content import (
    BUILTIN_PACKS,
    DEFAULT_PACKS,
    AnyPack,
    Content,
    Kalender,
    Pack,
    Praatplaat,
    taken_ids,
    unit_id_conflicts,
)
from bot.yamlio import ConfigError, parse_model

if TYPE_CHECKING:
    from bot.store import Store

__all__ = [
    "MAX_PACK_BYTES",
    "PackLibrary",
    "PackUse",
    "add_team_pack",
    "choose_packs",
    "find_dilemma",
    "library",
    "team_dilemmas",
    "validate_team_pack",
]

log = logging.getLogger(__name__)

#: a team's pack file is content, not a data set: keep it small enough to read on a phone
MAX_PACK_BYTES = 256 * 1024
#: a reflection pack, as the engine uses it (Praatplaat or a generic pack)
ReflectionPack = Praatplaat | Pack


@dataclass(frozen=True, slots=True)
class PackUse:
    """A pack as one team sees it: whether it is on, and whose it is."""

    pack: AnyPack
    enabled: bool
    #: ``builtin`` (in content/) or ``team`` (written by this team)
    origin: str
    #: the owner changed it (False: the default applies)
    chosen: bool

    @property
    def id(self) -> str:
        return self.pack.id


class PackLibrary:
    """The packs of the content directory plus every team's own packs (from the store).

    Parsed team packs are cached per (team, pack, version): a stored version never changes.
    """

    def __init__(self, store: Store, content: Content, cache_size: int = 256) -> None:
        self.store = store
        self.content = content
        self._cache: OrderedDict[tuple[int, str, str], Pack] = OrderedDict()
        self._cache_size = cache_size

    # -- finding packs -------------------------------------------------------------------------

    def builtin(self) -> list[AnyPack]:
        return self.content.all_packs

    def team_pack(self, team_id: int, pack_id: str, version: str | None = None) -> Pack | None:
        """A team's own pack (the given version, or the latest); None if there is none."""
        found = self.store.team_pack_source(team_id, pack_id, version)
        if found is None:
            return None
        key = (team_id, pack_id, found[0])
        pack = self._cache.get(key)
        if pack is None:
            pack, _ = parse_model(found[1], _db_name(team_id, pack_id, found[0]), Pack)
            self._cache[key] = pack
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return pack

    def get(self, team_id: int | None, pack_id: str, version: str | None = None) -> AnyPack:
        """A pack by id as the team sees it: built-in, or the team's own (given version, else
        the latest). KeyError when the team has no such pack."""
        if self.content.has_pack(pack_id):
            return self.content.pack(pack_id)
        if team_id is not None:
            pack = self.team_pack(int(team_id), pack_id, version)
            if pack is not None:
                return pack
        raise KeyError(f"unknown pack {pack_id!r}")

    def reflection(self, team_id: int | None, pack_id: str | None,
                   version: str | None = None) -> ReflectionPack:
        """A pack with questions (the Praatplaat when ``pack_id`` is empty)."""
        pack = self.get(team_id, pack_id or "praatplaat", version)
        if isinstance(pack, Kalender):
            raise KeyError("the calendar has no questions")
        return pack

    def for_answer(self, team_id: int | None, pack_id: str | None,
                   version: str | None) -> ReflectionPack | None:
        """The pack an answer was given under (its own version for a team's pack), or None
        when it is gone."""
        try:
            return self.reflection(team_id, pack_id, version)
        except (KeyError, ConfigError):
            try:  # that version is gone: the latest still names the questions
                return self.reflection(team_id, pack_id)
            except (KeyError, ConfigError):
                return None

    # -- a team's packs ------------------------------------------------------------------------

    def uses(self, team_id: int) -> list[PackUse]:
        """Every pack the team can use, built-in first, with whether it is on."""
        choices = self.store.pack_choices(team_id)
        out: list[PackUse] = []
        for pack in self.builtin():
            on = choices.get(pack.id, pack.id in DEFAULT_PACKS)
            out.append(PackUse(pack, on, "builtin", pack.id in choices))
        for pack_id in self.store.team_pack_ids(team_id):
            if self.content.has_pack(pack_id):
                continue  # a built-in pack took this name later: the built-in one wins
            try:
                own = self.team_pack(team_id, pack_id)
            except ConfigError as exc:  # stored before a rule got stricter: say so, skip it
                log.warning("team %s: pack %s no longer loads: %s", team_id, pack_id, exc)
                continue
            if own is not None:
                out.append(PackUse(own, choices.get(pack_id, True), "team", pack_id in choices))
        return out

    def enabled(self, team_id: int | None) -> list[AnyPack]:
        """The packs a team uses (the defaults for no team, e.g. before joining)."""
        if team_id is None:
            return [p for p in self.builtin() if p.id in DEFAULT_PACKS]
        return [u.pack for u in self.uses(int(team_id)) if u.enabled]

    def is_enabled(self, team_id: int | None, pack_id: str) -> bool:
        if team_id is None:
            return pack_id in DEFAULT_PACKS
        choices = self.store.pack_choices(int(team_id))
        if pack_id in choices:
            return choices[pack_id]
        if self.content.has_pack(pack_id):
            return pack_id in DEFAULT_PACKS
        return pack_id in self.store.team_pack_ids(int(team_id))

    def member_packs(self, team_id: int | None, role: str) -> list[ReflectionPack]:
        """Packs with questions a member with ``role`` answers in the chat, other than the
        Praatplaat (which has its own menu entries): for "Meer vragen en casussen"."""
        out: list[ReflectionPack] = []
        for pack in self.enabled(team_id):
            if isinstance(pack, Pack) and pack.units_for(role):
                out.append(pack)
        return out


def library(engine: Any) -> PackLibrary:
    """The engine's pack library (built once per engine; the engine knows nothing of it)."""
    lib = engine.memo.get("pack_library")
    if lib is None or lib.store is not engine.store or lib.content is not engine.content:
        lib = engine.memo["pack_library"] = PackLibrary(engine.store, engine.content)
    return lib


# -- a team's own packs ----------------------------------------------------------------------------


def _db_name(team_id: int, pack_id: str, version: str) -> str:
    return f"<team {team_id}: pack {pack_id} version {version}>"


def validate_team_pack(text: str, name: Path | str, content: Content,
                       own: list[Pack] | None = None) -> Pack:
    """Validate a team's pack file: the rules of every pack, plus: not a built-in name, and no
    theme, case, tip or dilemma id another pack of this team (or a built-in pack) uses.
    Raises :class:`ConfigError` with ``file:line: field: problem`` lines."""
    if len(text.encode("utf-8")) > MAX_PACK_BYTES:
        raise ConfigError(f"{name}:1: (root): the file is larger than {MAX_PACK_BYTES // 1024} "
                          "KB; a pack is questions and short texts")
    pack, locate = parse_model(text, name, Pack)
    problems: list[str] = []
    if content.has_pack(pack.id) or pack.id in BUILTIN_PACKS:
        problems.append(f"{name}:{locate(('id',))}: id: {pack.id!r} is a pack of Teamspiegel "
                        "itself; choose another id for your own pack")
    taken = taken_ids(content.all_packs)
    for other in own or []:
        if other.id != pack.id:
            for item_id, (pid, _) in taken_ids([other]).items():
                taken.setdefault(item_id, (pid, f"pack {pid} of this team"))
    problems += unit_id_conflicts(name, pack, taken, locate)
    if problems:
        raise ConfigError(problems)
    return pack


def add_team_pack(store: Store, content: Content, team_id: int, path: Path | str, *,
                  text: str | None = None, actor: int | None = None) -> tuple[Pack, str]:
    """Validate and store a team's pack file as a new version, and switch it on for the team.

    Returns the pack and ``added`` or ``unchanged``. Raises :class:`ConfigError` for a problem
    in the file, or for a version that exists with other text (versions are never changed:
    raise ``version``). Audited as ``pack_added``.
    """
    if text is None:
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read file: {exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path}:1: (root): not UTF-8 text; save the file as UTF-8") from None
    lib = PackLibrary(store, content)
    own = [p for pid in store.team_pack_ids(team_id)
           if (p := _quiet(lambda pid=pid: lib.team_pack(team_id, pid))) is not None]
    pack = validate_team_pack(text, path, content, own)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with store.transaction():
        status = store.add_team_pack(team_id, pack.id, pack.version, text, digest)
        if status == "conflict":
            raise ConfigError(
                f"{path}:1: version: version {pack.version!r} of pack {pack.id!r} was added "
                "before with other content; answers keep the version they were given under, "
                "so raise the version (e.g. \"2\") to add changed questions")
        if status == "added":
            store.set_pack_choice(team_id, pack.id, True)
            store.audit("pack_added", actor=actor, team_id=team_id,
                        detail=f"{pack.id} v{pack.version}")
    return pack, status


def _quiet(load: Any) -> Pack | None:
    try:
        return load()  # type: ignore[no-any-return]
    except ConfigError:
        return None


def choose_packs(store: Store, content: Content, team_id: int, *, on: Sequence[str] = (),
                 off: Sequence[str] = (), actor: int | None = None,
                 via: str = "cli") -> list[str]:
    """Switch packs on and off for a team; returns what changed (``+id`` / ``-id``).

    Raises KeyError naming a pack the team cannot use (not built-in, not its own). Every change
    is audited as ``packs_chosen`` with who and how (chat, cli, web).
    """
    lib = PackLibrary(store, content)
    known = {u.id for u in lib.uses(team_id)}
    unknown = [p for p in [*on, *off] if p not in known]
    if unknown:
        raise KeyError(unknown[0])
    changed: list[str] = []
    with store.transaction():
        for pack_id, enabled in [*((p, True) for p in on), *((p, False) for p in off)]:
            before = lib.is_enabled(team_id, pack_id)
            store.set_pack_choice(team_id, pack_id, enabled)
            if before != enabled:
                changed.append(f"{'+' if enabled else '-'}{pack_id}")
        if changed:
            store.audit("packs_chosen", actor=actor, team_id=team_id,
                        detail=f"{via}: {' '.join(changed)}")
    return changed


# -- dilemma cards, for the team conversation ------------------------------------------------------


def team_dilemmas(store: Store, content: Content, team_id: int) -> list[tuple[Pack, Any]]:
    """The dilemma cards of the packs a team uses (its own packs included), in pack order:
    (pack, :class:`bot.content.Dilemma`). What the team conversation offers to vote on."""
    return [(pack, card) for pack in PackLibrary(store, content).enabled(team_id)
            if isinstance(pack, Pack) for card in pack.dilemmas]


def find_dilemma(store: Store, content: Content, team_id: int,
                 ref: str) -> tuple[Pack, Any] | None:
    """One of the team's dilemma cards by its id, its number in :func:`team_dilemmas` (1-based,
    as a list in the chat shows them) or a piece of its title (3+ letters, one match only)."""
    cards = team_dilemmas(store, content, team_id)
    raw = " ".join(ref.lower().split())
    if raw.isdigit():
        n = int(raw)
        return cards[n - 1] if 1 <= n <= len(cards) else None
    exact = [c for c in cards if c[1].id == raw]
    if exact:
        return exact[0]
    found = [c for c in cards if len(raw) >= 3 and raw in c[1].title.lower()]
    return found[0] if len(found) == 1 else None
