"""Judging a graded part by what a probe cell, appended to the student's notebook, brings back.

Some parts can only be judged by calling the student's own function (lab 1's
``train_step``, lab 2's ``predicted_classes``): the notebook runs in the
sandbox (:mod:`autograder.pipeline.notebook_run`) with one probe cell per such part
after the student's last cell, and each probe's files are compared with the
grader's own reference by that part's ``judge``. This module turns that run into a verdict that fails closed: a run
the sandbox had to stop, a dead kernel, a probe that raised or never ran, each
earns nothing and says why; the in-notebook test cells come back as feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.pipeline import notebook_run, notebooks
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import SANDBOX_VERDICTS, NotebookTest, PartResult, judged, not_judged
from autograder.sandbox.output import OutputFolder

Judge = Callable[[OutputFolder], tuple[PartResult, bool]]
"""The probe's output folder -> the part's result, and whether any result came back at all."""


@dataclass(frozen=True)
class ProbedPart:
    """A part judged by a probe cell: what it calls, its cell, and how what comes back is judged."""

    part: str
    points: float
    callee: str  # e.g. "train_step": named in every message
    workload: str  # what one call is given, for the timeout message: "one batch of 32 images"
    cell_source: str  # may use {probe_dir} (the inputs' folder) and {probe_out}
    judge: Judge


PROBE_CELL = """\
# Added by the grader: {purpose}
import runpy as _autograder_runpy
_autograder_runpy.run_path({script!r})[{entry!r}]({function}, {{probe_dir!r}}, {{probe_out!r}})
"""


def probe_cell(purpose: str, function: str, script: Path, entry: str = "probe") -> str:
    """The cell that hands the notebook's ``function`` to ``script``'s function ``entry``.

    The result is a :class:`ProbedPart`'s ``cell_source``: ``{probe_dir}`` and
    ``{probe_out}`` are left for :func:`autograder.pipeline.notebook_run.run` to fill in.
    """
    return PROBE_CELL.format(purpose=purpose, function=function, script=str(script), entry=entry)


def grade(copy: Path, lab: str, released, folders: notebook_run.ProbeFolders, probed: Sequence[ProbedPart],
          graded_ids: list[str], options: GradingOptions, runs: dict, *, skip: frozenset[str] = frozenset()
          ) -> tuple[dict[str, PartResult], tuple[NotebookTest, ...], list[str]]:
    """Run ``copy/<lab>.ipynb`` (locked cells restored from ``released``) with the probes; judge each.

    ``folders`` are the batch's probe scripts and their inputs (drawn from the
    run's secret, they reach the sandbox only when the probes run); ``skip``
    the ids of cells the run leaves out (their test cells are then not
    reported). Returns each probed part's result, the in-notebook tests as
    they ran, and notes on repaired locked cells; the run's measurements go
    into ``runs["notebook"]``.
    """
    path = copy / f"{lab}.ipynb"
    try:
        if not path.is_file():
            raise notebooks.NotebookError(f"The submission has no {lab}.ipynb.")
        submitted = notebooks.read(path)
    except notebooks.NotebookError as error:
        return {p.part: judged(p.part, p.points, False, str(error)) for p in probed}, (), []
    restored, notes = notebooks.restore_locked_cells(submitted, released)
    run = notebook_run.run(restored, copy, folders, {p.part: p.cell_source for p in probed},
                           limits=options.notebook_limits, cell_timeout=options.cell_timeout,
                           data_dir=options.data_dir, skip=skip)
    runs["notebook"] = {"status": run.sandbox.status, "outcome": run.outcome,
                        "seconds": round(run.sandbox.seconds, 2),
                        "peak_memory_bytes": run.sandbox.peak_memory_bytes,
                        "cells_run": cells_run(run.executed)}
    reported = [grade_id for grade_id in graded_ids if grade_id not in skip]
    tests = notebooks.notebook_tests(run.executed, reported) if run.executed is not None else ()
    return {p.part: _judged(run, p, options) for p in probed}, tests, notes


MAX_CELLS_RECORDED = 500
"""How many executed cell ids a record keeps: a bound on what a hostile notebook can make it hold."""


def cells_run(executed) -> list[str]:
    """The ids of the code cells the run executed, in order (the probe cells by their part's name).

    What the grader's record shows of the cells ``skip`` left out: they are not among these. The
    executed notebook comes out of the sandbox, so this is the run's record, never a verdict (and
    bounded: :data:`MAX_CELLS_RECORDED`).
    """
    if executed is None:
        return []
    ran = []
    for cell in executed.cells:
        if cell.get("cell_type") == "code" and cell.get("execution_count") is not None:
            ran.append(str(cell.get("metadata", {}).get("autograder") or cell.get("id") or "?")[:100])
    return ran[:MAX_CELLS_RECORDED]


def _judged(run, probed: ProbedPart, options: GradingOptions) -> PartResult:
    """The judge's verdict, but only on what a probe that ran to its end wrote.

    The student's function runs inside the probe, so it can write the answer
    where the probe writes and then never let the probe finish: kill its kernel,
    hang until the sandbox stops the run, or raise. Files found after any of
    these are never judged.
    """
    if probe_finished(run, probed.part):
        result, any_result = probed.judge(run.probe_out(probed.part))
        if result.verdict == "pass" or any_result:
            return result
    return _without_result(run, probed, options)


def probe_finished(run, part: str) -> bool:
    """Whether the run went to its end and the probe cell of ``part`` ran in it without an error."""
    cell = run.probe_cell(part)
    return (run.sandbox.status == "ok" and run.outcome == "completed" and cell is not None
            and cell.get("execution_count") is not None and notebooks.error_of(cell) is None)


def _without_result(run, probed: ProbedPart, options: GradingOptions) -> PartResult:
    """Why the probe gave nothing back, or did not finish, as the part's verdict."""
    part, points, callee = probed.part, probed.points, probed.callee
    if run.sandbox.status != "ok":
        verdict = SANDBOX_VERDICTS.get(run.sandbox.status, "error")
        return not_judged(part, points, verdict, _run_problem(run, callee, options))
    if run.outcome == "kernel died":
        return not_judged(part, points, "crashed", f"The notebook's kernel died before {callee} could be checked.")
    if run.outcome != "completed":
        return judged(part, points, False, f"The notebook's run ended early ({run.outcome[:300]}), so {callee} "
                      "was never checked.")
    cell = run.probe_cell(part)
    error = notebooks.error_of(cell) if cell is not None else None
    if error is not None:
        ename, evalue = error
        if ename == "KeyboardInterrupt":
            return not_judged(part, points, "timeout", f"{callee} ran longer than {options.cell_timeout} s "
                              f"on {probed.workload}.")
        return judged(part, points, False, f"Calling {callee} raised {ename}: {evalue}")
    return judged(part, points, False, f"{callee} could not be checked: the grader's probe, run after your "
                  "last cell, gave no result. Does your notebook change or skip the cells that run after it?")


def _run_problem(run, callee: str, options: GradingOptions) -> str:
    status = run.sandbox.status
    limits = options.notebook_limits
    if status == "timeout":
        return f"The notebook ran longer than {limits.wall_seconds:.0f} s, the limit, so {callee} was never checked."
    if status == "out-of-memory":
        return f"The notebook used more than {limits.memory_bytes / 2**30:.0f} GiB of memory, the limit."
    if status == "crashed":
        return f"The notebook's process was killed before {callee} could be checked."
    if status == "output-limit":
        return "The notebook printed more than the output limit allows."
    return f"The notebook could not be run ({status}): {(run.sandbox.stderr or '').strip()[-500:]}"
