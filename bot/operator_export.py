"""``teamspiegel export``: the operator's export of every answer (CSV, XLSX or JSON lines).

What the operator gets, and what not:

- no person: no member id, no platform user id, no name (there are none);
- texts a person kept "alleen voor mij" (``share_text = 0``) are left out, unless the operator
  asks for them with ``--with-private-texts`` (a warning is printed, and the audit log says so);
- every export is written to the audit log (``operator_export``, with format, rows and whether
  private texts were in it);
- CSV and XLSX cells are made safe against formula injection (:mod:`bot.spreadsheet`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from bot.spreadsheet import safe_row, safe_values
from bot.store import Store

__all__ = ["EXPORT_FIELDS", "FORMATS", "PRIVATE_WARNING", "export_answers"]

EXPORT_FIELDS = ["id", "team", "role", "theme", "question_id", "period", "scale", "text",
                 "share_text", "answered_at", "updated_at", "content_version"]
FORMATS = ("csv", "xlsx", "jsonl")
PRIVATE_WARNING = (
    "Let op: deze export bevat ook teksten die mensen 'alleen voor mij' hielden. "
    "Gebruik dit alleen als het echt moet, deel het bestand met niemand en wis het daarna. "
    "Deze export staat in het logboek."
)


def _rows(store: Store, with_private_texts: bool) -> Iterator[dict[str, Any]]:
    for row in store.iter_all_answers():
        row.pop("member_id", None)
        if not row["share_text"] and not with_private_texts:
            row["text"] = None
        row["share_text"] = bool(row["share_text"])
        yield row


def export_answers(
    store: Store, fmt: str, out: IO[str] | IO[bytes], *, with_private_texts: bool = False
) -> int:
    """Write every answer to ``out`` (text for csv/jsonl, binary for xlsx); returns the number
    of rows. The export is audited."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    n = 0
    rows = _rows(store, with_private_texts)
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")  # type: ignore[call-overload]
            n += 1
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")  # type: ignore[arg-type]
        writer.writeheader()
        for row in rows:
            writer.writerow(safe_row(row))
            n += 1
    else:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("Antwoorden")
        ws.append(EXPORT_FIELDS)
        for row in rows:
            ws.append(safe_values(row.get(c) for c in EXPORT_FIELDS))
            n += 1
        wb.save(out)
    private = "ja" if with_private_texts else "nee"
    with store.transaction():
        store.audit("operator_export", detail=f"formaat={fmt}; rijen={n}; privé-teksten={private}")
    return n
