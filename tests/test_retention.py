"""Retention: answers and the audit log older than the configured period are deleted by the
schedule's tick (fake clock), and ``teamspiegel status`` / ``schedule`` show the setting."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import DEFAULT_RETENTION_YEARS, Settings, SettingsError, retention_years_from
from bot.engine.core import Engine
from bot.engine.messages import Reply
from bot.schedule.retention import RetentionTick, cutoff, purge_expired
from bot.schedule.runner import run_schedule
from bot.store import Store
from tests.cli import clean_env, run_cli
from tests.waiting import PATIENCE

NOW = datetime(2029, 6, 1, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _answer(store: Store, user: str, team: int, when: datetime, text: str) -> int:
    mid = store.get_or_create_member("console", user)
    store.set_consent(mid)
    store.join_team(mid, team, "professional")
    run = store.start_run(mid, team, "tour", "2026-Q1")
    store.save_answer(run_id=run, member_id=mid, team_id=team, role="professional",
                      theme_id="samenhang", question_id="samenhang-1", period="2026-Q1",
                      content_version="v", scale=3, text=text)
    store.save_tip_reaction(mid, team, when.strftime("%Y-%m"), when.month, 4)
    store.audit("report_view", actor=mid, team_id=team)
    stamp = iso(when)
    store.conn.execute("UPDATE answers SET answered_at = ?, updated_at = ? WHERE run_id = ?",
                       (stamp, stamp, run))
    store.conn.execute("UPDATE runs SET started_at = ?, last_activity_at = ? WHERE id = ?",
                       (stamp, stamp, run))
    store.conn.execute("UPDATE tip_reactions SET answered_at = ? WHERE member_id = ?",
                       (stamp, mid))
    store.conn.execute("UPDATE audit_log SET at = ? WHERE actor_member_id = ?", (stamp, mid))
    return mid


@pytest.fixture
def seeded(store: Store) -> dict[str, int]:
    team = store.create_team("Wijkteam Oud")
    with store.transaction():
        old = _answer(store, "oud", team, NOW - timedelta(days=3 * 366), "OUD-antwoord-x1")
        new = _answer(store, "nieuw", team, NOW - timedelta(days=2 * 365), "NIEUW-antwoord-y2")
    return {"team": team, "old": old, "new": new}


def _texts(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT text FROM answers ORDER BY id")]


def test_purge_deletes_what_is_older_than_the_period(store: Store, seeded: dict[str, int]) -> None:
    counts = purge_expired(store, NOW, 3)
    assert counts == {"answers": 1, "runs": 1, "tip_reactions": 1, "audit_log": 1,
                      "snapshot_texts": 0, "web_logins": 0, "outbox": 0}
    assert _texts(store) == ["NIEUW-antwoord-y2"]
    assert [e["actor_member_id"] for e in store.audit_entries()] == [seeded["new"]]
    assert len(store.member_answers(seeded["new"])) == 1
    # the person stays (they may answer again); only what is too old went
    assert store.get_member(seeded["old"]) is not None
    # nothing of it stays readable in the files
    raw = b"".join(Path(store.path + s).read_bytes() for s in ("", "-wal")
                   if Path(store.path + s).exists())
    assert b"OUD-antwoord-x1" not in raw
    # a shorter period takes the newer one too
    assert purge_expired(store, NOW, 1)["answers"] == 1
    assert _texts(store) == []


def test_the_tick_purges_at_most_hourly_with_a_fake_clock(store: Store,
                                                           seeded: dict[str, int]) -> None:
    tick = RetentionTick(store, 3)
    early = NOW - timedelta(days=400)  # nothing is three years old yet
    assert not any(tick(early).values())  # type: ignore[union-attr]
    assert len(_texts(store)) == 2
    assert tick(NOW) is not None  # the clock moved on a lot: purges
    assert _texts(store) == ["NIEUW-antwoord-y2"]
    assert tick(NOW + timedelta(minutes=59)) is None  # within the hour: nothing to do
    later = NOW + timedelta(days=366)  # the other answer is three years old by now
    assert tick(later)["answers"] == 1  # type: ignore[index]
    assert _texts(store) == []


def test_cutoff_and_settings() -> None:
    assert cutoff(NOW, 3) == NOW - timedelta(days=3 * 365.25)
    assert DEFAULT_RETENTION_YEARS == 3
    assert Settings().retention_years == 3
    assert retention_years_from(None) == 3
    assert retention_years_from("2") == 2 and retention_years_from("1,5") == 1.5
    for bad in ("0", "-1", "drie", "1000"):
        with pytest.raises(SettingsError, match="TEAMSPIEGEL_RETENTION_YEARS"):
            retention_years_from(bad)


class _NoSender:
    platform = "console"

    async def send(self, chat_id: str, replies: list[Reply], *, is_group: bool) -> str | None:
        raise AssertionError("nothing should be sent")


async def test_the_running_schedule_purges(store: Store, seeded: dict[str, int],
                                           tmp_path: Path) -> None:
    """The schedule ``teamspiegel run`` runs calls the purge (with its own clock: now)."""
    with store.transaction():  # make the 'new' answer as old as the old one, in real time
        store.conn.execute("UPDATE answers SET answered_at = '2001-01-01T00:00:00+00:00'")
    settings = Settings(db_path=tmp_path / "x.db", tick_seconds=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(run_schedule(Engine(store), settings, {"console": _NoSender()},
                                            stop))
    try:
        for _ in range(200):  # wait for progress: the first tick runs at once
            if not _texts(store):
                break
            await asyncio.sleep(0.05)
        assert _texts(store) == []
    finally:
        stop.set()
        await asyncio.wait_for(task, PATIENCE)


def _cli(db: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=clean_env(db, **env_extra), cwd=db.parent)


def test_status_and_schedule_show_the_setting(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    for command in ("status", "schedule"):
        out = _cli(db, command)
        assert out.returncode == 0, out.stderr
        assert "Bewaartermijn: antwoorden, reacties op tips en het logboek 3 jaar" in out.stdout
        out = _cli(db, command, TEAMSPIEGEL_RETENTION_YEARS="1,5")
        assert "het logboek 1,5 jaar (TEAMSPIEGEL_RETENTION_YEARS)" in out.stdout
    bad = _cli(db, "status", TEAMSPIEGEL_RETENTION_YEARS="nooit")
    assert bad.returncode == 1
    assert "TEAMSPIEGEL_RETENTION_YEARS moet een aantal jaren zijn" in bad.stderr
    assert "Traceback" not in bad.stderr
