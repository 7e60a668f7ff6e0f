"""Reply latency under load: simulated people over the fake Bot API (real HTTP on 127.0.0.1),
one real ``teamspiegel run`` process, next to python-telegram-bot's ``ConversationHandler`` with
``PicklePersistence`` (the peer) in the same run.

N simulated people do the tour at once: ``/start <invite>``, consent, role, "whole tour", then
scale answers, "Verder" or a typed explanation, "share". Each person reads the bot's prompt,
thinks (a uniform random time) and answers it: presses a button of the prompt's keyboard (a
random score on a 1..5 scale; "tour", "ja" or "professional" where offered, else the first
button; half of the explanation prompts get a typed text instead). ``LATENCY_TRACE=1`` prints
every message a person receives, with the time since their answer. The people live in the fake server's own thread: the fake calls them back when
the bot sends or edits a message (``FakeBotAPI.on_output``), so nothing polls.

Figures per side:

* reply latency: from the update entering the fake (the person answered) to the bot's next
  prompt (the next message with buttons) arriving at the fake: what a person waits for before
  they can go on. p50/p95/p99. "first" is the same up to the first message or edit the bot
  sends into that chat after the answer.
* updates/s: answers handled per second of the run (first answer to last prompt).
* bot CPU per update: the bot process's CPU (utime + stime from /proc) over the run / answers.
* Bot API calls per update and 429 answers.

Scenarios (both run for both sides):

* ``realistic``: 200 people thinking 5-20 s, Telegram's limits enforced by the fake (30 messages
  per second overall, 1 per second per chat, 20 per minute per group; 429 with retry_after
  beyond). Teamspiegel paces with ``TEAMSPIEGEL_RATE_GLOBAL=30``; the peer uses PTB's
  ``AIORateLimiter`` (30/s overall, 20/min per group, retries after a 429). Targets: p50 < 300 ms,
  p95 < 1 s.
* ``capacity``: 1,000 people thinking 0.1-1 s, limits switched off in the fake and the bot (as
  with a local Bot API server or a paid tier). Targets: >= 300 updates/s end to end, bot CPU
  < 2 ms per update; the p95 latency is reported.

    .venv/bin/python bench/latency.py                 # both scenarios (~8 minutes)
    .venv/bin/python bench/latency.py --quick         # small smoke run (~1 minute)
    .venv/bin/python bench/latency.py --scenarios capacity --people 1000 --steps 12
    .venv/bin/python bench/latency.py --no-peer --json out.json
    .venv/bin/python bench/latency.py --py-spy /tmp/prof   # py-spy (PyPI) profile of each bot

Run from the repository root with the project's venv. The load average is printed: on a busy
machine compare with the peer's figures of the same run, not with earlier runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# keep bench/ off the path (bench/telegram.py would shadow python-telegram-bot)
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from tests.fakes.fake_bot_api import FakeBotAPI  # noqa: E402

TEAMSPIEGEL = str(Path(sys.executable).with_name("teamspiegel"))
TOKEN = "7000015:AAHx-bench-latency-token-abcdefghijk"
FIRST_USER = 730_000_000
EXPLANATION = "We overleggen te weinig met beleid, maar in het team lukt het goed."
TEXT_HINT = "Typ je antwoord. Met /overslaan sla je deze vraag over."  # texts.yaml: text_hint
#: button values a person prefers where a prompt offers them
PREFERRED = ("tour", "ja", "professional")
TRACE = bool(os.environ.get("LATENCY_TRACE"))
#: a person who waits this long for a prompt gives up (counted as stuck)
STUCK_SECONDS = 60.0


@dataclass
class Scenario:
    name: str
    people: int
    think: tuple[float, float]
    steps: int
    limits: bool
    #: people start spread over this many seconds (a team does not press /start at once)
    ramp: float


@dataclass
class SideResult:
    side: str
    scenario: str
    people: int
    answers: int = 0
    stuck: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    api_calls: int = 0
    too_many: int = 0
    #: 429s where the chat had a delivered message less than a second before (the per-chat limit)
    too_many_chat: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    first_ms: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rate(self) -> float:
        return self.answers / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.answers if self.answers else math.nan


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    ordered = sorted(values)

    def at(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": 1000 * ordered[-1]}


# -- the simulated people ----------------------------------------------------------------------


@dataclass
class Person:
    user_id: int
    #: when the person's last answer entered the fake (None: not waiting)
    acted: float | None = None
    first_seen: bool = True
    steps: int = 0
    done: bool = False


class Crowd:
    """The simulated people; every method runs in the fake server's thread (its event loop)."""

    def __init__(self, fake: FakeBotAPI, scenario: Scenario, invite: str, seed: int) -> None:
        self.fake, self.scenario, self.invite = fake, scenario, invite
        self.random = random.Random(seed)
        self.people = {FIRST_USER + i: Person(FIRST_USER + i) for i in range(scenario.people)}
        self.latencies: list[float] = []
        self.firsts: list[float] = []
        self.answers = 0
        self.first_action = math.inf
        self.last_prompt = 0.0
        self.finished = threading.Event()
        self.left = scenario.people
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stuck_after = STUCK_SECONDS

    def begin(self) -> None:
        assert self.fake._loop is not None
        self.loop = self.fake._loop
        self.fake.on_output = self.on_output
        for person in self.people.values():
            delay = self.random.uniform(0, self.scenario.ramp)
            self.loop.call_soon_threadsafe(self.loop.call_later, delay, self.start, person)
        self.loop.call_soon_threadsafe(self.loop.call_later, 5.0, self.watch)

    def start(self, person: Person) -> None:
        self._acted(person)
        self.fake.push_command(person.user_id, "start", self.invite)

    def _acted(self, person: Person) -> None:
        now = time.monotonic()
        person.acted, person.first_seen = now, False
        self.first_action = min(self.first_action, now)

    def on_output(self, method: str, chat_id: Any, message: dict) -> None:
        person = self.people.get(chat_id) if isinstance(chat_id, int) else None
        if person is None or person.acted is None:
            return
        now = time.monotonic()
        if TRACE:
            print(f"{now - person.acted:7.3f} {method} {chat_id} "
                  f"{(message.get('text') or '')[:40]!r}", flush=True)
        if not person.first_seen:
            person.first_seen = True
            self.firsts.append(now - person.acted)
        if not method.startswith("send"):
            return
        buttons = [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
                   for b in row if "callback_data" in b]
        if not buttons and not (message.get("text") or "").endswith(TEXT_HINT):
            return  # not a prompt (an open question ends with the typing hint)
        self.latencies.append(now - person.acted)
        self.answers += person.steps > 0  # /start is not an answer to a prompt
        self.last_prompt = now
        person.acted = None
        if person.steps >= self.scenario.steps:
            self._done(person)
            return
        think = self.random.uniform(*self.scenario.think)
        assert self.loop is not None
        self.loop.call_later(think, self.answer, person, message["message_id"], buttons)

    def answer(self, person: Person, message_id: int, buttons: list[dict]) -> None:
        person.steps += 1
        self._acted(person)
        values = [b["callback_data"].rpartition("|")[2] for b in buttons]
        if not buttons or values == ["verder"] and self.random.random() < 0.5:
            self.fake.push_message(person.user_id, EXPLANATION)
            return
        if values == [str(n) for n in range(1, 6)]:
            pick = buttons[self.random.randrange(5)]
        else:  # the whole tour from the menu, "yes" where asked, else the first button
            wanted = next((v for v in PREFERRED if v in values), values[0])
            pick = buttons[values.index(wanted)]
        self.fake.push_callback(person.user_id, pick["callback_data"], message_id=message_id)

    def _done(self, person: Person) -> None:
        if not person.done:
            person.done = True
            self.left -= 1
            if self.left == 0:
                self.finished.set()

    def watch(self) -> None:
        """People who waited too long give up (counted as stuck)."""
        now = time.monotonic()
        for person in self.people.values():
            if person.acted is not None and now - person.acted > self.stuck_after:
                person.acted = None
                self._done(person)
        assert self.loop is not None
        if not self.finished.is_set():
            self.loop.call_later(5.0, self.watch)

    @property
    def stuck(self) -> int:
        return sum(1 for p in self.people.values() if p.done and p.steps < self.scenario.steps)


# -- the two bots --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed_db(db: Path) -> str:
    from bot.store import Store

    store = Store(db, synchronous="FULL")
    try:
        return store.create_invite(store.create_team("Wijkteam Latency"))
    finally:
        store.close()


def bot_command(side: str, workdir: Path, fake: FakeBotAPI, limits: bool
                ) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "MATRIX_", "TEAMSPIEGEL_"))}
    env.update(PYTHONUNBUFFERED="1", TELEGRAM_BOT_TOKEN=fake.token,
               TELEGRAM_BASE_URL=fake.base_url)
    if side == "teamspiegel":
        env.update(TEAMSPIEGEL_DB=str(workdir / "teamspiegel.db"),
                   TEAMSPIEGEL_TICK_SECONDS="3600",
                   TEAMSPIEGEL_RATE_GLOBAL="30" if limits else "100000",
                   TEAMSPIEGEL_RATE_CHAT="1" if limits else "100000")
        return [TEAMSPIEGEL, "run"], env
    cmd = [sys.executable, str(Path(__file__).resolve()), "--peer-child",
           "--peer-state", str(workdir / "peer.pickle")]
    return cmd + (["--peer-limits"] if limits else []), env


def run_side(side: str, scenario: Scenario, workdir: Path, seed: int,
             py_spy: Path | None = None) -> SideResult:
    limits = dict(rate_limit_per_second=30, per_chat_per_second=1, per_group_per_minute=20
                  ) if scenario.limits else {}
    invite = seed_db(workdir / "teamspiegel.db") if side == "teamspiegel" else "peer-invite"
    log_path = workdir / f"{side}-{scenario.name}.log"
    with FakeBotAPI(token=TOKEN, **limits) as fake:
        cmd, env = bot_command(side, workdir, fake, scenario.limits)
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
        try:
            fake.wait_for(lambda: len(fake.calls("getUpdates")) > 0 or proc.poll() is not None,
                          timeout=120)
            if proc.poll() is not None:
                raise SystemExit(f"{side} died:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)  # start-up work (command menus, owed replies) out of the figures
            calls0 = len(fake.calls())
            crowd = Crowd(fake, scenario, invite, seed)
            spy = None
            if py_spy is not None:  # a sampling profile of the bot under load (collapsed stacks)
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                                        "--pid", str(proc.pid), "--format", "raw", "--rate",
                                        "200", "--nonblocking", "-o",
                                        str(py_spy.with_suffix(f".{side}.{scenario.name}.txt"))],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu0 = cpu_seconds(proc.pid)
            crowd.begin()
            limit = scenario.ramp + scenario.steps * (scenario.think[1] + 30) + crowd.stuck_after
            while not crowd.finished.wait(1.0):
                if proc.poll() is not None:
                    raise SystemExit(f"{side} died:\n{log_path.read_text()[-3000:]}")
                if time.monotonic() - crowd.first_action > limit:
                    break
            cpu = cpu_seconds(proc.pid) - cpu0
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            fake.on_output = None
            calls = fake.calls()[calls0:]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    if crowd.stuck:
        print(f"{side}: {crowd.stuck} people stuck; the end of its log:\n"
              f"{log_path.read_text()[-1500:]}", flush=True)
    api = [c for c in calls if c.method != "getUpdates"]
    last_ok: dict[Any, float] = {}
    chat_429 = 0
    for c in api:
        if c.status == 429 and c.chat_id is not None and c.time - last_ok.get(c.chat_id,
                                                                                -9.0) < 1.0:
            chat_429 += 1
        elif c.status == 200 and c.chat_id is not None:
            last_ok[c.chat_id] = c.time
    return SideResult(
        side, scenario.name, scenario.people, answers=crowd.answers, stuck=crowd.stuck,
        elapsed_s=max(1e-9, crowd.last_prompt - crowd.first_action), cpu_s=cpu,
        api_calls=len(api), too_many=sum(1 for c in api if c.status == 429),
        too_many_chat=chat_429,
        latency_ms=percentiles(crowd.latencies), first_ms=percentiles(crowd.firsts),
        load=os.getloadavg())


# -- the peer: python-telegram-bot's ConversationHandler with PicklePersistence ------------------


def peer_main(args: argparse.Namespace) -> None:
    spec = importlib.util.spec_from_file_location("bench_telegram", _HERE / "telegram.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from telegram.ext import AIORateLimiter, Application, PicklePersistence

    # concurrent updates: the conversations are independent, and one at a time would make every
    # flood wait of one chat a wait for everyone
    builder = (Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"])
               .concurrent_updates(True)
               .base_url(os.environ["TELEGRAM_BASE_URL"])
               .persistence(PicklePersistence(args.peer_state)))
    if args.peer_limits:
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=30, overall_time_period=1,
                                                      group_max_rate=20, group_time_period=60,
                                                      max_retries=5))
    app = module._peer_application(None, builder, persistent=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with app:
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=30)
            await app.start()
            await stop.wait()
            await app.updater.stop()
            await app.stop()

    asyncio.run(run())


# -- reporting -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


def targets(r: SideResult) -> list[tuple[str, str, bool]]:
    if r.scenario == "realistic":
        return [("reply latency p50 < 300 ms", f"{r.latency_ms['p50']:.0f} ms",
                 r.latency_ms["p50"] < 300),
                ("reply latency p95 < 1 s", f"{r.latency_ms['p95']:.0f} ms",
                 r.latency_ms["p95"] < 1000)]
    return [(">= 300 updates/s end to end", f"{r.rate:.0f}/s", r.rate >= 300),
            ("bot CPU < 2 ms per update", f"{r.cpu_ms:.2f} ms", r.cpu_ms < 2.0),
            (f"p95 latency at {r.people:,} people (reported)", f"{r.latency_ms['p95']:.0f} ms",
             True)]


def report(results: list[SideResult]) -> str:
    lines = ["", "| scenario | side | people | answers | stuck | updates/s | bot CPU ms/update "
             "| p50 ms | p95 ms | p99 ms | first p50/p95 ms | API calls/update | 429 (per chat) "
             "| load |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in results:
        per = r.api_calls / r.answers if r.answers else math.nan
        lines.append(
            f"| {r.scenario} | {r.side} | {r.people:,} | {r.answers:,} | {r.stuck} "
            f"| {r.rate:,.1f} | {r.cpu_ms:.2f} | {r.latency_ms['p50']:.0f} "
            f"| {r.latency_ms['p95']:.0f} | {r.latency_ms['p99']:.0f} "
            f"| {r.first_ms['p50']:.0f} / {r.first_ms['p95']:.0f} | {per:.2f} "
            f"| {r.too_many} ({r.too_many_chat}) "
            f"| {r.load[0]:.2f} |")
    lines += ["", "Targets (Teamspiegel; the peer's figures from the same run beside them):", ""]
    for r in results:
        if r.side != "teamspiegel":
            continue
        peer = next((p for p in results if p.side == "peer" and p.scenario == r.scenario), None)
        peer_t = {name: value for name, value, _ in targets(peer)} if peer else {}
        for name, value, met in targets(r):
            status = "met" if met else "NOT MET"
            beside = f" (peer: {peer_t[name]})" if name in peer_t else ""
            lines.append(f"- {r.scenario}: {name}: {value} -> {status}{beside}")
    return "\n".join(lines)


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    if args.quick:
        table = {"realistic": Scenario("realistic", 20, (0.5, 2.0), 4, True, 2.0),
                 "capacity": Scenario("capacity", 50, (0.05, 0.2), 5, False, 0.5)}
    else:
        table = {"realistic": Scenario("realistic", 200, (5.0, 20.0), 12, True, 20.0),
                 "capacity": Scenario("capacity", 1000, (0.1, 1.0), 12, False, 5.0)}
    chosen = []
    for name in args.scenarios.split(","):
        scenario = table[name.strip()]
        if args.people:
            scenario.people = args.people
        if args.steps:
            scenario.steps = args.steps
        chosen.append(scenario)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--scenarios", default="realistic,capacity")
    parser.add_argument("--people", type=int, default=0)
    parser.add_argument("--steps", type=int, default=0, help="answers per person")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--tmp", type=Path)
    parser.add_argument("--py-spy", type=Path, help="profile the bots with py-spy (PyPI) into "
                        "PATH.<side>.<scenario>.txt (collapsed stacks)")
    parser.add_argument("--peer-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer-state", help=argparse.SUPPRESS)
    parser.add_argument("--peer-limits", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_child:
        peer_main(args)
        return 0
    print(f"machine: {machine()}; load average at start: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: list[SideResult] = []
    sides = ["teamspiegel"] + ([] if args.no_peer else ["peer"])
    for scenario in scenarios(args):
        for side in sides:
            with tempfile.TemporaryDirectory(prefix="teamspiegel-latency-", dir=args.tmp) as tmp:
                result = run_side(side, scenario, Path(tmp), args.seed, args.py_spy)
            results.append(result)
            print(f"{scenario.name} / {side}: {result.answers} answers, {result.rate:.1f}/s, "
                  f"p50 {result.latency_ms['p50']:.0f} ms, p95 {result.latency_ms['p95']:.0f} ms, "
                  f"CPU {result.cpu_ms:.2f} ms/update, stuck {result.stuck}, "
                  f"load {result.load[0]:.2f}", flush=True)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"rate": r.rate, "cpu_ms": r.cpu_ms}
                                         for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
