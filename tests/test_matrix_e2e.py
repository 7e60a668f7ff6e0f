"""The Matrix transport end to end, against the real Synapse fixture.

In-process (fast): the transport runs in the test's event loop with its own engine and
database. As a subprocess (``teamspiegel run``) where a kill and a restart matter: an
encrypted reflection that survives a SIGKILL half-way, and a monthly tip to a linked team
room that arrives exactly once across a restart. Members are plain matrix-nio clients with
their own E2E devices.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nio
import pytest
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json
from unpaddedbase64 import decode_base64

from bot.channel import DeliveryKey
from bot.config import Settings
from bot.content import get_content
from bot.engine.core import Engine
from bot.engine.messages import Choice, Link, Reply, reply_to_payload
from bot.schedule.dispatcher import Dispatcher, RetryAfter, TransientError, Unreachable
from bot.schedule.tips import tip_replies
from bot.store import Store
from bot.transports.matrix import (
    CONTENT_BYTES,
    MatrixTransport,
    error_for,
    incoming_from_event,
    parse_command,
    render_reply,
    split_text,
    strip_reply_fallback,
)
from bot.transports.matrix_crypto import CREDENTIALS_FILE, derive_cross_signing_keys
from tests.matrix_helpers import (
    RECOVERY_KEY,
    BotProcess,
    Member,
    clean_env,
    create_team,
    create_team_with_owner,
    sync_round,
    sync_until,
    text_of,
)

BOT = "@teamspiegel:localhost"


# -- rendering and parsing (no server) -------------------------------------------------------


def test_render_numbered_options_html_and_plain():
    reply = Reply("Wat is je rol?", choices=[Choice("Professional", "p"),
                                              Choice("Teamleider <baas>", "m")],
                  expects="choice")
    (content,) = render_reply(reply, BOT)
    assert content["msgtype"] == "m.text"
    assert content["body"] == "Wat is je rol?\n\n1. Professional\n2. Teamleider <baas>"
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"] == (
        "<p>Wat is je rol?</p><ol><li>Professional</li><li>Teamleider &lt;baas&gt;</li></ol>")


def test_render_numbered_labels_not_numbered_twice():
    reply = Reply("Welk thema?", choices=[Choice("1. Samenhang", "a"), Choice("2. Regie", "b")],
                  expects="choice")
    (content,) = render_reply(reply, BOT)
    assert content["body"].endswith("1. Samenhang\n2. Regie")
    assert "<li>Samenhang</li>" in content["formatted_body"]


def test_render_scale_and_links():
    reply = Reply("Hoe herkenbaar?", expects="scale", scale_labels=("Helemaal niet", "Heel erg"),
                  choices=[Choice(str(n), f"tip:2026-07:{n}") for n in range(1, 6)],
                  links=[Link("Naar de privéchat", "private:"), Link("Site", "https://x.nl/?a&b")])
    (content,) = render_reply(reply, BOT)
    assert "1 = Helemaal niet, 5 = Heel erg" in content["body"]
    assert "1. 1" not in content["body"]  # a scale is not listed as options
    assert f"Naar de privéchat: https://matrix.to/#/{BOT}" in content["body"]
    assert f'<a href="https://matrix.to/#/{BOT}">Naar de privéchat</a>' in content["formatted_body"]
    assert '<a href="https://x.nl/?a&amp;b">Site</a>' in content["formatted_body"]
    # a scale whose text explains itself gets no second explanation
    said = Reply("Kies 1 t/m 5 (1 = nooit, 5 = altijd).", expects="scale",
                 scale_labels=("Nooit", "Altijd"))
    assert render_reply(said, BOT)[0]["body"] == said.text


def test_long_text_is_split_on_paragraphs_and_fits_an_event():
    paragraphs = [f"Alinea {i}: " + "woord " * 300 for i in range(40)]  # ~72,000 characters
    reply = Reply("\n\n".join(paragraphs), choices=[Choice("Verder", "v")], expects="choice")
    contents = render_reply(reply, BOT)
    assert len(contents) >= 5
    for content in contents:
        assert len(content["body"]) <= 16_000 + 100
        size = len(json.dumps(content, ensure_ascii=False).encode())
        assert size <= CONTENT_BYTES
        assert content["body"].startswith("Alinea")  # cut between paragraphs
    assert "1. Verder" in contents[-1]["body"] and "1. Verder" not in contents[0]["body"]
    joined = "\n\n".join(c["body"] for c in contents)
    assert joined.replace("\n\n1. Verder", "") == reply.text
    # markup-heavy text is cut finer, so that it still fits after encryption
    heavy = render_reply(Reply("<&>" * 15_000), BOT)
    assert len(heavy) > 1
    assert all(len(json.dumps(c, ensure_ascii=False).encode()) <= CONTENT_BYTES for c in heavy)
    assert split_text("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


def test_parse_commands_and_reply_fallback():
    assert parse_command("/start abc123") == ("start", "abc123")
    assert parse_command("!Koppel  CODE ") == ("koppel", "CODE")
    assert parse_command("/menu") == ("menu", "")
    assert parse_command("/ nee") is None and parse_command("2") is None
    assert parse_command("1/2") is None
    body = "> <@a:x> Vraag 1\n> meer\n\nMijn antwoord"
    assert strip_reply_fallback(body) == "Mijn antwoord"
    assert strip_reply_fallback("gewoon") == "gewoon"


def _event(content: dict, event_type: str = "m.room.message", event_id: str = "$e1") -> nio.Event:
    source = {"type": event_type, "event_id": event_id, "sender": "@m:localhost",
              "origin_server_ts": 1, "content": content}
    return nio.Event.parse_event(source)


def test_incoming_from_events():
    inc = incoming_from_event(_event({"msgtype": "m.text", "body": "/start CODE"}), "!r",
                              is_group=False)
    assert (inc.kind, inc.command, inc.args, inc.event_id) == ("command", "start", "CODE", "$e1")
    inc = incoming_from_event(_event({"msgtype": "m.text", "body": "2."}), "!r", is_group=True)
    assert (inc.kind, inc.text, inc.is_group, inc.chat_id) == ("text", "2.", True, "!r")
    edit = _event({"msgtype": "m.text", "body": "* nieuw",
                   "m.new_content": {"msgtype": "m.text", "body": "nieuw"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}},
                  event_id="$edit")
    inc = incoming_from_event(edit, "!r", is_group=False)
    assert (inc.kind, inc.text, inc.message_ref, inc.event_id) == ("edit", "nieuw", "$orig",
                                                                   "$edit")
    image = _event({"msgtype": "m.image", "body": "foto.jpg", "url": "mxc://x/y"})
    assert incoming_from_event(image, "!r", is_group=False).media == "photo"
    voice = _event({"msgtype": "m.audio", "body": "v.ogg", "url": "mxc://x/y",
                    "org.matrix.msc3245.voice": {}})
    assert incoming_from_event(voice, "!r", is_group=False).media == "voice"
    sticker = _event({"body": "s", "url": "mxc://x/y", "info": {}}, "m.sticker")
    assert incoming_from_event(sticker, "!r", is_group=False).media == "sticker"
    location = _event({"msgtype": "m.location", "body": "hier", "geo_uri": "geo:1,2"})
    assert incoming_from_event(location, "!r", is_group=False).media == "location"
    notice = _event({"msgtype": "m.notice", "body": "van een andere bot"})
    assert incoming_from_event(notice, "!r", is_group=False) is None
    reaction = _event({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x",
                                        "key": "👍"}}, "m.reaction")
    assert incoming_from_event(reaction, "!r", is_group=False) is None


def test_error_mapping():
    limited = nio.RoomSendError("Too many requests", "M_LIMIT_EXCEEDED", 1500)
    exc = error_for(limited)
    assert isinstance(exc, RetryAfter) and exc.seconds == 1.5
    assert isinstance(error_for(nio.RoomSendError("nope", "M_FORBIDDEN")), Unreachable)
    assert isinstance(error_for(nio.RoomSendError("boom", "M_UNKNOWN")), TransientError)


# -- in-process against Synapse --------------------------------------------------------------


@pytest.fixture
async def bot(synapse, matrix_users, tmp_path):
    """A MatrixTransport in this event loop, with its own engine and database."""
    user = matrix_users("bot")
    store = Store(tmp_path / "teamspiegel.db")
    engine = Engine(store)
    settings = Settings(db_path=tmp_path / "teamspiegel.db", matrix_homeserver=synapse.base_url,
                        matrix_user_id=user.user_id, matrix_password=user.password,
                        matrix_store=tmp_path / "matrix")
    transport = MatrixTransport(engine, settings, megolm_grace=1.0)
    await transport.start()
    members: list[Member] = []
    state = {"transport": transport, "store": store, "user": user, "members": members,
             "settings": settings, "engine": engine}
    try:
        yield state
    finally:
        for member in members:
            await member.close()
        await state["transport"].stop()
        store.close()


async def member_of(bot_state, synapse, matrix_users, tmp_path, name: str = "member") -> Member:
    user = matrix_users(name)
    member = await Member.login(synapse, user, tmp_path / f"{name}-store",
                                bot_state["transport"].user_id)
    bot_state["members"].append(member)
    return member


@pytest.mark.slow
async def test_undecryptable_message_gets_an_explanation(bot, synapse, matrix_users, tmp_path):
    transport: MatrixTransport = bot["transport"]
    member = await member_of(bot, synapse, matrix_users, tmp_path)
    room = await member.open_dm()
    replies = await member.say(room, "hallo", "Doe je mee?")
    assert all(e.decrypted for e in replies)  # the bot answers encrypted

    # The member switches to a Megolm session it never shares with the bot.
    member.client.olm.create_outbound_group_session(room)
    member.client.olm.outbound_group_sessions[room].shared = True
    mark = member.mark()
    secret_id = await member.send(room, "geheim")
    got = await member.wait_for(room, "niet ontsleutelen", mark)
    assert [text_of(e) for e in got] == [bot["engine"].dialogues.text("undecryptable")]
    assert got[0].decrypted
    assert (room, secret_id) not in transport.handled  # nothing reached the engine
    assert bot["store"].event_seen("matrix", secret_id)  # explained once, even after a replay
    assert await member.quiet(1.5) == []

    # An error while handling one event is logged; the next event is handled as usual.
    handle = transport.engine.handle

    def flaky(incoming, **kwargs):
        if incoming.text == "boem":
            raise RuntimeError("kapot")
        return handle(incoming, **kwargs)

    transport.engine.handle = flaky
    member.client.olm.outbound_group_sessions.pop(room)  # a fresh session, shared again
    mark = member.mark()
    await member.send(room, "boem")
    await member.say(room, "1", "Wat is je rol?")
    assert [text_of(e).split("\n")[0] for e in member.since(mark)] == ["Wat is je rol?"]


@pytest.mark.slow
async def test_restart_handles_what_arrived_meanwhile(bot, synapse, matrix_users, tmp_path):
    """More events than one sync returns arrived while the bot was down: none is missed,
    none is handled twice, and they are handled in order."""
    transport: MatrixTransport = bot["transport"]
    member = await member_of(bot, synapse, matrix_users, tmp_path)
    room = await member.open_dm()
    first = await member.send(room, "hallo")
    await member.wait_for(room, "Doe je mee?", 0)
    await transport.stop()

    sent = [await member.send(room, f"bericht {i}") for i in range(8)]
    again = MatrixTransport(transport.engine, bot["settings"], timeline_limit=3)
    bot["transport"] = again
    await again.start()
    assert not again.first_start
    for _ in range(100):
        if all((room, e) in again.handled for e in sent):
            break
        await asyncio.sleep(0.1)
    assert [e for _, e in again.handled] == sent
    assert (room, first) not in again.handled
    assert again.device_id == transport.device_id


@pytest.mark.slow
async def test_edits_media_and_group_rules(bot, synapse, matrix_users, tmp_path):
    transport: MatrixTransport = bot["transport"]
    store: Store = bot["store"]
    team = store.create_team("Zuid")
    code = store.create_invite(team)
    member = await member_of(bot, synapse, matrix_users, tmp_path)
    room = await member.open_dm(encrypted=False)
    await member.say(room, f"!start {code}", "Doe je mee?")
    assert not transport.is_group(transport.client.rooms[room])
    await member.say(room, "ja, ik doe mee", "Wat is je rol?")
    got = await member.say(room, "Professional", "Wat wil je doen?")
    assert any("Welkom bij Zuid" in text_of(e) for e in got)
    await member.say(room, "Eén thema kiezen", "Welk thema")
    await member.say(room, "3", "Vraag 1 van")
    await member.say(room, "2", "toelichten")
    mark = member.mark()
    answer_id = await member.send(room, "Eerst dit")
    await member.wait_for(room, "anoniem", mark)

    # Editing the message that carried an answer changes the answer.
    mark = member.mark()
    await member.send_content(room, {
        "msgtype": "m.text", "body": "* Toch dit",
        "m.new_content": {"msgtype": "m.text", "body": "Toch dit"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": answer_id},
    })
    await member.wait_for(room, "aangepaste antwoord is opgeslagen", mark)
    (row,) = [a for a in store.member_answers(store.member_id("matrix", member.user_id))
              if a["text"]]
    assert row["text"] == "Toch dit"

    # A photo is not stored: a friendly word, and the question stays.
    mark = member.mark()
    await member.send_content(room, {"msgtype": "m.image", "body": "foto.jpg",
                                     "url": "mxc://localhost/abc"})
    await member.wait_for(room, "Foto's bewaar ik niet", mark)

    # A monthly tip from the outbox: typing "4" answers the tip's scale (no buttons on Matrix).
    tip = get_content().kalender.tip_for_month(3)
    mark = member.mark()
    with store.transaction():
        store.enqueue_row(
            platform="matrix", chat_id=room, kind="tip", period="2026-03",
            payload=json.dumps([reply_to_payload(r) for r in tip_replies(
                tip, "2026-03", group=False, source_line="Bron: test")]),
            not_before="2000-01-01T00:00:00+00:00", now="2000-01-01T00:00:00+00:00",
            member_id=store.member_id("matrix", member.user_id), team_id=team)
    dispatcher = Dispatcher(store, {"matrix": transport.sender},
                            on_delivered=bot["engine"].scheduled_delivered)
    assert (await dispatcher.run_once()).rows_sent == 1
    await member.wait_for(room, "Hoe herkenbaar", mark)
    await member.say(room, "4", "Dank je!")
    (reaction,) = store.tip_reactions(team)
    assert (reaction["period"], reaction["scale"]) == ("2026-03", 4)
    # only the thanks (issue 10), and the conversation goes on where it was: the share question
    got = await member.say(room, "Klaar", "Dank je voor je reactie!")
    assert not any("Vraag" in text_of(e) or "anoniem" in text_of(e) for e in got)
    await member.say(room, "nee", "Vraag 2 van")

    # A named team room with more people is a group: chatter is ignored, commands answered.
    colleague = await member_of(bot, synapse, matrix_users, tmp_path, "colleague")
    group = await member.open_room("Team Zuid", [transport.user_id, colleague.user_id])
    await colleague.join(group)
    await member.wait_joined(group, colleague.user_id)
    await sync_round(member.client)
    mark = member.mark()
    await member.send(group, "Hoi allemaal, wie doet er mee?")
    await member.send(group, "2")
    # the team's invite code typed into a group links nothing (everyone there sees it)
    got = await member.say(group, "/koppel " + code, "Koppelen gaat nu anders")
    assert len(got) == 1  # the chatter before got no answer
    assert transport.is_group(transport.client.rooms[group])
    assert store.chat_team("matrix", group) is None

    # The bot leaves a room when everybody else left it.
    await member.client.room_leave(group)
    await colleague.client.room_leave(group)
    for _ in range(40):
        await sync_round(member.client, timeout_ms=200)
        if group not in transport.client.rooms:
            break
    assert group not in transport.client.rooms


@pytest.mark.slow
async def test_sender_maps_errors_and_sends_files(bot, synapse, matrix_users, tmp_path):
    transport: MatrixTransport = bot["transport"]
    member = await member_of(bot, synapse, matrix_users, tmp_path)
    room = await member.open_dm()
    await member.say(room, "hoi", "Doe je mee?")

    # A document in an encrypted room is uploaded encrypted and sent as m.file.
    mark = member.mark()
    key = DeliveryKey("ts-test-row-1")
    event_id = await transport.sender.send(
        room, [Reply("Je gegevens:", document=("gegevens.json", b'{"a": 1}',
                                                "application/json"))], is_group=False, key=key)
    assert event_id and event_id.startswith("$")
    await member.wait_for(room, "Je gegevens", mark)
    for _ in range(20):
        files = [e for e in member.since(mark, room) if isinstance(e, nio.RoomEncryptedFile)]
        if files:
            break
        await sync_round(member.client, timeout_ms=200)
    (file_event,) = files
    assert file_event.body == "gegevens.json"
    download = await member.client.download(file_event.url)
    data = nio.crypto.attachments.decrypt_attachment(
        download.body, file_event.key["k"], file_event.hashes["sha256"], file_event.iv)
    assert data == b'{"a": 1}'

    # The same scheduled delivery (same key: an outbox row sent again after a timeout or a
    # crash) within the transaction window: the homeserver returns the first event.
    assert transport.sender.idempotent
    again = await transport.sender.send(
        room, [Reply("Je gegevens:", document=("gegevens.json", b'{"a": 1}',
                                                "application/json"))], is_group=False, key=key)
    assert again == event_id
    other = await transport.sender.send(room, [Reply("Je gegevens:")], is_group=False,
                                        key=DeliveryKey("ts-test-row-2"))
    assert other != event_id

    # 429 -> RetryAfter with the number of replies already delivered.
    original = transport.client.room_send
    calls = 0

    async def limited(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            return nio.RoomSendError("Too many requests", "M_LIMIT_EXCEEDED", 2500)
        return await original(*args, **kwargs)

    transport.client.room_send = limited
    try:
        with pytest.raises(RetryAfter) as info:
            await transport.sender.send(room, [Reply("een"), Reply("twee")], is_group=False)
    finally:
        transport.client.room_send = original
    assert info.value.seconds == 2.5 and info.value.sent == 1

    # Kicked out of a room: Unreachable.
    kicked = await member.open_room("Weg", [transport.user_id])
    assert isinstance(await member.client.room_kick(kicked, transport.user_id),
                      nio.RoomKickResponse)
    for _ in range(40):
        await sync_round(member.client, timeout_ms=100)
        if kicked not in transport.client.rooms:
            break
    with pytest.raises(Unreachable):
        await transport.sender.send(kicked, [Reply("Tip")], is_group=True)


# -- as a subprocess: kill, restart, exactly once ---------------------------------------------


def _verify(obj: dict, user_id: str, public_key: str, key_id: str | None = None) -> None:
    key_id = key_id or f"ed25519:{public_key}"
    verify_signed_json(obj, user_id, decode_verify_key_bytes(key_id, decode_base64(public_key)))


def _device_ids(synapse, token: str) -> list[str]:
    status, body = synapse.request("GET", "/_matrix/client/v3/devices", access_token=token)
    assert status == 200, body
    return sorted(d["device_id"] for d in body["devices"])


def _answers(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT question_id, scale, text, share_text FROM answers ORDER BY question_id"
        ).fetchall()


@pytest.fixture
def bot_env(synapse, matrix_users, tmp_path):
    user = matrix_users("teamspiegel")
    db = tmp_path / "teamspiegel.db"
    env = clean_env(
        MATRIX_HOMESERVER=synapse.base_url,
        MATRIX_USER_ID=user.user_id,
        MATRIX_PASSWORD=user.password,
        MATRIX_STORE=str(tmp_path / "matrix-store"),
        MATRIX_RECOVERY_KEY=RECOVERY_KEY,
        TEAMSPIEGEL_DB=str(db),
        TEAMSPIEGEL_TICK_SECONDS="1",
    )
    work = tmp_path / "bot"
    work.mkdir()
    proc = BotProcess(env, work)
    try:
        yield {"user": user, "db": db, "env": env, "proc": proc, "work": work,
               "store": tmp_path / "matrix-store"}
    finally:
        proc.terminate()


@pytest.mark.slow
async def test_encrypted_reflection_survives_a_kill(bot_env, synapse, matrix_users, tmp_path):
    proc: BotProcess = bot_env["proc"]
    bot_user = bot_env["user"]
    code = create_team(bot_env["env"], "Noord", bot_env["work"])
    await proc.start()
    creds = json.loads((bot_env["store"] / CREDENTIALS_FILE).read_text())
    device_id = creds["device_id"]

    member = await Member.login(synapse, matrix_users("member"), tmp_path / "member",
                                bot_user.user_id)
    try:
        room = await member.open_dm(encrypted=True)
        assert member.client.rooms[room].encrypted
        got = await member.say(room, f"/start {code}", "Doe je mee?")
        welcome = got[-1]
        assert welcome.decrypted and "1. Ja, ik doe mee" in welcome.body
        assert "<ol><li>Ja, ik doe mee</li>" in welcome.formatted_body
        await member.say(room, "1", "Wat is je rol?")
        got = await member.say(room, "Professional", "Wat wil je doen?")
        assert any("Welkom bij Noord" in text_of(e) for e in got)
        await member.say(room, "Eén thema kiezen", "Welk thema wil je doen?")
        got = await member.say(room, "1", "Vraag 1 van 4")
        assert "1 = helemaal niet" in got[-1].body
        await member.say(room, "4", "Wil je dit toelichten?")
        await member.say(room, "verder", "Vraag 2 van 4")

        # A crash half-way; the member answers while the bot is down.
        proc.kill()
        mark = member.mark()
        await member.send(room, "2")
        await proc.start()
        got = await member.wait_for(room, "Wil je dit toelichten?", mark)
        assert len(got) == 1, [text_of(e) for e in got]  # nothing old answered again
        assert got[0].decrypted
        assert "uitnodigingscode" not in got[0].body

        # The same device, no new one: the member's client keeps talking to it.
        creds2 = json.loads((bot_env["store"] / CREDENTIALS_FILE).read_text())
        assert creds2["device_id"] == device_id
        assert _device_ids(synapse, creds2["access_token"]) == [device_id]

        await member.say(room, "Het gaat goed, we praten veel.", "anoniem gedeeld")
        await member.say(room, "1", "Vraag 3 van 4")
        await member.say(room, "3", "Wil je dit toelichten?")
        await member.say(room, "verder", "Vraag 4 van 4")
        await member.say(room, "5", "Wil je dit toelichten?")
        got = await member.say(room, "verder", "Klaar!")
        assert await member.quiet(1.0) == []

        assert _answers(bot_env["db"]) == [
            ("samenhang-1", 4, None, 0),
            ("samenhang-2", 2, "Het gaat goed, we praten veel.", 1),
            ("samenhang-3", 3, None, 0),
            ("samenhang-4", 5, None, 0),
        ]

        # The bot's device is cross-signed, as the member's client sees it.
        uid = bot_user.user_id
        status, keys = synapse.request("POST", "/_matrix/client/v3/keys/query",
                                       {"device_keys": {uid: []}},
                                       access_token=member.client.access_token)
        assert status == 200, keys
        master = keys["master_keys"][uid]
        ssk = keys["self_signing_keys"][uid]
        (master_pub,) = master["keys"].values()
        (ssk_pub,) = ssk["keys"].values()
        assert master_pub == derive_cross_signing_keys(RECOVERY_KEY).master.public_key
        _verify(ssk, uid, master_pub)
        _verify(keys["device_keys"][uid][device_id], uid, ssk_pub)

        # A clean restart: still the same single device, and still nothing replayed.
        assert proc.terminate() == 0
        await proc.start()
        assert await member.quiet(1.5) == []
        await member.say(room, "/menu", "Wat wil je doen?")
        assert _device_ids(synapse, creds2["access_token"]) == [device_id]
        with sqlite3.connect(bot_env["db"]) as conn:
            (handled,) = conn.execute("SELECT COUNT(*) FROM handled_events").fetchone()
        assert handled == 15  # every message of the member, none missed
        log = proc.log()
        for secret in (bot_user.password, creds2["access_token"], RECOVERY_KEY):
            assert secret not in log
    finally:
        await member.close()


@pytest.mark.slow
async def test_linked_team_room_gets_the_tip_once_across_a_restart(
    bot_env, synapse, matrix_users, tmp_path
):
    from bot.schedule.calendar import tip_slot
    from bot.schedule.planner import plan_due

    proc: BotProcess = bot_env["proc"]
    bot_user = bot_env["user"]
    _, owner_code = create_team_with_owner(bot_env["env"], "Oost", bot_env["work"])
    await proc.start()
    manager = await Member.login(synapse, matrix_users("manager"), tmp_path / "manager",
                                 bot_user.user_id)
    try:
        dm = await manager.open_dm(encrypted=True)
        await manager.say(dm, f"!start {owner_code}", "Doe je mee?")
        await manager.say(dm, "1", "Wat is je rol?")
        await manager.say(dm, "Teamleider of manager", "Wat wil je doen?")
        # the owner asks for a one-time group code in the private chat (no code in the group
        # that anybody could use again: it works once, for minutes, and only for an owner)
        got = await manager.say(dm, "!koppel", "Koppelcode")
        [made] = [text_of(e) for e in got if "Koppelcode" in text_of(e)]
        link_code = made.rsplit("!koppel ", 1)[1].split()[0]

        # A team room with only the manager and the bot so far: still a group (named room).
        room = await manager.open_room("Team Oost", [bot_user.user_id])
        mark = manager.mark()
        await manager.send(room, "Welkom in de teamruimte!")
        await manager.send(room, f"!koppel {link_code}")
        got = await manager.wait_for(room, "gekoppeld aan Oost", mark)
        assert len(got) == 1

        # Plan last month's tip at its slot (the planner's clock is an argument).
        now = datetime.now(UTC)
        year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
        slot = tip_slot(year, month)
        assert slot is not None
        period = f"{year}-{month:02d}"
        store = Store(bot_env["db"])
        try:
            result = plan_due(store, slot + timedelta(minutes=1), platforms=["matrix"],
                              links=lambda platform, _period: "private:")
            assert result.groups == 1
        finally:
            store.close()

        def tips() -> list:
            return [e for r, e in manager.received
                    if r == room and text_of(e).startswith("💡 Tip van")]

        await manager.wait_for(room, "💡 Tip van", mark)
        await manager.wait_for(room, "Om samen over te praten", mark)
        (tip,) = tips()
        link_message = [e for r, e in manager.received if r == room
                        and "Om samen over te praten" in text_of(e)][-1]
        assert f"https://matrix.to/#/{bot_user.user_id}" in link_message.formatted_body

        # Crash and restart; the planner runs again for the same moment: no second tip.
        proc.kill()
        store = Store(bot_env["db"])
        try:
            again = plan_due(store, slot + timedelta(minutes=2), platforms=["matrix"],
                             links=lambda platform, _period: "private:")
            assert again.groups == 0
        finally:
            store.close()
        await proc.start()
        await manager.quiet(3.0)
        assert tips() == [tip]
        with sqlite3.connect(bot_env["db"]) as conn:
            rows = conn.execute(
                "SELECT status FROM outbox WHERE chat_id = ? AND kind = 'tip' AND period = ?",
                (room, period)).fetchall()
        assert rows == [("sent",)]
        creds = json.loads((bot_env["store"] / CREDENTIALS_FILE).read_text())
        assert _device_ids(synapse, creds["access_token"]) == [creds["device_id"]]
    finally:
        await manager.close()


# -- identity per sender, personal data and erasure (real Synapse) ---------------------------

SECRET_TEXT = "Geheim van Alice: de wethouder luistert niet"
DASH_URL = "https://dash.example"


def _files(events: list) -> list:
    return [e for e in events
            if isinstance(e, (nio.RoomMessageFile, nio.RoomEncryptedFile, nio.RoomMessageMedia,
                              nio.RoomEncryptedMedia))]


async def _alice_reflects(bot_state, alice: Member, room: str) -> None:
    """Alice onboards in her DM as a team leader and answers one question with a private text."""
    store: Store = bot_state["store"]
    team = store.create_team("Wijkteam Takeover")
    code = store.create_invite(team)
    await alice.say(room, f"!start {code}", "Doe je mee?")
    await alice.say(room, "1", "Wat is je rol?")
    await alice.say(room, "Teamleider of manager", "Wat wil je doen?")
    with store.transaction():  # the operator grants her the right to read the reports
        store.grant_access(team, store.member_id("matrix", alice.user_id), "reader", by=None,
                           via="cli")
    await alice.say(room, "Eén thema kiezen", "Welk thema")
    await alice.say(room, "1", "Vraag 1 van")
    await alice.say(room, "4", "toelichten")
    await alice.say(room, SECRET_TEXT, "anoniem")
    await alice.say(room, "2", "Vraag 2 van")  # "Nee, alleen voor mij"


async def _bot_sees(transport: MatrixTransport, member: Member, room: str,
                    predicate, what: str) -> None:
    """Sync ``member`` (which also lets the in-process bot run) until the bot's view of
    ``room`` satisfies ``predicate``."""

    def ok() -> bool:
        bot_room = transport.client.rooms.get(room)
        return bot_room is not None and predicate(bot_room)

    await sync_until(member.client, ok, what)


@pytest.mark.slow
async def test_a_dm_that_changes_hands_yields_nothing_of_its_owner(
    bot, synapse, matrix_users, tmp_path
):
    """Alice invites Bob into her DM with the bot and leaves: Bob is not Alice. While all
    three are in the room, Alice's own personal commands are refused there too."""
    from bot.app import install_plugins

    transport: MatrixTransport = bot["transport"]
    store: Store = bot["store"]
    install_plugins(transport.engine, Settings(web_url=DASH_URL, secret_key="s" * 32))
    alice = await member_of(bot, synapse, matrix_users, tmp_path, "alice")
    bob = await member_of(bot, synapse, matrix_users, tmp_path, "bob")
    room = await alice.open_dm(encrypted=True)
    await _alice_reflects(bot, alice, room)
    got = await alice.say(room, "!dashboard", "Vraag 2 van")  # works for her, alone
    assert any(f"{DASH_URL}/login/" in text_of(e) for e in got) and got[-1].decrypted
    alice_id = store.member_id("matrix", alice.user_id)
    assert alice_id is not None
    answers_before = store.member_answers(alice_id)
    assert [a["text"] for a in answers_before] == [SECRET_TEXT]
    logins_before = store.conn.execute("SELECT COUNT(*) FROM web_logins").fetchone()[0]

    # Bob joins: three people. Alice's personal commands are refused in this room now.
    assert isinstance(await alice.client.room_invite(room, bob.user_id), nio.RoomInviteResponse)
    await bob.join(room)
    await _bot_sees(transport, alice, room,
                    lambda r: bob.user_id in r.users and bob.user_id not in r.invited_users,
                    "the bot to see Bob join")
    await sync_round(bob.client)
    history = [e for _, e in bob.received]
    assert all(isinstance(e, nio.MegolmEvent) for e in history)  # he cannot read her past
    mark_alice, mark_bob = alice.mark(), bob.mark()
    commands = ("!mijngegevens", "!dashboard", "!mijnreflecties", "!rapport", "!help")
    for command in commands:
        await alice.say(room, command, "privé")
    group_line = transport.engine.text("group_private")

    def refusals(events: list) -> int:
        return sum(1 for e in events if text_of(e).startswith(group_line))

    await sync_until(bob.client, lambda: refusals(bob.since(mark_bob, room)) >= len(commands),
                     "Bob to receive what the bot said")
    for events in (alice.since(mark_alice, room), bob.since(mark_bob, room)):
        assert _files(events) == []
        assert refusals(events) == len(commands)
        for text in map(text_of, events):
            assert SECRET_TEXT not in text and "/login/" not in text
            assert "Hier is alles" not in text

    # Alice leaves: only Bob and the bot are left, in a room Alice opened.
    assert isinstance(await alice.client.room_leave(room), nio.RoomLeaveResponse)
    await _bot_sees(transport, bob, room, lambda r: alice.user_id not in r.users,
                    "the bot to see Alice leave")
    assert transport.is_group(transport.client.rooms[room], bob.user_id)
    mark = bob.mark()
    for line in ("!mijngegevens", "!dashboard", "!vergeet", "!verder", "!mijnreflecties",
                 "4", "1", "Geheim"):
        await bob.send(room, line)
    await bob.say(room, "!help", "privé")  # everything before it was handled, in order
    got = bob.since(mark, room)
    assert _files(got) == []
    welcome = transport.engine.text("welcome")
    for event in got:
        assert not isinstance(event, nio.MegolmEvent)
        assert text_of(event).startswith((group_line, welcome)), text_of(event)
        assert SECRET_TEXT not in text_of(event) and "/login/" not in text_of(event)

    # Alice's data is intact, Bob has none, no login link was made for anybody
    assert store.member_answers(alice_id) == answers_before
    assert store.get_member(alice_id)["consent_at"]
    conv = store.load_conversation("matrix", alice.user_id)
    assert conv is not None and conv.member_id == alice_id and conv.state == "reflect.question"
    assert store.member_id("matrix", bob.user_id) is None
    assert store.load_conversation("matrix", bob.user_id) is None
    assert store.conn.execute("SELECT COUNT(*) FROM web_logins").fetchone()[0] == logins_before

    # The room is not Alice's private chat any more: scheduled messages to it are refused
    with pytest.raises(Unreachable):
        await transport.sender.send(room, [Reply("Tip van de maand")], is_group=False)


def _crypto_db(store_dir: Path) -> Path:
    (db,) = [p for p in store_dir.glob("*.db")]
    return db


def _file_bytes(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.exists())


@pytest.mark.slow
async def test_vergeet_leaves_the_dm_and_drops_its_keys(bot, synapse, matrix_users, tmp_path):
    transport: MatrixTransport = bot["transport"]
    store: Store = bot["store"]
    alice = await member_of(bot, synapse, matrix_users, tmp_path, "alice")
    room = await alice.open_dm(encrypted=True)
    await _alice_reflects(bot, alice, room)
    crypto_db = _crypto_db(bot["settings"].matrix_store)
    with sqlite3.connect(crypto_db) as conn:
        (sessions,) = conn.execute("SELECT COUNT(*) FROM megolminboundsessions WHERE room_id = ?",
                                   (room,)).fetchone()
    assert sessions >= 1  # Alice's room key, which could decrypt what she said
    direct = await transport.client.list_direct_rooms()
    assert room in direct.rooms.get(alice.user_id, [])

    await alice.say(room, "!vergeet", "Weet je het zeker?")
    await alice.say(room, "1", "Alles is gewist")
    # the bot leaves the room (Alice sees it go) and forgets it
    await sync_until(alice.client,
                     lambda: transport.user_id not in alice.client.rooms[room].users
                     and transport.erasures == 1, "the bot to leave the DM")
    assert room not in transport.client.rooms
    joined = await transport.client.joined_rooms()
    assert room not in joined.rooms
    assert room not in transport.client.olm.inbound_group_store._entries
    assert alice.user_id not in transport.client.olm.device_store._entries
    with sqlite3.connect(crypto_db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM megolminboundsessions WHERE room_id = ?",
                            (room,)).fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM devicekeys WHERE user_id = ?",
                            (alice.user_id,)).fetchone() == (0,)
    direct = await transport.client.list_direct_rooms()
    assert alice.user_id not in getattr(direct, "rooms", {})

    # nothing readable is left: not in the database files, not in the crypto store
    db = bot["settings"].db_path
    teamspiegel_files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    crypto_files = [p for p in bot["settings"].matrix_store.iterdir() if p.is_file()]
    data = _file_bytes(teamspiegel_files)
    assert SECRET_TEXT.encode() not in data
    assert alice.user_id.encode() not in data
    crypto = _file_bytes(crypto_files)
    assert SECRET_TEXT.encode() not in crypto
    assert alice.user_id.encode() not in crypto
    assert store.member_id("matrix", alice.user_id) is None


@pytest.mark.slow
async def test_someone_invited_into_a_dm_cannot_read_its_past(bot, synapse, matrix_users,
                                                              tmp_path):
    """Unencrypted DM: Bob, invited in later, cannot scroll back to Alice's answers or the
    export the bot sent her (the bot limits a DM's history to members since their join)."""
    transport: MatrixTransport = bot["transport"]
    alice = await member_of(bot, synapse, matrix_users, tmp_path, "alice")
    bob = await member_of(bot, synapse, matrix_users, tmp_path, "bob")
    room = await alice.open_dm(encrypted=False)
    await sync_until(alice.client,
                     lambda: alice.client.rooms[room].history_visibility == "joined",
                     "the bot to limit the DM's history")
    await _alice_reflects(bot, alice, room)
    mark = alice.mark()
    await alice.say(room, "!mijngegevens", "Hier is alles")
    await sync_until(alice.client, lambda: _files(alice.since(mark, room)) != [],
                     "Alice's export file")

    assert isinstance(await alice.client.room_invite(room, bob.user_id), nio.RoomInviteResponse)
    await bob.join(room)
    await sync_round(bob.client)
    resp = await bob.client.room_messages(room, start=bob.client.next_batch, limit=200,
                                          direction=nio.MessageDirection.back)
    assert isinstance(resp, nio.RoomMessagesResponse), resp
    seen = [*resp.chunk, *(e for _, e in bob.received)]
    assert seen  # he does see the room (his own join at least)
    for event in seen:
        content = getattr(event, "source", {}).get("content", {})
        assert SECRET_TEXT not in json.dumps(content, ensure_ascii=False)
        assert content.get("msgtype") != "m.file" and "mxc://" not in json.dumps(content)
    assert transport.client.rooms[room].history_visibility == "joined"
