"""Content packs on the dashboard (Starlette TestClient, a real SQLite file): a section per pack
the team answered, and an owner's switches (the same implementation as /beheer and the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape

import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.content import Pack, get_content
from bot.packs import PackLibrary, choose_packs
from bot.store import Store
from bot.web import create_app
from tests.web_support import (
    Clock,
    Seed,
    assert_page_is_clean,
    csrf_of,
    login,
)

CONTENT = get_content()
CASUS = CONTENT.pack("casus")
assert isinstance(CASUS, Pack)


@pytest.fixture
def client(store: Store, settings: Settings, clock: Clock, seeded: Seed) -> Iterator[TestClient]:
    # Klein Team West (owned by the manager) uses the cases; three colleagues answered Robert's
    with store.transaction():
        choose_packs(store, CONTENT, seeded.team_c, on=["casus"])
        for i in range(3):
            mid = store.get_or_create_member("telegram", f"west-extra-{i}")
            store.join_team(mid, seeded.team_c, "professional")
            run = store.start_run(mid, seeded.team_c, "robert", "2026-Q1", pack="casus",
                                  pack_version=CASUS.version)
            store.save_answer(run_id=run, member_id=mid, team_id=seeded.team_c,
                              role="professional", theme_id="robert", question_id="robert-1",
                              period="2026-Q1", content_version="casus=1", pack="casus",
                              pack_version=CASUS.version, text=f"Robert zelf laten kiezen {i}")
            store.set_answer_share(run, "robert-1", i != 2)  # the third keeps it private
    app = create_app(store, settings, clock=clock)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def test_pack_section_and_owner_switches(client: TestClient, store: Store, settings: Settings,
                                         seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get(f"/team/{seeded.team_c}")
    assert r.status_code == 200
    assert_page_is_clean(r)
    page = unescape(r.text)
    # the cases' own section: texts shared by their authors (three answered), not the private one
    assert f'<h2 id="kop-casus">{CASUS.title}</h2>' in page
    assert "Robert zelf laten kiezen 0" in page and "Robert zelf laten kiezen 1" in page
    assert "Robert zelf laten kiezen 2" not in page
    # the owner's switches: the defaults and the cases are on
    assert 'name="pack" value="casus" checked' in page
    assert 'name="pack" value="praatplaat" checked' in page
    assert 'name="pack" value="sturing">' in page
    r = client.post(f"/team/{seeded.team_c}/packs",
                    data={"csrf": csrf_of(r.text), "pack": ["praatplaat", "casus", "sturing"]})
    assert r.status_code == 303 and r.headers["location"] == f"/team/{seeded.team_c}#pakketten"
    lib = PackLibrary(store, CONTENT)
    assert [p.id for p in lib.enabled(seeded.team_c)] == ["praatplaat", "casus", "sturing"]
    [entry] = [a for a in store.audit_entries(seeded.team_c) if a["action"] == "packs_chosen"
               and a["actor_member_id"] == seeded.manager]
    assert entry["detail"] == "web: +sturing -kalender"


def test_a_reader_sees_no_switches_and_cannot_post(client: TestClient, store: Store,
                                                   settings: Settings, seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get(f"/team/{seeded.team_a}")  # a reader of team A, not its owner
    assert r.status_code == 200 and 'name="pack"' not in r.text
    r = client.post(f"/team/{seeded.team_a}/packs",
                    data={"csrf": csrf_of(r.text), "pack": ["casus"]})
    assert r.status_code == 403
    assert not PackLibrary(store, CONTENT).is_enabled(seeded.team_a, "casus")
    assert any(a["action"] == "packs:denied" for a in store.audit_entries(seeded.team_a))
    # another team, a missing CSRF token
    r = client.post(f"/team/{seeded.team_b}/packs", data={"csrf": "x", "pack": ["casus"]})
    assert r.status_code in (400, 403)
    assert not PackLibrary(store, CONTENT).is_enabled(seeded.team_b, "casus")
