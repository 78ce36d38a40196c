"""Grading throughput: seconds per submission of each lab, and the speed-up of ``--workers 2``.

For each lab, a class of ``size`` copies of the reference solution (run once,
as a student would) is graded twice, into fresh output folders: with one
worker, then with two. Every copy is graded in full (its notebook run in the
sandbox with the lab's probes, every saved model probed), under the quick
profile's targets. Target: at most 90 seconds of wall time per submission with
one worker, for every lab.

``python -m benchmarks grading[:LAB,...][,size=N]`` (every graded lab, 4 copies, by default).

``baseline=REV`` grades the same class, side by side in the same run, with the
grader of the git revision ``REV`` (e.g. the main branch before a change) and
with this checkout's, each in a process of its own, and reports how much the
seconds per submission grew. The baseline's ``autograder`` comes from a
temporary worktree; ``labkit`` stays this checkout's, the one the sandbox
mounts (the installed package points at it). Target: at most 10% growth.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 90.0
SIZE = 4
MAX_GROWTH = 0.10
"""How much slower per submission a change may make grading, against its baseline."""


def parse(arguments: list[str] | None) -> tuple[list[str], int, str | None]:
    from autograder.graders import LABS

    labs, size, baseline = [], SIZE, None
    for argument in arguments or []:
        key, _, value = argument.partition("=")
        if key == "size" and value:
            size = int(value)
        elif key == "baseline" and value:
            baseline = value
        elif argument in LABS:
            labs.append(argument)
        else:
            raise ValueError(f"{argument!r}: name a graded lab ({', '.join(LABS)}), size=N or baseline=REV.")
    return labs or list(LABS), size, baseline


def _reference(lab: str, folder: Path) -> Path:
    from tests.notebooks import execute, solution_notebook

    submission = folder / "reference" / lab
    submission.mkdir(parents=True)
    shutil.copyfile(solution_notebook(lab), submission / f"{lab}.ipynb")
    execute(submission / f"{lab}.ipynb", submission)
    shutil.rmtree(submission / ".kernels", ignore_errors=True)
    return submission


def measure(lab: str, size: int, scratch: Path) -> list[dict]:
    from autograder.pipeline.grading import grade
    from autograder.pipeline.options import GradingOptions

    data_dir = os.environ.get("LABKIT_DATA_DIR") or None
    options = GradingOptions(profile="quick", data_dir=Path(data_dir) if data_dir else None)
    reference = _reference(lab, scratch / "made")
    for index in range(size):
        shutil.copytree(reference, scratch / "class" / f"student-{index:02d}" / lab)
    rows = []
    for workers in (1, 2):
        started = time.perf_counter()
        results = grade(lab, scratch / "class", scratch / f"out-{workers}", workers=workers, options=options)
        seconds = time.perf_counter() - started
        assert all(r.score == r.max_score for r in results), f"the reference of {lab} must get full marks"
        notebook = [r.runs["notebook"]["seconds"] for r in results]
        probes = [sum(run["seconds"] for name, run in r.runs.items() if name != "notebook") for r in results]
        rows.append({"lab": lab, "workers": workers, "submissions": size, "seconds": round(seconds, 1),
                     "seconds_per_submission": round(seconds / size, 1),
                     "notebook_run_seconds_mean": round(sum(notebook) / size, 1),
                     "model_probe_seconds_mean": round(sum(probes) / size, 1)})
    return rows


def run(arguments: list[str] | None = None) -> dict:
    labs, size, baseline = parse(arguments)
    if baseline is not None:
        return side_by_side(labs, size, baseline)
    rows = []
    for lab in labs:
        with tempfile.TemporaryDirectory(prefix=f"labkit-bench-grading-{lab}-") as scratch:
            rows += measure(lab, size, Path(scratch))
    single = {row["lab"]: row for row in rows if row["workers"] == 1}
    double = {row["lab"]: row for row in rows if row["workers"] == 2}
    speedups = {lab: speedup(single[lab], double[lab]) for lab in single}
    slowest = max(row["seconds_per_submission"] for row in single.values())
    return {"rows": rows, "speedup_with_2_workers": speedups,
            "target": {"seconds_per_submission": TARGET_SECONDS, "met": slowest <= TARGET_SECONDS}}


def speedup(single: dict, double: dict) -> float:
    """How much faster the class was graded with two workers than with one (rows of :func:`measure`)."""
    return round(single["seconds"] / double["seconds"], 2)


def growth_key(lab: str, workers: int) -> str:
    """``"lab1-mnist, 2 workers"``: where a side-by-side run keeps a lab's growth at a worker count."""
    return f"{lab}, {workers} worker{'s' * (workers > 1)}"


MEASURE_IN_A_PROCESS = """
import json, sys, tempfile
from pathlib import Path
from benchmarks.grading import measure
with tempfile.TemporaryDirectory(prefix="labkit-bench-grading-") as scratch:
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), Path(scratch))))
"""


def side_by_side(labs: list[str], size: int, baseline: str) -> dict:
    """Each lab's class graded by the baseline revision's grader, then by this checkout's, in one run."""
    import subprocess
    import sys

    here = Path(__file__).resolve().parent.parent
    rows = []
    with tempfile.TemporaryDirectory(prefix="labkit-bench-baseline-") as scratch:
        worktree, code = Path(scratch) / "worktree", Path(scratch) / "code"
        subprocess.run(["git", "-C", str(here), "worktree", "add", "--detach", str(worktree), baseline],
                       check=True, capture_output=True)
        try:
            code.mkdir()  # the baseline's own code and notebooks, with this checkout's labkit
            for name in ("autograder", "benchmarks", "tests", "solutions", "labs", "nbgrader_config.py"):
                (code / name).symlink_to(worktree / name)
            for lab in labs:
                for grader, folder in ((baseline, code), ("this checkout", here)):
                    done = subprocess.run([sys.executable, "-c", MEASURE_IN_A_PROCESS, lab, str(size)], cwd=folder,
                                          check=True, capture_output=True, text=True)
                    rows += [row | {"grader": grader} for row in json.loads(done.stdout.splitlines()[-1])]
        finally:
            subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(worktree)],
                           capture_output=True)
    growth = {}
    for lab in labs:
        for workers in (1, 2):
            before, after = (next(row["seconds_per_submission"] for row in rows if row["lab"] == lab
                                  and row["workers"] == workers and (row["grader"] == baseline) == is_baseline)
                             for is_baseline in (True, False))
            growth[growth_key(lab, workers)] = round(after / before - 1, 3)
    return {"rows": rows, "baseline": baseline, "growth": growth,
            "target": {"max_growth": MAX_GROWTH, "met": max(growth.values()) <= MAX_GROWTH}}


def table(result: dict) -> str:
    if "baseline" in result:
        return _growth_table(result)
    lines = ["| lab | workers | submissions | total s | s / submission | notebook run s | model probes s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['lab']} | {r['workers']} | {r['submissions']} | {r['seconds']} | {r['seconds_per_submission']} | "
              f"{r['notebook_run_seconds_mean']} | {r['model_probe_seconds_mean']} |" for r in result["rows"]]
    speedups = ", ".join(f"{lab} {value}x" for lab, value in result["speedup_with_2_workers"].items())
    lines.append(f"\nspeed-up with 2 workers: {speedups}; target <= {TARGET_SECONDS:.0f} s per submission "
                 f"with one worker: {'met' if result['target']['met'] else 'NOT met'}")
    return "\n".join(lines)


def _growth_table(result: dict) -> str:
    lines = ["| lab | workers | grader | s / submission | notebook run s | model probes s |",
             "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {r['lab']} | {r['workers']} | {r['grader']} | {r['seconds_per_submission']} | "
              f"{r['notebook_run_seconds_mean']} | {r['model_probe_seconds_mean']} |" for r in result["rows"]]
    growth = ", ".join(f"{key} {value:+.1%}" for key, value in result["growth"].items())
    lines.append(f"\ngrowth per submission against {result['baseline']}: {growth}; target <= "
                 f"{MAX_GROWTH:.0%}: {'met' if result['target']['met'] else 'NOT met'}")
    return "\n".join(lines)
