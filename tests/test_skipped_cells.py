"""The cells a grader leaves out of its sandboxed notebook run: they exist, and nothing kept needs them.

Each lab's grader skips the cells that only train, evaluate, plot or save (its
``SKIP``), since the models are graded from the saved files. A skipped cell
that defined a name a kept cell (a test, a probed function's cell) reads would
turn a correct submission's probe into a NameError: this is what the test
rules out, on the solution notebook as it is.
"""

from __future__ import annotations

import ast
import importlib

import nbformat
import pytest

from autograder.graders import LABS
from tests.notebooks import solution_notebook


GRADED_FROM_FILES = {
    "most-confused": "lab 2: the pair the save cell writes to artifacts/metrics.json",
    "compare-networks": "lab 5: comparison.json and the compare-<network>.safetensors files",
}
"""Skipped cells that hold a student's solution, and the handed-in files their work is graded from."""


def _names(source: str, kind: str) -> set[str]:
    """The names a cell's code binds (``kind="defined"``) or reads (``"used"``), scopes ignored.

    A name a function binds for itself counts as bound by its cell: conservative
    only towards missing a skipped global of the same name, which the real run
    in the grading tests would show.
    """
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    found = set()
    for node in ast.walk(tree):
        if kind == "defined":
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                found.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                found.add(node.name)
            elif isinstance(node, ast.arg):  # a parameter: the names a function reads of its own
                found.add(node.arg)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.add(node.id)
    return found


def needed_from_skipped(cells: list[dict], skip: frozenset[str]) -> set[str]:
    """Names that kept cells read and only skipped cells define."""
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    kept = [cell for cell in code if cell.get("id") not in skip]
    left_out = [cell for cell in code if cell.get("id") in skip]
    kept_defined = set().union(*(_names(cell["source"], "defined") for cell in kept))
    skipped_defined = set().union(*(_names(cell["source"], "defined") for cell in left_out))
    kept_used = set().union(*(_names(cell["source"], "used") for cell in kept))
    return kept_used & (skipped_defined - kept_defined)


@pytest.mark.parametrize("lab", list(LABS))
def test_the_skipped_cells_exist_and_define_nothing_a_kept_cell_uses(lab):
    skip = importlib.import_module(LABS[lab]).SKIP
    notebook = nbformat.read(solution_notebook(lab), as_version=4)
    assert skip <= {cell.get("id") for cell in notebook.cells}, skip - {cell.get("id") for cell in notebook.cells}
    assert all(cell.cell_type == "code" for cell in notebook.cells if cell.get("id") in skip)
    solutions = {cell.get("id") for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution")}
    assert skip & solutions <= set(GRADED_FROM_FILES), (
        f"{skip & solutions - set(GRADED_FROM_FILES)}: a skipped cell holds the student's solution, which only "
        "the files it writes could show; say which in GRADED_FROM_FILES, or keep the cell")
    assert not needed_from_skipped(notebook.cells, skip)


def test_the_check_finds_a_name_only_a_skipped_cell_defines():
    cells = [{"cell_type": "code", "id": "train", "source": "history = fit()\ndef helper(): pass"},
             {"cell_type": "code", "id": "probe", "source": "helper(history)"}]
    assert needed_from_skipped(cells, frozenset({"train"})) == {"history", "helper"}
    assert needed_from_skipped(cells, frozenset()) == set()
