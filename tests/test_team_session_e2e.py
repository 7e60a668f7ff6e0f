"""End to end: a team conversation through the real bot process against the fake Bot API.

A team with an owner and six members, each with a private chat, and a linked supergroup with
forum topics. The owner starts ``/gesprek 4`` in a topic; the members vote with the buttons of the
ballot in their private chat; the bot is killed with SIGKILL in the middle and restarted; the
first vote closes with three votes (no result: the group needs ``k + 1 = 4``), the second with
four; ``/gesprek klaar`` sums up exactly once; the owner writes an agreement down, which the group
sees and the next monthly tip brings back. In a second group, large enough, the same with
Telegram's anonymous native poll (``sendPoll`` with ``is_anonymous``; votes come back as poll
updates with counts only). Waits wait for progress, never for the clock.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import Conversation, Store
from tests.fakes.fake_bot_api import FakeBotAPI
from tests.telegram_helpers import Person, TelegramBot, db_rows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TOKEN = "7000003:AAHx-session-secret-token-abcdefghij"
OWNER = 6100
MEMBERS = [6101, 6102, 6103, 6104, 6105, 6106]
GROUP, TOPIC = -1001234567, 77
BIG_GROUP = -1009876543
WAIT = 90.0  # seconds without progress before a wait gives up (busy machines are slow)


def _seed(db: Path) -> int:
    store = Store(db)
    try:
        with store.transaction():
            team = store.create_team("Wijkteam Noord")
            store.set_tip_schedule(team, json.dumps({"off": True}))
            store.conn.execute("UPDATE teams SET reflection_cadence = 'off' WHERE id = ?",
                               (team,))
            for uid in [OWNER, *MEMBERS]:
                member = store.get_or_create_member("telegram", str(uid))
                store.set_consent(member)
                role = "manager" if uid == OWNER else "professional"
                store.join_team(member, team, role)
                store.save_conversation(Conversation(
                    None, "telegram", str(uid), member, "menu.main",
                    {"role": role, "team_id": team}, user_id=str(uid)))
                if uid == OWNER:
                    store.grant_access(team, member, "owner", by=None, via="cli")
                    owner_id = member
            store.link_chat("telegram", str(GROUP), team, owner_id)
            store.link_chat("telegram", str(BIG_GROUP), team, owner_id)
        return team
    finally:
        store.close()


#: the group limit is the dispatcher's (tested there); here it only slows us down
FAST_GROUPS = {"TEAMSPIEGEL_RATE_GROUP_MINUTE": "600", "TEAMSPIEGEL_RATE_CHAT": "20"}


async def _until(fake: FakeBotAPI, predicate, what: str) -> None:  # noqa: ANN001
    """Wait until ``predicate()``; fails only when nothing moved for :data:`WAIT` seconds."""
    seen = -1
    while not predicate():
        moved = len(fake.calls())
        if moved == seen:
            raise AssertionError(f"no progress while waiting for {what}")
        seen = moved
        try:
            await fake.wait_for_async(predicate, timeout=WAIT)
        except Exception:  # noqa: BLE001 - timed out: look whether anything moved
            continue
    return None


def _group_texts(fake: FakeBotAPI, chat: int) -> list[str]:
    return [m.text or m.caption or "" for m in fake.sent_to(chat) if m.from_bot]


async def _group_command(fake: FakeBotAPI, text: str, chat: int = GROUP,
                         topic: int | None = TOPIC) -> None:
    update = fake.push_group_message(OWNER, chat, text, chat_type="supergroup",
                                     thread_id=topic)
    await _until(fake, lambda: all(u["update_id"] != update for u in fake.pending_updates()),
                 f"the bot to take {text!r}")


def _ballots(fake: FakeBotAPI, uid: int) -> list:  # noqa: ANN202
    return [m for m in fake.sent_to(uid) if m.from_bot and "Stemming in het teamgesprek" in
            (m.text or "")]


async def _vote(fake: FakeBotAPI, uid: int, label: str, n: int) -> None:
    """Press ``label`` on the ``n``-th ballot in the member's private chat."""
    await _until(fake, lambda: len(_ballots(fake, uid)) >= n, f"ballot {n} for {uid}")
    person = Person(fake, uid)
    message = _ballots(fake, uid)[n - 1]
    data = next(b["callback_data"] for row in message.reply_markup["inline_keyboard"]
                for b in row if b["text"] == label)
    await person._apushed(fake.push_callback(uid, data, message.message_id), timeout=WAIT)
    assert "Je stem telt mee" in "\n".join(person.fake.transcript(uid)[-4:])


def _no_member_id_in_session_tables(db: Path) -> None:
    ids = {str(r[0]) for r in db_rows(db, "SELECT id FROM members")}
    ids |= {str(u) for u in [OWNER, *MEMBERS]}
    for table in ["team_sessions", "session_items", "session_votes", "session_ballots"]:
        for row in db_rows(db, f"SELECT * FROM {table}"):
            flat = " ".join(v.hex() if isinstance(v, bytes) else str(v) for v in row)
            assert not any(i in flat.split() or f'"{i}"' in flat for i in ids), (table, row)


async def test_a_team_conversation_with_private_votes_a_crash_and_a_native_poll(tmp_path):
    db = tmp_path / "teamspiegel.db"
    team = _seed(db)
    with FakeBotAPI(token=TOKEN) as fake:
        bot = TelegramBot(db, fake, tmp_path / "bot.log", **FAST_GROUPS)
        try:
            bot.start()
            # -- private votes, in a forum topic ----------------------------------------------
            await _group_command(fake, "/gesprek 4")
            await _until(fake, lambda: any("Vraag 1 van 3" in t for t in _group_texts(
                fake, GROUP)), "the first vote in the group")
            posts = [m for m in fake.sent_to(GROUP) if m.from_bot]
            assert all(m.raw.get("message_thread_id") == TOPIC for m in posts)  # the topic
            assert "anoniem" in "\n".join(_group_texts(fake, GROUP))
            for uid in MEMBERS[:3]:
                await _vote(fake, uid, "4", 1)
            await _until(fake, lambda: any("tot nu toe" in t for t in _group_texts(
                fake, GROUP)), "the count so far in the group")
            # crash in the middle of the conversation; the restarted bot goes on
            bot.kill()
            bot.start()
            await _group_command(fake, "/gesprek volgende")
            await _until(fake, lambda: any("Vraag 2 van 3" in t for t in _group_texts(
                fake, GROUP)), "the second vote")
            text = "\n".join(_group_texts(fake, GROUP))
            assert "3 stemmen: te weinig voor een uitslag" in text  # fewer than k + 1
            assert "Gemiddeld" not in text
            for uid in MEMBERS[:4]:
                await _vote(fake, uid, "2", 2)
            _no_member_id_in_session_tables(db)
            await _group_command(fake, "/gesprek klaar")
            await _until(fake, lambda: any("Samenvatting van het teamgesprek" in t for t in
                                           _group_texts(fake, GROUP)), "the summary")
            text = "\n".join(_group_texts(fake, GROUP))
            assert text.count("Samenvatting van het teamgesprek") == 1
            assert "(4 stemmen)" in text and "Gemiddeld 2,0." in text
            # the owner writes the agreement down in the private chat
            owner = Person(fake, OWNER)
            await _until(fake, lambda: any("Afspraken vastleggen" in b for row in (
                m.buttons() for m in fake.sent_to(OWNER)) for b in row), "the agreements question")
            await owner.press("Afspraken vastleggen")
            await owner.say("Elke maand casusoverleg over wie de regie heeft")
            await owner.press("Het hele team")
            await owner.press("Geen datum")
            await owner.press("Klaar: zet ze in de groep")
            await _until(fake, lambda: any("Afspraken uit het teamgesprek" in t for t in
                                           _group_texts(fake, GROUP)), "the agreements in the group")
            # -- a native poll in a group large enough -----------------------------------------
            fake.set_member_count(BIG_GROUP, 12)
            await _group_command(fake, "/gesprek 4 peiling", chat=BIG_GROUP, topic=None)
            await _until(fake, lambda: fake.polls(BIG_GROUP), "the poll")
            # the bot knows the poll once the dispatcher stored its id (a vote in the moment
            # before counts only at the poll's end: stopPoll's final counts decide)
            await _until(fake, lambda: db_rows(db, "SELECT 1 FROM outbox WHERE period LIKE "
                                                   "'%:poll' AND status = 'sent'"),
                         "the poll's id in the store")
            calls = fake.calls("sendPoll")
            assert calls and calls[0].params.get("is_anonymous") in (True, "true")
            for i, uid in enumerate(MEMBERS[:5]):
                fake.vote_poll(uid, 2 if i < 3 else 3, chat_id=BIG_GROUP)
            await _until(fake, lambda: not fake.pending_updates(), "the poll updates")
            counts = db_rows(db, "SELECT option, votes FROM session_votes ORDER BY option")
            assert counts == [("3", 3), ("4", 2)]  # counts only: no voter anywhere
            await _group_command(fake, "/gesprek klaar", chat=BIG_GROUP, topic=None)
            await _until(fake, lambda: any("Samenvatting" in t for t in _group_texts(
                fake, BIG_GROUP)), "the poll's summary")
            assert fake.calls("stopPoll")
            assert fake.polls(BIG_GROUP)[0].raw["poll"]["is_closed"]
            assert "3: 3 · 4: 2 · 5 – Helemaal wel: 0 (5 stemmen)" in "\n".join(
                _group_texts(fake, BIG_GROUP))
        finally:
            bot.cleanup()
    _no_member_id_in_session_tables(db)
    # the agreement is an action of the team, which the next monthly tip brings back
    store = Store(db)
    try:
        actions = store.team_actions(team)
        assert [a["text"] for a in actions] == ["Elke maand casusoverleg over wie de regie heeft"]
        from bot.engine.team_actions import tip_note

        note = tip_note(store, team, None, datetime.now(UTC) + timedelta(days=20))
        assert note is not None and "Elke maand casusoverleg" in note
        done = [s for s in store.team_sessions(team) if s["status"] == "closed"]
        assert len(done) == 2
    finally:
        store.close()
    assert asyncio  # the module runs its waits on the test's loop


async def test_a_dilemma_card_of_the_policy_pack_voted_in_the_group(tmp_path):
    """A team with the policy principles pack (issue 13): the owner puts its first dilemma card
    to the group, the members vote on its two sides in their private chats, the summary gives
    the sides' counts once the group has k + 1 votes."""
    from bot.content import get_content
    from bot.packs import choose_packs

    db = tmp_path / "teamspiegel.db"
    team = _seed(db)
    content = get_content()
    dilemma = content.pack("beleidsuitgangspunten").dilemmas[0]
    store = Store(db)
    try:
        with store.transaction():
            choose_packs(store, content, team, on=["beleidsuitgangspunten"], actor=None,
                         via="cli")
    finally:
        store.close()
    with FakeBotAPI(token=TOKEN) as fake:
        bot = TelegramBot(db, fake, tmp_path / "bot.log", **FAST_GROUPS)
        try:
            bot.start()
            await _group_command(fake, "/gesprek dilemma 1")
            await _until(fake, lambda: any(dilemma.title in t for t in _group_texts(
                fake, GROUP)), "the dilemma in the group")
            for i, uid in enumerate(MEMBERS[:4]):
                await _vote(fake, uid, dilemma.sides[0] if i < 3 else dilemma.sides[1], 1)
            await _group_command(fake, "/gesprek klaar")
            await _until(fake, lambda: any("Samenvatting van het teamgesprek" in t for t in
                                           _group_texts(fake, GROUP)), "the summary")
            text = "\n".join(_group_texts(fake, GROUP))
            assert f"{dilemma.sides[0]}: 3 · {dilemma.sides[1]}: 1 (4 stemmen)" in text
            assert text.count("Samenvatting van het teamgesprek") == 1
        finally:
            bot.cleanup()
    _no_member_id_in_session_tables(db)
