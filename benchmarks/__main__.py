"""``make bench``: run every benchmark, print its table, write ``benchmarks/results/<name>.json``.

Each benchmark compares alternatives in the same run on the same machine and reports
ratios, so results from different machines stay comparable. Exit status 1 when a
benchmark's target is not met.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from benchmarks import data_load

BENCHMARKS = {"data_load": data_load}
RESULTS = Path(__file__).parent / "results"


def main(names: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    failed = []
    for name in names or list(BENCHMARKS):
        module = BENCHMARKS[name]
        result = module.run()
        result["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
        print(f"## {name}\n\n{module.table(result)}\n\nwritten to {RESULTS / (name + '.json')}\n")
        if not result["target"]["met"]:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
