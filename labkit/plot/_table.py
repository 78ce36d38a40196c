"""Plain-text tables that line up in a notebook's monospace output."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                 footer: Sequence[Sequence[str]] = ()) -> str:
    """Columns padded to a common width: the first left-aligned (names), the rest right-aligned (numbers).

    A rule separates the header from the rows, and the rows from the footer
    (totals, averages) when there is one.
    """
    lines = [header, *rows, *footer]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]

    def render(line: Sequence[str]) -> str:
        cells = [line[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(line[1:], widths[1:]))]
        return "  ".join(cells).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    blocks = [[render(header)], [render(row) for row in rows]]
    if footer:
        blocks.append([render(row) for row in footer])
    return f"\n{rule}\n".join("\n".join(block) for block in blocks)
