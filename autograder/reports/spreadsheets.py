"""Writing the CSV files people open in a spreadsheet, with no cell a spreadsheet would run.

A student id, a Comet parameter or a model name can start with ``=``, and
Excel, LibreOffice and Google Sheets evaluate such a cell as a formula (CSV
injection: ``=HYPERLINK(...)`` that leaks the sheet, ``=cmd|...`` on old
Excel). Every CSV the grader writes goes through :func:`write_csv`, which
applies OWASP's rule to every cell: one that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is prefixed with a single quote, so the
spreadsheet shows it as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from labkit._files import replaced_atomically

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: object) -> str:
    """``cell`` as text a spreadsheet shows as it is (``'=1+1`` for ``=1+1``)."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The rows as CSV text, every cell neutralised."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([neutralised(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def write_csv(path: Path, rows: Iterable[Iterable[object]]) -> None:
    """Write ``rows`` (the header first) to ``path``, whole or not at all."""
    text = csv_text(rows)
    with replaced_atomically(Path(path), "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
