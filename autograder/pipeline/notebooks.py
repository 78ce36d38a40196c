"""A student's notebook as the grader runs it, and what the run's test cells said.

Before a submitted notebook runs, every locked cell (setup, save, the test
cells) is put back as the released notebook has it, the way nbgrader's
autograde does: a student can add cells and must fill the exercises, but the
cells the grader relies on are always the released ones. Outputs are cleared,
and the grader's probe cell is appended.

The test cells' results from that run are shown to the student, never scored:
they ran in the student's process, which can fake them.
"""

from __future__ import annotations

import copy
import re

import nbformat
from nbformat import NotebookNode

from autograder.pipeline.results import NotebookTest
from labkit.handin import MAX_NOTEBOOK_BYTES  # one home, read by the student's check too

MAX_OUTPUT_CHARS = 4000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookError(ValueError):
    """The submitted notebook cannot be read as a notebook."""


def read(path) -> NotebookNode:
    """The notebook at ``path``, refusing what is too large or not a notebook."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path.name} is {path.stat().st_size:,} bytes, over the limit of "
                            f"{MAX_NOTEBOOK_BYTES:,}; clear the outputs before handing it in.")
    return parse(path.read_bytes(), path.name)


def parse(data: bytes, name: str) -> NotebookNode:
    """The notebook in ``data`` (the file ``name``), refusing what is not a notebook."""
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        cells = notebook.cells
        if not isinstance(cells, list) or not all(isinstance(c, dict) and "source" in c for c in cells):
            raise ValueError("its cells are not notebook cells")
    except Exception as error:
        raise NotebookError(f"{name} is not a readable Jupyter notebook ({str(error)[:300]}).") from None
    return notebook


def grade_id(cell) -> str | None:
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None


def is_locked(cell) -> bool:
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return isinstance(nbgrader, dict) and bool(nbgrader.get("locked")) and "grade_id" in nbgrader


def restore_locked_cells(submitted: NotebookNode, released: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The submitted notebook with every locked cell of ``released`` restored, and a note per repair.

    A locked cell is found by its ``grade_id``; an edited one is replaced, a
    deleted one is put back after the nearest cell that precedes it in the
    release and is still in the submission (found by cell id).
    """
    cells = [copy.deepcopy(cell) for cell in submitted.cells]
    notes = []
    for index, original in enumerate(released.cells):
        if not is_locked(original):
            continue
        wanted = grade_id(original)
        positions = [i for i, cell in enumerate(cells) if grade_id(cell) == wanted]
        for i in positions:
            if cells[i].get("source") != original.source or cells[i].get("cell_type") != original.cell_type:
                notes.append(f"The locked cell '{wanted}' was edited; the grader ran the original.")
            cells[i] = copy.deepcopy(original)
        if not positions:
            notes.append(f"The locked cell '{wanted}' was deleted; the grader put the original back.")
            cells.insert(_position_after_predecessor(cells, released.cells[:index]), copy.deepcopy(original))
    restored = copy.deepcopy(released)
    restored.cells = [_cleared(cell) for cell in cells]
    return restored, notes


def _position_after_predecessor(cells: list, predecessors: list) -> int:
    for before in reversed(predecessors):
        matches = [i for i, cell in enumerate(cells) if before.get("id") and cell.get("id") == before.get("id")]
        if matches:
            return matches[-1] + 1
    return 0


def _cleared(cell) -> NotebookNode:
    cell = nbformat.from_dict(cell)
    if cell.get("cell_type") == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def append_code_cell(notebook: NotebookNode, source: str) -> NotebookNode:
    notebook = copy.deepcopy(notebook)
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    return notebook


def output_text(cell) -> str:
    """What a cell printed and raised, as plain text, cut to a readable length.

    A kernel may deliver one print in several stream messages, or add an empty one, as timing has it:
    consecutive stream outputs are one text, joined as they came, so the same run reads the same.
    """
    text, after_stream = "", False
    for output in cell.get("outputs", []) or []:
        kind = output.get("output_type")
        if kind == "stream":
            piece = str(output.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            piece = str(output.get("data", {}).get("text/plain", ""))
        elif kind == "error":
            piece = ("\n".join(str(line) for line in output.get("traceback", []))
                     or f"{output.get('ename')}: {output.get('evalue')}")
        else:
            continue
        if text and not (kind == "stream" and after_stream) and not text.endswith("\n"):
            text += "\n"
        text, after_stream = text + piece, kind == "stream"
    text = _ANSI.sub("", text)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n[... cut]"


def error_of(cell) -> tuple[str, str] | None:
    """``(ename, evalue)`` of the error the cell raised, or None."""
    for output in cell.get("outputs", []) or []:
        if output.get("output_type") == "error":
            return str(output.get("ename", "")), str(output.get("evalue", ""))[:1000]
    return None


def notebook_tests(executed: NotebookNode, graded_ids: list[str]) -> tuple[NotebookTest, ...]:
    """The graded test cells of a run, in the lab's order; a cell that never ran is not passed."""
    by_id = {}
    for cell in executed.cells:
        if grade_id(cell) in graded_ids and grade_id(cell) not in by_id:
            by_id[grade_id(cell)] = cell
    tests = []
    for wanted in graded_ids:
        cell = by_id.get(wanted)
        ran = cell is not None and cell.get("execution_count") is not None
        if not ran:
            tests.append(NotebookTest(wanted, False, "(did not run)"))
        else:
            tests.append(NotebookTest(wanted, error_of(cell) is None, output_text(cell)))
    return tuple(tests)
