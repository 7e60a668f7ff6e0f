"""End-to-end tests of bot.transports.matrix_crypto against a real Synapse.

Covers: encrypted DM between a member (plain nio client) and the bot
(login_persistent), restart with the same device and crypto store,
cross-signing with real Ed25519 verification (independent implementation:
signedjson/PyNaCl), and how an undecryptable event reaches the bot.
"""

from __future__ import annotations

from pathlib import Path

import nio
import pytest
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

from bot.transports.matrix_crypto import (
    CREDENTIALS_FILE,
    CrossSigningError,
    derive_cross_signing_keys,
    ensure_cross_signing,
    login_persistent,
)
from tests.matrix_helpers import client_config, sync_round, sync_until

pytestmark = pytest.mark.slow

ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
RECOVERY_KEY = "test-recovery-key-0123456789abcdef"


class Inbox:
    """Collects room events (decrypted or not) from other senders."""

    def __init__(self, client: nio.AsyncClient):
        self.client = client
        self.events: list[nio.Event] = []
        client.add_event_callback(self._on_event, (nio.RoomMessageText, nio.MegolmEvent))

    async def _on_event(self, room: nio.MatrixRoom, event: nio.Event) -> None:
        if event.sender != self.client.user_id:
            self.events.append(event)

    def close(self) -> None:
        self.client.event_callbacks = [
            cb for cb in self.client.event_callbacks if cb.func != self._on_event
        ]

    async def next(self, deadline_s: float = 20) -> nio.Event:
        start = len(self.events)
        await sync_until(self.client, lambda: len(self.events) > start, "a message", deadline_s)
        return self.events[start]


async def new_member(synapse, user, store_dir: Path) -> nio.AsyncClient:
    store_dir.mkdir(parents=True, exist_ok=True)
    client = nio.AsyncClient(
        synapse.base_url, user.user_id, store_path=str(store_dir), config=client_config()
    )
    resp = await client.login(user.password, device_name="member-phone")
    assert isinstance(resp, nio.LoginResponse), resp
    if client.should_upload_keys:
        assert isinstance(await client.keys_upload(), nio.KeysUploadResponse)
    return client


async def open_encrypted_dm(member: nio.AsyncClient, bot: nio.AsyncClient) -> str:
    """Member creates an encrypted DM and invites the bot; the bot joins."""
    resp = await member.room_create(
        is_direct=True,
        invite=[bot.user_id],
        preset=nio.RoomPreset.trusted_private_chat,
        initial_state=[ENCRYPTION_STATE],
    )
    assert isinstance(resp, nio.RoomCreateResponse), resp
    room_id = resp.room_id

    await sync_until(bot, lambda: room_id in bot.invited_rooms, "the invite")
    assert isinstance(await bot.join(room_id), nio.JoinResponse)
    # The joined room only appears in bot.rooms after the next sync.
    await sync_until(bot, lambda: room_id in bot.rooms, "bot's joined room")
    assert bot.rooms[room_id].encrypted

    def bot_joined() -> bool:
        room = member.rooms.get(room_id)
        return bool(room and bot.user_id in room.users and bot.user_id not in room.invited_users)

    await sync_until(member, bot_joined, "the bot's join")
    return room_id


async def send_text(client: nio.AsyncClient, room_id: str, body: str) -> None:
    resp = await client.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": body},
        ignore_unverified_devices=True,
    )
    assert isinstance(resp, nio.RoomSendResponse), resp


async def list_devices(client: nio.AsyncClient) -> list[str]:
    resp = await client.devices()
    assert isinstance(resp, nio.DevicesResponse), resp
    return sorted(d.id for d in resp.devices)


@pytest.fixture
async def dm(synapse, matrix_users, tmp_path):
    """A bot (persistent device) and a member in an encrypted DM."""
    bot_user = matrix_users("bot")
    member_user = matrix_users("member")
    store_dir = tmp_path / "bot-store"
    clients: list[nio.AsyncClient] = []

    bot = await login_persistent(
        synapse.base_url,
        bot_user.user_id,
        store_dir,
        password=bot_user.password,
        config=client_config(),
    )
    clients.append(bot)
    member = await new_member(synapse, member_user, tmp_path / "member-store")
    clients.append(member)
    await sync_round(bot)
    await sync_round(member)
    room_id = await open_encrypted_dm(member, bot)

    state = {
        "bot": bot,
        "bot_user": bot_user,
        "member": member,
        "room_id": room_id,
        "store_dir": store_dir,
        "clients": clients,
    }
    try:
        yield state
    finally:
        for c in state["clients"]:
            await c.close()


async def exchange(member, bot, room_id, text):
    """Member sends ``text`` encrypted, bot must decrypt it and answer encrypted."""
    bot_inbox = Inbox(bot)
    member_inbox = Inbox(member)
    await send_text(member, room_id, text)
    got = await bot_inbox.next()
    assert isinstance(got, nio.RoomMessageText), f"bot could not decrypt: {got!r}"
    assert got.body == text
    assert got.decrypted, "event should have arrived encrypted"
    await send_text(bot, room_id, f"echo: {text}")
    answer = await member_inbox.next()
    assert isinstance(answer, nio.RoomMessageText), f"member could not decrypt: {answer!r}"
    assert answer.body == f"echo: {text}"
    assert answer.decrypted
    bot_inbox.close()
    member_inbox.close()
    return got


# --------------------------------------------------------------------------- (a)


async def test_encrypted_dm_roundtrip(dm, synapse):
    bot, member, room_id = dm["bot"], dm["member"], dm["room_id"]
    creds = (dm["store_dir"] / CREDENTIALS_FILE).stat()
    assert creds.st_mode & 0o777 == 0o600

    # The raw event on the server really is encrypted.
    got = await exchange(member, bot, room_id, "Hallo bot, hoe gaat het?")
    status, raw = synapse.request(
        "GET",
        f"/_matrix/client/v3/rooms/{room_id}/event/{got.event_id}",
        access_token=member.access_token,
    )
    assert status == 200 and raw["type"] == "m.room.encrypted", raw


# --------------------------------------------------------------------------- (b)


async def test_restart_keeps_device_and_keys(dm, synapse):
    bot, member, room_id, store_dir = dm["bot"], dm["member"], dm["room_id"], dm["store_dir"]
    bot_user = dm["bot_user"]
    await exchange(member, bot, room_id, "voor de herstart")
    device_id = bot.device_id
    sync_token = bot.next_batch
    assert await list_devices(bot) == [device_id]
    await bot.close()

    # Restart: the password is still configured, but must not be used for a new login.
    bot2 = await login_persistent(
        synapse.base_url,
        bot_user.user_id,
        store_dir,
        password=bot_user.password,
        config=client_config(),
    )
    dm["clients"].append(bot2)
    assert bot2.device_id == device_id
    assert await list_devices(bot2) == [device_id]
    assert bot2.loaded_sync_token == sync_token  # sync token restored from the store
    assert bot2.rooms == {}  # nio does not persist room state ...

    # ... so the first sync after a restart asks for full state; the timeline
    # still starts at the saved token, so old messages are not replayed.
    inbox = Inbox(bot2)
    await sync_round(bot2, full_state=True)
    assert room_id in bot2.rooms and bot2.rooms[room_id].encrypted
    assert inbox.events == [], "old messages must not be replayed after restart"
    inbox.close()

    await exchange(member, bot2, room_id, "na de herstart")

    # Restart with only the saved credentials (no password, no token) works too.
    await bot2.close()
    bot3 = await login_persistent(
        synapse.base_url, bot_user.user_id, store_dir, config=client_config()
    )
    dm["clients"].append(bot3)
    assert bot3.device_id == device_id
    assert await list_devices(bot3) == [device_id]


async def test_revoked_token_relogs_into_same_device(synapse, matrix_users, tmp_path):
    user = matrix_users("bot")
    store_dir = tmp_path / "store"
    bot = await login_persistent(
        synapse.base_url, user.user_id, store_dir, password=user.password, config=client_config()
    )
    device_id, token = bot.device_id, bot.access_token
    ed25519 = bot.olm.account.identity_keys["ed25519"]
    # Simulate an expired/revoked token (the device itself still exists).
    await bot.close()
    cred = store_dir / CREDENTIALS_FILE
    cred.write_text(cred.read_text().replace(token, "syt_invalid_token"))
    bot2 = await login_persistent(
        synapse.base_url, user.user_id, store_dir, password=user.password, config=client_config()
    )
    try:
        assert bot2.device_id == device_id
        assert bot2.access_token not in (token, "syt_invalid_token")
        assert bot2.olm.account.identity_keys["ed25519"] == ed25519
        assert await list_devices(bot2) == [device_id]
    finally:
        await bot2.close()

    # Someone deletes the device (this also revokes its token and its keys on
    # the server): the next start recreates the same device id and re-uploads
    # the identity keys from the local store.
    path = f"/_matrix/client/v3/devices/{device_id}"
    status, body = synapse.request("DELETE", path, {}, access_token=bot2.access_token)
    assert status == 401, body
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": user.password,
        "session": body["session"],
    }
    status, body = synapse.request("DELETE", path, {"auth": auth}, access_token=bot2.access_token)
    assert status == 200, body
    bot3 = await login_persistent(
        synapse.base_url, user.user_id, store_dir, password=user.password, config=client_config()
    )
    try:
        assert bot3.device_id == device_id
        status, body = synapse.request(
            "POST",
            "/_matrix/client/v3/keys/query",
            {"device_keys": {user.user_id: []}},
            access_token=bot3.access_token,
        )
        server_keys = body["device_keys"][user.user_id][device_id]["keys"]
        assert server_keys[f"ed25519:{device_id}"] == ed25519
        resp = await bot3.keys_upload() if bot3.should_upload_keys else None
        assert resp is None or isinstance(resp, nio.KeysUploadResponse)
    finally:
        await bot3.close()


async def test_first_login_with_access_token(synapse, matrix_users, tmp_path):
    user = matrix_users("bot")
    login = synapse.login(user.localpart, user.password)
    bot = await login_persistent(
        synapse.base_url,
        user.user_id,
        tmp_path / "store",
        access_token=login["access_token"],
        config=client_config(),
    )
    try:
        assert bot.device_id == login["device_id"]
        assert not bot.should_upload_keys
        status, body = synapse.request(
            "POST",
            "/_matrix/client/v3/keys/query",
            {"device_keys": {user.user_id: []}},
            access_token=login["access_token"],
        )
        assert bot.device_id in body["device_keys"][user.user_id]
    finally:
        await bot.close()


# --------------------------------------------------------------------------- (c)


def verify(obj: dict, user_id: str, public_key_b64: str, key_id: str | None = None) -> None:
    """Real Ed25519 check with signedjson/PyNaCl (independent of the bot's code).

    Cross-signing keys sign as ``ed25519:<public key>``, devices as
    ``ed25519:<device id>``.
    """
    key_id = key_id or f"ed25519:{public_key_b64}"
    verify_key = decode_verify_key_bytes(key_id, decode_base64(public_key_b64))
    verify_signed_json(obj, user_id, verify_key)


def only_key(key_obj: dict) -> str:
    (value,) = key_obj["keys"].values()
    return value


class SendSpy:
    """Records the paths of POSTs the client makes."""

    def __init__(self, client: nio.AsyncClient):
        self.paths: list[str] = []
        self._orig = client.send

        async def send(method, path, *args, **kwargs):
            if method == "POST":
                self.paths.append(path.split("?")[0])
            return await self._orig(method, path, *args, **kwargs)

        client.send = send

    def uploads(self) -> list[str]:
        return [p for p in self.paths if "device_signing" in p or "signatures/upload" in p]


async def member_view_of_bot(synapse, member: nio.AsyncClient, bot_user_id: str) -> dict:
    status, body = synapse.request(
        "POST",
        "/_matrix/client/v3/keys/query",
        {"device_keys": {bot_user_id: []}},
        access_token=member.access_token,
    )
    assert status == 200, body
    return body


async def test_cross_signing(dm, synapse):
    bot, member, bot_user = dm["bot"], dm["member"], dm["bot_user"]
    uid = bot.user_id

    await ensure_cross_signing(bot, RECOVERY_KEY, bot_user.password)

    keys = await member_view_of_bot(synapse, member, uid)
    master = keys["master_keys"][uid]
    ssk = keys["self_signing_keys"][uid]
    device = keys["device_keys"][uid][bot.device_id]
    master_pub, ssk_pub = only_key(master), only_key(ssk)
    derived = derive_cross_signing_keys(RECOVERY_KEY)
    assert master_pub == derived.master.public_key
    assert ssk_pub == derived.self_signing.public_key
    assert master["usage"] == ["master"] and ssk["usage"] == ["self_signing"]

    verify(ssk, uid, master_pub)  # self-signing key signed by master key
    verify(device, uid, ssk_pub)  # device key signed by self-signing key
    device_key_id = f"ed25519:{bot.device_id}"
    verify(device, uid, device["keys"][device_key_id], device_key_id)  # device self-signature
    # The bot's device also vouches for its master key.
    verify(master, uid, device["keys"][device_key_id], device_key_id)
    # A wrong key must not verify (the check is real).
    with pytest.raises(SignatureVerifyException):
        verify(device, uid, master_pub)

    # Idempotent, also without a password: nothing is uploaded.
    spy = SendSpy(bot)
    await ensure_cross_signing(bot, RECOVERY_KEY, None)
    assert spy.uploads() == []
    assert spy.paths == ["/_matrix/client/v3/keys/query"]

    # Replacing the keys needs User-Interactive Auth: without password a clear error ...
    other = "another-recovery-key-fedcba9876543210"
    with pytest.raises(CrossSigningError, match="interactive auth"):
        await ensure_cross_signing(bot, other, None)
    # ... with the password it goes through the 401 -> m.login.password flow.
    await ensure_cross_signing(bot, other, bot_user.password)
    keys = await member_view_of_bot(synapse, member, uid)
    new_master = only_key(keys["master_keys"][uid])
    new_ssk = only_key(keys["self_signing_keys"][uid])
    assert new_master == derive_cross_signing_keys(other).master.public_key
    verify(keys["self_signing_keys"][uid], uid, new_master)
    verify(keys["device_keys"][uid][bot.device_id], uid, new_ssk)
    # 401 without password (error raised), 401 -> retry with auth, then the signature.
    assert spy.uploads() == [
        "/_matrix/client/v3/keys/device_signing/upload",
        "/_matrix/client/v3/keys/device_signing/upload",
        "/_matrix/client/v3/keys/device_signing/upload",
        "/_matrix/client/v3/keys/signatures/upload",
    ]


async def test_cross_signing_survives_restart(dm, synapse):
    bot, bot_user, store_dir = dm["bot"], dm["bot_user"], dm["store_dir"]
    await ensure_cross_signing(bot, RECOVERY_KEY, bot_user.password)
    await bot.close()
    bot2 = await login_persistent(
        synapse.base_url, bot_user.user_id, store_dir, config=client_config()
    )
    dm["clients"].append(bot2)
    spy = SendSpy(bot2)
    await ensure_cross_signing(bot2, RECOVERY_KEY, None)
    assert spy.uploads() == []


# --------------------------------------------------------------------------- (d)


async def test_undecryptable_event_arrives_as_megolm_event(dm):
    bot, member, room_id = dm["bot"], dm["member"], dm["room_id"]
    await exchange(member, bot, room_id, "eerst normaal")

    # The member switches to a fresh Megolm session that it never shares with
    # the bot (as if the to-device key got lost): the bot cannot decrypt.
    member.olm.create_outbound_group_session(room_id)
    member.olm.outbound_group_sessions[room_id].shared = True
    inbox = Inbox(bot)
    await send_text(member, room_id, "geheim")
    got = await inbox.next()
    assert isinstance(got, nio.MegolmEvent), got
    assert got.sender == member.user_id
    assert got.session_id == member.olm.outbound_group_sessions[room_id].id
    with pytest.raises(nio.EncryptionError):
        bot.decrypt_event(got)

    # The transport can still answer in the room (encrypted) to explain.
    member_inbox = Inbox(member)
    await send_text(bot, room_id, "Sorry, dit bericht kon ik niet ontsleutelen.")
    answer = await member_inbox.next()
    assert isinstance(answer, nio.RoomMessageText)


def test_recovery_key_derivation_is_deterministic():
    a = derive_cross_signing_keys(RECOVERY_KEY)
    b = derive_cross_signing_keys(RECOVERY_KEY)
    c = derive_cross_signing_keys(RECOVERY_KEY + "x")
    assert a.master.public_key == b.master.public_key
    assert len({a.master.public_key, a.self_signing.public_key, a.user_signing.public_key}) == 3
    assert c.master.public_key != a.master.public_key
    with pytest.raises(CrossSigningError):
        derive_cross_signing_keys("short")
