"""Dutch formatting, in one place: numbers, counts, dates, month names, role names.

Everything users read is Dutch; every module that writes a number, a date, a month or a role
for them takes it from here (so "3,5" and "4.001" and "januari" are spelled one way).
"""

from __future__ import annotations

from datetime import date, datetime

__all__ = [
    "AUDIENCE_NAMES",
    "MONTHS",
    "PACK_NOUNS",
    "amount",
    "join_and",
    "month_label",
    "MONTHS_SHORT",
    "ROLE_NAMES",
    "WEEKDAYS",
    "WEEKDAYS_SHORT",
    "format_count",
    "format_date",
    "format_number",
    "format_years",
]

#: month names, January first (``MONTHS[month - 1]``)
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
          "september", "oktober", "november", "december")
#: short month names as in a Dutch calendar
MONTHS_SHORT = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov",
                "dec")
#: weekday names, Monday first (``WEEKDAYS[d.weekday()]``)
WEEKDAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
WEEKDAYS_SHORT = ("ma", "di", "wo", "do", "vr", "za", "zo")
#: the roles a person answers as (:data:`bot.content.ROLES`), as users read them
ROLE_NAMES = {
    "professional": "professional",
    "manager": "teamleider of manager",
    "beleid": "beleidsmedewerker",
    "bestuurder": "bestuurder",
}


#: what a content pack holds, singular and plural (``pack_counts`` keys)
PACK_NOUNS = {
    "themes": ("thema", "thema's"),
    "cases": ("casus", "casussen"),
    "tips": ("tip", "tips"),
    "dilemmas": ("dilemma", "dilemma's"),
}


#: who a tip is for, as a tip's audience line names them: people ("Vooral voor
#: beleidsmedewerkers en bestuurders"), never the body
AUDIENCE_NAMES = {
    "professional": "professionals",
    "manager": "teamleiders",
    "beleid": "beleidsmedewerkers",
    "bestuurder": "bestuurders",
}


def join_and(items: list[str]) -> str:
    """``a``, ``a en b``, ``a, b en c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " en " + items[-1]


def amount(n: int, one: str, many: str) -> str:
    """``1 thema``, ``11 thema's`` (thousands separated: ``4.001 tips``)."""
    return f"{format_count(n)} {one if n == 1 else many}"


def format_count(n: int) -> str:
    """A whole number with the Dutch thousands separator: 4001 -> ``4.001``."""
    return f"{n:,}".replace(",", ".")


def format_number(value: float, decimals: int = 1, sign: bool = False) -> str:
    """A decimal number the Dutch way: ``3,5``, a true minus sign, a ``+`` with ``sign``."""
    text = f"{abs(value):.{decimals}f}".replace(".", ",")
    if round(value, decimals) < 0:
        return "\u2212" + text
    if sign:
        return "+" + text
    return text


def month_label(month: str | None) -> str:
    """``"2026-07"`` -> ``"juli 2026"`` (anything else as it is)."""
    if not month:
        return ""
    year, _, mm = month.partition("-")
    if year.isdigit() and mm.isdigit() and 1 <= int(mm) <= 12:
        return f"{MONTHS[int(mm) - 1]} {year}"
    return month


def format_date(moment: date | datetime | str) -> str:
    """``15-01-2027`` (a date, a datetime or an ISO timestamp)."""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{when.day:02d}-{when.month:02d}-{when.year}"


def format_years(years: float) -> str:
    """``3 jaar``, ``1,5 jaar``."""
    whole = years == int(years)
    return f"{int(years) if whole else format_number(years)} jaar"
