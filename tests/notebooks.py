"""Running the labs' notebooks in tests, the way the grader runs them.

A notebook is executed cell by cell in a real IPython kernel on this
interpreter (the repository's ``.venv``, never whatever ``python3`` a user's
Jupyter would pick), in a scratch folder so that the files it writes stay out
of the repository, with the settings of a grading run: the quick profile,
headless, tracking offline.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import nbformat
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parent.parent
KERNEL_NAME = "labkit-tests"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class Layout(NamedTuple):
    """What a lab's student notebook must hold: its exercises and its graded cells, in order."""

    exercises: list[str]
    graded: list[str]


LAYOUTS = {
    "lab1-mnist": Layout(
        ["fc-model", "cnn-model", "train-step"],
        ["test-fc-model", "test-fc-accuracy", "test-cnn-model", "test-cnn-accuracy", "test-train-step"]),
    "lab2-fashion-mnist": Layout(
        ["cnn-model", "compile-and-fit", "predicted-classes", "normalized-confusion", "most-confused"],
        ["test-cnn-model", "test-training", "test-cnn-accuracy", "test-predicted-classes",
         "test-normalized-confusion", "test-most-confused"]),
    "lab3-annealing-augmentation": Layout(
        ["cnn-model", "annealer", "augmentation"],
        ["test-cnn-model", "test-plain-accuracy", "test-annealer", "test-annealed-accuracy",
         "test-augmentation", "test-augmented-accuracy"]),
    "lab4-emnist-baselines": Layout(
        ["upright", "dense-model", "early-stopping", "cnn-model", "class-weights"],
        ["test-upright", "test-dense-model", "test-early-stopping", "test-dense-accuracy",
         "test-cnn-model", "test-cnn-accuracy", "test-class-weights"]),
    "lab5-emnist-deep-models": Layout(
        ["lenet-model", "spinal-head", "random-search", "weighted-scores", "compare-networks"],
        ["test-lenet-model", "test-lenet-accuracy", "test-spinal-head", "test-random-search",
         "test-vgg-accuracy", "test-weighted-scores", "test-comparison", "test-transfer"]),
}
"""Every lab, with the cells its tests and its grader rely on."""

GRADING_ENVIRONMENT = {
    "LABKIT_PROFILE": "quick",
    "LABKIT_HEADLESS": "1",  # no live redraws, and Comet never goes online
    "LABKIT_OFFLINE": "1",  # the data come from LABKIT_DATA_DIR, never the internet
    "LABKIT_TRACKING": "on",  # tracked, which headless means into an offline archive
    "MPLBACKEND": "Agg",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
"""What a test run sets on top of the caller's environment (which passes LABKIT_DATA_DIR on)."""


def solution_notebook(lab: str) -> Path:
    """The instructors' version of a lab, with solutions and hidden tests."""
    return REPO / "solutions" / lab / f"{lab}.ipynb"


def released_notebook(lab: str) -> Path:
    """The students' version of a lab, as ``python -m autograder release`` wrote it."""
    return REPO / "labs" / lab / f"{lab}.ipynb"


def kernel_manager(spec_dir: Path):
    """A kernel manager whose only kernel runs this interpreter (``sys.executable``)."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    if not (spec_dir / KERNEL_NAME / "kernel.json").is_file():
        write_kernel_spec(spec_dir / KERNEL_NAME, overrides={"display_name": "labkit tests"})
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def execute(notebook: Path, workdir: Path, *, allow_errors: bool = False, cell_timeout: int = 300,
            environment: Mapping[str, str] | None = None) -> NotebookNode:
    """Run every cell of ``notebook`` with ``workdir`` as the current folder, and return the result.

    Parameters
    ----------
    notebook : Path
        The notebook to run; it is read, never written.
    workdir : Path
        The kernel's working folder: what the notebook writes (models,
        offline Comet archives) lands here.
    allow_errors : bool
        False: stop at the first failing cell and raise
        ``nbclient.exceptions.CellExecutionError`` with its traceback. True: run
        every cell, keeping errors as outputs (see :func:`error_of`).
    cell_timeout : int
        Seconds any one cell may run before the run fails as hung.
    environment : mapping, optional
        Variables added on top of :data:`GRADING_ENVIRONMENT`.

    Returns
    -------
    NotebookNode
        The notebook with its outputs.
    """
    from nbclient import NotebookClient

    workdir.mkdir(parents=True, exist_ok=True)
    executed = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        executed,
        km=kernel_manager(workdir / ".kernels"),
        timeout=cell_timeout,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(workdir)}},
        shutdown_kernel="immediate",  # every output is in by then
    )
    # nbclient shuts down only the kernels of managers it made itself; without
    # cleanup_kc each run would leave its kernel, models and data in memory.
    client.execute(cleanup_kc=True, env={**os.environ, **GRADING_ENVIRONMENT, **(environment or {})})
    return executed


def graded_cells(notebook: NotebookNode) -> Iterator[NotebookNode]:
    """The autograded test cells: those nbgrader scores."""
    return (cell for cell in notebook.cells if cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def exercise_points(notebook: NotebookNode) -> list[tuple[str, float]]:
    """Each ``### Exercise N (...)`` heading, in order: what it says in its parentheses, and the points of the
    graded cells after it, up to the next exercise. Each heading must start with those points ("3 points: ...")."""
    headings: list[str] = []
    points: list[float] = []
    for c in notebook.cells:
        found = re.search(r"^### Exercise \d+ \((.+)\)$", c.source, re.MULTILINE) if c.cell_type == "markdown" \
            else None
        if found:
            headings.append(found.group(1))
            points.append(0.0)
        nbgrader = c.metadata.get("nbgrader", {})
        if nbgrader.get("grade"):
            assert headings, f"{nbgrader['grade_id']} comes before any exercise"
            points[-1] += nbgrader["points"]
    for heading, total in zip(headings, points):
        stated = re.match(r"(\d+) points?\b", heading)
        assert stated and float(stated.group(1)) == total, \
            f"'{heading}' must start with the points of its graded cells, {total:g}"
    return list(zip(headings, points))


def error_of(cell: NotebookNode) -> str | None:
    """``"NameError: name 'x' is not defined"`` when the cell raised, None when it ran cleanly."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output['ename']}: {output['evalue']}"
    return None


def grade_id(cell: NotebookNode) -> str:
    return cell.metadata["nbgrader"]["grade_id"]



def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def cell(notebook: NotebookNode, cell_id: str) -> NotebookNode:
    """The cell whose nbgrader/Jupyter id is ``cell_id``."""
    return next(c for c in notebook.cells if c.get("id") == cell_id)


def secret_lines(notebook: NotebookNode) -> set[str]:
    """Lines written only between solution or hidden-test markers: what must never reach students."""
    inside, outside = set(), set()
    for c in notebook.cells:
        hidden = False
        for line in c.source.splitlines():
            text = line.strip()
            if any(text == f"### {marker}" for marker in MARKERS):
                hidden = "BEGIN" in text
                continue
            (inside if hidden else outside).add(text)
    return {line for line in inside - outside if any(ch.isalnum() for ch in line)}
