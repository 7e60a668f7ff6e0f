"""The names the dialogue files use: conditions, actions, choice providers and renderers.

A module registers a function under a name with a decorator (``@action("save_scale")``); the
engine looks the names up here. The modules that register names are imported by
:mod:`bot.engine.core` (they import this module and :mod:`bot.engine.turn`, never the engine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["REGISTRY", "action", "condition", "provider", "renderer"]

REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {
    "condition": {},
    "action": {},
    "renderer": {},
    "provider": {},
}

F = Callable[..., Any]


def _register(kind: str) -> Callable[[str], Callable[[F], F]]:
    def named(name: str) -> Callable[[F], F]:
        def deco(func: F) -> F:
            REGISTRY[kind][name] = func
            return func

        return deco

    return named


condition = _register("condition")
action = _register("action")
renderer = _register("renderer")
provider = _register("provider")
