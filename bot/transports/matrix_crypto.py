"""Matrix end-to-end encryption plumbing for the Teamspiegel bot.

Two building blocks for the Matrix transport:

``login_persistent``
    Gives the bot ONE persistent Matrix device.  The first start logs in (or
    adopts an access token) and writes ``credentials.json`` next to the nio
    crypto store; every later start restores that login, so the device id,
    its identity keys, its Olm/Megolm sessions and the sync token survive
    restarts.  A new login per start would create a new, unverified device
    each time and lose every room key, so never do that.

``ensure_cross_signing``
    Makes the bot's own device "verified by its owner" for Matrix clients
    (Element shows a verified bot): it derives the bot's cross-signing keys
    from a secret *recovery key*, uploads them if the server has none or
    different ones, and signs the bot's device with the self-signing key.
    Idempotent: a second call with the same secret changes nothing.

Crypto backend: matrix-nio >= 0.26 with the ``[e2e]`` extra uses
``vodozemac`` (Rust, via its Python bindings) for Olm/Megolm; python-olm is
not needed.  Ed25519 signing for cross-signing uses ``pycryptodome``
(import name ``Crypto``), which matrix-nio itself depends on.

This module never imports synapse or other test-only packages.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nio
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Signature import eddsa

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials.json"

__all__ = [
    "CREDENTIALS_FILE",
    "CrossSigningError",
    "CrossSigningKeys",
    "MatrixLoginError",
    "canonical_json",
    "derive_cross_signing_keys",
    "ensure_cross_signing",
    "login_persistent",
    "sign_json",
    "unpadded_b64",
]


class MatrixLoginError(RuntimeError):
    """The bot could not log in or restore its Matrix device. ``status``: the homeserver's
    HTTP status when it answered (a 5xx or 429 passes; a 401/403 does not)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CrossSigningError(RuntimeError):
    """Cross-signing keys could not be checked, uploaded or applied."""


# --------------------------------------------------------------------------- helpers


def unpadded_b64(data: bytes) -> str:
    """Standard base64 without '=' padding, as the Matrix spec uses for keys."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Matrix canonical JSON of ``obj`` without ``signatures`` and ``unsigned``."""
    stripped = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    return json.dumps(stripped, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


class _Ed25519Key:
    """An Ed25519 signing key built from a 32-byte seed (pycryptodome)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("Ed25519 seed must be 32 bytes")
        self._key = eddsa.import_private_key(seed)
        self.public_key: str = unpadded_b64(self._key.public_key().export_key(format="raw"))

    @property
    def key_id(self) -> str:
        """Key id as used in ``keys`` and ``signatures``: ``ed25519:<public key>``."""
        return f"ed25519:{self.public_key}"

    def sign(self, message: bytes) -> str:
        return unpadded_b64(eddsa.new(self._key, "rfc8032").sign(message))


def sign_json(obj: dict[str, Any], user_id: str, key: _Ed25519Key) -> dict[str, Any]:
    """Return a copy of ``obj`` with ``key``'s signature added under ``user_id``."""
    signature = key.sign(canonical_json(obj))
    signed = dict(obj)
    signatures = {u: dict(s) for u, s in obj.get("signatures", {}).items()}
    signatures.setdefault(user_id, {})[key.key_id] = signature
    signed["signatures"] = signatures
    return signed


@dataclass(frozen=True)
class CrossSigningKeys:
    master: _Ed25519Key
    self_signing: _Ed25519Key
    user_signing: _Ed25519Key


_HKDF_SALT = b"teamspiegel/matrix-cross-signing/v1"


def derive_cross_signing_keys(recovery_key: str) -> CrossSigningKeys:
    """Derive the three cross-signing keys deterministically from ``recovery_key``.

    Each Ed25519 seed is HKDF-SHA256(recovery_key, salt, info=<usage>), so the
    same secret always yields the same public keys and the keys are
    independent of each other.
    """
    if not recovery_key or len(recovery_key) < 16:
        raise CrossSigningError("recovery key must be a secret of at least 16 characters")
    secret = recovery_key.encode("utf-8")

    def seed(info: bytes) -> bytes:
        return HKDF(secret, 32, _HKDF_SALT, SHA256, context=info)

    return CrossSigningKeys(
        master=_Ed25519Key(seed(b"master")),
        self_signing=_Ed25519Key(seed(b"self_signing")),
        user_signing=_Ed25519Key(seed(b"user_signing")),
    )


async def _api(
    client: nio.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    access_token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Raw JSON request through the client's aiohttp session."""
    token = access_token or client.access_token
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body) if body is not None else None
    resp = await client.send(method, path, data, headers)
    try:
        parsed = await resp.json(content_type=None)
    except (ValueError, json.JSONDecodeError):
        parsed = {}
    finally:
        resp.release()
    return resp.status, parsed if isinstance(parsed, dict) else {"value": parsed}


# ---------------------------------------------------------------- persistent login


def _load_credentials(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MatrixLoginError(f"cannot read {path}: {e}") from e
    if not all(isinstance(data.get(k), str) and data[k] for k in ("user_id", "device_id")):
        raise MatrixLoginError(f"{path} lacks user_id/device_id")
    return data


def _save_credentials(path: Path, data: dict[str, str]) -> None:
    """Write atomically with mode 0600 (the file holds an access token)."""
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


async def _whoami(client: nio.AsyncClient, token: str) -> tuple[int, dict[str, Any]]:
    return await _api(client, "GET", "/_matrix/client/v3/account/whoami", access_token=token)


async def _password_login(client: nio.AsyncClient, password: str, device_name: str) -> None:
    resp = await client.login(password=password, device_name=device_name)
    if not isinstance(resp, nio.LoginResponse):
        transport = getattr(resp, "transport_response", None)
        raise MatrixLoginError(f"password login for {client.user} failed: {resp}",
                               status=getattr(transport, "status", None))


async def _query_own_keys(client: nio.AsyncClient) -> dict[str, Any]:
    status, body = await _api(
        client,
        "POST",
        "/_matrix/client/v3/keys/query",
        {"device_keys": {client.user_id: []}},
    )
    if status != 200:
        raise CrossSigningError(f"keys/query failed: {status} {body}")
    return body


async def _ensure_device_keys_on_server(client: nio.AsyncClient) -> None:
    """Make sure the server holds exactly this store's device identity keys."""
    assert client.olm is not None
    body = await _query_own_keys(client)
    server_dev = body.get("device_keys", {}).get(client.user_id, {}).get(client.device_id)
    ours = client.olm.account.identity_keys
    if server_dev:
        keys = server_dev.get("keys", {})
        if keys.get(f"ed25519:{client.device_id}") != ours["ed25519"]:
            raise MatrixLoginError(
                f"device {client.device_id} has other identity keys on the server than in "
                "the local crypto store; the store does not belong to this device. Remove "
                "credentials.json and the store to start with a fresh device."
            )
    elif client.olm.account.shared:
        # The device was recreated server-side (e.g. after a re-login with the
        # same device id) and lost its keys: upload them again.
        log.warning("device keys of %s missing on the server, re-uploading", client.device_id)
        client.olm.account.shared = False


async def login_persistent(
    homeserver: str,
    user_id: str,
    store_dir: Path,
    password: str | None = None,
    access_token: str | None = None,
    device_name: str = "Teamspiegel",
    *,
    pickle_key: str = "DEFAULT_KEY",
    config: nio.AsyncClientConfig | None = None,
) -> nio.AsyncClient:
    """Return a logged-in, E2E-ready ``nio.AsyncClient`` that reuses one device.

    First start: logs in with ``password`` (or adopts ``access_token``, reading
    its device id from ``/account/whoami``) and saves ``{user_id, device_id,
    access_token, homeserver}`` to ``store_dir/credentials.json`` (mode 0600).
    The nio crypto store (SQLite, ``<user>_<device>.db``) lives in the same
    directory.  Later starts restore that login and store; if the saved token
    was revoked, it logs in again with ``password`` *using the same device id*
    (or adopts ``access_token`` if it belongs to that device).

    Keys: the Olm account is loaded, and device keys / one-time keys are
    uploaded when needed.  The sync token is stored in the crypto store
    (``store_sync_tokens=True``) and is available as ``client.loaded_sync_token``;
    ``client.sync()``/``sync_forever()`` continue from it automatically.

    ``pickle_key`` encrypts the Olm/Megolm keys inside the store; changing it
    later makes the store unreadable.  ``config`` may override nio settings
    (timeouts, retries); encryption and sync-token storage are always on.
    """
    store_dir = Path(store_dir)
    if password is None and access_token is None and not (store_dir / CREDENTIALS_FILE).exists():
        raise MatrixLoginError("need a password or an access token for the first login")
    store_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(store_dir, 0o700)
    cred_path = store_dir / CREDENTIALS_FILE

    cfg = dataclasses.replace(
        config or nio.AsyncClientConfig(),
        encryption_enabled=True,
        store_sync_tokens=True,
        pickle_key=pickle_key,
    )
    client = nio.AsyncClient(homeserver, user_id, store_path=str(store_dir), config=cfg)
    try:
        await _login_or_restore(client, user_id, cred_path, password, access_token, device_name)
        _save_credentials(
            cred_path,
            {
                "homeserver": homeserver,
                "user_id": client.user_id,
                "device_id": client.device_id,
                "access_token": client.access_token,
            },
        )
        if client.olm is None:
            raise MatrixLoginError(
                "nio did not load the crypto store (is matrix-nio[e2e] installed?)"
            )
        await _ensure_device_keys_on_server(client)
        if client.should_upload_keys:
            resp = await client.keys_upload()
            if not isinstance(resp, nio.KeysUploadResponse):
                raise MatrixLoginError(f"keys upload failed: {resp}")
    except BaseException:
        await client.close()
        raise
    return client


async def _login_or_restore(
    client: nio.AsyncClient,
    user_id: str,
    cred_path: Path,
    password: str | None,
    access_token: str | None,
    device_name: str,
) -> None:
    creds = _load_credentials(cred_path)
    if creds is not None:
        if creds["user_id"] != user_id:
            raise MatrixLoginError(
                f"{cred_path} belongs to {creds['user_id']}, not {user_id}; "
                "use another store directory"
            )
        device_id = creds["device_id"]
        saved_token = creds.get("access_token", "")
        status, body = await _whoami(client, saved_token) if saved_token else (401, {})
        if status == 200:
            if body.get("device_id") not in (None, device_id):
                raise MatrixLoginError(
                    f"saved token belongs to device {body.get('device_id')}, expected {device_id}"
                )
            client.restore_login(user_id, device_id, saved_token)
            log.info("restored Matrix login %s device %s", user_id, device_id)
            return
        if status != 401:
            raise MatrixLoginError(f"whoami failed: {status} {body}", status=status)
        # Saved token revoked or expired: get a new token for the SAME device.
        log.warning("saved Matrix token rejected (%s); logging in again", body.get("errcode"))
        if access_token and access_token != saved_token:
            status, body = await _whoami(client, access_token)
            if status == 200 and body.get("device_id") == device_id:
                client.restore_login(user_id, device_id, access_token)
                return
        if password is None:
            raise MatrixLoginError(
                f"saved access token for device {device_id} is no longer valid and no "
                "password (or valid access token of that device) is configured"
            )
        client.device_id = device_id
        await _password_login(client, password, device_name)
        if client.device_id != device_id:
            raise MatrixLoginError(f"server gave device {client.device_id}, wanted {device_id}")
        return

    # First start.
    if password is not None:
        await _password_login(client, password, device_name)
        if client.user_id != user_id:
            raise MatrixLoginError(f"logged in as {client.user_id}, expected {user_id}")
        log.info("new Matrix login %s device %s", client.user_id, client.device_id)
        return
    assert access_token is not None
    status, body = await _whoami(client, access_token)
    if status != 200:
        raise MatrixLoginError(f"access token rejected by whoami: {status} {body}",
                               status=status)
    if body.get("user_id") != user_id:
        raise MatrixLoginError(f"access token belongs to {body.get('user_id')}, not {user_id}")
    if not body.get("device_id"):
        raise MatrixLoginError("access token is not bound to a device; E2E needs a device")
    client.restore_login(user_id, body["device_id"], access_token)


# ------------------------------------------------------------------- cross-signing


def _only_key(key_obj: dict[str, Any] | None) -> str | None:
    if not key_obj:
        return None
    keys = list(key_obj.get("keys", {}).values())
    return keys[0] if len(keys) == 1 else None


async def _upload_with_uia(
    client: nio.AsyncClient, path: str, body: dict[str, Any], password: str | None
) -> None:
    """POST ``body`` to ``path``, doing User-Interactive Auth with the password."""
    status, resp = await _api(client, "POST", path, body)
    if status == 200:
        return
    if status != 401 or "flows" not in resp:
        raise CrossSigningError(f"{path} failed: {status} {resp}")
    flows = resp.get("flows", [])
    if not any(f.get("stages") == ["m.login.password"] for f in flows):
        raise CrossSigningError(
            f"server demands interactive auth for {path} without a password flow: {flows}"
        )
    if password is None:
        raise CrossSigningError(
            "the homeserver requires interactive authentication (the account password) "
            "to replace the bot's cross-signing keys, but only an access token is "
            "configured; set the bot password once, or reset the keys by hand"
        )
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": client.user_id},
        "password": password,
        "session": resp.get("session"),
    }
    status, resp = await _api(client, "POST", path, {**body, "auth": auth})
    if status != 200:
        raise CrossSigningError(f"{path} failed after password auth: {status} {resp}")


async def ensure_cross_signing(
    client: nio.AsyncClient, recovery_key: str, password: str | None
) -> None:
    """Make the bot's device cross-signed, deriving the keys from ``recovery_key``.

    The *recovery key* is a long random secret (e.g. 32+ random characters,
    kept in the bot's secret configuration, NOT in the repository or a
    database that others can read).  The bot's cross-signing master,
    self-signing and user-signing Ed25519 keys are derived from it with
    HKDF-SHA256, so nothing else has to be stored and the same identity
    survives a lost store or a new server install.  Anyone who knows it can
    impersonate the bot's verified identity (sign new devices as the bot),
    so it must be kept secret; changing it creates a new identity that
    users will have to verify again.

    Steps: query the server's cross-signing keys for the bot
    (``/keys/query``); if they are absent or differ from the derived ones,
    upload master + self-signing + user-signing keys
    (``/keys/device_signing/upload``; Synapse allows the first upload
    without interactive auth, a replacement needs the account ``password``
    via User-Interactive Auth — with only an access token a clear
    ``CrossSigningError`` is raised).  Then sign the bot's own device keys
    with the self-signing key (``/keys/signatures/upload``) unless that
    signature is already there.  Calling it again is a no-op.
    """
    if client.olm is None or not client.device_id or not client.user_id:
        raise CrossSigningError("client must be logged in with its crypto store loaded")
    user_id = client.user_id
    keys = derive_cross_signing_keys(recovery_key)

    body = await _query_own_keys(client)
    server_master = _only_key(body.get("master_keys", {}).get(user_id))
    server_ssk = _only_key(body.get("self_signing_keys", {}).get(user_id))
    server_usk = _only_key(body.get("user_signing_keys", {}).get(user_id))

    if (server_master, server_ssk, server_usk) != (
        keys.master.public_key,
        keys.self_signing.public_key,
        keys.user_signing.public_key,
    ):
        log.info("uploading cross-signing keys for %s (master %s)", user_id, keys.master.public_key)
        master = {
            "user_id": user_id,
            "usage": ["master"],
            "keys": {keys.master.key_id: keys.master.public_key},
        }
        # Let the bot's device vouch for the master key too (like Element does).
        device_sig = client.olm.account.sign(canonical_json(master).decode("utf-8"))
        master["signatures"] = {user_id: {f"ed25519:{client.device_id}": device_sig}}
        ssk = sign_json(
            {
                "user_id": user_id,
                "usage": ["self_signing"],
                "keys": {keys.self_signing.key_id: keys.self_signing.public_key},
            },
            user_id,
            keys.master,
        )
        usk = sign_json(
            {
                "user_id": user_id,
                "usage": ["user_signing"],
                "keys": {keys.user_signing.key_id: keys.user_signing.public_key},
            },
            user_id,
            keys.master,
        )
        await _upload_with_uia(
            client,
            "/_matrix/client/v3/keys/device_signing/upload",
            {"master_key": master, "self_signing_key": ssk, "user_signing_key": usk},
            password,
        )
        body = await _query_own_keys(client)

    device = body.get("device_keys", {}).get(user_id, {}).get(client.device_id)
    if not device:
        raise CrossSigningError(f"device {client.device_id} has no keys on the server")
    if keys.self_signing.key_id in device.get("signatures", {}).get(user_id, {}):
        return
    device = {k: v for k, v in device.items() if k != "unsigned"}
    signed = sign_json(device, user_id, keys.self_signing)
    status, resp = await _api(
        client,
        "POST",
        "/_matrix/client/v3/keys/signatures/upload",
        {user_id: {client.device_id: signed}},
    )
    if status != 200 or resp.get("failures"):
        raise CrossSigningError(f"signature upload failed: {status} {resp}")
    log.info("signed device %s with the self-signing key", client.device_id)


# --------------------------------------------------------------------------- erasure


def drop_room_keys(client: nio.AsyncClient, rooms: list[str]) -> int:
    """Forget the Megolm sessions of ``rooms``: the inbound sessions (in memory and in nio's
    crypto store, which deletes with ``secure_delete``), the bot's own outbound session and
    the room's "encrypted" mark. After this the bot cannot decrypt anything that was said
    there, not even from a copy of its store. Returns the number of inbound sessions dropped.
    """
    dropped = 0
    olm = client.olm
    wanted = set(rooms)
    if not wanted:
        return 0
    if olm is not None:
        entries = olm.inbound_group_store._entries  # nio has no public removal
        for room in wanted:
            for sessions in entries.pop(room, {}).values():
                dropped += len(sessions)
            olm.outbound_group_sessions.pop(room, None)
    client.encrypted_rooms.difference_update(wanted)
    store = client.store
    if store is not None:
        from nio.store.models import EncryptedRooms, ForwardedChains, MegolmInboundSessions

        models = [MegolmInboundSessions, ForwardedChains, EncryptedRooms]
        try:
            with store.database.bind_ctx(models):
                ids = [s.session_id for s in MegolmInboundSessions.select().where(
                    MegolmInboundSessions.room_id.in_(sorted(wanted)))]
                if ids:
                    ForwardedChains.delete().where(ForwardedChains.session.in_(ids)).execute()
                n = MegolmInboundSessions.delete().where(
                    MegolmInboundSessions.room_id.in_(sorted(wanted))).execute()
                EncryptedRooms.delete().where(
                    EncryptedRooms.room_id.in_(sorted(wanted))).execute()
            dropped = max(dropped, int(n))
        except Exception as exc:  # the rooms are left already: say so loudly, go on
            log.error("could not drop the room keys from the crypto store: %s",
                      type(exc).__name__)
    return dropped


def forget_user_devices(client: nio.AsyncClient, user_id: str) -> int:
    """Forget a person's devices once the bot shares no room with them any more: their device
    keys and trust state, the Olm sessions with their devices and the Megolm sessions their
    devices started (in memory and in nio's crypto store). Should they write again, their
    client sets up new sessions as with any new contact. Returns the devices forgotten."""
    olm = client.olm
    if olm is None:
        return 0
    devices = olm.device_store._entries.pop(user_id, {})  # nio has no public removal
    curve_keys = sorted({d.curve25519 for d in devices.values() if d.curve25519})
    for key in curve_keys:
        olm.session_store._entries.pop(key, None)
        for room_sessions in olm.inbound_group_store._entries.values():
            room_sessions.pop(key, None)
    olm.tracked_users.discard(user_id)
    olm.users_for_key_query.discard(user_id)
    store = client.store
    if store is None:
        return len(devices)
    # the plain-text trust files of nio's DefaultStore (verified / blacklisted / ignored)
    for name in ("trust_db", "blacklist_db", "ignore_db"):
        keystore = getattr(store, name, None)
        if keystore is None:
            continue
        try:
            keys = [key for key in keystore if key.user_id == user_id]
            if keys:
                keystore.remove_many(keys)
        except Exception as exc:
            log.error("could not forget the devices of an erased member (%s): %s", name,
                      type(exc).__name__)
    from nio.store.models import (
        DeviceKeys,
        DeviceTrustState,
        ForwardedChains,
        Keys,
        MegolmInboundSessions,
        OlmSessions,
    )

    models = [DeviceKeys, DeviceTrustState, Keys, OlmSessions, MegolmInboundSessions,
              ForwardedChains]
    try:
        with store.database.bind_ctx(models):
            ids = [d.id for d in DeviceKeys.select().where(DeviceKeys.user_id == user_id)]
            if ids:
                Keys.delete().where(Keys.device.in_(ids)).execute()
                if store.database.table_exists(DeviceTrustState._meta.table_name):
                    DeviceTrustState.delete().where(DeviceTrustState.device.in_(ids)).execute()
                DeviceKeys.delete().where(DeviceKeys.id.in_(ids)).execute()
            if curve_keys:
                OlmSessions.delete().where(OlmSessions.sender_key.in_(curve_keys)).execute()
                sessions = [s.session_id for s in MegolmInboundSessions.select().where(
                    MegolmInboundSessions.sender_key.in_(curve_keys))]
                if sessions:
                    ForwardedChains.delete().where(
                        ForwardedChains.session.in_(sessions)).execute()
                    MegolmInboundSessions.delete().where(
                        MegolmInboundSessions.session_id.in_(sessions)).execute()
    except Exception as exc:
        log.error("could not forget the devices of an erased member: %s: %s",
                  type(exc).__name__, exc)
    return len(devices)
