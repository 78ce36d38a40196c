"""Judging a student's saved PyTorch networks: safetensors state dicts, run by the grader's own classes.

A PyTorch lab saves each trained network as a safetensors state dict (named
tensors, no code; :func:`labkit.models.save_state`). The grader never uses the
student's class to rebuild it: the network is the instructor's reference,
``labkit.models.build(architecture, num_classes=..., width=..., **options)``,
and the file must fit it exactly. Three layers of checks, from cheap to costly:

1. :func:`read_header` has safetensors read and validate the file's header
   (no tensor is loaded): a link, an oversized file, a pickle (``torch.save``)
   or anything else that is not safetensors is refused with a message saying
   what to do.
2. :func:`differences` compares the header's names, shapes and dtypes with the
   reference network's state dict: every missing, unexpected or misshapen
   tensor is named.
3. :func:`run_models` loads the files, strictly, into the reference networks
   inside the sandbox (``probes/torch_model.py``) and runs them on the
   grader's evaluation images; only the predictions come back, validated
   here, and the labels never leave this process.

A network is rebuilt at the width the student's record states (``metrics.json``,
a row of a comparison table); a file that fits another of the notebook's widths
is named as such (:func:`width_mismatch`), since the fix is to keep the record
and the file from the same run. Two verdicts come straight from these checks: a
file that fits and ran (:func:`fitted_part`), and a transferred network whose
feature extractor is still its source's, value for value (:func:`with_frozen_features`).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from autograder import probes, sandbox
from autograder.pipeline.results import SANDBOX_VERDICTS, PartResult, judged, not_judged
from autograder.sandbox import output as sandbox_output
from autograder.scoring import evaluation_sets, perturbed_copies
from autograder.scoring.model_fingerprints import ModelFingerprint
from autograder.scoring.model_fingerprints import read as read_fingerprint
from labkit.handin import MAX_MODEL_BYTES

MAX_STATE_BYTES = MAX_MODEL_BYTES
"""Larger than any network of the course at width 1.0 (VGG with batch norm: about 6 MB); the student's check
(``labkit check-submission``) applies the same :data:`labkit.handin.MAX_MODEL_BYTES`."""
MAX_PROBLEM_BYTES = 2**16


class StateFileError(ValueError):
    """A model file that is not a safetensors state dict the grader can read; the message says what to do."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as a safetensors header describes it."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Reference:
    """The instructor's network a file must fit: how to build it and its state dict's tensors."""

    architecture: str
    num_classes: int
    width: float
    options: Mapping[str, object]
    tensors: Mapping[str, TensorEntry]  # state-dict name -> dtype and shape
    parameters: frozenset[str]  # the names that are trainable parameters (the rest are buffers)

    @property
    def parameter_count(self) -> int:
        return sum(math.prod(self.tensors[name].shape) for name in self.parameters)

    def describe(self) -> str:
        options = "".join(f", {key}={value!r}" for key, value in self.options.items())
        return f"models.build({self.architecture!r}, num_classes={self.num_classes}, width={self.width}{options})"


def reference(architecture: str, num_classes: int, width: float, options: Mapping[str, object]) -> Reference:
    """Build the reference network once (trusted labkit code) and record its state dict's layout."""
    from labkit import models

    network = models.build(architecture, num_classes=num_classes, width=width, **options)
    tensors = {name: TensorEntry(_dtype_name(tensor.dtype), tuple(tensor.shape))
               for name, tensor in network.state_dict().items()}
    return Reference(architecture, num_classes, width, dict(options), tensors,
                     frozenset(name for name, _ in network.named_parameters()))


def _dtype_name(dtype) -> str:
    import torch

    return {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}[dtype]


# --- 1. the file itself --------------------------------------------------------------------------


def read_header(path: Path, max_bytes: int = MAX_STATE_BYTES) -> dict[str, TensorEntry]:
    """The tensors a safetensors file declares, after checking that it is one, of a sane size.

    The size and the first bytes are checked here, so that a pickle is named as
    one; safetensors itself then validates the header (its JSON, and that every
    tensor's bytes lie inside the file and match its dtype and shape) without
    loading a tensor. Raises :class:`StateFileError`.
    """
    from safetensors import SafetensorError, safe_open

    name = path.name
    if path.is_symlink():
        raise StateFileError(f"{name} is a link; hand in the file itself, as the save cell writes it.")
    if not path.is_file():
        raise StateFileError(f"{name} is missing: run the save cell at the end of the notebook and hand in "
                             "the artifacts/ folder.")
    size = path.stat().st_size
    if size > max_bytes:
        raise StateFileError(f"{name} is {size:,} bytes, more than the {max_bytes:,} a network of this lab "
                             "can need; it was not loaded.")
    with open(path, "rb") as handle:
        if handle.read(1) == b"\x80" or zipfile.is_zipfile(handle):  # a legacy pickle, or torch's zip of one
            raise StateFileError(f"{name} is a pickle (what torch.save writes), which can run code when loaded, "
                                 "so it was not loaded. Save the weights with models.save_state(model, path), "
                                 "as the save cell does.")
    try:
        with safe_open(path, framework="numpy") as state:
            return {key: TensorEntry(state.get_slice(key).get_dtype(), tuple(state.get_slice(key).get_shape()))
                    for key in state.keys()}
    except SafetensorError as error:
        reason = str(error).removeprefix("Error while deserializing header: ")[:200]
        raise StateFileError(f"{name} is not a valid safetensors file ({reason}): save the weights with "
                             "models.save_state(model, path), as the save cell does.") from None


# --- 2. against the reference network --------------------------------------------------------------


def differences(found: Mapping[str, TensorEntry], expected: Reference, *, limit: int = 8) -> list[str]:
    """Every way the file's tensors differ from the reference state dict (pure); empty: it fits."""
    missing = [name for name in expected.tensors if name not in found]
    extra = [name for name in found if name not in expected.tensors]
    misshapen = [f"{name} is {found[name].dtype} {list(found[name].shape)}, the network's is "
                 f"{want.dtype} {list(want.shape)}"
                 for name, want in expected.tensors.items() if name in found and found[name] != want]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) the network has are missing: {_names(missing, limit)}.")
    if extra:
        problems.append(f"{len(extra)} tensor(s) are not in the network: {_names(extra, limit)}.")
    if misshapen:
        problems.append(f"{len(misshapen)} tensor(s) have another shape or type: "
                        f"{'; '.join(misshapen[:limit])}{'; ...' if len(misshapen) > limit else ''}.")
    return problems


def _names(names: Sequence[str], limit: int) -> str:
    shown = ", ".join(repr(name[:100]) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def checked_file(path: Path, expected: Reference, what: str) -> str | None:
    """Why ``path`` cannot hold ``expected``'s weights (steps 1 and 2), or None when it can."""
    try:
        found = read_header(path)
    except StateFileError as error:
        return str(error)
    problems = differences(found, expected)
    if problems:
        return (f"{path.name} does not hold the weights of {what}, {expected.describe()}: "
                + " ".join(problems))
    return None


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable safetensors file at all (step 1), or None."""
    try:
        read_header(path)
    except StateFileError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class WidthRecord:
    """Where a network's width is claimed, and what keeps file and claim from one run."""

    where: str  # "artifacts/metrics.json"
    advice: str  # "keep the notebook's VGG_WIDTH and run the save cell again"


def width_mismatch(path: Path, claimed: Reference, by_width: Mapping[float, Reference],
                   record: WidthRecord) -> str | None:
    """When the file fits another of the notebook's widths than the one claimed, that, in one sentence."""
    try:
        header = read_header(path)
    except StateFileError:
        return None
    fits = [width for width, reference in by_width.items() if not differences(header, reference)]
    if not fits:
        return None
    network = models_class_name(claimed.architecture)
    return (f"{path.name} holds {network} weights of width {fits[0]:g}, but {record.where} says width {claimed.width:g}. "
            f"The grader rebuilds the network from that record: {record.advice}, so that both come from the same run.")


def models_class_name(architecture: str) -> str:
    """``"VGG"`` for ``"vgg"``: the class :func:`labkit.models.build` makes, as the feedback names it."""
    from labkit.models import ARCHITECTURES

    return ARCHITECTURES[architecture].split(":")[1]


# --- 3. in the sandbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationSet:
    """Normalised images written once for the sandbox (``<name>.npy``) and their labels, kept here.

    ``labels`` and ``copied`` are per row of ``<name>.npy``: its label, and whether it is one of the
    perturbed copies shuffled in among the evaluation images (:mod:`autograder.scoring.perturbed_copies`).
    """

    folder: Path
    name: str
    labels: np.ndarray
    description: str  # for messages: "a stratified sample of 5,000 held-out EMNIST ByClass images"
    copied: np.ndarray | None = None  # None: the images alone, no copies


def write_evaluation_set(folder: Path, name: str, inputs: np.ndarray, labels: np.ndarray,
                         description: str, copied: np.ndarray | None = None) -> EvaluationSet:
    """Write ``folder/<name>.npy`` (float32, N x 1 x 28 x 28) and the probe script beside it.

    ``labels`` and ``copied`` (None: no copies) describe each row of ``inputs``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{name}.npy", np.ascontiguousarray(inputs, dtype=np.float32), allow_pickle=False)
    for script in (probes.TORCH_MODEL, probes.WEIGHTS_FINGERPRINT):
        shutil.copyfile(script, folder / script.name)
    return EvaluationSet(folder, name, np.asarray(labels), description, copied)


def write_images(folder: Path, name: str, images: evaluation_sets.Images, normalization: str,
                 copies_from: np.random.Generator | None) -> EvaluationSet:
    """``images`` and their perturbed copies (:mod:`autograder.scoring.perturbed_copies`; None: the images
    alone, in order), normalised as the notebook's batches are (``labkit.data.to_torch_tensors``), written
    by :func:`write_evaluation_set`."""
    import labkit

    rows = perturbed_copies.with_copies(images.images, images.labels, copies_from)
    inputs, labels = labkit.data.to_torch_tensors(rows.images, rows.labels, normalize=normalization)
    return write_evaluation_set(folder, name, inputs.numpy(), labels.numpy(), images.description, rows.copied)


@dataclass(frozen=True)
class ModelRun:
    """One network to load and run: the student's file, the network it must fit, the images."""

    name: str  # e.g. "vgg": names the outputs
    file: Path  # already passed checked_file
    expected: Reference
    evaluation: EvaluationSet


@dataclass(frozen=True)
class Predictions:
    """What running one network gave: its outputs, or why there are none.

    ``verdict`` is ``fail`` when the file is the student's problem, otherwise
    the sandbox's verdict (``timeout``, ...) when the run could not finish.
    The attributes are those :func:`autograder.pipeline.results.accuracy_part` reads.
    """

    predictions: np.ndarray | None = None
    problem: str | None = None
    verdict: str = "fail"


def fitted_part(part: str, points: float, found: Predictions, reference: Reference, file: str, what: str,
                images: int) -> PartResult:
    """A pass when ``file`` fits ``reference`` exactly and ran: its outputs came back for ``images`` images."""
    threshold = f"{reference.parameter_count:,} parameters"
    if found.predictions is None:
        if found.verdict == "fail":
            return judged(part, points, False, found.problem or f"{what} gave no outputs.", threshold=threshold)
        return not_judged(part, points, found.verdict, found.problem or f"{what} could not be run.")
    return judged(part, points, True,
                  f"{file} loads strictly into {reference.describe()} (every tensor's name, shape and type: "
                  f"{reference.parameter_count:,} parameters) and gives {reference.num_classes} scores for each of "
                  f"{images:,} images.", value=threshold, threshold=threshold)


@dataclass(frozen=True)
class ModelsRun:
    """Each network's predictions (by :class:`ModelRun` name) from one sandbox run, that run, and the
    weights' fingerprint of each file that ran."""

    found: dict[str, Predictions]
    run: dict = field(default_factory=dict)  # the sandbox run's status, seconds and peak memory
    fingerprints: dict[str, ModelFingerprint] = field(default_factory=dict)


def run_models(runs: Sequence[ModelRun], limits: sandbox.Limits) -> ModelsRun:
    """Load every file strictly into its reference network in one sandbox, and run it on its images."""
    if not runs:
        return ModelsRun({})
    folders = sorted({run.evaluation.folder for run in runs})
    with tempfile.TemporaryDirectory(prefix="labkit-torch-probe-") as scratch:
        workdir = Path(scratch)
        (workdir / "models").mkdir()
        (workdir / "out").mkdir()
        jobs = []
        for run in runs:
            shutil.copyfile(run.file, workdir / "models" / f"{run.name}.safetensors", follow_symlinks=False)
            jobs.append({"name": run.name, "file": str(workdir / "models" / f"{run.name}.safetensors"),
                         "architecture": run.expected.architecture, "num_classes": run.expected.num_classes,
                         "width": run.expected.width, "options": dict(run.expected.options),
                         "inputs": str(run.evaluation.folder / f"{run.evaluation.name}.npy")})
        (workdir / "jobs.json").write_text(json.dumps(jobs))
        script = runs[0].evaluation.folder / probes.TORCH_MODEL.name
        result = sandbox.run([*sandbox.python_argv(), str(script), str(workdir / "jobs.json"), str(workdir / "out")],
                             workdir=workdir, readonly=folders, limits=limits,
                             env={"CUDA_VISIBLE_DEVICES": ""})
        found = {run.name: _read_result(workdir, run, result) for run in runs}
        fingerprints = _read_fingerprints(sandbox_output.OutputFolder(workdir, "out"), runs)
    return ModelsRun(found, {"status": result.status, "seconds": round(result.seconds, 2),
                             "peak_memory_bytes": result.peak_memory_bytes}, fingerprints)


def _read_fingerprints(out: sandbox_output.OutputFolder, runs: Sequence[ModelRun]) -> dict[str, ModelFingerprint]:
    """The weights' fingerprint of each file the probe ran (one that did not run has none)."""
    read = {run.name: read_fingerprint(out, f"{run.name}-weights.json") for run in runs}
    return {name: fingerprint for name, fingerprint in read.items() if fingerprint is not None}


def _read_result(workdir: Path, run: ModelRun, result) -> Predictions:
    validated = _validated(sandbox_output.OutputFolder(workdir, "out"), run)
    if validated is not None and (validated.predictions is not None or result.status in ("ok", "error")):
        return validated
    if result.status not in ("ok", "error"):  # stopped before this network's outputs were complete
        return Predictions(problem=_stopped(result, run.file.name),
                           verdict=SANDBOX_VERDICTS.get(result.status, "error"))
    try:
        problem = sandbox_output.read_json(workdir, f"out/{run.name}.json", MAX_PROBLEM_BYTES)["problem"]
        return Predictions(problem=f"{run.file.name} could not be run as {run.expected.describe()}: "
                                   f"{str(problem)[:1000]}")
    except (FileNotFoundError, sandbox_output.OutputRefused, OSError, ValueError, KeyError, TypeError):
        detail = (result.stderr or "").strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        return Predictions(problem=f"{run.file.name} gave no predictions: {detail[0][:500]}", verdict="error")


def _validated(out: sandbox_output.OutputFolder, run: ModelRun) -> Predictions | None:
    """The predictions, checked to be (count, classes) finite floats; why they are unusable; None: none came."""
    count, classes, name = len(run.evaluation.labels), run.expected.num_classes, run.file.name
    try:
        predictions = out.read_array(f"{run.name}.npy", count * classes * 8 + 4096)
    except FileNotFoundError:
        return None
    except sandbox_output.OutputRefused as error:
        return Predictions(problem=f"{name}'s predictions were refused: {error}")
    if predictions.shape != (count, classes) or predictions.dtype.kind != "f":
        return Predictions(problem=f"{name} gave {predictions.dtype} outputs of shape {predictions.shape}, "
                                   f"not ({count}, {classes}) scores.")
    if not np.all(np.isfinite(predictions)):
        return Predictions(problem=f"{name}'s outputs contain NaN or infinite values: the weights are broken.")
    return Predictions(predictions)


def _stopped(result, name: str) -> str:
    if result.status == "timeout":
        return f"Running {name} took longer than {result.seconds:.0f} s, the limit."
    if result.status == "out-of-memory":
        return f"Running {name} used more memory than the limit allows."
    return f"The process running {name} stopped ({result.status}): {result.detail or 'no detail'}."


# --- comparing two files (trusted: data only) ------------------------------------------------------


def changed_tensors(before: Path, after: Path, names: Sequence[str]) -> list[str]:
    """The ``names`` whose values differ between two checked safetensors files (exact comparison).

    Both files must have passed :func:`checked_file`: ``safetensors.numpy``
    then only reads numbers, never code.
    """
    from safetensors.numpy import load_file

    first, second = load_file(str(before)), load_file(str(after))
    return [name for name in names if not np.array_equal(first[name], second[name])]


def with_frozen_features(result: PartResult, source_file: Path, transferred_file: Path, source: Reference | None,
                         transferred: Reference, source_problem: str | None, variable: str) -> PartResult:
    """``result``, the transferred network's accuracy part, failed unless its feature extractor's parameters
    are exactly those of the network it was transferred from: the features were frozen.

    ``source_problem`` says why ``source_file`` cannot be compared (None: it can); ``variable`` is the
    notebook's name of the transferred network, for the fix.
    """
    network = models_class_name(transferred.architecture)  # "VGG"
    if source_problem is not None:
        problem = f"Whether its features were frozen cannot be checked: {source_problem}"
    elif transferred.width != source.width:
        problem = (f"Its width ({transferred.width:g}) is not your {network}'s ({source.width:g}): transfer a "
                   f"copy of the {network} itself.")
    else:
        names = sorted(name for name in source.parameters if name.startswith("features."))
        changed = changed_tensors(source_file, transferred_file, names)
        if not changed:
            return replace(result, message=f"{result.message} Its {len(names)} feature-extractor parameters are "
                           f"those of {source_file.name}: the features were frozen.")
        problem = (
            f"{len(changed)} of the {len(names)} parameters of its feature extractor differ from {source_file.name}' "
            f"(e.g. {', '.join(changed[:3])}): the features were trained, not frozen. Call "
            f"{variable}.features.requires_grad_(False) before making the optimizer, and give it only the "
            "parameters that still require gradients.")
    return judged(result.part, result.max_points, False, f"{result.message} {problem}", value=result.value,
                  threshold=result.threshold)
