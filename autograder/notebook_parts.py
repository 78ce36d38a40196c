"""Judging a graded part by what a probe cell, appended to the student's notebook, brings back.

Some parts can only be judged by calling the student's own function (lab 1's
``train_step``, lab 2's ``predicted_classes``): the notebook runs in the
sandbox (:mod:`autograder.notebook_run`) with the grader's probe cell last, and
the probe's files are compared with the grader's own reference by a lab's
``judge``. This module turns that run into a verdict that fails closed: a run
the sandbox had to stop, a dead kernel, a probe that raised or never ran, each
earns nothing and says why; the in-notebook test cells come back as feedback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder import notebook_run, notebooks
from autograder.options import GradingOptions
from autograder.results import SANDBOX_VERDICTS, NotebookTest, PartResult, judged, not_judged

Judge = Callable[[Path], tuple[PartResult, bool]]
"""The probe's output folder -> the part's result, and whether any result came back at all."""


@dataclass(frozen=True)
class ProbedPart:
    """A part judged by a probe cell: what it calls, where the probe's inputs are, its cell."""

    part: str
    points: float
    callee: str  # e.g. "train_step": named in every message
    workload: str  # what one call is given, for the timeout message: "one batch of 32 images"
    probe_dir: Path  # read-only in the sandbox; holds the runner and the probe's inputs
    cell_source: str  # may use {probe_dir} and {probe_out}


PROBE_CELL = """\
# Added by the grader: {purpose}
import runpy as _autograder_runpy
_autograder_runpy.run_path({script!r})["probe"]({function}, {{probe_dir!r}}, {{probe_out!r}})
"""


def probe_cell(purpose: str, function: str, script: Path) -> str:
    """The cell that hands the notebook's ``function`` to ``script``'s ``probe``.

    The result is a :class:`ProbedPart`'s ``cell_source``: ``{probe_dir}`` and
    ``{probe_out}`` are left for :func:`autograder.notebook_run.run` to fill in.
    """
    return PROBE_CELL.format(purpose=purpose, function=function, script=str(script))


def grade(copy: Path, lab: str, released, probed: ProbedPart, judge: Judge, graded_ids: list[str],
          options: GradingOptions, runs: dict) -> tuple[PartResult, tuple[NotebookTest, ...], list[str]]:
    """Run ``copy/<lab>.ipynb`` (locked cells restored from ``released``) with the probe; judge it.

    Returns the part, the in-notebook tests as they ran, and notes on repaired
    locked cells; the run's measurements go into ``runs["notebook"]``.
    """
    part, points = probed.part, probed.points
    path = copy / f"{lab}.ipynb"
    if not path.is_file():
        return judged(part, points, False, f"The submission has no {lab}.ipynb."), (), []
    try:
        submitted = notebooks.read(path)
    except notebooks.NotebookError as error:
        return judged(part, points, False, str(error)), (), []
    restored, notes = notebooks.restore_locked_cells(submitted, released)
    run = notebook_run.run(restored, copy, probed.probe_dir, probed.cell_source,
                           limits=options.notebook_limits, cell_timeout=options.cell_timeout,
                           data_dir=options.data_dir)
    runs["notebook"] = {"status": run.sandbox.status, "outcome": run.outcome,
                        "seconds": round(run.sandbox.seconds, 2),
                        "peak_memory_bytes": run.sandbox.peak_memory_bytes}
    tests = notebooks.notebook_tests(run.executed, graded_ids) if run.executed is not None else ()
    result, any_result = judge(run.probe_out)
    raised = notebooks.error_of(run.probe_cell) if run.probe_cell is not None else None
    if raised is None and (result.verdict == "pass" or any_result):
        return result, tests, notes
    return _without_result(run, probed, options), tests, notes


def _without_result(run, probed: ProbedPart, options: GradingOptions) -> PartResult:
    """Why the probe gave nothing back, or raised, as the part's verdict.

    Files found after a probe that raised are never judged: the student's code
    could have written them before or during the call.
    """
    part, points, callee = probed.part, probed.points, probed.callee
    if run.sandbox.status != "ok":
        verdict = SANDBOX_VERDICTS.get(run.sandbox.status, "error")
        return not_judged(part, points, verdict, _run_problem(run, callee, options))
    if run.outcome == "kernel died":
        return not_judged(part, points, "crashed", f"The notebook's kernel died before {callee} could be checked.")
    error = notebooks.error_of(run.probe_cell) if run.probe_cell is not None else None
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
