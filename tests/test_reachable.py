"""A member marked unreachable (they blocked the bot) becomes reachable when they write again."""

from tests.people import Person


def test_writing_again_clears_unreachable(engine, store):
    person = Person(engine, "42", platform="telegram")
    person.type("/start")
    person.press("ja", token=None)
    member_id = store.member_id("telegram", "42")
    assert member_id is not None
    with store.transaction():
        store.update_member(member_id, unreachable_at="2026-11-01T09:00:00+00:00")
    person.press("professional", token=None)
    assert store.get_member(member_id)["unreachable_at"] is None


def test_one_rule_for_unreachable_marks_and_cancels_what_waits(engine, store):
    """A transport that sees a block tells the engine; the store's one rule marks the member
    and cancels their scheduled messages, as the outbox does after a 403."""
    person = Person(engine, "42", platform="telegram")
    person.type("/start")
    person.press("ja", token=None)
    member_id = store.member_id("telegram", "42")
    with store.transaction():
        store.enqueue_row(platform="telegram", chat_id="42", kind="tip", period="2026-03",
                          payload="[]", not_before="2000-01-01T00:00:00+00:00",
                          now="2000-01-01T00:00:00+00:00", member_id=member_id)
    assert engine.set_reachable("telegram", "42", False)
    assert store.get_member(member_id)["unreachable_at"]
    status = store.conn.execute("SELECT status FROM outbox WHERE member_id = ?",
                                (member_id,)).fetchone()[0]
    assert status == "cancelled"
    assert engine.set_reachable("telegram", "42", True)
    assert store.get_member(member_id)["unreachable_at"] is None
    assert not engine.set_reachable("telegram", "nobody", False)  # unknown: nothing recorded
