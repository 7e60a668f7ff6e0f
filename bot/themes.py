"""The Praatplaat's themes as people name them, and the calendar tip that fits each theme.

Used by the chat reports (``/rapport 4``), the gespreksplaat and the team conversation
(``/gesprek regie``), so a theme is found the same way everywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OUR_CHOICE", "THEME_TIP", "resolve_theme", "tip_for"]

#: theme id -> month of the matching tip (our choice; the reason in the comment)
THEME_TIP: dict[str, int] = {
    "samenhang": 10,  # afspraken over wisselwerking tussen beleid en praktijk
    "opdrachten": 2,  # verschillende wetten, regels en geldstromen: stem af en werk samen
    "verandering": 4,  # nieuwe opdrachten en politieke cycli: houd de lange termijn in het oog
    "regie": 1,  # het team samenstellen vanuit visie en opdracht
    "vraagverheldering": 9,  # weten wat de wijk (de inwoner) nodig heeft
    "bekend": 12,  # korte lijnen
    "tijd": 3,  # werkdruk en het behoud van mensen
    "expertise": 11,  # laat als uitvoering zien wat je tegenkomt en waar je verschil maakt
    "invloed": 9,  # wat de wijk en haar inwoners nodig hebben
    "maatwerk": 8,  # beleid vertalen naar concrete doelen en activiteiten
}
OUR_CHOICE = "De koppeling van thema en tip is een keuze van Teamspiegel."


def tip_for(content: Any, theme_id: str) -> Any | None:
    """The Verjaardagskalender's tip that fits a theme (:data:`THEME_TIP`), or None."""
    month = THEME_TIP.get(theme_id)
    if month is None:
        return None
    try:
        return content.kalender.tip_for_month(month)
    except ValueError:
        return None


def resolve_theme(content: Any, arg: str) -> list[Any]:
    """Themes matching ``arg``: a number (1-10), an id, or a piece of a title (3+ letters)."""
    themes = list(content.praatplaat.themes)
    raw = " ".join(arg.lower().split())
    if raw.startswith("thema "):
        raw = raw[len("thema "):]
    raw = raw.rstrip(".")
    if not raw:
        return []
    if raw.isdigit():
        return [t for t in themes if t.number == int(raw)]
    exact = [t for t in themes if t.id == raw]
    if exact:
        return exact
    if len(raw) < 3:
        return []
    return [t for t in themes if raw in t.title.lower()]
