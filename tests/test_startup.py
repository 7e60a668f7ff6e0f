"""Start-up and deployment errors: one clear line, a non-zero exit, no traceback, no crash loop.

Each broken deployment of issue 14 is tried here the way an operator meets it: through the
command line's ``main()`` in process (the same code as the ``teamspiegel`` script; a
subprocess would add only its start-up time), and ``teamspiegel run`` as a real process where
the process itself is the point (a traceback printed by the interpreter, an exit code).
A platform that cannot be reached at start is retried: the bot starts with the fake Bot API
(real HTTP) or the homeserver (real Synapse behind a proxy) down, and serves once it is up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from telegram import error as tg_error

from bot.app import serve
from bot.channel import RetryAfter, TransientError
from bot.cli import main
from bot.config import Settings, StartupError
from bot.startup import is_unreachable, start_transport
from bot.store import DatabaseUnusable, Store
from bot.transports.matrix_crypto import MatrixLoginError
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.fakes.holding_proxy import HoldingProxy
from tests.telegram_helpers import Person
from tests.waiting import PATIENCE, await_until

ROOT = Path(__file__).resolve().parent.parent
TEAMSPIEGEL = str(Path(sys.executable).with_name("teamspiegel"))
TOKEN = "7000001:AAHx-the-right-token-abcdefghijkl"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment: no settings from the machine, no .env of the working folder."""
    for name in list(os.environ):
        if name.startswith(("TEAMSPIEGEL_", "TELEGRAM_", "MATRIX_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """What the command printed: exactly one line on stderr, no traceback."""
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert "Traceback" not in out.err + out.out
    assert len(lines) == 1, out.err
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the database file --------------------------------------------------------------------


def a_database(path: Path, invites: int = 300) -> Path:
    """A real Teamspiegel database with enough rows to span several pages."""
    store = Store(path)
    team_id = store.create_team("Wijkteam Noord")
    for _ in range(invites):
        store.create_invite(team_id)
    store.checkpoint()
    store.close()
    return path


def garbage(path: Path) -> Path:
    path.write_bytes(os.urandom(5000))
    return path


def truncated(path: Path) -> Path:
    a_database(path.with_name("whole.db"))
    path.write_bytes(path.with_name("whole.db").read_bytes()[:3000])
    return path


def corrupt_page(path: Path) -> Path:
    """A database whose ``invites`` table has a damaged page: SQLite opens it without a
    word, and reads it wrong (or fails) only when someone touches that table."""
    a_database(path)
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'invites'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * 64)
    return path


def directory(path: Path) -> Path:
    path.mkdir()
    return path


def foreign(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    return path


def under_a_file(path: Path) -> Path:
    path.with_name("plain-file").write_text("x")
    return path.with_name("plain-file") / "teamspiegel.db"


BROKEN = {
    garbage: "geen SQLite-database",
    truncated: "beschadigd",
    corrupt_page: "beschadigd (quick_check: ",
    directory: "is een map, geen bestand",
    foreign: "van een ander programma (tabellen: recipes)",
    under_a_file: "plain-file is een bestand, geen map",
}


@pytest.mark.parametrize("make", list(BROKEN), ids=[f.__name__ for f in BROKEN])
@pytest.mark.parametrize("command", [["team", "list"], ["status"], ["chat", "--jsonl"]])
def test_a_broken_database_gives_one_line_and_exit_1(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    make: object, command: list[str],
) -> None:
    db = make(tmp_path / "teamspiegel.db")  # type: ignore[operator]
    before = db.read_bytes() if db.is_file() else None
    env.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115  (the chat reads nothing)
    assert main(["--db", str(db), *command]) == 1
    line = one_line_error(capsys)
    assert str(db) in line and BROKEN[make] in line, line  # type: ignore[index]
    if before is not None:  # refused, not "repaired": the file is as it was
        assert db.read_bytes() == before


def test_the_corrupt_page_is_found_at_open_not_later(tmp_path: Path) -> None:
    """Without the check the damaged file opens and even migrates; with it, it is refused
    before anything reads or writes it."""
    db = corrupt_page(tmp_path / "teamspiegel.db")
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] > 0  # SQLite says nothing
    conn.close()
    with pytest.raises(DatabaseUnusable, match="quick_check"):
        Store(db)


@pytest.mark.e2e
def test_run_on_a_garbage_database_exits_1_without_traceback(tmp_path: Path) -> None:
    """The real ``teamspiegel run``, configured for Telegram, on a file that is no database:
    the interpreter prints no traceback, the exit code is 1, and the Bot API is never asked
    (the database is checked first)."""
    db = garbage(tmp_path / "teamspiegel.db")
    with FakeBotAPI(token=TOKEN) as fake:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "MATRIX_", "TEAMSPIEGEL_"))}
        env.update(TEAMSPIEGEL_DB=str(db), TELEGRAM_BOT_TOKEN=TOKEN,
                   TELEGRAM_BASE_URL=fake.base_url)
        proc = subprocess.run([TEAMSPIEGEL, "run"], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=PATIENCE, stdin=subprocess.DEVNULL)
        assert not fake.calls("getMe")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"Het bestand {db} is geen SQLite-database, of het is beschadigd. Zet een "
                     "back-up terug, of kies een ander bestand met TEAMSPIEGEL_DB of --db."]
    assert TOKEN not in proc.stdout + proc.stderr


def test_a_good_database_still_opens_and_migrates(tmp_path: Path) -> None:
    """The checks refuse only what is broken: an empty file and a real database open."""
    (tmp_path / "empty.db").write_bytes(b"")
    Store(tmp_path / "empty.db").close()
    store = Store(a_database(tmp_path / "real.db"))
    assert store.list_teams()[0]["name"] == "Wijkteam Noord"
    store.close()


# -- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "words"), [
    ("MATRIX_HOMESERVER", "matrix.example.org", "met https:// begint"),
    ("MATRIX_HOMESERVER", "ftp://matrix.example.org", "met https:// begint"),
    ("TELEGRAM_BASE_URL", "127.0.0.1:8081/bot", "met https:// begint"),
    ("TEAMSPIEGEL_WEB_URL", "dashboard.example.org", "met https:// begint"),
    ("TEAMSPIEGEL_TICK_SECONDS", "dertig", "moet een getal zijn"),
    ("TEAMSPIEGEL_RATE_GLOBAL", "0", "moet een getal zijn van minstens"),
    ("TEAMSPIEGEL_MIN_GROUP", "drie", "moet een heel getal zijn"),
    ("TELEGRAM_WEBHOOK_PORT", "84x3", "moet een heel getal zijn"),
    ("TELEGRAM_REQUEST_TIMEOUT", "vijf", "moet een getal zijn"),
])
def test_a_setting_that_cannot_work_gives_one_line(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    name: str, value: str, words: str,
) -> None:
    """Before: a homeserver without https:// reached aiohttp (InvalidURL traceback), a number
    that is none reached ``float()`` (ValueError traceback)."""
    env.setenv("TEAMSPIEGEL_DB", str(tmp_path / "t.db"))
    env.setenv("MATRIX_HOMESERVER", "https://matrix.example.org")
    env.setenv("MATRIX_USER_ID", "@teamspiegel:example.org")
    env.setenv("MATRIX_PASSWORD", "a-password-nobody-may-see")
    env.setenv(name, value)
    assert main(["run"]) == 1
    line = one_line_error(capsys)
    assert line.startswith(name) and words in line and repr(value) in line, line
    assert "a-password-nobody-may-see" not in line
    assert not (tmp_path / "t.db").exists()  # refused before anything was opened


def test_a_webhook_url_without_scheme_gives_one_line(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert main(["--db", str(tmp_path / "t.db"), "run", "--webhook", "bot.example.org/tg"]) == 1
    assert one_line_error(capsys).startswith("--webhook moet een volledig adres zijn")


def test_settings_accept_what_they_accepted(env: pytest.MonkeyPatch) -> None:
    for name, value in {"TEAMSPIEGEL_TICK_SECONDS": "0,5", "TEAMSPIEGEL_MIN_GROUP": "2",
                        "MATRIX_HOMESERVER": "http://127.0.0.1:8008",
                        "TELEGRAM_REQUEST_TIMEOUT": "7"}.items():
        env.setenv(name, value)
    s = Settings.from_env(env_file=None)
    assert (s.tick_seconds, s.min_group, s.telegram_timeout) == (0.5, 3, 7.0)
    assert s.matrix_homeserver == "http://127.0.0.1:8008"


# -- content and dialogues ----------------------------------------------------------------


def test_content_check_refuses_an_unknown_answer_kind_in_any_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    pack = content / "sturing.yaml"
    lines = pack.read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "kind: scale" in text)
    lines[line - 1] = lines[line - 1].replace("kind: scale", "kind: stemming")
    pack.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["content", "check", "--dir", str(content)]) == 1
    err = capsys.readouterr().err
    assert f"{pack}:{line}:" in err and "'scale' or 'text'" in err, err
    assert "Traceback" not in err


# -- a platform that cannot be reached, or refuses us, at start --------------------------


@pytest.mark.filterwarnings("ignore:.*retry_after")  # PTB's RetryAfter warns when built
def test_what_waiting_can_fix() -> None:
    """Unreachable (wait and retry) versus refused (stop with one line)."""
    connector = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
        OSError(111, "Connection refused"))
    for exc in (tg_error.NetworkError("Bad Gateway"), tg_error.TimedOut(),
                tg_error.RetryAfter(3), connector, aiohttp.ServerDisconnectedError(),
                TimeoutError(), ConnectionRefusedError(), TransientError("sync"),
                RetryAfter(2), MatrixLoginError("login failed", status=502),
                MatrixLoginError("login failed", status=429)):
        assert is_unreachable(exc), exc
    for exc in (tg_error.InvalidToken("rejected"), tg_error.BadRequest("x"),
                tg_error.Forbidden("x"), MatrixLoginError("M_FORBIDDEN", status=403),
                MatrixLoginError("no password"), ValueError("bug"), aiohttp.InvalidURL("x")):
        assert not is_unreachable(exc), exc


class Flaky:
    """A transport whose platform answers only from the ``fails + 1``-th attempt on."""

    platform = "telegram"

    def __init__(self, fails: int, exc: Exception) -> None:
        self.fails, self.exc, self.starts, self.stops = fails, exc, 0, 0

    async def start(self) -> None:
        self.starts += 1
        if self.starts <= self.fails:
            raise self.exc

    async def stop(self) -> None:
        self.stops += 1


async def test_start_waits_for_an_unreachable_platform(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(3, tg_error.NetworkError(f"httpx.ConnectError: {TOKEN} refused"))
    with caplog.at_level(logging.WARNING, "bot.app"):
        assert await start_transport(flaky, asyncio.Event(), secrets=[TOKEN], first_pause=0.01)
    assert flaky.starts == 4 and flaky.stops == 3  # each half-start closed before the next
    lines = [r for r in caplog.records if "not reachable at start" in r.getMessage()]
    assert len(lines) == 3 and all(r.exc_info is None for r in lines)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert "started after 4 attempts" in caplog.records[-1].getMessage()


async def test_start_stops_at_once_when_refused() -> None:
    flaky = Flaky(5, tg_error.InvalidToken(f"The token `{TOKEN}` was rejected by the server."))
    with pytest.raises(StartupError) as err:
        await start_transport(flaky, asyncio.Event(), first_pause=0.01)
    assert flaky.starts == 1
    assert TOKEN not in str(err.value) and err.value.__cause__ is None
    assert err.value.__suppress_context__


async def test_stop_while_waiting_ends_the_start_cleanly() -> None:
    stop = asyncio.Event()
    flaky = Flaky(10**6, TimeoutError())
    task = asyncio.create_task(start_transport(flaky, stop, first_pause=30))
    await await_until(lambda: flaky.starts == 1, "the first attempt")
    stop.set()
    assert await task is False


async def test_bot_api_down_at_start_the_bot_waits_and_then_serves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The network flaps at boot: `run` starts while the Bot API is down (connection
    refused), logs one line per attempt, and serves as soon as it is up. Then a 502 phase."""
    monkeypatch.setattr("bot.startup.FIRST_PAUSE", 0.1)
    settled: list[int] = []  # the heap is settled once, when the start is done
    monkeypatch.setattr("bot.app.settle_heap", lambda: settled.append(1) or 0)
    port = free_port()
    settings = Settings(db_path=tmp_path / "t.db", telegram_token=TOKEN,
                        telegram_base_url=f"http://127.0.0.1:{port}/bot")
    stop = asyncio.Event()
    caplog.set_level(logging.INFO)
    bot = asyncio.create_task(serve(settings, stop=stop))

    def retries() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "telegram is not reachable at start" in
                r.getMessage()]

    try:
        await await_until(lambda: len(retries()) >= 1 or bot.done(), "a retry line")
        assert not bot.done(), bot.exception()
        with FakeBotAPI(token=TOKEN, port=port) as fake:
            fake.add_fault(502, method="getMe", count=2)  # up, but not ready yet
            await await_until(lambda: fake.calls("getUpdates") or bot.done(), "polling")
            assert not bot.done(), bot.exception()
            person = Person(fake, 4242)
            await person.say("/start")
            assert "Teamspiegel" in person.messages()[0].text, person.transcript()
            assert settled == [1]
            stop.set()
            await asyncio.wait_for(bot, PATIENCE)
    finally:
        stop.set()
        if not bot.done():
            bot.cancel()
    assert len(retries()) >= 3  # refused at least once, then two 502s
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


@pytest.mark.e2e
async def test_homeserver_down_at_start_the_bot_waits_and_then_logs_in(
    tmp_path: Path, synapse, matrix_users, caplog: pytest.LogCaptureFixture,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same for Matrix: the homeserver (real Synapse, behind a proxy on a port nobody
    listens on yet) is down at start; the bot logs in and syncs once it is reachable."""
    monkeypatch.setattr("bot.startup.FIRST_PAUSE", 0.1)
    account = matrix_users("bot")
    port = free_port()
    settings = Settings(db_path=tmp_path / "t.db", matrix_homeserver=f"http://127.0.0.1:{port}",
                        matrix_user_id=account.user_id, matrix_password=account.password,
                        matrix_store=tmp_path / "matrix")
    stop = asyncio.Event()
    caplog.set_level(logging.INFO)
    bot = asyncio.create_task(serve(settings, stop=stop))

    def logged(words: str) -> bool:
        return any(words in r.getMessage() for r in caplog.records)

    try:
        await await_until(lambda: logged("matrix is not reachable at start") or bot.done(),
                    "a retry line")
        assert not bot.done(), bot.exception()
        with HoldingProxy(synapse.base_url, lambda method, path: False, port=port):
            await await_until(lambda: logged("Teamspiegel draait") or bot.done(), "the start")
            assert not bot.done(), bot.exception()
            stop.set()
            await asyncio.wait_for(bot, PATIENCE)
    finally:
        stop.set()
        if not bot.done():
            bot.cancel()
    assert logged(f"Matrix-bot {account.user_id} gestart")
    assert account.password not in caplog.text
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)
