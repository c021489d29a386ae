"""CSV downloads that Excel opens as written: UTF-8 with a byte order mark (Chinese
names stay readable), capped, and safe from formula injection (a cell starting with
= + - @ is kept as text)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response

BOM = "\ufeff"
EXPORT_CAP = 10_000  # rows in one download at most
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(filename: str, header: Iterable, rows: Iterable[Iterable],
                 cap: int = EXPORT_CAP) -> Response:
    """A download of `header` and at most `cap` of `rows` (`filename` is ASCII)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow([cell(str(h)) for h in header])
    for n, row in enumerate(rows):
        if n >= cap:
            break
        writer.writerow([cell(v) for v in row])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
