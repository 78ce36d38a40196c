"""``make bench``: run the benchmarks, print their tables, write ``benchmarks/results/<name>.json``.

Each benchmark compares alternatives in the same run on the same machine and reports
ratios, so results from different machines stay comparable. Exit status 1 when a
benchmark's target is not met.

``python -m benchmarks`` runs the quick ones (:data:`DEFAULT`); name others to run them,
with arguments after a colon: ``python -m benchmarks lab_recipes:lab1-mnist,lab4-emnist-baselines``.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from benchmarks import data_load, full_marks, grading, lab5_augment, lab_recipes

BENCHMARKS = {"data_load": data_load, "lab5_augment": lab5_augment, "grading": grading, "full_marks": full_marks,
              "lab_recipes": lab_recipes}
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
        result["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
        print(f"## {name}\n\n{module.table(result)}\n\nwritten to {RESULTS / (name + '.json')}\n")
        if not result["target"]["met"]:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
