"""One module per lab: what its graded parts are and how each is judged.

A lab module provides ``LAB`` (its name) and ``Grader``, a class with
``setup(scratch, profile)`` (batch-level work done once: evaluation images,
probe inputs, reference results) and ``grade(copy, context)`` (one
submission's private copy -> part results, in-notebook test results, notes).
Adding a lab is adding a module here and a line to ``LABS``.
"""

from __future__ import annotations

import importlib

LABS = {
    "lab1-mnist": "autograder.labs.lab1_mnist",
    "lab2-fashion-mnist": "autograder.labs.lab2_fashion_mnist",
}


def grader_for(lab: str):
    """The grader of ``lab``, refusing labs the autograder cannot grade yet."""
    if lab not in LABS:
        raise ValueError(f"The autograder cannot grade {lab!r} yet; it grades: {', '.join(LABS)}.")
    return importlib.import_module(LABS[lab]).Grader()
