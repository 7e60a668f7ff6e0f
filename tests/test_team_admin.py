"""Team leaders run their own team (issue 12, part 1): ``/nieuwteam``, ``/team``, the CLI.

In process: a real Engine on a real SQLite file with the hooks installed as the application
does. Every owner operation is refused (and audited) for a reader and for a member; every
change is audited; the chat and the command line show the same Dutch errors, because both call
:class:`bot.teamadmin.TeamAdmin`.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.engine.core import Engine
from bot.engine.flows import default_dialogues
from bot.engine.messages import reply_from_payload
from bot.reports.chat import install as install_reports
from bot.schedule.planner import plan_due
from bot.store import Store
from bot.teamadmin import TEAMS_PER_DAY, AdminError, TeamAdmin
from bot.teamadmin import install as install_team_admin
from tests.cli import clean_env, run_cli
from tests.people import Person
from tests.test_reports_chat import PLATFORM

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # Monday, working time, 2026-Q2 open


@pytest.fixture
def eng(engine: Engine, store: Store) -> Engine:
    engine.clock = lambda: NOW
    settings = Settings(db_path=Path(store.path))
    install_reports(engine, settings)
    install_team_admin(engine, settings)
    engine.plugins.invite_link = lambda platform, token, group=False: (
        f"https://t.me/TestBot?start={token}")
    return engine


def newcomer(engine: Engine, user: str, role: str = "manager") -> Person:
    """Consent and a role, no team yet (the invite-code question is open)."""
    person = Person(engine, user)
    person.type("/start")
    person.press("ja")
    person.press(role)
    return person


def audit(store: Store, action: str) -> list[dict]:
    return [e for e in store.audit_entries() if e["action"] == action]


def owned_team(engine: Engine, members: int = 4) -> tuple[Person, int, list[Person]]:
    owner = newcomer(engine, "leider")
    owner.type("/nieuwteam Wijkteam Noord")
    team = engine.store.team_by_name("Wijkteam Noord")
    assert team is not None
    code = engine.plugins.team_admin.member_invite(int(team["id"]), owner.id, via="chat")
    people = [Person(engine, f"lid{i}").onboard("professional", code) for i in range(members)]
    return owner, int(team["id"]), people


def test_nieuwteam_makes_you_the_first_owner(eng: Engine, store: Store) -> None:
    owner = newcomer(eng, "leider")
    replies = owner.type("/nieuwteam Wijkteam Noord")
    team = store.team_by_name("Wijkteam Noord")
    assert team is not None
    assert store.is_owner(owner.id, int(team["id"]))
    assert store.role_in_team(owner.id, int(team["id"])) == "manager"
    text = "\n".join(r.text for r in replies)
    assert "Team Wijkteam Noord is gemaakt" in text and "Leden: 1" in text
    assert replies[-1].personal  # the overview carries the invite: never into a group
    assert audit(store, "team_create")[0]["actor_member_id"] == owner.id
    conv = store.load_conversation(PLATFORM, "leider")
    assert conv is not None and conv.context["team_id"] == int(team["id"])
    # without a name it asks for one; an existing name is refused in Dutch
    other = newcomer(eng, "tweede")
    assert other.type("/nieuwteam")[-1].text == eng.text("team_new_ask")
    assert "Er is al een team met die naam" in other.type("wijkteam noord")[0].text
    assert "Team Wijkteam Zuid is gemaakt" in other.type("Wijkteam Zuid")[0].text


def test_a_stranger_cannot_flood_the_bot_with_teams(eng: Engine, store: Store) -> None:
    person = newcomer(eng, "veel")
    for i in range(TEAMS_PER_DAY):
        person.type(f"/nieuwteam Team {i}")
    refused = person.type("/nieuwteam Nog eentje")
    assert "Je maakte vandaag al" in refused[0].text
    assert store.team_by_name("Nog eentje") is None
    assert audit(store, "team_create:too_many")


def test_the_operator_can_close_team_making(eng: Engine, store: Store) -> None:
    eng.plugins.team_admin.open_teams = False
    person = newcomer(eng, "leider")
    replies = person.type("/nieuwteam Wijkteam Noord")
    assert "Nieuwe teams maakt de beheerder" in replies[0].text
    assert store.team_by_name("Wijkteam Noord") is None
    assert audit(store, "team_create:closed")
    # and the setting comes from TEAMSPIEGEL_OPEN_TEAMS
    os.environ["TEAMSPIEGEL_OPEN_TEAMS"] = "0"
    try:
        assert Settings.from_env(env_file=None).open_teams is False
    finally:
        del os.environ["TEAMSPIEGEL_OPEN_TEAMS"]
    assert Settings.from_env(env_file=None).open_teams is True


def test_team_overview_counts_only_and_owner_choices(eng: Engine, store: Store) -> None:
    owner, team_id, people = owned_team(eng, members=4)
    replies = owner.type("/team")
    text = replies[-1].text
    assert "Leden: 5" in text
    assert "deden mee" in text and "bandbreedte" in text
    assert "minder dan 3" in text  # nobody answered yet: a band, never an exact count
    values = [c.value for c in replies[-1].choices]
    assert values == ["invite", "rotate", "leader", "tips", "tips_off", "cadence", "nudge",
                      "done"]
    # a member without a right is refused and audited
    refused = people[0].type("/team")
    assert refused[0].text == eng.text("team_no_right")
    assert audit(store, "team_overview:denied")
    # a granted reader sees the overview, but no owner operation
    with store.transaction():
        store.grant_access(team_id, people[1].id, "reader", by=owner.id, via="chat")
    reader = people[1].type("/team")
    assert [c.value for c in reader[-1].choices] == ["invite", "done"]
    for forged in ["rotate", "tips_off", "nudge"]:  # buttons a reader was never offered
        assert people[1].press(forged)[0].text == eng.text("unknown_input")
    # an owner whose right went while the owner's menu was open: every button is refused
    second = people[2]
    for button in ["rotate", "tips_off", "nudge", "cadence", "leader", "tips"]:
        with store.transaction():
            store.grant_access(team_id, second.id, "owner", by=owner.id, via="chat")
        second.type("/team")
        with store.transaction():
            store.revoke_access(team_id, second.id, by=None, owners=True)
            store.grant_access(team_id, second.id, "reader", by=None, via="cli")
        assert second.press(button)[0].text == eng.text("team_owner_only"), button
    assert len(audit(store, "team:denied")) == 6
    assert store.get_team(team_id)["tip_schedule"] is None  # nothing changed


def test_member_invite_link_and_a_new_code(eng: Engine, store: Store) -> None:
    owner, team_id, _ = owned_team(eng, members=1)
    owner.type("/team")
    invite = owner.press("invite")
    old = store.invites(team_id)[-1]["token"]
    assert any(link.url == f"https://t.me/TestBot?start={old}" for r in invite
               for link in r.links)
    assert any(r.image is not None for r in invite)  # the QR code
    owner.press("rotate")
    replies = owner.press("ja")
    assert "Oude codes die nu niet meer werken: 1" in replies[0].text
    assert store.check_invite(old)[1] == "revoked"
    assert audit(store, "invite_rotate")


def test_leader_invite_from_team(eng: Engine, store: Store) -> None:
    owner, team_id, _ = owned_team(eng, members=1)
    owner.type("/team")
    owner.press("leader")
    replies = owner.type("Fatima (wijkmanager)")
    assert "Uitnodiging voor leesrecht op Wijkteam Noord, voor Fatima (wijkmanager)" in \
        replies[0].text
    invites = store.open_invites(team_id, ("leader",), NOW)
    assert invites and invites[0]["label"] == "Fatima (wijkmanager)"


def test_tip_slot_with_the_clis_validation(eng: Engine, store: Store, tmp_path: Path) -> None:
    owner, team_id, _ = owned_team(eng, members=1)
    owner.type("/team")
    owner.press("tips")
    bad = owner.type("30 14:30")
    assert bad[0].text == "Dag moet een getal van 1 tot en met 20 zijn (de N-de werkdag)."
    owner.press("tips")
    good = owner.type("3 14:30")
    assert good[0].text == "De maandtip komt nu: de 3e werkdag van de maand om 14:30."
    assert json.loads(store.get_team(team_id)["tip_schedule"]) == {"day": 3, "time": "14:30"}
    off = owner.press("tips_off")
    assert off[0].text == "De maandtip komt nu: uit."
    assert audit(store, "tip_schedule")
    # the command line says the same
    store.close()
    out = cli(Path(store.path), "team", "schedule", "Wijkteam Noord", "--day", "30")
    assert out.returncode != 0
    assert "Dag moet een getal van 1 tot en met 20 zijn (de N-de werkdag)." in out.stderr


def test_cadence_and_paused_rounds(eng: Engine, store: Store) -> None:
    owner, team_id, people = owned_team(eng, members=2)
    owner.type("/team")
    owner.press("cadence")
    assert owner.press("half")[0].text == "Rondes: elk half jaar (januari en juli)."
    assert store.get_team(team_id)["reflection_cadence"] == "half"
    # the planner invites in Q3 (July) but not in Q2 (April)
    from datetime import timedelta

    from bot.schedule.calendar import TeamSchedule, quarter_slot

    def at_slot(year: int, quarter: int) -> datetime:
        return quarter_slot(year, quarter, TeamSchedule()) + timedelta(hours=1)

    april = plan_due(store, at_slot(2026, 2))
    july = plan_due(store, at_slot(2026, 3))
    assert april.counts["invite"] == 0 and july.counts["invite"] >= 2
    owner.press("cadence")
    assert owner.press("off")[0].text == "Rondes: geen rondes (gepauzeerd)."
    assert plan_due(store, at_slot(2026, 4)).counts["invite"] == 0


def test_the_nudge_names_nobody_and_obeys_the_reminder_rules(eng: Engine, store: Store) -> None:
    owner, team_id, people = owned_team(eng, members=4)
    period = store.answer_period(team_id, NOW)
    with store.transaction():
        done = store.start_run(people[0].id, team_id, "tour", period)
        store.finish_run(done)  # finished the round: no nudge
        store.update_member(people[1].id, reminders_off=1)  # no reminders: no nudge
        store.enqueue_row(platform=PLATFORM, chat_id=people[2].user, kind="reminder",
                          period="run9:1", payload="[]", not_before="2026-05-03T09:00:00+00:00",
                          now="2026-05-03T09:00:00+00:00", member_id=people[2].id)
    owner.type("/team")
    owner.press("nudge")
    replies = owner.press("ja")
    assert replies[0].text == eng.text("team_nudged")
    assert not any(ch.isdigit() for ch in replies[0].text.split("(")[0])  # no count
    nudged = {r["chat_id"] for r in store._all("SELECT * FROM outbox WHERE kind = 'nudge'")}
    assert nudged == {owner.user, people[3].user}
    payload = store._all("SELECT payload FROM outbox WHERE kind = 'nudge'")[0]["payload"]
    message = reply_from_payload(json.loads(payload)[0])
    assert message.text == default_dialogues().text("team_nudge")
    assert "Nog niet iedereen" in message.text
    # once per round
    owner.press("nudge")
    again = owner.press("ja")
    assert "Deze ronde ging er al een seintje uit" in again[0].text
    assert len(audit(store, "nudge")) == 1 and audit(store, "nudge:again")


def test_every_owner_operation_refused_for_a_non_owner_in_the_service(
        eng: Engine, store: Store) -> None:
    owner, team_id, people = owned_team(eng, members=1)
    admin: TeamAdmin = eng.plugins.team_admin
    member = people[0].id
    calls = {
        "invite_rotate": lambda: admin.rotate_invite(team_id, member),
        "invite_leader": lambda: admin.leader_invite(team_id, "Iemand", member),
        "tip_schedule": lambda: admin.set_tip_slot(team_id, member, off=True),
        "cadence": lambda: admin.set_cadence(team_id, "uit", member),
        "nudge": lambda: admin.nudge(team_id, member),
        "team_overview": lambda: admin.overview(team_id, member),
        "member_invite": lambda: admin.member_invite(team_id, member),
    }
    for what, call in calls.items():
        with pytest.raises(AdminError):
            call()
        assert audit(store, f"{what}:denied"), what
    # an owner of another team has no rights here either
    other = newcomer(eng, "ander")
    other.type("/nieuwteam Wijkteam Zuid")
    with pytest.raises(AdminError):
        admin.set_cadence(team_id, "uit", other.id)
    assert store.get_team(team_id)["reflection_cadence"] == "quarter"


# -- the command line -----------------------------------------------------------------------


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``teamspiegel ARGS`` on this database, in process (tests/cli.py)."""
    return run_cli(*args, env=clean_env(db), cwd=db.parent)


def test_cli_overview_cadence_and_nudge(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store(db)
    team_id = store.create_team("Wijkteam Oost")
    with store.transaction():
        for i in range(3):
            member = store.get_or_create_member("console", f"p{i}")
            store.set_consent(member)
            store.join_team(member, team_id, "professional")
            from bot.store import Conversation

            store.save_conversation(Conversation(None, "console", f"p{i}", member, "menu.main",
                                                 user_id=f"p{i}"))
    store.close()
    out = cli(db, "team", "overview", "Wijkteam Oost")
    assert out.returncode == 0, out.stderr
    assert "leden: 3" in out.stdout and "minder dan 3 deden mee" in out.stdout
    bad = cli(db, "team", "cadence", "Wijkteam Oost", "wekelijks")
    assert bad.returncode == 1 and "Kies kwartaal, halfjaar, jaar of uit." in bad.stderr
    good = cli(db, "team", "cadence", "Wijkteam Oost", "jaar")
    assert good.returncode == 0 and "één keer per jaar" in good.stdout
    first = cli(db, "team", "nudge", "Wijkteam Oost")
    assert first.returncode == 0 and "noemt niemand" in first.stdout
    second = cli(db, "team", "nudge", "Wijkteam Oost")
    assert second.returncode == 1 and "al een seintje" in second.stderr
    store = Store(db)
    try:
        actions = [e["action"] for e in store.audit_entries(team_id)]
        assert "cadence" in actions and "nudge" in actions and "team_overview" in actions
        assert all(e["actor_member_id"] is None for e in store.audit_entries(team_id))
        assert store.conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'nudge'").fetchone()[0] == 3
    finally:
        store.close()

