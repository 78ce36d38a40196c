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
from dataclasses import dataclass
from typing import Any

from labkit.profiles import Profile, resolve


@dataclass(frozen=True)
class PerProfile:
    """A constant whose value depends on the run profile."""

    full: Any
    quick: Any

    def for_profile(self, profile: Profile) -> Any:
        return profile.choose(full=self.full, quick=self.quick)


SETTINGS: Mapping[str, Mapping[str, Any]] = {
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
