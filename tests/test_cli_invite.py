"""`teamspiegel team invite|revoke` through the command line's ``main()``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import segno

from bot.store import Store
from tests.cli import clean_env, run_cli


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=clean_env(db), cwd=db.parent)


def test_invite_link_qr_expiry_matrix_and_revoke(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert run(db, "team", "create", "Wijkteam Noord").returncode == 0
    qr = tmp_path / "invite.png"
    out = run(db, "team", "invite", "Wijkteam Noord", "--bot", "MijnBot", "--qr", str(qr),
              "--expires-days", "14", "--matrix")
    assert out.returncode == 0, out.stderr
    link = re.search(r"https://t\.me/MijnBot\?start=([A-Za-z0-9_-]+)", out.stdout)
    assert link, out.stdout
    token = link.group(1)
    assert len(token) <= 64  # Telegram's deep-link payload limit
    assert f"!start {token}" in out.stdout
    # the QR code is a PNG of exactly that link
    assert qr.read_bytes().startswith(b"\x89PNG")
    expected = tmp_path / "expected.png"
    segno.make(link.group(0), error="m").save(expected, scale=8, border=2)
    assert qr.read_bytes() == expected.read_bytes()

    store = Store(db)
    try:
        team_id, reason = store.resolve_invite(token)
        assert reason == "ok" and team_id is not None
        [invite] = [i for i in store.invites(team_id) if i["token"] == token]
        assert invite["expires_at"] is not None
    finally:
        store.close()

    assert run(db, "team", "revoke", token).returncode == 0
    again = run(db, "team", "revoke", token)
    assert again.returncode == 1 and "bestaat niet of was al ingetrokken" in again.stderr
    store = Store(db)
    try:
        assert store.resolve_invite(token) == (None, "revoked")
    finally:
        store.close()


def test_qr_without_bot_name_is_refused_kindly(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    run(db, "team", "create", "Wijkteam Zuid")
    out = run(db, "team", "invite", "Wijkteam Zuid", "--qr", str(tmp_path / "x.png"))
    assert out.returncode != 0 and "botnaam" in out.stderr
    unknown = run(db, "team", "invite", "Bestaat Niet")
    assert unknown.returncode != 0 and "bestaat niet" in unknown.stderr
