#!/usr/bin/env python
"""Engine benchmark: durable turns/s against the raw SQLite floor and two chat frameworks.

One run, side by side, on this machine:

(a)  the raw SQLite floor: one INSERT + one UPSERT per transaction, WAL, ``synchronous=FULL``,
     stdlib ``sqlite3``, rows the size of the engine's (an answer row, a conversation row);
(b1) the engine (YAML flows on the shared ``transitions`` machine + the store), one durable
     commit per turn (``Engine.handle``), WAL, ``synchronous=FULL``;
(b2) the engine with group commit (``Engine.handle_many``): a batch of turns in one durable
     transaction, every turn in its own savepoint, replies returned only after the commit;
(c)  python-telegram-bot's ``ConversationHandler`` with a 10-state questionnaire, in memory,
     ``Application.process_update`` on pre-built ``Update`` objects, a stubbed bot, no
     persistence;
(d)  aiogram 3's FSM with ``MemoryStorage`` running the same questionnaire (second peer).

2,000 simulated users are onboarded first (consent, role, demo team, a theme or the whole tour)
outside the timed part. Then every timed round gives each user one turn, in a shuffled
(interleaved) order: each user answers whatever their last prompt asks (a scale "4", "Verder" or
a typed explanation, a typed answer to an open question, the share choice, and "menu"/a new
round when a run ends), so the measured turns are real reflection turns writing answers.

The engine's CPU cost per turn beyond the commit is measured by running the same turns with
``synchronous=OFF`` (no fsync; the commit still runs) and subtracting the raw floor measured
the same way; a second estimate uses process CPU time of the durable runs.

Run:  .venv/bin/python bench/engine.py            (full: 2,000 users, well under 2 minutes)
      .venv/bin/python bench/engine.py --quick    (500 users, a few seconds)
      .venv/bin/python bench/engine.py --profile  (adds a cProfile of the engine path)
      .venv/bin/python bench/engine.py --transcript out.txt   (behaviour dump, see below)

``--transcript`` runs a deterministic scripted session (odd inputs included: stale buttons,
commands, too-long text, media, replayed events) and writes every reply plus the database
content without timestamps; diff two transcripts to check that an optimisation changed nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import logging
import os
import platform
import pstats
import random
import re
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds other benchmarks (bench/telegram.py ...) that would shadow real packages
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.engine.core import Engine  # noqa: E402
from bot.engine.heap import settle_heap  # noqa: E402
from bot.engine.messages import Incoming, Reply  # noqa: E402
from bot.store import Store  # noqa: E402

PLATFORM = "telegram"
TEXT_ANSWER = "We hebben elke week een casusoverleg met de wijkcoach en dat werkt goed."
EXPLANATION = "Soms lastig door wisselende bezetting."
#: issue 15 (release 0.4): engine CPU beyond the commit and group-commit throughput
TARGET_CPU_US = 60.0
TARGET_GROUP_TPS = 20_000.0
#: issue 2 (still reported): durable turns/s near the raw floor, and against the in-memory peer
TARGET_FLOOR_RATIO = 1.2
TARGET_PEER_RATIO = 3.0


# -- simulated users ----------------------------------------------------------------------------


class Driver:
    """Simulated users: each answers whatever its last prompt asks for (a tiny policy)."""

    def __init__(self, n_users: int, seed: int = 7) -> None:
        self.users = [str(100_000 + i) for i in range(n_users)]
        self.index = {u: i for i, u in enumerate(self.users)}
        self.prompt: dict[str, Reply | None] = dict.fromkeys(self.users)
        self.update_id = 0
        self.message_id = 0
        self.rng = random.Random(seed)
        self.kinds: Counter[str] = Counter()
        self.errors = 0
        self.unknown = 0

    def clone(self) -> Driver:
        other = Driver.__new__(Driver)
        other.users = list(self.users)
        other.index = dict(self.index)
        other.prompt = dict(self.prompt)
        other.update_id, other.message_id = self.update_id, self.message_id
        other.rng = random.Random(self.rng.random())
        other.kinds, other.errors, other.unknown = Counter(), 0, 0
        return other

    def _event(self) -> str:
        self.update_id += 1
        return f"u{self.update_id}"

    def _press(self, user: str, value: str, prompt: Reply, kind: str) -> Incoming:
        self.kinds[kind] += 1
        return Incoming(PLATFORM, user, user, "choice", text=value, value=value,
                        event_id=self._event(), prompt_token=prompt.prompt_token)

    def _type(self, user: str, text: str, kind: str) -> Incoming:
        self.kinds[kind] += 1
        self.message_id += 1
        return Incoming(PLATFORM, user, user, "text", text=text, event_id=self._event(),
                        message_ref=str(self.message_id))

    def next_input(self, user: str) -> Incoming:
        i = self.index[user]
        p = self.prompt[user]
        if p is None:
            self.kinds["/start"] += 1
            return Incoming(PLATFORM, user, user, "command", text="/start", command="start",
                            event_id=self._event())
        if p.expects == "scale":
            return self._press(user, "4", p, "scale answer")
        if p.expects == "text":
            return self._type(user, TEXT_ANSWER, "typed answer")
        values = [c.value for c in p.choices]
        if "verder" in values:  # explain a scale answer? one in four users types something
            if self.rng.random() < 0.25:
                return self._type(user, EXPLANATION, "typed explanation")
            return self._press(user, "verder", p, "verder")
        if values == ["ja", "nee"]:  # consent, or sharing an explanation
            return self._press(user, "ja", p, "ja (consent/share)")
        if "professional" in values:
            return self._press(user, "manager" if i % 10 == 0 else "professional", p, "role")
        if "demo" in values:
            return self._press(user, "demo", p, "team")
        if "tour" in values:  # the menu: half start the tour, half one theme
            return self._press(user, "tour" if i % 2 == 0 else "theme", p, "menu")
        if "menu" in values and "edit" in values:  # summary of a finished run
            return self._press(user, "menu", p, "summary -> menu")
        if values:  # theme list
            return self._press(user, values[(i + self.update_id) % len(values)], p, "pick theme")
        self.kinds["/menu"] += 1
        return Incoming(PLATFORM, user, user, "command", text="/menu", command="menu",
                        event_id=self._event())

    def take(self, user: str, replies: list[Reply], error_text: str, unknown_text: str) -> None:
        for r in replies:
            if r.text == error_text:
                self.errors += 1
            elif r.text == unknown_text:
                self.unknown += 1
        prompts = [r for r in replies if r.is_prompt]
        if prompts:
            self.prompt[user] = prompts[-1]

    def round_inputs(self) -> list[Incoming]:
        """One turn for every user, in a fresh interleaved order."""
        order = list(self.users)
        self.rng.shuffle(order)
        return [self.next_input(u) for u in order]


def make_engine(path: Path, synchronous: str) -> Engine:
    return Engine(Store(path, synchronous=synchronous))


def feed(engine: Engine, driver: Driver, incs: Sequence[Incoming], results: list[list[Reply]]) -> None:
    err, unk = engine.dialogues.text("error"), engine.dialogues.text("unknown_input")
    for inc, replies in zip(incs, results, strict=True):
        driver.take(inc.user_id, replies, err, unk)


def run_single(engine: Engine, incs: Sequence[Incoming]) -> tuple[list[list[Reply]], float, float]:
    """Commit per turn; returns (replies, wall seconds, process CPU seconds)."""
    handle = engine.handle
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = [handle(inc) for inc in incs]
    t1, c1 = time.perf_counter(), time.process_time()
    return out, t1 - t0, c1 - c0


def run_group(
    engine: Engine, incs: Sequence[Incoming], batch: int
) -> tuple[list[list[Reply]], float, float]:
    handle_many = engine.handle_many
    gc.collect()
    out: list[list[Reply]] = []
    c0, t0 = time.process_time(), time.perf_counter()
    for k in range(0, len(incs), batch):
        out.extend(handle_many(incs[k:k + batch]))
    t1, c1 = time.perf_counter(), time.process_time()
    return out, t1 - t0, c1 - c0


def onboard(path: Path, n_users: int, seed: int) -> Driver:
    """Every user consents, picks a role, joins the demo team and starts a theme or the tour."""
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    engine = make_engine(path, "OFF")
    driver = Driver(n_users, seed)
    for _ in range(12):
        todo = [u for u in driver.users
                if driver.prompt[u] is None or driver.prompt[u].expects not in ("scale", "text")]
        if not todo:
            break
        driver.rng.shuffle(todo)
        incs = [driver.next_input(u) for u in todo]
        out, _, _ = run_group(engine, incs, 256)
        feed(engine, driver, incs, out)
    else:
        raise RuntimeError("onboarding did not reach the questions")
    if driver.errors:
        raise RuntimeError(f"{driver.errors} turns failed during onboarding")
    engine.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.store.close()
    return driver


@dataclass
class EngineRun:
    name: str
    turns: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    unknown: int = 0

    @property
    def tps(self) -> float:
        return self.turns / self.wall if self.wall else 0.0

    @property
    def us(self) -> float:
        return self.wall / self.turns * 1e6 if self.turns else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.turns * 1e6 if self.turns else 0.0


class EngineBench:
    """One copy of the onboarded database, one engine, a driver continuing from onboarding."""

    def __init__(self, template: Path, driver: Driver, path: Path, synchronous: str) -> None:
        shutil.copyfile(template, path)
        self.path = path
        self.engine = make_engine(path, synchronous)
        settle_heap()  # as the bot does once started (bot/app.py)
        self.driver = driver.clone()
        # warm-up (untimed): fills the engine's model cache and SQLite's page cache
        incs = self.driver.round_inputs()
        out, _, _ = run_group(self.engine, incs, 256)
        feed(self.engine, self.driver, incs, out)

    def rounds(self, run: EngineRun, n_rounds: int, batch: int | None) -> EngineRun:
        for _ in range(n_rounds):
            before = Counter(self.driver.kinds)
            incs = self.driver.round_inputs()
            if batch is None:
                out, wall, cpu = run_single(self.engine, incs)
            else:
                out, wall, cpu = run_group(self.engine, incs, batch)
            run.kinds.update(self.driver.kinds - before)
            e0, u0 = self.driver.errors, self.driver.unknown
            feed(self.engine, self.driver, incs, out)
            run.errors += self.driver.errors - e0
            run.unknown += self.driver.unknown - u0
            run.turns += len(incs)
            run.wall += wall
            run.cpu += cpu
        return run

    def close(self) -> None:
        self.engine.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.engine.store.close()
        gc.unfreeze()  # this engine may go now; the next one settles the heap again


# -- (a) the raw SQLite floor -----------------------------------------------------------------


class Floor:
    """stdlib sqlite3, WAL: one INSERT (an answer row) + one UPSERT (a conversation row) per
    transaction, with rows as large as the engine's."""

    def __init__(self, path: Path, synchronous: str, n_users: int, context_len: int) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(
            """CREATE TABLE answers (id INTEGER PRIMARY KEY, run_id INTEGER, member_id INTEGER,
               team_id INTEGER, role TEXT, theme_id TEXT, question_id TEXT, period TEXT,
               scale INTEGER, text TEXT, share_text INTEGER, answered_at TEXT, updated_at TEXT,
               content_version TEXT, source_ref TEXT)"""
        )
        conn.execute(
            """CREATE TABLE conversations (id INTEGER PRIMARY KEY, platform TEXT, chat_id TEXT,
               member_id INTEGER, state TEXT, context TEXT, prompt_seq INTEGER,
               updated_at TEXT, UNIQUE (platform, chat_id))"""
        )
        self.context = json.dumps({"x": "y" * max(0, context_len - 10)})
        self.users = [str(100_000 + i) for i in range(n_users)]
        conn.executemany(
            """INSERT INTO conversations (platform, chat_id, member_id, state, context,
               prompt_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [(PLATFORM, u, i, "reflect.question", self.context, 1, "2026-11-22T10:00:00+00:00")
             for i, u in enumerate(self.users)],
        )
        self.conn = conn
        self.n = 0

    def run(self, n_tx: int, per_tx: int = 1) -> tuple[float, float]:
        conn, users, ctx = self.conn, self.users, self.context
        ins = """INSERT INTO answers (run_id, member_id, team_id, role, theme_id, question_id,
                 period, scale, text, share_text, answered_at, updated_at, content_version,
                 source_ref) VALUES (?, ?, 1, 'professional', 'samenhang', ?, '2026-Q4', 4, NULL,
                 0, ?, ?, '1', NULL)"""
        ups = """INSERT INTO conversations (platform, chat_id, member_id, state, context,
                 prompt_seq, updated_at) VALUES (?, ?, ?, 'reflect.explain', ?, ?, ?)
                 ON CONFLICT (platform, chat_id) DO UPDATE SET state = excluded.state,
                 context = excluded.context, prompt_seq = excluded.prompt_seq,
                 updated_at = excluded.updated_at"""
        now = "2026-11-22T10:00:00+00:00"
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n_tx):
            conn.execute("BEGIN IMMEDIATE")
            for _ in range(per_tx):
                self.n += 1
                u = self.n % len(users)
                conn.execute(ins, (u, u, f"samenhang-{self.n % 4}", now, now))
                conn.execute(ups, (PLATFORM, users[u], u, ctx, self.n, now))
            conn.execute("COMMIT")
        t1, c1 = time.perf_counter(), time.process_time()
        return t1 - t0, c1 - c0

    def close(self) -> None:
        self.conn.close()


# -- (c) python-telegram-bot ConversationHandler ------------------------------------------------

QUESTIONS = 10


def _question_text(k: int) -> str:
    return f"Vraag {k} van {QUESTIONS}\n\nIs er afstemming over de uitvoering? Kies 1 t/m 5."


def bench_ptb(n_users: int, prof: cProfile.Profile | None = None) -> dict[str, Any]:
    from telegram import (
        Chat,
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        Message,
        MessageEntity,
        Update,
        User,
    )
    from telegram.ext import (
        Application,
        CommandHandler,
        ContextTypes,
        ConversationHandler,
        ExtBot,
        MessageHandler,
        filters,
    )

    class StubBot(ExtBot):
        """No network: the Bot API answers getMe; nothing else is called by the handlers."""

        async def _do_post(self, endpoint: str, data: dict, **kwargs: Any) -> Any:
            if endpoint == "getMe":
                return {"id": 1, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
            return True

    keyboards = {
        k: InlineKeyboardMarkup([[InlineKeyboardButton(str(n), callback_data=f"{k}|{n}")
                                  for n in range(1, 6)]])
        for k in range(1, QUESTIONS + 1)
    }
    sink: list[tuple[int, str, InlineKeyboardMarkup]] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        context.user_data.clear()
        sink.append((update.effective_chat.id, _question_text(1), keyboards[1]))
        return 0

    def answer(k: int) -> Callable[..., Any]:
        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            context.user_data[k] = int(update.message.text)
            if k + 1 == QUESTIONS:
                sink.append((update.effective_chat.id, "Klaar, dank je!", keyboards[1]))
                return ConversationHandler.END
            sink.append((update.effective_chat.id, _question_text(k + 2), keyboards[k + 2]))
            return k + 1

        return handler

    text = filters.TEXT & ~filters.COMMAND
    conv = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={k: [MessageHandler(text, answer(k))] for k in range(QUESTIONS)},
        fallbacks=[],
        persistent=False,
    )
    app = Application.builder().bot(StubBot("123456:bench")).build()
    app.add_handler(conv)

    date = datetime(2026, 11, 22, 10, tzinfo=UTC)
    users = [User(100_000 + i, f"U{i}", False) for i in range(n_users)]
    chats = [Chat(100_000 + i, "private") for i in range(n_users)]
    update_id = 0

    def message(i: int, text: str, command: bool = False) -> Update:
        nonlocal update_id
        update_id += 1
        entities = (MessageEntity("bot_command", 0, len(text)),) if command else ()
        msg = Message(update_id, date, chats[i], from_user=users[i], text=text, entities=entities)
        msg.set_bot(app.bot)
        return Update(update_id, message=msg)

    rng = random.Random(11)
    starts = [message(i, "/start", True) for i in range(n_users)]
    rounds: list[list[Update]] = []
    for _ in range(QUESTIONS):
        order = list(range(n_users))
        rng.shuffle(order)
        rounds.append([message(i, "4") for i in order])
    timed = [u for r in rounds for u in r]

    async def main() -> tuple[float, float]:
        await app.initialize()
        for u in starts:  # entry, untimed (the engine's onboarding is untimed too)
            await app.process_update(u)
        process = app.process_update
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        for u in timed:
            await process(u)
        t1, c1 = time.perf_counter(), time.process_time()
        if prof:
            prof.disable()
        await app.shutdown()
        return t1 - t0, c1 - c0

    sink.clear()
    wall, cpu = asyncio.run(main())
    finished = sum(1 for d in app.user_data.values() if len(d) == QUESTIONS)
    if finished != n_users or len(sink) != len(timed) + n_users:
        raise RuntimeError(f"PTB questionnaire incomplete: {finished}/{n_users}, {len(sink)} replies")
    return {"turns": len(timed), "wall": wall, "cpu": cpu}


# -- (d) aiogram 3 FSM ----------------------------------------------------------------------------


def bench_aiogram(n_users: int, prof: cProfile.Profile | None = None) -> dict[str, Any]:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.filters import CommandStart, StateFilter
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.state import State, StatesGroup
    from aiogram.fsm.storage.memory import MemoryStorage
    from aiogram.types import (
        Chat,
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        Message,
        Update,
        User,
    )

    Q = type("Q", (StatesGroup,), {f"s{k}": State() for k in range(QUESTIONS)})
    qstates = [getattr(Q, f"s{k}") for k in range(QUESTIONS)]
    keyboards = {
        k: InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=str(n), callback_data=f"{k}|{n}") for n in range(1, 6)]])
        for k in range(1, QUESTIONS + 1)
    }
    sink: list[tuple[int, str, Any]] = []
    answers_done = Counter[int]()
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_data({})
        await state.set_state(qstates[0])
        sink.append((message.chat.id, _question_text(1), keyboards[1]))

    def answer(k: int) -> None:
        async def handler(message: Message, state: FSMContext) -> None:
            await state.update_data({str(k): int(message.text or 0)})
            if k + 1 == QUESTIONS:
                await state.set_state(None)
                answers_done[message.chat.id] += 1
                sink.append((message.chat.id, "Klaar, dank je!", keyboards[1]))
                return
            await state.set_state(qstates[k + 1])
            sink.append((message.chat.id, _question_text(k + 2), keyboards[k + 2]))

        router.message.register(handler, StateFilter(qstates[k]))

    for k in range(QUESTIONS):
        answer(k)
    dp = Dispatcher(storage=MemoryStorage())
    dp.include_router(router)
    bot = Bot("123456:AAbenchbenchbenchbenchbenchbenchbenc")

    date = datetime(2026, 11, 22, 10, tzinfo=UTC)
    users = [User(id=100_000 + i, is_bot=False, first_name=f"U{i}") for i in range(n_users)]
    chats = [Chat(id=100_000 + i, type="private") for i in range(n_users)]
    update_id = 0

    def message(i: int, text: str) -> Update:
        nonlocal update_id
        update_id += 1
        return Update(update_id=update_id, message=Message(
            message_id=update_id, date=date, chat=chats[i], from_user=users[i], text=text))

    rng = random.Random(11)
    starts = [message(i, "/start") for i in range(n_users)]
    timed: list[Update] = []
    for _ in range(QUESTIONS):
        order = list(range(n_users))
        rng.shuffle(order)
        timed += [message(i, "4") for i in order]

    async def main() -> tuple[float, float]:
        for u in starts:
            await dp.feed_update(bot, u)
        feed_update = dp.feed_update
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        for u in timed:
            await feed_update(bot, u)
        t1, c1 = time.perf_counter(), time.process_time()
        if prof:
            prof.disable()
        await bot.session.close()
        return t1 - t0, c1 - c0

    wall, cpu = asyncio.run(main())
    if len(answers_done) != n_users or len(sink) != len(timed) + n_users:
        raise RuntimeError(f"aiogram questionnaire incomplete: {len(answers_done)}/{n_users}")
    return {"turns": len(timed), "wall": wall, "cpu": cpu, "users": n_users}


# -- storage figures ---------------------------------------------------------------------------


def storage_figures(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n_conv = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    avg_ctx = conn.execute("SELECT AVG(LENGTH(CAST(context AS BLOB))) FROM conversations").fetchone()[0]
    max_ctx = conn.execute("SELECT MAX(LENGTH(CAST(context AS BLOB))) FROM conversations").fetchone()[0]
    n_answers = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    n_events = conn.execute("SELECT COUNT(*) FROM handled_events").fetchone()[0]
    tables: dict[str, int] = {}
    try:
        for name, size in conn.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ):
            tables[name] = int(size)
    except sqlite3.OperationalError:
        pass
    conn.close()
    wal = Path(f"{path}-wal")
    total = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    conv_bytes = sum(v for k, v in tables.items()
                     if k == "conversations" or k.startswith("sqlite_autoindex_conversations"))
    return {
        "conversations": n_conv,
        "db_bytes": total,
        "db_bytes_per_conversation": total / n_conv if n_conv else 0,
        "conversation_table_bytes_per_conversation": conv_bytes / n_conv if n_conv else 0,
        "avg_context_json_bytes": float(avg_ctx or 0),
        "max_context_json_bytes": int(max_ctx or 0),
        "answers": n_answers,
        "handled_events": n_events,
        "tables": tables,
    }


def avg_context_len(path: Path) -> int:
    conn = sqlite3.connect(path)
    n = conn.execute("SELECT AVG(LENGTH(CAST(context AS BLOB))) FROM conversations").fetchone()[0]
    conn.close()
    return int(n or 0)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# -- profiling ---------------------------------------------------------------------------------


def profile_engine(template: Path, driver: Driver, tmp: Path, rounds: int) -> str:
    bench = EngineBench(template, driver, tmp / "profile.db", "OFF")
    statements: Counter[str] = Counter()

    def trace(sql: str) -> None:  # expanded SQL: put the placeholders back
        sql = re.sub(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b", "?", " ".join(sql.split()))
        statements[sql[:90]] += 1

    n = 0
    for _ in range(2):  # two rounds: users alternate between question and follow-up turns
        incs = bench.driver.round_inputs()
        bench.engine.store.conn.set_trace_callback(trace)
        out, _, _ = run_single(bench.engine, incs)
        bench.engine.store.conn.set_trace_callback(None)
        feed(bench.engine, bench.driver, incs, out)
        n += len(incs)
    lines = [f"SQL statements per turn (commit per turn, {n} turns): "
             f"{sum(statements.values()) / n:.1f}"]
    for sql, count in statements.most_common(14):
        lines.append(f"  {count / n:5.2f}  {sql}")
    prof = cProfile.Profile()
    turns = 0
    for _ in range(rounds):
        incs = bench.driver.round_inputs()
        prof.enable()
        out = [bench.engine.handle(inc) for inc in incs]
        prof.disable()
        feed(bench.engine, bench.driver, incs, out)
        turns += len(incs)
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(22)
    stats.sort_stats("cumulative").print_stats(28)
    bench.close()
    lines.append(f"cProfile of {turns} turns with handle(), synchronous=OFF:")
    lines.append(buf.getvalue())
    return "\n".join(lines)


# -- transcript (behaviour check) --------------------------------------------------------------

ODD_INPUTS: list[tuple[str, str, str]] = [
    ("command", "/terug", "terug"), ("command", "/overslaan", "overslaan"),
    ("command", "/pauze", "pauze"), ("command", "/verder", "verder"),
    ("command", "/menu", "menu"), ("command", "/help", "help"),
    ("command", "/bestaatniet", "bestaatniet"), ("command", "/start", "start"),
    ("command", "/herinneringen uit", "herinneringen"), ("command", "/mijnreflecties", "mijnreflecties"),
    ("text", "hallo?", ""), ("text", "2", ""), ("text", "x" * 4100, ""), ("text", "Verder", ""),
    ("text", "  5 ", ""), ("text", "nee", ""), ("stale", "", ""), ("media", "photo", ""),
    ("replay", "", ""), ("edit", "Aangepaste toelichting", ""),
]


def transcript(path: Path, n_users: int = 40, n_turns: int = 2400) -> None:
    """A deterministic session with odd inputs; writes replies + DB content (no timestamps)."""
    import bot.store as store_module  # member ids are random: draw them from a seeded generator

    ids = random.Random(7)
    saved_new_member_id = store_module.new_member_id
    store_module.new_member_id = lambda: 2**40 + ids.randrange(2**62)
    # the store's timestamps come from the wall clock, and some queries order by them: one
    # frozen second for the whole session, so the order cannot depend on how fast it runs
    fixed = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()

    class FrozenTime:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        def time(self) -> float:
            return fixed

    clocks = [m for m in (store_module, sys.modules.get("bot.store.clock"))
              if m is not None and getattr(m, "time", None) is time]
    for module in clocks:
        module.time = FrozenTime()  # type: ignore[attr-defined]
    try:
        _transcript(path, n_users, n_turns)
    finally:
        store_module.new_member_id = saved_new_member_id
        for module in clocks:
            module.time = time  # type: ignore[attr-defined]


def _transcript(path: Path, n_users: int, n_turns: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ts-transcript-"))
    fixed = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    engine = Engine(Store(tmp / "t.db", synchronous="OFF"), clock=lambda: fixed,
                    model_cache_size=16)  # small cache: evictions and re-adds happen too
    driver = Driver(n_users, seed=3)
    rng = random.Random(5)
    out = io.StringIO()
    last: dict[str, Incoming] = {}
    err, unk = engine.dialogues.text("error"), engine.dialogues.text("unknown_input")
    pending: list[Incoming] = []

    class Capture(logging.Handler):  # log records are behaviour too (without tracebacks)
        def emit(self, record: logging.LogRecord) -> None:
            out.write(f"  log {record.levelname} {record.name}: {record.getMessage()}\n")

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [Capture()]
    root.setLevel(logging.WARNING)  # INFO from transitions names lambdas by address

    def dump(inc: Incoming, replies: list[Reply]) -> None:
        out.write(f"> {inc.user_id} {inc.kind} {inc.text[:40]!r} {inc.value!r} "
                  f"{inc.command!r} {inc.prompt_token!r}\n")
        for r in replies:
            data = r.to_json()
            data.update(token=r.prompt_token, prompt=r.is_prompt, notice=r.notice,
                        chat=r.chat_id, scale_labels=r.scale_labels)
            out.write("  " + json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")

    for n in range(n_turns):
        user = driver.users[rng.randrange(n_users)]
        if driver.prompt[user] is not None and rng.random() < 0.15:
            kind, text, command = ODD_INPUTS[rng.randrange(len(ODD_INPUTS))]
            driver.update_id += 1
            eid = f"u{driver.update_id}"
            if kind == "command":
                name, _, args = text[1:].partition(" ")
                inc = Incoming(PLATFORM, user, user, "command", text=text, command=command,
                               args=args, event_id=eid)
            elif kind == "stale":
                inc = Incoming(PLATFORM, user, user, "choice", text="3", value="3", event_id=eid,
                               prompt_token="0")
            elif kind == "media":
                inc = Incoming(PLATFORM, user, user, "unsupported", media=text, event_id=eid)
            elif kind == "replay":
                inc = last.get(user) or Incoming(PLATFORM, user, user, "text", text="?")
            elif kind == "edit":
                inc = Incoming(PLATFORM, user, user, "edit", text=text, event_id=eid,
                               message_ref=str(rng.randrange(1, driver.message_id + 2)))
            else:
                driver.message_id += 1
                inc = Incoming(PLATFORM, user, user, "text", text=text, event_id=eid,
                               message_ref=str(driver.message_id))
        else:
            inc = driver.next_input(user)
        last[user] = inc
        if n % 7 == 3:  # some turns go through group commit
            pending.append(inc)
            if len(pending) == 5:
                for p, replies in zip(pending, engine.handle_many(pending), strict=True):
                    dump(p, replies)
                    driver.take(p.user_id, replies, err, unk)
                pending.clear()
            continue
        replies = engine.handle(inc)
        dump(inc, replies)
        driver.take(user, replies, err, unk)
    conn = engine.store.conn
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        without_rowid = conn.execute(
            "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()[0]
        cur = conn.execute(f"SELECT * FROM {table} ORDER BY rowid" if not without_rowid
                           else f"SELECT * FROM {table} ORDER BY 1, 2")
        cols = [d[0] for d in cur.description]
        keep = [i for i, c in enumerate(cols) if not (c.endswith("_at") or c == "at")]
        out.write(f"## {table} {[cols[i] for i in keep]}\n")
        for row in cur:
            out.write("  " + json.dumps([row[i] for i in keep], ensure_ascii=False) + "\n")
    engine.store.close()
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    shutil.rmtree(tmp, ignore_errors=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    print(f"transcript: {path} ({n_turns} turns, {driver.errors} error replies, "
          f"{driver.unknown} 'unknown input' replies)")


# -- main --------------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def dispatch_mode(engine: Engine) -> str:
    return "transitions Event.trigger (one shared Machine, cached models)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="500 users, fewer rounds (seconds)")
    ap.add_argument("--batch", type=int, default=128, help="group commit batch size (b2)")
    ap.add_argument("--sweep", default="64,256",
                    help="extra group commit batch sizes to try ('' = none)")
    ap.add_argument("--rounds-durable", type=int, default=1,
                    help="rounds for (a) and (b1): one round = one turn per user")
    ap.add_argument("--rounds", type=int, default=5, help="rounds for the other engine runs")
    ap.add_argument("--no-peers", action="store_true", help="skip PTB and aiogram")
    ap.add_argument("--no-aiogram", action="store_true", help="skip aiogram only")
    ap.add_argument("--aiogram-users", type=int, default=1000,
                    help="users for (d); aiogram is slow enough to blow the time budget")
    ap.add_argument("--profile", action="store_true", help="add a cProfile of the engine path")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    ap.add_argument("--tmp", type=Path, help="directory for the databases (default: a tmp dir)")
    ap.add_argument("--transcript", type=Path,
                    help="only write a behaviour transcript to this file and exit")
    ap.add_argument("--log-info", action="store_true",
                    help="log at INFO to a file, as `teamspiegel run` does (transitions then "
                         "logs every callback)")
    args = ap.parse_args(argv)
    if args.transcript:
        transcript(args.transcript)
        return 0
    if args.quick:
        args.users = min(args.users, 500)
        args.rounds = min(args.rounds, 3)
        args.rounds_durable = 1
        args.sweep = ""

    started = time.perf_counter()
    info = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="ts-bench-", dir=args.tmp))
    if args.log_info:
        logging.basicConfig(level=logging.INFO, filename=str(tmp / "bench.log"),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:
        logging.basicConfig(level=logging.WARNING)
    n = args.users
    load0 = os.getloadavg()
    print(f"Teamspiegel engine benchmark — {datetime.now().strftime('%Y-%m-%d %H:%M')}")
    print(f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
          f"SQLite {info['sqlite']}, {info['platform']}")
    print(f"load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print(f"databases in {tmp}")
    print(f"{n} users, interleaved (shuffled each round); durable rounds {args.rounds_durable}, "
          f"other rounds {args.rounds}, group commit batch {args.batch}")

    mark = [time.perf_counter()]

    def phase(name: str) -> None:
        now = time.perf_counter()
        print(f"  {name}: {now - mark[0]:.1f} s", flush=True)
        mark[0] = now

    # -- onboarding (untimed)
    rss0 = current_rss_mb()
    template = tmp / "template.db"
    driver = onboard(template, n, seed=7)
    ctx_len = avg_context_len(template)
    phase(f"onboarding {n} users (untimed)")

    # -- (a) + (b1): durable, commit per turn, alternated round by round (same disk weather)
    floor_full = Floor(tmp / "floor_full.db", "FULL", n, ctx_len)
    b1 = EngineBench(template, driver, tmp / "b1.db", "FULL")
    dispatch = dispatch_mode(b1.engine)
    print(f"engine dispatch: {dispatch}")
    a_wall = a_cpu = 0.0
    a_tx = 0
    b1_run = EngineRun("b1")
    for _ in range(args.rounds_durable):
        w, c = floor_full.run(n)
        a_wall, a_cpu, a_tx = a_wall + w, a_cpu + c, a_tx + n
        b1.rounds(b1_run, 1, None)
    b1.close()
    floor_full.close()
    del b1
    phase("(a) + (b1) durable, commit per turn")

    # -- (b2): durable, group commit
    b2 = EngineBench(template, driver, tmp / "b2.db", "FULL")
    b2_run = b2.rounds(EngineRun("b2"), args.rounds, args.batch)
    rss_engine = current_rss_mb()  # one engine holding n conversations, alive
    b2.close()
    del b2
    sweep: dict[int, EngineRun] = {}
    for size in [int(s) for s in args.sweep.split(",") if s.strip()]:
        bs = EngineBench(template, driver, tmp / f"b2_{size}.db", "FULL")
        # the same rounds as (b2): later rounds hold more summaries and menus and cost more
        sweep[size] = bs.rounds(EngineRun(f"b2/{size}"), args.rounds, size)
        bs.close()
        del bs
    floor_grp = Floor(tmp / "floor_grp.db", "FULL", n, ctx_len)
    fg_n = b2_run.turns // args.batch
    fg_wall, _ = floor_grp.run(fg_n, args.batch)
    floor_grp.close()
    phase("(b2) durable, group commit")

    # -- CPU cost: the same kind of turns without fsync, minus the raw floor without fsync
    # commit per turn and group commit each on their own copy, so both measure the same rounds
    # (the same kinds of turns) after the same warm-up
    off = EngineBench(template, driver, tmp / "off.db", "OFF")
    off_single = off.rounds(EngineRun("off/1"), args.rounds, None)
    off.close()
    del off
    off = EngineBench(template, driver, tmp / "off_group.db", "OFF")
    off_group = off.rounds(EngineRun("off/group"), args.rounds, args.batch)
    off.close()
    del off
    floor_off = Floor(tmp / "floor_off.db", "OFF", n, ctx_len)
    fo_wall, fo_cpu = floor_off.run(off_single.turns)
    fb_n = off_group.turns // args.batch
    fb_wall, fb_cpu = floor_off.run(fb_n, args.batch)
    floor_off.close()
    gc.collect()
    engine_peak = peak_rss_mb()
    storage = storage_figures(tmp / "b2.db")
    phase("synchronous=OFF runs (CPU cost)")

    # -- peers
    ptb = aio = None
    if not args.no_peers:
        ptb = bench_ptb(n)
        phase("(c) python-telegram-bot")
        if not args.no_aiogram:
            try:
                aio = bench_aiogram(min(n, args.aiogram_users))
                phase(f"(d) aiogram ({min(n, args.aiogram_users)} users)")
            except ImportError as exc:
                print(f"aiogram not available: {exc}")

    profile_text = profile_engine(template, driver, tmp, 2) if args.profile else ""
    total = time.perf_counter() - started
    load1 = os.getloadavg()

    # -- figures
    a_us, a_tps = a_wall / a_tx * 1e6, a_tx / a_wall
    fo_us, fo_cpu_us = fo_wall / off_single.turns * 1e6, fo_cpu / off_single.turns * 1e6
    fb_us = fb_wall / (fb_n * args.batch) * 1e6
    fb_cpu_us = fb_cpu / (fb_n * args.batch) * 1e6
    fg_tps = fg_n * args.batch / fg_wall
    cpu_beyond = off_single.cpu_us - fo_cpu_us
    cpu_beyond_wall = off_single.us - fo_us
    cpu_beyond_group = off_group.cpu_us - fb_cpu_us
    cpu_proc = b1_run.cpu_us - a_cpu / a_tx * 1e6
    floor_ratio = a_tps / b1_run.tps
    ptb_tps = ptb["turns"] / ptb["wall"] if ptb else 0.0
    aio_tps = aio["turns"] / aio["wall"] if aio else 0.0

    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, value: str, target: str = "", status: str = "") -> None:
        rows.append((name, value, target, status))

    row("(a) raw SQLite floor: 1 tx = insert + upsert, WAL, FULL",
        f"{a_tps:,.0f} tx/s ({a_us:,.0f} µs/tx)")
    row("(b1) engine, commit per turn (handle), WAL, FULL",
        f"{b1_run.tps:,.0f} turns/s ({b1_run.us:,.0f} µs/turn)")
    row("     (a)/(b1)", f"{floor_ratio:.2f}x", f"≤ {TARGET_FLOOR_RATIO}x",
        verdict(floor_ratio <= TARGET_FLOOR_RATIO))
    row(f"(b2) engine, group commit (handle_many, batch {args.batch}), FULL",
        f"{b2_run.tps:,.0f} turns/s ({b2_run.us:,.0f} µs/turn)", f"≥ {TARGET_GROUP_TPS:,.0f}",
        verdict(b2_run.tps >= TARGET_GROUP_TPS))
    for size, run in sweep.items():
        row(f"     same, batch {size}", f"{run.tps:,.0f} turns/s")
    row(f"     raw floor, {args.batch} insert+upsert pairs per tx, FULL",
        f"{fg_tps:,.0f} pairs/s")
    row("engine, synchronous=OFF, commit per turn", f"{1e6 / off_single.us:,.0f} turns/s; "
        f"CPU {off_single.cpu_us:.0f} µs/turn (wall {off_single.us:.0f})")
    row(f"engine, synchronous=OFF, batch {args.batch}", f"{1e6 / off_group.us:,.0f} turns/s; "
        f"CPU {off_group.cpu_us:.0f} µs/turn (wall {off_group.us:.0f})")
    row("raw floor, synchronous=OFF, per tx", f"CPU {fo_cpu_us:.0f} µs (wall {fo_us:.0f})")
    row("engine cost beyond the commit, CPU (OFF − floor OFF)", f"{cpu_beyond:.0f} µs/turn",
        f"≤ {TARGET_CPU_US:.0f} µs", verdict(cpu_beyond <= TARGET_CPU_US))
    row("     same from wall time", f"{cpu_beyond_wall:.0f} µs/turn")
    row(f"     same, batch {args.batch} (CPU, OFF − floor OFF batched)",
        f"{cpu_beyond_group:.0f} µs/turn")
    row("     cross-check: CPU of (b1) − CPU of (a), durable", f"{cpu_proc:.0f} µs/turn")
    if ptb:
        row("(c) PTB ConversationHandler, in memory", f"{ptb_tps:,.0f} turns/s "
            f"({ptb['wall'] / ptb['turns'] * 1e6:.0f} µs/turn, CPU "
            f"{ptb['cpu'] / ptb['turns'] * 1e6:.0f})")
        r1, r2 = b1_run.tps / ptb_tps, b2_run.tps / ptb_tps
        row("     (b1)/(c), durable commit per turn", f"{r1:.3f}x", f"≥ {TARGET_PEER_RATIO}x",
            verdict(r1 >= TARGET_PEER_RATIO))
        row("     (b2)/(c), durable group commit", f"{r2:.2f}x", f"≥ {TARGET_PEER_RATIO}x",
            verdict(r2 >= TARGET_PEER_RATIO))
    if aio:
        row(f"(d) aiogram 3 FSM, MemoryStorage, {aio['users']} users", f"{aio_tps:,.0f} turns/s "
            f"({aio['wall'] / aio['turns'] * 1e6:.0f} µs/turn, CPU "
            f"{aio['cpu'] / aio['turns'] * 1e6:.0f})")
        row("     (b2)/(d)", f"{b2_run.tps / aio_tps:.2f}x")
    row("peak RSS after the engine runs (ru_maxrss)", f"{engine_peak:.0f} MB")
    row(f"RSS with one engine and {n} conversations loaded", f"{rss_engine:.0f} MB "
        f"(after imports, before onboarding: {rss0:.0f} MB)")
    row("peak RSS of the whole run (incl. peers)", f"{peak_rss_mb():.0f} MB")
    row("DB bytes per conversation (all tables, after checkpoint)",
        f"{storage['db_bytes_per_conversation']:,.0f} B "
        f"({storage['db_bytes'] / 1e6:.1f} MB / {storage['conversations']})")
    row("conversations table + index, bytes per conversation",
        f"{storage['conversation_table_bytes_per_conversation']:,.0f} B")
    row("conversations.context JSON, average / max",
        f"{storage['avg_context_json_bytes']:.0f} / {storage['max_context_json_bytes']} B")

    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    w3 = max(len(r[2]) for r in rows)
    print(f"\n{'figure':<{w1}}  {'value':<{w2}}  {'target':<{w3}}  status")
    print("-" * (w1 + w2 + w3 + 12))
    for name, value, target, status in rows:
        print(f"{name:<{w1}}  {value:<{w2}}  {target:<{w3}}  {status}")

    runs = (b1_run, b2_run, off_single, off_group, *sweep.values())
    mix: Counter[str] = Counter()
    for r in runs:
        mix.update(r.kinds)
    mixed = sum(mix.values())
    print(f"\nmeasured engine turns: {mixed:,}; by kind: " + ", ".join(
        f"{k} {v / mixed:.0%}" for k, v in mix.most_common()))
    bad = sum(r.errors for r in runs)
    unk = sum(r.unknown for r in runs)
    print(f"error replies: {bad}, 'unknown input' replies: {unk}")
    print(f"b2 database: {storage['answers']:,} answers, {storage['handled_events']:,} handled "
          "events; bytes by table: " + ", ".join(
              f"{k} {v / 1e6:.1f} MB" for k, v in list(storage['tables'].items())[:6]))
    print(f"load average at end: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} "
          f"({info['nproc']} CPUs; other processes share the machine: compare CPU columns)")
    print("\nmethod: engine cost beyond the commit = process CPU µs per turn of the same kind "
          "of turns with synchronous=OFF (BEGIN/COMMIT still run, nothing waits for fsync) "
          "minus process CPU µs per transaction of the raw floor (one insert + one upsert) "
          "with synchronous=OFF. It includes the engine's own SQL beyond the floor's two "
          "statements. Wall-time and durable-run estimates are shown as cross-checks.")
    print("(c) and (d): 10 interleaved rounds of one typed answer per user after an untimed "
          "/start; handlers keep the answer in memory and build the next question with a "
          "5-button inline keyboard without sending it (the engine does not send either). "
          "aiogram's feed_update re-validates every Update (model_dump + model_validate).")
    print(f"\ntotal run time: {total:.1f} s")
    if profile_text:
        print("\n" + profile_text)

    if args.json:
        res = {
            "date": datetime.now().isoformat(timespec="seconds"), "machine": info,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "users": n, "batch": args.batch, "dispatch": dispatch,
            "load_start": load0, "load_end": load1,
            "a": {"tx": a_tx, "wall": a_wall, "cpu": a_cpu, "tps": a_tps, "us": a_us},
            "b1": vars_of(b1_run), "b2": vars_of(b2_run),
            "sweep": {k: vars_of(v) for k, v in sweep.items()},
            "off_single": vars_of(off_single), "off_group": vars_of(off_group),
            "floor_off_us": fo_us, "floor_off_cpu_us": fo_cpu_us,
            "floor_off_batched_us": fb_us, "floor_off_batched_cpu_us": fb_cpu_us,
            "floor_group_tps": fg_tps,
            "cpu_beyond_commit_us": cpu_beyond, "cpu_beyond_commit_wall_us": cpu_beyond_wall,
            "cpu_beyond_commit_group_us": cpu_beyond_group, "cpu_process_us": cpu_proc,
            "ratio_floor_b1": floor_ratio, "ptb": ptb, "aiogram": aio,
            "peak_rss_mb_engine": engine_peak, "rss_engine_mb": rss_engine, "rss_start_mb": rss0,
            "peak_rss_mb": peak_rss_mb(), "storage": storage, "total_seconds": total,
        }
        args.json.write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


def vars_of(run: EngineRun) -> dict[str, Any]:
    return {"turns": run.turns, "wall": run.wall, "cpu": run.cpu, "tps": run.tps, "us": run.us,
            "errors": run.errors, "unknown": run.unknown, "kinds": dict(run.kinds)}


if __name__ == "__main__":
    sys.exit(main())
