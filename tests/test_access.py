"""Who may read a team's reports (issue 9): granted rights, owners, typed invites, group links.

In process: a real Engine on a real SQLite file, with the report hooks installed the way the
application does it. The role a person *answers as* is chosen freely; the right to *read* is
granted by an owner and checked on every request.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.messages import Incoming, Reply
from bot.reports.chat import install
from bot.store import Store
from tests.people import Person
from tests.test_reports_chat import answer, images

Q = "2026-Q1"  # a closed quarter (the clock stands in May 2026): its report is published
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHARED = "Gedeeld met de teamleider: wij werken langs elkaar heen"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooked(store: Store, dialogues, clock: Clock) -> Engine:  # noqa: ANN001
    engine = Engine(store, get_content(), dialogues, clock=clock)
    install(engine, Settings(db_path=Path(store.path), secret_key="x" * 32,
                             web_url="https://dashboard.example"))
    return engine


def t(engine: Engine, key: str, **values: object) -> str:
    return engine.text(key, **values)


def everything(replies: list[Reply]) -> str:
    return "\n".join([r.text for r in replies] + [link.url for r in replies for link in r.links])


def group(engine: Engine, user: str, text: str, chat: str = "groep-1") -> list[Reply]:
    name, _, args = text[1:].partition(" ")
    return engine.handle(Incoming("console", user, chat, "command", text=text, command=name,
                                  args=args, is_group=True))


def join_with(person: Person, code: str, role: str) -> Person:
    """Open an invite link (``/start CODE``), consent and pick the role one answers as."""
    person.type(f"/start {code}")
    person.press("ja")
    person.press(role)
    return person


def demo(person: Person, role: str) -> Person:
    """Onboard into the Demoteam (no invite code)."""
    person.type("/start")
    person.press("ja")
    person.press(role)
    person.press("demo")
    return person


def noord_with_answers(engine: Engine, store: Store) -> tuple[int, str, list[Person]]:
    """Wijkteam Noord: three colleagues answered and shared a text 'with the team leader'."""
    team_id = store.create_team("Wijkteam Noord")
    code = store.create_invite(team_id)
    pros = [Person(engine, f"p{i}").onboard("professional", code) for i in range(3)]
    for i, p in enumerate(pros):
        answer(store, p, team_id, Q, {"regie-1": 2 + i, "samenhang-1": 4},
               {"verandering-4": (f"{SHARED} {i}", True)})
    return team_id, code, pros


def make_owner(store: Store, team_id: int, person: Person) -> Person:
    with store.transaction():
        store.grant_access(team_id, person.id, "owner", by=None, via="cli")
    return person


def code_in(text: str, command: str = "start") -> str:
    match = re.search(rf"/{command} ([A-Za-z0-9_-]{{10,}})", text)
    assert match, text
    return match.group(1)


# -- the self-declared manager ------------------------------------------------------------------


def test_self_declared_manager_gets_nothing(hooked: Engine, store: Store) -> None:
    """Anyone with the team's invite code can say 'Teamleider of manager'. That chooses the
    questions, and gives no report, no dashboard, no shared texts and no group linking."""
    team_id, code, _ = noord_with_answers(hooked, store)
    boss = Person(hooked, "boss").onboard("manager", code)
    assert store.role_in_team(boss.id, team_id) == "manager"  # answers as a manager
    seen: list[Reply] = []
    for command in ("/rapport", "/rapport 3", "/rapport Wijkteam Noord", "/dashboard"):
        replies = boss.type(command)
        seen += replies
        assert t(hooked, "not_manager") in boss.text(), command
    boss.type("/menu")
    menu = [r for r in boss.last if r.is_prompt][-1]
    assert "report" not in [c.value for c in menu.choices]
    seen += boss.press("report")  # the button of an older menu, or typed: still nothing
    seen += boss.type("/help")
    assert "/dashboard" not in boss.text()
    seen += group(hooked, "boss", f"/koppel {code}")
    seen += boss.type("/koppel")
    seen += boss.type("/beheer")
    text = everything(seen)
    assert SHARED not in text and "Gemiddeld" not in text and "Teamrapport" not in text
    assert "/login/" not in text and not images(seen)
    assert store.chat_team("console", "groep-1") is None
    assert store.conn.execute("SELECT COUNT(*) FROM web_logins").fetchone()[0] == 0
    assert not store.may_read_team(boss.id, team_id) and store.report_teams(boss.id) == []
    denied = {e["action"] for e in store.audit_entries() if e["actor_member_id"] == boss.id}
    assert {"chat_report:denied", "dashboard_link:denied", "owner_command:koppel:denied",
            "owner_command:beheer:denied", "link_group:member_code"} <= denied


@pytest.mark.parametrize("role", ["manager", "beleid", "bestuurder", "professional"])
def test_the_member_invite_never_carries_a_right(hooked: Engine, store: Store,
                                                 role: str) -> None:
    team_id, code, _ = noord_with_answers(hooked, store)
    person = join_with(Person(hooked, "nieuw"), code, role)
    assert store.memberships(person.id)[0]["team_id"] == team_id
    assert store.access_of(person.id, team_id) is None
    assert store.report_teams(person.id) == []


def test_demoteam_manager_reads_nobody(hooked: Engine, store: Store) -> None:
    """The Demoteam hands out no right over real people: its 'managers' are whoever picked it."""
    demo_pros = [demo(Person(hooked, f"d{i}"), "professional") for i in range(3)]
    demo_id = store.demo_team()
    for p in demo_pros:
        answer(store, p, demo_id, Q, {"regie-1": 5}, {"verandering-4": (SHARED, True)})
    noord_with_answers(hooked, store)
    boss = demo(Person(hooked, "demo-baas"), "manager")  # the Demoteam, as a manager
    seen = boss.type("/rapport") + boss.type("/dashboard") + boss.type("/rapport 3")
    # what they get is the synthetic example (bot.reports.demo), never a real answer
    assert SHARED not in everything(seen) and "Voorbeeld met verzonnen antwoorden" in everything(seen)
    assert store.report_teams(boss.id) == [] and not store.may_read_team(boss.id, demo_id)
    with pytest.raises(ValueError):
        store.grant_access(demo_id, boss.id, "reader", by=None, via="cli")
    for kind in ("owner", "leader", "group"):
        with pytest.raises(ValueError):
            store.create_typed_invite(demo_id, kind)
    # the demo report (synthetic answers, made by the report lane) is what they may open
    called: list[int | None] = []

    def demo_report(turn: Any) -> list[Reply]:
        called.append(turn.member_id)
        return [Reply("Voorbeeldrapport (verzonnen antwoorden)")]

    real = hooked.plugins.report
    hooked.plugins.report = lambda turn: pytest.fail("the real report was asked for")
    hooked.plugins.demo_report = demo_report
    boss.type("/rapport")
    assert "Voorbeeldrapport (verzonnen antwoorden)" in boss.text() and called == [boss.id]
    boss.type("/menu")
    assert "report" in [c.value for c in [r for r in boss.last if r.is_prompt][-1].choices]
    hooked.plugins.report = real


# -- owners ------------------------------------------------------------------------------------


def test_owner_invite_makes_the_first_owner_once(hooked: Engine, store: Store,
                                                  clock: Clock) -> None:
    team_id = store.create_team("Wijkteam Oost")
    with store.transaction():
        code = store.create_typed_invite(team_id, "owner",
                                         expires_at=clock.now + timedelta(days=14))
    alice = join_with(Person(hooked, "alice"), code, "professional")
    assert t(hooked, "owner_joined", team="Wijkteam Oost", beheer="/beheer") in alice.text()
    assert store.is_owner(alice.id, team_id) and store.may_read_team(alice.id, team_id)
    assert store.role_in_team(alice.id, team_id) == "professional"  # still answers as chosen
    bob = join_with(Person(hooked, "bob"), code, "manager")
    assert t(hooked, "invite_used") in bob.text()
    assert store.memberships(bob.id) == [] and store.report_teams(bob.id) == []
    actions = [e["action"] for e in store.audit_entries(team_id)]
    assert actions.count("invite_used:owner") == 1 and actions.count("grant_owner") == 1
    [grant] = [e for e in store.audit_entries(team_id) if e["action"] == "grant_owner"]
    assert grant["subject_member_id"] == alice.id


def test_an_owner_adds_an_owner_from_the_chat(hooked: Engine, store: Store) -> None:
    team_id, code, pros = noord_with_answers(hooked, store)
    owner = make_owner(store, team_id, pros[0])
    owner.type("/beheer")
    assert owner.text().startswith(t(hooked, "access_menu", team="Wijkteam Noord"))
    owner.press("owner")
    owner.type("Carla")
    invite = code_in(owner.text())
    carla = join_with(Person(hooked, "carla"), invite, "beleid")
    assert store.is_owner(carla.id, team_id)
    [row] = [r for r in store.team_access_list(team_id) if r["member_id"] == carla.id]
    assert (row["label"], row["granted_via"]) == ("Carla", "owner_invite")


# -- leader invites: read rights for a named person ----------------------------------------------


def test_leader_invite_works_once_expires_and_only_an_owner_makes_one(
    hooked: Engine, store: Store, clock: Clock,
) -> None:
    team_id, code, pros = noord_with_answers(hooked, store)
    owner = make_owner(store, team_id, pros[0])
    # a non-owner asks: refused and audited, no invite made
    pros[1].type("/beheer")
    assert t(hooked, "not_owner") in pros[1].text()
    pros[1].press("leader")
    assert store.open_invites(team_id, now=clock.now) == []
    assert any(e["action"] == "owner_command:beheer:denied" and e["actor_member_id"] == pros[1].id
               for e in store.audit_entries())

    owner.type("/beheer")
    owner.press("leader")
    assert owner.text() == t(hooked, "access_ask_name")
    owner.type("\x07" + "x" * 61)  # too long: asked again, nothing made
    assert t(hooked, "access_name_invalid") in owner.text()
    assert store.open_invites(team_id, now=clock.now) == []
    owner.type("Bas  de\tVries")
    made = owner.text()
    assert "Bas de Vries" in made and "Wijkteam Noord" in made and "11-5-2026" in made
    invite = code_in(made)
    [open_invite] = store.open_invites(team_id, now=clock.now)
    assert (open_invite["kind"], open_invite["label"]) == ("leader", "Bas de Vries")

    bas = join_with(Person(hooked, "bas"), invite, "manager")
    assert t(hooked, "reader_joined", team="Wijkteam Noord") in bas.text()
    assert store.access_of(bas.id, team_id) == "reader"
    assert store.open_invites(team_id, now=clock.now) == []
    assert store.conn.execute("SELECT label FROM invites WHERE token = ?", (invite,)
                              ).fetchone()[0] is None  # the name moved to the grant
    bas.type("/rapport 3")
    assert f"{SHARED} 1" in bas.text()  # now they read, shared texts included

    again = join_with(Person(hooked, "meelezer"), invite, "manager")
    assert t(hooked, "invite_used") in again.text()
    assert store.report_teams(again.id) == []

    owner.type("/leesrecht")  # the short way to the same question
    assert owner.text() == t(hooked, "access_ask_name")
    owner.type("Dirk")
    late = code_in(owner.text())
    clock.now += timedelta(days=7, seconds=1)
    dirk = join_with(Person(hooked, "dirk"), late, "manager")
    assert t(hooked, "invite_expired") in dirk.text()
    assert store.report_teams(dirk.id) == []

    actions = [(e["action"], e["actor_member_id"], e["subject_member_id"])
               for e in store.audit_entries(team_id)]
    assert ("invite_created:leader", owner.id, None) in actions
    assert ("invite_used:leader", bas.id, None) in actions
    assert ("grant_read", owner.id, bas.id) in actions


def test_invite_link_and_qr_when_the_platform_has_links(hooked: Engine, store: Store) -> None:
    team_id, _, pros = noord_with_answers(hooked, store)
    owner = make_owner(store, team_id, pros[0])
    asked: list[tuple[str, str, bool]] = []

    def invite_link(platform: str, token: str, group: bool = False) -> str:
        asked.append((platform, token, group))
        kind = "startgroup" if group else "start"
        return f"https://t.me/testbot?{kind}={token}"

    hooked.plugins.invite_link = invite_link
    owner.type("/beheer")
    owner.press("leader")
    replies = owner.type("Els")
    [made] = [r for r in replies if r.links]
    token = asked[-1][1]
    assert made.links[0].url == f"https://t.me/testbot?start={token}"
    assert made.image is not None and made.image[1].startswith(PNG_MAGIC)
    replies = owner.type("/koppel")
    [made] = [r for r in replies if r.links]
    assert made.links[0].url == f"https://t.me/testbot?startgroup={asked[-1][1]}"
    assert asked[-1][2] is True


def test_owner_lists_and_revokes_readers_in_the_chat(hooked: Engine, store: Store,
                                                     clock: Clock) -> None:
    team_id, code, pros = noord_with_answers(hooked, store)
    owner = make_owner(store, team_id, pros[0])
    owner.type("/beheer")
    owner.press("leader")
    owner.type("Bas")
    bas = join_with(Person(hooked, "bas"), code_in(owner.text()), "manager")
    owner.press("leader")
    owner.type("Open Uitnodiging")
    colleague = pros[1]
    with store.transaction():
        store.grant_access(team_id, colleague.id, "reader", by=None, via="cli")
    owner.press("readers")
    listing = owner.text()
    assert "Bas: lezer" in listing and "(jij)" in listing and "Open Uitnodiging" in listing
    values = [c.value for c in [r for r in owner.last if r.is_prompt][-1].choices]
    assert f"revoke:{bas.id}" in values and f"revoke:{colleague.id}" in values
    assert f"revoke:{owner.id}" not in values  # owners are not offered
    assert "p1" not in listing and "p0" not in listing  # no names but the labels
    # a value that was not offered is not accepted at all
    owner.send("choice", text=f"revoke:{owner.id}", value=f"revoke:{owner.id}")
    assert t(hooked, "unknown_input") in owner.text() and store.is_owner(owner.id, team_id)
    # the colleague became an owner after the list was shown: the old button removes nothing
    make_owner(store, team_id, colleague)
    owner.press(f"revoke:{colleague.id}")
    owner.press("ja")  # taking a right away is confirmed first (issue 10)
    assert t(hooked, "owner_not_revoked") in owner.text()
    assert store.is_owner(colleague.id, team_id)
    owner.press(f"revoke:{bas.id}")
    owner.press("ja")
    assert t(hooked, "reader_revoked", name="Bas") in owner.text()
    seen = bas.type("/rapport 3")
    assert t(hooked, "not_manager") in bas.text() and SHARED not in everything(seen)
    [uninvite] = [v for v in values if v.startswith("uninvite:")]
    owner.press(uninvite)
    owner.press("ja")
    assert t(hooked, "invite_cancelled", name="Open Uitnodiging") in owner.text()
    assert store.open_invites(team_id, now=clock.now) == []
    assert ("revoke_read", owner.id, bas.id) in [
        (e["action"], e["actor_member_id"], e["subject_member_id"])
        for e in store.audit_entries(team_id)]


def test_ownership_is_checked_again_at_every_step(hooked: Engine, store: Store,
                                                  clock: Clock) -> None:
    noord, code, pros = noord_with_answers(hooked, store)
    zuid = store.create_team("Wijkteam Zuid")
    owner = make_owner(store, noord, pros[0])
    with store.transaction():
        store.join_team(owner.id, zuid, "manager")
        store.grant_access(zuid, owner.id, "owner", by=None, via="cli")
    owner.type("/beheer")
    assert owner.text() == t(hooked, "access_pick_team")
    owner.press(str(zuid))
    assert owner.text().startswith(t(hooked, "access_menu", team="Wijkteam Zuid"))
    owner.press("leader")
    with store.transaction():  # the operator takes the ownership away meanwhile
        store.revoke_access(zuid, owner.id, by=None, owners=True)
    owner.type("Eva")
    assert t(hooked, "not_owner") in owner.text()
    assert store.open_invites(zuid, now=clock.now) == []
    assert any(e["action"] == "invite_leader:denied" and e["team_id"] == zuid
               for e in store.audit_entries())


# -- group chats -------------------------------------------------------------------------------


def test_group_link_code_single_use_owner_only_and_expiring(hooked: Engine, store: Store,
                                                            clock: Clock) -> None:
    team_id, code, pros = noord_with_answers(hooked, store)
    owner = make_owner(store, team_id, pros[0])
    owner.type("/koppel")
    link_code = code_in(owner.text(), "koppel")
    assert "15 minuten" in owner.text()
    # in the group a colleague tries it first (Matrix: everyone sees the code)
    assert group(hooked, "p1", f"/koppel {link_code}")[0].text == t(hooked, "group_link_denied")
    assert store.chat_team("console", "groep-1") is None
    # Telegram's startgroup link sends /start CODE from the owner in the chosen group
    linked = group(hooked, "p0", f"/start {link_code}")
    assert linked[0].text == t(hooked, "group_linked", team="Wijkteam Noord")
    assert store.chat_team("console", "groep-1") == team_id
    assert group(hooked, "p0", f"/koppel {link_code}", "groep-2")[0].text == t(
        hooked, "group_code_invalid")
    owner.type("/koppel")
    late = code_in(owner.text(), "koppel")
    clock.now += timedelta(minutes=15, seconds=1)
    assert group(hooked, "p0", f"/koppel {late}", "groep-3")[0].text == t(
        hooked, "group_code_invalid")
    assert store.chat_team("console", "groep-3") is None
    # a group code typed where a person joins does not join anybody
    owner.type("/koppel")
    stray = code_in(owner.text(), "koppel")
    someone = Person(hooked, "someone")
    someone.type("/start")
    someone.press("ja")
    someone.press("professional")
    someone.type(stray)
    assert t(hooked, "invite_group_code_private", cmd="/koppel") in someone.text()
    assert store.memberships(someone.id) == []


def test_a_personal_invite_pasted_in_a_group_is_revoked(hooked: Engine, store: Store) -> None:
    team_id, code, pros = noord_with_answers(hooked, store)
    owner = make_owner(store, team_id, pros[0])
    owner.type("/beheer")
    owner.press("leader")
    owner.type("Fleur")
    invite = code_in(owner.text())
    assert group(hooked, "p0", f"/koppel {invite}")[0].text == t(hooked, "group_invite_exposed")
    reader = join_with(Person(hooked, "meekijker"), invite, "manager")
    assert t(hooked, "invite_revoked") in reader.text()
    assert store.report_teams(reader.id) == []


def test_group_start_without_our_code_points_to_the_private_chat(hooked: Engine) -> None:
    for text in ("/start", "/start tip-2026-03", "/start onzin"):
        replies = group(hooked, "x", text)
        assert replies[0].text == t(hooked, "group_private"), text


# -- member ids and member invite codes ------------------------------------------------------


def test_member_ids_are_random_and_never_come_back(store: Store) -> None:
    first = store.get_or_create_member("telegram", "1")
    with store.transaction():
        store.delete_member(first)
    second = store.get_or_create_member("telegram", "2")
    assert second != first
    ids = [store.get_or_create_member("telegram", f"n{i}") for i in range(200)]
    assert len(set(ids)) == 200
    assert all(2**40 <= i < 2**63 for i in [first, second, *ids])
    assert ids != sorted(ids)  # not sequential


def test_rotating_the_member_invite_stops_old_codes(hooked: Engine, store: Store) -> None:
    team_id = store.create_team("Wijkteam West")
    old = [store.create_invite(team_id) for _ in range(2)]
    with store.transaction():
        new, revoked = store.rotate_member_invite(team_id)
    assert revoked == 2
    assert [store.resolve_invite(c)[1] for c in old] == ["revoked", "revoked"]
    assert store.resolve_invite(new) == (team_id, "ok")
    late = Person(hooked, "laat")
    join_with(late, old[0], "professional")
    assert t(hooked, "invite_revoked") in late.text()


def test_invite_tokens_never_look_like_an_option(store: Store) -> None:
    """``teamspiegel team revoke -abc…`` would read a leading '-' as an option (1 in 64)."""
    team_id = store.create_team("Wijkteam Opties")
    tokens = [store.create_invite(team_id) for _ in range(400)]
    with store.transaction():
        tokens += [store.create_typed_invite(team_id, "leader") for _ in range(400)]
    assert not [t for t in tokens if t.startswith("-")]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", t) for t in tokens)
