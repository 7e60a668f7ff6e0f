"""The dashboard's Beheer page (issue 12): the same team operations as ``/team`` and the CLI.

Over HTTP with Starlette's TestClient on a real SQLite file: an owner changes the team (every
form with the session's CSRF token, every change audited), a reader sees the counts but changes
nothing, someone without a right sees nothing; the team's conversations are listed with their
counts (never who voted what).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.store import Conversation, Store
from bot.web import create_app, create_login_link

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(store: Store) -> Settings:
    return Settings(db_path=Path(store.path), secret_key="s" * 40,
                    web_url="https://dashboard.example", telegram_bot_username="TestBot")


@pytest.fixture
def team(store: Store) -> dict[str, int]:
    with store.transaction():
        team_id = store.create_team("Wijkteam West")
        store.create_invite(team_id)
        ids: dict[str, int] = {"team": team_id}
        for name, role in [("owner", "manager"), ("reader", "manager"),
                           ("member", "professional"), ("other", "professional")]:
            member = store.get_or_create_member("console", name)
            store.set_consent(member)
            store.join_team(member, team_id, role)
            store.save_conversation(Conversation(None, "console", name, member, "menu.main",
                                                 user_id=name))
            ids[name] = member
        store.grant_access(team_id, ids["owner"], "owner", by=None, via="cli")
        store.grant_access(team_id, ids["reader"], "reader", by=None, via="cli")
        # a closed team conversation with one vote that reached the threshold
        sid = store.create_session(
            team_id=team_id, platform="console", chat_id="groep", thread_id=None,
            subject="theme:regie", title="4. Regie voeren", theme_id="regie", mode="one",
            vote="private", period="2026-Q2", threshold=4, now="2026-05-04T09:00:00+00:00",
            items=[("vote", "regie-1", {"question": "Is vastgelegd wie de regie heeft?",
                                        "options": [[str(n), str(n)] for n in range(1, 6)],
                                        "number": 1, "of": 1})])
        item = store.session_items(sid)[0]["id"]
        store.open_vote(item, "2026-05-04T09:00:00+00:00")
        for member, option in [(ids["owner"], "2"), (ids["reader"], "4"), (ids["member"], "4"),
                               (ids["other"], "4")]:
            store.cast_ballot(item, member, option)
        store.close_vote(item, 4, "2026-05-04T09:30:00+00:00")
        store.update_session(sid, status="closed", closed_at="2026-05-04T09:30:00+00:00")
        # the conversation's agreement, an action of "Wat we ermee doen"
        action = store.add_action(team_id, "regie", "Regie op papier zetten", ids["owner"],
                                  who="team", due="2026-06-01")
        store.link_action_to_session(action, sid)
    return ids


@pytest.fixture
def client(store: Store, settings: Settings, team: dict[str, int]) -> Iterator[TestClient]:
    app = create_app(store, settings, clock=lambda: NOW)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def login(client: TestClient, store: Store, settings: Settings, member_id: int) -> None:
    client.cookies.clear()
    link = create_login_link(store, member_id, settings, now=NOW)
    assert client.get(urlsplit(link).path).status_code == 200


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def audit(store: Store, action: str) -> list[dict]:
    return [e for e in store.audit_entries() if e["action"] == action]


def test_owner_runs_the_team_on_the_dashboard(client: TestClient, store: Store,
                                              settings: Settings, team: dict[str, int]) -> None:
    login(client, store, settings, team["owner"])
    page = client.get(f"/team/{team['team']}/beheer")
    assert page.status_code == 200
    html = page.text
    assert "Leden: 4" in html and "minder dan 3 deden mee" in html
    code = store.invites(team["team"])[-1]["token"]
    assert code in html and f"https://t.me/TestBot?start={code}" in html
    assert "Seintje sturen" in html
    # the conversation's result: counts per option, never who
    assert "2: 1 · 3: 0 · 4: 3" in html and "(4 stemmen)" in html
    # its agreement, next to the conversation and on the team's page with the other actions
    assert "Regie op papier zetten" in html
    assert "Regie op papier zetten" in client.get(f"/team/{team['team']}").text
    token = csrf(html)
    bad = client.post(f"/team/{team['team']}/beheer/maandtip",
                      data={"csrf": token, "day": "30", "time": "14:30"})
    assert bad.status_code == 400
    assert "Dag moet een getal van 1 tot en met 20 zijn (de N-de werkdag)." in bad.text
    good = client.post(f"/team/{team['team']}/beheer/maandtip",
                       data={"csrf": token, "day": "3", "time": "14:30"})
    assert "De maandtip komt nu: de 3e werkdag van de maand om 14:30." in good.text
    assert client.post(f"/team/{team['team']}/beheer/rondes",
                       data={"csrf": token, "cadence": "year"}).status_code == 200
    assert store.get_team(team["team"])["reflection_cadence"] == "year"
    nudged = client.post(f"/team/{team['team']}/beheer/seintje", data={"csrf": token})
    assert "Het noemt niemand" in nudged.text
    again = client.post(f"/team/{team['team']}/beheer/seintje", data={"csrf": token})
    assert again.status_code == 400 and "al een seintje" in again.text
    rotated = client.post(f"/team/{team['team']}/beheer/code", data={"csrf": token})
    assert "Nieuwe code:" in rotated.text and store.check_invite(code)[1] == "revoked"
    invite = client.post(f"/team/{team['team']}/beheer/leesrecht",
                         data={"csrf": token, "name": "Wijkmanager"})
    assert "Uitnodiging voor leesrecht" in invite.text
    assert store.open_invites(team["team"], ("leader",), NOW)[0]["label"] == "Wijkmanager"
    for action in ("tip_schedule", "cadence", "nudge", "invite_rotate"):
        assert any(e["detail"] and "web" in e["detail"] for e in audit(store, action)), action
    # a form without the session's CSRF token changes nothing
    forged = client.post(f"/team/{team['team']}/beheer/rondes",
                         data={"csrf": "x", "cadence": "off"})
    assert forged.status_code == 403
    assert store.get_team(team["team"])["reflection_cadence"] == "year"


def test_a_reader_sees_counts_and_changes_nothing(client: TestClient, store: Store,
                                                  settings: Settings, team: dict[str, int]) -> None:
    login(client, store, settings, team["reader"])
    page = client.get(f"/team/{team['team']}/beheer")
    assert page.status_code == 200 and "Leden: 4" in page.text
    assert "Seintje sturen" not in page.text
    token = csrf(page.text)
    for what, data in [("code", {}), ("maandtip", {"off": "1"}), ("rondes", {"cadence": "off"}),
                       ("seintje", {}), ("leesrecht", {"name": "X"})]:
        r = client.post(f"/team/{team['team']}/beheer/{what}", data={"csrf": token, **data})
        assert r.status_code == 400 and "Dat mag alleen een eigenaar" in r.text, what
    assert store.get_team(team["team"])["reflection_cadence"] == "quarter"
    assert store.get_team(team["team"])["tip_schedule"] is None
    assert len(audit(store, "invite_rotate:denied")) == 1
    assert len(audit(store, "nudge:denied")) == 1


def test_someone_without_a_right_sees_nothing(client: TestClient, store: Store,
                                              settings: Settings, team: dict[str, int]) -> None:
    login(client, store, settings, team["member"])
    page = client.get(f"/team/{team['team']}/beheer")
    assert page.status_code == 403 and "Leden" not in page.text
    assert audit(store, "team_overview:denied")
    other = store.create_team("Wijkteam Oost")
    assert client.get(f"/team/{other}/beheer").status_code == 403
    assert client.get("/team/99999999999999999999/beheer").status_code in (403, 404)
