"""Shared fixtures. Real parts: SQLite files in tmp_path, a real Synapse, real HTTP servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.flows import load_dialogues
from bot.store import Store
from tests.conftest_matrix import *  # noqa: F403  (synapse, matrix_users)


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
