"""Results back to the team: after a round is published every member hears the team's mirror
(from their own view: k others), linked team chats get it with k + 1, exactly once; owners are
asked once a month about open actions; "Wat we ermee doen" in the chat and the migration."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.reports.chat import install
from bot.reports.service import publish_due
from bot.schedule.results import KIND_RESULTS, plan_results
from bot.store import LATEST, Store
from bot.store.schema import migrate
from tests.test_mirror_views import GAP, _person, seed_mirror

CONTENT = get_content()
START = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)  # Thursday: Q1 2026 ended on Tuesday


def outbox(store: Store, kind: str) -> list[dict]:
    return [dict(r) for r in store._all(
        "SELECT * FROM outbox WHERE kind = ? ORDER BY id", (kind,))]


def text_of(row: dict) -> str:
    return json.loads(row["payload"])[0]["text"]


def test_every_member_hears_the_mirror_once(store: Store) -> None:
    seed = seed_mirror(store)
    with store.transaction():
        store.link_chat("console", "groep-spiegel", seed.spiegel, seed.bea)
    publish_due(store, START, content=CONTENT)
    with store.transaction():  # published on Wednesday 1 April, right after the quarter
        store.conn.execute("UPDATE snapshots SET published_at = '2026-04-01T00:05:00+00:00'")
    # conversations: members are reached in their private chat
    with store.transaction():
        for member in store.team_members(seed.spiegel):
            store.conn.execute(
                "INSERT INTO conversations (platform, user_id, chat_id, member_id, state, "
                "updated_at) VALUES ('console', ?, ?, ?, 'menu.main', '2026-04-01')",
                (member["platform_user_id"], f"chat-{member['id']}", member["id"]))
    first = plan_results(store, START, content=CONTENT)
    rows = outbox(store, KIND_RESULTS)
    rows = [r for r in rows if r["team_id"] == seed.spiegel]
    members = [r for r in rows if not r["is_group"]]
    groups = [r for r in rows if r["is_group"]]
    assert len(members) == len(store.team_members(seed.spiegel)) == 11
    assert first >= 12 and len(groups) == 1
    assert rows[0]["period"] == f"2026-Q1:team{seed.spiegel}"
    # each member's own view: a professional sees every group (3+ others in each) ...
    sample = text_of(next(r for r in members if r["member_id"] == seed.member))
    assert "De teamspiegel van Wijkteam Spiegel over Q1 2026 staat klaar." in sample
    assert GAP in sample and "/teamspiegel" in sample
    assert "naast jou" in sample
    # ... a policy officer does not see beleid: only two others there besides themselves
    beleid = {m["id"] for m in store.team_members(seed.spiegel)
              if m["role"] in ("beleid", "bestuurder") and m["id"] != seed.bea}  # answered
    assert len(beleid) == 3
    for row in members:
        if row["member_id"] in beleid:
            assert "Beleid ziet" not in text_of(row) and "beleid –" in text_of(row)
    # at 13:00 on the first working day after publication (after the morning's tip and
    # invite); planned later than that (the bot was down): at once, in working time
    assert {r["not_before"] for r in rows} == {"2026-04-02T09:00:00+00:00"}
    # the group chat's view: every cell from k + 1 people, so that no member of the group can
    # take their own answer out: the three-person groups are hidden there
    group_text = text_of(groups[0])
    assert "elk lid van deze groep" in group_text
    assert "Beleid ziet" not in group_text and "beleid –" in group_text
    # exactly once: the next tick plans nothing
    assert plan_results(store, START + timedelta(minutes=5), content=CONTENT) == 0
    assert len([r for r in outbox(store, KIND_RESULTS) if r["team_id"] == seed.spiegel]) == \
        len(rows)
    # a round published long ago is not announced (a new member hears nothing of it)
    with store.transaction():
        late = store.get_or_create_member("console", "nieuw")
        store.set_consent(late)
        store.join_team(late, seed.spiegel, "professional")
        store.conn.execute(
            "INSERT INTO conversations (platform, user_id, chat_id, member_id, state, "
            "updated_at) VALUES ('console', 'nieuw', 'chat-nieuw', ?, 'menu.main', "
            "'2026-05-01')", (late,))
    assert plan_results(store, START + timedelta(days=30), content=CONTENT) == 0


def test_a_member_below_k_hears_no_numbers_of_their_group(store: Store) -> None:
    seed = seed_mirror(store)
    publish_due(store, START, content=CONTENT)
    beleid = [m for m in store.team_members(seed.klein) if m["role"] == "beleid"]
    with store.transaction():
        for member in store.team_members(seed.klein):
            store.conn.execute(
                "INSERT OR IGNORE INTO conversations (platform, user_id, chat_id, member_id, "
                "state, updated_at) VALUES ('console', ?, ?, ?, 'menu.main', '2026-04-01')",
                (member["platform_user_id"], f"chat-{member['id']}", member["id"]))
    plan_results(store, START, content=CONTENT)
    by_member = {r["member_id"]: text_of(r) for r in outbox(store, KIND_RESULTS)
                 if r["team_id"] == seed.klein}
    assert set(by_member) >= {m["id"] for m in beleid}
    for text in by_member.values():
        assert "Beleid ziet" not in text  # two policy officers: below k, in every message


def test_owners_are_asked_about_open_actions_once_a_month(store: Store) -> None:
    seed = seed_mirror(store)
    with store.transaction():
        store.grant_access(seed.spiegel, seed.bea, "owner", by=None, via="cli")
        store.conn.execute(
            "INSERT INTO conversations (platform, user_id, chat_id, member_id, state, "
            "updated_at) VALUES ('console', 'bea', 'chat-bea', ?, 'menu.main', '2026-04-01')",
            (seed.bea,))
        action = store.add_action(seed.spiegel, "regie", "Casusoverleg met beleid", seed.bea,
                                  who="team", due="2026-06-01")
    moment = datetime(2026, 5, 6, 10, 0, tzinfo=UTC)  # a working day, after the tip
    plan_results(store, moment, content=CONTENT)
    plan_results(store, moment + timedelta(hours=2), content=CONTENT)
    [row] = outbox(store, "actions")
    assert row["member_id"] == seed.bea
    text = text_of(row)
    assert "Wat we ermee doen van Wijkteam Spiegel: 1 actie staat nog open." in text
    assert "Regie voeren: Casusoverleg met beleid (het hele team, vóór 1-6-2026)" in text
    assert "/watwedoen" in text
    with store.transaction():
        store.set_action_status(action, seed.spiegel, "done", seed.bea)
    plan_results(store, datetime(2026, 6, 3, 10, 0, tzinfo=UTC), content=CONTENT)
    assert len(outbox(store, "actions")) == 1  # nothing open: nobody is asked


def test_watwedoen_in_the_chat(engine: Engine, store: Store) -> None:
    seed = seed_mirror(store)
    engine.clock = lambda: START
    install(engine, Settings(db_path=Path(store.path)))
    bea = _person(engine, "bea", store)
    bea.type("/watwedoen")
    assert "Voor welk team?" in bea.text()  # a reader of two teams
    bea.press(str(seed.spiegel))
    assert "Nog niets opgeschreven" in bea.text()
    bea.press("new")
    bea.press("regie")
    bea.type("Elke maand een casusoverleg met beleid")
    bea.press("teamleider")
    bea.type("31-2")  # no such day
    assert "dag-maand-jaar" in bea.text()
    bea.type("1-6-2026")
    assert "Opgeslagen" in bea.text()
    [row] = store.team_actions(seed.spiegel)
    assert (row["who"], row["due"], row["status"]) == ("teamleider", "2026-06-01", "open")
    assert "Regie voeren: Elke maand een casusoverleg met beleid (de teamleider, vóór " \
           "1-6-2026)" in bea.text()
    bea.press("done")
    bea.press(str(row["id"]))
    assert "staat nu op klaar" in bea.text()
    assert store.team_actions(seed.spiegel)[0]["status"] == "done"
    # a member reads the list, and cannot write
    user = store.get_member(seed.member)["platform_user_id"]
    member = _person(engine, user, store)
    member.type("/watwedoen")
    assert "Elke maand een casusoverleg" in member.text() and "klaar" in member.text()
    assert "Nieuwe actie" not in member.text()
    member.type("/teamspiegel")
    assert "Wat we ermee doen:" in member.text()


def test_actions_migrate_from_version_3(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    migrate(db, target=3)
    db.execute("INSERT INTO teams (id, name, created_at) VALUES (1, 'Oud', '2025-01-01')")
    db.execute("INSERT INTO followups (team_id, theme_id, text, created_at) VALUES "
               "(1, 'regie', 'Oude afspraak', '2025-02-01 10:00:00')")
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    assert store.schema_version == LATEST
    row = store._one("SELECT status, who, due, updated_at FROM followups")
    assert row == {"status": "open", "who": None, "due": None,
                   "updated_at": "2025-02-01 10:00:00"}
    store.close()


def test_results_go_out_at_one_on_a_working_day() -> None:
    from bot.schedule.results import _send_at

    def local(*args: int) -> str:
        from bot.schedule.calendar import AMSTERDAM

        return datetime(*args, tzinfo=AMSTERDAM).isoformat()

    # a quarter closes at midnight: 1 January is a holiday, then a weekend
    assert _send_at(datetime(2027, 1, 1, 0, 5, tzinfo=UTC)).isoformat() == local(
        2027, 1, 4, 13, 0)  # 1 Jan: holiday; 2-3 Jan: weekend
    assert _send_at(datetime(2026, 4, 1, 14, 0, tzinfo=UTC)).isoformat() == local(
        2026, 4, 2, 13, 0)  # closed early in the afternoon: the next working day
