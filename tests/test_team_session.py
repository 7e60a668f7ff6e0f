"""The team conversation (issue 12, part 2) through the engine, on a real SQLite file.

An owner runs ``/gesprek`` in a linked group; members vote privately with the buttons of the
ballot in their private chat; the group sees counts and, from ``k + 1`` votes, the result;
``/gesprek klaar`` sums up and the owner writes the agreements down as actions. Every message
to the group or a member is an outbox row (sent by the dispatcher under the group limit), so
the tests read the outbox as the chats would receive it. The end-to-end runs over the fake Bot
API and the real Synapse are in ``test_team_session_e2e.py``.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.messages import Incoming, Reply, reply_from_payload
from bot.engine.session import vote_threshold
from bot.reports.chat import install as install_reports
from bot.reports.sessions import install as install_sessions
from bot.store import Store
from bot.teamadmin import install as install_team_admin
from tests.test_reports_chat import PLATFORM, Person, answer

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # a Monday; 2026-Q1 is closed and published
GROUP = "groep-noord"
K = 3


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def build(path: Path, clock: Clock, dialogues: Any) -> Engine:
    engine = Engine(Store(path), get_content(), dialogues, clock=clock,
                    settings={"min_group": K})
    settings = Settings(db_path=path)
    install_reports(engine, settings)
    install_sessions(engine, settings)
    install_team_admin(engine, settings)
    return engine


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def eng(tmp_path: Path, clock: Clock, dialogues: Any) -> Engine:
    engine = build(tmp_path / "teamspiegel.db", clock, dialogues)
    yield engine
    engine.store.close()


def group(engine: Engine, user: str, text: str, *, chat: str = GROUP, platform: str = PLATFORM,
          **extra: Any) -> list[Reply]:
    name, _, args = text[1:].partition(" ")
    return engine.handle(Incoming(platform, user, chat, "command", text=text, command=name,
                                  args=args, is_group=True, **extra))


class Team:
    """A team with an owner and members, each with a private chat, and a linked group."""

    def __init__(self, engine: Engine, size: int = 6) -> None:
        store = engine.store
        self.engine = engine
        self.id = store.create_team("Wijkteam Noord")
        code = store.create_invite(self.id)
        self.owner = Person(engine, "eigenaar").onboard("manager", code)
        with store.transaction():
            store.grant_access(self.id, self.owner.id, "owner", by=None, via="cli")
            store.link_chat(PLATFORM, GROUP, self.id, self.owner.id)
        self.members = [Person(engine, f"lid{i}").onboard("professional", code)
                        for i in range(size - 1)]

    @property
    def everyone(self) -> list[Person]:
        return [self.owner, *self.members]


def rows(store: Store, kind: str | None = None, chat: str | None = None) -> list[dict]:
    sql = "SELECT * FROM outbox WHERE 1=1"
    params: list[Any] = []
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    if chat:
        sql += " AND chat_id = ?"
        params.append(chat)
    return store._all(sql + " ORDER BY id", tuple(params))


def group_text(store: Store) -> str:
    """Everything the group will read, in the order it is sent (pending and sent rows)."""
    out = []
    for row in rows(store, chat=GROUP):
        if row["status"] == "cancelled":
            continue
        out += [r.text for r in map(reply_from_payload, json.loads(row["payload"]))]
    return "\n".join(out)


def ballot(store: Store, person: Person) -> Reply:
    """The newest private vote in a person's private chat."""
    found = [r for r in rows(store, "ballot", person.user) if r["status"] == "pending"]
    assert found, f"no ballot for {person.user}"
    return reply_from_payload(json.loads(found[-1]["payload"])[0])


def vote(store: Store, person: Person, option: str) -> list[Reply]:
    """Press the ballot's button for ``option`` (its value, e.g. "4" or "a")."""
    reply = ballot(store, person)
    value = next(c.value for c in reply.choices if c.value.rsplit(":", 1)[1] == option)
    return person.send("choice", text=value, value=value)


def session_tables(store: Store) -> dict[str, list[tuple]]:
    names = ["team_sessions", "session_items", "session_votes", "session_ballots"]
    return {n: store.conn.execute(f"SELECT * FROM {n}").fetchall() for n in names}


# -- starting, and who may -------------------------------------------------------------------


def test_only_an_owner_of_the_linked_team_starts_a_conversation(eng: Engine) -> None:
    team = Team(eng)
    store = eng.store
    refused = group(eng, team.members[0].user, "/gesprek 4")
    assert refused[0].text == eng.text("session_owner_only")
    assert store.open_session(PLATFORM, GROUP) is None
    assert any(e["action"] == "session:denied" and e["actor_member_id"] == team.members[0].id
               for e in store.audit_entries(team.id))
    # a group that is not linked: nothing starts, and it says how to link
    unlinked = group(eng, team.owner.user, "/gesprek 4", chat="andere-groep")
    assert unlinked[0].text == eng.text("session_not_linked")
    # in the private chat the command points to the group
    assert team.owner.type("/gesprek 4")[0].text == eng.text("session_in_group")


def test_a_theme_runs_as_votes_prompts_and_a_calendar_quote(eng: Engine) -> None:
    team = Team(eng)
    store = eng.store
    assert group(eng, team.owner.user, "/gesprek 4") == []  # everything goes via the outbox
    session = store.open_session(PLATFORM, GROUP)
    assert session is not None and session["subject"] == "theme:regie"
    assert session["mode"] == "one" and session["vote"] == "private"
    assert session["threshold"] == vote_threshold(K) == K + 1
    text = group_text(store)
    assert "Teamgesprek: 4. Regie voeren" in text
    assert "Vraag 1 van 3:" in text and "Is bij jullie vastgelegd wie wanneer de regie heeft?" in text
    assert "anoniem" in text and "vanaf 4 stemmen" in text
    assert "Vraag 2 van 3" not in text  # one at a time
    # every member (the owner too) got the ballot in the private chat: five buttons 1..5
    for person in team.everyone:
        reply = ballot(store, person)
        assert reply.expects == "scale" and [c.label for c in reply.choices] == list("12345")
        assert reply.scale_labels == ("Helemaal niet", "Helemaal wel")
        assert all(c.value.startswith("go:vote:") for c in reply.choices)
    # the group rows are group rows (the dispatcher paces them at 20 a minute)
    assert all(r["is_group"] == 1 for r in rows(store, chat=GROUP))
    # on to the next question: the first vote closes, its prompt and the quote come, then vote 2
    assert group(eng, team.owner.user, "/gesprek volgende") == []
    text = group_text(store)
    assert "Vraag 2 van 3:" in text and "Uit de Verjaardagskalender" in text
    assert "„" in text  # the calendar's quote, in quotation marks
    assert "Niemand stemde." in text


def test_private_votes_are_counts_only_and_need_k_plus_one(eng: Engine) -> None:
    team = Team(eng, size=6)
    store = eng.store
    group(eng, team.owner.user, "/gesprek regie")
    ids = {p.id for p in team.everyone}
    # three votes: below the threshold of four
    for person, option in zip(team.members[:3], ["2", "4", "4"], strict=True):
        before = store.load_conversation(PLATFORM, person.user)
        replies = vote(store, person, option)
        assert replies[0].text.startswith("Je stem telt mee")
        # only the acknowledgement: the member's own conversation stays where it was
        assert len(replies) == 1
        after = store.load_conversation(PLATFORM, person.user)
        assert (after.state, after.prompt_seq) == (before.state, before.prompt_seq)
    again = vote(store, team.members[0], "5")
    assert again[0].text == eng.text("session_vote_twice")
    item = next(i for i in store.session_items(store.open_session(PLATFORM, GROUP)["id"])
                if i["status"] == "open")
    assert item["voters"] == 3 and store.vote_counts(item["id"]) == {"2": 1, "4": 2}
    # no member id anywhere in the conversation's tables, not even as text
    for table, content in session_tables(store).items():
        flat = json.dumps(content, default=lambda b: b.hex() if isinstance(b, bytes) else str(b))
        assert not any(str(i) in flat for i in ids), table
    # the group sees how many voted so far (one message a minute), never who
    counts = rows(store, "session_count")
    assert counts and "tot nu toe 3 stemmen" in reply_from_payload(
        json.loads(counts[-1]["payload"])[0]).text
    group(eng, team.owner.user, "/gesprek volgende")
    # the count not sent yet is not sent after the result any more
    assert all(r["status"] == "cancelled" for r in rows(store, "session_count"))
    text = group_text(store)
    assert "3 stemmen: te weinig voor een uitslag" in text
    closed = store.session_item(item["id"])
    assert closed["status"] == "closed" and closed["result"] is None and closed["voters"] == 3
    assert store.vote_counts(item["id"]) == {}
    assert store.conn.execute("SELECT COUNT(*) FROM session_ballots WHERE item_id = ?",
                              (item["id"],)).fetchone()[0] == 0
    assert store.conn.execute("SELECT salt FROM session_items WHERE id = ?",
                              (item["id"],)).fetchone()[0] is None
    # a late press on the closed vote counts nothing
    late = team.members[4].send("choice", text=f"go:vote:{item['id']}:3",
                                value=f"go:vote:{item['id']}:3")
    assert late[0].text == eng.text("session_vote_closed")
    # vote 2: four votes reach the threshold: counts per option and the mean
    for person, option in zip(team.everyone[:4], ["1", "3", "3", "5"], strict=True):
        vote(store, person, option)
    group(eng, team.owner.user, "/gesprek volgende")
    text = group_text(store)
    assert "(4 stemmen)" in text and "Gemiddeld 3,0." in text
    item2 = next(i for i in store.session_items(store.open_session(PLATFORM, GROUP)["id"])
                 if i["position"] > item["position"] and i["kind"] == "vote")
    assert json.loads(store.session_item(item2["id"])["result"]) == {"1": 1, "3": 2, "5": 1}


def test_someone_outside_the_team_cannot_vote(eng: Engine) -> None:
    team = Team(eng)
    store = eng.store
    group(eng, team.owner.user, "/gesprek 4")
    other_team = store.create_team("Wijkteam Zuid")
    stranger = Person(eng, "vreemde").onboard("professional", store.create_invite(other_team))
    item = next(i for i in store.session_items(store.open_session(PLATFORM, GROUP)["id"])
                if i["status"] == "open")
    forged = f"go:vote:{item['id']}:5"
    replies = stranger.send("choice", text=forged, value=forged)
    assert replies[0].text == eng.text("session_vote_not_member")
    assert store.session_item(item["id"])["voters"] == 0
    assert any(e["action"] == "session_vote:denied" for e in store.audit_entries(team.id))


def test_closing_sums_up_and_agreements_become_actions(eng: Engine, clock: Clock) -> None:
    team = Team(eng)
    store = eng.store
    group(eng, team.owner.user, "/gesprek 4")
    for person in team.everyone[:4]:
        vote(store, person, "2")
    refused = group(eng, team.members[0].user, "/gesprek klaar")
    assert refused[0].text == eng.text("session_owner_only")
    assert group(eng, team.owner.user, "/gesprek klaar") == []
    session = store.team_sessions(team.id)[0]
    assert session["status"] == "closed"
    text = group_text(store)
    assert "Samenvatting van het teamgesprek over 4. Regie voeren" in text
    assert "Welke afspraken maken jullie?" in text
    # the owner who closed it gets the agreements question privately, with a button
    ask = [reply_from_payload(json.loads(r["payload"])[0])
           for r in rows(store, "session_owner", team.owner.user)]
    assert len(ask) == 1 and ask[0].choices[0].value == f"go:agree:{session['id']}"
    # a member who is no reader cannot write them (a forged button)
    forged = team.members[0].send("choice", text=ask[0].choices[0].value,
                                  value=ask[0].choices[0].value)
    assert forged[0].text == eng.text("session_agree_denied")
    # the owner writes two agreements: what, who (a role), by when
    team.owner.send("choice", text=ask[0].choices[0].value, value=ask[0].choices[0].value)
    team.owner.type("Elke maand casusoverleg met beleid over wie de regie heeft")
    team.owner.press("team")
    team.owner.type("1-10-2026")
    team.owner.press("more")
    team.owner.type("Definitie van regie op papier")
    team.owner.press("teamleider")
    team.owner.press("none")
    team.owner.press("done")
    actions = store.session_actions(session["id"])
    assert [a["text"] for a in actions] == [
        "Elke maand casusoverleg met beleid over wie de regie heeft",
        "Definitie van regie op papier"]
    assert all(a["theme_id"] == "regie" and a["status"] == "open" for a in actions)
    assert actions[0]["who"] == "team" and actions[0]["due"] == "2026-10-01"
    assert "Afspraken uit het teamgesprek over 4. Regie voeren:" in group_text(store)
    # the next month's tip brings them back
    from bot.engine.team_actions import tip_note

    note = tip_note(store, team.id, eng.content, clock.now)
    assert note is not None and "Definitie van regie op papier" in note


def test_all_at_once_one_ballot_at_a_time(eng: Engine) -> None:
    team = Team(eng)
    store = eng.store
    group(eng, team.owner.user, "/gesprek 4 alles")
    session = store.open_session(PLATFORM, GROUP)
    assert session["mode"] == "all"
    votes = [i for i in store.session_items(session["id"]) if i["kind"] == "vote"]
    assert all(i["status"] == "open" for i in votes) and len(votes) == 3
    text = group_text(store)
    assert "Vraag 1 van 3" in text and "Vraag 3 van 3" in text
    person = team.members[0]
    assert len(rows(store, "ballot", person.user)) == 1  # one ballot to begin with
    vote(store, person, "3")
    assert len(rows(store, "ballot", person.user)) == 2  # the next comes with the vote
    vote(store, person, "skip")  # skipping counts nothing and brings the next
    assert len(rows(store, "ballot", person.user)) == 3
    assert store.session_item(votes[1]["id"])["voters"] == 0
    assert group(eng, team.owner.user, "/gesprek volgende")[0].text == eng.text(
        "session_all_open")


def test_without_a_theme_the_widest_gap_of_the_mirror(eng: Engine) -> None:
    team = Team(eng, size=1)
    store = eng.store
    code = store.create_invite(team.id)
    # a closed round in which beleid and the uitvoering see regie far apart; a group chat sees
    # a group from k + 1 = 4 people, and three groups keep each other from being subtracted
    by_role = {"professional": 2, "manager": 3, "beleid": 5}
    for role, score in by_role.items():
        for i in range(4):
            person = Person(eng, f"{role}{i}").onboard(role, code)
            answer(store, person, team.id, "2026-Q1", {"regie-1": score, "regie-2": score,
                                                       "regie-3": score, "samenhang-1": 3})
    group(eng, team.owner.user, "/gesprek")
    session = store.open_session(PLATFORM, GROUP)
    assert session is not None and session["theme_id"] == "regie"
    group(eng, team.owner.user, "/gesprek klaar")
    text = group_text(store)
    assert "In de teamspiegel van Q1 2026: gemiddeld 3,3." in text
    assert "Zo zag de teamspiegel van Q1 2026 dit thema:" in text


def test_usage_when_the_theme_is_unknown(eng: Engine) -> None:
    team = Team(eng)
    replies = group(eng, team.owner.user, "/gesprek onbekendthema")
    assert "Welk thema?" in replies[0].text and "4. Regie voeren" in replies[0].text
    assert eng.store.open_session(PLATFORM, GROUP) is None


def test_a_dilemma_card_of_the_teams_packs(eng: Engine) -> None:
    from bot.packs import choose_packs

    team = Team(eng)
    store = eng.store
    choose_packs(store, eng.content, team.id, on=["beleidsuitgangspunten"], actor=None,
                 via="cli")
    group(eng, team.owner.user, "/gesprek dilemma 1")
    session = store.open_session(PLATFORM, GROUP)
    assert session["subject"].startswith("dilemma:beleidsuitgangspunten:")
    reply = ballot(store, team.members[0])
    assert [c.label for c in reply.choices] == ["Zelfbeschikking", "Veiligheid"]
    assert reply.expects == "choice"
    for person in team.everyone[:4]:
        vote(store, person, "a")
    group(eng, team.owner.user, "/gesprek volgende")
    text = group_text(store)
    assert "Zelfbeschikking: 4 · Veiligheid: 0 (4 stemmen)" in text
    assert "Om over te praten: Denk aan iemand die zelf wil kiezen" in text


def test_a_restart_mid_conversation_closes_and_reports_once(tmp_path: Path, clock: Clock,
                                                            dialogues: Any) -> None:
    path = tmp_path / "teamspiegel.db"
    engine = build(path, clock, dialogues)
    team = Team(engine)
    group(engine, team.owner.user, "/gesprek 4")
    for person in team.everyone[:4]:
        vote(engine.store, person, "4")
    engine.store.conn.close()  # like a crash: nothing but the file is left
    again = build(path, clock, dialogues)
    store = again.store
    session = store.open_session(PLATFORM, GROUP)
    assert session is not None
    owner = Person(again, team.owner.user)
    group(again, owner.user, "/gesprek klaar")
    group(again, owner.user, "/gesprek klaar")  # a second close changes nothing
    summaries = [r for r in rows(store, chat=GROUP) if r["period"].endswith(":summary")]
    assert len(summaries) == 1
    assert "(4 stemmen)" in group_text(store)
    store.close()


def test_erasure_during_an_open_vote_leaves_no_trace(eng: Engine) -> None:
    team = Team(eng)
    store = eng.store
    group(eng, team.owner.user, "/gesprek 4")
    person = team.members[0]
    vote(store, person, "5")
    item = next(i for i in store.session_items(store.open_session(PLATFORM, GROUP)["id"])
                if i["status"] == "open")
    assert store.has_ballot(item["id"], person.id)
    member_id = person.id
    store.delete_member(member_id)
    assert store.conn.execute("SELECT COUNT(*) FROM session_ballots").fetchone()[0] == 0
    assert store.vote_counts(item["id"]) == {"5": 1}  # the count names nobody and stays


# -- native polls ----------------------------------------------------------------------------


def _poll_session(engine: Engine, team: Team, size: int) -> dict:
    store = engine.store
    with store.transaction():
        store.link_chat("telegram", "-1001", team.id, team.owner.id)
        owner_tg = store.get_or_create_member("telegram", "9001")
        store.set_consent(owner_tg)
        store.join_team(owner_tg, team.id, "manager")
        store.grant_access(team.id, owner_tg, "owner", by=None, via="cli")
    group(engine, "9001", "/gesprek 4 peiling", chat="-1001", platform="telegram",
          chat_size=size)
    session = store.open_session("telegram", "-1001")
    assert session is not None
    return session


def test_a_native_poll_only_in_a_group_larger_than_k(eng: Engine) -> None:
    team = Team(eng)
    session = _poll_session(eng, team, size=K)
    assert session["vote"] == "private"
    notes = [r for r in rows(eng.store, chat="-1001") if r["period"].endswith(":notes")]
    assert notes and "meer dan 3 leden" in json.loads(notes[0]["payload"])[0]["text"]


def test_a_native_poll_is_counted_and_closed_once(eng: Engine) -> None:
    team = Team(eng)
    store = eng.store
    session = _poll_session(eng, team, size=12)
    assert session["vote"] == "poll"
    polls = [r for r in rows(store, chat="-1001") if r["period"].endswith(":poll")]
    poll = reply_from_payload(json.loads(polls[0]["payload"])[-1]).poll
    assert poll is not None and poll.anonymous and poll.options[0].startswith("1")
    assert rows(store, "ballot") == []  # no private ballots with a native poll
    # the dispatcher sent it: Telegram's platform id is "<message id>:<poll id>"
    with store.transaction():
        store.conn.execute("UPDATE outbox SET status = 'sent', platform_message_id = '77:P1' "
                           "WHERE id = ?", (polls[0]["id"],))
    eng.handle(Incoming("telegram", "", "", "poll", poll_ref="P1", counts=(0, 1, 3, 1, 0),
                        voters=5, event_id="u1"))
    item = next(i for i in store.session_items(session["id"]) if i["kind"] == "vote")
    assert store.vote_counts(item["id"]) == {"2": 1, "3": 3, "4": 1}
    group(eng, "9001", "/gesprek klaar", chat="-1001", platform="telegram")
    ends = [r for r in rows(store, chat="-1001") if r["period"].endswith(":end")]
    assert reply_from_payload(json.loads(ends[0]["payload"])[0]).close_poll == "77:P1"
    assert store.session(session["id"])["status"] == "closing"
    final = Incoming("telegram", "", "", "poll", poll_ref="P1", counts=(0, 1, 3, 2, 0),
                     voters=6, closed=True, event_id="pollend:P1")
    eng.handle(final)
    eng.handle(final)  # the same end again (a replay) changes nothing
    assert store.session(session["id"])["status"] == "closed"
    assert json.loads(store.session_item(item["id"])["result"]) == {"2": 1, "3": 3, "4": 2}
    summaries = [r for r in rows(store, chat="-1001") if r["period"].endswith(":summary")]
    assert len(summaries) == 1
    assert "(6 stemmen)" in json.loads(summaries[0]["payload"])[0]["text"]


# -- the schema ------------------------------------------------------------------------------


def test_a_version_3_database_is_carried_over(tmp_path: Path) -> None:
    import sqlite_utils

    from bot.store.schema import LATEST, migrate

    path = tmp_path / "v3.db"
    db = sqlite_utils.Database(path)
    migrate(db, target=3)
    db.conn.execute("INSERT INTO teams (id, name, is_demo, created_at) VALUES (1, 'Oost', 0, "
                    "'2024-01-01')")
    db.conn.execute("INSERT INTO followups (team_id, theme_id, text, created_at) VALUES "
                    "(1, 'regie', 'iets', '2024-01-02')")
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    assert store.schema_version == LATEST
    cols = {r[1] for r in store.conn.execute("PRAGMA table_info(followups)")}
    assert "session_id" in cols
    assert store.conn.execute("SELECT session_id FROM followups").fetchone()[0] is None
    with store.transaction():
        sid = store.create_session(team_id=1, platform="console", chat_id="g", thread_id=None,
                                   subject="theme:regie", title="4. Regie voeren",
                                   theme_id="regie", mode="one", vote="private",
                                   period="2026-Q2", threshold=4, now="2026-05-04T10:00:00+00:00",
                                   items=[("vote", "regie-1", {"question": "?",
                                                               "options": [["1", "1"]]})])
    with pytest.raises(sqlite3.IntegrityError):  # one open conversation per chat
        with store.transaction():
            store.create_session(team_id=1, platform="console", chat_id="g", thread_id=None,
                                 subject="theme:regie", title="x", theme_id=None, mode="one",
                                 vote="private", period="2026-Q2", threshold=4,
                                 now="2026-05-04T10:00:00+00:00", items=[])
    assert store.session(sid)["status"] == "open"
    store.close()


def test_a_poll_that_never_reports_its_end_is_summed_up_by_the_tick(eng: Engine,
                                                                    clock: Clock) -> None:
    from datetime import timedelta

    from bot.engine.session import finish_stuck_sessions

    team = Team(eng)
    store = eng.store
    session = _poll_session(eng, team, size=12)
    poll_row = next(r for r in rows(store, chat="-1001") if r["period"].endswith(":poll"))
    with store.transaction():
        store.conn.execute("UPDATE outbox SET status = 'sent', platform_message_id = '9:P9' "
                           "WHERE id = ?", (poll_row["id"],))
    eng.handle(Incoming("telegram", "", "", "poll", poll_ref="P9", counts=(1, 1, 1, 1, 0),
                        voters=4, event_id="u9"))
    group(eng, "9001", "/gesprek klaar", chat="-1001", platform="telegram")
    assert store.session(session["id"])["status"] == "closing"
    assert finish_stuck_sessions(eng, clock.now + timedelta(minutes=10)) == 0  # end not sent
    with store.transaction():
        store.conn.execute("UPDATE outbox SET status = 'sent' WHERE period LIKE '%:end'")
    assert finish_stuck_sessions(eng, clock.now + timedelta(minutes=1)) == 0  # still waiting
    assert finish_stuck_sessions(eng, clock.now + timedelta(minutes=10)) == 1
    assert store.session(session["id"])["status"] == "closed"
    summaries = [r for r in rows(store, chat="-1001") if r["period"].endswith(":summary")]
    assert "(4 stemmen)" in json.loads(summaries[0]["payload"])[0]["text"]


def test_group_replies_stay_in_their_topic(eng: Engine) -> None:
    team = Team(eng)
    replies = group(eng, team.members[0].user, "/gesprek 4", thread_id="42")
    assert replies and all(r.thread_id == "42" for r in replies)
    group(eng, team.owner.user, "/gesprek 4", thread_id="42")
    session = eng.store.open_session(PLATFORM, GROUP)
    assert session["thread_id"] == "42"
    posts = [reply_from_payload(p) for r in rows(eng.store, chat=GROUP)
             for p in json.loads(r["payload"])]
    assert posts and all(p.thread_id == "42" for p in posts)
