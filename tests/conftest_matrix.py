"""Pytest fixtures for tests against a real Synapse homeserver on 127.0.0.1.

Import into ``tests/conftest.py`` with ``from tests.conftest_matrix import *``.

* ``synapse`` (session): one running :class:`SynapseServer` for the whole run.
  Start-up failures raise (with Synapse's log tail); the tests never skip.
* ``matrix_users`` (function): a factory; ``matrix_users("bot")`` registers a
  fresh user with a random localpart starting with ``bot`` and returns a
  :class:`MatrixUser` (``user_id``, ``localpart``, ``password``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.matrix_server import SynapseServer

__all__ = ["MatrixUser", "matrix_users", "synapse"]


@dataclass(frozen=True)
class MatrixUser:
    user_id: str
    localpart: str
    password: str


@pytest.fixture(scope="session")
def synapse() -> Iterator[SynapseServer]:
    server = SynapseServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def matrix_users(synapse: SynapseServer) -> Callable[..., MatrixUser]:
    def make(prefix: str = "user", admin: bool = False) -> MatrixUser:
        localpart = f"{prefix}-{secrets.token_hex(4)}".lower()
        password = secrets.token_urlsafe(16)
        user_id = synapse.register_user(localpart, password, admin=admin)
        return MatrixUser(user_id=user_id, localpart=localpart, password=password)

    return make
