"""The dashboard in a real browser: Debian's Chromium driven by Playwright, the real app served
by uvicorn on 127.0.0.1 over a SQLite file. No skip: if Chromium cannot start, this fails."""

from __future__ import annotations

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
from tests.test_mirror_views import GAP, MirrorSeed, seed_mirror
from tests.waiting import PATIENCE
from tests.web_support import Seed, read_csv, seed_dashboard

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
PHONE = {"width": 390, "height": 844}
SCREENSHOT_COPY = Path("/tmp/teamspiegel-dashboard.png")
#: screenshots kept as test artifacts (gitignored)
ARTIFACTS = Path(__file__).parent / "artifacts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Served:
    base: str
    store: Store
    settings: Settings
    seed: Seed
    mirror: MirrorSeed


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = Store(tmp_path / "browser.db")
    seed = seed_dashboard(store)
    mirror = seed_mirror(store)
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
    deadline = time.monotonic() + PATIENCE
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(base, store, settings, seed, mirror)
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
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .filter(e => !e.closest('.scroll'))
        .map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 30))
        .slice(0, 5)""")
    assert width <= PHONE["width"], f"page is {width}px wide on a {PHONE['width']}px phone: {wide}"


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

    # 2. the team page: the mirror and the summary
    page.get_by_role("link", name="Wijkteam Noord").first.click()
    page.wait_for_url(f"{base}/team/{seed.team_a}")
    assert page.locator("h1").inner_text() == "Wijkteam Noord"
    mirror = page.locator("#spiegel table.mirror")
    assert mirror.count() == 1
    assert mirror.locator("td[data-group='team'][data-mean='4.2']").count() == 1  # samenhang
    assert mirror.bounding_box()["width"] <= PHONE["width"]
    summary = page.locator(".summary").inner_text()
    assert "Deelname Q1 2026: 4 of meer van de 7 teamleden." in summary
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
    rows = read_csv(Path(download.path()).read_bytes())
    assert list(rows[0].keys()) == export_columns()
    assert {r["Ronde"] for r in rows} == {"Q4 2025", "Q1 2026"}
    assert "Noord Collega" not in Path(download.path()).read_text("utf-8")

    # 4. "Wat we ermee doen": an action with who and by when, then done (CSRF token +
    #    SameSite=Strict cookie in a real browser)
    page.select_option("#theme_id", "regie")
    page.fill("#text", "Vanaf mei een vast casusoverleg met de gemeente.")
    page.select_option("#who", "teamleider")
    due = (datetime.now(UTC) + timedelta(days=60)).date()
    page.fill("#due", due.isoformat())
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_url(f"{base}/team/{seed.team_a}#wat-we-doen")
    listed = page.locator("#wat-we-doen").inner_text()
    assert "Vanaf mei een vast casusoverleg" in listed
    assert f"de teamleider, vóór {due.day}-{due.month}-{due.year}" in listed
    [action] = served.store.team_actions(seed.team_a)
    assert (action["theme_id"], action["who"], action["status"]) == ("regie", "teamleider", "open")
    with page.expect_navigation():
        page.locator("#wat-we-doen").get_by_role("button", name="Klaar").click()
    assert served.store.team_actions(seed.team_a)[0]["status"] == "done"
    assert "klaar op" in page.locator("#wat-we-doen").inner_text()

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


#: every element of the mirror section with its own text, and its computed font size in px
FONT_SIZES = """
(root) => [...root.querySelectorAll('*')]
  .filter(el => [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
  .filter(el => el.getClientRects().length > 0)
  .map(el => ({text: el.textContent.trim().slice(0, 40),
               size: parseFloat(getComputedStyle(el).fontSize)}))
"""


def test_the_mirror_is_readable_on_a_390_px_phone(served: Served, browser: Browser,
                                                  tmp_path: Path) -> None:
    """The dashboard's mirror at 390 px: no text under 12 px (computed in Chromium), nothing
    wider than the screen, no word cut; a screenshot is kept as a test artifact."""
    base, mirror = served.base, served.mirror
    context = browser.new_context(viewport=PHONE, locale="nl-NL")
    page = context.new_page()
    page.goto(create_login_link(served.store, mirror.bea, served.settings))
    page.wait_for_url(base + "/")
    assert "De spiegel naast elkaar" in page.locator("main").inner_text()
    assert "Wijkteam Ander" not in page.content()
    page.goto(f"{base}/team/{mirror.spiegel}")
    section = page.locator("#spiegel")
    assert GAP in section.inner_text()
    sizes = section.evaluate(FONT_SIZES)
    assert len(sizes) > 40  # the titles, the heads, every value
    small = [s for s in sizes if s["size"] < 12]
    assert not small, small
    table = section.locator("table.mirror")
    box = table.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1")
    # long theme titles wrap between words, never inside one
    heights = section.locator("th.row-title").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) > min(heights)  # some titles take two lines ...
    assert section.locator("th.row-title").evaluate_all(
        "els => els.every(e => getComputedStyle(e).wordBreak === 'normal'"
        " && getComputedStyle(e).hyphens !== 'auto')")
    _no_horizontal_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp_path / "mirror-390.png"
    section.screenshot(path=str(shot))
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    shutil.copyfile(shot, ARTIFACTS / "mirror-390.png")
    page.goto(f"{base}/team/{mirror.klein}")
    assert page.locator("#spiegel td[data-group='beleid'][data-mean]").count() == 0
    context.close()
