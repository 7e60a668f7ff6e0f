"""``teamspiegel team create|owner-invite|grant|revoke|readers|members|rotate`` through the
command line's ``main()`` (in process, ``tests/cli.py``) on a real SQLite file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import segno

from bot.store import Store
from tests.cli import clean_env, run_cli


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=clean_env(db), cwd=db.parent)


def ok(db: Path, *args: str) -> str:
    out = run(db, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_create_prints_a_single_use_owner_invite(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    qr = tmp_path / "eigenaar.png"
    out = ok(db, "team", "create", "Wijkteam Noord", "--bot", "MijnBot", "--qr", str(qr))
    member_code = re.search(r"^Uitnodigingscode: (\S+)$", out, re.M).group(1)
    owner_code = re.search(r"^Eigenaarscode: (\S+)$", out, re.M).group(1)
    link = f"https://t.me/MijnBot?start={owner_code}"
    assert f"Telegram: {link}" in out
    assert f"!start {owner_code}" in out  # the Matrix hint
    assert "één keer" in out
    expected = tmp_path / "expected.png"
    segno.make(link, error="m").save(expected, scale=8, border=2)
    assert qr.read_bytes() == expected.read_bytes()
    store = Store(db)
    try:
        team = store.team_by_name("Wijkteam Noord")
        assert team is not None
        row, reason = store.check_invite(owner_code)
        assert reason == "ok" and row is not None
        assert (row["kind"], row["max_uses"], row["team_id"]) == ("owner", 1, team["id"])
        assert row["label"] is None  # nobody named it (the team's name is no person's)
        assert row["expires_at"] is not None  # 14 days by default
        member, _ = store.check_invite(member_code)
        assert member is not None and member["kind"] == "member" and member["max_uses"] is None
    finally:
        store.close()
    # without a bot name: still the code and the Matrix hint, no link
    plain = ok(db, "team", "create", "Wijkteam Zuid")
    assert "Eigenaarscode:" in plain and "!start" in plain and "t.me" not in plain


def test_grant_revoke_readers_members_and_owner_invite(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    ok(db, "team", "create", "Wijkteam Oost")
    store = Store(db)
    try:
        team = store.team_by_name("Wijkteam Oost")
        assert team is not None
        with store.transaction():
            boss = store.get_or_create_member("telegram", "boss", "Geheime Naam")
            store.join_team(boss, team["id"], "manager")
            outsider = store.get_or_create_member("telegram", "x", "Buiten Staander")
    finally:
        store.close()

    members = ok(db, "team", "members", "Wijkteam Oost")
    assert f"{boss}  manager  -" in members and "Geheime Naam" not in members
    assert ok(db, "team", "grant", "Wijkteam Oost", "--member", str(boss), "--name", "Baas"
              ).strip() == f"Lid {boss} is lezer van Wijkteam Oost."
    refused = run(db, "team", "grant", "Wijkteam Oost", "--member", str(outsider))
    assert refused.returncode == 1 and "geen lid van Wijkteam Oost" in refused.stderr
    readers = ok(db, "team", "readers", "Wijkteam Oost")
    assert f"lid {boss}  lezer" in readers and '"Baas"' in readers
    assert "door de beheerder" in readers and "Geheime Naam" not in readers
    assert "geen eigenaar" in readers

    invite = ok(db, "team", "owner-invite", "Wijkteam Oost", "--name", "Nieuwe Eigenaar",
                "--expires-days", "3")
    code = re.search(r"^Eigenaarscode: (\S+)$", invite, re.M).group(1)
    assert '"Nieuwe Eigenaar"' in ok(db, "team", "readers", "Wijkteam Oost")
    leader = ok(db, "team", "grant", "Wijkteam Oost", "--name", "Lezer Lotte", "--bot", "B")
    lcode = re.search(r"^Code: (\S+)$", leader, re.M).group(1)
    assert f"https://t.me/B?start={lcode}" in leader
    store = Store(db)
    try:
        assert store.check_invite(code)[0]["kind"] == "owner"  # type: ignore[index]
        assert store.check_invite(lcode)[0]["label"] == "Lezer Lotte"  # type: ignore[index]
    finally:
        store.close()

    assert ok(db, "team", "grant", "Wijkteam Oost", "--member", str(boss), "--owner"
              ).strip() == f"Lid {boss} is eigenaar van Wijkteam Oost."
    assert "geen eigenaar" not in ok(db, "team", "readers", "Wijkteam Oost")
    out = ok(db, "team", "revoke", "Wijkteam Oost", "--member", str(boss))
    assert "geen recht meer" in out
    again = run(db, "team", "revoke", "Wijkteam Oost", "--member", str(boss))
    assert again.returncode == 1 and "had geen recht" in again.stderr
    # the old form still revokes an invite token
    assert ok(db, "team", "revoke", code).strip() == "Uitnodiging ingetrokken."
    store = Store(db)
    try:
        assert store.check_invite(code) == (None, "revoked")
        actions = [e["action"] for e in store.audit_entries(team["id"])]
        assert {"grant_read", "grant_owner", "revoke_owner", "invite_created:owner",
                "invite_created:leader"} <= set(actions)
    finally:
        store.close()

    demo = run(db, "team", "grant", "Demoteam", "--member", str(boss))
    assert demo.returncode != 0  # no such team yet, or the Demoteam: refused either way
    usage = run(db, "team", "grant", "Wijkteam Oost")
    assert usage.returncode != 0 and "--member ID" in usage.stderr


def test_rotate_stops_old_member_codes(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    out = ok(db, "team", "create", "Wijkteam West")
    old = re.search(r"^Uitnodigingscode: (\S+)$", out, re.M).group(1)
    extra = re.search(r": (\S+)$", ok(db, "team", "invite", "Wijkteam West").splitlines()[0]
                      ).group(1)
    rotated = ok(db, "team", "rotate", "Wijkteam West", "--expires-days", "30", "--bot", "B")
    new = re.search(r"^Nieuwe uitnodigingscode voor Wijkteam West: (\S+)$", rotated,
                    re.M).group(1)
    assert "2 oude codes werken niet meer." in rotated
    assert f"https://t.me/B?start={new}" in rotated
    store = Store(db)
    try:
        assert store.resolve_invite(old) == (None, "revoked")
        assert store.resolve_invite(extra) == (None, "revoked")
        team_id, reason = store.resolve_invite(new)
        assert reason == "ok" and team_id is not None
        owner_codes = store.open_invites(team_id, ("owner",))
        assert len(owner_codes) == 1  # rotating member codes leaves the owner invite alone
    finally:
        store.close()
