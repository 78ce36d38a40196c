"""What grading a submission produces: a verdict per graded part, and the submission's total.

Verdicts fail closed: a part earns its points only with the verdict ``pass``,
which only a check that ran to the end and measured enough can give. Anything
else, including a result that never came back, earns nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.scoring import perturbed_copies
from autograder.scoring.model_fingerprints import ModelFingerprint
from labkit._files import replaced_atomically

VERDICTS = ("pass", "fail", "error", "timeout", "out-of-memory", "crashed")
"""pass/fail: the part was judged. The rest: it could not be (the student's code hung,
used too much memory, killed its process, or the check broke), so it earns nothing."""

SANDBOX_VERDICTS = {"timeout": "timeout", "out-of-memory": "out-of-memory", "crashed": "crashed",
                    "output-limit": "error", "error": "error"}
"""A sandbox run's status -> the verdict of a part whose result it was to produce."""


@dataclass(frozen=True)
class PartResult:
    """The verdict on one graded part (one of the notebook's graded cells)."""

    part: str
    verdict: str
    points: float
    max_points: float
    message: str
    value: Any = None
    threshold: Any = None
    measurements: dict[str, list[float]] = field(default_factory=dict)
    """Numbers besides ``value`` that the verdict checked, each ``[measured, threshold]`` by name (lab 3's
    augmented model on transformed copies): kept so that benchmarks calibrate their margins too."""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        if self.verdict != "pass" and self.points:
            raise ValueError(f"{self.part}: only a pass earns points")


def judged(part: str, max_points: float, passed: bool, message: str, value: Any = None,
           threshold: Any = None) -> PartResult:
    """A pass (all the points) or a fail (none)."""
    return PartResult(part, "pass" if passed else "fail", max_points if passed else 0.0, max_points,
                      message, value, threshold)


def not_judged(part: str, max_points: float, verdict: str, message: str) -> PartResult:
    """A part that could not be judged: no points, whatever the reason."""
    if verdict == "pass":
        raise ValueError("a part that was not judged cannot pass")
    return PartResult(part, verdict, 0.0, max_points, message)


def accuracy_part(part: str, points: float, found, evaluation, target: float,
                  what: str) -> PartResult:
    """The accuracy measured from a model's predictions, against the lab's target.

    ``found`` is what running the model gave, whatever its framework
    (:class:`autograder.scoring.keras_models.ModelProbe`, :class:`autograder.scoring.torch_models.Predictions`):
    its ``predictions`` (one row of scores per row of images the sandbox was
    given), or the ``problem`` and ``verdict`` of a run that gave none.
    ``evaluation`` holds each row's ``label``, a ``description`` of the images
    for the message and, when perturbed copies were sent among them, which rows
    are ``copied`` (:mod:`autograder.scoring.perturbed_copies`): the accuracy is the
    originals', and counts only if the copies are classified nearly as well.
    """
    if found.predictions is None:
        reason = found.problem or "The model gave no predictions."
        if found.verdict == "fail":
            return judged(part, points, False, reason, threshold=target)
        return not_judged(part, points, found.verdict, reason)
    correct = found.predictions.argmax(axis=1) == evaluation.labels
    scored = perturbed_copies.scores(correct, evaluation.copied)
    reached = scored.accuracy >= target
    message = (f"{what} reaches {scored.accuracy:.2%} on {evaluation.description}, "
               f"{'at or above' if reached else 'below'} the target of {target:.1%}.")
    if not scored.generalises:
        message += (f" On copies of {scored.copies:,} of those images, each shifted by a pixel "
                    f"and lightly noised, it reaches only {scored.on_copies:.2%}, more than "
                    f"{perturbed_copies.MARGIN * 100:.0f} points less: the model does not generalise to slightly "
                    "shifted copies of the test images, a sign of memorised test images rather than learnt "
                    "classes, so its accuracy does not count.")
    return judged(part, points, reached and scored.generalises, message, value=round(scored.accuracy, 6),
                  threshold=target)


def gated(accuracy: PartResult, architecture: PartResult, file: str) -> PartResult:
    """``accuracy``, counted only when ``architecture`` (the same file's check) passed.

    Both come from one sandboxed run of one file, so the points for an accuracy
    go only to the very model, same file and same weights, whose architecture
    is the lab's: a table of the test images' answers, or any other network
    that happens to be accurate, earns nothing. A part that could not be judged
    keeps its verdict; one with nothing measured already says why.
    """
    if architecture.verdict == "pass" or accuracy.verdict not in ("pass", "fail") or accuracy.value is None:
        return accuracy
    return judged(accuracy.part, accuracy.max_points, False,
                  f"Scored only for a model that passes its architecture check: fix {architecture.part} first "
                  f"({file}: {headline(architecture.message)}). {accuracy.message}",
                  value=accuracy.value, threshold=accuracy.threshold)


def headline(message: str) -> str:
    """A part's message in one line: its first, without the mark and the full stop (the rest is its own part's)."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first.removeprefix("✗").strip().rstrip(".")


@dataclass(frozen=True)
class NotebookTest:
    """An in-notebook test cell as it ran in the student's kernel: feedback only, never points."""

    grade_id: str
    passed: bool
    output: str


@dataclass(frozen=True)
class Graded:
    """What a lab's grader found in one submission, before the batch adds who and when."""

    parts: tuple[PartResult, ...]
    notebook_tests: tuple[NotebookTest, ...]
    notes: tuple[str, ...]
    fingerprints: dict[str, ModelFingerprint]  # by model name, to find copies
    runs: dict[str, dict]


@dataclass(frozen=True)
class SubmissionResult:
    """Everything the grader found about one submission; the unit written to disk and resumed from."""

    student_id: str
    lab: str
    content_hash: str
    parts: tuple[PartResult, ...]
    notebook_tests: tuple[NotebookTest, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    fingerprints: dict[str, ModelFingerprint] = field(default_factory=dict)
    """Each handed-in model's weights, summed up (see :mod:`autograder.scoring.model_fingerprints`)."""
    profile: str = "full"
    grader_error: str | None = None
    runs: dict[str, dict] = field(default_factory=dict)
    """Each sandbox run: its status, seconds and peak memory (for limits and benchmarks)."""
    comet_runs: tuple[dict, ...] = ()
    """The submission's Comet offline runs as logged (see :mod:`autograder.comet.review`)."""

    @property
    def score(self) -> float:
        return float(sum(part.points for part in self.parts))

    @property
    def max_score(self) -> float:
        return float(sum(part.max_points for part in self.parts))

    @property
    def status(self) -> str:
        """``graded`` (every part judged), ``incomplete`` (some part was not) or ``error`` (the grader broke)."""
        if self.grader_error is not None:
            return "error"
        return "graded" if all(part.verdict in ("pass", "fail") for part in self.parts) else "incomplete"

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(score=self.score, max_score=self.max_score, status=self.status)
        return data

    @classmethod
    def from_json(cls, data: dict) -> SubmissionResult:
        fields = {key: data[key] for key in ("student_id", "lab", "content_hash", "seconds", "profile",
                                             "grader_error")}
        fields["fingerprints"] = {model: ModelFingerprint.from_json(value)
                                  for model, value in data["fingerprints"].items()}
        fields["runs"] = data.get("runs", {})
        fields["comet_runs"] = tuple(data.get("comet_runs", ()))
        return cls(parts=tuple(PartResult(**part) for part in data["parts"]),
                   notebook_tests=tuple(NotebookTest(**test) for test in data["notebook_tests"]),
                   notes=tuple(data["notes"]), **fields)


def write_result(result: SubmissionResult, path: Path) -> None:
    """Write the result as JSON, complete or not at all (a crash leaves the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", encoding="utf-8") as handle:
        json.dump(result.to_json(), handle, indent=1, default=str)


def read_result(path: Path) -> SubmissionResult | None:
    """The result stored at ``path``, or None when there is none or it cannot be read."""
    try:
        return SubmissionResult.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
