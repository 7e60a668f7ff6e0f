"""Conditions, actions, providers and renderers of typed invites and of the owners' flow.

Registered in :data:`bot.engine.registry.REGISTRY` (the engine imports this module).

* Joining with an invite (``/start CODE``, or the code typed while onboarding): a *member*
  invite joins the team, an *owner* invite also makes the person an owner, a *leader* invite
  gives read rights; both join the person as a member first (they still chose the role they
  answer as). A *group* code is not for a person: it links a group chat (see
  :mod:`bot.engine.groups`).
* ``/beheer`` (and "Team beheren" in the menu) opens ``dialogues/access.yaml`` for owners: a
  leader invite for a named person (single use, expiring), the list of owners and readers with
  revoking, a group-link code, an owner invite. ``/koppel`` in the private chat goes straight
  to the group-link code, ``/leesrecht`` to the name for a leader invite. Every action checks again that the person is an owner of the team
  *now*; a refusal is audited.

Links: the engine does not know the bot's public address. The application sets the plug-in
``invite_link(platform, token, group) -> str | None`` (Telegram: ``t.me/<bot>?start=`` or
``?startgroup=``); without a link (Matrix, console) the reply says what to type instead.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime, timedelta

from bot.engine.actions import _join
from bot.engine.messages import Choice, Link, Reply
from bot.engine.registry import action, condition, provider, renderer
from bot.engine.turn import Turn
from bot.store.access import OWNER, READER

__all__ = [
    "GROUP_CODE_TTL",
    "LABEL_MAX",
    "LEADER_INVITE_TTL",
    "OWNER_INVITE_TTL",
    "clean_label",
    "qr_png",
]

#: a leader invite (read right for a named person) works once, for this long
LEADER_INVITE_TTL = timedelta(days=7)
#: an owner invite made in the chat works once, for this long
OWNER_INVITE_TTL = timedelta(days=7)
#: a group-link code works once, for this long (it is shown in the group on Matrix)
GROUP_CODE_TTL = timedelta(minutes=15)
#: the name an owner types for a person (stored with the invite, then with the grant)
LABEL_MAX = 60


def clean_label(text: str) -> str | None:
    """A typed name as stored: no control characters, single spaces; None if unusable."""
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = " ".join(text.split())
    return text if 0 < len(text) <= LABEL_MAX else None


def qr_png(url: str) -> bytes:
    """A QR code of ``url`` as PNG (the same look as ``teamspiegel team invite --qr``)."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=2)
    return buf.getvalue()


def _now_stamp(turn: Turn) -> str:
    return turn.now().astimezone(UTC).isoformat(timespec="seconds")


def _cmd(turn: Turn, name: str) -> str:
    """How a command is typed on this platform (Element intercepts unknown slash commands)."""
    return f"{'!' if turn.incoming.platform == 'matrix' else '/'}{name}"


def _date_nl(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{when.day}-{when.month}-{when.year}"


def _team_name(turn: Turn, team_id: int) -> str:
    team = turn.store.get_team(team_id)
    return str(team["name"]) if team else ""


def invite_reply(turn: Turn, text: str, token: str, *, group: bool = False) -> Reply:
    """The message with an invite: a link button and a QR code when the platform has links,
    else the words to type."""
    hook = turn.engine.plugins.invite_link
    url = hook(turn.incoming.platform, token, group) if hook is not None else None
    key = ("group_code" if group else "invite_code") + ("_hint" if url else "_only")
    hint = turn.text(key, cmd=_cmd(turn, "koppel" if group else "start"), code=token)
    # a single-use invite is a key: personal, never sent where others read along
    if url is None:
        return Reply(f"{text}\n\n{hint}", personal=True)
    label = turn.text("group_code_button" if group else "invite_button")
    return Reply(f"{text}\n\n{hint}", links=[Link(label, url)],
                 image=("teamspiegel-uitnodiging.png", qr_png(url)), personal=True)


# -- joining with an invite ------------------------------------------------------------------


@condition("valid_invite")
def valid_invite(turn: Turn, arg: str | None) -> bool:
    """A typed code that joins a person to a team (not a group-link code)."""
    row, _ = turn.store.check_invite(str(turn.value), _now_stamp(turn))
    return row is not None and row["kind"] != "group"


def _redeem(turn: Turn, token: str) -> None:
    store = turn.store
    row, reason = store.check_invite(token, _now_stamp(turn))
    if row is None:
        turn.say(f"invite_{reason}")
        return
    if row["kind"] == "group":  # meant for a group chat; stays unused
        turn.say("invite_group_code_private", cmd=_cmd(turn, "koppel"))
        return
    store.use_typed_invite(token, turn.member_id, _now_stamp(turn))
    team_id = int(row["team_id"])
    _join(turn, team_id)
    if row["kind"] in ("owner", "leader") and turn.member_id is not None:
        access = OWNER if row["kind"] == "owner" else READER
        store.grant_access(team_id, turn.member_id, access, by=row["created_by"],
                           via=f"{row['kind']}_invite", label=row["label"])
        name = _team_name(turn, team_id)
        if store.access_of(turn.member_id, team_id) == OWNER:
            turn.say("owner_joined", team=name, beheer=_cmd(turn, "beheer"))
        else:
            turn.say("reader_joined", team=name)


@action("join_pending_invite")
def join_pending_invite(turn: Turn, arg: str | None) -> None:
    _redeem(turn, str(turn.ctx.pop("invite")))


@action("join_invite")
def join_invite(turn: Turn, arg: str | None) -> None:
    _redeem(turn, str(turn.value))


@action("explain_invite_problem")
def explain_invite_problem(turn: Turn, arg: str | None) -> None:
    row, reason = turn.store.check_invite(str(turn.value), _now_stamp(turn))
    if row is not None and row["kind"] == "group":
        turn.say("invite_group_code_private", cmd=_cmd(turn, "koppel"))
    else:
        turn.say(f"invite_{reason}")


# -- the owners' flow: conditions and actions ------------------------------------------------


@condition("owns_several_teams")
def owns_several_teams(turn: Turn, arg: str | None) -> bool:
    return turn.member_id is not None and len(turn.store.owned_teams(turn.member_id)) > 1


@condition("access_intent")
def access_intent(turn: Turn, arg: str | None) -> bool:
    return turn.ctx.get("access_intent") == arg


@condition("choice_prefix")
def choice_prefix(turn: Turn, arg: str | None) -> bool:
    return str(turn.value).startswith(f"{arg}:")


@condition("valid_label")
def valid_label(turn: Turn, arg: str | None) -> bool:
    return clean_label(str(turn.value)) is not None


@action("deny_owner_only")
def deny_owner_only(turn: Turn, arg: str | None) -> None:
    """Someone who owns no team asked for an owner's command: refused, audited."""
    turn.store.audit(f"owner_command:{arg or 'beheer'}:denied", actor=turn.member_id)
    turn.say("not_owner")


def _owned_team(turn: Turn, what: str) -> int | None:
    """The team this owner's flow is about, if the person still owns it; else refuse, audit
    and leave the flow's team unset."""
    team_id = turn.ctx.get("access_team")
    if team_id is not None and turn.store.is_owner(turn.member_id, int(team_id)):
        return int(team_id)
    turn.store.audit(f"{what}:denied", actor=turn.member_id,
                     team_id=int(team_id) if team_id is not None else None)
    turn.ctx.pop("access_team", None)
    turn.say("not_owner")
    return None


@action("start_access")
def start_access(turn: Turn, arg: str | None) -> None:
    turn.ctx["access_intent"] = arg or "menu"
    turn.ctx.pop("access_team", None)


@action("set_access_team")
def set_access_team(turn: Turn, arg: str | None) -> None:
    """The team picked from the owner's teams (or the only one)."""
    owned = turn.store.owned_teams(turn.member_id or 0)
    ids = [int(t["id"]) for t in owned]
    picked = int(turn.value) if str(turn.value or "").isdigit() else None
    if picked in ids:
        turn.ctx["access_team"] = picked
    elif len(ids) == 1:
        turn.ctx["access_team"] = ids[0]
    else:
        turn.ctx.pop("access_team", None)


@condition("owned_team_choice")
def owned_team_choice(turn: Turn, arg: str | None) -> bool:
    value = str(turn.value or "")
    return value.isdigit() and turn.store.is_owner(turn.member_id, int(value))


@condition("has_access_team")
def has_access_team(turn: Turn, arg: str | None) -> bool:
    return turn.ctx.get("access_team") is not None


@action("clear_access_intent")
def clear_access_intent(turn: Turn, arg: str | None) -> None:
    turn.ctx.pop("access_intent", None)


@action("ask_invite_name")
def ask_invite_name(turn: Turn, arg: str | None) -> None:
    turn.ctx["access_kind"] = "owner" if arg == "owner" else "leader"


@action("make_named_invite")
def make_named_invite(turn: Turn, arg: str | None) -> None:
    """A single-use, expiring owner or leader invite for the person the owner named."""
    kind = "owner" if turn.ctx.pop("access_kind", "leader") == "owner" else "leader"
    team_id = _owned_team(turn, f"invite_{kind}")
    label = clean_label(str(turn.value))
    if team_id is None or label is None:
        return
    ttl = OWNER_INVITE_TTL if kind == "owner" else LEADER_INVITE_TTL
    expires = turn.now().astimezone(UTC) + ttl
    token = turn.store.create_typed_invite(team_id, kind, expires_at=expires,
                                           created_by=turn.member_id, label=label)
    text = turn.text(f"{kind}_invite_made", name=label, team=_team_name(turn, team_id),
                     date=_date_nl(expires))
    turn.replies.append(invite_reply(turn, text, token))


@action("make_group_code")
def make_group_code(turn: Turn, arg: str | None) -> None:
    """A single-use code that links a group chat, valid for minutes."""
    turn.ctx.pop("access_intent", None)
    team_id = _owned_team(turn, "group_code")
    if team_id is None:
        return
    expires = turn.now().astimezone(UTC) + GROUP_CODE_TTL
    token = turn.store.create_typed_invite(team_id, "group", expires_at=expires,
                                           created_by=turn.member_id)
    text = turn.text("group_code_made", team=_team_name(turn, team_id),
                     minutes=int(GROUP_CODE_TTL.total_seconds() // 60))
    turn.replies.append(invite_reply(turn, text, token, group=True))


@action("ask_revoke")
def ask_revoke(turn: Turn, arg: str | None) -> None:
    """Remember the picked ``revoke:<member id>`` or ``uninvite:<token>`` until it is
    confirmed (``access.confirm_revoke``)."""
    turn.ctx["access_pending"] = str(turn.value)


@condition("pending_revoke")
def pending_revoke(turn: Turn, arg: str | None) -> bool:
    return str(turn.ctx.get("access_pending") or "").startswith(f"{arg}:")


@action("clear_pending_revoke")
def clear_pending_revoke(turn: Turn, arg: str | None) -> None:
    turn.ctx.pop("access_pending", None)


def _picked(turn: Turn) -> str:
    """The option the owner picked and then confirmed (or picked just now)."""
    return str(turn.ctx.pop("access_pending", None) or turn.value)


@action("revoke_reader")
def revoke_reader(turn: Turn, arg: str | None) -> None:
    """``revoke:<member id>``: take a reader's right away (owners stay: the operator removes
    owners with the command line)."""
    picked = _picked(turn)
    team_id = _owned_team(turn, "revoke_read")
    if team_id is None:
        return
    raw = picked.partition(":")[2]
    member_id = int(raw) if raw.isdigit() else -1
    label = next((r["label"] for r in turn.store.team_access_list(team_id)
                  if r["member_id"] == member_id), None)
    result = turn.store.revoke_access(team_id, member_id, by=turn.member_id, via="chat")
    if result == "revoked":
        turn.say("reader_revoked", name=label or turn.text("access_no_name"))
    elif result == "owner":
        turn.say("owner_not_revoked")
    else:
        turn.say("reader_not_found")


@action("cancel_invite")
def cancel_invite(turn: Turn, arg: str | None) -> None:
    """``uninvite:<token>``: an open owner or leader invite of this team stops working."""
    picked = _picked(turn)
    team_id = _owned_team(turn, "cancel_invite")
    if team_id is None:
        return
    token = picked.partition(":")[2]
    row = next((r for r in turn.store.open_invites(team_id, ("owner", "leader"),
                                                     _now_stamp(turn))
                if r["token"] == token), None)
    if row is None:
        turn.say("reader_not_found")
        return
    turn.store.revoke_invite(token)
    turn.store.audit(f"invite_revoked:{row['kind']}", actor=turn.member_id, team_id=team_id)
    turn.say("invite_cancelled", name=row["label"] or turn.text("access_no_name"))


# -- prompts of the owners' flow -----------------------------------------------------------------


@provider("owned_team_choices")
def owned_team_choices(turn: Turn) -> list[Choice]:
    return [Choice(str(t["name"]), str(t["id"]))
            for t in turn.store.owned_teams(turn.member_id or 0)]


@renderer("access_menu")
def render_access_menu(turn: Turn) -> list[Reply]:
    team_id = turn.ctx.get("access_team")
    name = _team_name(turn, int(team_id)) if team_id is not None else ""
    choices = [
        Choice("Leesrecht geven (uitnodiging)", "leader"),
        Choice("Wie mag lezen?", "readers"),
        Choice("Groep koppelen", "group"),
        Choice(turn.text("access_packs"), "packs"),
        Choice("Eigenaar toevoegen", "owner"),
        Choice("Klaar", "done"),
    ]
    return [Reply(turn.text("access_menu", team=name), choices=choices, expects="choice")]


@renderer("access_readers")
def render_access_readers(turn: Turn) -> list[Reply]:
    team_id = turn.ctx.get("access_team")
    back = Choice("Terug", "back")
    if team_id is None or not turn.store.is_owner(turn.member_id, int(team_id)):
        return [Reply(turn.text("not_owner"), choices=[back], expects="choice")]
    team_id = int(team_id)
    no_name = turn.text("access_no_name")
    lines = [turn.text("access_readers_title", team=_team_name(turn, team_id))]
    choices: list[Choice] = []
    for row in turn.store.team_access_list(team_id):
        who = row["label"] or no_name
        if row["member_id"] == turn.member_id:
            who += " (jij)"
        kind = "eigenaar" if row["access"] == OWNER else "lezer"
        lines.append(f"• {who}: {kind}, sinds {_date_nl(row['granted_at'])}")
        if row["access"] == READER:
            choices.append(Choice(f"Leesrecht intrekken: {row['label'] or no_name}",
                                  f"revoke:{row['member_id']}"))
    invites = turn.store.open_invites(team_id, ("owner", "leader"), _now_stamp(turn))
    if invites:
        lines += ["", turn.text("access_open_invites")]
        for inv in invites:
            what = "eigenaar" if inv["kind"] == "owner" else "leesrecht"
            label = inv["label"] or no_name
            lines.append(f"• {label}: {what}, tot {_date_nl(inv['expires_at'])}")
            choices.append(Choice(f"Uitnodiging intrekken: {label}", f"uninvite:{inv['token']}"))
    lines += ["", turn.text("access_readers_footer")]
    return [Reply("\n".join(lines), choices=[*choices, back], expects="choice")]


@renderer("access_confirm_revoke")
def render_access_confirm_revoke(turn: Turn) -> list[Reply]:
    """"Leesrecht van Bas intrekken?": names the person by the owners' own label only."""
    picked = str(turn.ctx.get("access_pending") or "")
    kind, _, ref = picked.partition(":")
    team_id = turn.ctx.get("access_team")
    choices = [Choice("Ja, intrekken", "ja"), Choice("Nee, laten staan", "nee")]
    no_name = turn.text("access_no_name")
    if team_id is None:
        return [Reply(turn.text("not_owner"), choices=choices[1:], expects="choice")]
    team_id = int(team_id)
    if kind == "uninvite":
        row = next((r for r in turn.store.open_invites(team_id, ("owner", "leader"),
                                                         _now_stamp(turn))
                    if r["token"] == ref), None)
        name = (row["label"] if row else None) or no_name
        text = turn.text("access_confirm_uninvite", name=name)
    else:
        label = next((r["label"] for r in turn.store.team_access_list(team_id)
                      if ref.isdigit() and r["member_id"] == int(ref)), None)
        text = turn.text("access_confirm_revoke", name=label or no_name,
                         team=_team_name(turn, team_id))
    return [Reply(text, choices=choices, expects="choice")]
