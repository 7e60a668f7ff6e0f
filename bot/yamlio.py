"""YAML loading that keeps line numbers, for clear ``file:line: field: message`` errors.

``load_yaml`` returns the plain data plus a *locator*: a function that maps a pydantic-style
location tuple (mapping keys and list indices, e.g. ``("groups", 0, "themes", 2, "title")``) to
the 1-based line of the nearest node that exists in the file. ``load_model`` validates a file
against a pydantic model and turns every problem into one :class:`ConfigError`.

Cross-field checks inside a model (duplicate ids and the like) can point at the exact field by
raising :class:`FieldIssues` from a validator: its locations are relative to the model that the
validator belongs to, and ``load_model`` prefixes them with that model's own location.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = [
    "ConfigError",
    "FieldIssues",
    "Loc",
    "Locator",
    "format_loc",
    "load_model",
    "load_yaml",
    "parse_model",
    "parse_yaml",
    "validation_problems",
]

Loc = tuple[str | int, ...]
Locator = Callable[[tuple], int]
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration or content file is unusable.

    ``str(err)`` is one problem per line, each as ``<file>:<line>: <field.path>: <what is wrong>``.
    ``problems`` holds the same lines as a list.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class FieldIssues(ValueError):
    """Raised by a model validator to report problems at specific (relative) field locations."""

    def __init__(self, issues: Iterable[tuple[Loc, str]]) -> None:
        self.issues: list[tuple[Loc, str]] = [(tuple(loc), msg) for loc, msg in issues]
        super().__init__("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in self.issues))


def format_loc(loc: Sequence[str | int]) -> str:
    """``("groups", 0, "themes", 1, "id")`` -> ``groups[0].themes[1].id``; ``()`` -> ``(root)``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def _check_duplicate_keys(node: yaml.Node, path: Path | str) -> None:
    """PyYAML silently keeps the last of two equal keys; a content file must not do that."""
    stack: list[yaml.Node] = [node]
    seen_nodes: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:  # anchors/aliases can share nodes
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: dict[Any, int] = {}
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode):
                    line = key_node.start_mark.line + 1
                    if key_node.value in keys and key_node.value != "<<":
                        raise ConfigError(
                            f"{path}:{line}: {key_node.value}: duplicate key "
                            f"(first defined on line {keys[key_node.value]})"
                        )
                    keys[key_node.value] = line
                stack.append(value_node)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def _make_locator(root: yaml.Node | None) -> Locator:
    def locate(loc: tuple) -> int:
        if root is None:
            return 1
        node: yaml.Node = root
        line = node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                        line = key_node.start_mark.line + 1
                        node = value_node
                        break
                # a key that is not in the file (missing field, or a pydantic tag such as
                # "function-after[...]"): stay on the nearest existing node
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and not isinstance(part, bool)
                and 0 <= part < len(node.value)
            ):
                node = node.value[part]
                line = node.start_mark.line + 1
        return line

    return locate


def load_yaml(path: Path) -> tuple[Any, Callable[[tuple], int]]:
    """Load ``path`` with PyYAML's SafeLoader; return ``(data, locator)``.

    Raises :class:`ConfigError` for a missing/unreadable file, a YAML syntax error (with its line)
    or a duplicate mapping key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read file: {exc}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path | str) -> tuple[Any, Callable[[tuple], int]]:
    """Like :func:`load_yaml` for text already read; ``path`` names it in errors (a file, or
    e.g. ``<team 3: pack onze-vragen v2>`` for a pack kept in the database)."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_duplicate_keys(root, path)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(f"{path}:{line}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}:1: YAML error: {exc}") from None
    finally:
        loader.dispose()
    return data, _make_locator(root)


def _expand(err: dict[str, Any]) -> list[tuple[Loc, str]]:
    """One pydantic error -> ``(absolute loc, message)`` pairs (several for FieldIssues)."""
    loc: Loc = tuple(err.get("loc", ()))
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, FieldIssues):
        return [(loc + rel, msg) for rel, msg in inner.issues]
    msg = str(err.get("msg", "invalid value"))
    if err.get("type") == "value_error" and msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return [(loc, msg)]


def validation_problems(path: Path, exc: ValidationError, locate: Locator) -> list[str]:
    """Format a pydantic ``ValidationError`` as ``file:line: field: message`` lines."""
    problems: list[tuple[int, str]] = []
    for err in exc.errors():
        for loc, msg in _expand(dict(err)):
            # strip pydantic's internal tags (e.g. "function-after[...]") from the shown path
            shown = tuple(p for p in loc if isinstance(p, int) or "[" not in p)
            line = locate(loc)
            problems.append((line, f"{path}:{line}: {format_loc(shown)}: {msg}"))
    problems.sort(key=lambda item: item[0])
    return [text for _, text in problems]


def load_model(path: Path, model: type[M]) -> M:
    """Load ``path`` and validate it as ``model``; any problem becomes one :class:`ConfigError`."""
    path = Path(path)
    data, locate = load_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(path, exc, locate)) from None


def parse_model(text: str, path: Path | str, model: type[M]) -> tuple[M, Locator]:
    """Validate YAML text as ``model`` (errors name ``path``); returns the model and the
    locator, for checks that span more than the model."""
    data, locate = parse_yaml(text, path)
    try:
        return model.model_validate(data), locate
    except ValidationError as exc:
        raise ConfigError(validation_problems(Path(path), exc, locate)) from None
