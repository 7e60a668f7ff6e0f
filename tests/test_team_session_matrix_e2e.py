"""End to end against the real Synapse: a team conversation in an encrypted team room.

The bot (``teamspiegel run``, a real process) and four people on their own E2E devices: the owner
links an encrypted room, starts ``!gesprek 4``; everybody gets the vote in their encrypted private
chat and answers by typing the number; the votes are counted (counts only, no voter left after
the vote closes), the group sees the result from ``k + 1 = 4`` votes. Then a native poll
(``m.poll.start``, labelled as not anonymous): the members answer with ``m.poll.response`` events
(encrypted, one of them changes their mind), ``!gesprek klaar`` counts each member's latest
response from the room's relations, ends the poll with ``m.poll.end`` and sums up.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import nio
import pytest
from nio.api import RelationshipType

from tests.matrix_helpers import (
    ENCRYPTION_STATE,
    RECOVERY_KEY,
    BotProcess,
    Member,
    clean_env,
    create_team_with_owner,
    sync_round,
    sync_until,
    text_of,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DEADLINE = 60.0


def _rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


async def _onboard(member: Member, code: str, role_label: str) -> str:
    dm = await member.open_dm(encrypted=True)
    await member.say(dm, f"!start {code}", "Doe je mee?", DEADLINE)
    await member.say(dm, "1", "Wat is je rol?", DEADLINE)
    await member.say(dm, role_label, "Wat wil je doen?", DEADLINE)
    return dm


async def _everyone_syncs(people: list[Member], rounds: int = 3) -> None:
    for _ in range(rounds):
        for person in people:
            await sync_round(person.client, timeout_ms=100)


@pytest.mark.slow
async def test_a_team_conversation_in_an_encrypted_room(synapse, matrix_users, tmp_path):  # noqa: ANN001
    bot_user = matrix_users("teamspiegel")
    db = tmp_path / "teamspiegel.db"
    work = tmp_path / "bot"
    work.mkdir()
    env = clean_env(MATRIX_HOMESERVER=synapse.base_url, MATRIX_USER_ID=bot_user.user_id,
                    MATRIX_PASSWORD=bot_user.password,
                    MATRIX_STORE=str(tmp_path / "matrix-store"),
                    MATRIX_RECOVERY_KEY=RECOVERY_KEY, TEAMSPIEGEL_DB=str(db),
                    TEAMSPIEGEL_TICK_SECONDS="3600", TEAMSPIEGEL_RATE_GROUP_MINUTE="600",
                    TEAMSPIEGEL_RATE_CHAT="20")
    code, owner_code = create_team_with_owner(env, "Noord", work)
    bot = BotProcess(env, work)
    people: list[Member] = []
    try:
        await bot.start()
        owner = await Member.login(synapse, matrix_users("leider"), tmp_path / "leider",
                                   bot_user.user_id)
        people.append(owner)
        dms = {owner.user_id: await _onboard(owner, owner_code, "Teamleider of manager")}
        for name in ("anna", "bram", "cem"):
            person = await Member.login(synapse, matrix_users(name), tmp_path / name,
                                        bot_user.user_id)
            people.append(person)
            dms[person.user_id] = await _onboard(person, code, "1")
        # an encrypted team room with everybody, linked by the owner with a one-time code
        got = await owner.say(dms[owner.user_id], "!koppel", "Koppelcode", DEADLINE)
        link_code = [text_of(e) for e in got if "Koppelcode" in text_of(e)][0].rsplit(
            "!koppel ", 1)[1].split()[0]
        created = await owner.client.room_create(
            name="Team Noord", invite=[bot_user.user_id, *(p.user_id for p in people[1:])],
            preset=nio.RoomPreset.private_chat, initial_state=[ENCRYPTION_STATE])
        assert isinstance(created, nio.RoomCreateResponse), created
        room = created.room_id
        for person in people[1:]:
            await person.join(room)
        await owner.wait_joined(room, bot_user.user_id, DEADLINE)
        await _everyone_syncs(people)
        await owner.say(room, f"!koppel {link_code}", "gekoppeld aan Noord", DEADLINE)

        # -- the leader's /team over Matrix: a member is refused, the owner changes the cadence
        anna = people[1]
        got = await anna.say(dms[anna.user_id], "!team", "Je hebt geen leesrecht", DEADLINE)
        got = await owner.say(dms[owner.user_id], "!team", "Team Noord", DEADLINE)
        assert any("Leden: 4" in text_of(e) for e in got)
        await owner.say(dms[owner.user_id], "Hoe vaak een ronde", "Hoe vaak begint", DEADLINE)
        await owner.say(dms[owner.user_id], "2", "Rondes: elk half jaar", DEADLINE)
        assert _rows(db, "SELECT reflection_cadence FROM teams WHERE name = 'Noord'") == [
            ("half",)]
        actions = {a for (a,) in _rows(db, "SELECT action FROM audit_log")}
        assert {"team_overview:denied", "cadence"} <= actions
        await owner.say(dms[owner.user_id], "!menu", "Wat wil je doen?", DEADLINE)

        # -- private votes ---------------------------------------------------------------------
        mark = owner.mark()
        await owner.send(room, "!gesprek 4")
        await owner.wait_for(room, "Vraag 1 van 3", mark, DEADLINE)
        for person, score in zip(people, ["2", "4", "4", "5"], strict=True):
            dm = dms[person.user_id]
            await sync_until(person.client, lambda p=person, d=dm: any(
                "Stemming in het teamgesprek" in text_of(e) for e in p.since(0, d)),
                "the ballot", DEADLINE)
            await person.say(dm, score, "Je stem telt mee", DEADLINE)
        votes = _rows(db, "SELECT option, votes FROM session_votes ORDER BY option")
        assert votes == [("2", 1), ("4", 2), ("5", 1)]
        ids = {str(r[0]) for r in _rows(db, "SELECT id FROM members")}
        for table in ("session_votes", "session_ballots", "session_items", "team_sessions"):
            flat = json.dumps(_rows(db, f"SELECT * FROM {table}"),
                              default=lambda b: b.hex() if isinstance(b, bytes) else str(b))
            assert not any(i in flat for i in ids), table
            assert not any(p.user_id in flat for p in people), table
        mark = owner.mark()
        await owner.send(room, "!gesprek volgende")
        got = await owner.wait_for(room, "(4 stemmen)", mark, DEADLINE)
        assert any("Gemiddeld 3,8." in text_of(e) for e in got)
        assert _rows(db, "SELECT COUNT(*) FROM session_ballots") == [(0,)]
        mark = owner.mark()
        await owner.send(room, "!gesprek klaar")
        await owner.wait_for(room, "Samenvatting van het teamgesprek", mark, DEADLINE)

        # -- a native poll (not anonymous on Matrix, and it says so) ----------------------------
        mark = owner.mark()
        await owner.send(room, "!gesprek 4 peiling")
        got = await owner.wait_for(room, "niet anoniem", mark, DEADLINE)

        def poll_id() -> str | None:
            found = _rows(db, "SELECT platform_message_id FROM outbox WHERE period LIKE "
                              "'%:poll' AND status = 'sent'")
            return found[0][0] if found else None

        await sync_until(owner.client, lambda: poll_id() is not None, "the poll", DEADLINE)
        start = poll_id()
        assert start is not None
        event = await owner.client.room_get_event(room, start)
        assert isinstance(event, nio.RoomGetEventResponse), event
        decrypted: Any = event.event
        if isinstance(decrypted, nio.MegolmEvent):
            decrypted = owner.client.decrypt_event(decrypted)
        assert decrypted.source["type"] == "m.poll.start"
        poll = decrypted.source["content"]["m.poll"]
        assert poll["kind"] == "m.poll.undisclosed" and len(poll["answers"]) == 5
        assert "niet anoniem" in decrypted.source["content"]["m.text"][0]["body"]

        async def respond(person: Member, answer: str) -> None:
            await person.send_content(room, {
                "m.relates_to": {"rel_type": "m.reference", "event_id": start},
                "m.selections": [answer]}, event_type="m.poll.response")

        await respond(people[1], "2")
        await respond(people[2], "3")
        await respond(people[3], "5")
        await respond(people[3], "3")  # changed their mind: the latest counts
        await _everyone_syncs(people)
        mark = owner.mark()
        await owner.send(room, "!gesprek klaar")
        got = await owner.wait_for(room, "Samenvatting van het teamgesprek", mark, DEADLINE)
        item = _rows(db, "SELECT voters, result FROM session_items WHERE kind = 'vote' AND "
                         "session_id = (SELECT MAX(id) FROM team_sessions) AND position = "
                         "(SELECT MIN(position) FROM session_items WHERE kind = 'vote' AND "
                         "session_id = (SELECT MAX(id) FROM team_sessions))")
        assert item[0][0] == 3  # three voters (below the threshold: no counts kept)
        assert item[0][1] is None
        ends = [e for e in await _relations(owner, room, start)
                if e.get("type") == "m.poll.end"]
        assert len(ends) == 1
        assert ends[0]["content"]["m.poll.results"] == {"1": 0, "2": 1, "3": 2, "4": 0, "5": 0}
        assert bot.terminate() == 0
    finally:
        for person in people:
            await person.close()
        bot.kill()


async def _relations(member: Member, room: str, event_id: str) -> list[dict[str, Any]]:
    out = []
    async for event in member.client.room_get_event_relations(
            room, event_id, rel_type=RelationshipType.reference):
        if isinstance(event, nio.MegolmEvent):
            event.room_id = room
            event = member.client.decrypt_event(event)
        source = dict(event.source)
        source.setdefault("type", getattr(event, "type", None))
        out.append(source)
    return out
