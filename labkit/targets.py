"""The accuracy each graded model must reach, per lab and profile: written once, read by all.

A lab's notebook shows its student the target (``labkit.targets.target("lab1-mnist", "fc")``),
its hidden tests assert it, and the autograder applies it to the accuracy it
measures itself. Keeping the numbers here, rather than in each of those places,
means a recalibration (``benchmarks``' seed runs) changes one line.

Each target is calibrated so that the reference solution clears it by at
least half a percentage point on several seeds, in each profile that grades;
the measurements behind each number are in ``docs/calibration.md``, not here.
"""

from __future__ import annotations

from collections.abc import Mapping

from labkit.profiles import PerProfile, Profile, resolve


class Target(PerProfile):
    """The least test accuracy a model must reach, in each profile."""


TARGETS: Mapping[str, Mapping[str, Target]] = {
    "lab1-mnist": {
        "fc": Target(full=0.97, quick=0.85),
        "cnn": Target(full=0.985, quick=0.90),
    },
    "lab2-fashion-mnist": {
        "cnn": Target(full=0.92, quick=0.80),
    },
    "lab3-annealing-augmentation": {
        "plain": Target(full=0.98, quick=0.92),
        "annealed": Target(full=0.985, quick=0.92),
        "augmented": Target(full=0.985, quick=0.93),
        # The augmented CNN on copies of the test images rotated, shifted and zoomed within the
        # exercise's augmentation ranges (drawn by the grader): what augmentation buys.
        "augmented-transformed": Target(full=0.975, quick=0.85),
    },
    "lab4-emnist-baselines": {
        "dense": Target(full=0.83, quick=0.725),
        "cnn": Target(full=0.89, quick=0.815),
    },
    "lab5-emnist-deep-models": {
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
    try:
        models = TARGETS[lab]
    except KeyError:
        raise KeyError(f"no targets for lab {lab!r}; labs with targets: {', '.join(TARGETS)}") from None
    try:
        chosen = models[model]
    except KeyError:
        raise KeyError(f"{lab} has no target for {model!r}; it has: {', '.join(models)}") from None
    return chosen.for_profile(resolve(profile))


def describe(lab: str, profile: Profile | str | None = None) -> str:
    """The lab's targets as the grader applies them (the full profile's), and what the active profile changes.

    >>> print(describe("lab1-mnist", "full"))
    Targets (the grader measures your saved models against these): fc 97.0%, cnn 98.5%.
    You are on the full profile, the course's: the checks in this notebook use these targets too.
    """
    profile = resolve(profile)
    if lab not in TARGETS:
        raise KeyError(f"no targets for lab {lab!r}; labs with targets: {', '.join(TARGETS)}")
    models = TARGETS[lab]
    full = ", ".join(f"{model} {chosen.full:.1%}" for model, chosen in models.items())
    lines = [f"Targets (the grader measures your saved models against these): {full}."]
    if not profile.quick:
        lines.append("You are on the full profile, the course's: the checks in this notebook use these targets too.")
    else:
        quick = ", ".join(f"{model} {chosen.quick:.1%}" for model, chosen in models.items())
        lines.append(f"You are on the quick profile (LABKIT_PROFILE=quick): this run trains on a slice of the data, "
                     f"and the checks in this notebook use the quick targets ({quick}). The grader applies the "
                     "targets above to the models you hand in, so run the notebook again without "
                     "LABKIT_PROFILE=quick before handing in.")
    return "\n".join(lines)


def show(lab: str) -> None:
    """Print :func:`describe` for the active profile: the notebooks call it where they set their targets."""
    print(describe(lab))
