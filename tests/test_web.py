"""The manager dashboard over HTTP (Starlette TestClient, a real SQLite file)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import openpyxl
import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.store import Store
from bot.web import create_app, create_login_link
from bot.web.auth import COOKIE_NAME, SessionSigner
from tests.web_support import (
    EXPORT_COLUMNS,
    SECRET,
    START,
    Clock,
    Seed,
    assert_page_is_clean,
    csrf_of,
    link_path,
    login,
    nl_float,
    read_csv,
)

# --------------------------------------------------------------------------------------------
# Login links and sessions


def test_login_link_is_single_use(client: TestClient, store: Store, settings: Settings,
                                  seeded: Seed) -> None:
    path = link_path(store, settings, seeded.manager)
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 40
    # only the hash is stored
    stored = store.conn.execute("SELECT token_hash FROM web_logins").fetchall()
    assert all(token not in row[0] for row in stored)

    r = client.get(path)
    assert r.status_code == 200
    assert '<meta http-equiv="refresh" content="0;url=/">' in r.text
    assert_page_is_clean(r)
    assert client.get("/").status_code == 200

    client.cookies.clear()
    again = client.get(path)
    assert again.status_code == 403
    assert "Deze link is verlopen of al gebruikt. Vraag in de chat een nieuwe met /dashboard." \
        in again.text
    assert COOKIE_NAME not in again.headers.get("set-cookie", "")
    assert client.get("/").status_code == 401


def test_expired_and_unknown_links_refused(client: TestClient, store: Store, settings: Settings,
                                           seeded: Seed, clock: Clock) -> None:
    path = link_path(store, settings, seeded.manager)
    clock.now = START + timedelta(minutes=16)
    r = client.get(path)
    assert r.status_code == 403 and "verlopen of al gebruikt" in r.text
    assert "set-cookie" not in r.headers

    unknown = client.get("/login/" + "x" * 43)
    assert unknown.status_code == 403 and unknown.text == r.text

    # just before the expiry a fresh link still works
    fresh = link_path(store, settings, seeded.manager, now=clock.now)
    clock.now += timedelta(minutes=14)
    assert client.get(fresh).status_code == 200


def test_link_previews_do_not_use_up_the_link(client: TestClient, store: Store,
                                              settings: Settings, seeded: Seed) -> None:
    path = link_path(store, settings, seeded.manager)
    assert client.head(path).status_code == 200
    preview = client.get(path, headers={"user-agent": "TelegramBot (like TwitterBot)"})
    assert preview.status_code == 200 and "set-cookie" not in preview.headers
    assert client.get(path).status_code == 200  # the person still gets in
    assert COOKIE_NAME in client.cookies


def test_cookie_flags(client: TestClient, store: Store, settings: Settings, seeded: Seed) -> None:
    r = client.get(link_path(store, settings, seeded.manager))
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert "Max-Age=28800" in cookie

    r = client.get(link_path(store, settings, seeded.manager),
                   headers={"x-forwarded-proto": "https"})
    cookie = r.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_tampered_or_foreign_cookie_rejected(client: TestClient, store: Store,
                                             settings: Settings, seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    value = client.cookies[COOKIE_NAME]
    member, expires, nonce, sig = value.split(".")
    assert int(member) == seeded.manager
    forged = [
        f"{seeded.other_manager}.{expires}.{nonce}.{sig}",  # someone else
        f"{member}.{int(expires) + 86400}.{nonce}.{sig}",  # longer
        f"{member}.{expires}.{nonce}.{sig[:-2]}AA",  # signature changed
        f"{member}.{expires}.{nonce}",  # no signature
        SessionSigner("another-secret").issue(seeded.manager, START)[0],  # other key
        "",
        "rommel",
    ]
    for bad in forged:
        client.cookies.clear()
        client.cookies.set(COOKIE_NAME, bad)
        r = client.get(f"/team/{seeded.team_a}")
        assert r.status_code == 401, bad
        assert "/dashboard" in r.text
        assert "Wijkteam Noord" not in r.text
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, value)
    assert client.get(f"/team/{seeded.team_a}").status_code == 200


def test_session_expires(client: TestClient, store: Store, settings: Settings, seeded: Seed,
                         clock: Clock) -> None:
    login(client, store, settings, seeded.manager)
    clock.now = START + timedelta(hours=7, minutes=59)
    assert client.get("/").status_code == 200
    clock.now = START + timedelta(hours=8, minutes=1)
    r = client.get("/")
    assert r.status_code == 401
    assert "Stuur in de chat /dashboard" in r.text


def test_not_logged_in(client: TestClient, seeded: Seed) -> None:
    for path in ("/", f"/team/{seeded.team_a}", f"/team/{seeded.team_a}/export.csv",
                 f"/team/{seeded.team_a}/tips", f"/team/{seeded.team_a}/thema/samenhang"):
        r = client.get(path)
        assert r.status_code == 401
        assert "/dashboard" in r.text
        assert "Wijkteam Noord" not in r.text
        assert_page_is_clean(r)
    r = client.post(f"/team/{seeded.team_a}/followup", data={"theme_id": "regie", "text": "x"})
    assert r.status_code == 401


def test_logout(client: TestClient, store: Store, settings: Settings, seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    page = client.get("/")
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/").status_code == 200
    r = client.post("/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and "uitgelogd" in r.text
    assert 'Max-Age=0' in r.headers["set-cookie"]
    assert client.get("/").status_code == 401


# --------------------------------------------------------------------------------------------
# Team isolation


B_SECRETS = ("Wijkteam Zuid", "Zuidgeheim", "Zuidactie", "1,3", "Otto")


def test_other_team_and_unknown_team_look_the_same(client: TestClient, store: Store,
                                                   settings: Settings, seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    bodies = set()
    for team in (seeded.team_b, 424242, 2**64):
        for suffix in ("", "/thema/tijd", "/thema/bestaat-niet", "/tips", "/export.csv",
                       "/export.xlsx"):
            r = client.get(f"/team/{team}{suffix}")
            assert r.status_code == 403, (team, suffix)
            assert_page_is_clean(r)
            for secret in B_SECRETS:
                assert secret not in r.text
            visible = re.sub(r'name="csrf" value="[^"]*"', "", r.text)
            assert not re.search(rf"(?<![\w-]){team}(?![\w-])", visible)
            bodies.add(r.text)
        r = client.post(f"/team/{team}/followup",
                        data={"csrf": csrf_of(client.get("/").text), "theme_id": "tijd",
                              "text": "Proberen"})
        assert r.status_code == 403
        bodies.add(r.text)
    assert len(bodies) == 1  # one and the same page, whatever was asked
    assert store.followups(seeded.team_b)[0]["text"] == "Zuidactie tijdsinvestering"
    assert len(store.followups(seeded.team_b)) == 1

    overview = client.get("/")
    assert "Wijkteam Noord" in overview.text and "Klein Team West" in overview.text
    for secret in B_SECRETS:
        assert secret not in overview.text
    denied = [e for e in store.audit_entries(seeded.team_b) if e["action"].endswith(":denied")]
    assert len(denied) >= 7 and all(e["actor_member_id"] == seeded.manager for e in denied)


def test_professional_sees_no_team(client: TestClient, store: Store, settings: Settings,
                                   seeded: Seed) -> None:
    login(client, store, settings, seeded.professional)
    r = client.get("/")
    assert r.status_code == 200
    assert "nog geen teams" in r.text
    assert "Wijkteam Noord" not in r.text
    for path in (f"/team/{seeded.team_a}", f"/team/{seeded.team_a}/export.csv"):
        assert client.get(path).status_code == 403


# --------------------------------------------------------------------------------------------
# What a manager sees


def test_overview_compares_own_teams(client: TestClient, store: Store, settings: Settings,
                                     seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get("/")
    assert r.status_code == 200
    assert_page_is_clean(r)
    assert "Hoi!" in r.text and "Mirjam" not in r.text  # no names are kept
    assert "Teams naast elkaar (Q1 2026)" in r.text
    # team A, Q1 2026: samenhang (3+4+4+4+5+5)/6 = 4,2
    assert "4,2" in r.text
    assert f'href="/team/{seeded.team_a}"' in r.text and f'href="/team/{seeded.team_c}"' in r.text
    assert "Deelname Q1 2026</dt>\n      <dd>minder dan 3 van de 3 teamleden" in r.text  # C


def test_team_page_k_rule(client: TestClient, store: Store, settings: Settings,
                          seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get(f"/team/{seeded.team_a}")
    assert r.status_code == 200
    assert_page_is_clean(r)
    html = unescape(r.text)
    assert "<h1>Wijkteam Noord</h1>" in html
    assert 'id="spiegel"' in html and 'data-mean="4.2"' in html  # the mirror, team column
    assert "4.17" not in html  # one decimal, also in the mirror
    # six of seven took part and the reader did not: one other did not, so no exact count
    assert "Deelname Q1 2026: 4 of meer van de 7 teamleden." in html
    assert "Q4 2025" in html and "Q1 2026" in html
    assert "4,2" in html and "5-9 mensen" in html and "± " not in html
    assert "Lopende ronde Q2 2026: tot nu toe minder dan 3 van de 7 teamleden." in html
    assert "Wat we ermee doen" in html
    assert f'href="/team/{seeded.team_a}/export.csv"' in html

    small = client.get(f"/team/{seeded.team_c}")
    assert small.status_code == 200
    assert "<h1>Klein Team West</h1>" in small.text
    assert 'class="num"' not in small.text
    assert "data-mean" not in small.text
    assert "minder dan 3 mensen" in small.text
    assert "Nog te weinig" in small.text
    assert "4,5" not in small.text  # the mean of the two answers


def test_theme_page_questions_distribution_and_shared_texts(
    client: TestClient, store: Store, settings: Settings, seeded: Seed
) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get(f"/team/{seeded.team_a}/thema/samenhang")
    assert r.status_code == 200
    assert_page_is_clean(r)
    html = r.text
    # Q4 2025, six people 2,2,2,5,5,5: the spread in words, never a distribution
    assert "veel verschil" in html
    assert "laag 3" not in html and 'class="dist"' not in html
    assert "3,5" in html  # Q4 mean of samenhang-1

    texts = client.get(f"/team/{seeded.team_a}/thema/opdrachten").text
    assert "Meer overleg met de gemeente helpt ons" in texts
    assert "We missen een vaste contactpersoon" in texts
    assert "Dit blijft liever onder ons" not in texts  # no consent to share
    assert "Noord Collega" not in texts  # never who wrote it

    small = client.get(f"/team/{seeded.team_c}/thema/samenhang").text
    assert 'class="num"' not in small and "minder dan 3 mensen" in small

    assert client.get(f"/team/{seeded.team_a}/thema/bestaat-niet").status_code == 404


def test_tips_page(client: TestClient, store: Store, settings: Settings, seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get(f"/team/{seeded.team_a}/tips")
    assert r.status_code == 200
    assert_page_is_clean(r)
    html = r.text
    assert "januari 2026" in html and "februari 2026" in html
    assert "4,0" in html and "(3-4 reacties)" in html  # a band, never an exact count
    assert "april 2026: tot nu toe minder dan 3 reacties" in html  # the running month
    assert "Heel herkenbaar bij ons" in html
    assert "Prive reactie niet delen" not in html
    assert "Te weinig reacties om te tonen" not in html  # February: only 2 reactions
    assert "minder dan 3 reacties" in html
    assert "Verjaardagskalender" in html  # source attribution


def test_followup_needs_csrf_and_is_saved(client: TestClient, store: Store, settings: Settings,
                                          seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    page = client.get(f"/team/{seeded.team_a}").text
    token = csrf_of(page)
    url = f"/team/{seeded.team_a}/followup"
    data = {"theme_id": "regie", "text": "We plannen elke maand een casusoverleg.", "back": "team"}

    assert client.post(url, data=data).status_code == 403
    tampered = ("y" if token[0] == "x" else "x") + token[1:]  # always differs from the token
    assert client.post(url, data={**data, "csrf": tampered}).status_code == 403
    # a token of another session does not work either
    other = SessionSigner(SECRET).issue(seeded.manager, START)[1]
    assert client.post(url, data={**data, "csrf": SessionSigner(SECRET).csrf_token(other)}
                       ).status_code == 403
    assert store.followups(seeded.team_a) == []

    r = client.post(url, data={**data, "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"/team/{seeded.team_a}#wat-we-doen"
    saved = store.followups(seeded.team_a)
    assert [(f["theme_id"], f["text"]) for f in saved] == [("regie", data["text"])]
    html = client.get(f"/team/{seeded.team_a}").text
    assert data["text"] in html

    bad = client.post(url, data={"csrf": token, "theme_id": "regie", "text": "   "})
    assert bad.status_code == 400 and "Schrijf kort op" in bad.text
    bad = client.post(url, data={"csrf": token, "theme_id": "onbekend", "text": "iets"})
    assert bad.status_code == 400 and "Kies een thema" in bad.text
    escaped = client.post(url, data={"csrf": token, "theme_id": "tijd", "back": "thema",
                                     "text": "<b>vet</b>"})
    assert escaped.headers["location"] == f"/team/{seeded.team_a}/thema/tijd#wat-we-doen"
    theme_page = client.get(f"/team/{seeded.team_a}/thema/tijd").text
    assert "&lt;b&gt;vet&lt;/b&gt;" in theme_page and "<b>vet</b>" not in theme_page


# --------------------------------------------------------------------------------------------
# Exports


def _member_ids(store: Store) -> set[str]:
    return {str(r[0]) for r in store.conn.execute("SELECT id FROM members")}


def test_csv_export_holds_aggregates_only(client: TestClient, store: Store, settings: Settings,
                                          seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get(f"/team/{seeded.team_a}/export.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert_page_is_clean(r)
    rows = read_csv(r.content)
    assert rows and tuple(rows[0].keys()) == EXPORT_COLUMNS
    assert all(row["Team"] == "Wijkteam Noord" for row in rows)
    people = "Aantal mensen (ongeveer)"
    for row in rows:
        if row["Getoond"] == "ja" and row[people] and row["Niveau"] != "deelname":
            assert row[people] in ("3-4", "5-9")  # a band, never an exact count
        if row["Getoond"] == "nee":
            assert row["Gemiddelde (1-5)"] == ""
        assert row["Getoond"] in ("ja", "nee")  # never True/False
    assert {row["Ronde"] for row in rows} == {"Q4 2025", "Q1 2026"}
    for secret in ("Meer overleg", "Dit blijft", "Noord Collega", "Mirjam", "member"):
        assert secret not in r.content.decode("utf-8-sig")
    total = next(row for row in rows if row["Niveau"] == "totaal" and row["Ronde"] == "Q1 2026")
    assert total["Getoond"] == "ja" and nl_float(total["Gemiddelde (1-5)"]) > 0
    question = next(row for row in rows if row["Vraag-id"] == "samenhang-1")
    assert question["Vraag"].startswith("Is er sprake van een gezamenlijk gedragen visie")

    small = read_csv(client.get(f"/team/{seeded.team_c}/export.csv").content)
    assert small and all(row["Getoond"] == "nee" and row["Gemiddelde (1-5)"] == ""
                         for row in small)


def test_xlsx_export_opens_and_holds_aggregates_only(
    client: TestClient, store: Store, settings: Settings, seeded: Seed
) -> None:
    login(client, store, settings, seeded.manager)
    r = client.get(f"/team/{seeded.team_a}/export.xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert r.headers["content-disposition"].startswith("attachment;")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    ws = wb["Teamspiegel"]
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == EXPORT_COLUMNS
    csv_rows = read_csv(client.get(f"/team/{seeded.team_a}/export.csv").content)
    assert len(values) - 1 == len(csv_rows)
    header = values[0]
    for row in values[1:]:
        rec = dict(zip(header, row, strict=True))
        assert rec["Team"] == "Wijkteam Noord" and rec["Getoond"] in ("ja", "nee")
        mean = rec["Gemiddelde (1-5)"]
        assert mean is None or isinstance(mean, float)  # a real number in Excel
        if rec["Getoond"] == "ja" and rec["Niveau"] not in ("deelname", "spiegel: thema per groep"):
            assert rec["Aantal mensen (ongeveer)"] in ("3-4", "5-9")
    notes = " ".join(str(v[0]) for v in wb["Uitleg"].iter_rows(values_only=True))
    assert "(Nederlandse tijd)" in notes and "UTC" not in notes
    flat = " ".join(str(v) for row in values for v in row if v is not None)
    for secret in ("Meer overleg", "Noord Collega", "Mirjam"):
        assert secret not in flat
    assert "Uitleg" in wb.sheetnames


def test_audit_log_has_views_and_exports(client: TestClient, store: Store, settings: Settings,
                                         seeded: Seed) -> None:
    login(client, store, settings, seeded.manager)
    for path in ("", "/thema/regie", "/tips", "/export.csv", "/export.xlsx"):
        assert client.get(f"/team/{seeded.team_a}{path}").status_code == 200
    actions = [(e["action"], e["actor_member_id"]) for e in store.audit_entries(seeded.team_a)]
    for action in ("dashboard_team", "dashboard_theme", "dashboard_tips",
                   "dashboard_export_csv", "dashboard_export_xlsx"):
        assert (action, seeded.manager) in actions
    logins = [e for e in store.audit_entries() if e["action"] == "dashboard_login"]
    assert [e["actor_member_id"] for e in logins] == [seeded.manager]


# --------------------------------------------------------------------------------------------
# Headers, static files, phones


def test_security_headers_everywhere(client: TestClient, store: Store, settings: Settings,
                                     seeded: Seed) -> None:
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert_page_is_clean(css)
    assert "url(" not in css.text and "@import" not in css.text
    assert "@media" in css.text
    assert_page_is_clean(client.get("/bestaat-niet"))
    login(client, store, settings, seeded.manager)
    for path in ("/", f"/team/{seeded.team_a}", f"/team/{seeded.team_b}", "/nergens"):
        r = client.get(path)
        assert_page_is_clean(r)
        assert "x-frame-options" in r.headers


def test_login_link_uses_default_url(store: Store, seeded: Seed, tmp_path: Path) -> None:
    link = create_login_link(store, seeded.manager, Settings(db_path=tmp_path / "x.db"))
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/login/[A-Za-z0-9_-]{43}", link)


def test_server_error_page_is_dutch_and_safe(store: Store, settings: Settings, clock: Clock,
                                              seeded: Seed, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    app = create_app(store, settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        login(c, store, settings, seeded.manager)

        def broken(member_id: int) -> list:
            raise RuntimeError("database on fire")

        monkeypatch.setattr(store, "report_teams", broken)
        r = c.get("/")
        assert r.status_code == 500
        assert "Er ging iets mis" in r.text and "fire" not in r.text
        assert_page_is_clean(r)
