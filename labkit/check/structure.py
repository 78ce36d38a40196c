"""Does a model have the expected architecture? Every difference at once, each explained.

The model is read by a real forward pass of a zero batch (Keras 3 no longer
keeps ``layer.output_shape``), folded into the spec's vocabulary, and aligned
with the spec layer by layer, so that one missing layer is one message, not a
cascade of "layer 3 is wrong, layer 4 is wrong, ...".
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from labkit.check.frameworks import ForwardError, adapter_for
from labkit.check.report import Difference, Report
from labkit.check.spec import (
    MEASURED,
    Layer,
    ModelSummary,
    format_count,
    format_shape,
    merge_activations,
    parse,
    parse_shape,
    render,
    spec_entry,
)

__all__ = ["architecture", "compare_layers", "compare_summary", "spec_of"]

# What to look at when a setting differs; written for both frameworks' vocabularies.
_ADVICE = {
    "units": "check the number of units (Dense(units) in Keras, nn.Linear's out_features in PyTorch)",
    "filters": "check the number of filters (Conv2D(filters) in Keras, nn.Conv2d's out_channels in PyTorch)",
    "kernel_size": "check the kernel size",
    "strides": "check the strides (stride in PyTorch)",
    "padding": "check the padding: 'valid' adds none and shrinks the image, 'same' keeps its size",
    "pool_size": "check the pool size (kernel_size in PyTorch)",
    "activation": ("check the activation (activation='relu' in Keras; an nn.ReLU() or F.relu "
                   "right after the layer in PyTorch)"),
    "rate": "check the dropout rate (p in PyTorch)",
    "output_shape": "check this layer's settings and those of the layers before it",
    "params": "check the size of this layer and of its input",
}


def architecture(
    model: Any,
    layers: Sequence[Mapping[str, Any] | str],
    *,
    input_shape: Sequence[int] | None = None,
    output_shape: Sequence[int] | None = None,
    params: int | None = None,
) -> Report:
    """Compare a Keras 3 model or a torch ``nn.Module`` with the architecture a lab asks for.

    Parameters
    ----------
    model : keras.Model or torch.nn.Module
    layers : list of dict or str
        The expected layers in order (see :mod:`labkit.check.spec`), e.g.
        ``["flatten", {"kind": "dense", "units": 10, "activation": "softmax"}]``.
        Only the keys given are checked. An activation may be written inside the
        layer or as a layer of its own; both read the same.
    input_shape : tuple of int, optional
        One image's shape, without the batch: ``(28, 28, 1)`` for Keras,
        ``(1, 28, 28)`` for PyTorch (channels first). Required for PyTorch and
        for a Keras model that has no ``keras.Input``; checked against it otherwise.
    output_shape : tuple of int, optional
        The expected shape of the model's output for one image, e.g. ``(10,)``.
    params : int, optional
        The expected number of trainable parameters.

    Returns
    -------
    Report
        Truthy when everything matches; otherwise lists every difference.

    Examples
    --------
    >>> report = labkit.check.architecture(model, MLP, input_shape=(28, 28), params=101_770)
    >>> report.assert_ok()        # in a hidden nbgrader test
    """
    parse(layers)  # a wrong spec is refused before the model runs
    wanted_input = _optional_shape(input_shape, "input_shape")
    try:
        found = adapter_for(model).describe(model, wanted_input)
    except ForwardError as error:
        return Report("The model could not run, so its architecture cannot be checked.",
                      (Difference("forward pass", str(error)),))
    return compare_summary(found, layers, input_shape=wanted_input, output_shape=output_shape,
                           params=params)


def compare_summary(
    found: ModelSummary,
    layers: Sequence[Mapping[str, Any] | str],
    *,
    input_shape: Sequence[int] | None = None,
    output_shape: Sequence[int] | None = None,
    params: int | None = None,
) -> Report:
    """:func:`architecture` for a model measured elsewhere: the comparison without the forward pass.

    The autograder measures a student's model in a sandbox and gets back only
    its :class:`ModelSummary`; this compares that summary with the spec exactly
    as :func:`architecture` compares a live model.
    """
    expected = merge_activations(parse(layers))
    wanted_input = _optional_shape(input_shape, "input_shape")
    differences = [
        *_input_differences(found, wanted_input),
        *compare_layers(expected, merge_activations(found.layers)),
        *_output_differences(found, _optional_shape(output_shape, "output_shape"), params),
    ]
    if differences:
        count = len(differences)
        return Report(f"The architecture differs from the specification in {count} "
                      f"place{'s' if count > 1 else ''}.", tuple(differences))
    return Report(f"The architecture matches the specification: {len(expected)} layers, "
                  f"{format_count(found.params)} trainable parameters.")


def spec_of(model: Any, input_shape: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The model written as a spec: what :func:`architecture` sees, in the form a spec takes.

    Handy for writing a lab's spec from its solution model, and for seeing how
    labkit reads a model that fails a check.
    """
    found = adapter_for(model).describe(model, _optional_shape(input_shape, "input_shape"))
    return [spec_entry(layer) for layer in merge_activations(found.layers)]


def _optional_shape(shape: Sequence[int] | None, name: str) -> tuple[int, ...] | None:
    return None if shape is None else parse_shape(shape, name)


def _input_differences(found: ModelSummary, wanted: tuple[int, ...] | None) -> list[Difference]:
    # Only a Keras model can disagree: it records its input shape, a torch module runs on ours.
    if wanted is None or found.input_shape == wanted:
        return []
    return [Difference("input_shape", (
        f"The model takes inputs of shape {format_shape(found.input_shape)}, but the lab's images "
        f"have shape {format_shape(wanted)}: check the shape given to keras.Input."))]


def _output_differences(found: ModelSummary, output_shape: tuple[int, ...] | None,
                        params: int | None) -> list[Difference]:
    differences = []
    if output_shape is not None and found.output_shape != output_shape:
        differences.append(Difference("output_shape", (
            f"The model outputs shape {format_shape(found.output_shape)} per image instead of "
            f"{format_shape(output_shape)}: check the last layer.")))
    if params is not None and found.params != params:
        differences.append(Difference("params", (
            f"The model has {format_count(found.params)} trainable parameters instead of "
            f"{format_count(params)}: check the sizes of the layers.")))
    return differences


def compare_layers(expected: Sequence[Layer], actual: Sequence[Layer]) -> list[Difference]:
    """Every difference between two layer lists, after aligning them.

    Layers that agree on everything the spec checks are matched first; between
    those anchors, layers of the same kind are paired (and their settings
    compared); what remains is missing, extra, or of the wrong kind.
    """
    checked = _checked_keys(expected)
    anchors = difflib.SequenceMatcher(
        a=[_signature(layer, checked) for layer in expected],
        b=[_signature(layer, checked) for layer in actual],
        autojunk=False,
    )
    differences: list[Difference] = []
    for tag, i1, i2, j1, j2 in anchors.get_opcodes():
        if tag != "equal":
            differences += _compare_region(expected, actual, range(i1, i2), range(j1, j2))
    return differences


def _checked_keys(expected: Sequence[Layer]) -> dict[str, tuple[str, ...]]:
    """For each kind, every key some spec entry of that kind checks."""
    keys: dict[str, set[str]] = {}
    for layer in expected:
        keys.setdefault(layer.kind, set()).update(layer.attributes)
    return {kind: tuple(sorted(names)) for kind, names in keys.items()}


def _signature(layer: Layer, checked: Mapping[str, tuple[str, ...]]) -> tuple:
    keys = checked.get(layer.kind, ())
    return (layer.kind, *(repr(layer.attributes.get(key)) for key in keys))


def _compare_region(expected: Sequence[Layer], actual: Sequence[Layer],
                    wanted: range, found: range) -> list[Difference]:
    """Differences between two unmatched stretches, pairing layers of the same kind."""
    kinds = difflib.SequenceMatcher(
        a=[expected[i].kind for i in wanted], b=[actual[j].kind for j in found], autojunk=False)
    differences: list[Difference] = []
    for tag, i1, i2, j1, j2 in kinds.get_opcodes():
        pairs = list(zip(wanted[i1:i2], found[j1:j2]))
        for i, j in pairs:
            if tag == "equal":
                differences += _compare_settings(i, expected[i], actual[j])
            else:
                differences.append(_wrong_kind(i, expected[i], actual[j]))
        for i in wanted[i1 + len(pairs):i2]:
            differences.append(_missing(i, expected))
        for j in found[j1 + len(pairs):j2]:
            differences.append(_extra(actual[j], wanted.start + i2, expected))
    return differences


def _compare_settings(index: int, expected: Layer, actual: Layer) -> list[Difference]:
    number = index + 1
    differences = []
    for key, value in expected.attributes.items():
        got = actual.attributes.get(key)
        if got == value:
            continue
        if key not in MEASURED:
            text = (f"Layer {number} should be {render(expected)} but is "
                    f"{render(actual, keys=expected.attributes)}{_named(actual)}: {_ADVICE[key]}.")
        elif got is None:
            text = (f"Layer {number}, {render(expected)}, should {_fact(key, value)}, which labkit "
                    "cannot measure on this model: a subclassed keras.Model keeps no record of its "
                    "layers' outputs (keras.Sequential and the functional API do).")
        else:
            text = (f"Layer {number}, {render(expected)}{_named(actual)}, should {_fact(key, value)} "
                    f"but {_fact(key, got, found=True)}: {_ADVICE[key]}.")
        differences.append(Difference(key, text, number))
    return differences


def _wrong_kind(index: int, expected: Layer, actual: Layer) -> Difference:
    return Difference("layer kind", (
        f"Layer {index + 1} should be {render(expected)} but is {render(actual)}{_named(actual)}: "
        "check which layers you used and their order."), index + 1)


def _missing(index: int, expected: Sequence[Layer]) -> Difference:
    return Difference("missing layer", (
        f"Layer {index + 1}, {render(expected[index])}, is missing: add it "
        f"{_position(index, expected)}."), index + 1)


def _extra(layer: Layer, before: int, expected: Sequence[Layer]) -> Difference:
    """An extra layer found where spec layer number ``before + 1`` would come next."""
    return Difference("extra layer", (
        f"The model has an extra layer, {render(layer)}{_named(layer)}, "
        f"{_position(before, expected)}, which the specification does not have: remove it."))


def _position(index: int, expected: Sequence[Layer]) -> str:
    """Where spec layer ``index`` (0-based) goes, in words a student can act on."""
    if index == 0:
        return "at the start of the model"
    return f"after layer {index}, {render(expected[index - 1])}"


def _named(layer: Layer) -> str:
    return f" ('{layer.source}')" if layer.source else ""


def _fact(key: str, value: Any, found: bool = False) -> str:
    """A measured fact as a verb phrase: "output shape (13, 13, 24)", "has 3,104 trainable parameters"."""
    if key == "output_shape":
        return f"{'outputs' if found else 'output'} shape {format_shape(value)}"
    return f"{'has' if found else 'have'} {format_count(value)} trainable parameters"
