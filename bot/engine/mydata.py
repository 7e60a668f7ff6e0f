"""``/mijngegevens``: everything held about a person, as a file they can read.

The store says what is held (:meth:`bot.store.Store.export_member`: every table that refers to
members, found in the schema itself); this module says it in plain Dutch: Dutch keys, team
names instead of numbers, the question as it was asked, yes/no instead of 0/1, and a short
``uitleg`` at the top. Internal bookkeeping (row numbers, the conversation's cursor and prompt
counter, message ids) is left out: it says nothing about the person. A table this module does
not know yet (one a later release adds) is still exported, under ``overige_gegevens`` with its
own column names, so nothing held is ever missing from the file.

Before consent there is no member: the file then holds the little there is, the pending
conversation (where you are in the first step, the invite code you came with).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.content import Content
from bot.nl import ROLE_NAMES
from bot.store import Conversation, Store

__all__ = ["SECTIONS", "export_document", "export_json"]

FILENAME = "teamspiegel-mijngegevens.json"

ROLE_NL = ROLE_NAMES
KIND_NL = {"tip": "maandtip", "invite": "uitnodiging voor een nieuwe ronde",
           "reminder": "herinnering"}
STATUS_NL = {
    "pending": "gepland", "sending": "wordt verstuurd", "sent": "verstuurd",
    "failed": "mislukt", "unreachable": "kwam niet aan (chat onbereikbaar)",
    "uncertain": "onzeker of het aankwam", "cancelled": "niet meer nodig",
    "dropped": "niet verstuurd",
}
PLATFORM_NL = {"telegram": "Telegram", "matrix": "Matrix", "console": "terminal"}
STATE_NL = {
    "onboarding.welcome": "bij de vraag of je meedoet",
    "onboarding.role": "bij de vraag naar je rol",
    "onboarding.team": "bij de vraag naar de code van je team",
    "menu.main": "in het menu",
    "menu.paused": "gepauzeerd",
    "reflect.pick_theme": "bij het kiezen van een thema",
    "reflect.question": "bij een vraag van je ronde",
    "reflect.explain": "bij een toelichting",
    "reflect.follow_up": "bij het open deel van een vraag",
    "reflect.confirm_new": "bij de vraag of je een nieuwe ronde begint",
    "reflect.pick_team": "bij de vraag voor welk team je ronde is",
    "onboarding.change_role": "bij het wijzigen van je rol",
    "reflect.share": "bij de vraag of je tekst gedeeld mag worden",
    "reflect.share_again": "bij de vraag of je aangepaste tekst gedeeld mag worden",
    "reflect.summary": "bij de samenvatting van je ronde",
    "reflect.edit_pick": "bij het aanpassen van een antwoord",
    "extras.tip_text": "bij je reactie op de maandtip",
    "extras.forget": "bij de vraag of je alles wilt wissen",
    "packs.pick_pack": "bij het kiezen van een vragenpakket",
    "packs.pick_unit": "bij het kiezen in een vragenpakket",
    "packs.choose": "bij het kiezen van de vragenpakketten van je team",
}

#: table -> the section it becomes in the file (tables not listed: ``overige_gegevens``)
SECTIONS: dict[str, str] = {
    "memberships": "teams",
    "runs": "rondes",
    "answers": "antwoorden",
    "conversations": "gesprek",
    "tip_reactions": "reacties_op_maandtips",
    "outbox": "berichten_van_mij",
    "web_logins": "inloglinks_dashboard",
    "followups": "wat_we_ermee_doen_geschreven",
    "team_chats": "gekoppelde_groepen",
    "audit_log": "logboek",
    "team_access": "eigenaar_en_leesrechten",
    "web_sessions": "dashboard_sessies",
    "invites": "uitnodigingen_die_je_maakte",
    "snapshot_members": "meegeteld_in_afgesloten_rondes",
    "snapshot_texts": "gedeelde_teksten_in_rapporten",
}
OTHER = "overige_gegevens"


def _yes_no(value: Any) -> str:
    return "ja" if value else "nee"


class _Reader:
    """Turns raw rows into readable ones (team names, question texts)."""

    def __init__(self, store: Store, content: Content) -> None:
        self.store = store
        self.content = content
        self._teams: dict[int, str] = {}
        from bot.packs import PackLibrary

        self.packs = PackLibrary(store, content)

    def pack_of(self, row: dict[str, Any]) -> Any:
        """The pack an answer or run was given under (its own version), or None."""
        return self.packs.for_answer(row.get("team_id"), row.get("pack") or "praatplaat",
                                     row.get("pack_version"))

    def pack_label(self, row: dict[str, Any]) -> str | None:
        pack = self.pack_of(row)
        if pack is None:
            return row.get("pack")
        version = row.get("pack_version") or getattr(pack, "version", "")
        return f"{pack.title} (versie {version})"

    def unit(self, row: dict[str, Any]) -> str | None:
        """The title of the theme, case or tip of an answer, in its own pack."""
        pack = self.pack_of(row)
        if pack is None or not row.get("theme_id"):
            return row.get("theme_id")
        try:
            return str(pack.theme(str(row["theme_id"])).title)
        except KeyError:
            return str(row["theme_id"])

    def asked(self, row: dict[str, Any]) -> str:
        """The question of an answer as it was asked, in its own pack and version."""
        pack = self.pack_of(row)
        try:
            return str(pack.question(str(row["question_id"])).text) if pack else row["question_id"]
        except KeyError:
            return str(row["question_id"])

    def team(self, team_id: Any) -> str | None:
        if team_id is None:
            return None
        tid = int(team_id)
        if tid not in self._teams:
            row = self.store.get_team(tid)
            self._teams[tid] = str(row["name"]) if row else f"team {tid} (bestaat niet meer)"
        return self._teams[tid]

    def theme(self, theme_id: Any) -> str | None:
        if not theme_id:
            return None
        try:
            return self.content.praatplaat.theme(str(theme_id)).title
        except (KeyError, ValueError, LookupError):
            return str(theme_id)

    def question(self, question_id: str) -> str:
        try:
            return self.content.praatplaat.question(question_id).text
        except (KeyError, ValueError, LookupError):
            return question_id

    def tip(self, month: Any) -> str | None:
        try:
            return self.content.kalender.tip_for_month(int(month)).title
        except (KeyError, ValueError, LookupError, TypeError):
            return None

    def scope(self, scope: str) -> str:
        if scope == "tour":
            return "hele ronde (alle thema's)"
        return f"thema: {self.theme(scope)}"


def _teams(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"team": r.team(row["team_id"]), "rol": ROLE_NL.get(row["role"], row["role"]),
             "lid_sinds": row["joined_at"]} for row in rows]


def _runs(r: _Reader, rows: list[dict[str, Any]], ctx: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in sorted(rows, key=lambda x: (x["started_at"], x["id"])):
        number = ctx["run_numbers"].setdefault(row["id"], len(ctx["run_numbers"]) + 1)
        what = r.scope(row["scope"]) if (row.get("pack") or "praatplaat") == "praatplaat" else (
            f"{r.pack_label(row)}: " + ("alle thema's" if row["scope"] == "tour"
                                        else str(r.unit({**row, "theme_id": row["scope"]}))))
        out.append({"ronde": number, "team": r.team(row["team_id"]),
                    "wat": what, "kwartaal": row["period"],
                    "begonnen": row["started_at"], "laatst_actief": row["last_activity_at"],
                    "afgerond": row["finished_at"]})
    return out


def _answers(r: _Reader, rows: list[dict[str, Any]], ctx: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in sorted(rows, key=lambda x: (x["answered_at"], x["id"])):
        shared = None
        if row.get("text"):
            shared = ("ja, zonder naam met je team" if row.get("share_text")
                      else "nee, alleen voor jou")
        out.append({
            "ronde": ctx["run_numbers"].get(row["run_id"]),
            "team": r.team(row["team_id"]),
            "kwartaal": row["period"],
            "vragenpakket": r.pack_label(row),
            "thema": r.unit(row),
            "vraag": r.asked(row),
            "score": row["scale"],
            "toelichting": row["text"],
            "toelichting_gedeeld": shared,
            "geantwoord_als": ROLE_NL.get(row["role"], row["role"]),
            "beantwoord": row["answered_at"],
            "laatst_aangepast": row["updated_at"],
            "versie_van_de_vragen": row["content_version"],
        })
    return out


def _conversation(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> dict[str, Any] | None:
    if not rows:
        return None
    row = rows[0]
    context = row.get("context") or {}
    if isinstance(context, str):
        context = json.loads(context)
    out: dict[str, Any] = {
        "platform": PLATFORM_NL.get(row["platform"], row["platform"]),
        "privechat": row["chat_id"],
        "waar_je_bent": STATE_NL.get(row["state"], row["state"]),
        "laatst_bijgewerkt": row["updated_at"],
    }
    if context.get("role"):
        out["gekozen_rol"] = ROLE_NL.get(context["role"], context["role"])
    if context.get("team_id"):
        out["team_van_je_ronde"] = r.team(context["team_id"])
    if context.get("invite"):
        out["uitnodigingscode_in_afwachting"] = context["invite"]
    return out


def _tips(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in sorted(rows, key=lambda x: x["period"]):
        out.append({"maand": row["period"], "tip": r.tip(row["tip_month"]),
                    "team": r.team(row["team_id"]), "score": row["scale"],
                    "reactie": row["text"],
                    "reactie_gedeeld": _yes_no(row["share_text"]) if row.get("text") else None,
                    "op": row["answered_at"]})
    return out


def _outbox(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"soort": KIND_NL.get(row["kind"], row["kind"]), "periode": row["period"],
             "status": STATUS_NL.get(row["status"], row["status"]),
             "gepland_vanaf": row["not_before"], "verstuurd": row["sent_at"]}
            for row in sorted(rows, key=lambda x: x["id"])]


def _logins(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"aangemaakt": row["created_at"], "geldig_tot": row["expires_at"],
             "gebruikt": row["used_at"]} for row in rows]


def _followups(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"team": r.team(row["team_id"]), "thema": r.theme(row["theme_id"]),
             "tekst": row["text"], "geschreven_op": row["created_at"]} for row in rows]


def _groups(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"team": r.team(row["team_id"]),
             "platform": PLATFORM_NL.get(row["platform"], row["platform"]),
             "groep": row["chat_id"], "gekoppeld_op": row["linked_at"]} for row in rows]


def _audit(r: _Reader, rows: list[dict[str, Any]], ctx: dict[str, Any]) -> list[dict[str, Any]]:
    me = ctx["me"]
    return [{"wat": row["action"], "door_jou": _yes_no(row.get("actor_member_id") == me),
             "over_jou": _yes_no(row.get("subject_member_id") == me),
             "team": r.team(row["team_id"]), "details": row["detail"], "op": row["at"]}
            for row in sorted(rows, key=lambda x: (x["at"], x["id"]))]


ACCESS_NL = {"owner": "eigenaar", "reader": "leesrecht"}
VIA_NL = {"cli": "door de beheerder (opdrachtregel)", "owner_invite": "met een eigenaar-uitnodiging",
          "leader_invite": "met een uitnodiging voor leesrecht", "chat": "door een eigenaar in de chat"}
INVITE_NL = {"member": "uitnodiging voor het team", "owner": "eigenaar-uitnodiging",
             "leader": "uitnodiging voor leesrecht", "group": "koppelcode voor een groep"}


def _access(r: _Reader, rows: list[dict[str, Any]], ctx: dict[str, Any]) -> dict[str, Any]:
    """Your rights on teams, and the rights you gave others."""
    me = ctx["me"]
    mine = [{"team": r.team(row["team_id"]), "recht": ACCESS_NL.get(row["access"], row["access"]),
             "naam_bij_de_eigenaar": row.get("label"),
             "gekregen": VIA_NL.get(str(row.get("granted_via")), row.get("granted_via")),
             "sinds": row.get("granted_at")} for row in rows if row["member_id"] == me]
    given = [{"team": r.team(row["team_id"]), "recht": ACCESS_NL.get(row["access"], row["access"]),
              "voor": row.get("label"), "sinds": row.get("granted_at")}
             for row in rows if row["member_id"] != me]
    return {"jouw_rechten": mine, "door_jou_gegeven": given}


def _sessions(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"aangemaakt": row.get("created_at"), "geldig_tot": row.get("expires_at")}
            for row in rows]


def _invites(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    """Invites you made (the codes themselves are left out: they are keys)."""
    return [{"team": r.team(row["team_id"]),
             "soort": INVITE_NL.get(str(row.get("kind")), row.get("kind")), "voor": row.get("label"),
             "aangemaakt": row.get("created_at"), "geldig_tot": row.get("expires_at"),
             "ingetrokken": row.get("revoked_at"), "keer_gebruikt": row.get("uses")}
            for row in rows]


def _snapshot_rounds(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    """Published rounds whose group figures count your answers (the figures are the group's;
    which cells you were in is kept only to leave your own answers out of what you see)."""
    meta = r.store.snapshot_meta(int(row["snapshot_id"]) for row in rows)
    out = []
    for row in rows:
        snap = meta.get(int(row["snapshot_id"]), {})
        out.append({"team": r.team(snap.get("team_id")),
                    "soort": "reacties op de maandtip" if snap.get("kind") == "tips"
                    else "reflectie", "ronde": snap.get("period"),
                    "gepubliceerd": snap.get("published_at")})
    return out


def _snapshot_texts(r: _Reader, rows: list[dict[str, Any]], _: dict[str, Any]) -> list[dict[str, Any]]:
    """Your texts as published (without your name) in a closed round's report."""
    meta = r.store.snapshot_meta(int(row["snapshot_id"]) for row in rows)
    out = []
    for row in rows:
        snap = meta.get(int(row["snapshot_id"]), {})
        qid = row.get("question_id")
        out.append({"team": r.team(snap.get("team_id")), "ronde": snap.get("period"),
                    "thema": r.theme(row.get("theme_id")),
                    "vraag": r.question(str(qid)) if qid else "reactie op de maandtip",
                    "tekst": row.get("text")})
    return out


_Format = Callable[[_Reader, list[dict[str, Any]], dict[str, Any]], Any]
_FORMATS: dict[str, _Format] = {
    "memberships": _teams, "runs": _runs, "answers": _answers, "conversations": _conversation,
    "tip_reactions": _tips, "outbox": _outbox, "web_logins": _logins,
    "followups": _followups, "team_chats": _groups, "audit_log": _audit,
    "team_access": _access, "web_sessions": _sessions, "invites": _invites,
    "snapshot_members": _snapshot_rounds, "snapshot_texts": _snapshot_texts,
}
#: the order of sections in the file (runs before answers: answers refer to run numbers)
_ORDER = ["memberships", "team_access", "runs", "answers", "tip_reactions", "snapshot_members",
          "snapshot_texts", "followups",
          "team_chats", "invites", "web_logins", "web_sessions", "outbox", "audit_log",
          "conversations"]


def _other_rows(rows: list[dict[str, Any]], member_columns: set[str]) -> list[dict[str, Any]]:
    """Rows of a table this module does not know, minus row and member numbers."""
    return [{k: v for k, v in row.items() if k != "id" and k not in member_columns}
            for row in rows]


UITLEG = [
    "Dit zijn alle gegevens die Teamspiegel over jou bewaart.",
    "Een lege lijst betekent: daarvan bewaar ik niets van jou.",
    "Tijden staan in UTC (Nederlandse tijd is 1 uur later, in de zomer 2 uur).",
    "Je naam bewaar ik niet; je bent voor mij alleen je gebruikers-id op het platform.",
    "Interne nummers (volgnummers, bericht-id's, waar de chat precies staat) laat ik weg: "
    "die zeggen niets over jou.",
    "'score' is je antwoord van 1 tot 5; 'toelichting_gedeeld' zegt of je tekst zonder naam "
    "met je team gedeeld mag worden.",
    "Met /vergeet wis je alles. Je gedeelde teksten verdwijnen ook uit rapporten; de "
    "groepscijfers van rondes die al gesloten zijn blijven staan (minstens 3 mensen, niemand "
    "is daarin te herkennen).",
]
UITLEG_BEFORE_CONSENT = [
    "Dit zijn alle gegevens die Teamspiegel over jou bewaart.",
    "Je hebt nog geen toestemming gegeven, dus ik bewaar bijna niets: alleen waar je bent in "
    "de eerste stap, met je gebruikers-id op het platform (en de uitnodigingscode waarmee je "
    "kwam, als je die had). Zeg je 'nee' of typ je /vergeet, dan wis ik ook dat.",
    "Tijden staan in UTC (Nederlandse tijd is 1 uur later, in de zomer 2 uur).",
]


def export_document(
    store: Store, content: Content, member_id: int | None, conv: Conversation | None,
    now: datetime,
) -> dict[str, Any]:
    """The readable export of a member (or, before consent, of the pending conversation)."""
    reader = _Reader(store, content)
    made = now.isoformat(timespec="seconds")
    if member_id is None:
        doc: dict[str, Any] = {"uitleg": UITLEG_BEFORE_CONSENT, "gemaakt_op": made}
        if conv is not None:
            doc["over_jou"] = {"platform": PLATFORM_NL.get(conv.platform, conv.platform),
                               "gebruikers_id": conv.user_id or conv.chat_id,
                               "toestemming_gegeven": None}
            doc["gesprek"] = _conversation(reader, [{
                "platform": conv.platform, "chat_id": conv.chat_id, "state": conv.state,
                "updated_at": None, "context": conv.context}], {})
        return doc
    raw = store.export_member(member_id)
    member = raw.pop("member") or {}
    doc = {
        "uitleg": UITLEG,
        "gemaakt_op": made,
        "over_jou": {
            "platform": PLATFORM_NL.get(str(member.get("platform")), member.get("platform")),
            "gebruikers_id": member.get("platform_user_id"),
            "eerste_contact": member.get("created_at"),
            "toestemming_gegeven": member.get("consent_at"),
            "herinneringen": "uit" if member.get("reminders_off") else "aan",
            "gepauzeerd_tot": member.get("paused_until"),
            "onbereikbaar_sinds": member.get("unreachable_at"),
        },
    }
    member_columns: dict[str, set[str]] = {}
    for ref in store.member_references():
        member_columns.setdefault(ref.table, set()).add(ref.column)
    ctx: dict[str, Any] = {"run_numbers": {}, "me": member_id}
    tables = [t for t in _ORDER if t in raw] + [t for t in raw if t not in _ORDER]
    other: dict[str, list[dict[str, Any]]] = {}
    for table in tables:
        rows = raw[table]
        fmt = _FORMATS.get(table)
        if fmt is None:
            other[table] = _other_rows(rows, member_columns.get(table, set()))
        else:
            doc[SECTIONS[table]] = fmt(reader, rows, ctx)
    if other:
        doc[OTHER] = other
    return doc


def export_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str).encode("utf-8")
