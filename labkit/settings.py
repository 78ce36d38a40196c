"""The constants a lab's notebook and its grader must agree on: written once, read by both.

A learning rate the grader checks an annealer against, a margin a model must
gain, a tolerance for a near tie: each is set here, the notebook reads it
(``LEARNING_RATE = labkit.settings.value(LAB, "LEARNING_RATE")``) and the
grader reads the same line. Nothing is parsed back out of a notebook's
source, so a notebook edit cannot move a grading threshold unnoticed.

The accuracy targets have their own home, :mod:`labkit.targets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit.profiles import PerProfile, Profile, resolve

SETTINGS: Mapping[str, Mapping[str, Any]] = {
    "lab2-fashion-mnist": {
        # Exercise 5: a pair whose share is within this of the largest off the diagonal counts too (a near
        # tie), so that a near tie, or the few images another machine predicts differently, decides no grade.
        "NEAR_TIE": 0.01,
    },
    "lab3-annealing-augmentation": {
        # Adam's learning rate in every training run: the annealed run's recorded rates must start here.
        "LEARNING_RATE": 2e-3,
        # How much more of the transformed test images the augmented CNN must get right than the plain one.
        "TRANSFORMED_GAIN": 0.03,
    },
    "lab4-emnist-baselines": {
        # Exercise 3: epochs without a lower validation loss after which the student's early-stopping
        # callback ends training; the grader drives it against Keras' EarlyStopping with the same patience.
        "PATIENCE": PerProfile(full=3, quick=2),
    },
}
"""lab -> constant name (as the notebook spells it) -> its value, or a :class:`PerProfile`."""


def value(lab: str, name: str, profile: Profile | str | None = None) -> Any:
    """The constant ``name`` of ``lab`` in ``profile`` (the active one by default)."""
    try:
        constants = SETTINGS[lab]
    except KeyError:
        raise KeyError(f"no settings for lab {lab!r}; labs with settings: {', '.join(SETTINGS)}") from None
    try:
        chosen = constants[name]
    except KeyError:
        raise KeyError(f"{lab} has no setting {name!r}; it has: {', '.join(constants)}") from None
    if isinstance(chosen, PerProfile):
        return chosen.for_profile(resolve(profile))
    return chosen
