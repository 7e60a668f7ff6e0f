"""Helpers for end-to-end tests of the Matrix transport against the real Synapse fixture.

* :class:`Member`: a person on a plain matrix-nio client (own device, E2E), who opens rooms
  with the bot, types messages and collects what the bot answers.
* :class:`BotProcess`: ``teamspiegel run`` as a real subprocess (so it can be SIGKILLed and
  restarted with the same store and database).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nio

from tests.waiting import PATIENCE

ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
RECOVERY_KEY = "e2e-recovery-key-0123456789abcdef-teamspiegel"
#: message types of the bot we collect
BOT_EVENTS = (nio.RoomMessageText, nio.RoomMessageNotice, nio.RoomMessageMedia,
              nio.RoomEncryptedMedia, nio.MegolmEvent)


def client_config() -> nio.AsyncClientConfig:
    # Finite retries so a broken server fails the test instead of hanging it.
    return nio.AsyncClientConfig(
        encryption_enabled=True,
        store_sync_tokens=True,
        max_timeouts=2,
        max_limit_exceeded=2,
        request_timeout=20,
    )


async def sync_round(
    client: nio.AsyncClient, timeout_ms: int = 0, full_state: bool | None = None
) -> nio.SyncResponse:
    """One iteration of what nio's sync_forever does: sync + key housekeeping."""
    resp = await client.sync(timeout=timeout_ms, full_state=full_state)
    assert isinstance(resp, nio.SyncResponse), resp
    await client.send_to_device_messages()
    if client.should_upload_keys:
        assert isinstance(await client.keys_upload(), nio.KeysUploadResponse)
    if client.should_query_keys:
        assert isinstance(await client.keys_query(), nio.KeysQueryResponse)
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    return resp


async def sync_until(
    client: nio.AsyncClient, predicate: Callable[[], bool], what: str, deadline_s: float = PATIENCE
) -> None:
    end = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await sync_round(client, timeout_ms=300)


def text_of(event: Any) -> str:
    return getattr(event, "body", "") or ""


class Member:
    """A person on their own device, talking to the bot."""

    def __init__(self, client: nio.AsyncClient, bot_user_id: str) -> None:
        self.client = client
        self.bot_user_id = bot_user_id
        #: (room id, event) of everything the bot sent, in arrival order
        self.received: list[tuple[str, Any]] = []
        client.add_event_callback(self._on_event, BOT_EVENTS)  # type: ignore[arg-type]

    @classmethod
    async def login(cls, synapse: Any, user: Any, store_dir: Path, bot_user_id: str) -> Member:
        store_dir.mkdir(parents=True, exist_ok=True)
        client = nio.AsyncClient(synapse.base_url, user.user_id, store_path=str(store_dir),
                                 config=client_config())
        resp = await client.login(user.password, device_name="member-phone")
        assert isinstance(resp, nio.LoginResponse), resp
        if client.should_upload_keys:
            assert isinstance(await client.keys_upload(), nio.KeysUploadResponse)
        await sync_round(client)
        return cls(client, bot_user_id)

    async def _on_event(self, room: nio.MatrixRoom, event: Any) -> None:
        if event.sender == self.bot_user_id:
            self.received.append((room.room_id, event))

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def close(self) -> None:
        await self.client.close()

    # -- rooms ---------------------------------------------------------------------------------

    async def open_dm(self, *, encrypted: bool = True, deadline_s: float = PATIENCE) -> str:
        """A direct chat with the bot (like Element's "start chat"); waits for its join."""
        resp = await self.client.room_create(
            is_direct=True,
            invite=[self.bot_user_id],
            preset=nio.RoomPreset.trusted_private_chat,
            initial_state=[ENCRYPTION_STATE] if encrypted else [],
        )
        assert isinstance(resp, nio.RoomCreateResponse), resp
        await self.wait_joined(resp.room_id, self.bot_user_id, deadline_s)
        return resp.room_id

    async def open_room(self, name: str, invite: list[str], deadline_s: float = PATIENCE) -> str:
        """A named, unencrypted group room (a team room)."""
        resp = await self.client.room_create(
            name=name, invite=invite, preset=nio.RoomPreset.private_chat
        )
        assert isinstance(resp, nio.RoomCreateResponse), resp
        await self.wait_joined(resp.room_id, self.bot_user_id, deadline_s)
        return resp.room_id

    async def wait_joined(self, room_id: str, user_id: str, deadline_s: float = PATIENCE) -> None:
        def joined() -> bool:
            room = self.client.rooms.get(room_id)
            return bool(room and user_id in room.users and user_id not in room.invited_users)

        await sync_until(self.client, joined, f"{user_id} to join {room_id}", deadline_s)

    async def join(self, room_id: str) -> None:
        await sync_until(self.client, lambda: room_id in self.client.invited_rooms, "an invite")
        assert isinstance(await self.client.join(room_id), nio.JoinResponse)
        await sync_until(self.client, lambda: room_id in self.client.rooms, "the joined room")

    # -- talking -------------------------------------------------------------------------------

    async def send(self, room_id: str, body: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": body, **extra}
        return await self.send_content(room_id, content)

    async def send_content(self, room_id: str, content: dict[str, Any],
                           event_type: str = "m.room.message") -> str:
        resp = await self.client.room_send(room_id, event_type, content,
                                           ignore_unverified_devices=True)
        assert isinstance(resp, nio.RoomSendResponse), resp
        return resp.event_id

    def mark(self) -> int:
        return len(self.received)

    def since(self, mark: int, room_id: str | None = None) -> list[Any]:
        return [e for r, e in self.received[mark:] if room_id is None or r == room_id]

    async def wait_for(self, room_id: str, needle: str, mark: int,
                       deadline_s: float = PATIENCE) -> list[Any]:
        """Sync until a bot message in ``room_id`` after ``mark`` contains ``needle``;
        return the bot's messages in that room since ``mark``."""

        def found() -> bool:
            return any(needle in text_of(e) for e in self.since(mark, room_id))

        try:
            await sync_until(self.client, found, f"a bot message with {needle!r}", deadline_s)
        except AssertionError:
            got = [text_of(e)[:80] for e in self.since(mark, room_id)]
            raise AssertionError(f"no bot message with {needle!r}; got {got}") from None
        return self.since(mark, room_id)

    async def say(self, room_id: str, body: str, expect: str, deadline_s: float = PATIENCE) -> list[Any]:
        mark = self.mark()
        await self.send(room_id, body)
        return await self.wait_for(room_id, expect, mark, deadline_s)

    async def quiet(self, seconds: float) -> list[Any]:
        """Keep syncing for ``seconds``; return what the bot sent meanwhile."""
        mark = self.mark()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await sync_round(self.client, timeout_ms=200)
        return self.since(mark)


# -- the bot as a subprocess ------------------------------------------------------------------


def teamspiegel_command() -> list[str]:
    script = Path(sys.executable).parent / "teamspiegel"
    if script.exists():
        return [str(script)]
    found = shutil.which("teamspiegel")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "MATRIX_", "TEAMSPIEGEL_"))}
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(values)
    return env


def cli(env: dict[str, str], *args: str, cwd: Path) -> str:
    proc = subprocess.run([*teamspiegel_command(), *args], env=env, cwd=cwd, text=True,
                          capture_output=True, timeout=PATIENCE)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def create_team(env: dict[str, str], name: str, cwd: Path) -> str:
    """``teamspiegel team create NAME``; returns the invite code."""
    return create_team_with_owner(env, name, cwd)[0]


def create_team_with_owner(env: dict[str, str], name: str, cwd: Path) -> tuple[str, str]:
    """``teamspiegel team create NAME``; returns (member invite code, owner invite code)."""
    out = cli(env, "team", "create", name, cwd=cwd)
    codes = {}
    for line in out.splitlines():
        for label in ("Uitnodigingscode:", "Eigenaarscode:"):
            if line.startswith(label):
                codes[label] = line.split(":", 1)[1].strip()
    if len(codes) != 2:
        raise AssertionError(f"no invite and owner codes in {out!r}")
    return codes["Uitnodigingscode:"], codes["Eigenaarscode:"]


class BotProcess:
    """``teamspiegel run`` in a subprocess; its log goes to a file."""

    READY = "Matrix-bot"

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    async def start(self, deadline_s: float = PATIENCE) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        offset = len(self.log())
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [*teamspiegel_command(), "run"], env=self.env, cwd=self.workdir,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        end = time.monotonic() + deadline_s
        while True:
            text = self.log()[offset:]
            if self.READY in text and "gestart" in text and "Teamspiegel draait" in text:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{text[-4000:]}")
            if time.monotonic() > end:
                self.kill()
                raise AssertionError(f"the bot did not start in {deadline_s} s:\n{text[-4000:]}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=PATIENCE)

    def terminate(self, timeout: float = PATIENCE) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the bot did not stop on SIGTERM") from None
