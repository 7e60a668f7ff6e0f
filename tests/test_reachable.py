"""A member marked unreachable (they blocked the bot) becomes reachable when they write again."""

from bot.engine.messages import Incoming


def test_writing_again_clears_unreachable(engine, store):
    def say(kind: str, **kw) -> None:
        engine.handle(Incoming("telegram", "42", "42", kind, **kw))

    say("command", command="start")
    say("choice", value="ja")
    member_id = store.member_id("telegram", "42")
    assert member_id is not None
    with store.transaction():
        store.update_member(member_id, unreachable_at="2026-11-01T09:00:00+00:00")
    say("choice", value="professional")
    assert store.get_member(member_id)["unreachable_at"] is None
