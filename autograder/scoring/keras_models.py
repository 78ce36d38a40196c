"""Judging a student's saved Keras model: its architecture and its test accuracy.

The model file is loaded only inside the sandbox, by the probe
``probes/keras_model.py``, in a run that sees nothing but the submission's model
files and the evaluation images: one run for all of a submission's files, so that
TensorFlow starts once (:func:`probe_files`). What comes back is data (a JSON
summary of the layers, an array of predictions, the weights' fingerprint),
validated here before anything is computed from it; the labels stay here, so the
accuracy is the grader's own measurement.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from autograder import probes, sandbox
from autograder.pipeline import source
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import SANDBOX_VERDICTS, PartResult, accuracy_part, gated, judged, not_judged
from autograder.sandbox import output as sandbox_output
from autograder.scoring import evaluation_sets, perturbed_copies
from autograder.scoring.model_fingerprints import ModelFingerprint
from autograder.scoring.model_fingerprints import read as read_fingerprint
from labkit.handin import MAX_MODEL_BYTES  # noqa: F401 - one home, read by the student's check too

MAX_SUMMARY_BYTES = 2**20


def prepare(images: np.ndarray) -> np.ndarray:
    """As every Keras lab's ``prepare``: uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype="float32") / 255.0)[..., np.newaxis]


@dataclass(frozen=True)
class EvaluationSet:
    """Evaluation images written once for the sandbox (``inputs.npy``) and their labels, kept here.

    The rows of ``inputs.npy`` are the evaluation images and, shuffled in among
    them, perturbed copies of a sample (:mod:`autograder.scoring.perturbed_copies`):
    ``labels`` and ``copied`` say, for each row, its label and whether it is a copy.
    """

    folder: Path
    labels: np.ndarray
    classes: int
    description: str  # completes "... reaches 98.1% on <description>"
    copied: np.ndarray | None = None  # None: the images alone, no copies

    @property
    def inputs(self) -> Path:
        return self.folder / "inputs.npy"


def write_evaluation_set(folder: Path, images: evaluation_sets.Images, classes: int,
                         copies_from: np.random.Generator | None = None) -> EvaluationSet:
    """Put the prepared images and the probe script in ``folder`` (mounted read-only into each probe run).

    ``copies_from``, a generator from the grading run's secret, draws the perturbed copies sent with the
    images (:func:`autograder.scoring.perturbed_copies.with_copies`); None sends the images alone.
    """
    rows = perturbed_copies.with_copies(images.images, images.labels, copies_from)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "inputs.npy", prepare(rows.images), allow_pickle=False)
    for script in (probes.KERAS_MODEL, probes.WEIGHTS_FINGERPRINT):
        shutil.copyfile(script, folder / script.name)
    return EvaluationSet(folder, rows.labels, classes, images.description, rows.copied)


@dataclass(frozen=True)
class ModelProbe:
    """What the sandboxed probe found out about one model file.

    ``problem`` (with ``verdict``) says why there is no summary or no
    predictions; the sandbox's status decides the verdict when it ended the run.
    """

    summary: Any = None  # labkit.check.spec.ModelSummary
    summary_problem: str | None = None
    predictions: np.ndarray | None = None
    problem: str | None = None
    verdict: str = "fail"
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    fingerprint: ModelFingerprint | None = None  # of the weights, to find copies
    run_files: tuple[str, ...] = ()  # the names of the files the sandbox run probed: this one, or several


def probe(model_file: Path, evaluation: EvaluationSet, input_shape: Sequence[int],
          limits: sandbox.Limits) -> ModelProbe:
    """Load ``model_file`` in a sandbox, describe it, run it on the evaluation images, fingerprint its weights."""
    return probe_files([model_file], evaluation, input_shape, limits)[0]


def probe_files(model_files: Sequence[Path], evaluation: EvaluationSet, input_shape: Sequence[int],
                limits: sandbox.Limits) -> list[ModelProbe]:
    """:func:`probe` for each of one submission's ``model_files``, all in one sandbox run: TensorFlow starts once.

    The files are all one student's, so sharing a run shows none of them anything of another student's.
    A file whose probing that run did not finish (a file before it could not be loaded, or a limit
    stopped the run) is probed again in a run of its own: each file's verdict is the one a run of its
    own gives.
    """
    found: list[ModelProbe | None] = [_refused(model_file) for model_file in model_files]
    loadable = [index for index, refused in enumerate(found) if refused is None]
    together = _probe_in_one_run([model_files[index] for index in loadable], evaluation, input_shape, limits)
    for index, (probed, finished) in zip(loadable, together):
        if not finished and len(loadable) > 1:
            probed, _ = _probe_in_one_run([model_files[index]], evaluation, input_shape, limits)[0]
        found[index] = probed
    return found


def _refused(model_file: Path) -> ModelProbe | None:
    """Why ``model_file`` is not even loaded (missing, too large, not a zip archive), or None."""
    if not model_file.is_file():
        return ModelProbe(problem=f"{model_file.parent.name}/{model_file.name} is missing: run the save "
                                  "cell at the end of the notebook and hand in the artifacts/ folder.")
    size = model_file.stat().st_size
    if size > MAX_MODEL_BYTES:
        return ModelProbe(problem=f"{model_file.name} is {size:,} bytes, more than the {MAX_MODEL_BYTES:,} "
                                  "a model of this lab can need; it was not loaded.")
    if not zipfile.is_zipfile(model_file):
        return ModelProbe(problem=f"{model_file.name} is not a Keras model file (a .keras file is a zip "
                                  "archive); save the model with model.save(...) as the save cell does.")
    return None


def _probe_in_one_run(model_files: Sequence[Path], evaluation: EvaluationSet, input_shape: Sequence[int],
                      limits: sandbox.Limits) -> list[tuple[ModelProbe, bool]]:
    """Each file's findings from one sandbox run of the probe, and whether its probing went to its end."""
    if not model_files:
        return []
    with tempfile.TemporaryDirectory(prefix="labkit-probe-") as scratch:
        workdir = Path(scratch)
        arguments = []
        for index, model_file in enumerate(model_files):
            shutil.copyfile(model_file, workdir / f"model-{index}.keras")
            (workdir / f"out-{index}").mkdir()
            arguments += [str(workdir / f"model-{index}.keras"), str(workdir / f"out-{index}")]
        script = evaluation.folder / probes.KERAS_MODEL.name
        run = sandbox.run(
            [*sandbox.python_argv(), str(script), str(evaluation.inputs), json.dumps(list(input_shape)), *arguments],
            workdir=workdir, readonly=[evaluation.folder], limits=limits,
            env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
        )
        probed, found = tuple(model_file.name for model_file in model_files), []
        for index in range(len(model_files)):
            out = sandbox_output.OutputFolder(workdir, f"out-{index}")
            finished = _finished(out)
            found.append((replace(_findings(out, evaluation, run, finished), run_files=probed), finished))
    return found


PROBE_DONE = "done"
"""The file ``probes/keras_model.py`` writes last in a model's folder: that file's probing went to its end."""


def _finished(out: sandbox_output.OutputFolder) -> bool:
    return sandbox_output.read_or_none(out.read_bytes, PROBE_DONE, 16) == PROBE_DONE.encode()


def _findings(out: sandbox_output.OutputFolder, evaluation: EvaluationSet, run, finished: bool) -> ModelProbe:
    """What the probe wrote into ``out``, checked; the run's status decides the verdict when it stopped this file.

    A file whose probing finished was judged as in a run of its own that ended well, whatever a file
    probed after it did to the run.
    """
    summary, summary_problem = _read_summary(out)
    predictions, problem = _read_predictions(out, len(evaluation.labels), evaluation.classes)
    fingerprint = read_fingerprint(out, "weights.json")
    verdict = "fail"
    if predictions is None and not finished and run.status != "ok":
        # A file the probe cannot load (status "error") is the submission's failure; a run the
        # sandbox had to stop could not be judged.
        verdict = "fail" if run.status == "error" else SANDBOX_VERDICTS.get(run.status, "error")
        reason = _sandbox_reason(run)
        problem = f"{reason} {problem or ''}".strip() if run.status != "error" else reason
        if summary is None and summary_problem is None:
            summary_problem = problem
    return ModelProbe(summary, summary_problem, predictions, problem, verdict, run.seconds,
                      run.peak_memory_bytes, fingerprint)


def _sandbox_reason(run) -> str:
    if run.status == "timeout":
        return f"Loading and running the model took longer than {run.seconds:.0f} s, the limit."
    if run.status == "out-of-memory":
        return "Loading and running the model used more memory than the limit allows."
    if run.status == "crashed":
        return "The process loading the model crashed."
    if run.status == "output-limit":
        return "Loading the model printed more than the output limit allows."
    last = [line for line in (run.stderr or "").strip().splitlines() if line.strip()][-1:]
    detail = last[0][:500] if last else f"exit status {run.returncode}"
    return f"The model file could not be loaded in Keras' safe mode: {detail}"


def _read_summary(out: sandbox_output.OutputFolder):
    """A ModelSummary rebuilt from the probe's JSON, or why it cannot be."""
    from labkit.check.spec import Layer, ModelSummary

    if not out.exists("summary.json"):
        return None, None
    try:
        data = out.read_json("summary.json", MAX_SUMMARY_BYTES)
        if "summary_error" in data:
            return None, f"The model could not run on one image: {str(data['summary_error'])[:1000]}"
        raw = data["summary"]
        layers = [Layer(_string(layer["kind"]), _attributes(layer["attributes"]),
                        None if layer.get("source") is None else _string(layer["source"]))
                  for layer in raw["layers"]]
        summary = ModelSummary(layers, _shape(raw["input_shape"]), _shape(raw["output_shape"]),
                               _integer(raw["params"]))
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        return None, f"The probe's description of the model is not valid ({error})."
    return summary, None


def _string(value) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise ValueError("a name is not a short string")
    return value


def _integer(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("a count is not a whole number")
    return value


def _shape(value) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > 8:
        raise ValueError("a shape is not a list")
    return tuple(_integer(v) for v in value)


def _attributes(value) -> dict:
    if not isinstance(value, dict) or len(value) > 20:
        raise ValueError("a layer's settings are not a mapping")
    return {_string(key): _attribute(v) for key, v in value.items()}


def _attribute(value):
    if isinstance(value, list):
        return tuple(_attribute(v) for v in value[:8])
    if value is None or isinstance(value, bool | int | float):
        return value
    return _string(value)


def _read_predictions(out: sandbox_output.OutputFolder, count: int, classes: int):
    """The predictions array, checked to be (count, classes) finite floats; or why it is unusable."""
    try:
        predictions = out.read_array("predictions.npy", count * classes * 8 + 4096)
    except FileNotFoundError:
        return None, "The model gave no predictions."
    except sandbox_output.OutputRefused as error:
        return None, f"The predictions were not usable: {error}"
    if predictions.shape != (count, classes):
        return None, (f"The model gives outputs of shape {predictions.shape[1:]} per batch of {count} "
                      f"images instead of ({count}, {classes}): it must output one score per class.")
    if predictions.dtype.kind != "f":
        return None, f"The model's outputs are {predictions.dtype}, not floating-point numbers."
    if not np.all(np.isfinite(predictions)):
        return None, "The model's outputs contain NaN or infinite values."
    return predictions, None


def architecture_part(part: str, points: float, found: ModelProbe, spec: Sequence[Mapping | str],
                      check: Mapping[str, Any]) -> PartResult:
    """Compare the measured architecture with the reference spec; every difference in the message."""
    from labkit.check.structure import compare_summary

    if found.summary is None:
        reason = found.summary_problem or found.problem or "The model could not be described."
        if found.verdict in ("pass", "fail"):
            return judged(part, points, False, reason)
        return not_judged(part, points, found.verdict, reason)
    report = compare_summary(found.summary, spec, **check)
    return judged(part, points, report.passed, str(report),
                  value=f"{found.summary.params:,} parameters", threshold=check.get("params"))


@dataclass(frozen=True)
class SavedModel:
    """One model a lab grades: its file name in ``artifacts/``, its two graded parts, what it is called."""

    name: str
    model_part: str
    accuracy_part: str
    what: str

    @property
    def parts(self) -> tuple[str, str]:
        """Its two graded parts: the architecture's, then the accuracy's."""
        return self.model_part, self.accuracy_part


def graded_parts(models: Sequence[SavedModel]) -> set[str]:
    """Every part that ``models`` are graded in."""
    return {part for model in models for part in model.parts}


def model_targets(lab: str, models: Sequence[SavedModel], profile) -> dict[str, float]:
    """Each model's target accuracy in ``profile``, by name (from :mod:`labkit.targets`)."""
    import labkit.targets

    return {model.name: labkit.targets.target(lab, model.name, profile) for model in models}


@dataclass(frozen=True)
class GradedModel:
    """One saved model judged: the probe's findings, its two parts, its weights' fingerprint (None: none read)."""

    found: ModelProbe
    model_part: PartResult
    accuracy_part: PartResult
    fingerprint: ModelFingerprint | None
    run: dict  # the sandbox run's seconds and peak memory


@dataclass(frozen=True)
class GradedModels:
    """Each of a lab's saved models judged, by name, in the lab's order."""

    by_name: dict[str, GradedModel]

    def parts(self) -> dict[str, PartResult]:
        """Every model's architecture and accuracy part, by part name."""
        return {part.part: part for graded in self.by_name.values()
                for part in (graded.model_part, graded.accuracy_part)}

    @property
    def fingerprints(self) -> dict[str, ModelFingerprint]:
        return {name: graded.fingerprint for name, graded in self.by_name.items() if graded.fingerprint is not None}

    @property
    def runs(self) -> dict[str, dict]:
        """Each sandbox run that probed the models, once: "fc model" for one file, "fc and cnn models" for two."""
        runs = {}
        for name, graded in self.by_name.items():
            together = [Path(file).stem for file in graded.found.run_files] or [name]
            runs[f"{' and '.join(together)} model{'s' * (len(together) > 1)}"] = graded.run
        return runs


def grade_models(folder: Path, models: Sequence[SavedModel], points: Mapping[str, float],
                 checks: Mapping[str, Any], targets: Mapping[str, float], evaluation: EvaluationSet,
                 input_shape: Sequence[int], limits: sandbox.Limits) -> GradedModels:
    """Probe ``folder/artifacts/<name>.keras`` of every one of ``models`` (together: :func:`probe_files`) and
    judge each (:func:`judge_model`): ``checks`` by model part, ``targets`` by model name."""
    files = [folder / "artifacts" / f"{model.name}.keras" for model in models]
    found = probe_files(files, evaluation, input_shape, limits)
    return GradedModels({model.name: judge_model(model, probed, points, checks[model.model_part], targets[model.name],
                                                 evaluation, model_file.name)
                         for model, probed, model_file in zip(models, found, files)})


def grade_model(folder: Path, model: SavedModel, points: Mapping[str, float], check, target: float,
                evaluation: EvaluationSet, input_shape: Sequence[int], limits: sandbox.Limits) -> GradedModel:
    """Probe ``folder/artifacts/<name>.keras`` once and judge its architecture and accuracy.

    ``check`` is the hidden test's :class:`autograder.pipeline.source.ArchitectureCheck`.
    """
    graded = grade_models(folder, [model], points, {model.model_part: check}, {model.name: target}, evaluation,
                          input_shape, limits)
    return graded.by_name[model.name]


def judge_model(model: SavedModel, found: ModelProbe, points: Mapping[str, float], check, target: float,
                evaluation: EvaluationSet, file_name: str) -> GradedModel:
    """The architecture and accuracy parts of what the probe ``found`` in the file ``file_name``."""
    # One sandboxed probing of one file measured both: the accuracy counts only for the architecture that passed.
    architecture = architecture_part(model.model_part, points[model.model_part], found, check.spec, check.check)
    accuracy = accuracy_part(model.accuracy_part, points[model.accuracy_part], found, evaluation, target,
                             model.what)
    return GradedModel(
        found,
        architecture,
        gated(accuracy, architecture, file_name),
        found.fingerprint,
        {"seconds": round(found.seconds, 2), "peak_memory_bytes": found.peak_memory_bytes})


@dataclass(frozen=True)
class ModelsGrading:
    """A lab's saved models with what each is judged against, set up once per batch (:func:`models_grading`)."""

    models: tuple[SavedModel, ...]
    checks: dict[str, source.ArchitectureCheck]  # the hidden test's, by model part
    targets: dict[str, float]  # by model name
    evaluation: EvaluationSet
    input_shape: tuple[int, ...]

    def grade(self, folder: Path, points: Mapping[str, float], limits: sandbox.Limits) -> GradedModels:
        """Every model saved in ``folder/artifacts`` judged: its architecture, then its accuracy."""
        return grade_models(folder, self.models, points, self.checks, self.targets, self.evaluation,
                            self.input_shape, limits)


def models_grading(lab: str, models: Sequence[SavedModel], solution, scratch: Path, options: GradingOptions,
                   classes: int, input_shape: Sequence[int],
                   default_images: Callable[[], evaluation_sets.Images]) -> ModelsGrading:
    """Each model's architecture check (from the source notebook ``solution``) and target, and the evaluation set.

    The evaluation images are the private set's when ``options.evaluation_dir`` has one, else
    ``default_images()``, written under ``scratch/evaluation`` with perturbed copies drawn from the run's secret.
    """
    checks = {model.model_part: source.architecture_check(solution, model.model_part) for model in models}
    evaluation = write_evaluation_set(
        scratch / "evaluation", evaluation_sets.images_for(options.evaluation_dir, lab, classes, default_images),
        classes, options.secret.rng(f"{lab}/perturbed-copies"))
    return ModelsGrading(tuple(models), checks, model_targets(lab, models, options.profile), evaluation,
                         tuple(input_shape))
