"""What the instructors' source notebook says about grading: the parts, their points, the reference specs.

The source notebook ``solutions/<lab>/<lab>.ipynb`` is trusted and is the one
home of these facts: the points come from each graded cell's nbgrader metadata,
a model's reference architecture from the spec its hidden test checks, read
as a Python literal, and the reference behaviour of a function from the
solution cell that defines it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from autograder.pipeline import notebooks


@dataclass(frozen=True)
class ArchitectureCheck:
    """The arguments of a hidden test's ``labkit.check.architecture(model, SPEC, **check)`` call."""

    spec: list
    check: dict[str, Any]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def graded_points(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every graded cell, in notebook order."""
    points = {}
    for cell in notebook.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("grade"):
            points[nbgrader["grade_id"]] = float(nbgrader["points"])
    return points


def architecture_check(notebook: nbformat.NotebookNode, grade_id: str) -> ArchitectureCheck:
    """The spec and keyword arguments of the ``architecture`` call in the graded cell ``grade_id``."""
    cell = next((c for c in notebook.cells if notebooks.grade_id(c) == grade_id), None)
    if cell is None:
        raise LookupError(f"the source notebook has no cell {grade_id!r}")
    tree = ast.parse(cell.source)
    literals = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                literals[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "architecture":
            spec_arg = node.args[1]
            spec = literals[spec_arg.id] if isinstance(spec_arg, ast.Name) else ast.literal_eval(spec_arg)
            check = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
            return ArchitectureCheck(list(spec), check)
    raise LookupError(f"the cell {grade_id!r} of the source notebook calls no labkit.check.architecture")


def expect_graded_cells(points: dict[str, float], expected: set[str], lab: str, grader_module: str) -> None:
    """Refuse to grade when the source notebook's graded cells are not the ones the lab's grader judges."""
    if set(points) != expected:
        raise RuntimeError(f"{lab}'s graded cells are {sorted(points)}, but this grader knows "
                           f"{sorted(expected)}: update {grader_module}.")


def solution_function(notebook: nbformat.NotebookNode, cell_id: str, name: str, namespace: dict[str, Any]):
    """The function ``name`` as the source notebook's cell ``cell_id`` defines it: the reference answer.

    The source notebook is the instructors' own and trusted, so its solution
    cell is executed (in ``namespace``: the imports the cell relies on) to give
    the grader the reference behaviour a student's function is compared with.
    """
    cell = next((c for c in notebook.cells if c.get("id") == cell_id), None)
    if cell is None:
        raise LookupError(f"the source notebook has no cell {cell_id!r}")
    scope = dict(namespace)
    exec(compile(cell.source, f"<source notebook cell {cell_id}>", "exec"), scope)
    if not callable(scope.get(name)):
        raise LookupError(f"the cell {cell_id!r} of the source notebook defines no function {name!r}")
    return scope[name]
