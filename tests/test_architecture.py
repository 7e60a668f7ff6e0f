"""The import graph of ``bot/``: layers, no import back up, no cycle, transports only translate.

Read from the source with ``ast`` (nothing is imported or run): every ``import bot...`` and
``from bot... import ...`` counts, also inside functions and under ``TYPE_CHECKING`` (a type
that names a higher layer is a dependency on it too).

Layers, from the top: the entry points (command line, ``teamspiegel run``), the fronts people
meet (chat transports, the dashboard), the schedule with the outbox, the reports, the engine with
the channel contract, and at the bottom the store, the content and the helpers everything uses.
A module may import its own layer and the layers below it; never a layer above.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bot"

#: layer of a module, by its longest matching prefix; higher numbers are higher up
LAYERS: dict[str, int] = {
    # 7: entry points
    "bot.cli": 7, "bot.cli_common": 7, "bot.access_cli": 7, "bot.packs_cli": 7,
    "bot.reports.cli": 7, "bot.app": 7, "bot.teamadmin_cli": 7, "bot.startup": 7,
    # 6: what people meet: chat transports and the dashboard
    "bot.transports": 6, "bot.web": 6,
    # 5: when things are due and the outbox that delivers them (it publishes and announces
    # reports: reports never plan anything)
    "bot.schedule": 5,
    # the team leaders' self-service: one service behind the chat (a plug-in), the command line
    # and the dashboard (it plans rounds and reads the reports' participation)
    "bot.teamadmin": 5,
    # 4: reports, operator exports
    "bot.reports": 4, "bot.operator_export": 4,
    # 3: the engine and the channel contract (and the settings it reads)
    "bot.engine": 3, "bot.channel": 3, "bot.config": 3,
    # 2: a team's packs, notices about the store
    "bot.packs": 2, "bot.notices": 2,
    # 1: store, content, formatting and small helpers
    "bot.store": 1, "bot.content": 1, "bot.yamlio": 1, "bot.periods": 1, "bot.nl": 1,
    "bot.spreadsheet": 1, "bot.scoring": 1, "bot": 1,
}
LAYER_NAMES = {7: "entry", 6: "front", 5: "schedule", 4: "reports", 3: "engine", 2: "domain",
               1: "base"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str | None:
    """The module of this tree an import names (``bot.engine.access``), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path) -> set[str]:
    """The modules of ``bot`` that ``path`` imports (a package's ``__init__`` is its name)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from bot.engine import access``: the submodule when it is one
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "bot" or name.startswith("bot."):
                target = resolve(name)
                if target and target != "bot":
                    found.add(target)
    found.discard(module_name(path))
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def test_every_module_has_a_layer() -> None:
    assert all(layer(name) for name in MODULES)


def test_no_import_runs_back_up() -> None:
    upward = [
        f"{src} ({LAYER_NAMES[layer(src)]}) imports {dst} ({LAYER_NAMES[layer(dst)]})"
        for src, targets in GRAPH.items() for dst in sorted(targets) if layer(dst) > layer(src)
    ]
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("bot.transports.")))
def test_transports_import_nothing_from_the_store(name: str) -> None:
    """A transport translates; what is recorded, the engine records (through its API)."""
    assert not {m for m in GRAPH[name] if m == "bot.store" or m.startswith("bot.store.")}


def test_the_engine_imports_no_transport_schedule_report_or_web() -> None:
    above = defaultdict(set)
    for src, targets in GRAPH.items():
        if src.startswith("bot.engine"):
            for dst in targets:
                if dst.startswith(("bot.transports", "bot.schedule", "bot.reports", "bot.web")):
                    above[src].add(dst)
    assert dict(above) == {}


def _sql_outside_the_store(tree: ast.AST) -> list[int]:
    """Lines that reach the database connection (``x.conn``) or run SQL text
    (``x.execute("...")``, ``executemany``, ``executescript``) directly."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "conn":
            lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in {"execute", "executemany", "executescript"}
              and node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr)):
            lines.append(node.lineno)
    return sorted(set(lines))


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("bot.store")))
def test_sql_lives_in_the_store(name: str) -> None:
    """Only ``bot/store/`` speaks SQL; everything else asks it by a named method."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert _sql_outside_the_store(tree) == [], f"{name} runs SQL itself"


def test_the_sql_check_sees_sql() -> None:
    tree = ast.parse("def f(store):\n    store.conn.execute('SELECT 1')\n"
                     "    cur.execute(f'UPDATE t SET a = {x}')\n    q.delete().execute()\n")
    assert _sql_outside_the_store(tree) == [2, 3]
