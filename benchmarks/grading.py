"""Grading throughput: seconds per submission of each lab, and the speed-up of ``--workers 2``.

For each lab, a class of ``size`` copies of the reference solution (run once,
as a student would) is graded twice, into fresh output folders: with one
worker, then with two. Every copy is graded in full (its notebook run in the
sandbox with the lab's probes, every saved model probed), under the quick
profile's targets. Target: at most 90 seconds of wall time per submission with
one worker, for every lab.

``python -m benchmarks grading[:LAB,...][,size=N]`` (every graded lab, 4 copies, by default).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 90.0
SIZE = 4


def parse(arguments: list[str] | None) -> tuple[list[str], int]:
    from autograder.labs import LABS

    labs, size = [], SIZE
    for argument in arguments or []:
        key, _, value = argument.partition("=")
        if key == "size" and value:
            size = int(value)
        elif argument in LABS:
            labs.append(argument)
        else:
            raise ValueError(f"{argument!r}: name a graded lab ({', '.join(LABS)}) or size=N.")
    return labs or list(LABS), size


def _reference(lab: str, folder: Path) -> Path:
    from tests.notebooks import execute, solution_notebook

    submission = folder / "reference" / lab
    submission.mkdir(parents=True)
    shutil.copyfile(solution_notebook(lab), submission / f"{lab}.ipynb")
    execute(submission / f"{lab}.ipynb", submission)
    shutil.rmtree(submission / ".kernels", ignore_errors=True)
    return submission


def measure(lab: str, size: int, scratch: Path) -> list[dict]:
    from autograder.grading import grade
    from autograder.options import GradingOptions

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
    labs, size = parse(arguments)
    rows = []
    for lab in labs:
        with tempfile.TemporaryDirectory(prefix=f"labkit-bench-grading-{lab}-") as scratch:
            rows += measure(lab, size, Path(scratch))
    single = {row["lab"]: row for row in rows if row["workers"] == 1}
    double = {row["lab"]: row for row in rows if row["workers"] == 2}
    speedups = {lab: round(single[lab]["seconds"] / double[lab]["seconds"], 2) for lab in single}
    slowest = max(row["seconds_per_submission"] for row in single.values())
    return {"rows": rows, "speedup_with_2_workers": speedups,
            "target": {"seconds_per_submission": TARGET_SECONDS, "met": slowest <= TARGET_SECONDS}}


def table(result: dict) -> str:
    lines = ["| lab | workers | submissions | total s | s / submission | notebook run s | model probes s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['lab']} | {r['workers']} | {r['submissions']} | {r['seconds']} | {r['seconds_per_submission']} | "
              f"{r['notebook_run_seconds_mean']} | {r['model_probe_seconds_mean']} |" for r in result["rows"]]
    speedups = ", ".join(f"{lab} {value}x" for lab, value in result["speedup_with_2_workers"].items())
    lines.append(f"\nspeed-up with 2 workers: {speedups}; target <= {TARGET_SECONDS:.0f} s per submission "
                 f"with one worker: {'met' if result['target']['met'] else 'NOT met'}")
    return "\n".join(lines)
