"""Running a submitted notebook in the sandbox, with the grader's probe cells at the end.

The run sees the submission's private copy (read-write: it is the kernel's
working folder), the dataset mirror and the probes' scripts (read-only), and
nothing else: not the solutions, the hidden tests, the gradebook or other
students. The probes' inputs, drawn from the grading run's secret, arrive only
when the first probe cell runs, after every cell of the student's. It is the quick profile, headless, untracked. What comes back (the
executed notebook, the probes' files) is data for the grader to check.

A lab may leave out cells that only train and evaluate (``skip``): their
results are graded from the saved models, so re-running them would spend
minutes per student to learn nothing the grader trusts. Each probe cell runs on
its own, so one that raises never keeps another from running.
"""

from __future__ import annotations

import copy
import io
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import probes, sandbox
from autograder.pipeline import notebooks
from autograder.probes.run_notebook import INPUTS_PLACEHOLDER
from autograder.sandbox import output as sandbox_output
from autograder.sandbox.untrusted import loads_json

EXECUTED = ".autograder-executed.ipynb"
TO_RUN = ".autograder-to-run.ipynb"
PROBE_OUT = ".autograder-probe"

GRADING_ENVIRONMENT = {
    "LABKIT_PROFILE": "quick",
    "LABKIT_HEADLESS": "1",
    "LABKIT_OFFLINE": "1",
    "LABKIT_TRACKING": "off",
    "MPLBACKEND": "Agg",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "KERAS_BACKEND": "tensorflow",
    "CUDA_VISIBLE_DEVICES": "",
}


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one sandboxed run: the executed notebook (None if none came back) and why."""

    executed: nbformat.NotebookNode | None
    outcome: str
    sandbox: object  # sandbox.SandboxResult
    workdir: Path

    def probe_out(self, name: str) -> sandbox_output.OutputFolder:
        """What probe ``name`` wrote, to be read only through :mod:`autograder.sandbox.output`."""
        return sandbox_output.OutputFolder(self.workdir, f"{PROBE_OUT}/{name}")

    def probe_cell(self, name: str):
        """The probe cell ``name`` as it ran, or None."""
        if self.executed is None:
            return None
        found = [cell for cell in self.executed.cells if cell.get("metadata", {}).get("autograder") == f"probe:{name}"]
        return found[-1] if found else None


def probe_out(workdir: Path, name: str) -> Path:
    return workdir / PROBE_OUT / name


@dataclass(frozen=True)
class ProbeFolders:
    """A batch's two folders for its notebook probes.

    ``scripts`` holds the probes' scripts and the runner: public code, lent
    read-only to every run. ``inputs`` holds what the probes are given, drawn
    from the run's secret: never mounted, it reaches a run only on the
    runner's standard input, when the first probe cell runs.
    """

    scripts: Path
    inputs: Path


def probe_folders(scratch: Path, scripts: Sequence[Path]) -> ProbeFolders:
    """New ``scratch/probe-scripts`` (``scripts`` and the runner, readable by the sandbox) and ``scratch/probe-inputs``."""
    folders = ProbeFolders(scratch / "probe-scripts", scratch / "probe-inputs")
    folders.scripts.mkdir(parents=True)
    folders.inputs.mkdir(parents=True)
    for script in (*scripts, probes.RUN_NOTEBOOK):
        shutil.copyfile(script, folders.scripts / script.name)
    sandbox.readable_by_all(folders.scripts)
    return folders


def run(notebook: nbformat.NotebookNode, workdir: Path, folders: ProbeFolders, probe_cells: Mapping[str, str], *,
        limits: sandbox.Limits, cell_timeout: int, data_dir: Path | None,
        environment: Mapping[str, str] | None = None, skip: frozenset[str] = frozenset()) -> NotebookRun:
    """Execute ``notebook`` (already restored) in ``workdir`` inside the sandbox, probe cells appended.

    ``probe_cells`` maps each probe's name to its cell's source, which may use
    ``{probe_dir}`` (the folder of the probes' inputs, as the runner unpacks
    it) and ``{probe_out}`` (that probe's own output folder), filled in here
    (see :class:`ProbeFolders` and :mod:`autograder.probes.run_notebook`).
    ``skip`` names the ids of cells left out of the run.
    """
    shutil.rmtree(workdir / PROBE_OUT, ignore_errors=True)
    to_run = without_cells(notebook, skip)
    for name, source in probe_cells.items():
        to_run = notebooks.append_code_cell(
            to_run, source.format(probe_dir=INPUTS_PLACEHOLDER, probe_out=str(probe_out(workdir, name))))
        to_run.cells[-1].metadata["autograder"] = f"probe:{name}"
    nbformat.write(to_run, workdir / TO_RUN)
    (workdir / EXECUTED).unlink(missing_ok=True)
    env = {**GRADING_ENVIRONMENT, "LABKIT_CACHE_DIR": str(workdir / ".cache"), **(environment or {})}
    readonly: list[Path] = [folders.scripts]
    if data_dir is not None:
        data_dir = Path(data_dir).resolve()  # the sandbox binds the real folder, not a link to it
        env["LABKIT_DATA_DIR"] = str(data_dir)
        readonly.append(data_dir)
    result = sandbox.run(
        [*sandbox.python_argv(), str(folders.scripts / probes.RUN_NOTEBOOK.name), TO_RUN, EXECUTED,
         str(cell_timeout)],
        workdir=workdir, readonly=readonly, limits=limits, env=env, stdin=packed(folders.inputs))
    executed, outcome = None, _outcome(result)
    try:
        executed = notebooks.parse(sandbox_output.read_bytes(workdir, EXECUTED, notebooks.MAX_NOTEBOOK_BYTES),
                                   EXECUTED)
    except (OSError, sandbox_output.OutputRefused, notebooks.NotebookError):
        executed = None
    return NotebookRun(executed, outcome, result, workdir)


def packed(folder: Path) -> bytes:
    """The files of ``folder`` as an uncompressed tar archive, for the runner's standard input."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(Path(folder).iterdir()):
            archive.add(path, arcname=path.name, recursive=False)
    return buffer.getvalue()


def without_cells(notebook: nbformat.NotebookNode, ids: frozenset[str]) -> nbformat.NotebookNode:
    """``notebook`` without the cells whose Jupyter id is in ``ids``, and no cell marked as the grader's."""
    kept = copy.deepcopy(notebook)
    kept.cells = [cell for cell in kept.cells if cell.get("id") not in ids]
    for cell in kept.cells:
        cell.get("metadata", {}).pop("autograder", None)  # only the probe cells appended here carry it
    return kept


def _outcome(result) -> str:
    """The runner's own line (the last JSON line it printed), or the sandbox's status."""
    if result.status != "ok":
        return result.status
    for line in reversed((result.stdout or "").strip().splitlines()):
        try:
            return str(loads_json(line, max_bytes=4096).get("outcome", "unknown"))[:200]
        except (ValueError, AttributeError):
            continue
    return "unknown"
