"""Grading on a Dask cluster against this machine's pool: the distributed path's overhead per submission.

The same class, ``size`` copies of a lab 1 submission that takes a whole grading
(the solution notebook, run in the sandbox with the train-step probe, and models
of the lab's two architectures, both probed; the models were never trained, so
nothing trains here), is graded four times in one run, each into a fresh output
folder with the same secret: this machine's pool with 1 worker, ``--cluster
local:1``, the pool with 2 workers, ``local:2`` (a Dask LocalCluster: a scheduler
in this process, worker processes with nannies, every task sent through it).

For each run: its wall seconds, the seconds before grading could start (a
LocalCluster's start; the pool starts its processes with the first tasks), and
the seconds per submission each worker spent outside the grading itself (wall
after the start, times workers, over submissions, less the mean seconds the
grader measured for a submission). The distributed path's overhead per
submission is the cluster's outside seconds less the pool's, as a share of a
submission's grading seconds (target: under 5%); the start is paid once per batch.

The projection for ``--cluster`` with 2,000 submissions on 64 workers: the
instructor's process collects every submission first (measured here per
submission), then the workers grade ``ceil(2000 / 64)`` submissions each, at the
seconds per submission the 2-worker cluster run took per worker, after the
cluster's start. It assumes what this run had: a core per worker.

``python -m benchmarks cluster[:size=N]`` (8 copies by default: about 12 minutes on 2 quiet cores).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path

SIZE = 8
"""Submissions in the class: with 4, two runs on a busy machine differed by 5 points of overhead."""
MAX_OVERHEAD = 0.05
"""The distributed path's seconds per submission beyond the pool's, as a share of a submission's grading time."""
COURSE = {"submissions": 2000, "workers": 64}
"""The course of the issue: 400 students, 5 labs, on 64 workers."""
RUNS = (("pool", 1), ("local", 1), ("pool", 2), ("local", 2))
"""Alternating, so that a machine that slows down during the run weighs on both paths alike."""


def parse(arguments: list[str] | None) -> int:
    size = SIZE
    for argument in arguments or []:
        key, _, value = argument.partition("=")
        if key == "size" and value.isdigit() and int(value) >= 1:
            size = int(value)
        else:
            raise ValueError(f"{argument!r}: the cluster benchmark takes size=N (submissions in the class).")
    return size


def build(class_dir: Path, size: int) -> Path:
    """``size`` copies of the whole-grading submission under ``class_dir``."""
    from tests.grading_cluster import LAB, untrained_models
    from tests.notebooks import solution_notebook

    made = class_dir.parent / "made"
    shutil.copyfile(solution_notebook(LAB), _folder(made) / f"{LAB}.ipynb")
    untrained_models(made / "artifacts")
    for index in range(size):
        shutil.copytree(made, class_dir / f"student-{index:02d}" / LAB)
    return class_dir


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def measure(size: int, scratch: Path) -> dict:
    from autograder.pipeline import submissions
    from autograder.pipeline.cluster import Cluster
    from autograder.pipeline.grading import grade
    from autograder.pipeline.grading_secret import GradingSecret
    from autograder.pipeline.options import GradingOptions
    from tests.grading_cluster import LAB

    data_dir = os.environ.get("LABKIT_DATA_DIR") or None
    options = GradingOptions(profile="quick", data_dir=Path(data_dir) if data_dir else None,
                             secret=GradingSecret.fresh())
    class_dir = build(scratch / "class", size)
    rows = []
    for path, workers in RUNS:
        began, started = time.perf_counter(), []
        results = grade(LAB, class_dir, scratch / f"out-{path}-{workers}", workers=workers if path == "pool" else 1,
                        options=options, cluster=Cluster(f"local:{workers}") if path == "local" else None,
                        on_start=lambda total, dashboard, started=started: started.append(time.perf_counter()))
        wall = time.perf_counter() - began
        assert all(result.status == "graded" for result in results), [r.grader_error for r in results]
        rows.append(row(path, workers, size, wall, started[0] - began, [result.seconds for result in results]))
    found, _ = submissions.find(class_dir, LAB)
    copied = time.perf_counter()
    for index, submission in enumerate(found):  # what the instructor's process does for each, before grading
        submissions.content_hash(submissions.copy(submission, scratch / "copies" / str(index)).folder)
    collect = (time.perf_counter() - copied) / size
    return summarise(rows, collect)


def row(path: str, workers: int, size: int, wall: float, start: float, seconds: list[float]) -> dict:
    grading = sum(seconds) / len(seconds)
    per_worker = (wall - start) * workers / size
    return {"path": path, "workers": workers, "submissions": size, "seconds": round(wall, 1),
            "start_seconds": round(start, 1), "seconds_per_submission_per_worker": round(per_worker, 2),
            "grading_seconds_mean": round(grading, 2), "outside_grading_seconds": round(per_worker - grading, 2)}


def summarise(rows: list[dict], collect_seconds: float) -> dict:
    """The overhead of the cluster path at each worker count, the projection for the course, the target."""
    overhead = {}
    for workers in sorted({row["workers"] for row in rows}):
        pool, cluster = (next(r for r in rows if r["path"] == path and r["workers"] == workers)
                         for path in ("pool", "local"))
        extra = cluster["outside_grading_seconds"] - pool["outside_grading_seconds"]
        overhead[str(workers)] = {"seconds_per_submission": round(extra, 2),
                                  "share_of_grading": round(extra / pool["grading_seconds_mean"], 4),
                                  "start_seconds": cluster["start_seconds"]}
    widest = max((r for r in rows if r["path"] == "local"), key=lambda r: r["workers"])
    return {"rows": rows, "overhead": overhead, "collect_seconds_per_submission": round(collect_seconds, 3),
            "projection": projection(widest["seconds_per_submission_per_worker"], widest["start_seconds"],
                                     collect_seconds),
            "target": {"max_overhead": MAX_OVERHEAD,
                       "met": max(value["share_of_grading"] for value in overhead.values()) <= MAX_OVERHEAD}}


def projection(per_submission: float, start: float, collect: float, submissions: int = COURSE["submissions"],
               workers: int = COURSE["workers"]) -> dict:
    """The wall time of ``submissions`` on ``workers``: collected one after another, then graded in waves."""
    waves = math.ceil(submissions / workers)
    seconds = start + submissions * collect + waves * per_submission
    return {"submissions": submissions, "workers": workers, "per_submission_seconds": per_submission,
            "waves": waves, "seconds": round(seconds), "hours": round(seconds / 3600, 2)}


def run(arguments: list[str] | None = None) -> dict:
    size = parse(arguments)
    with tempfile.TemporaryDirectory(prefix="labkit-bench-cluster-") as scratch:
        return measure(size, Path(scratch))


def table(result: dict) -> str:
    lines = ["| path | workers | submissions | total s | start s | s / submission per worker | grading s (mean) | "
             "outside grading s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {'pool' if r['path'] == 'pool' else 'local:' + str(r['workers'])} | {r['workers']} | "
              f"{r['submissions']} | {r['seconds']} | {r['start_seconds']} | "
              f"{r['seconds_per_submission_per_worker']} | "
              f"{r['grading_seconds_mean']} | {r['outside_grading_seconds']} |" for r in result["rows"]]
    overhead = ", ".join(f"{workers} worker{'s' * (workers != '1')} {value['seconds_per_submission']:+.2f} s "
                         f"({value['share_of_grading']:+.1%}), start {value['start_seconds']} s once"
                         for workers, value in result["overhead"].items())
    course = result["projection"]
    lines.append(f"\ncluster path's overhead per submission: {overhead}; target < {MAX_OVERHEAD:.0%}: "
                 f"{'met' if result['target']['met'] else 'NOT met'}")
    lines.append(f"projected: {course['submissions']:,} submissions on {course['workers']} workers in "
                 f"{course['hours']} h ({course['waves']} each at {course['per_submission_seconds']} s, after "
                 f"{result['collect_seconds_per_submission']} s per submission collected)")
    return "\n".join(lines)
