"""Run profiles: one switch for how much work a lab does.

``full`` (the default) is the course as taught: every epoch, the whole data.
``quick`` runs the same notebooks end to end on a small slice of the real data,
for CI and smoke tests. Labs never branch on the name; they ask the profile::

    epochs = labkit.profile().choose(full=12, quick=1)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

PROFILES = ("full", "quick")


@dataclass(frozen=True)
class Profile:
    name: str

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def choose(self, *, full, quick):
        """Return the value meant for this profile."""
        return quick if self.quick else full

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class PerProfile:
    """A value that depends on the run profile: ``full`` for the course, ``quick`` for smoke runs."""

    full: Any
    quick: Any

    def for_profile(self, profile: Profile) -> Any:
        return profile.choose(full=self.full, quick=self.quick)


def resolve(profile: Profile | str | None = None) -> Profile:
    """``profile`` as a :class:`Profile`: a name is checked, ``None`` is the active one."""
    if profile is None:
        return current()
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"{profile!r} is not a profile; use one of {', '.join(PROFILES)}.")
    return Profile(profile)


def current() -> Profile:
    """The profile named by ``LABKIT_PROFILE`` (``full`` when unset)."""
    name = os.environ.get("LABKIT_PROFILE", "").strip().lower() or "full"
    if name not in PROFILES:
        raise ValueError(
            f"LABKIT_PROFILE={name!r} is not a profile; use one of {', '.join(PROFILES)}."
        )
    return Profile(name)
