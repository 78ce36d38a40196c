"""Which students handed in the same model, or nearly the same: pairs found from the models' weights.

A model file is loaded only in the sandbox, where a probe sums its weights up
(``probes/weights_fingerprint.py``): an exact fingerprint of the rounded
weights, and a sketch whose dot product with another model's estimates how
alike the two models' weights are. A re-saved copy, or one with a zip
comment, keeps the fingerprint; a copy nudged by noise or by some more
training keeps a sketch close to the original's. :func:`read` takes both back
as untrusted data; :func:`similar_pairs` compares every pair of students, per
model, in the grader's own process, with no model loaded.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from autograder.probes.weights_fingerprint import SKETCH_SIZE
from autograder.sandbox import output as sandbox_output

NEAR_IDENTICAL = 0.5
"""The similarity from which two models that differ are listed as near-identical.

Measured on small Keras CNNs and on PyTorch's LeNet and VGG (width 0.25),
trained on MNIST: pairs trained from independent starting weights gave -0.21
to 0.17. That is the sketch's own noise: between random weights it has a
standard deviation of 0.063 (``1/sqrt(SKETCH_SIZE)``), and the highest of
44,850 pairs (a class of 300) was 0.25. Copies gave 0.99999 with noise of 1e-4
added, 0.9999 and more after one more step at a learning rate of 1e-5, 0.96
to 0.99 after 60 more steps at 1e-3, and 0.87 after some twenty epochs more.
0.5 lies eight standard deviations above 0 and below every copy. (Two models
of one architecture started from the same seed measured 0.95 to 0.997 after 60
to 1,200 steps on batches in different orders: a notebook's fixed seed makes
honest students alike too.) ``tests/test_model_fingerprints.py`` checks both ends.
"""

MAX_WEIGHTS_REPORT_BYTES = 2**16
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ModelFingerprint:
    """One handed-in model's weights, summed up: equal digests mean equal weights; sketches say how alike."""

    digest: str  # sha256 of the rounded weights (in results from before sketches: of the file's bytes)
    sketch: tuple[float, ...] = ()  # SKETCH_SIZE numbers; empty when not measured

    @classmethod
    def from_json(cls, value) -> ModelFingerprint:
        """As stored in a result file: a mapping, or (from older results) the file's sha256 alone."""
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, dict):
            raise TypeError(f"a model's fingerprint is stored as {type(value).__name__}, not a mapping")
        return cls(str(value["digest"]), tuple(float(number) for number in value.get("sketch", ())))


def read(out: sandbox_output.OutputFolder, name: str) -> ModelFingerprint | None:
    """The fingerprint a probe wrote to ``out/name``; None when there is none or it is not valid."""
    data = sandbox_output.read_or_none(out.read_json, name, MAX_WEIGHTS_REPORT_BYTES)
    return None if data is None else validated(data)


def validated(data) -> ModelFingerprint | None:
    """``data`` as a fingerprint when it is one: a sha256 in hex and SKETCH_SIZE finite numbers."""
    if not isinstance(data, dict):
        return None
    digest, sketch = data.get("fingerprint"), data.get("sketch")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        return None
    if not isinstance(sketch, list) or len(sketch) != SKETCH_SIZE:
        return None
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in sketch):
        return None
    return ModelFingerprint(digest, tuple(float(x) for x in sketch))


def similarities(sketches: Sequence[tuple[float, ...]]) -> np.ndarray:
    """Every pair's cosine similarity; NaN in the rows of a sketch that is missing or all zeros."""
    rows = np.array([sketch if len(sketch) == SKETCH_SIZE else [np.nan] * SKETCH_SIZE for sketch in sketches],
                    dtype=float).reshape(len(sketches), SKETCH_SIZE)
    lengths = np.linalg.norm(rows, axis=1)
    unit = rows / np.where(lengths > 0, lengths, np.nan)[:, np.newaxis]
    return unit @ unit.T


@dataclass(frozen=True)
class SimilarPair:
    """Two students whose models of one name are identical, or near-identical, and how alike they are."""

    model: str
    student: str
    other_student: str
    kind: str  # "identical" (equal fingerprints) or "near-identical" (similarity >= the threshold)
    similarity: float | None  # None when one of the two was graded before sketches


def pairs_for_model(model: str, owners: Sequence[tuple[str, ModelFingerprint]],
                    threshold: float = NEAR_IDENTICAL) -> list[SimilarPair]:
    """The identical and near-identical pairs among ``owners`` (student, fingerprint), most alike first."""
    matrix = similarities([fingerprint.sketch for _, fingerprint in owners])
    pairs = []
    for i, j in itertools.combinations(range(len(owners)), 2):
        (student, mine), (other, theirs) = owners[i], owners[j]
        similarity = None if math.isnan(matrix[i, j]) else round(float(matrix[i, j]), 4)
        if mine.digest == theirs.digest:
            pairs.append(SimilarPair(model, student, other, "identical", similarity))
        elif similarity is not None and similarity >= threshold:
            pairs.append(SimilarPair(model, student, other, "near-identical", similarity))
    return sorted(pairs, key=lambda pair: (pair.kind != "identical", -_known(pair.similarity),
                                           pair.student, pair.other_student))


def _known(similarity: float | None) -> float:
    return 1.0 if similarity is None else similarity  # only identical pairs have none


def similar_pairs(by_student: Mapping[str, Mapping[str, ModelFingerprint]],
                  threshold: float = NEAR_IDENTICAL) -> list[SimilarPair]:
    """For each model name, in order, every pair of students who handed in the same model or nearly."""
    pairs = []
    for model in sorted({model for fingerprints in by_student.values() for model in fingerprints}):
        owners = [(student, by_student[student][model]) for student in sorted(by_student)
                  if model in by_student[student]]
        pairs += pairs_for_model(model, owners, threshold)
    return pairs


CSV_HEADER = ["model", "kind", "similarity", "student", "other_student"]


def csv_rows(pairs: Sequence[SimilarPair]) -> list[list[object]]:
    """``identical-models.csv``'s rows, the header first: one row per pair."""
    return [CSV_HEADER, *([pair.model, pair.kind, "" if pair.similarity is None else f"{pair.similarity:.4f}",
                           pair.student, pair.other_student] for pair in pairs)]
