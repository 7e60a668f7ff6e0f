"""Telegram updates per second: Teamspiegel (python-telegram-bot + engine + durable SQLite) next to
python-telegram-bot's own ConversationHandler running the same questionnaire in memory.

Both sides get pre-built ``Update`` objects for 2,000 users whose updates are interleaved (step 1
of every user, then step 2, ...), 10 updates per user: /start with an invite, consent, role,
"whole tour", then scale answers, "Verder", a typed explanation and "share". Both answer every
button press, edit the pressed message ("✅ Jouw keuze"), and send the same next messages. The
bot's HTTP layer is a stub (a ``BaseRequest`` that returns canned Bot API answers after encoding
the request like a real one), so only processing is measured.

Teamspiegel runs twice: one update at a time through ``Application.process_update`` (one
durable commit per update), and in batches of 100 as the polling loop does with one
``getUpdates`` answer (``TelegramTransport.process_updates``: one group commit per batch). Every
turn is committed with ``synchronous=FULL`` before its replies are sent.

    python bench/telegram.py [--users 2000] [--rounds 3] [--profile] [--write docs/...md]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# this file is called telegram.py: keep its own folder off the path, or it shadows the library
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import telegram  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData  # noqa: E402
from telegram.warnings import PTBUserWarning  # noqa: E402

from bot.content import get_content  # noqa: E402
from bot.engine.core import Engine  # noqa: E402
from bot.engine.flows import load_dialogues  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.transports.telegram import TelegramTransport  # noqa: E402

TOKEN = "123456:bench-token-abcdefghijklmnopqrstuvwxyz"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Teamspiegel",
            "username": "teamspiegel_bench_bot"}
STEPS = 10
BATCH = 100


class StubRequest(BaseRequest):
    """Answers every Bot API call at once, like Telegram would (no network)."""

    def __init__(self) -> None:
        self.calls = 0
        self._ids = itertools.count(10_000)

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None,
                         connect_timeout: Any = None, pool_timeout: Any = None,
                         ) -> tuple[int, bytes]:
        self.calls += 1
        api = url.rsplit("/", 1)[1]
        params = request_data.json_parameters if request_data else {}  # encode like HTTP does
        result: Any = True
        if api == "getMe":
            result = BOT_USER
        elif api.startswith(("send", "edit")):
            chat_id = int(params.get("chat_id", 0))
            result = {"message_id": next(self._ids), "date": 0,
                      "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER}
            if "text" in params:
                result["text"] = params["text"]
            if "reply_markup" in params:
                result["reply_markup"] = json.loads(params["reply_markup"])
        elif api == "getUpdates":
            result = []
        return 200, json.dumps({"ok": True, "result": result}).encode()


# -- the updates both sides receive -----------------------------------------------------------

# The texts both sides show: Teamspiegel's own (dialogues/texts.yaml, content/praatplaat.yaml).
DIALOGUES = load_dialogues()
PRAATPLAAT = get_content().praatplaat
T = DIALOGUES.text
WELCOME, ASK_ROLE, MENU = T("welcome"), T("ask_role"), T("menu")
ASK_EXPLAIN, ASK_SHARE = T("ask_explain"), T("ask_share")
TOUR = [q for theme in PRAATPLAAT.themes for q in theme.questions if q.for_role("professional")]


def question_text(i: int) -> str:
    q = TOUR[i]
    theme = PRAATPLAAT.theme_of(q.id)
    if q.kind == "scale" and q.anchors is not None:
        hint = T("scale_hint", low=q.anchors.low.lower(), high=q.anchors.high.lower())
    else:
        hint = T("text_hint")
    return "\n".join([T("question_progress", n=i + 1, total=len(TOUR), theme=theme.title), "",
                      q.ask, "", hint])


def theme_intro(i: int) -> str:
    theme = PRAATPLAAT.theme_of(TOUR[i].id)
    return f"Thema {theme.number}: {theme.title}\n\n{theme.intro}"


def _user(uid: int) -> dict:
    return {"id": uid, "is_bot": False, "first_name": f"U{uid}"}


def _message(uid: int, mid: int, text: str, *, command: bool = False) -> dict:
    msg = {"message_id": mid, "date": 0, "chat": {"id": uid, "type": "private"},
           "from": _user(uid), "text": text}
    if command:
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": text.find(" ")}]
    return msg


def _press(uid: int, mid: int, data: str, label: str, text: str) -> dict:
    """A button press on a bot message that shows ``text`` with the pressed button."""
    shown = {"message_id": mid, "date": 0, "chat": {"id": uid, "type": "private"},
             "from": BOT_USER, "text": text,
             "reply_markup": {"inline_keyboard": [[{"text": label, "callback_data": data}]]}}
    return {"id": f"{uid}-{mid}", "from": _user(uid), "chat_instance": str(uid),
            "message": shown, "data": data}


def script(uid: int, invite: str, ours: bool) -> list[dict]:
    """The 10 updates of one user; callback data as each bot renders it."""
    def data(token: int, value: str) -> str:
        return f"{token}|{value}" if ours else value

    steps = [
        {"message": _message(uid, 1, f"/start {invite}", command=True)},
        {"callback_query": _press(uid, 2, data(1, "ja"), "Ja, ik doe mee", WELCOME)},
        {"callback_query": _press(uid, 3, data(2, "professional"),
                                  "Professional (uitvoering)", ASK_ROLE)},
        {"callback_query": _press(uid, 5, data(3, "tour"), "Hele ronde (10 thema's)", MENU)},
        {"callback_query": _press(uid, 7, data(4, "4"), "4", question_text(0))},
        {"callback_query": _press(uid, 8, data(5, "verder"), "Verder", ASK_EXPLAIN)},
        {"callback_query": _press(uid, 9, data(6, "2"), "2", question_text(1))},
        {"message": _message(uid, 11, "We overleggen te weinig met beleid.")},
        {"callback_query": _press(uid, 12, data(8, "ja"), "Ja, anoniem delen", ASK_SHARE)},
        {"callback_query": _press(uid, 13, data(9, "5"), "5", question_text(2))},
    ]
    assert len(steps) == STEPS
    return steps


def build_updates(bot: telegram.Bot, users: int, invite: str, ours: bool) -> list[Update]:
    """All updates, interleaved: step 1 of every user, then step 2, ..."""
    scripts = [script(1_000_000 + u, invite, ours) for u in range(users)]
    updates = []
    update_id = itertools.count(1)
    for step in range(STEPS):
        for s in scripts:
            updates.append(Update.de_json({"update_id": next(update_id), **s[step]}, bot))
    return updates


# -- Teamspiegel ----------------------------------------------------------------------------------


async def run_teamspiegel(users: int, batch: int, workdir: Path, profile: bool = False
                          ) -> tuple[float, dict[str, Any]]:
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    store = Store(db, synchronous="FULL")
    engine = Engine(store)
    invite = store.create_invite(store.create_team("Benchteam"))
    stub = StubRequest()
    app = (Application.builder().token(TOKEN).request(stub).get_updates_request(StubRequest())
           .updater(None).build())
    transport = TelegramTransport(engine, SimpleNamespace(telegram_token=TOKEN),
                                  application=app)
    await app.initialize()
    transport._username = app.bot.username
    updates = build_updates(app.bot, users, invite, ours=True)
    engine_time = [0.0]
    handle, handle_many = engine.handle, engine.handle_many

    def timed_handle(incoming: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return handle(incoming)
        finally:
            engine_time[0] += time.perf_counter() - t0

    def timed_handle_many(incomings: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return handle_many(incomings)
        finally:
            engine_time[0] += time.perf_counter() - t0

    engine.handle, engine.handle_many = timed_handle, timed_handle_many
    profiler = cProfile.Profile() if profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if batch > 1:
        for i in range(0, len(updates), batch):
            await transport.process_updates(updates[i:i + batch])
    else:
        for update in updates:
            await app.process_update(update)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    answers = store.conn.execute("SELECT COUNT(*), SUM(text IS NOT NULL), SUM(share_text) "
                                 "FROM answers").fetchone()
    stale = store.conn.execute(
        "SELECT COUNT(*) FROM conversations WHERE state != 'reflect.explain'").fetchone()[0]
    info = {"api_calls": stub.calls, "engine_s": engine_time[0], "elapsed_s": elapsed,
            "cpu_s": cpu, "n": len(updates),
            "answers": answers[0], "texts": answers[1],
            "shared": answers[2], "not_at_expected_state": stale, "profiler": profiler}
    assert answers == (3 * users, users, users), f"turns went wrong: {answers}"
    assert stale == 0, f"{stale} conversations not where they should be"
    await app.shutdown()
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return len(updates) / elapsed, info


# -- the peer: ConversationHandler in memory ------------------------------------------------------

S_CONSENT, S_ROLE, S_MENU, S_ASK, S_EXPLAIN, S_SHARE, S_TEXT = range(7)


def _peer_application(stub: StubRequest | None, builder: Any = None,
                      persistent: bool = False) -> Application:
    """PTB's ConversationHandler running the questionnaire. ``builder``: an
    ``ApplicationBuilder`` to use instead of the stubbed one (bench/latency.py: real HTTP and
    ``PicklePersistence``; the conversation is then persistent)."""
    answers: dict[int, list[dict]] = {}

    def kb(*pairs: tuple[str, str], row: bool = False) -> InlineKeyboardMarkup:
        buttons = [InlineKeyboardButton(label, callback_data=value) for label, value in pairs]
        return InlineKeyboardMarkup([buttons] if row else [[b] for b in buttons])

    scale = kb(*[(str(n), str(n)) for n in range(1, 6)], row=True)

    async def chosen(update: Update) -> None:
        query = update.callback_query
        await query.answer()
        label = next(b.text for r in query.message.reply_markup.inline_keyboard for b in r
                     if b.callback_data == query.data)
        await query.message.edit_text(f"{query.message.text}\n\n✅ Jouw keuze: {label}")

    async def ask(update: Update, context: Any) -> int:
        n = context.user_data.get("i", 0)
        if n >= len(TOUR):
            await update.effective_chat.send_message(T("summary_title"))
            return ConversationHandler.END
        if n == 0 or PRAATPLAAT.theme_of(TOUR[n - 1].id) != PRAATPLAAT.theme_of(TOUR[n].id):
            await update.effective_chat.send_message(theme_intro(n))
        if TOUR[n].kind == "text":  # an open question: typed, no buttons
            await update.effective_chat.send_message(question_text(n))
            return S_TEXT
        await update.effective_chat.send_message(question_text(n), reply_markup=scale)
        return S_ASK

    async def start(update: Update, context: Any) -> int:
        context.user_data["invite"] = context.args[0] if context.args else None
        await update.effective_chat.send_message(
            WELCOME, reply_markup=kb(("Ja, ik doe mee", "ja"), ("Nee, liever niet", "nee")))
        return S_CONSENT

    async def consent(update: Update, context: Any) -> int:
        await chosen(update)
        await update.effective_chat.send_message(ASK_ROLE, reply_markup=kb(
            ("Professional (uitvoering)", "professional"), ("Teamleider of manager", "manager"),
            ("Beleidsmedewerker", "beleid"), ("Bestuurder (wethouder, raadslid)", "bestuurder")))
        return S_ROLE

    async def role(update: Update, context: Any) -> int:
        await chosen(update)
        context.user_data["role"] = update.callback_query.data
        await update.effective_chat.send_message(T("joined", team="Benchteam"))
        await update.effective_chat.send_message(MENU, reply_markup=kb(
            ("Hele ronde (10 thema's)", "tour"), ("Eén thema kiezen", "theme"),
            ("Mijn reflecties door de tijd", "mine")))
        return S_MENU

    async def menu(update: Update, context: Any) -> int:
        await chosen(update)
        context.user_data["i"] = 0
        return await ask(update, context)

    async def scale_answer(update: Update, context: Any) -> int:
        await chosen(update)
        uid = update.effective_user.id
        answers.setdefault(uid, []).append({"scale": int(update.callback_query.data)})
        msg = await update.effective_chat.send_message(
            ASK_EXPLAIN, reply_markup=kb(("Verder", "verder")))
        context.user_data["open"] = msg.message_id
        return S_EXPLAIN

    async def verder(update: Update, context: Any) -> int:
        await chosen(update)
        context.user_data["i"] += 1
        return await ask(update, context)

    async def explanation(update: Update, context: Any) -> int:
        answers[update.effective_user.id][-1]["text"] = update.message.text
        await context.bot.edit_message_reply_markup(update.effective_chat.id,
                                                    context.user_data.pop("open"))
        await update.effective_chat.send_message(
            ASK_SHARE, reply_markup=kb(("Ja, anoniem delen", "ja"), ("Nee, alleen voor mij", "nee")))
        return S_SHARE

    async def share(update: Update, context: Any) -> int:
        await chosen(update)
        answers[update.effective_user.id][-1]["share"] = update.callback_query.data == "ja"
        context.user_data["i"] += 1
        return await ask(update, context)

    async def open_answer(update: Update, context: Any) -> int:
        answers.setdefault(update.effective_user.id, []).append({"text": update.message.text})
        context.user_data["i"] += 1
        return await ask(update, context)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBUserWarning)  # per_message=False with callbacks
        conversation = ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={
                S_CONSENT: [CallbackQueryHandler(consent)],
                S_ROLE: [CallbackQueryHandler(role)],
                S_MENU: [CallbackQueryHandler(menu)],
                S_ASK: [CallbackQueryHandler(scale_answer)],
                S_EXPLAIN: [CallbackQueryHandler(verder),
                          MessageHandler(filters.TEXT & ~filters.COMMAND, explanation)],
                S_SHARE: [CallbackQueryHandler(share)],
                S_TEXT: [MessageHandler(filters.TEXT & ~filters.COMMAND, open_answer)],
            },
            fallbacks=[],
            name="tour", persistent=persistent,
        )
    if builder is None:
        assert stub is not None
        builder = (Application.builder().token(TOKEN).request(stub)
                   .get_updates_request(StubRequest()).updater(None))
    app = builder.build()
    app.add_handler(conversation)
    app.bot_data["answers"] = answers
    return app


async def run_peer(users: int) -> tuple[float, dict[str, Any]]:
    stub = StubRequest()
    app = _peer_application(stub)
    await app.initialize()
    updates = build_updates(app.bot, users, "invite", ours=False)
    start, cpu = time.perf_counter(), time.process_time()
    for update in updates:
        await app.process_update(update)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    answers = app.bot_data["answers"]
    stored = sum(len(a) for a in answers.values())
    assert stored == 3 * users, f"peer went wrong: {stored}"
    await app.shutdown()
    return len(updates) / elapsed, {"api_calls": stub.calls, "elapsed_s": elapsed, "cpu_s": cpu,
                                    "n": len(updates)}


# -- reporting ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, python-telegram-bot {telegram.__version__}, "
            f"SQLite {sqlite3.sqlite_version}")


def fsync_micros(workdir: Path) -> float:
    path = workdir / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(200):
            os.write(fd, b"x" * 64)
            os.fsync(fd)
        return (time.perf_counter() - start) / 200 * 1e6
    finally:
        os.close(fd)
        path.unlink()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="teamspiegel-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sides = ["peer", "batched"] + ([] if args.no_single else ["single"])
    rounds: list[dict[str, dict[str, Any]]] = []
    for r in range(args.rounds):  # alternate, so load from elsewhere hits every side alike
        row: dict[str, dict[str, Any]] = {}
        for side in sides:
            if side == "peer":
                _, row[side] = await run_peer(args.users)
            else:
                _, row[side] = await run_teamspiegel(args.users, BATCH if side == "batched"
                                                     else 1, workdir)
        for side in sides:  # same work on every side, or the comparison means nothing
            assert row[side]["api_calls"] == row["peer"]["api_calls"], (side, row)
        rounds.append(row)
        print(f"round {r + 1}: " + ", ".join(
            f"{side} {row[side]['n'] / row[side]['elapsed_s']:,.0f}/s "
            f"(cpu {row[side]['n'] / row[side]['cpu_s']:,.0f}/s)" for side in sides), flush=True)
    if args.profile:
        _, prof = await run_teamspiegel(args.users, BATCH, workdir, profile=True)
        pstats.Stats(prof["profiler"]).sort_stats("cumulative").print_stats(35)
        pstats.Stats(prof["profiler"]).sort_stats("tottime").print_stats(25)
    return {"rounds": rounds, "sides": sides, "fsync_us": fsync_micros(workdir),
            "users": args.users}


def report(res: dict[str, Any]) -> str:
    rounds, sides = res["rounds"], res["sides"]
    n = res["users"] * STEPS

    def rate(side: str, key: str = "elapsed_s") -> float:
        return statistics.median(r[side]["n"] / r[side][key] for r in rounds)

    def ratio(side: str, key: str = "elapsed_s") -> float:
        """Median of the per-round ratios (both sides measured back to back)."""
        return statistics.median(r["peer"][key] / r[side][key] for r in rounds)

    def us(side: str, key: str) -> float:
        return statistics.median(r[side][key] for r in rounds) / n * 1e6

    names = {
        "peer": "PTB `ConversationHandler`, state in memory (peer)",
        "batched": f"Teamspiegel, batches of {BATCH} = one `getUpdates` answer (group commit)",
        "single": "Teamspiegel, one update at a time (a durable commit per update)",
    }
    table = ["| Variant | Updates/s (wall) | Ratio | Updates/s (CPU) | Ratio (CPU) |",
             "|---|---:|---:|---:|---:|"]
    for side in sides:
        table.append(f"| {names[side]} | {rate(side):,.0f} | {ratio(side):.2f} | "
                     f"{rate(side, 'cpu_s'):,.0f} | {ratio(side, 'cpu_s'):.2f} |")
    met = ratio("batched") >= 0.8
    calls = rounds[0]
    lines = [
        "## Telegram: updates per second (bench/telegram.py)",
        "",
        f"Date: {datetime.now(UTC).date().isoformat()}. Machine: {machine()}. "
        f"fsync on the benchmark's disk: {res['fsync_us']:.0f} µs.",
        "",
        f"{res['users']:,} users, {STEPS} updates each ({n:,} pre-built `Update` objects, "
        "interleaved: step 1 of every user, then step 2, ...), fed to python-telegram-bot with "
        "the network stubbed (a `BaseRequest` that encodes the request and answers at once). "
        "Both sides answer every button press, edit the pressed message and send the same next "
        f"messages with the same texts ({calls['peer']['api_calls']:,} API calls for the peer, "
        f"{calls['batched']['api_calls']:,} for Teamspiegel). Ratios are medians of "
        f"per-round ratios over {len(rounds)} rounds that alternate the sides; "
        "CPU = process time, less sensitive to other load on the machine, but blind to fsync "
        "waits.",
        "",
        *table,
        "",
        "Per update (median): Teamspiegel's engine turn + SQLite commit took "
        f"{us('batched', 'engine_s'):.0f} µs batched"
        + (f" and {us('single', 'engine_s'):.0f} µs one at a time"
           if "single" in sides else "")
        + f"; python-telegram-bot + the transport around it "
        f"{us('batched', 'elapsed_s') - us('batched', 'engine_s'):.0f} µs; the whole peer "
        f"{us('peer', 'elapsed_s'):.0f} µs.",
        "",
        "Teamspiegel commits every turn with `synchronous=FULL` (WAL) before any reply is sent; "
        "the peer keeps its state in memory and loses it on a crash. Target: at least 0.8x of "
        f"the peer with every turn durable: **{'met' if met else 'not met'}** on this run "
        f"(batched path, which is what the polling loop does under load).",
        "",
        "Rounds (updates/s, wall): " + "; ".join(
            f"{side} " + ", ".join(f"{r[side]['n'] / r[side]['elapsed_s']:,.0f}" for r in rounds)
            for side in sides),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", help="where the SQLite files go (default: a temp dir)")
    parser.add_argument("--profile", action="store_true", help="cProfile the batched path")
    parser.add_argument("--no-single", action="store_true",
                        help="skip the slow one-commit-per-update variant")
    parser.add_argument("--write", help="write the Markdown section to this file")
    args = parser.parse_args()
    res = asyncio.run(main_async(args))
    text = report(res)
    print()
    print(text)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
