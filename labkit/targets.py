"""The accuracy each graded model must reach, per lab and profile: written once, read by all.

A lab's notebook shows its student the target (``labkit.targets.target("lab1-mnist", "fc")``),
its hidden tests assert it, and the autograder applies it to the accuracy it
measures itself. Keeping the numbers here, rather than in each of those places,
means a recalibration (``benchmarks``' seed runs) changes one line.

Each target is calibrated so that the reference solution clears it by at
least half a percentage point on five seeds, in each profile that grades.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from labkit.profiles import PROFILES, Profile, current


@dataclass(frozen=True)
class Target:
    """The least test accuracy a model must reach, in each profile."""

    full: float
    quick: float

    def for_profile(self, profile: Profile) -> float:
        return profile.choose(full=self.full, quick=self.quick)


TARGETS: Mapping[str, Mapping[str, Target]] = {
    "lab1-mnist": {
        # Full, seeds 1-5 (benchmarks full_marks): dense 98.00-98.07%, CNN 99.22-99.33%.
        "fc": Target(full=0.97, quick=0.85),
        "cnn": Target(full=0.985, quick=0.90),
    },
    "lab2-fashion-mnist": {
        # Full, seeds 1-5 (benchmarks full_marks): 92.56-92.75%; quick: 84.88-85.72%.
        "cnn": Target(full=0.92, quick=0.80),
    },
    "lab3-annealing-augmentation": {
        # Full, seeds 1-5, four calibrations: plain 98.88-99.31%, annealed 99.02-99.50%; augmented
        # 99.51-99.55% with eight epochs, the last on the original images at a low rate (99.43-99.57%
        # with six; 99.19-99.33% before that last epoch).
        "plain": Target(full=0.98, quick=0.92),
        "annealed": Target(full=0.985, quick=0.92),
        "augmented": Target(full=0.985, quick=0.90),
    },
    "lab4-emnist-baselines": {
        # On the offline partition, seeds 1-5 (benchmarks full_marks): quick, margins dense +1.30 to
        # +2.46, CNN +1.57 to +2.38 points; full, dense 83.72-84.92% (batches of 256), CNN (label
        # smoothing, AdamW, ten epochs) 90.03-90.19%, in 665-748 s on a slow day (about 340-400 s
        # on a quiet one).
        "dense": Target(full=0.83, quick=0.725),
        "cnn": Target(full=0.89, quick=0.815),
    },
    "lab5-emnist-deep-models": {
        # On the offline partition, seeds 1-5 (benchmarks full_marks), as the grader measures them
        # (on 4,000 held-out images): quick, margins LeNet +10.4 to +12.6, VGG +5.4 to +7.5, transfer
        # +3.5 to +5.3 points; full, CPU widths: LeNet 78.65-79.63%, VGG 84.35-85.08% (the issue's
        # 87.5% is not reached; 84% was cleared by only 0.35), MNIST transfer 99.30-99.60%. Trained
        # without augmentation on a CPU since (seeds 1-3): VGG +2.45 to +2.88 over 83.5%, LeNet +3.95
        # to +4.73, transfer +1.00 to +1.45; the targets stay until a five-seed calibration.
        "lenet": Target(full=0.75, quick=0.45),
        "vgg": Target(full=0.835, quick=0.45),
        "mnist-transfer": Target(full=0.98, quick=0.90),
    },
}
"""lab -> model name (as in the lab's ``artifacts/metrics.json``) -> target."""


def target(lab: str, model: str, profile: Profile | str | None = None) -> float:
    """The test accuracy ``model`` of ``lab`` must reach in ``profile`` (the active one by default).

    >>> target("lab1-mnist", "fc", "quick")
    0.85
    """
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"{profile!r} is not a profile; use one of {', '.join(PROFILES)}.")
        profile = Profile(profile)
    try:
        models = TARGETS[lab]
    except KeyError:
        raise KeyError(f"no targets for lab {lab!r}; labs with targets: {', '.join(TARGETS)}") from None
    try:
        chosen = models[model]
    except KeyError:
        raise KeyError(f"{lab} has no target for {model!r}; it has: {', '.join(models)}") from None
    return chosen.for_profile(profile or current())
