"""Running the labs' notebooks in tests, the way the grader runs them.

A notebook is executed cell by cell in a real IPython kernel on this
interpreter (the repository's ``.venv``, never whatever ``python3`` a user's
Jupyter would pick), in a scratch folder so that the files it writes stay out
of the repository, with the settings of a grading run: the quick profile,
headless, tracking offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parent.parent
KERNEL_NAME = "labkit-tests"

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
    )
    client.execute(env={**os.environ, **GRADING_ENVIRONMENT, **(environment or {})})
    return executed


def graded_cells(notebook: NotebookNode) -> Iterator[NotebookNode]:
    """The autograded test cells: those nbgrader scores."""
    return (cell for cell in notebook.cells if cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def error_of(cell: NotebookNode) -> str | None:
    """``"NameError: name 'x' is not defined"`` when the cell raised, None when it ran cleanly."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output['ename']}: {output['evalue']}"
    return None


def grade_id(cell: NotebookNode) -> str:
    return cell.metadata["nbgrader"]["grade_id"]

