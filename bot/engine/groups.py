"""Group chats: only a few commands; reflection always moves to the private chat."""

from __future__ import annotations

from bot.engine.messages import Incoming, Link, Reply

MANAGER_ROLES = {"manager", "beleid"}


def handle_group(engine: object, inc: Incoming) -> list[Reply]:
    from bot.engine.core import Engine

    assert isinstance(engine, Engine)
    d, store = engine.dialogues, engine.store
    if inc.kind != "command":
        return []  # privacy mode: people talk to each other here, not to us
    name = d.command_names.get((inc.command or "").lower())
    if name == "koppel":
        token = inc.args.strip().split()[0] if inc.args.strip() else ""
        if not token:
            return [Reply(d.text("group_link_usage"))]
        team_id, reason = store.resolve_invite(token)
        if team_id is None:
            return [Reply(d.text(f"invite_{reason}"))]
        member_id = store.member_id(inc.platform, inc.user_id)
        role = store.role_in_team(member_id, team_id) if member_id else None
        if role not in MANAGER_ROLES:
            return [Reply(d.text("group_link_denied"))]
        store.link_chat(inc.platform, inc.chat_id, team_id, member_id)
        store.audit("link_group", actor=member_id, team_id=team_id)
        team = store.get_team(team_id)
        return [Reply(d.text("group_linked", team=team["name"] if team else ""))]
    if name == "help":
        return [Reply(d.text("group_private"), links=[Link("Naar de privéchat", "private:")])]
    # everything else, /start included, happens in the private chat
    return [Reply(d.text("group_private"), links=[Link("Naar de privéchat", "private:")])]
