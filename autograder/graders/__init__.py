"""One module per lab: what its graded parts are and how each is judged.

A lab module provides ``LAB`` (its name) and ``Grader``, a class with
``setup(scratch, options)`` (batch-level work done once: evaluation images,
probe inputs, reference results) and ``grade(copy, context)`` (one
submission's private copy -> part results, in-notebook test results, notes).
Adding a lab is adding a module here and a line to ``LABS``.

Two rules every grader keeps: each random input a probe is given is drawn from
the run's secret (``options.secret``, :mod:`autograder.pipeline.grading_secret`), never
from a seed in the code, and reaches a notebook only when its probe runs
(:class:`autograder.pipeline.notebook_run.ProbeFolders`); and whatever a sandbox leaves
behind is read only through :mod:`autograder.sandbox.output`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from autograder.pipeline import source
from autograder.release import repository_root

LABS = {
    "lab1-mnist": "autograder.graders.lab1_mnist",
    "lab2-fashion-mnist": "autograder.graders.lab2_fashion_mnist",
    "lab3-annealing-augmentation": "autograder.graders.lab3_annealing_augmentation",
    "lab4-emnist-baselines": "autograder.graders.lab4_emnist_baselines",
    "lab5-emnist-deep-models": "autograder.graders.lab5_emnist_deep_models",
}


class LabGrader:
    """What every lab's grader shares: where the lab's two notebooks are, and what the source says."""

    lab: str
    sampled_images: int | None = None
    """Set when the models are scored on a random sample of this many of the images the notebook
    tests on: the Comet review then allows for the sample's error."""

    def read_source(self, parts: set[str]):
        """The source notebook and its graded cells' points, refusing cells this grader does not judge."""
        solution = source.read(self.source_notebook())
        points = source.graded_points(solution)
        source.expect_graded_cells(points, parts, self.lab, type(self).__module__.replace(".", "/") + ".py")
        return solution, points

    def source_notebook(self) -> Path:
        return repository_root() / "solutions" / self.lab / f"{self.lab}.ipynb"

    def released_notebook(self) -> Path:
        return repository_root() / "labs" / self.lab / f"{self.lab}.ipynb"


def grader_for(lab: str):
    """The grader of ``lab``, refusing labs the autograder cannot grade yet."""
    if lab not in LABS:
        raise ValueError(f"The autograder cannot grade {lab!r} yet; it grades: {', '.join(LABS)}.")
    return importlib.import_module(LABS[lab]).Grader()
