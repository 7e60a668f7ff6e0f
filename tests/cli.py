"""The command line in process: ``bot.cli.main(argv)`` with its own environment, working
folder, stdin and captured output, answered like ``subprocess.run`` would.

A subprocess adds a Python start-up (about a second on a busy machine) and tells nothing more
for commands that print and exit, so CLI tests call ``main()`` here. What only a real process
shows stays a subprocess test: signals, exit by the interpreter, ``teamspiegel run``.

An exception that escapes ``main()`` is not turned into an exit code: it fails the test with
its traceback (a subprocess would print it and exit 1, and the test would have to look).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.cli import main
from bot.content import get_content

#: settings that select other content or dialogues: cached per process, so reloaded around
_RELOADS = ("TEAMSPIEGEL_CONTENT", "TEAMSPIEGEL_DIALOGUES")


@contextlib.contextmanager
def _environment(env: dict[str, str], cwd: Path | None) -> Iterator[None]:
    saved, folder = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(folder)


def clean_env(db: Path | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any Teamspiegel, Telegram or Matrix setting."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEAMSPIEGEL_", "TELEGRAM_", "MATRIX_"))}
    if db is not None:
        env["TEAMSPIEGEL_DB"] = str(db)
    env.update(extra)
    return env


def run_cli(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``teamspiegel ARGV`` in process. ``env``: the whole environment (default: this one
    without Teamspiegel settings); ``cwd``: where a ``.env`` would be read."""
    env = clean_env() if env is None else env
    reload = any(name in env for name in _RELOADS)
    out, err = io.StringIO(), io.StringIO()
    with (_environment(env, cwd), contextlib.redirect_stdout(out),
          contextlib.redirect_stderr(err)):
        old_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
        if reload:
            get_content.cache_clear()
        try:
            code: object = main(list(argv))
        except SystemExit as exc:  # argparse, and `raise SystemExit("Dutch line")`
            code = exc.code
            if isinstance(code, str):
                print(code, file=sys.stderr)
                code = 1
        finally:
            sys.stdin = old_stdin
            if reload:
                get_content.cache_clear()
    returncode = 0 if code is None else int(code)  # type: ignore[call-overload]
    return subprocess.CompletedProcess(["teamspiegel", *argv], returncode, out.getvalue(),
                                       err.getvalue())
