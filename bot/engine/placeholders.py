"""Placeholders in ``texts.yaml`` checked against the values the code passes.

A text like ``"Vraag {n} van {total}"`` is filled in by a call such as
``turn.text("question_progress", n=..., total=..., theme=...)``. A typo in the YAML (``{nn}``)
would pass every schema check and then break every conversation that reaches the text. So at
start-up (and in ``teamspiegel content check``) every placeholder of every text must be

* a plain name (``{name}``; no ``{0}``, ``{}``, ``{a.b}`` or ``{a[0]}``), and
* a value the engine fills into every text (``TEXT_VALUES`` in :mod:`bot.engine.core`: who is
  responsible for the data, how long it is kept, the k), or
* a value the code passes for that text: the keyword arguments of the calls
  ``.text("key", ...)`` / ``.say("key", ...)`` found in the ``bot`` package's source. A call
  with a computed key (``turn.say(f"invite_{reason}", ...)``) lends its keywords to every
  text; a call with ``**values`` makes its text accept any name.

Texts that no call fills in (used through a flow's ``say:``, or without values) must have no
placeholders at all: they would be shown with the braces.
"""

from __future__ import annotations

import ast
import functools
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TextValues", "check_placeholders", "passed_values", "placeholders"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
_TEXT_METHODS = frozenset({"text", "say"})


def placeholders(template: str) -> list[str]:
    """The field names of a ``str.format`` template, in order; ValueError when the template
    is not a valid format string (a lone ``{`` or ``}``)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


@dataclass
class TextValues:
    """What the code passes to the texts."""

    #: text key -> keyword names passed with it
    by_key: dict[str, set[str]] = field(default_factory=dict)
    #: keys passed ``**values`` (any name may be filled in)
    open_keys: set[str] = field(default_factory=set)
    #: keyword names of calls with a computed key (they may reach any text)
    dynamic: set[str] = field(default_factory=set)

    def allowed(self, key: str) -> set[str] | None:
        """The names a text may use; None: any."""
        if key in self.open_keys:
            return None
        return self.by_key.get(key, set()) | self.dynamic


def _keys(node: ast.expr) -> list[str] | None:
    """The text keys an argument can be: literal strings (also both sides of ``a if c else b``),
    or None for a key computed at run time; ``[]`` when it is no text key at all (a number)."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.IfExp):
        body, orelse = _keys(node.body), _keys(node.orelse)
        if body is None or orelse is None:
            return None
        return body + orelse
    if isinstance(node, ast.JoinedStr | ast.Name | ast.Call | ast.Subscript):
        return None
    return []  # arithmetic and the like: e.g. a chart's fig.text(0.1 / width, ...)


def _scan(source: str, found: TextValues) -> None:
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in _TEXT_METHODS or not node.args:
            continue
        names = {k.arg for k in node.keywords if k.arg is not None}
        spread = any(k.arg is None for k in node.keywords)
        keys = _keys(node.args[0])
        if keys is None:
            found.dynamic.update(names)
            continue
        for key in keys:
            found.by_key.setdefault(key, set()).update(names)
            if spread:
                found.open_keys.add(key)


@functools.cache
def _package_values(root: Path) -> TextValues | None:
    found = TextValues()
    files = sorted(root.rglob("*.py"))
    if not files:
        return None  # installed without sources: only the name rules apply
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
            if ".text(" in source or ".say(" in source:
                _scan(source, found)
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
    return found


def passed_values(root: Path = PACKAGE_DIR) -> TextValues | None:
    """The values the package's code passes to texts (scanned once per process)."""
    return _package_values(root)


def check_placeholders(
    texts: dict[str, str], values: TextValues | None, everywhere: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Problems as ``(text key, message)``; ``values`` None checks only the name rules.
    ``everywhere``: names every text may use (the engine fills them in itself)."""
    common = set(everywhere)
    problems: list[tuple[str, str]] = []
    for key, template in texts.items():
        try:
            names = placeholders(template)
        except ValueError as exc:
            problems.append((key, f"ongeldige accolades: {exc} (letterlijk: {{{{ en }}}})"))
            continue
        for name in names:
            if not name.isidentifier():
                problems.append((key, f"plaatshouder {{{name}}}: gebruik een naam, "
                                      "zoals {team}"))
                continue
            allowed = values.allowed(key) if values is not None else None
            if allowed is not None:
                allowed = allowed | common
            if allowed is not None and name not in allowed:
                known = ", ".join(sorted(allowed)) or "geen"
                problems.append((key, f"onbekende plaatshouder {{{name}}} "
                                      f"(de code vult hier in: {known})"))
    return problems
