"""The process heap after start-up.

Content, dialogues, the ``transitions`` machine and the libraries are loaded once and live as
long as the process. Python's cyclic garbage collector would still walk them in every full
collection; :func:`settle_heap` moves them out of its sight (``gc.freeze``) once start-up is
done, so a collection during a turn only looks at what turns created.
"""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Collect what start-up left behind, then freeze the survivors (they are never freed, as
    they never would be). Returns how many objects were frozen. Call it once start-up is done;
    calling it again freezes what was created since."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
