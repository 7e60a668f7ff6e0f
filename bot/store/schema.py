"""Versioned schema migrations.

The schema version lives in SQLite's ``user_version``. Each migration moves the database from
version ``n`` to ``n + 1`` inside one transaction. A database made by an older Teamspiegel is
migrated at start-up; one made by a newer version is refused (we cannot know its meaning).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


class SchemaError(Exception):
    """The database cannot be used by this version of Teamspiegel."""


def _v1_core(db: sqlite_utils.Database) -> None:
    """Teams, members, conversations and reflection answers (release 0.1)."""
    db.execute(
        """CREATE TABLE teams (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            is_demo INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE members (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            platform_user_id TEXT NOT NULL,
            display_name TEXT,
            consent_at TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (platform, platform_user_id)
        )"""
    )
    db.execute(
        """CREATE TABLE memberships (
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            joined_at TEXT NOT NULL,
            PRIMARY KEY (member_id, team_id)
        )"""
    )
    db.execute(
        """CREATE TABLE invites (
            token TEXT PRIMARY KEY,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT,
            uses INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            member_id INTEGER REFERENCES members(id) ON DELETE CASCADE,
            state TEXT NOT NULL,
            context TEXT NOT NULL DEFAULT '{}',
            prompt_seq INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            UNIQUE (platform, chat_id)
        )"""
    )
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            scope TEXT NOT NULL,
            period TEXT NOT NULL,
            started_at TEXT NOT NULL,
            last_activity_at TEXT NOT NULL,
            finished_at TEXT
        )"""
    )
    db.execute("CREATE INDEX runs_member ON runs(member_id, started_at)")
    db.execute(
        """CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            theme_id TEXT NOT NULL,
            question_id TEXT NOT NULL,
            period TEXT NOT NULL,
            scale INTEGER CHECK (scale BETWEEN 1 AND 5),
            text TEXT,
            share_text INTEGER NOT NULL DEFAULT 0,
            answered_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            content_version TEXT NOT NULL,
            source_ref TEXT,
            UNIQUE (run_id, question_id)
        )"""
    )
    db.execute("CREATE INDEX answers_team_period ON answers(team_id, period)")
    db.execute("CREATE INDEX answers_member ON answers(member_id)")
    db.execute(
        """CREATE TABLE handled_events (
            platform TEXT NOT NULL,
            event_id TEXT NOT NULL,
            handled_at TEXT NOT NULL,
            PRIMARY KEY (platform, event_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            actor_member_id INTEGER,
            team_id INTEGER,
            action TEXT NOT NULL,
            detail TEXT,
            at TEXT NOT NULL
        )"""
    )


def _v2_delivery(db: sqlite_utils.Database) -> None:
    """Group chats, the outbox, monthly tips, reminders and pauses (release 0.2)."""
    # tip_schedule: JSON {"off": bool, "day": int | null, "time": "HH:MM"}; null = default slot
    db.execute("ALTER TABLE teams ADD COLUMN tip_schedule TEXT")
    db.execute("ALTER TABLE teams ADD COLUMN reflection_cadence TEXT NOT NULL DEFAULT 'quarter'")
    db.execute("ALTER TABLE members ADD COLUMN reminders_off INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE members ADD COLUMN paused_until TEXT")
    db.execute("ALTER TABLE members ADD COLUMN unreachable_at TEXT")
    db.execute(
        """CREATE TABLE team_chats (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            linked_by INTEGER REFERENCES members(id) ON DELETE SET NULL,
            linked_at TEXT NOT NULL,
            PRIMARY KEY (platform, chat_id)
        )"""
    )
    db.execute(
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            dedup_key TEXT NOT NULL UNIQUE,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            is_group INTEGER NOT NULL DEFAULT 0,
            member_id INTEGER REFERENCES members(id) ON DELETE CASCADE,
            team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            period TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            not_before TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sending_at TEXT,
            sent_at TEXT,
            platform_message_id TEXT
        )"""
    )
    db.execute("CREATE INDEX outbox_due ON outbox(status, not_before)")
    db.execute(
        """CREATE TABLE tip_reactions (
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
            period TEXT NOT NULL,
            tip_month INTEGER NOT NULL,
            scale INTEGER CHECK (scale BETWEEN 1 AND 5),
            text TEXT,
            share_text INTEGER NOT NULL DEFAULT 0,
            answered_at TEXT NOT NULL,
            PRIMARY KEY (member_id, period)
        )"""
    )


def _v3_insights(db: sqlite_utils.Database) -> None:
    """Dashboard login links and manager follow-ups (release 0.3)."""
    db.execute(
        """CREATE TABLE web_logins (
            token_hash TEXT PRIMARY KEY,
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE followups (
            id INTEGER PRIMARY KEY,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            theme_id TEXT NOT NULL,
            text TEXT NOT NULL,
            author_member_id INTEGER REFERENCES members(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX followups_team ON followups(team_id, created_at)")


def _v4_access(db: sqlite_utils.Database) -> None:
    """Team owners, granted read rights, typed invites (release 0.4).

    The role a member *answers as* (``memberships.role``) no longer gives any right to read a
    team's reports. Reading is granted: ``team_access`` holds the team's owners (who may grant
    and revoke) and readers, with who granted it, how and when. Self-declared managers and
    policy officers of version 3 keep their role (their answers and questions stay as they
    are) but lose their read right until an owner grants it; each of them is written to the
    audit log as ``read_right_lost`` so that the start-up notice and ``teamspiegel team
    readers`` can name them and the command that grants the right again.
    """
    db.execute(
        """CREATE TABLE team_access (
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            access TEXT NOT NULL CHECK (access IN ('owner', 'reader')),
            -- what the granting owner typed to recognise the person (a leader invite's name)
            label TEXT,
            granted_by INTEGER REFERENCES members(id) ON DELETE SET NULL,
            -- cli / owner_invite / leader_invite / chat
            granted_via TEXT NOT NULL,
            granted_at TEXT NOT NULL,
            PRIMARY KEY (team_id, member_id)
        )"""
    )
    db.execute("CREATE INDEX team_access_member ON team_access(member_id)")
    # typed invites: member (many uses, never a right), owner, leader (read right for a named
    # person) and group (links a group chat); the last three are single use and expire
    db.execute("ALTER TABLE invites ADD COLUMN kind TEXT NOT NULL DEFAULT 'member' "
               "CHECK (kind IN ('member', 'owner', 'leader', 'group'))")
    db.execute("ALTER TABLE invites ADD COLUMN max_uses INTEGER")
    db.execute("ALTER TABLE invites ADD COLUMN label TEXT")
    db.execute("ALTER TABLE invites ADD COLUMN created_by INTEGER "
               "REFERENCES members(id) ON DELETE SET NULL")
    db.execute("ALTER TABLE invites ADD COLUMN last_used_at TEXT")
    db.execute("CREATE INDEX invites_team ON invites(team_id, kind)")
    # dashboard sessions live on the server: logout, erasure and a revoked right end them
    db.execute(
        """CREATE TABLE web_sessions (
            id_hash TEXT PRIMARY KEY,
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX web_sessions_member ON web_sessions(member_id)")
    # whom a grant, revoke or refusal was about; erasing that person clears it
    db.execute("ALTER TABLE audit_log ADD COLUMN subject_member_id INTEGER "
               "REFERENCES members(id) ON DELETE SET NULL")
    # a follow-up counts as the team's answer only when a reader wrote it; those of version 3
    # came from self-declared managers and are no longer shown
    db.execute("ALTER TABLE followups ADD COLUMN by_reader INTEGER NOT NULL DEFAULT 0")
    db.execute(
        """INSERT INTO audit_log (actor_member_id, team_id, action, detail, at,
               subject_member_id)
           SELECT NULL, m.team_id, 'read_right_lost', m.role,
                  strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), m.member_id
           FROM memberships m JOIN teams t ON t.id = m.team_id
           WHERE m.role IN ('manager', 'beleid') AND t.is_demo = 0
           ORDER BY m.team_id, m.member_id"""
    )


def _v5_snapshots(db: sqlite_utils.Database) -> None:
    """Frozen, versioned report snapshots per team and period (release 0.4).

    ``snapshots.data`` holds a period's accumulators (see :mod:`bot.reports.snapshot`) with
    members as indices local to the snapshot; ``snapshot_members`` maps a member to their index
    (needed only to apply "k others than the reader" at view time; deleted on erasure);
    ``snapshot_texts`` holds the shared texts in their published order, each tied to its author
    and answer so that an edit, a withdrawal or an erasure removes it. Existing databases get no
    snapshots here: the schedule's tick (or the first view) publishes every ended period.
    """
    db.execute(
        """CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            kind TEXT NOT NULL DEFAULT 'reflection',
            period TEXT NOT NULL,
            published_at TEXT NOT NULL,
            closed_early INTEGER NOT NULL DEFAULT 0,
            algorithm_version INTEGER NOT NULL,
            content_version TEXT NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (team_id, kind, period)
        )"""
    )
    db.execute(
        """CREATE TABLE snapshot_members (
            snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            PRIMARY KEY (snapshot_id, member_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX snapshot_members_member ON snapshot_members(member_id)")
    db.execute(
        """CREATE TABLE snapshot_texts (
            id INTEGER PRIMARY KEY,
            snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
            member_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
            answer_id INTEGER REFERENCES answers(id) ON DELETE CASCADE,
            theme_id TEXT,
            question_id TEXT,
            position INTEGER NOT NULL,
            text TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX snapshot_texts_snapshot ON snapshot_texts(snapshot_id, position)")
    db.execute("CREATE INDEX snapshot_texts_member ON snapshot_texts(member_id)")
    db.execute("CREATE INDEX snapshot_texts_answer ON snapshot_texts(answer_id)")


def _v6_identity(db: sqlite_utils.Database) -> None:
    """Conversations keyed by sender, erasure and retention (release 0.4).

    - ``conversations`` is keyed by (platform, sender user id), never by the room: on Matrix a
      room may change hands (Alice invites Bob into her DM and leaves), and the person typing
      must never become the person the conversation belongs to. ``chat_id`` stays, as the
      chat where we last talked privately (the delivery address of scheduled messages).
      Existing conversations are carried over under their member's user id; when a member
      had several (several Matrix rooms), the newest one in a private chat wins. Conversations
      without a member (before consent) are dropped: they only held the welcome step.
    - display names are no longer stored (the consent text promises "geen naam").
    - answers are found by age for the retention purge.
    """
    db.execute(
        """CREATE TABLE conversations_v6 (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            member_id INTEGER REFERENCES members(id) ON DELETE CASCADE,
            state TEXT NOT NULL,
            context TEXT NOT NULL DEFAULT '{}',
            prompt_seq INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            UNIQUE (platform, user_id)
        )"""
    )
    db.execute(
        """INSERT INTO conversations_v6
               (id, platform, user_id, chat_id, member_id, state, context, prompt_seq, updated_at)
           SELECT c.id, c.platform, m.platform_user_id, c.chat_id, c.member_id, c.state,
                  c.context, c.prompt_seq, c.updated_at
           FROM conversations c JOIN members m ON m.id = c.member_id AND m.platform = c.platform
           WHERE c.id = (
               SELECT c2.id FROM conversations c2
               WHERE c2.member_id = c.member_id AND c2.platform = c.platform
               ORDER BY EXISTS (SELECT 1 FROM team_chats t
                                WHERE t.platform = c2.platform AND t.chat_id = c2.chat_id),
                        c2.updated_at DESC, c2.id DESC
               LIMIT 1)"""
    )
    db.execute("DROP TABLE conversations")
    db.execute("ALTER TABLE conversations_v6 RENAME TO conversations")
    db.execute("CREATE INDEX conversations_member ON conversations(member_id)")
    db.execute("UPDATE members SET display_name = NULL WHERE display_name IS NOT NULL")
    db.execute("CREATE INDEX answers_answered_at ON answers(answered_at)")
    db.execute("CREATE INDEX audit_log_at ON audit_log(at)")


def _v7_delivery(db: sqlite_utils.Database) -> None:
    """Outbox transaction ids, resend policy and the single-process lock (release 0.4).

    ``outbox.txn_id``: set when a row is first claimed, before its first request; idempotent
    platforms (Matrix) derive each event's transaction id from it, so a resend is delivered
    once. ``outbox.delivered``: replies of the row delivered so far (the payload keeps only
    the rest). ``timeout_resends`` / ``crash_resends``: requests that may have arrived and were
    sent again after a timeout / after a crash; ``dup_risk``: how many of those had no
    idempotency key (a duplicate is possible). ``owed_replies``: a turn committed whose replies
    were not confirmed delivered yet (one row per conversation, deleted on delivery); after a
    crash the person gets the current question again. ``handled_events`` gets an index on its
    time, for pruning. (The single-process lock is a file beside the database, not a table.)
    """
    db.execute("ALTER TABLE outbox ADD COLUMN txn_id TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE outbox ADD COLUMN timeout_resends INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE outbox ADD COLUMN crash_resends INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE outbox ADD COLUMN dup_risk INTEGER NOT NULL DEFAULT 0")
    db.execute(
        """CREATE TABLE owed_replies (
            conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            event_id TEXT NOT NULL,
            owed_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX handled_events_at ON handled_events(handled_at)")


def _v8_content(db: sqlite_utils.Database) -> None:
    """Answer forms and content packs (release 0.4)."""


def _v13_packs(db: sqlite_utils.Database) -> None:
    """Content packs: which pack (and which version of it) an answer was given under, packs a
    team wrote itself, and the packs each team uses (release 0.4).

    - ``answers.pack`` / ``runs.pack``: the pack of the questions (``praatplaat`` for every
      answer before this version); ``pack_version``: the pack's version when the answer was
      given (for older answers it is in ``content_version``). Reports never average across
      packs: each pack is its own section.
    - ``team_packs``: every version of a pack a team added (``teamspiegel content add``), as
      the YAML it was added with; versions are never changed or dropped, so an answer can always
      be read with the questions it was given under.
    - ``team_pack_choices``: the packs a team uses (default: Praatplaat + Verjaardagskalender
      while a team has no row). Who chose is in the audit log, not here.
    """
    db.execute("ALTER TABLE answers ADD COLUMN pack TEXT NOT NULL DEFAULT 'praatplaat'")
    db.execute("ALTER TABLE answers ADD COLUMN pack_version TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN pack TEXT NOT NULL DEFAULT 'praatplaat'")
    db.execute("ALTER TABLE runs ADD COLUMN pack_version TEXT")
    db.execute("CREATE INDEX answers_team_pack ON answers(team_id, pack, period)")
    db.execute(
        """CREATE TABLE team_packs (
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            pack_id TEXT NOT NULL,
            version TEXT NOT NULL,
            source_yaml TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (team_id, pack_id, version)
        )"""
    )
    db.execute(
        """CREATE TABLE team_pack_choices (
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            pack_id TEXT NOT NULL,
            enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
            chosen_at TEXT NOT NULL,
            PRIMARY KEY (team_id, pack_id)
        )"""
    )
def _v9_mirror(db: sqlite_utils.Database) -> None:
    """"Wat we ermee doen" becomes a list of actions (release 0.4).

    A follow-up gets who does it (a role such as "teamleider" or "het hele team", never a
    person's answers), by when, and a status (open or done, with the day it was done). Existing
    follow-ups become open actions without who or when.
    """
    db.execute("ALTER TABLE followups ADD COLUMN who TEXT")
    db.execute("ALTER TABLE followups ADD COLUMN due TEXT")
    db.execute("ALTER TABLE followups ADD COLUMN status TEXT NOT NULL DEFAULT 'open' "
               "CHECK (status IN ('open', 'done'))")
    db.execute("ALTER TABLE followups ADD COLUMN done_at TEXT")
    db.execute("ALTER TABLE followups ADD COLUMN updated_at TEXT")
    db.execute("UPDATE followups SET updated_at = created_at")
    db.execute("CREATE INDEX followups_team_status ON followups(team_id, status)")


def _v12_conversation(db: sqlite_utils.Database) -> None:
    """The team conversation in a linked group chat (release 0.4).

    - ``team_sessions``: one conversation of a team in one of its linked group chats (and
      forum topic): what it is about (``subject``: ``theme:<id>``, ``dilemma:<pack>:<card>``,
      ``case:<pack>:<unit>``), how it runs (``mode``: one vote at a time or all at once;
      ``vote``: private votes or the platform's native poll), where it is (``position``), and
      the round it counts for (``period``). Who started or closed it is in the audit log only.
      At most one conversation is open per chat.
    - ``session_items``: the conversation as a sequence of items (an intro, a vote, a
      discussion prompt, a quote, ...; ``body`` is the item as JSON). A vote keeps only how
      many voted (``voters``) and, once closed with enough voters, the counts per option
      (``result``); a native poll its outbox row (``poll_key``), whose platform message id
      finds the poll again after a restart.
    - ``session_votes``: the counts per option of a vote while it is open (no voter in it).
    - ``session_ballots``: who voted already, while a vote is open, as a keyed hash of the
      member id with a salt of the item (``session_items.salt``); never with the option. When
      the vote closes, its ballots and its salt are deleted: nothing says who voted, or what.
      A table without rowid: its rows are ordered by the hash, not by the order of the votes.
    - ``followups.session_id``: an action agreed in a team conversation ("Wat we ermee doen").

    Nothing here refers to a member: a session's results are the team's, kept apart from the
    answers of individual members and never averaged with them.
    """
    db.execute(
        """CREATE TABLE team_sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            thread_id TEXT,
            subject TEXT NOT NULL,
            title TEXT NOT NULL,
            theme_id TEXT,
            mode TEXT NOT NULL CHECK (mode IN ('one', 'all')),
            vote TEXT NOT NULL CHECK (vote IN ('private', 'poll')),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closing', 'closed')),
            position INTEGER NOT NULL DEFAULT 0,
            period TEXT NOT NULL,
            threshold INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            closed_at TEXT
        )"""
    )
    db.execute("CREATE UNIQUE INDEX team_sessions_open ON team_sessions(platform, chat_id) "
               "WHERE status != 'closed'")
    db.execute("CREATE INDEX team_sessions_team ON team_sessions(team_id, started_at)")
    db.execute(
        """CREATE TABLE session_items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id INTEGER NOT NULL REFERENCES team_sessions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'open', 'closing', 'closed')),
            opened_at TEXT,
            closed_at TEXT,
            voters INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            poll_key TEXT,
            salt BLOB,
            UNIQUE (session_id, position)
        )"""
    )
    db.execute(
        """CREATE TABLE session_votes (
            item_id INTEGER NOT NULL REFERENCES session_items(id) ON DELETE CASCADE,
            option TEXT NOT NULL,
            votes INTEGER NOT NULL,
            PRIMARY KEY (item_id, option)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE session_ballots (
            item_id INTEGER NOT NULL REFERENCES session_items(id) ON DELETE CASCADE,
            voter BLOB NOT NULL,
            PRIMARY KEY (item_id, voter)
        ) WITHOUT ROWID"""
    )
    db.execute("ALTER TABLE followups ADD COLUMN session_id INTEGER "
               "REFERENCES team_sessions(id) ON DELETE SET NULL")


def _v14_engine(db: sqlite_utils.Database) -> None:
    """A faster turn (release 0.4, issue 15): what every turn wrote into rows of its own now
    rides in the conversation row the turn updates anyway.

    - ``conversations.owed_event`` / ``owed_at``: the turn whose replies are not confirmed
      delivered yet (was a row of ``owed_replies``, which is carried over and dropped); a
      partial index finds the debts of a platform.
    - ``conversations.recent_events``: the ids of the person's last turns on a platform whose
      event ids are ordered (Telegram's update ids), newest last, space-separated: a
      re-delivered update is recognised here instead of in ``handled_events`` (which stays for
      group chats, polls, Matrix and a person's first turn).
    """
    db.execute("ALTER TABLE conversations ADD COLUMN owed_event TEXT")
    db.execute("ALTER TABLE conversations ADD COLUMN owed_at TEXT")
    db.execute("ALTER TABLE conversations ADD COLUMN recent_events TEXT")
    db.execute(
        """UPDATE conversations SET
               owed_event = (SELECT o.event_id FROM owed_replies o
                             WHERE o.conversation_id = conversations.id),
               owed_at = (SELECT o.owed_at FROM owed_replies o
                          WHERE o.conversation_id = conversations.id)
           WHERE id IN (SELECT conversation_id FROM owed_replies)"""
    )
    db.execute("DROP TABLE owed_replies")
    db.execute("CREATE INDEX conversations_owed ON conversations(platform, owed_event) "
               "WHERE owed_event IS NOT NULL")


def _v15_store(db: sqlite_utils.Database) -> None:
    """Release 0.4, the store's share of a turn (issue 15): one index for a team's answers
    instead of two overlapping ones. ``(team_id, period, pack)`` serves every query that used
    ``(team_id, period)`` (its prefix) and those that used ``(team_id, pack, period)`` (all three
    given, or the team alone); every answer written updates one index fewer."""
    db.execute("DROP INDEX answers_team_pack")
    db.execute("DROP INDEX answers_team_period")
    db.execute("CREATE INDEX answers_team_period ON answers(team_id, period, pack)")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1_core, _v2_delivery, _v3_insights,
    # release 0.4 is built in parallel lanes; each lane owns exactly one of these slots
    _v4_access, _v5_snapshots, _v6_identity, _v7_delivery, _v8_content,
    _v13_packs, _v9_mirror, _v12_conversation, _v14_engine, _v15_store,
]
LATEST = len(MIGRATIONS)
#: the version from which read rights are granted, not chosen (bot.store.access)
ACCESS_VERSION = MIGRATIONS.index(_v4_access) + 1
#: the version whose migration keys conversations by sender (the Store rewrites the file after)
IDENTITY_VERSION = MIGRATIONS.index(_v6_identity) + 1


def current_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(version: int) -> None:
    if version > LATEST:
        raise SchemaError(
            f"Deze database heeft schemaversie {version}, deze Teamspiegel kent er maar {LATEST}. "
            "Werk Teamspiegel bij, of gebruik een andere database (TEAMSPIEGEL_DB)."
        )


def migrate(db: sqlite_utils.Database, target: int = LATEST) -> list[int]:
    """Bring ``db`` to ``target``; returns the versions applied. Refuses newer databases.

    Each step is one transaction under the write lock, and the version is read again once the
    lock is held: another process starting on the same new file may have migrated while this
    one waited, and then nothing is applied twice."""
    version = current_version(db)
    _refuse_newer(version)
    applied = []
    conn = db.conn
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(db)
            _refuse_newer(version)
            if version >= target:
                conn.execute("COMMIT")
                break
            MIGRATIONS[version](db)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
