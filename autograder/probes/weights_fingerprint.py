"""A model's weights summed up as data the grader can compare: an exact fingerprint and a similarity sketch.

Imported by the model probes (``keras_model.py``, ``torch_model.py``) inside
the sandbox, from the folder they were copied to; it needs numpy only. The
model's tensors come in as arrays, in whatever order and under whatever names
the file gave them; neither order nor names nor anything else of the container
(zip members and comments, metadata, the saving date) reaches either result.

* The **fingerprint** is a sha256 over the floating-point tensors rounded to
  :data:`SIGNIFICANT_BITS` significant bits (about five decimal digits). Each
  tensor is hashed with its shape; the tensor hashes are sorted before they
  are hashed together. Two files get the same fingerprint when they hold the
  same numbers, however saved.
* The **sketch** is a unit vector of :data:`SKETCH_SIZE` numbers: a count
  sketch (feature hashing) of every tensor standardised to mean 0 and
  standard deviation 1. Each value is added, with a sign, to one bucket
  chosen by a hash of its tensor's shape and its position, so tensors of one
  shape land the same way whatever their order. The dot product of two
  sketches estimates the cosine similarity of the two models' standardised
  weights: about 1 for a copy, even a slightly perturbed or retrained one,
  about 0 (give or take ``1/sqrt(SKETCH_SIZE)``) for models trained from
  independent starting weights.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable

import numpy as np

SIGNIFICANT_BITS = 16
SKETCH_SIZE = 256


def floating(tensors: Iterable) -> list[np.ndarray]:
    """The floating-point tensors as float64 arrays: counters and seeds say nothing about what a model computes."""
    arrays = [np.asarray(tensor) for tensor in tensors]
    return [array.astype(np.float64) for array in arrays if array.dtype.kind == "f"]


def rounded(values: np.ndarray, bits: int = SIGNIFICANT_BITS) -> np.ndarray:
    """``values`` rounded to ``bits`` significant bits, -0.0 made 0.0: the last digits are noise."""
    mantissa, exponent = np.frexp(values)
    return np.ldexp(np.round(np.ldexp(mantissa, bits)), exponent - bits) + 0.0


def tensor_digest(values: np.ndarray) -> bytes:
    """The sha256 of one tensor's shape and rounded values."""
    shape = struct.pack(f"<{values.ndim + 1}q", values.ndim, *values.shape)
    return hashlib.sha256(shape + rounded(values).astype("<f8").tobytes()).digest()


def fingerprint(tensors: list[np.ndarray]) -> str:
    """The hex sha256 of the tensors' sorted digests: the same numbers give it, in any order."""
    return hashlib.sha256(b"".join(sorted(tensor_digest(values) for values in tensors))).hexdigest()


def _mixed(keys: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: 64 well-mixed bits for each key, the same on every machine."""
    keys = keys.astype(np.uint64)
    keys = (keys ^ (keys >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    keys = (keys ^ (keys >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return keys ^ (keys >> np.uint64(31))


def _shape_seed(shape: tuple[int, ...]) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha256(repr(tuple(shape)).encode()).digest()[:8], "little"))


def hashed_positions(shape: tuple[int, ...], size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each value of a tensor of ``shape``: its bucket among ``size`` and its sign (+1 or -1).

    They depend on the shape and the position only, so two tensors of one
    shape, in whatever order a file holds them, land the same way.
    """
    bits = _mixed(np.arange(math.prod(shape), dtype=np.uint64) ^ _shape_seed(shape))
    return (bits % np.uint64(size)).astype(np.int64), np.where(bits >> np.uint64(63), 1.0, -1.0)


def standardised(values: np.ndarray) -> np.ndarray | None:
    """The tensor at mean 0 and standard deviation 1, or None when it is constant (it tells models apart by nothing)."""
    values = np.nan_to_num(values.ravel(), nan=0.0, posinf=0.0, neginf=0.0)
    spread = values.std()
    return None if spread == 0 else (values - values.mean()) / spread


def sketch(tensors: list[np.ndarray], size: int = SKETCH_SIZE) -> np.ndarray:
    """The unit-length count sketch of the standardised tensors (all zeros when every tensor is constant)."""
    total = np.zeros(size)
    for values in tensors:
        standard = standardised(values)
        if standard is not None:
            buckets, signs = hashed_positions(values.shape, size)
            total += np.bincount(buckets, weights=signs * standard, minlength=size)
    length = np.linalg.norm(total)
    return total / length if length > 0 else total


def report(tensors: Iterable) -> dict:
    """What a probe writes to ``weights.json``: the fingerprint, the sketch and how many tensors made them."""
    arrays = floating(tensors)
    return {"fingerprint": fingerprint(arrays), "sketch": sketch(arrays).tolist(), "tensors": len(arrays)}
