"""Grading throughput: seconds per lab 1 submission, and the speed-up of ``--workers 2``.

A class of ``size`` copies of the reference solution (run once, as a student
would) is graded twice, into fresh output folders: with one worker, then with
two. Every copy is graded in full (its notebook executed in the sandbox, both
models probed), under the quick profile's targets. Target: at most 90 seconds
of wall time per submission with one worker.

``python -m benchmarks grading:SIZE`` (default 4).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

LAB = "lab1-mnist"
TARGET_SECONDS = 90.0


def _reference(folder: Path) -> Path:
    from tests.notebooks import execute, solution_notebook

    submission = folder / "reference" / LAB
    submission.mkdir(parents=True)
    shutil.copyfile(solution_notebook(LAB), submission / f"{LAB}.ipynb")
    execute(submission / f"{LAB}.ipynb", submission)
    shutil.rmtree(submission / ".kernels", ignore_errors=True)
    return submission


def run(arguments: list[str] | None = None) -> dict:
    from autograder.grading import grade
    from autograder.options import GradingOptions

    size = int(arguments[0]) if arguments else 4
    data_dir = os.environ.get("LABKIT_DATA_DIR") or None
    options = GradingOptions(profile="quick", data_dir=Path(data_dir) if data_dir else None)
    rows = []
    with tempfile.TemporaryDirectory(prefix="labkit-bench-grading-") as scratch:
        scratch = Path(scratch)
        reference = _reference(scratch / "made")
        for index in range(size):
            shutil.copytree(reference, scratch / "class" / f"student-{index:02d}" / LAB)
        for workers in (1, 2):
            started = time.perf_counter()
            results = grade(LAB, scratch / "class", scratch / f"out-{workers}", workers=workers, options=options)
            seconds = time.perf_counter() - started
            assert all(r.score == r.max_score for r in results), "the reference must get full marks"
            notebook = [r.runs["notebook"]["seconds"] for r in results]
            rows.append({"workers": workers, "submissions": size, "seconds": round(seconds, 1),
                         "seconds_per_submission": round(seconds / size, 1),
                         "notebook_run_seconds_mean": round(sum(notebook) / len(notebook), 1),
                         "model_probe_seconds_mean": round(sum(
                             r.runs["fc model"]["seconds"] + r.runs["cnn model"]["seconds"]
                             for r in results) / len(results), 1)})
    single = rows[0]["seconds_per_submission"]
    return {"rows": rows, "speedup_with_2_workers": round(rows[0]["seconds"] / rows[1]["seconds"], 2),
            "target": {"seconds_per_submission": TARGET_SECONDS, "met": single <= TARGET_SECONDS}}


def table(result: dict) -> str:
    lines = ["| workers | submissions | total s | s / submission | notebook run s | model probes s |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['workers']} | {r['submissions']} | {r['seconds']} | {r['seconds_per_submission']} | "
              f"{r['notebook_run_seconds_mean']} | {r['model_probe_seconds_mean']} |" for r in result["rows"]]
    lines.append(f"\nspeed-up with 2 workers: {result['speedup_with_2_workers']}x; "
                 f"target <= {TARGET_SECONDS:.0f} s per submission: {'met' if result['target']['met'] else 'NOT met'}")
    return "\n".join(lines)

