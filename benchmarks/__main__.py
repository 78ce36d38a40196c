"""``make bench``: run the benchmarks, print their tables, write ``benchmarks/results/<name>.json``.

Each benchmark compares alternatives in the same run on the same machine and reports
ratios, so results from different machines stay comparable. Exit status 1 when a
benchmark's target is not met.

``python -m benchmarks`` runs the quick ones (:data:`DEFAULT`); name others to run them,
with arguments after a colon: ``python -m benchmarks lab_recipes:lab1-mnist,lab4-emnist-baselines``.
Every run is also kept in ``benchmarks/results/history/``, with the commit it measured.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import cluster, data_load, full_marks, grading, lab5_augment, lab_recipes

BENCHMARKS = {"data_load": data_load, "lab5_augment": lab5_augment, "grading": grading, "full_marks": full_marks,
              "lab_recipes": lab_recipes, "cluster": cluster}
DEFAULT = ["data_load", "lab5_augment"]
"""What ``make bench`` runs; ``grading`` and ``full_marks`` take minutes per lab, ``lab_recipes`` hours, on 2 CPU cores."""
RESULTS = Path(__file__).parent / "results"


def main(names: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    failed = []
    for request in names or DEFAULT:
        name, _, arguments = request.partition(":")
        if name not in BENCHMARKS:
            print(f"no benchmark {name!r}; benchmarks: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        module = BENCHMARKS[name]
        result = module.run(arguments.split(",")) if arguments else module.run()
        finished = datetime.now(timezone.utc)
        result["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
        result["run"] = {"request": request, "finished": finished.isoformat(timespec="seconds"),
                         "commit": current_commit()}
        written = write_result(result, name, finished)
        print(f"## {name}\n\n{module.table(result)}\n\nwritten to {', '.join(map(str, written))}\n")
        if not result["target"]["met"]:
            failed.append(name)
    return 1 if failed else 0


def write_result(result: dict, name: str, finished: datetime) -> list[Path]:
    """Write ``results/<name>.json`` (the latest run) and a copy under ``results/history/`` that no run replaces.

    The figures in docs/calibration.md come from runs days apart; the history keeps each one to check them against.
    """
    text = json.dumps(result, indent=2)
    latest = RESULTS / f"{name}.json"
    kept = RESULTS / "history" / f"{name}-{finished:%Y%m%dT%H%M%SZ}.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    for path in (latest, kept):
        path.write_text(text)
    return [latest, kept]


def current_commit() -> str | None:
    """The checkout's commit, marked ``-dirty`` when files differ from it; None outside a git checkout."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=Path(__file__).parent, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
