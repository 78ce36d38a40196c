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

``repeat=N`` grades each lab's class N times with each grader, taking turns
(baseline first, then this checkout first, ...), so that other work on a shared
machine weighs on both alike; each grader's row is its median run, and every
run is kept under ``runs`` with the machine's load average before and after it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 90.0
SIZE = 4
MAX_GROWTH = 0.10
"""How much slower per submission a change may make grading, against its baseline."""


def parse(arguments: list[str] | None) -> tuple[list[str], int, str | None, int]:
    """The labs, the class size, the baseline revision (or None) and how many times each is graded."""
    from autograder.graders import LABS

    labs, size, baseline, repeats = [], SIZE, None, 1
    for argument in arguments or []:
        key, _, value = argument.partition("=")
        if key == "size" and value:
            size = int(value)
        elif key == "baseline" and value:
            baseline = value
        elif key == "repeat" and value.isdigit() and int(value) >= 1:
            repeats = int(value)
        elif argument in LABS:
            labs.append(argument)
        else:
            raise ValueError(f"{argument!r}: name a graded lab ({', '.join(LABS)}), size=N, baseline=REV or "
                             "repeat=N.")
    return labs or list(LABS), size, baseline, repeats


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
    labs, size, baseline, repeats = parse(arguments)
    if baseline is not None:
        return side_by_side(labs, size, baseline, repeats)
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


def side_by_side(labs: list[str], size: int, baseline: str, repeats: int = 1) -> dict:
    """Each lab's class graded by the baseline revision's grader and by this checkout's, ``repeats`` times
    each, taking turns, in one run."""
    import subprocess
    import sys

    here = Path(__file__).resolve().parent.parent
    runs = []
    with tempfile.TemporaryDirectory(prefix="labkit-bench-baseline-") as scratch:
        worktree, code = Path(scratch) / "worktree", Path(scratch) / "code"
        subprocess.run(["git", "-C", str(here), "worktree", "add", "--detach", str(worktree), baseline],
                       check=True, capture_output=True)
        try:
            code.mkdir()  # the baseline's own code and notebooks, with this checkout's labkit
            for name in ("autograder", "benchmarks", "tests", "solutions", "labs", "nbgrader_config.py"):
                (code / name).symlink_to(worktree / name)
            for lab in labs:
                for turn in range(repeats):
                    graders = ((baseline, code), ("this checkout", here))
                    for grader, folder in graders if turn % 2 == 0 else reversed(graders):
                        load = os.getloadavg()[0]
                        done = subprocess.run([sys.executable, "-c", MEASURE_IN_A_PROCESS, lab, str(size)],
                                              cwd=folder, check=True, capture_output=True, text=True)
                        runs += [row | {"grader": grader, "turn": turn + 1,
                                        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)]}
                                 for row in json.loads(done.stdout.splitlines()[-1])]
        finally:
            subprocess.run(["git", "-C", str(here), "worktree", "remove", "--force", str(worktree)],
                           capture_output=True)
    rows = [median_run(runs, lab, workers, grader) for lab in labs for workers in (1, 2)
            for grader in (baseline, "this checkout")]
    growth = {}
    for lab in labs:
        for workers in (1, 2):
            before, after = (next(row["seconds_per_submission"] for row in rows if row["lab"] == lab
                                  and row["workers"] == workers and (row["grader"] == baseline) == is_baseline)
                             for is_baseline in (True, False))
            growth[growth_key(lab, workers)] = round(after / before - 1, 3)
    return {"rows": rows, "runs": runs, "repeats": repeats, "baseline": baseline, "growth": growth,
            "target": {"max_growth": MAX_GROWTH, "met": max(growth.values()) <= MAX_GROWTH}}


def median_run(runs: list[dict], lab: str, workers: int, grader: str) -> dict:
    """The run of ``lab`` with ``workers`` by ``grader`` whose seconds per submission are the median (the lower
    of the middle two for an even count): a run that other work on the machine slowed down moves it least."""
    mine = runs_of(runs, lab, workers, grader)
    middle = statistics.median_low(run["seconds_per_submission"] for run in mine)
    return next(run for run in mine if run["seconds_per_submission"] == middle)


def runs_of(runs: list[dict], lab: str, workers: int, grader: str) -> list[dict]:
    """The runs that graded ``lab`` with ``workers`` by ``grader``, in the order they ran."""
    return [run for run in runs if (run["lab"], run["workers"], run["grader"]) == (lab, workers, grader)]


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
    runs = result.get("runs")  # every run, with the load around it: kept since repeat=N
    lines = ["| lab | workers | grader | s / submission | notebook run s | model probes s |"
             + (" every run: s / submission (load average before, after) |" if runs else ""),
             "|---|---:|---|---:|---:|---:|" + ("---|" if runs else "")]
    for r in result["rows"]:
        line = (f"| {r['lab']} | {r['workers']} | {r['grader']} | {r['seconds_per_submission']} | "
                f"{r['notebook_run_seconds_mean']} | {r['model_probe_seconds_mean']} |")
        if runs:
            line += " " + ", ".join(f"{run['seconds_per_submission']} ({run['load_average'][0]}, "
                                    f"{run['load_average'][1]})"
                                    for run in runs_of(runs, r["lab"], r["workers"], r["grader"])) + " |"
        lines.append(line)
    growth = ", ".join(f"{key} {value:+.1%}" for key, value in result["growth"].items())
    lines.append(f"\ngrowth per submission against {result['baseline']}: {growth}; target <= "
                 f"{MAX_GROWTH:.0%}: {'met' if result['target']['met'] else 'NOT met'}")
    return "\n".join(lines)
