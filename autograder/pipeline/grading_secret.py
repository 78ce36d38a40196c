"""The secret of one grading run, from which every probe input and perturbation is drawn.

A seed written in the grader's code is public: a student can compute the
probe's inputs, and so its expected answers, ahead of time and hand in a lookup
table. So each grading run draws 32 random bytes in the instructor's process
(:meth:`GradingSecret.fresh`); every random choice the grader makes (a probe's
batch and starting weights, the logs that drive a callback, the shifts and
noise of the perturbed evaluation copy) comes from a generator derived from it
and the purpose's name. The secret itself never enters a sandbox and is never
written to the output folder; what a sandbox sees are the inputs drawn from it,
and only in the run that needs them. Given the same secret, grading is
deterministic: a test or a second machine can pass one in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class GradingSecret:
    """Random bytes known only to the grader's processes; ``repr`` never shows them."""

    key: bytes = field(repr=False)

    @classmethod
    def fresh(cls) -> GradingSecret:
        return cls(secrets.token_bytes(32))

    def seed(self, purpose: str) -> int:
        """A 64-bit seed for ``purpose`` (e.g. ``"lab1/train-step/batch"``), unguessable without the key."""
        digest = hmac.new(self.key, purpose.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "little")

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for ``purpose``: the same for the same key and purpose, unrelated across purposes."""
        return np.random.default_rng(self.seed(purpose))
