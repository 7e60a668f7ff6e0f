"""Migrating a version-3 database to granted read rights (issue 9, "Done when").

Self-declared managers and policy officers keep *answering* as such, but lose their read right
until an owner grants it; the first start after the migration prints how many lost it and the
exact command that grants it again, and how to make an owner for teams without one.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import sqlite_utils

from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.messages import Incoming
from bot.store import Store
from bot.store.schema import ACCESS_VERSION, migrate
from tests.cli import clean_env, run_cli

MANAGER, BELEID, PRO, DEMO_MANAGER, WEST_BELEID = 7, 8, 9, 10, 11


def v3_database(path: Path) -> None:
    """A database as release 0.3 left it: managers chose their role and read reports."""
    db = sqlite_utils.Database(path)
    assert migrate(db, target=3) == [1, 2, 3]
    c = db.conn
    c.execute("INSERT INTO teams (id, name, is_demo, created_at) VALUES "
              "(1, 'Wijkteam Oost', 0, '2025-01-01'), (2, 'Demoteam', 1, '2025-01-01'), "
              "(3, 'West', 0, '2025-01-01')")
    for mid, user in ((MANAGER, "boss"), (BELEID, "policy"), (PRO, "pro"),
                      (DEMO_MANAGER, "demo"), (WEST_BELEID, "west")):
        c.execute("""INSERT INTO members (id, platform, platform_user_id, consent_at, created_at)
                     VALUES (?, 'telegram', ?, '2025-01-02', '2025-01-02')""", (mid, user))
    c.executemany("INSERT INTO memberships VALUES (?, ?, ?, '2025-01-02')", [
        (MANAGER, 1, "manager"), (BELEID, 1, "beleid"), (PRO, 1, "professional"),
        (DEMO_MANAGER, 2, "manager"), (WEST_BELEID, 3, "beleid")])
    c.execute("INSERT INTO invites (token, team_id, created_at) VALUES ('oudecode', 1, '2025')")
    c.execute("""INSERT INTO runs (id, member_id, team_id, scope, period, started_at,
                 last_activity_at) VALUES (3, 7, 1, 'tour', '2025-Q1', '2025-01-03', '2025-01-03')""")
    c.execute("""INSERT INTO answers (run_id, member_id, team_id, role, theme_id, question_id,
                 period, scale, text, share_text, answered_at, updated_at, content_version)
                 VALUES (3, 7, 1, 'manager', 'opdrachten', 'opdrachten-3', '2025-Q1', 4,
                 'als manager', 1, '2025-01-03', '2025-01-03', 'praatplaat=1;kalender=1')""")
    c.execute("""INSERT INTO conversations (platform, chat_id, member_id, state, context,
                 prompt_seq, updated_at) VALUES ('telegram', 'boss', 7, 'menu.main',
                 '{"role": "manager", "team_id": 1}', 3, '2025-01-03')""")
    c.execute("""INSERT INTO followups (team_id, theme_id, text, author_member_id, created_at)
                 VALUES (1, 'regie', 'Zelfbenoemd officieel antwoord', 7, '2025-02-01')""")
    c.commit()
    c.close()


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=clean_env(db), cwd=db.parent)


def test_managers_keep_answering_but_lose_read_rights(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    v3_database(path)
    store = Store(path)
    try:
        assert store.migrated_from == 3 and ACCESS_VERSION == 4
        # answers and the role they answer as are kept
        assert store.role_in_team(MANAGER, 1) == "manager"
        assert store.role_in_team(BELEID, 1) == "beleid"
        [row] = store.member_answers(MANAGER)
        assert (row["role"], row["question_id"], row["scale"], row["text"]) == (
            "manager", "opdrachten-3", 4, "als manager")
        assert store.resolve_invite("oudecode") == (1, "ok")  # the member code still joins
        # reading is gone, for everyone
        for mid, team in ((MANAGER, 1), (BELEID, 1), (DEMO_MANAGER, 2), (WEST_BELEID, 3)):
            assert not store.may_read_team(mid, team)
            assert store.report_teams(mid) == []
        # the follow-up of a self-declared manager is no longer shown as the team's answer
        assert store.followups(1) == []
        notice = store.access_migration_notice()
        assert notice is not None
        assert "3 mensen hebben geen leesrecht meer" in notice  # not the Demoteam's 'manager'
        assert f"teamspiegel team grant 'Wijkteam Oost' --member {MANAGER} --member {BELEID}" \
            in notice
        assert f"teamspiegel team grant West --member {WEST_BELEID}" in notice
        assert "teamspiegel team owner-invite 'Wijkteam Oost'" in notice
        assert "teamspiegel team owner-invite West" in notice
        assert "Demoteam" not in notice
        assert "1 eerdere 'Wat we ermee doen'-teksten" in notice

        # the old conversation still says 'manager': /rapport gives nothing
        engine = Engine(store, get_content())
        from bot.reports.chat import install

        install(engine)
        replies = engine.handle(Incoming("telegram", "boss", "boss", "command", text="/rapport",
                                         command="rapport"))
        assert engine.text("not_manager") in replies[0].text
        replies = engine.handle(Incoming("telegram", "boss", "boss", "command",
                                         text="/dashboard", command="dashboard"))
        assert engine.text("not_manager") in replies[0].text
    finally:
        store.close()


def test_the_first_start_prints_the_notice_and_the_command_works(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    v3_database(path)
    backup = tmp_path / "copy.db"
    shutil.copy(path, backup)

    first = run(path, "team", "list")
    assert first.returncode == 0, first.stderr
    assert "Wijkteam Oost" in first.stdout
    assert "3 mensen hebben geen leesrecht meer" in first.stderr
    command = next(line.strip() for line in first.stderr.splitlines()
                   if "grant 'Wijkteam Oost'" in line)
    assert command == f"teamspiegel team grant 'Wijkteam Oost' --member {MANAGER} --member {BELEID}"
    assert "teamspiegel team owner-invite 'Wijkteam Oost'" in first.stderr
    # only right after the migration
    second = run(path, "team", "list")
    assert second.returncode == 0 and second.stderr == ""
    # the leftovers stay visible per team until granted
    readers = run(path, "team", "readers", "Wijkteam Oost")
    assert command in readers.stdout and "geen eigenaar" in readers.stdout

    granted = run(path, *shlex.split(command)[1:])  # exactly the printed command
    assert granted.returncode == 0, granted.stderr
    store = Store(path)
    try:
        assert store.may_read_team(MANAGER, 1) and store.may_read_team(BELEID, 1)
        assert not store.may_read_team(WEST_BELEID, 3)
        assert store.lost_read_rights(1) == []
        grants = [e for e in store.audit_entries(1) if e["action"] == "grant_read"]
        assert {e["subject_member_id"] for e in grants} == {MANAGER, BELEID}
        assert all(e["actor_member_id"] is None and e["detail"] == "cli" for e in grants)
    finally:
        store.close()
    readers = run(path, "team", "readers", "Wijkteam Oost")
    assert "Teruggeven" not in readers.stdout

    # the bot's start (teamspiegel chat / run) prints it too
    chat = run_cli("chat", "--jsonl", "--user", "x", env=clean_env(backup), cwd=tmp_path)
    assert chat.returncode == 0, chat.stderr
    assert "3 mensen hebben geen leesrecht meer" in chat.stderr
    assert "geen leesrecht meer" not in chat.stdout  # stdout stays machine-readable JSON lines
