"""``make demo``: release the labs, grade a small demo class, print the grades and where the feedback is.

A lab's demo class is four submissions taken from its grading tests' own class
(``tests/grading_corpus.py`` for lab 1, ``build_class`` in ``tests/test_grade_<lab>.py``
for the others), so what the demo shows is what the tests check:

* ``reference`` — the solution notebook, run as a student would run it;
* ``untouched`` — the student notebook exactly as released;
* a seeded bug — the solution with one small mistake (lab 1: the training step doubles the loss);
* a tampering attempt — lab 1's writes forged probe results, grades and gradebook entries
  wherever it hopes the grader will read them.

To keep the demo within minutes on 2 CPU cores, the reference is trained in the quick
profile and graded against the quick profile's targets::

    python -m autograder.demo                  # lab 1
    python -m autograder.demo --lab all        # every lab with a demo class
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograder import graders
from autograder.release import release, repository_root

DEMO_CLASSES = {
    "lab1-mnist": ("reference", "untouched", "bug-train-step", "forge-results"),
    "lab2-fashion-mnist": ("reference", "untouched", "bug-thresholding", "forge-classes"),
    "lab3-annealing-augmentation": ("reference", "untouched", "bug-annealer-monitor", "forge-rates"),
    "lab4-emnist-baselines": ("reference", "untouched", "bug-rot90", "forge-exit"),
    "lab5-emnist-deep-models": ("reference", "untouched", "bug-spinal-halves", "forge-scores"),
}
"""lab -> the students of its demo class, named as in its grading tests."""
DEFAULT_OUT = Path("demo-output") / "grading"
REFERENCE_CELL_TIMEOUT = 1800
"""Seconds one cell of a reference run may take: a busy laptop is slow, and the demo should wait for it."""


def build_demo_class(lab: str, scratch: Path, class_dir: Path) -> None:
    """Write the demo submissions of ``lab`` to ``class_dir/<student>/<lab>/``."""
    from tests import grading_corpus as corpus
    from tests.notebooks import execute, solution_notebook

    if lab not in DEMO_CLASSES:
        raise ValueError(f"there is no demo class for {lab}; the demo grades: {', '.join(DEMO_CLASSES)}")
    reference = scratch / "reference" / lab
    reference.mkdir(parents=True)
    shutil.copyfile(solution_notebook(lab), reference / f"{lab}.ipynb")
    print(f"training the reference solution of {lab} (quick profile) ...", flush=True)
    execute(reference / f"{lab}.ipynb", reference, cell_timeout=REFERENCE_CELL_TIMEOUT,
            environment={"LABKIT_STUDENT_ID": "reference"})  # its Comet runs carry the id it is handed in under
    shutil.rmtree(reference / ".kernels", ignore_errors=True)
    students = DEMO_CLASSES[lab]
    if lab == corpus.LAB:
        sources = corpus.Sources(reference, class_dir, scratch / "graded-elsewhere", scratch / "markers")
        corpus.build_class(sources, [case for case in corpus.CASES if case.student_id in students])
        return
    tests = importlib.import_module(f"tests.test_grade_{lab.split('-')[0]}")
    tests.build_class(reference, class_dir)
    for folder in class_dir.iterdir():
        if folder.name not in students:
            shutil.rmtree(folder)


def grade_table(grades_csv: Path) -> str:
    """``grades.csv`` as aligned text, one student per line."""
    with grades_csv.open(newline="") as handle:
        rows = list(csv.reader(handle))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def demo(lab: str, out: Path, workers: int) -> Path:
    """Grade the demo class of ``lab`` into ``out/<lab>``; return that folder."""
    from autograder.pipeline.grading import grade
    from autograder.pipeline.options import GradingOptions

    graded = out / lab
    shutil.rmtree(graded, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="labkit-demo-") as scratch:
        class_dir = Path(scratch) / "class"
        build_demo_class(lab, Path(scratch), class_dir)
        print(f"grading {len(DEMO_CLASSES[lab])} submissions in sandboxes, {workers} at a time ...", flush=True)
        for result in grade(lab, class_dir, graded, workers=workers, options=GradingOptions(profile="quick")):
            print(f"  {result.student_id:<16} {result.score:g}/{result.max_score:g}  {result.status}", flush=True)
    return graded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default=os.environ.get("LAB") or "lab1-mnist",
                        help="a lab, or 'all' for every lab with a demo class (default: lab1-mnist, or $LAB)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where results go (default {DEFAULT_OUT})")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    chosen = [lab for lab in graders.LABS if lab in DEMO_CLASSES] if args.lab == "all" else [args.lab]
    if unknown := [lab for lab in chosen if lab not in graders.LABS]:
        print(f"The autograder cannot grade {', '.join(unknown)} yet; it grades: {', '.join(graders.LABS)}.",
              file=sys.stderr)
        return 2
    if without_demo := [lab for lab in chosen if lab not in DEMO_CLASSES]:
        print(f"There is no demo class for {', '.join(without_demo)}; the demo grades: {', '.join(DEMO_CLASSES)}.",
              file=sys.stderr)
        return 2

    started = time.perf_counter()
    for folder in release(root=repository_root()):
        print(f"released {folder.relative_to(repository_root())}")
    for lab in chosen:
        graded = demo(lab, args.out.resolve(), args.workers)
        print(f"\n{grade_table(graded / 'grades.csv')}\n")
        print(f"feedback for each student: {graded / 'feedback'}/<student>/{lab}.html")
        print(f"gradebook: {graded / 'gradebook.db'}; Comet review: {graded / 'comet-review.csv'}")
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
