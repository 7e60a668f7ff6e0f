"""Dashboard sessions live on the server: logout, erasure and a revoked right end them at once.

Over HTTP with the real app (Starlette TestClient) on a real SQLite file; the seed and helpers
are those of ``tests/test_web.py``.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from bot.config import Settings
from bot.store import Store
from bot.web.auth import COOKIE_NAME
from tests.web_support import (
    START,
    Clock,
    Seed,
    _answers,
    _member,
    csrf_of,
    link_path,
    login,
)

PAGES = ("/", "/team/{a}", "/team/{a}/thema/opdrachten", "/team/{a}/export.csv")


def _pages(seed: Seed) -> list[str]:
    return [p.format(a=seed.team_a) for p in PAGES]


def _replay(client: TestClient, cookie: str, path: str) -> int:
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, cookie)
    return client.get(path).status_code


def test_cookie_stops_working_right_after_logout(client: TestClient, store: Store,
                                                 settings: Settings, seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    cookie = client.cookies[COOKIE_NAME]
    page = client.get("/")
    assert page.status_code == 200
    assert client.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 200
    # someone kept a copy of the cookie (another tab, a shared computer, a proxy log)
    for path in _pages(seeded):
        assert _replay(client, cookie, path) == 401, path
    assert store.conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0
    assert any(e["action"] == "dashboard_logout" for e in store.audit_entries())
    # logging in again works, with a new session
    client.cookies.clear()
    login(client, store, settings, seeded.manager)
    assert client.get("/").status_code == 200 and client.cookies[COOKIE_NAME] != cookie


def test_an_erased_members_cookie_opens_nothing(client: TestClient, store: Store,
                                                settings: Settings, seeded: Seed) -> None:
    """The newest member logs in and is erased; the next person to register must not inherit
    the session (ids used to be max(id) + 1, so the newcomer got the erased person's id)."""
    with store.transaction():
        team = store.create_team("Wijkteam Buiten")
        outsider = _member(store, "Buitenstaander", team, "manager")
        store.grant_access(team, outsider, "reader", by=None, via="cli")
    login(client, store, settings, outsider)
    cookie = client.cookies[COOKIE_NAME]
    assert client.get("/").status_code == 200
    with store.transaction():
        store.delete_member(outsider)
    assert _replay(client, cookie, "/") == 401
    # the next person registers, in another team, and becomes a reader there
    with store.transaction():
        other = store.create_team("Wijkteam Elders")
        newcomer = _member(store, "Nieuwkomer", other, "manager")
        store.grant_access(other, newcomer, "reader", by=None, via="cli")
        for i in range(3):
            colleague = _member(store, f"Elders Collega {i}", other, "professional")
            _answers(store, colleague, other, "2026-Q1", {"samenhang-1": 2})
    assert newcomer != outsider
    for path in ("/", f"/team/{other}", f"/team/{other}/export.csv", f"/team/{seeded.team_a}"):
        assert _replay(client, cookie, path) == 401, path
    assert store.conn.execute("SELECT COUNT(*) FROM web_sessions WHERE member_id = ?",
                              (outsider,)).fetchone()[0] == 0


def test_a_revoked_readers_cookie_opens_nothing(client: TestClient, store: Store,
                                               settings: Settings, seeded: Seed) -> None:
    unused = link_path(store, settings, seeded.manager)
    login(client, store, settings, seeded.manager)
    cookie = client.cookies[COOKIE_NAME]
    assert client.get(f"/team/{seeded.team_a}").status_code == 200
    with store.transaction():
        assert store.revoke_access(seeded.team_a, seeded.manager, by=None) == "revoked"
    for path in _pages(seeded) + [f"/team/{seeded.team_c}"]:
        assert _replay(client, cookie, path) == 401, path
    # a login link made before the revocation does not open a new session either
    client.cookies.clear()
    assert client.get(unused).status_code == 403
    # still a reader of team C: a new login shows C, and A stays closed
    client.cookies.clear()
    login(client, store, settings, seeded.manager)
    assert client.get(f"/team/{seeded.team_c}").status_code == 200
    assert client.get(f"/team/{seeded.team_a}").status_code == 403
    assert "Wijkteam Noord" not in client.get("/").text


def test_follow_up_form_for_readers_only(client: TestClient, store: Store, settings: Settings,
                                         seeded: Seed) -> None:
    """Members read a follow-up as the team's official answer: only readers may write one."""
    with store.transaction():
        store.join_team(seeded.professional, seeded.team_a, "manager")  # self-declared
    login(client, store, settings, seeded.professional)
    token = csrf_of(client.get("/").text)
    r = client.post(f"/team/{seeded.team_a}/followup",
                    data={"csrf": token, "theme_id": "regie", "text": "Officieel besluit!"})
    assert r.status_code == 403
    assert client.get(f"/team/{seeded.team_a}").status_code == 403
    assert store.followups(seeded.team_a) == []
    try:
        with store.transaction():
            store.add_followup(seeded.team_a, "regie", "Officieel besluit!", seeded.professional)
    except PermissionError:
        pass
    else:
        raise AssertionError("a non-reader wrote a follow-up")
    assert store.followups(seeded.team_a) == []


def test_session_rows_hold_no_cookie(client: TestClient, store: Store, settings: Settings,
                                     seeded: Seed, clock: Clock) -> None:
    login(client, store, settings, seeded.manager)
    cookie = client.cookies[COOKIE_NAME]
    [(id_hash, member, expires)] = store.conn.execute(
        "SELECT id_hash, member_id, expires_at FROM web_sessions").fetchall()
    assert member == seeded.manager and len(id_hash) == 64
    assert all(part not in id_hash for part in cookie.split("."))
    assert expires == (START + timedelta(hours=8)).isoformat()  # 8 hours after the login
