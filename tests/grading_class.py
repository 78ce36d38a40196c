"""What the per-lab grading tests share: how their class is written and graded, and how a result reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox
from autograder.pipeline.grading import grade
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import SubmissionResult


def options(mirror_dir: Path, cell_timeout: int = 60) -> GradingOptions:
    """The grading tests' batch settings: the quick profile's targets, limits a test run can afford."""
    return GradingOptions(
        profile="quick", data_dir=mirror_dir, cell_timeout=cell_timeout,
        notebook_limits=sandbox.Limits(wall_seconds=300.0, memory_bytes=4 * 2**30, processes=256,
                                       output_bytes=4 * 2**20, file_bytes=256 * 2**20, disk_bytes=2 * 2**30),
    )


def require_sandbox() -> None:
    if not sandbox.available():
        pytest.fail("bubblewrap cannot create a sandbox here; the grading tests need it (see autograder/sandbox/bubblewrap.py).")


def grade_class(lab: str, root: Path, build: Callable[[Path], None], mirror_dir: Path,
                **settings) -> dict[str, SubmissionResult]:
    """``build(class_dir)`` under ``root``, then grade the class as an instructor would: two workers.

    ``settings`` are :func:`options`' (e.g. ``cell_timeout``). Returns the results by student.
    """
    require_sandbox()
    build(root / "submissions")
    results = grade(lab, root / "submissions", root / "graded", workers=2, options=options(mirror_dir, **settings))
    return {result.student_id: result for result in results}


def write_notebook(notebook, folder: Path) -> None:
    """Hand ``notebook`` in as ``folder/<lab>.ipynb``, the lab being the folder's name."""
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / f"{folder.name}.ipynb")


def with_source(path: Path, cell_id: str, old: str, new: str):
    """The notebook at ``path`` with ``old`` replaced by ``new`` in cell ``cell_id``, where it occurs once."""
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if c.get("id") == cell_id)
    assert cell.source.count(old) == 1, f"{old!r} must occur once in {cell_id}"
    cell.source = cell.source.replace(old, new)
    return notebook


def parts(result: SubmissionResult) -> dict:
    return {part.part: part for part in result.parts}


def summary(result: SubmissionResult, length: int = 300) -> dict:
    """Each part's verdict and the start of its message: what an assertion shows when it fails."""
    return {part.part: (part.verdict, part.message[:length]) for part in result.parts}


def ran_without(result: SubmissionResult, skip: frozenset[str]) -> list[str]:
    """The cells the grader's notebook run executed, after checking that none of ``skip`` is among them."""
    ran = result.runs["notebook"]["cells_run"]
    assert ran, result.runs["notebook"]
    assert not set(ran) & skip, set(ran) & skip
    return ran
