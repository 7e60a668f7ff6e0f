"""The manager dashboard: a small server-rendered web app (Starlette + Jinja2).

Managers log in with a one-time link from the chat (``/dashboard``) and read the same
privacy-safe aggregates as in the chat, per team and theme, over time.
"""

from bot.web.app import create_app, run_web
from bot.web.auth import create_login_link

__all__ = ["create_app", "create_login_link", "run_web"]
