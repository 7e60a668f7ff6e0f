"""Monthly-tip broadcast through the real bot process against a fake Bot API that enforces a rate.

Each pass seeds a fresh SQLite database with one team of N members, each with a private Telegram
chat, plans the monthly tip (two messages per chat: 2 N messages), starts the fake Bot API (real
HTTP on 127.0.0.1, in this process's background thread; 429 with ``retry_after`` for every
request beyond L per sliding second) and runs ``teamspiegel run`` as a separate process until the
outbox is drained. The bot is told the same limit (``TEAMSPIEGEL_RATE_GLOBAL=L``).

Targets (per pass): sustained delivery at least 95 % of the enforced limit, under 1 % of requests
answered 429, zero losses, zero unexplained duplicates; the same when the bot gets SIGKILL halfway
and is started again ("kill" passes). Rows in flight at the kill are sent again by the restarted
bot (``TEAMSPIEGEL_UNCERTAIN=resend``, the default): a request that had arrived then arrives twice.
Such duplicates are counted by the bot itself (``dup_risk`` in the outbox, "mogelijk dubbel" in
``teamspiegel status``); the target is that every duplicate is one of those. With ``hold`` they
would be ``uncertain`` instead, and the kill pass plays the operator (``teamspiegel outbox
requeue-uncertain`` and one more start), after which duplicates and losses are counted again.
A tip is one message.

Scaled passes. At 30 messages/s, 20,000 recipients (40,000 messages) take 23 minutes per pass.
A scaled pass runs the same logic with the clock K times faster (default K = 5): the fake enforces
30 K/s, the bot paces at 30 K/s globally and K/s per chat. Not scaled: ``retry_after`` (Telegram
and the fake send whole seconds, at least 1, so one 429 costs K times more messages than at
30/s), the dispatcher's concurrency (24 requests in flight) and the bot's CPU per message, so a
scaled pass is the harder test. K = 10 (300/s) is beyond what the bot process can send on a
2-CPU machine (about 200 messages/s, CPU-bound): that pass measures capacity, not pacing.

    .venv/bin/python bench/broadcast.py                # default: 4 passes, about 13 minutes
    .venv/bin/python bench/broadcast.py --quick        # 500 / 2,000 recipients, ~2 minutes
    .venv/bin/python bench/broadcast.py --passes real --limit 30    # 20,000 at 30/s: 23 min
    .venv/bin/python bench/broadcast.py --passes scaled-kill --scale 10 --timeline

``--passes`` takes ``kind[:recipients]`` items (recipients default: ``--recipients``, 20,000):
``real`` (at ``--limit``), ``scaled`` (at ``--limit`` x ``--scale``), either with ``-kill``.
Default: ``real:3000,real-kill:1500,scaled:20000,scaled-kill:10000`` (the kill passes are
smaller to keep the whole run under 15 minutes). Run from the repository root.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

# keep bench/ off the path (bench/telegram.py would shadow python-telegram-bot)
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bot.schedule.calendar import tip_slot  # noqa: E402
from bot.schedule.planner import iso, plan_due  # noqa: E402
from bot.store import Conversation, Store  # noqa: E402
from tests.fakes.fake_bot_api import FakeBotAPI  # noqa: E402

TEAMSPIEGEL = str(Path(sys.executable).with_name("teamspiegel"))
TOKEN = "7000003:AAHx-bench-broadcast-token-abcdefghij"
FIRST_CHAT = 720_000_000
TARGET_RATE = 0.95
TARGET_429 = 0.01


# -- setting up --------------------------------------------------------------------------------


def seed(db: Path, recipients: int) -> dict[int, int]:
    """One team, ``recipients`` members with a private chat; plan the tip. Returns chat id ->
    messages planned."""
    store = Store(db, synchronous="OFF")
    try:
        with store.transaction():
            team = store.create_team("Wijkteam Bench")
            # tips only (no store method sets the cadence: a column with a default)
            store.conn.execute("UPDATE teams SET reflection_cadence = 'none' WHERE id = ?",
                               (team,))
            for i in range(recipients):
                uid = str(FIRST_CHAT + i)
                member = store.get_or_create_member("telegram", uid, f"Collega {i}")
                store.set_consent(member)
                store.join_team(member, team, "professional")
                store.save_conversation(Conversation(None, "telegram", uid, member, "menu"))
        # the bot plans with the real clock at its start: plan with it too when it is inside a
        # tip window (same dedup keys), else just after last month's slot (past catch-up: the
        # bot's plan leaves it alone). The rows must be due now either way.
        now = datetime.now(UTC)
        result = plan_due(store, now, platforms=["telegram"])
        if result.counts["tip"]:
            with store.transaction():
                store.conn.execute("UPDATE outbox SET not_before = ? WHERE not_before > ?",
                                   (iso(now), iso(now)))
        else:
            prev = now.replace(day=1) - timedelta(days=1)
            slot = tip_slot(prev.year, prev.month)
            assert slot is not None
            result = plan_due(store, slot + timedelta(minutes=1), platforms=["telegram"])
        if result.counts["tip"] != recipients or result.total != recipients:
            raise SystemExit(f"planner made {result.counts}, expected {recipients} tips")
        expected: collections.Counter[int] = collections.Counter()
        for chat_id, payload in store.conn.execute("SELECT chat_id, payload FROM outbox"):
            expected[int(chat_id)] += len(json.loads(payload))
        return dict(expected)
    finally:
        store.close()


def db_rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def open_rows(db: Path) -> int:
    return db_rows(db, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0]


def bot_env(db: Path, fake: FakeBotAPI, limit: float, per_chat: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "MATRIX_", "TEAMSPIEGEL_"))}
    env.update(TEAMSPIEGEL_DB=str(db), PYTHONUNBUFFERED="1", TELEGRAM_BOT_TOKEN=fake.token,
               TELEGRAM_BASE_URL=fake.base_url, TEAMSPIEGEL_TICK_SECONDS="3600",
               TEAMSPIEGEL_RATE_GLOBAL=f"{limit:g}", TEAMSPIEGEL_RATE_CHAT=f"{per_chat:g}")
    return env


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bot:
    """One ``teamspiegel run`` process."""

    def __init__(self, db: Path, fake: FakeBotAPI, env: dict[str, str], log: Path) -> None:
        self.db, self.fake, self.env, self.log = db, fake, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu = 0.0

    def start(self) -> None:
        polls = len(self.fake.calls("getUpdates"))
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([TEAMSPIEGEL, "run"], cwd=self.db.parent,
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.fake.wait_for(lambda: len(self.fake.calls("getUpdates")) > polls
                           or self.proc.poll() is not None, timeout=60)
        self.alive()

    def alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise SystemExit(f"teamspiegel run died:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.cpu += cpu_seconds(self.proc.pid)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.cpu += cpu_seconds(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_drained(bot: Bot, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bot.alive()
        if open_rows(bot.db) == 0:
            return True
        time.sleep(0.5)
    return False


def wait_delivered(bot: Bot, n: int, timeout: float) -> None:
    """Until the fake delivered ``n`` messages. ``stats()`` holds the fake's lock for a time
    that grows with the chats, so poll it coarsely until the last second."""
    deadline = time.monotonic() + timeout
    limit = float(bot.env["TEAMSPIEGEL_RATE_GLOBAL"])
    while time.monotonic() < deadline:
        bot.alive()
        left = n - bot.fake.stats()["delivered"]
        if left <= 0:
            return
        time.sleep(0.01 if left <= limit else min(0.5, (left - limit) / limit))
    raise SystemExit(f"{n} messages not delivered within {timeout:.0f} s")


# -- one pass ----------------------------------------------------------------------------------


@dataclass
class PassResult:
    name: str
    recipients: int
    limit: float
    scale: float
    kill: bool
    messages: int = 0
    wall: float = 0.0
    sustained: float = 0.0
    overall: float = 0.0
    peak_window: int = 0
    requests: int = 0
    too_many: int = 0
    duplicates: int = 0
    losses: int = 0
    unfinished: int = 0
    uncertain: int = 0
    uncertain_got: dict[str, int] = field(default_factory=dict)
    killed_at: int = 0
    restart_gap: float = 0.0
    #: duplicates the bot counted as risked (resent although the request may have arrived)
    dup_risk: int = 0
    after_requeue_duplicates: int | None = None
    after_requeue_losses: int | None = None
    bot_cpu: float = 0.0
    seed_seconds: float = 0.0
    #: accepted messages per second of the run, and when (s after the first) 429s came
    timeline: list[int] = field(default_factory=list)
    flood_at: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.sustained / self.limit if self.limit else 0.0

    @property
    def share_429(self) -> float:
        return self.too_many / self.requests if self.requests else 0.0

    @property
    def met(self) -> bool:
        return (self.ratio >= TARGET_RATE and self.share_429 < TARGET_429
                and self.duplicates <= self.dup_risk and self.losses == 0
                and self.unfinished == 0)


def _steady_rate(times: list[float], gaps: list[tuple[float, float]]) -> float:
    """Accepted messages per second between the 10 % and the 90 % mark, minus restart gaps."""
    n = len(times)
    if n < 20:
        return 0.0
    lo, hi = times[n // 10], times[n * 9 // 10]
    span = hi - lo - sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in gaps)
    return (n * 9 // 10 - n // 10) / span if span > 0 else 0.0


def _peak_window(times: list[float], window: float = 1.0) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def _count(fake: FakeBotAPI, expected: dict[int, int], db: Path) -> tuple[int, int, dict]:
    """(duplicates, losses, uncertain chat -> messages it got) at this moment."""
    delivered = fake.delivered_counts()
    rows = {int(c): s for c, s in db_rows(db, "SELECT chat_id, status FROM outbox")}
    duplicates = sum(1 for c, n in delivered.items() if n > expected.get(c, 0))
    uncertain = {c: delivered.get(c, 0) for c, s in rows.items() if s == "uncertain"}
    losses = sum(1 for c, n in expected.items()
                 if c not in uncertain and delivered.get(c, 0) < n)
    return duplicates, losses, uncertain


def run_pass(name: str, recipients: int, limit: float, scale: float, kill: bool,
             workdir: Path, verbose: bool) -> PassResult:
    res = PassResult(name, recipients, limit, scale, kill)
    db = workdir / f"{name}.db"
    log = workdir / f"{name}.log"
    t0 = time.monotonic()
    expected = seed(db, recipients)
    res.seed_seconds = time.monotonic() - t0
    total = res.messages = sum(expected.values())
    budget = 120 + 3 * total / limit  # generous: a stuck pass must not hang the bench
    gaps: list[tuple[float, float]] = []
    with FakeBotAPI(token=TOKEN, rate_limit_per_second=int(limit)) as fake:
        bot = Bot(db, fake, bot_env(db, fake, limit, 1.0 * scale), log)
        try:
            started = time.time()
            bot.start()
            if kill:
                # a little past half: at 1 message/s per chat the dispatcher sends in waves
                # (a second of first messages, then a second of their second messages), and a
                # kill at an exact multiple of a wave finds no row between its two messages
                kill_at = total // 2 + int(0.75 * limit)
                wait_delivered(bot, kill_at, budget)
                bot.kill()
                killed = time.time()
                res.killed_at = fake.stats()["delivered"]
                if verbose:
                    print(f"  {name}: SIGKILL at {res.killed_at}/{total} messages", flush=True)
                bot.start()
            if not wait_drained(bot, budget):
                print(f"  {name}: not drained within {budget:.0f} s", flush=True)
            time.sleep(0.5)  # late answers still count
            bot.stop()
            res.wall = time.time() - started
            calls = fake.calls("sendMessage")
            accepted = sorted(c.time for c in calls if c.status == 200)
            if kill:
                before = [t for t in accepted if t < killed]
                after = [t for t in accepted if t >= killed]
                if before and after:
                    gaps.append((before[-1], after[0]))
                    res.restart_gap = after[0] - before[-1]
            res.requests = len(calls)
            res.too_many = sum(1 for c in calls if c.status == 429)
            res.sustained = _steady_rate(accepted, gaps)
            res.overall = len(accepted) / (accepted[-1] - accepted[0]) if accepted else 0.0
            res.peak_window = _peak_window(accepted)
            if accepted:
                res.timeline = [0] * (int(accepted[-1] - accepted[0]) + 1)
                for t in accepted:
                    res.timeline[int(t - accepted[0])] += 1
                res.flood_at = [round(c.time - accepted[0], 2) for c in calls
                                if c.status == 429]
            res.unfinished = open_rows(db)
            res.duplicates, res.losses, uncertain = _count(fake, expected, db)
            res.dup_risk = int(db_rows(db, "SELECT COALESCE(SUM(dup_risk), 0) FROM outbox")[0][0])
            res.uncertain = len(uncertain)
            res.uncertain_got = {f"{k} msgs": v for k, v in sorted(
                collections.Counter(uncertain.values()).items())}
            res.bot_cpu = bot.cpu
            if kill and uncertain:
                # the operator's choice, played: send the uncertain rows again
                out = subprocess.run([TEAMSPIEGEL, "outbox", "requeue-uncertain"],
                                     env=bot.env, cwd=workdir, capture_output=True, text=True,
                                     timeout=60)
                if out.returncode:
                    raise SystemExit(out.stderr)
                bot.start()
                wait_drained(bot, 60)
                time.sleep(0.5)
                bot.stop()
                dups, losses, still = _count(fake, expected, db)
                res.after_requeue_duplicates, res.after_requeue_losses = dups, losses + len(still)
            if verbose:
                status = subprocess.run([TEAMSPIEGEL, "status"], env=bot.env, cwd=workdir,
                                        capture_output=True, text=True, timeout=60)
                print("\n".join("    " + line for line in status.stdout.splitlines()),
                      flush=True)
        finally:
            bot.cleanup()
    return res


# -- reporting ---------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, load {load}")


def table(results: list[PassResult]) -> str:
    head = ("| pass | recipients | messages | limit/s | sustained/s | % of limit | 429 % "
            "| dups (counted) | losses | uncertain (got) | restart gap s | wall s | bot CPU s "
            "| targets |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        unc = "-" if not r.kill else f"{r.uncertain}" + (
            f" ({', '.join(f'{k}: {v}' for k, v in r.uncertain_got.items())})"
            if r.uncertain_got else "")
        lines.append(
            f"| {r.name} | {r.recipients:,} | {r.messages:,} | {r.limit:g} | {r.sustained:.1f} "
            f"| {100 * r.ratio:.1f} % | {100 * r.share_429:.2f} % | {r.duplicates} ({r.dup_risk}) "
            f"| {r.losses}{f' (+{r.unfinished} unfinished)' if r.unfinished else ''} | {unc} "
            f"| {f'{r.restart_gap:.1f}' if r.kill else '-'} | {r.wall:.0f} | {r.bot_cpu:.0f} "
            f"| {'met' if r.met else 'NOT met'} |")
    return "\n".join(lines)


def parse_passes(spec: str, recipients: int) -> list[tuple[str, int, bool]]:
    out = []
    for item in spec.split(","):
        kind, _, n = item.strip().partition(":")
        kill = kind.endswith("-kill")
        base = kind.removesuffix("-kill")
        if base not in ("real", "scaled"):
            raise SystemExit(f"unknown pass {item!r}: real[-kill][:N] or scaled[-kill][:N]")
        out.append((kind, int(n) if n else recipients, kill))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipients", type=int, default=20_000,
                    help="recipients of passes given without :N")
    ap.add_argument("--limit", type=float, default=30.0, help="enforced messages/s (real)")
    ap.add_argument("--scale", type=float, default=5.0,
                    help="clock speed-up of scaled passes (limit x scale)")
    ap.add_argument("--passes", default="real:3000,real-kill:1500,scaled:20000,"
                    "scaled-kill:10000")
    ap.add_argument("--quick", action="store_true", help="500 real, 2,000 scaled recipients")
    ap.add_argument("--json", help="write the figures as JSON to this file")
    ap.add_argument("--tmp", help="directory for the databases (default: a temp dir)")
    ap.add_argument("--timeline", action="store_true",
                    help="print accepted messages per second and when 429s came")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.passes = "real:500,real-kill:500,scaled:2000,scaled-kill:2000"
    passes = parse_passes(args.passes, args.recipients)
    print(f"Broadcast benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}")
    print("Fake Bot API in this process (429 beyond the limit per sliding second); bot = "
          "`teamspiegel run` in its own process; a tip = 1 message per recipient.")
    for kind, n, _ in passes:
        scaled = kind.startswith("scaled")
        lim = args.limit * (args.scale if scaled else 1)
        eta = n / lim / 0.98 * (1.3 if kind.endswith("kill") else 1)
        note = (f" (SCALED: clock x{args.scale:g}, {lim:g}/s global, {args.scale:g}/s per "
                f"chat)" if scaled else " (real: 30/s global, 1/s per chat)"
                if args.limit == 30 else "")
        print(f"  pass {kind}: {n:,} recipients at {lim:g}/s{note}, ~{eta:.0f} s")
    sys.stdout.flush()
    results = []
    bench_started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-", dir=args.tmp) as tmp:
        for kind, n, kill in passes:
            scale = args.scale if kind.startswith("scaled") else 1.0
            res = run_pass(kind, n, args.limit * scale, scale, kill, Path(tmp),
                           verbose=not args.quiet)
            results.append(res)
            print(f"  {kind}: {res.sustained:.1f}/s sustained ({100 * res.ratio:.1f} % of "
                  f"{res.limit:g}), {100 * res.share_429:.2f} % 429, dups {res.duplicates} "
                  f"(counted as risked: {res.dup_risk}), "
                  f"losses {res.losses}, uncertain {res.uncertain}, wall {res.wall:.0f} s",
                  flush=True)
    print()
    print(table(results))
    print()
    for r in results:
        extra = ""
        if r.kill:
            extra = (f"; killed at {r.killed_at:,}/{r.messages:,} messages; uncertain rows "
                     f"{r.uncertain} ({r.uncertain_got or 'none'})")
            if r.after_requeue_duplicates is not None:
                extra += (f"; after `outbox requeue-uncertain` + restart: duplicates "
                          f"{r.after_requeue_duplicates}, losses {r.after_requeue_losses}")
        print(f"{r.name}: overall {r.overall:.1f}/s (first to last accepted message, incl. "
              f"pauses), peak {r.peak_window} accepted in a 1 s window, {r.requests:,} requests "
              f"({r.too_many} answered 429), bot CPU {r.bot_cpu:.1f} s "
              f"({1000 * r.bot_cpu / max(1, r.messages):.1f} ms/message), seeding "
              f"{r.seed_seconds:.1f} s{extra}")
    if args.timeline:
        for r in results:
            print(f"\n{r.name}: accepted per second: {' '.join(map(str, r.timeline))}")
            print(f"{r.name}: 429 at (s): {r.flood_at}")
    met = all(r.met for r in results)
    print(f"\nTotal wall time {time.monotonic() - bench_started:.0f} s.")
    print(f"Targets (>= {100 * TARGET_RATE:.0f} % of the limit sustained, < "
          f"{100 * TARGET_429:.0f} % 429, 0 losses, no duplicate the bot did not count): "
          f"{'all met' if met else 'NOT all met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine(), "passes": [asdict(r) | {"ratio": r.ratio,
                                                          "share_429": r.share_429,
                                                          "met": r.met} for r in results]},
            indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
