"""Run a throw-away Synapse homeserver on 127.0.0.1 for end-to-end tests.

This is a plain helper (not a conftest): ``tests/conftest_matrix.py`` wraps it in
pytest fixtures, but it can also be used from a script::

    with SynapseServer() as hs:
        user_id = hs.register_user("alice", "secret")
        ...

Design notes
------------
* Everything lives in one temporary directory: config, signing key, SQLite
  database, media store, log file.  ``stop()`` removes it (unless ``keep_dir``).
* No federation, no key servers, no registration, no metrics, no stats.
  Users are created through the admin shared-secret registration API
  (``/_synapse/admin/v1/register``, nonce + HMAC-SHA1).
* All rate limits are raised very high so tests never hit 429.
* The signing key is written by this module (same format as
  ``generate_signing_key``) so no extra ``--generate-keys`` process is needed.
* Failures are loud: if Synapse exits or does not answer in time, a
  ``RuntimeError`` with the tail of its log is raised; nothing is ever skipped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

_HIGH = {"per_second": 1000, "burst_count": 10000}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


class SynapseError(RuntimeError):
    """Synapse failed to start or an admin call failed."""


class SynapseServer:
    """A Synapse homeserver in a subprocess, listening on 127.0.0.1.

    Attributes after ``start()``:
      ``base_url``     e.g. ``"http://127.0.0.1:38211"``
      ``server_name``  ``"localhost"``
      ``port``, ``workdir``, ``config_path``, ``log_path``
      ``startup_seconds`` how long start() took until /versions answered.
    """

    def __init__(
        self,
        workdir: str | Path | None = None,
        port: int | None = None,
        server_name: str = "localhost",
        startup_timeout: float = 60.0,
        keep_dir: bool = False,
        extra_config: dict[str, Any] | None = None,
    ):
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="synapse-test-"))
        self.port = port or _free_port()
        self.server_name = server_name
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.keep_dir = keep_dir
        self.extra_config = extra_config or {}
        self.registration_shared_secret = secrets.token_hex(32)
        self.config_path = self.workdir / "homeserver.yaml"
        self.log_path = self.workdir / "homeserver.log"
        self.stdout_path = self.workdir / "stdout.log"
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout_file: Any = None

    # ------------------------------------------------------------------ config
    def _write_config(self) -> None:
        d = self.workdir
        (d / "media_store").mkdir(parents=True, exist_ok=True)
        signing_key_path = d / "signing.key"
        if not signing_key_path.exists():
            # Same format as synapse's generate_signing_key / signedjson:
            # "<alg> <version> <unpadded-b64 32-byte seed>"
            signing_key_path.write_text(f"ed25519 a_test {_unpadded_b64(os.urandom(32))}\n")
        log_config_path = d / "log_config.yaml"
        log_config = {
            "version": 1,
            "formatters": {
                "precise": {
                    "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                    "%(request)s - %(message)s"
                }
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        log_config_path.write_text(yaml.safe_dump(log_config))

        rc_names = [
            "rc_message",
            "rc_registration",
            "rc_registration_token_validity",
            "rc_admin_redaction",
            "rc_joins_per_room",
            "rc_key_requests",
            "rc_3pid_validation",
            "rc_third_party_invite",
            "rc_media_create",
            "rc_delayed_event_mgmt",
            "rc_room_creation",
            "rc_reports",
            "rc_user_directory",
            "rc_profile",
        ]
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "pid_file": str(d / "homeserver.pid"),
            "public_baseurl": self.base_url + "/",
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(d / "homeserver.db")},
            },
            "log_config": str(log_config_path),
            "media_store_path": str(d / "media_store"),
            "signing_key_path": str(signing_key_path),
            "report_stats": False,
            "enable_metrics": False,
            "enable_registration": False,
            # Cheap password hashing: registration and login are much faster.
            "bcrypt_rounds": 4,
            "registration_shared_secret": self.registration_shared_secret,
            "macaroon_secret_key": secrets.token_hex(32),
            "form_secret": secrets.token_hex(32),
            "federation_domain_whitelist": [],
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "url_preview_enabled": False,
            "presence": {"enabled": False},
            "user_directory": {"enabled": False},
            "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
            "rc_joins": {"local": _HIGH, "remote": _HIGH},
            "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
            "rc_presence": {"per_user": _HIGH},
            **{name: dict(_HIGH) for name in rc_names},
        }
        config.update(self.extra_config)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    # --------------------------------------------------------------- lifecycle
    def start(self) -> SynapseServer:
        if self._proc is not None:
            raise SynapseError("Synapse already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        t0 = time.monotonic()
        self._stdout_file = open(self.stdout_path, "wb")  # noqa: SIM115
        env = dict(os.environ)
        env.pop("SYNAPSE_CACHE_FACTOR", None)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.workdir,
            stdout=self._stdout_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        deadline = t0 + self.startup_timeout
        url = self.base_url + "/_matrix/client/versions"
        while True:
            rc = self._proc.poll()
            if rc is not None:
                tail = self.log_tail()
                self._cleanup_after_stop()
                raise SynapseError(f"Synapse exited with code {rc} during start-up.\n{tail}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise SynapseError(
                    f"Synapse did not answer {url} within {self.startup_timeout:.0f} s.\n{tail}"
                )
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        self._cleanup_after_stop()

    def _cleanup_after_stop(self) -> None:
        self._proc = None
        if self._stdout_file is not None:
            self._stdout_file.close()
            self._stdout_file = None
        if self._own_dir and not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> SynapseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 50) -> str:
        parts = []
        for path in (self.stdout_path, self.log_path):
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            if text:
                parts.append(f"--- last {lines} lines of {path.name} ---")
                parts.extend(text[-lines:])
        return "\n".join(parts) if parts else "(no Synapse output)"

    # -------------------------------------------------------------------- HTTP
    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        access_token: str | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, Any]]:
        """Tiny synchronous JSON HTTP helper. Returns (status, json_body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if access_token:
            req.add_header("Authorization", f"Bearer {access_token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw.decode(errors="replace")}
        return status, parsed

    def register_user(self, localpart: str, password: str, admin: bool = False) -> str:
        """Create a user through the shared-secret admin API; return the user id."""
        status, body = self.request("GET", "/_synapse/admin/v1/register")
        if status != 200:
            raise SynapseError(f"register nonce failed: {status} {body}")
        nonce = body["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(nonce.encode())
        mac.update(b"\x00")
        mac.update(localpart.encode())
        mac.update(b"\x00")
        mac.update(password.encode())
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        status, body = self.request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
                # Do not create a device/access token for the new user: tests
                # count devices, and every login creates its own anyway.
                "inhibit_login": True,
            },
        )
        if status != 200:
            raise SynapseError(f"register {localpart} failed: {status} {body}")
        return body["user_id"]

    def login(self, user: str, password: str, device_id: str | None = None) -> dict[str, Any]:
        """Password login; returns the login response (user_id, access_token, device_id)."""
        payload: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        }
        if device_id:
            payload["device_id"] = device_id
        status, body = self.request("POST", "/_matrix/client/v3/login", payload)
        if status != 200:
            raise SynapseError(f"login {user} failed: {status} {body}")
        return body


if __name__ == "__main__":  # manual smoke test: python tests/matrix_server.py
    with SynapseServer() as hs:
        print(f"Synapse up at {hs.base_url} in {hs.startup_seconds:.2f} s")
        print(hs.register_user("smoke", "smoke-pass"))
