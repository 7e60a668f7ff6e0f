"""Settings from environment variables and an optional ``.env`` file.

Secrets (bot tokens, passwords, the Matrix recovery key) are read here and never logged:
``Settings.__repr__`` masks them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

SECRET_FIELDS = {
    "telegram_token",
    "telegram_webhook_secret",
    "matrix_password",
    "matrix_access_token",
    "matrix_recovery_key",
    "secret_key",
}


#: how long answers, tip reactions and the audit log are kept (years), unless configured
DEFAULT_RETENTION_YEARS = 3.0


class SettingsError(ValueError):
    """A setting in the environment (or ``.env``) has a value we cannot use (Dutch message)."""


class StartupError(RuntimeError):
    """A transport could not start (a rejected token, a failed login). The message is one
    Dutch line for the operator, with no secret in it; the cause is not chained, so no
    traceback can show a token."""


def retention_years_from(raw: str | None) -> float:
    """``TEAMSPIEGEL_RETENTION_YEARS``: a positive number of years (``3``, ``1.5``, ``1,5``)."""
    if raw is None:
        return DEFAULT_RETENTION_YEARS
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        value = 0.0
    if not value > 0 or value > 100:
        raise SettingsError(
            f"TEAMSPIEGEL_RETENTION_YEARS moet een aantal jaren zijn, bijvoorbeeld 3 (nu: {raw!r})."
        )
    return value


def flag_from(name: str, raw: str | None, default: bool) -> bool:
    """An on/off setting: 1/0, ja/nee, aan/uit, true/false, yes/no, on/off."""
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "ja", "aan", "true", "yes", "on"):
        return True
    if value in ("0", "nee", "uit", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} moet 1 (aan) of 0 (uit) zijn (nu: {raw!r}).")


def number_from(name: str, raw: str | None, default: float, *, whole: bool = False,
                minimum: float = 0.0) -> float:
    """A number setting (``TEAMSPIEGEL_TICK_SECONDS=30``, ``1,5`` too); a clear Dutch line
    instead of Python's ``ValueError`` when it is not one."""
    if raw is None:
        return default
    value: float | None
    try:
        value = float(raw.replace(",", ".")) if not whole else int(raw)
    except ValueError:
        value = None
    if value is None or value != value or value < minimum or value == float("inf"):
        kind = "een heel getal" if whole else "een getal"
        raise SettingsError(f"{name} moet {kind} zijn van minstens {minimum:g} (nu: {raw!r}).")
    return value


def url_from(name: str, raw: str | None, example: str) -> str | None:
    """A server address: it must start with ``https://`` (or ``http://`` for a server on this
    machine or in a test), else the chat library fails later with a traceback."""
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise SettingsError(
            f"{name} moet een volledig adres zijn dat met https:// begint, bijvoorbeeld "
            f"{example} (nu: {raw!r}).")
    return raw


def default_db_path() -> Path:
    """``$TEAMSPIEGEL_DB``, else ``$XDG_DATA_HOME/teamspiegel/teamspiegel.db``
    (``~/.local/share/teamspiegel/teamspiegel.db``)."""
    env = os.environ.get("TEAMSPIEGEL_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "teamspiegel" / "teamspiegel.db"


@dataclass
class Settings:
    db_path: Path = field(default_factory=default_db_path)
    telegram_token: str | None = None
    telegram_base_url: str | None = None
    telegram_bot_username: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_listen: str = "127.0.0.1"
    telegram_port: int = 8443
    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_password: str | None = None
    matrix_access_token: str | None = None
    matrix_store: Path = field(default_factory=lambda: default_db_path().parent / "matrix")
    matrix_recovery_key: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    #: the dashboard's public address, used in login links
    web_url: str | None = None
    secret_key: str | None = None
    #: anonymity threshold for aggregates (never below 3)
    min_group: int = 3
    tick_seconds: float = 30.0
    #: a message that may or may not have arrived (no idempotency key, e.g. Telegram):
    #: "resend" (default) or "hold" for an operator; see bot.channel.UncertainPolicy
    uncertain_policy: str = "resend"
    #: seconds a Telegram request may take before it counts as timed out (PTB's default: 5)
    telegram_timeout: float | None = None
    rate_global_per_second: float = 30.0
    rate_chat_per_second: float = 1.0
    rate_group_per_minute: float = 20.0
    #: answers, tip reactions and audit log entries older than this many years are deleted
    retention_years: float = DEFAULT_RETENTION_YEARS
    #: who is responsible for the data (AVG), shown in the consent text
    controller: str | None = None
    #: people may make a team in the chat (/nieuwteam); off: only the operator's CLI makes teams
    open_teams: bool = True

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token)

    @property
    def matrix_enabled(self) -> bool:
        return bool(
            self.matrix_homeserver
            and self.matrix_user_id
            and (self.matrix_password or self.matrix_access_token)
        )

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def secrets(self) -> list[str]:
        """The secret values, for log redaction."""
        return [v for name in SECRET_FIELDS if (v := getattr(self, name)) and len(str(v)) >= 6]

    @classmethod
    def from_env(cls, env_file: str | Path | None = ".env") -> Settings:
        env: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        env.update(os.environ)

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        s = cls()
        if get("TEAMSPIEGEL_DB"):
            s.db_path = Path(str(get("TEAMSPIEGEL_DB"))).expanduser()
        s.telegram_token = get("TELEGRAM_BOT_TOKEN")
        s.telegram_base_url = url_from("TELEGRAM_BASE_URL", get("TELEGRAM_BASE_URL"),
                                       "http://127.0.0.1:8081/bot")
        s.telegram_bot_username = get("TELEGRAM_BOT_USERNAME")
        s.telegram_webhook_url = url_from("TELEGRAM_WEBHOOK_URL", get("TELEGRAM_WEBHOOK_URL"),
                                          "https://bot.example.org/telegram")
        s.telegram_webhook_secret = get("TELEGRAM_WEBHOOK_SECRET")
        s.telegram_listen = get("TELEGRAM_WEBHOOK_LISTEN") or s.telegram_listen
        s.telegram_port = int(number_from("TELEGRAM_WEBHOOK_PORT", get("TELEGRAM_WEBHOOK_PORT"),
                                          s.telegram_port, whole=True))
        s.matrix_homeserver = url_from("MATRIX_HOMESERVER", get("MATRIX_HOMESERVER"),
                                       "https://matrix.example.org")
        s.matrix_user_id = get("MATRIX_USER_ID")
        s.matrix_password = get("MATRIX_PASSWORD")
        s.matrix_access_token = get("MATRIX_ACCESS_TOKEN")
        s.matrix_store = Path(get("MATRIX_STORE") or s.db_path.parent / "matrix").expanduser()
        s.matrix_recovery_key = get("MATRIX_RECOVERY_KEY")
        s.web_host = get("TEAMSPIEGEL_WEB_HOST") or s.web_host
        s.web_port = int(number_from("TEAMSPIEGEL_WEB_PORT", get("TEAMSPIEGEL_WEB_PORT"),
                                     s.web_port, whole=True))
        s.web_url = url_from("TEAMSPIEGEL_WEB_URL", get("TEAMSPIEGEL_WEB_URL"),
                             "https://teamspiegel.example.org")
        s.secret_key = get("TEAMSPIEGEL_SECRET")
        s.min_group = max(3, int(number_from("TEAMSPIEGEL_MIN_GROUP",
                                             get("TEAMSPIEGEL_MIN_GROUP"), 3, whole=True)))
        s.tick_seconds = number_from("TEAMSPIEGEL_TICK_SECONDS", get("TEAMSPIEGEL_TICK_SECONDS"),
                                     s.tick_seconds, minimum=0.01)
        from bot.channel import UncertainPolicy

        try:
            s.uncertain_policy = UncertainPolicy.parse(get("TEAMSPIEGEL_UNCERTAIN")).value
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        timeout = number_from("TELEGRAM_REQUEST_TIMEOUT", get("TELEGRAM_REQUEST_TIMEOUT"), 0,
                              minimum=0.01) if get("TELEGRAM_REQUEST_TIMEOUT") else None
        s.telegram_timeout = timeout
        s.rate_global_per_second = number_from(
            "TEAMSPIEGEL_RATE_GLOBAL", get("TEAMSPIEGEL_RATE_GLOBAL"), 30, minimum=0.01)
        s.rate_chat_per_second = number_from(
            "TEAMSPIEGEL_RATE_CHAT", get("TEAMSPIEGEL_RATE_CHAT"), 1, minimum=0.01)
        s.rate_group_per_minute = number_from(
            "TEAMSPIEGEL_RATE_GROUP_MINUTE", get("TEAMSPIEGEL_RATE_GROUP_MINUTE"), 20,
            minimum=0.01)
        s.retention_years = retention_years_from(get("TEAMSPIEGEL_RETENTION_YEARS"))
        s.controller = get("TEAMSPIEGEL_CONTROLLER")
        s.open_teams = flag_from("TEAMSPIEGEL_OPEN_TEAMS", get("TEAMSPIEGEL_OPEN_TEAMS"), True)
        return s
