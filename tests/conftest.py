"""Shared fixtures. Real parts: SQLite files in tmp_path, a real Synapse, real HTTP servers.

Markers: ``e2e`` marks a test that runs real processes (``teamspiegel run`` / ``chat``,
Synapse, Chromium); ``bash scripts/test.sh --fast`` runs everything else. A test is ``e2e``
when it says so, when it is marked ``slow`` (the older name), or when it uses a fixture that
starts such a process (below), so a new test cannot slip into the fast lane by accident.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.flows import load_dialogues
from bot.store import Store
from tests.conftest_matrix import *  # noqa: F403  (synapse, matrix_users)

#: the dashboard tests' fixtures: settings, clock, seeded, client
pytest_plugins = ["tests.web_support"]

#: fixtures that start real processes: a test using one is an end-to-end test
E2E_FIXTURES = {"synapse", "matrix_users", "bots", "walked"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("slow") or uses & E2E_FIXTURES:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "teamspiegel.db")
    yield s
    s.close()


@pytest.fixture(scope="session")
def dialogues():  # noqa: ANN201
    return load_dialogues()


@pytest.fixture
def engine(store: Store, dialogues) -> Engine:  # noqa: ANN001
    return Engine(store, get_content(), dialogues)
