#!/usr/bin/env python
"""Report benchmark: one team's report and the dashboard page on a large synthetic database.

Since release 0.4 every view reads frozen snapshots (``bot.reports.snapshot``): the answers of a
quarter are aggregated once, when the quarter is published, and a view decodes the snapshots and
applies the reader's rules. So this script first publishes every quarter of every team (timed: the
work the schedule's tick does once per team and quarter), then times the views as before, with the
clock standing after the last quarter (2027-01-15).

From the issue: "A synthetic database of 200 teams x 12 members x 3 years (about 1,000,000
answers). Targets: one team's quarterly report (all themes, with suppression) p95 under 50 ms;
the whole dashboard page p95 under 150 ms; cost per report grows with the team's data, not with
the database (show 100k vs 1M answers)."

What it does:

1. Generates two SQLite databases with the real schema (``Store`` migrations) and the real
   content (Praatplaat themes and questions per role): a big one (200 teams) and a small one
   (20 teams), with the same data per team. Every team has 12 members (1 manager, 1 policy
   officer, 10 professionals) and 12 quarters (2024-Q1 .. 2026-Q4). Per quarter a member takes
   part with probability 0.93: the whole tour (every question of their role; 1-5 with a team-
   and theme-specific level that drifts over time, explanations on some scale answers, open
   questions answered in text, 40 % of texts shared) plus two or three single-theme runs (later
   answers to the same questions: only the latest one counts). Generation uses ``executemany``
   in one transaction with ``synchronous=OFF`` (generation only; the timed part opens the
   database the way the app does: WAL, ``synchronous=FULL``).
2. Times, on random teams, with ``time.perf_counter`` (p50 / p95 / max over many calls; the
   process CPU time per call is printed too, since wall time on a shared machine is noisy):

   * ``team_report_for`` for one quarter (the issue's "quarterly report": all themes, question
     cells, role groups, suppression, shared texts), including the access check and the audited
     commit of the audit-log row;
   * ``team_report_for`` over all 12 quarters (what the dashboard's team page builds);
   * the dashboard's team page ``GET /team/{id}`` through Starlette's ``TestClient`` on
     ``bot.web.app.create_app``, logged in through a real one-time login link (session cookie);
   * the chat's ``/rapport``: the report over all quarters plus the mirror picture uncached
     (matplotlib), and the picture from :class:`bot.reports.chat.ChartCache`;
   * the one-page PDF team report (fpdf2) over all quarters, with the mirror (target < 2 s).

   The quarterly report includes the mirror (group cells per question in the snapshot, the
   groups' theme figures, gaps and trends built from the view).

   Both databases are measured in the same run, call by call in turn (big, small, big, ...),
   so that load from other processes on a shared machine hits both alike.

3. Splits the quarterly report into its parts (audit commit, snapshot SQL, the view built from
   the snapshot) and times publishing one quarter from its answers (SQL, record objects,
   aggregation, encoding; without the write), and prints the query plans.

Run:  .venv/bin/python bench/reports.py            (full: ~1.0M and ~100k answers, < 3 min)
      .venv/bin/python bench/reports.py --quick    (40 and 4 teams, well under a minute)
      .venv/bin/python bench/reports.py --profile  (adds a cProfile of the dashboard page)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings  # noqa: E402
from bot.content import get_content  # noqa: E402
from bot.reports.aggregate import collect  # noqa: E402
from bot.reports.chat import ChartCache  # noqa: E402
from bot.reports.mirror import build_mirror  # noqa: E402
from bot.reports.pdf import team_pdf  # noqa: E402
from bot.reports.service import (  # noqa: E402
    load_records,
    publish_due,
    team_groups,  # noqa: E402
    team_report,
    team_report_for,
    theme_titles,
)
from bot.reports.snapshot import content_structure, encode  # noqa: E402
from bot.store import Store  # noqa: E402

CONTENT = get_content()
PP = CONTENT.praatplaat
ROLES = ["manager", "beleid"] + ["professional"] * 10
PERIODS = [f"{y}-Q{q}" for y in (2024, 2025, 2026) for q in (1, 2, 3, 4)]
QUARTER_START = {p: datetime(int(p[:4]), 3 * (int(p[-1]) - 1) + 1, 1, tzinfo=UTC)
                 for p in PERIODS}
TEXTS = [
    "We zouden vaker samen op huisbezoek moeten gaan.",
    "Het overleg met de gemeente loopt stroef, vooral over budgetten.",
    "Ik merk dat collega's van werk & inkomen beter bereikbaar zijn dan vorig jaar.",
    "Te weinig tijd om echt samen te werken; de caseload is te hoog.",
    "De nieuwe werkwijze helpt, maar niet iedereen doet mee.",
    "Cliënten merken dat we beter afstemmen.",
    "Graag meer ruimte voor maatwerk zonder eindeloze formulieren.",
    "Beleid hoort te weinig wat er in de wijk speelt.",
]
TARGET_QUARTER_MS = 50.0
TARGET_PAGE_MS = 150.0
TARGET_PDF_MS = 2000.0
#: the clock of every view: after the last generated quarter, so all twelve are published
NOW = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)


# -- generation ---------------------------------------------------------------------------------


def generate(path: Path, n_teams: int, seed: int = 7) -> dict[str, object]:
    """Create a database of ``n_teams`` teams; returns counts and ids for the timing."""
    Store(path).close()  # schema via the real migrations
    rng = random.Random(seed)
    questions = {role: [(q.id, q.kind, t.id) for t in PP.themes for q in t.questions
                        if q.for_role(role)] for role in set(ROLES)}
    theme_qs = {role: {t.id: [(q.id, q.kind, t.id) for q in t.questions if q.for_role(role)]
                       for t in PP.themes} for role in set(ROLES)}
    theme_ids = [t.id for t in PP.themes]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    created = "2023-12-01T09:00:00+00:00"
    member_id = run_id = n_answers = 0
    managers: dict[int, int] = {}
    for team_id in range(1, n_teams + 1):
        conn.execute("INSERT INTO teams (id, name, is_demo, created_at) VALUES (?, ?, 0, ?)",
                     (team_id, f"Wijkteam {team_id:03d}", created))
        level = {t: rng.uniform(2.0, 4.2) for t in theme_ids}
        drift = {t: rng.uniform(-0.08, 0.08) for t in theme_ids}
        members: list[tuple[int, str]] = []
        for role in ROLES:
            member_id += 1
            members.append((member_id, role))
            conn.execute(
                """INSERT INTO members (id, platform, platform_user_id, display_name, consent_at,
                       created_at) VALUES (?, 'telegram', ?, NULL, ?, ?)""",
                (member_id, str(10_000_000 + member_id), created, created))
            conn.execute("INSERT INTO memberships VALUES (?, ?, ?, ?)",
                         (member_id, team_id, role, created))
            if role == "manager":
                managers[team_id] = member_id
                # read rights are granted (release 0.4), not given by the role
                conn.execute(
                    """INSERT INTO team_access (team_id, member_id, access, granted_via,
                           granted_at) VALUES (?, ?, 'reader', 'cli', ?)""",
                    (team_id, member_id, created))
        runs: list[tuple] = []
        answers: list[tuple] = []
        for pi, period in enumerate(PERIODS):
            start = QUARTER_START[period]
            for mid, role in members:
                if rng.random() >= 0.93:
                    continue
                scopes: list[tuple[str, list[tuple[str, str, str]]]] = [("tour", questions[role])]
                for chance in (1.0, 1.0, 0.4):  # theme runs in team meetings
                    if rng.random() < chance:
                        t = rng.choice(theme_ids)
                        scopes.append((t, theme_qs[role][t]))
                for offset_day, (scope, qs) in zip((3, 25, 45, 65), scopes, strict=False):
                    run_id += 1
                    at = start + timedelta(days=offset_day + rng.random() * 20,
                                           seconds=rng.randrange(36_000))
                    stamp = at.isoformat(timespec="seconds")
                    runs.append((run_id, mid, team_id, scope, period, stamp, stamp, stamp))
                    for qid, kind, tid in qs:
                        scale = text = None
                        if kind == "scale":
                            mu = level[tid] + drift[tid] * pi
                            scale = min(5, max(1, round(rng.gauss(mu, 0.9))))
                            if rng.random() < 0.15:
                                text = rng.choice(TEXTS)
                        else:
                            text = rng.choice(TEXTS)
                        share = int(text is not None and rng.random() < 0.4)
                        answers.append((run_id, mid, team_id, role, tid, qid, period, scale,
                                        text, share, stamp, stamp, CONTENT.version))
        conn.executemany(
            """INSERT INTO runs (id, member_id, team_id, scope, period, started_at,
                   last_activity_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""", runs)
        conn.executemany(
            """INSERT INTO answers (run_id, member_id, team_id, role, theme_id, question_id,
                   period, scale, text, share_text, answered_at, updated_at, content_version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", answers)
        n_answers += len(answers)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # publish every quarter of every team, as the schedule's tick does once each
    store = Store(path)
    t0 = time.perf_counter()
    published = publish_due(store, NOW, content=CONTENT)
    publish_s = time.perf_counter() - t0
    store.conn.execute("ANALYZE")
    store.close()
    return {"teams": n_teams, "members": member_id, "answers": n_answers, "runs": run_id,
            "managers": managers, "bytes": path.stat().st_size, "snapshots": len(published),
            "publish_s": publish_s}


# -- timing -------------------------------------------------------------------------------------


@dataclass
class Stats:
    name: str
    values_ms: list[float]
    cpu_ms: list[float]

    def pct(self, q: float) -> float:
        v = sorted(self.values_ms)
        return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]

    @property
    def p50(self) -> float:
        return statistics.median(self.values_ms)

    @property
    def p95(self) -> float:
        return self.pct(0.95)

    @property
    def max(self) -> float:
        return max(self.values_ms)

    @property
    def cpu_p50(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def cpu_p95(self) -> float:
        v = sorted(self.cpu_ms)
        return v[min(len(v) - 1, max(0, round(0.95 * (len(v) - 1))))]


def timed_pair(name: str, reps: int, calls: list[Callable[[int], object]]) -> list[Stats]:
    """``call(i)`` ``reps`` times for every call, interleaved (a, b, a, b, ...), so that load
    from other processes on a shared machine hits all of them alike; the garbage collector runs
    as in production (not disabled)."""
    for call in calls:
        call(0)  # warm-up
    values: list[list[float]] = [[] for _ in calls]
    cpu: list[list[float]] = [[] for _ in calls]
    for i in range(reps):
        for j, call in enumerate(calls):
            c0 = time.process_time()
            t0 = time.perf_counter()
            call(i)
            values[j].append((time.perf_counter() - t0) * 1000)
            cpu[j].append((time.process_time() - c0) * 1000)
    return [Stats(name, v, c) for v, c in zip(values, cpu, strict=True)]


class Target:
    """One database opened the way the app opens it (WAL, ``synchronous=FULL``)."""

    def __init__(self, path: Path, info: dict[str, object], n_calls: int) -> None:
        self.info = info
        self.store = Store(path)
        self.settings = Settings(db_path=path, secret_key="bench-secret-bench-secret")
        self.managers: dict[int, int] = info["managers"]  # type: ignore[assignment]
        rng = random.Random(11)
        self.teams = [rng.randrange(1, int(info["teams"]) + 1) for _ in range(n_calls + 1)]
        self.latest = [PERIODS[-1]]
        self.titles = theme_titles(CONTENT)
        self.extra: dict[str, object] = {}
        self.cache = ChartCache()
        self.page_ok = False
        self.clients: dict[int, object] = {}
        try:
            from bot.web.app import create_app
        except ImportError as exc:
            self.extra["dashboard"] = f"not measured: {exc}"
            self.app = None
        else:
            self.app = create_app(self.store, self.settings, clock=lambda: NOW)

    def quarterly(self, i: int) -> object:
        """One quarter's view *with the mirror* (group cells per question, the groups' theme
        figures, gaps and trends), as every view builds it."""
        t = self.teams[i]
        report = team_report_for(self.store, self.managers[t], t, action="bench_quarter", k=3,
                                 periods=self.latest, now=NOW, content=CONTENT)
        build_mirror(report, CONTENT)
        return report

    def all_periods(self, i: int) -> object:
        t = self.teams[i]
        return team_report_for(self.store, self.managers[t], t, action="bench_all", k=3,
                               now=NOW, content=CONTENT)

    def client_for(self, team: int) -> Any:
        from starlette.testclient import TestClient

        from bot.web.auth import create_login_link

        client = self.clients.get(team)
        if client is None:
            client = TestClient(self.app)
            url = create_login_link(self.store, self.managers[team], self.settings, now=NOW)
            resp = client.get(url.split("8080", 1)[-1], follow_redirects=False)
            assert resp.status_code == 200, resp.text
            self.clients[team] = client
        return client

    def page(self, i: int) -> Any:
        """The team page of one of 40 teams, each with its own logged-in manager."""
        page_teams = self.teams[:40]
        if i == 0:  # the warm-up call logs every client in, outside the timed part
            for team in page_teams:
                self.client_for(team)
        t = page_teams[i % len(page_teams)]
        resp = self.client_for(t).get(f"/team/{t}")
        assert resp.status_code == 200 and "Teamspiegel" in resp.text, resp.status_code
        return resp

    def png_uncached(self, i: int) -> bytes:
        report = self.all_periods(i)
        t0 = time.perf_counter()
        data = ChartCache().png(build_mirror(report, CONTENT), "Team")  # type: ignore[arg-type]
        self.extra.setdefault("png_only_ms", []).append(  # type: ignore[union-attr]
            (time.perf_counter() - t0) * 1000)
        return data

    def png_cached(self, i: int) -> bytes:
        if not hasattr(self, "_mirror0"):
            self._mirror0 = build_mirror(self.all_periods(0), CONTENT)  # type: ignore[arg-type]
        return self.cache.png(self._mirror0, "Team")

    def pdf(self, i: int) -> bytes:
        """The one-page PDF team report: the view over all quarters, the mirror, the PDF."""
        t = self.teams[i]
        report = team_report_for(self.store, self.managers[t], t, action="bench_pdf", k=3,
                                 now=NOW, content=CONTENT)
        return team_pdf(report, CONTENT, f"Team {t}", self.store.team_actions(t))

    def parts_of(self, periods: list[str] | None, n: int) -> dict[str, float]:
        """Where the time of one view goes (median ms per part, same teams)."""
        store = self.store
        parts: dict[str, list[float]] = {"audit commit": [], "snapshot SQL": [], "view": []}
        for t in self.teams[:n]:
            t0 = time.perf_counter()
            with store.transaction():
                store.may_read_team(self.managers[t], t)
                store.audit("bench_parts", actor=self.managers[t], team_id=t)
            t1 = time.perf_counter()
            rows = store.snapshot_rows(t, periods=periods)
            ids = [int(r["id"]) for r in rows]
            store.snapshot_index(self.managers[t], ids)
            store.snapshot_text_rows(ids)
            t2 = time.perf_counter()
            team_report(store, t, k=3, viewer=self.managers[t], periods=periods, now=NOW,
                        content=CONTENT)
            t3 = time.perf_counter()
            parts["audit commit"].append((t1 - t0) * 1000)
            parts["snapshot SQL"].append((t2 - t1) * 1000)
            parts["view"].append(max(0.0, (t3 - t2) - (t2 - t1)) * 1000)
        return {k: statistics.median(v) for k, v in parts.items()}

    def publish_parts(self, n: int) -> dict[str, float]:
        """What publishing one quarter of one team costs (median ms), without the write."""
        store = self.store
        shape = content_structure(CONTENT)
        parts: dict[str, list[float]] = {"SQL + records": [], "aggregation": [], "encoding": []}
        for t in self.teams[:n]:
            t0 = time.perf_counter()
            records = load_records(store, t, self.latest[0])
            roles = team_groups(store, t)
            t1 = time.perf_counter()
            [data] = collect(records, t, self.latest, roles, shape.questions, shape.everyone,
                             score=shape.score, total_themes=shape.total_themes,
                             asked=shape.asked, team_size=len(roles))
            t2 = time.perf_counter()
            encode(data, random.Random(0))
            t3 = time.perf_counter()
            parts["SQL + records"].append((t1 - t0) * 1000)
            parts["aggregation"].append((t2 - t1) * 1000)
            parts["encoding"].append((t3 - t2) * 1000)
        return {k: statistics.median(v) for k, v in parts.items()}

    def facts(self) -> None:
        store = self.store
        self.extra["rows_quarter"] = statistics.mean(
            len(store.team_answer_rows(t, self.latest)) for t in self.teams[:20])
        self.extra["rows_all"] = statistics.mean(
            len(store.team_answer_rows(t)) for t in self.teams[:20])
        self.extra["snapshot_bytes"] = statistics.mean(
            len(r["data"]) for t in self.teams[:20] for r in store.snapshot_rows(t))
        plan = store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT id, data FROM snapshots WHERE team_id = ? AND kind = ? "
            "AND period IN (?) ORDER BY period DESC", (1, "reflection", self.latest[0])).fetchall()
        self.extra["plan"] = "; ".join(str(r[-1]) for r in plan)
        plan = store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT member_id, team_id, theme_id, question_id, period, "
            "updated_at, scale, text, share_text, id FROM answers WHERE team_id = ? AND "
            "period = ?", (1, self.latest[0])).fetchall()
        self.extra["plan_publish"] = "; ".join(str(r[-1]) for r in plan)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()  # type: ignore[attr-defined]
        self.store.close()


def profile_page(target: Target) -> str:
    """cProfile of 20 team pages, served in this thread (httpx's ASGI transport), so that the
    profile sees the app (TestClient runs it in another thread)."""
    import asyncio

    import httpx

    team = target.teams[0]
    cookies = target.client_for(team).cookies

    async def pages() -> None:
        transport = httpx.ASGITransport(app=target.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     cookies=cookies) as client:
            for _ in range(20):
                resp = await client.get(f"/team/{team}")
                assert resp.status_code == 200, resp.status_code

    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(pages())
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(r"bot/|jinja2/environment|sqlite3", 30)
    return out.getvalue()


def run_all(targets: list[Target], reps: dict[str, int], profile: bool,
            ) -> tuple[list[list[Stats]], list[dict[str, dict[str, float]]]]:
    """Every measurement on every database, interleaved; returns stats per target."""
    results: list[list[Stats]] = [[] for _ in targets]

    def add(name: str, n: int, method: str) -> None:
        for out, stats in zip(results, timed_pair(
                name, n, [getattr(t, method) for t in targets]), strict=True):
            out.append(stats)

    add("quarterly report (1 quarter)", reps["quarter"], "quarterly")
    add("report, all 12 quarters", reps["all"], "all_periods")
    if all(t.app is not None for t in targets):
        try:
            add("dashboard page GET /team/{id}", reps["page"], "page")
        except Exception as exc:  # the dashboard is young: report it, don't hide the rest
            for t in targets:
                t.extra["dashboard"] = f"not measured: {type(exc).__name__}: {exc}"
        else:
            for t in targets:
                t.extra["page_bytes"] = len(t.page(1).content)
            if profile:
                targets[0].extra["profile"] = profile_page(targets[0])
    add("chat: report + PNG, uncached", reps["png"], "png_uncached")
    add("chat chart PNG, cached", reps["quarter"], "png_cached")
    add("PDF team report (all quarters)", reps["pdf"], "pdf")
    breakdowns = []
    for t in targets:
        t.facts()
        breakdowns.append({"quarter": t.parts_of(t.latest, reps["quarter"]),
                           "all": t.parts_of(None, reps["all"]),
                           "publish": t.publish_parts(reps["all"])})
    return results, breakdowns


# -- output -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 and 4 teams, fewer repetitions")
    parser.add_argument("--profile", action="store_true", help="cProfile the dashboard page")
    parser.add_argument("--dir", help="where to put the databases (default: a temp dir)")
    args = parser.parse_args()
    sizes = (40, 4) if args.quick else (200, 20)
    reps = ({"quarter": 100, "all": 50, "page": 50, "png": 2, "pdf": 10} if args.quick
            else {"quarter": 300, "all": 120, "page": 120, "png": 3, "pdf": 20})
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="teamspiegel-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"Machine: {machine()}, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"Databases in {work}\n")
    t_start = time.perf_counter()
    runs = []
    targets: list[Target] = []
    try:
        infos = []
        for n in sizes:
            path = work / f"bench-{n}.db"
            path.unlink(missing_ok=True)
            t0 = time.perf_counter()
            info = generate(path, n)
            gen_s = time.perf_counter() - t0
            print(f"{n} teams: {info['answers']:,} answers, {info['members']:,} members, "
                  f"{info['runs']:,} runs, {int(info['bytes']) / 1e6:.0f} MB, "
                  f"generated and published in {gen_s:.1f} s; {info['snapshots']:,} snapshots "
                  f"published in {float(info['publish_s']):.1f} s "
                  f"({1000 * float(info['publish_s']) / max(1, int(info['snapshots'])):.1f} ms "
                  "each, incl. the commit)")
            infos.append((n, path, info))
        gc.collect()
        targets = [Target(path, info, max(reps.values())) for _n, path, info in infos]
        results, breakdowns = run_all(targets, reps, args.profile)
        for (n, _p, info), res, brk, target in zip(infos, results, breakdowns, targets,
                                                   strict=True):
            runs.append((n, info, res, brk, target.extra))
    finally:
        for target in targets:
            target.close()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)

    print()
    header = f"{'measurement':32} {'answers in DB':>13} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} " \
             f"{'max ms':>8} {'CPU p50':>8} {'CPU p95':>8}"
    print(header)
    print("-" * len(header))
    for _n, info, results, _b, _e in runs:
        for s in results:
            print(f"{s.name:32} {int(info['answers']):>13,} {len(s.values_ms):>5} "
                  f"{s.p50:>8.2f} {s.p95:>8.2f} {s.max:>8.2f} {s.cpu_p50:>8.2f} {s.cpu_p95:>8.2f}")
    print()
    for n, _info, _r, breakdown, extra in runs:
        for which, label in (("quarter", "view, one quarter"), ("all", "view, all quarters"),
                             ("publish", "publishing one quarter")):
            parts = ", ".join(f"{k} {v:.2f}" for k, v in breakdown[which].items())
            print(f"{n} teams: {label} (median ms): {parts}")
        print(f"{n} teams: answer rows per team: {extra['rows_quarter']:.0f} in one quarter, "
              f"{extra['rows_all']:.0f} in all quarters; a snapshot is "
              f"{float(extra['snapshot_bytes']) / 1000:.1f} kB")
        if "page_bytes" in extra:
            print(f"{n} teams: dashboard page size {int(extra['page_bytes']) / 1000:.0f} kB")
        if extra.get("png_only_ms"):
            print(f"{n} teams: PNG drawing alone (matplotlib), median "
                  f"{statistics.median(extra['png_only_ms']):.0f} ms")
        if isinstance(extra.get("dashboard"), str):
            print(f"{n} teams: dashboard {extra['dashboard']}")
    print(f"query plan, view: {runs[0][4]['plan']}")
    print(f"query plan, publishing: {runs[0][4]['plan_publish']}")

    big, small = runs[0], runs[1]
    print()
    print(f"DB size ratio {int(big[1]['answers']) / int(small[1]['answers']):.1f}x; "
          "p50 ratio big/small per measurement:")
    for sb, ss in zip(big[2], small[2], strict=True):
        print(f"  {sb.name:32} wall {sb.p50 / ss.p50:5.2f}x, CPU {sb.cpu_p50 / ss.cpu_p50:5.2f}x")
    by_name = {s.name: s for s in big[2]}
    quarter = by_name["quarterly report (1 quarter)"]
    print()
    print(f"target quarterly report p95 < {TARGET_QUARTER_MS:.0f} ms: "
          f"{quarter.p95:.1f} ms -> {'met' if quarter.p95 < TARGET_QUARTER_MS else 'NOT met'} "
          f"(CPU p95 {quarter.cpu_p95:.1f} ms)")
    page = by_name.get("dashboard page GET /team/{id}")
    if page is not None:
        print(f"target dashboard page p95 < {TARGET_PAGE_MS:.0f} ms: {page.p95:.1f} ms -> "
              f"{'met' if page.p95 < TARGET_PAGE_MS else 'NOT met'} "
              f"(CPU p95 {page.cpu_p95:.1f} ms)")
    else:
        print("target dashboard page: not measured (bot.web not available)")
    pdf = by_name["PDF team report (all quarters)"]
    print(f"target PDF team report p95 < {TARGET_PDF_MS:.0f} ms: {pdf.p95:.1f} ms -> "
          f"{'met' if pdf.p95 < TARGET_PDF_MS else 'NOT met'} (CPU p95 {pdf.cpu_p95:.1f} ms)")
    for _n, _i, _r, _b, extra in runs[:1]:
        if "profile" in extra:
            print("\nProfile of 20 dashboard pages (big database):")
            print(extra["profile"])
    print(f"load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"total run time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
