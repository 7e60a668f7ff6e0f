"""What the dashboard tests share: a seeded database, a fixed clock, the app over HTTP
(Starlette TestClient on a real SQLite file), login and page checks.

Its fixtures (``settings``, ``clock``, ``seeded``, ``client``) reach every test module through
``pytest_plugins`` in ``tests/conftest.py``; a module that needs another app or seed defines
its own fixture of the same name, which pytest prefers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.reports.export import export_columns
from bot.store import Store
from bot.web import create_app, create_login_link
from bot.web.auth import COOKIE_NAME

SECRET = "test-secret-for-the-dashboard"
START = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)  # Q2 2026: Q4 2025 and Q1 2026 have closed
EXPORT_COLUMNS = tuple(export_columns())


def read_csv(data: bytes) -> list[dict[str, str]]:
    """A report CSV the way Dutch Excel reads it: UTF-8 with BOM, ';', decimal comma."""
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def nl_float(value: str) -> float:
    assert "." not in value  # a decimal comma, as Dutch Excel expects
    return float(value.replace(",", "."))


# --------------------------------------------------------------------------------------------
# Seed data


@dataclass
class Seed:
    manager: int  # manager of team A and team C
    other_manager: int  # manager of team B only
    professional: int  # a member of team A without a manager role
    team_a: int
    team_b: int
    team_c: int


def _member(store: Store, name: str, team: int, role: str) -> int:
    mid = store.get_or_create_member("telegram", name.lower().replace(" ", "-"), name)
    store.set_consent(mid)
    store.join_team(mid, team, role)
    return mid


def _answers(
    store: Store, mid: int, team: int, period: str, scales: dict[str, int],
    texts: dict[str, tuple[str, bool]] | None = None,
) -> None:
    run = store.start_run(mid, team, "tour", period)
    for qid, scale in scales.items():
        store.save_answer(run_id=run, member_id=mid, team_id=team, role="professional",
                          theme_id=qid.rsplit("-", 1)[0], question_id=qid, period=period,
                          content_version="test", scale=scale)
    for qid, (text, share) in (texts or {}).items():
        store.save_answer(run_id=run, member_id=mid, team_id=team, role="professional",
                          theme_id=qid.rsplit("-", 1)[0], question_id=qid, period=period,
                          content_version="test", text=text)
        store.set_answer_share(run, qid, share)
    store.finish_run(run)


def seed_dashboard(store: Store) -> Seed:
    """Team A: 6 answering colleagues over two quarters; team B: another team; team C: only two
    colleagues answered."""
    with store.transaction():
        a = store.create_team("Wijkteam Noord")
        b = store.create_team("Wijkteam Zuid")
        c = store.create_team("Klein Team West")
        manager = _member(store, "Mirjam Manager", a, "manager")
        store.join_team(manager, c, "manager")
        # read rights are granted (here by the operator), never chosen with the role
        store.grant_access(a, manager, "reader", by=None, via="cli")
        store.grant_access(c, manager, "owner", by=None, via="cli")
        pros = [_member(store, f"Noord Collega {i}", a, "professional") for i in range(1, 7)]
        q4_samenhang = [2, 2, 2, 5, 5, 5]  # low 3, high 3: distribution can be shown
        q4_regie = [4, 4, 3, 3]
        q1_samenhang = [3, 4, 4, 4, 5, 5]
        q1_regie = [4, 5, 4, 5]
        for i, mid in enumerate(pros):
            q4 = {"samenhang-1": q4_samenhang[i]}
            q1 = {"samenhang-1": q1_samenhang[i]}
            if i < 4:
                q4["regie-1"] = q4_regie[i]
                q1["regie-1"] = q1_regie[i]
            _answers(store, mid, a, "2025-Q4", q4)
            texts = {
                0: {"opdrachten-2": ("Meer overleg met de gemeente helpt ons", True)},
                1: {"opdrachten-2": ("We missen een vaste contactpersoon", True)},
                2: {"opdrachten-2": ("Dit blijft liever onder ons", False)},
            }.get(i)
            _answers(store, mid, a, "2026-Q1", q1, texts)
        # monthly tip reactions: January has 3 (shown), February only 2 (hidden)
        for mid, scale in zip(pros[:3], [4, 5, 3], strict=True):
            store.save_tip_reaction(mid, a, "2026-01", 1, scale)
        store.set_tip_reaction_text(pros[0], "2026-01", "Heel herkenbaar bij ons", True)
        store.set_tip_reaction_text(pros[1], "2026-01", "Prive reactie niet delen", False)
        for mid, scale in zip(pros[3:5], [2, 2], strict=True):
            store.save_tip_reaction(mid, a, "2026-02", 2, scale)
        store.set_tip_reaction_text(pros[3], "2026-02", "Te weinig reacties om te tonen", True)

        other = _member(store, "Otto Zuidmanager", b, "manager")
        store.grant_access(b, other, "reader", by=None, via="cli")
        for i, scale in enumerate([1, 1, 2]):
            mid = _member(store, f"Zuid Collega {i}", b, "professional")
            _answers(store, mid, b, "2026-Q1", {"tijd-1": scale},
                     {"opdrachten-2": ("Zuidgeheim antwoord", True)})
            store.save_tip_reaction(mid, b, "2026-01", 1, 1)
        store.add_followup(b, "tijd", "Zuidactie tijdsinvestering", other)

        for i, scale in enumerate([5, 4]):
            mid = _member(store, f"West Collega {i}", c, "professional")
            _answers(store, mid, c, "2026-Q1", {"samenhang-1": scale, "regie-1": scale})
    return Seed(manager, other, pros[0], a, b, c)


# --------------------------------------------------------------------------------------------
# Fixtures


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "web.db", secret_key=SECRET,
                    web_url="https://dashboard.example")


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def seeded(store: Store) -> Seed:
    return seed_dashboard(store)


@pytest.fixture
def client(store: Store, settings: Settings, clock: Clock, seeded: Seed) -> Iterator[TestClient]:
    app = create_app(store, settings, clock=clock)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def link_path(store: Store, settings: Settings, member_id: int, now: datetime = START) -> str:
    link = create_login_link(store, member_id, settings, now=now)
    assert link.startswith("https://dashboard.example/login/")
    return urlsplit(link).path


def login(client: TestClient, store: Store, settings: Settings, member_id: int) -> None:
    r = client.get(link_path(store, settings, member_id))
    assert r.status_code == 200, r.text
    assert COOKIE_NAME in client.cookies


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def assert_page_is_clean(r) -> None:  # noqa: ANN001
    """Security headers on every response; no resource or link to another origin."""
    h = r.headers
    csp = h["content-security-policy"]
    for part in ("default-src 'self'", "style-src 'self'", "img-src 'self' data:",
                 "frame-ancestors 'none'"):
        assert part in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    if h.get("content-type", "").startswith("text/html"):
        assert not EXTERNAL.search(r.text), EXTERNAL.search(r.text)
        assert "style=" not in r.text  # CSP forbids inline styles
        assert "<script" not in r.text
        assert '<meta name="viewport"' in r.text
        assert h["cache-control"] == "no-store"
