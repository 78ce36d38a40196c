"""A student's PyTorch code judged by what it computes on the grader's inputs, never by how it reads.

Lab 5's notebook writes pieces of PyTorch a saved file cannot show: the ``LeNet``
class and the ``SpinalHead`` module here, the random search in
:mod:`autograder.scoring.random_search`. A probe cell calls each in the sandboxed
notebook (``probes/lab5_*.py``) on inputs drawn from the grading run's secret and
written here (``write_*``). What comes back is data: a state dict and the outputs
it gave. The grader judges it against ``labkit.models``' class with the same
weights, computed in its own process.
Everything is read back only through an :class:`~autograder.sandbox.output.OutputFolder`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from autograder.pipeline.results import PartResult, judged
from autograder.sandbox.output import OutputFolder, read_or_none

LENET_IMAGES = 16
"""Held-out images the notebook's LeNet class runs on, to compare its forward pass with the reference's."""
LENET_CLASSES = 62
"""The classes of the LeNet the probe builds (``LeNet(num_classes=62)``): EMNIST ByClass's."""
HEADS = ((3136, 50, 62, 4), (10, 3, 4, 5))
"""The SpinalHead shapes the probe builds (in_features, units, num_classes, layers): the lab's, and an odd one."""
HEAD_ROWS = 7


# --- the LeNet class -------------------------------------------------------------------------------------


def write_lenet_inputs(folder: Path, evaluation_images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:data:`LENET_IMAGES` of the (normalised) evaluation images, chosen with ``rng``, for the probe."""
    chosen = rng.choice(len(evaluation_images), LENET_IMAGES, replace=False)
    images = evaluation_images[np.sort(chosen)]
    np.save(folder / "lenet-inputs.npy", images, allow_pickle=False)
    return images


def lenet_class_part(file_part: PartResult, images: np.ndarray, out: OutputFolder) -> tuple[PartResult, bool]:
    """The file's verdict, unless the notebook's LeNet computes another function than models.LeNet.

    The probe returns a new ``LeNet(num_classes=62)``'s state dict and its outputs
    in evaluation mode; loaded into the reference, the same weights must give the
    same outputs. A file can fit the reference while the class differs (an
    activation or the order of layers without weights), which this catches.
    """
    import torch
    from safetensors.torch import load

    from labkit import models

    raw = read_or_none(out.read_bytes, "lenet.safetensors", 8 * 2**20)
    if raw is None:
        return judged(file_part.part, file_part.max_points, False, "LeNet gave nothing back."), False
    problem = None
    try:
        reference = models.LeNet(num_classes=LENET_CLASSES).eval()
        reference.load_state_dict(load(raw), strict=True)
    except Exception as error:  # safetensors' refusal, or tensors that do not fit
        problem = (f"Your LeNet class's layers are not the table's: its state dict does not fit "
                   f"models.LeNet(num_classes={LENET_CLASSES}) ({str(error)[:300]}).")
    outputs = read_or_none(out.read_array, "outputs.npy", 2**20)
    if problem is None and (outputs is None or outputs.shape != (len(images), LENET_CLASSES)
                            or outputs.dtype.kind != "f"):
        problem = f"Your LeNet did not give {LENET_CLASSES} scores for each of {len(images)} images."
    if problem is None:
        with torch.no_grad():
            wanted = reference(torch.from_numpy(images)).numpy()
        if not np.allclose(outputs, wanted, rtol=1e-4, atol=1e-5):
            problem = (f"Your LeNet class computes another function than the table's network with the same weights "
                       f"(outputs differ by up to {float(np.max(np.abs(outputs - wanted))):.3g} on {len(images)} "
                       "images): check the activations and the order of the layers in __init__ and forward.")
    if problem is None:
        return file_part, True
    return judged(file_part.part, file_part.max_points, False, f"{problem} {file_part.message}".strip()
                  if file_part.verdict != "pass" else problem, value=file_part.value,
                  threshold=file_part.threshold), True


def with_file_message(part: PartResult, file_part: PartResult) -> PartResult:
    """The class's part failed on the notebook's side (no probe result): say what the file check found too."""
    if part.verdict == "pass" or file_part.verdict == "pass" or file_part.message in part.message:
        return part
    return dataclasses.replace(part, message=f"{part.message} {file_part.message}")


# --- the SpinalHead module ----------------------------------------------------------------------------------


def head_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    """:data:`HEAD_ROWS` rows of random features for each of :data:`HEADS`."""
    return [rng.normal(size=(HEAD_ROWS, in_features)).astype(np.float32) for in_features, *_ in HEADS]


def write_head_inputs(folder: Path, rng: np.random.Generator) -> list[np.ndarray]:
    """Draw :func:`head_inputs` and write them, with :data:`HEADS`, for the probe."""
    inputs = head_inputs(rng)
    (folder / "heads.json").write_text(json.dumps(HEADS))
    for k, array in enumerate(inputs):
        np.save(folder / f"inputs-{k}.npy", array, allow_pickle=False)
    return inputs


def spinal_head_part(part: str, points: float, inputs: list[np.ndarray], out: OutputFolder) -> tuple[PartResult, bool]:
    """The student's heads against models.SpinalHead with the same weights, on the same inputs."""
    import torch
    from safetensors.torch import load

    from labkit import models

    if read_or_none(out.read_bytes, "head-0.safetensors", 64 * 2**20) is None:
        return judged(part, points, False, "SpinalHead gave nothing back."), False
    dropout_seen = False
    for k, (in_features, units, num_classes, layers) in enumerate(HEADS):
        shape = f"SpinalHead({in_features}, {units}, {num_classes}, layers={layers})"
        try:
            state = load(read_or_none(out.read_bytes, f"head-{k}.safetensors", 64 * 2**20))
        except Exception as error:  # no file, or safetensors' own refusal of what is there
            return judged(part, points, False, f"{shape}'s weights could not be read: {str(error)[:300]}"), True
        outputs = read_or_none(out.read_arrays, f"outputs-{k}.npz", 2**20)
        rows = (len(inputs[k]), num_classes)
        if not isinstance(outputs, dict) or any(
                np.shape(outputs.get(key)) != rows or np.asarray(outputs.get(key)).dtype.kind != "f"
                for key in ("eval_first", "eval_second", "train")):
            return judged(part, points, False, f"{shape} did not give {rows[1]} scores for each of {rows[0]} "
                          "rows of features: forward must return the classifier's output."), True
        reference = models.SpinalHead(in_features, units, num_classes, layers=layers).eval()
        try:
            reference.load_state_dict(state, strict=True)
        except RuntimeError as error:
            return judged(part, points, False, f"{shape}'s layers are not the given ones (keep __init__ as it "
                          f"is): {str(error)[:300]}"), True
        with torch.no_grad():
            wanted = reference(torch.from_numpy(inputs[k])).numpy()
        if not np.array_equal(outputs["eval_first"], outputs["eval_second"]):
            return judged(part, points, False, f"{shape} gave two different outputs for the same features in "
                          "evaluation mode: pass training=self.training to F.dropout."), True
        if not np.allclose(outputs["eval_first"], wanted, rtol=1e-4, atol=1e-5):
            gap = float(np.max(np.abs(outputs["eval_first"] - wanted)))
            return judged(part, points, False, f"{shape}'s outputs differ from the reference's with the same "
                          f"weights by up to {gap:.3g}: the layers read the wrong inputs. Layer 1 reads the first "
                          "half of the features; each next layer reads the other half than the layer before, "
                          "together with that layer's output; the classifier reads all the layers' outputs."), True
        dropout_seen |= not np.array_equal(outputs["train"], outputs["eval_first"])
    if not dropout_seen:
        return judged(part, points, False, "In training mode SpinalHead gave the same outputs as in evaluation "
                      "mode: dropout must be active while training (F.dropout(..., training=self.training))."), True
    return judged(part, points, True, f"For {len(HEADS)} head shapes, SpinalHead gives the outputs of the reference "
                  "head with the same weights, deterministically in evaluation mode, with dropout in training mode.",
                  value=f"{len(HEADS)} of {len(HEADS)} heads", threshold=f"{len(HEADS)} of {len(HEADS)} heads"), True
