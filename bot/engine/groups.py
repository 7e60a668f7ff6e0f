"""Group chats: only a few commands; reflection always moves to the private chat.

Linking a group to a team needs no code that everyone in the group can reuse. An owner asks
in the private chat for a group-link code (``/koppel`` there): single use, valid for minutes.
On Telegram its ``startgroup`` link makes Telegram send ``/start CODE`` in the chosen group,
from the person who picked it; on Matrix the owner types ``!koppel CODE`` in the room. The
group is linked only when that sender is an owner of the code's team *now*; anyone else is
refused (audited) and the code stays unused for the owner. The team's member invite code no
longer links anything (``/koppel INVITECODE`` gets the new way explained), and a personal
owner or leader invite pasted into a group is revoked on the spot: everyone there saw it.
"""

from __future__ import annotations

from datetime import UTC

from bot.engine.messages import Incoming, Link, Reply, private_link
from bot.engine.turn import TurnEngine


def handle_group(engine: TurnEngine, inc: Incoming) -> list[Reply]:
    """The replies to a group message, in the forum topic it was written in."""
    replies = _handle_group(engine, inc)
    for reply in replies:
        reply.thread_id = reply.thread_id or inc.thread_id
    return replies


def _handle_group(engine: TurnEngine, inc: Incoming) -> list[Reply]:
    d = engine.dialogues
    if inc.kind != "command":
        return []  # privacy mode: people talk to each other here, not to us
    name = d.command_names.get((inc.command or "").lower())
    if name == "gesprek":  # the team conversation (bot.engine.session)
        from bot.engine.session import handle_command

        return handle_command(engine, inc)
    code = inc.args.strip().split()[0] if inc.args.strip() else ""
    if name == "koppel":
        if not code:
            return [Reply(d.text("group_link_usage"))]
        return link_group(engine, inc, code)
    if name == "privacy":  # the same statement for everyone: nothing personal in it
        return [Reply(engine.text("privacy"))]
    if name == "start" and code:
        replies = link_group(engine, inc, code, quiet_unknown=True)
        if replies:
            return replies
    # everything else, /start and /help included, happens in the private chat
    return [Reply(d.text("group_private"),
                  links=[Link(d.text("private_chat_button"), private_link())])]


def link_group(engine: TurnEngine, inc: Incoming, code: str, *,
               quiet_unknown: bool = False) -> list[Reply]:
    """Link the group ``inc`` came from with a group-link code (see the module's text)."""
    d, store = engine.dialogues, engine.store
    now = engine.clock().astimezone(UTC).isoformat(timespec="seconds")
    member_id = store.member_id(inc.platform, inc.user_id)
    row, reason = store.check_invite(code, now)
    if row is None:
        if reason == "unknown" and quiet_unknown:
            return []  # /start with something that is no code of ours
        store.audit(f"link_group:{reason}", actor=member_id)
        return [Reply(d.text("group_code_invalid"))]
    team_id = int(row["team_id"])
    if row["kind"] == "member":  # the old way: /koppel INVITECODE
        store.audit("link_group:member_code", actor=member_id, team_id=team_id)
        return [Reply(d.text("group_link_new_way"))]
    if row["kind"] in ("owner", "leader"):  # a personal invite, now seen by the whole group
        store.revoke_invite(row["token"])
        store.audit(f"invite_exposed:{row['kind']}", actor=member_id, team_id=team_id)
        return [Reply(d.text("group_invite_exposed"))]
    if not store.is_owner(member_id, team_id):
        store.audit("link_group:denied", actor=member_id, team_id=team_id)
        return [Reply(d.text("group_link_denied"))]
    store.use_typed_invite(row["token"], member_id, now)
    store.link_chat(inc.platform, inc.chat_id, team_id, member_id)
    store.audit("link_group", actor=member_id, team_id=team_id)
    team = store.get_team(team_id)
    return [Reply(d.text("group_linked", team=team["name"] if team else ""))]
