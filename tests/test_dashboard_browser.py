"""The dashboard in a real browser: Debian's Chromium driven by Playwright, the real app served
by uvicorn on 127.0.0.1 over a SQLite file. No skip: if Chromium cannot start, this fails."""

from __future__ import annotations

import csv
import io
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from bot.config import Settings
from bot.reports.export import export_columns
from bot.store import Store
from bot.web import create_app, create_login_link
from tests.test_web import Seed, seed_dashboard

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
PHONE = {"width": 390, "height": 844}
SCREENSHOT_COPY = Path("/tmp/teamspiegel-dashboard.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Served:
    base: str
    store: Store
    settings: Settings
    seed: Seed


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = Store(tmp_path / "browser.db")
    seed = seed_dashboard(store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = Settings(db_path=tmp_path / "browser.db", secret_key="browser-test-secret",
                        web_url=base)
    app = create_app(store, settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(base, store, settings, seed)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page is {width}px wide on a {PHONE['width']}px phone"


def test_dashboard_in_chromium(served: Served, browser: Browser, tmp_path: Path) -> None:
    seed, base = served.seed, served.base
    link = create_login_link(served.store, seed.manager, served.settings)
    expired = create_login_link(served.store, seed.manager, served.settings,
                                now=datetime.now(UTC) - timedelta(hours=1))
    assert link.startswith(base + "/login/")

    context = browser.new_context(viewport=PHONE, accept_downloads=True, locale="nl-NL")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url)
            if not req.url.startswith((base, "data:")) else None)

    # 1. the login link lands on the overview
    page.goto(link)
    page.wait_for_url(base + "/")
    assert page.locator("h1").inner_text() == "Hoi!"  # no names are kept
    assert page.get_by_role("link", name="Wijkteam Noord").count() == 1
    assert page.get_by_text("Wijkteam Zuid").count() == 0
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["teamspiegel_sessie"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"

    # 2. the team page: chart with data points and the summary
    page.get_by_role("link", name="Wijkteam Noord").first.click()
    page.wait_for_url(f"{base}/team/{seed.team_a}")
    assert page.locator("h1").inner_text() == "Wijkteam Noord"
    chart = page.locator(".chart svg")
    assert chart.count() == 1
    assert chart.get_attribute("role") == "img"
    points = chart.locator("g.point")
    assert points.count() >= 4  # total + themes, two quarters
    assert chart.locator("g.point[data-period='2026-Q1'] circle").count() >= 2
    assert chart.bounding_box()["width"] <= PHONE["width"]
    summary = page.locator(".summary").inner_text()
    assert "Deelname Q1 2026: 5-9 collega's." in summary  # published round, n as a band
    assert "Lopende ronde" in summary and "Cijfers komen als de ronde sluit" in summary
    assert "Gemiddeld over de thema's" in summary
    _no_horizontal_scroll(page)

    shot = tmp_path / "team-phone.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    shutil.copyfile(shot, SCREENSHOT_COPY)

    # 3. download the CSV
    with page.expect_download() as info:
        page.get_by_role("link", name="Download de cijfers (CSV)").click()
    download = info.value
    assert download.suggested_filename == f"teamspiegel-team-{seed.team_a}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert list(rows[0].keys()) == export_columns()
    assert {r["period"] for r in rows} == {"2025-Q4", "2026-Q1"}
    assert "Noord Collega" not in Path(download.path()).read_text("utf-8")

    # 4. the follow-up form (CSRF token + SameSite=Strict cookie in a real browser)
    page.select_option("#theme_id", "regie")
    page.fill("#text", "Vanaf mei een vast casusoverleg met de gemeente.")
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_url(f"{base}/team/{seed.team_a}#wat-we-doen")
    assert "Vanaf mei een vast casusoverleg" in page.locator("#wat-we-doen").inner_text()
    assert served.store.followups(seed.team_a)[0]["theme_id"] == "regie"

    # 5. a theme page with the shared texts
    page.goto(f"{base}/team/{seed.team_a}/thema/opdrachten")
    assert "We missen een vaste contactpersoon" in page.content()
    assert "Dit blijft liever onder ons" not in page.content()
    _no_horizontal_scroll(page)

    # 6. another team: refused, nothing of it shown
    response = page.goto(f"{base}/team/{seed.team_b}")
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Geen toegang"
    assert "Wijkteam Zuid" not in page.content()

    # 7. an expired link and a reused link: refused
    fresh = browser.new_context(viewport=PHONE)
    other = fresh.new_page()
    for url in (expired, link):
        response = other.goto(url)
        assert response is not None and response.status == 403
        assert "Deze link is verlopen of al gebruikt." in other.locator("main").inner_text()
        assert "/dashboard" in other.locator("main").inner_text()
    assert fresh.cookies() == []
    fresh.close()

    # 8. log out: the session ends on the server, so a kept copy of the cookie is worthless
    page.goto(base + "/")
    kept = {c["name"]: c for c in context.cookies()}["teamspiegel_sessie"]
    page.get_by_role("button", name="Uitloggen").click()
    page.wait_for_load_state()
    assert "uitgelogd" in page.locator("main").inner_text()
    assert page.goto(base + "/").status == 401
    context.add_cookies([kept])
    assert {c["name"] for c in context.cookies()} == {"teamspiegel_sessie"}
    for path in ("/", f"/team/{seed.team_a}"):
        response = page.goto(base + path)
        assert response is not None and response.status == 401, path
        assert "Wijkteam Noord" not in page.content()

    context.close()
    assert not [p for p in problems if "favicon" not in p and "401" not in p
                and "403" not in p], problems
    assert outside == []
