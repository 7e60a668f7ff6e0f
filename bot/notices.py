"""What the operator must know after a start migrated the database (printed on stderr).

Used by every entry point that opens the store (the command line, ``teamspiegel run``, the
dashboard), so it lives below all of them.
"""

from __future__ import annotations

import sys

from bot.store import Store
from bot.store.schema import ACCESS_VERSION

__all__ = ["print_notices"]


def print_notices(store: Store) -> None:
    """E.g. who lost read rights in the upgrade from 0.3, and the command that grants them."""
    if store.migrated_from and store.migrated_from < ACCESS_VERSION:
        notice = store.access_migration_notice()
        if notice:
            print(notice, file=sys.stderr)
