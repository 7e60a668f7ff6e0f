"""The messages before a unit's first question: a pack's theme, case or tip introduced.

Used by the question renderer (:mod:`bot.engine.actions`) for every pack but the Praatplaat.
What is quoted is shown in quotation marks with its source; our own words never are.
"""

from __future__ import annotations

from typing import Any

from bot.content import Pack, Unit
from bot.engine.messages import Reply
from bot.engine.turn import Turn

__all__ = ["unit_intro"]


def unit_intro(turn: Turn, pack: Any, unit: Unit, *, first_of_round: bool) -> list[Reply]:
    """The messages before a unit's first question: its title and our intro (plain), then
    what the source says, each in quotation marks with its citation. A case is told in a few
    short messages (one per quote). The first unit of a round also names the source, once."""
    replies: list[Reply] = []
    if unit.kind == "tip" and isinstance(pack, Pack):
        tip = pack.tip(unit.id)
        head = turn.text("tip_header", n=tip.number, title=tip.title)
        if turn.ctx.get("brief"):  # came from the tip message itself
            replies.append(Reply(head))
        else:
            replies.append(Reply("\n\n".join([
                head, tip.text.strip(), f"„{tip.quote.strip()}” — {tip.quote_role.strip()}"])))
    elif unit.kind == "case":
        lines = [turn.text("case_header", title=unit.title)]
        if unit.intro:
            lines += ["", unit.intro]
        replies.append(Reply("\n".join(lines)))
        replies += [Reply(q.shown()) for q in unit.quotes]  # the story, a message at a time
    else:
        number = getattr(unit, "number", None)
        title = turn.text("theme_header", n=number, title=unit.title) if number else unit.title
        parts = [title]
        if unit.intro:
            parts.append(unit.intro)
        parts += [q.shown() for q in unit.quotes]
        replies.append(Reply("\n\n".join(parts)))
    if first_of_round:
        note = turn.text("pack_source_note", source=pack.source.attribution())
        if isinstance(pack, Pack) and pack.quotes and unit.kind == "theme":
            note = "\n\n".join([*(q.shown() for q in pack.quotes), note])
        replies[0].text += "\n\n" + note  # with the heading: the story stays as told
    return replies
