"""``make bench``: run the benchmarks, print their tables, keep each run in ``benchmarks/history/``.

Each benchmark compares alternatives in the same run on the same machine and reports
ratios, so results from different machines stay comparable. Exit status 1 when a
benchmark's target is not met.

``python -m benchmarks`` runs the quick ones (:data:`DEFAULT`); name others to run them,
with arguments after a colon: ``python -m benchmarks lab_recipes:lab1-mnist,lab4-emnist-baselines``.
Every run is also kept, tracked by git, in ``benchmarks/history/``: the request, the commit it
measured, the machine, the date and the result, from which ``python -m benchmarks.calibration``
renders the tables of docs/calibration.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import cluster, data_load, full_marks, grading, lab5_augment, lab_recipes, machine

BENCHMARKS = {"data_load": data_load, "lab5_augment": lab5_augment, "grading": grading, "full_marks": full_marks,
              "lab_recipes": lab_recipes, "cluster": cluster}
DEFAULT = ["data_load", "lab5_augment"]
"""What ``make bench`` runs; ``grading`` and ``full_marks`` take minutes per lab, ``lab_recipes`` hours, on 2 CPU cores."""
RESULTS = Path(__file__).parent / "results"
"""The latest run of each benchmark (git-ignored)."""
HISTORY = Path(__file__).parent / "history"
"""Every run, one file each, never replaced (tracked): what docs/calibration.md's tables are rendered from."""


def main(names: list[str]) -> int:
    failed = []
    for request in names or DEFAULT:
        name, _, arguments = request.partition(":")
        if name not in BENCHMARKS:
            print(f"no benchmark {name!r}; benchmarks: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        module = BENCHMARKS[name]
        result = module.run(arguments.split(",")) if arguments else module.run()
        finished, commit = datetime.now(timezone.utc), current_commit()
        result["machine"] = machine.describe()
        result["run"] = {"request": request, "finished": finished.isoformat(timespec="seconds"), "commit": commit}
        written = write_result(result, name, finished, commit)
        print(f"## {name}\n\n{module.table(result)}\n\nwritten to {', '.join(map(str, written))} "
              f"(docs/calibration.md's tables: make calibration)\n")
        if not result["target"]["met"]:
            failed.append(name)
    return 1 if failed else 0


def write_result(result: dict, name: str, finished: datetime, commit: str | None) -> list[Path]:
    """Write ``results/<name>.json`` (the latest run) and ``history/<time>-<name>-<commit>.json``, never replaced.

    The figures in docs/calibration.md come from runs days apart; the history keeps each one, in git, to
    render them from.
    """
    text = json.dumps(result, indent=2) + "\n"
    latest = RESULTS / f"{name}.json"
    kept = HISTORY / f"{finished:%Y%m%dT%H%M%SZ}-{name}-{commit or 'no-commit'}.json"
    latest.parent.mkdir(parents=True, exist_ok=True)
    kept.parent.mkdir(parents=True, exist_ok=True)
    latest.write_text(text)
    with kept.open("x") as record:  # a second run in the same second must not replace the first
        record.write(text)
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
