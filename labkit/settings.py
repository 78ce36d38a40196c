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
    "lab5-emnist-deep-models": {
        # Each network's width (labkit.models' multiplier on every channel count) on a CPU, on a GPU and in
        # the quick profile: the zoo builds them and the VGG trains at its own; the grader accepts vgg.safetensors
        # and mnist-transfer.safetensors only at one of the VGG's.
        "WIDTHS": {
            "lenet": {"cpu": 1.0, "gpu": 1.0, "quick": 1.0},
            "alexnet": {"cpu": 0.5, "gpu": 1.0, "quick": 0.25},
            "vgg": {"cpu": 0.5, "gpu": 1.0, "quick": 0.25},
            "resnet": {"cpu": 0.5, "gpu": 1.0, "quick": 0.25},
            "spinalnet": {"cpu": 0.5, "gpu": 1.0, "quick": 0.25},
            "ensnet": {"cpu": 0.125, "gpu": 1.0, "quick": 0.125},
        },
        # The comparison trains every network at the CPU's width on any device (the quick profile's in the
        # quick profile), small enough for the grader to measure all six again on a CPU; it accepts a compared
        # network only at one of these widths.
        "COMPARED_WIDTHS": PerProfile(
            full={"lenet": 1.0, "alexnet": 0.5, "vgg": 0.5, "resnet": 0.5, "spinalnet": 0.5, "ensnet": 0.125},
            quick={"lenet": 1.0, "alexnet": 0.25, "vgg": 0.25, "resnet": 0.25, "spinalnet": 0.25, "ensnet": 0.125}),
        # The least held-out accuracy each compared network must reach, the proof that it trained (the quick
        # profile's few steps leave EnsNet at the class prior, so there is none there).
        "COMPARED_FLOOR": PerProfile(full=0.2, quick=0.0),
        # The VGG has batch normalisation after every convolution; the grader rebuilds it so.
        "VGG_BATCH_NORM": True,
        # Pixels are normalised with EMNIST ByClass's mean and standard deviation, for EMNIST and MNIST alike.
        "NORMALIZATION": "emnist-byclass",
        # The grader scores the EMNIST networks on a stratified sample of HELD_OUT_SAMPLE images (seed SAMPLE_SEED)
        # of the test part of labkit's offline partition, and the transfer on MNIST_SAMPLE MNIST test images: the
        # quick profile's test sets, and in every profile the images the comparison's table is measured on.
        "HELD_OUT_SAMPLE": 4000,
        "MNIST_SAMPLE": 2000,
        "SAMPLE_SEED": 0,
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
