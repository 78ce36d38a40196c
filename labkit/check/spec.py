"""The common language of architecture checks: layers described the same way for every framework.

A spec in a notebook is a list of plain dicts (or bare kind names)::

    MLP = [
        "flatten",
        {"kind": "dense", "units": 128, "activation": "relu"},
        {"kind": "dense", "units": 10, "activation": "softmax"},
    ]

:func:`parse` turns it into :class:`Layer` objects, and the framework adapters
(``_keras``, ``_torch``) turn a model into the same objects, so that the
comparison in :mod:`labkit.check.structure` never sees a framework. The words
are Keras's (``units``, ``filters``, ``strides``, ``rate``) because the spec is
written once for both frameworks; PyTorch's names are accepted as layer kinds
(``"linear"``, ``"maxpool2d"``, ``"relu"``).

Keys left out of a spec entry are not checked: ``{"kind": "dense"}`` accepts any
number of units and any activation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KINDS", "Layer", "ModelSummary", "activation_name", "format_count", "format_shape",
    "kind_from_name", "merge_activations", "pair", "padding_name", "parse", "parse_shape",
    "render", "spec_entry",
]


@dataclass(frozen=True)
class _Kind:
    """What a layer kind is called in Keras and which settings describe it."""

    display: str
    settings: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


KINDS: dict[str, _Kind] = {
    "dense": _Kind("Dense", ("units", "activation")),
    "conv2d": _Kind("Conv2D", ("filters", "kernel_size", "strides", "padding", "activation")),
    "maxpool2d": _Kind("MaxPooling2D", ("pool_size", "strides", "padding")),
    "avgpool2d": _Kind("AveragePooling2D", ("pool_size", "strides", "padding")),
    "globalavgpool2d": _Kind("GlobalAveragePooling2D"),
    "flatten": _Kind("Flatten"),
    "dropout": _Kind("Dropout", ("rate",)),
    "batchnorm": _Kind("BatchNormalization"),
    "activation": _Kind("Activation", ("activation",), required=("activation",)),
}
"""The layer kinds a spec can describe in detail; any other kind is matched by name only."""

MEASURED = ("output_shape", "params")
"""Facts measured on the model rather than set in its code; any spec entry may give them."""

TAKES_ACTIVATION = ("dense", "conv2d")
"""Kinds that can hold their activation (``Dense(activation=...)``) instead of a separate layer."""

# Class and kind names, lower-cased and without underscores, that mean the same kind.
_KIND_ALIASES = {
    "dense": "dense", "linear": "dense",
    "conv2d": "conv2d", "convolution2d": "conv2d",
    "maxpool2d": "maxpool2d", "maxpooling2d": "maxpool2d",
    "avgpool2d": "avgpool2d", "averagepooling2d": "avgpool2d",
    "globalavgpool2d": "globalavgpool2d", "globalaveragepooling2d": "globalavgpool2d",
    "flatten": "flatten",
    "dropout": "dropout",
    "batchnorm": "batchnorm", "batchnormalization": "batchnorm",
    "batchnorm1d": "batchnorm", "batchnorm2d": "batchnorm",
    "activation": "activation",
}

# Activation names, lower-cased and without underscores, and how labkit writes them.
_ACTIVATIONS = {
    "relu": "relu", "relu6": "relu6", "leakyrelu": "leaky_relu", "prelu": "prelu",
    "elu": "elu", "selu": "selu", "gelu": "gelu", "silu": "silu", "swish": "silu",
    "mish": "mish", "softplus": "softplus", "sigmoid": "sigmoid", "tanh": "tanh",
    "softmax": "softmax", "logsoftmax": "log_softmax",
}
_NO_ACTIVATION = {"linear", "none", "identity"}


@dataclass(frozen=True)
class Layer:
    """One layer as the checks see it, whichever framework it came from.

    Attributes
    ----------
    kind : str
        ``"dense"``, ``"conv2d"``, ... (see ``KINDS``), or the lower-cased class
        name of a layer labkit has no vocabulary for (``"rescaling"``).
    attributes : Mapping[str, Any]
        Settings (``units``, ``kernel_size``, ...) and measured facts
        (``output_shape`` without the batch dimension, ``params``: trainable
        parameters). A spec holds only the keys it checks; a layer read from a
        model holds all it could find.
    source : str, optional
        Where the layer is in the student's code: a Keras layer name
        (``"dense_1"``) or a PyTorch module path (``"classifier.0"``).
    """

    kind: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None

    def absorb(self, activation: Layer) -> Layer:
        """This layer with a following activation layer folded into it.

        ``Dense(10)`` then ``Softmax()`` is the same model as
        ``Dense(10, activation="softmax")``; folding makes both read alike.
        """
        merged = {**self.attributes, "activation": activation.attributes.get("activation")}
        if "output_shape" in activation.attributes:
            merged["output_shape"] = activation.attributes["output_shape"]
        if "params" in self.attributes and "params" in activation.attributes:
            merged["params"] = self.attributes["params"] + activation.attributes["params"]
        return Layer(self.kind, merged, self.source)


@dataclass(frozen=True)
class ModelSummary:
    """What a framework adapter measured on a model with one forward pass.

    Attributes
    ----------
    layers : list of Layer
        In the order the forward pass ran them, activations not yet folded.
    input_shape, output_shape : tuple of int
        Without the batch dimension.
    params : int
        Trainable parameters of the whole model.
    """

    layers: list[Layer]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int


def merge_activations(layers: Iterable[Layer]) -> list[Layer]:
    """Fold each activation layer into the ``dense``/``conv2d`` layer before it, if that has none.

    Applied to both the spec and the model, so either may write the activation
    either way. An activation after any other layer (pooling, ``batchnorm``,
    another activation) stays a layer of its own.
    """
    merged: list[Layer] = []
    for layer in layers:
        previous = merged[-1] if merged else None
        if (
            layer.kind == "activation"
            and previous is not None
            and previous.kind in TAKES_ACTIVATION
            and previous.attributes.get("activation") is None
        ):
            merged[-1] = previous.absorb(layer)
        else:
            merged.append(layer)
    return merged


# --- normalising values ---------------------------------------------------------------------


def _squash(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "")


def activation_name(value: Any) -> str | None:
    """The canonical name of an activation: ``"relu"``, ``"leaky_relu"``, or None for linear.

    Accepts a name in any case (``"ReLU"``, ``"LeakyReLU"``), a Keras activation
    function, or None.
    """
    if value is None:
        return None
    if callable(value) and not isinstance(value, str):
        value = getattr(value, "__name__", type(value).__name__)
    if not isinstance(value, str):
        raise TypeError(f"activation={value!r} is not a name; write e.g. activation='relu'.")
    squashed = _squash(value)
    if squashed in _NO_ACTIVATION:
        return None
    return _ACTIVATIONS.get(squashed, value.strip().lower())


def kind_from_name(name: str) -> tuple[str, dict[str, Any]]:
    """The layer kind a class or spec name stands for, with any setting the name implies.

    ``"Linear"`` and ``"Dense"`` are ``dense``; ``"MaxPool2d"`` and
    ``"MaxPooling2D"`` are ``maxpool2d``; an activation's name (``"ReLU"``,
    ``"softmax"``) is an ``activation`` layer with that activation. Other names
    are kept, lower-cased, as kinds of their own.
    """
    squashed = _squash(name)
    if squashed in _KIND_ALIASES:
        return _KIND_ALIASES[squashed], {}
    if squashed in _ACTIVATIONS:
        return "activation", {"activation": _ACTIVATIONS[squashed]}
    return squashed, {}


def pair(value: Any, name: str = "value") -> tuple[int, int]:
    """``3`` or ``(3, 3)`` as ``(3, 3)``: Keras and PyTorch accept both for square windows."""
    if _is_int(value):
        return (int(value), int(value))
    if isinstance(value, Sequence) and len(value) == 2 and all(_is_int(v) for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name}={value!r} is not a size; write one integer (3) or two ((3, 3)).")


def padding_name(padding: Any, kernel_size: Any = None, strides: Any = None) -> str | tuple:
    """``"valid"`` or ``"same"`` where the padding amounts to one of them, else the pixel counts.

    PyTorch writes padding in pixels: 0 is Keras's ``"valid"``, and ``(k - 1) / 2``
    around a ``k``-wide kernel with stride 1 is ``"same"``.
    """
    if isinstance(padding, str):
        name = padding.strip().lower()
        if name not in ("valid", "same"):
            raise ValueError(f"padding={padding!r} is not 'valid', 'same' or a number of pixels.")
        return name
    pixels = pair(padding, "padding")
    if pixels == (0, 0):
        return "valid"
    if kernel_size is not None and pair(strides if strides is not None else 1) == (1, 1):
        if all(2 * p + 1 == k for p, k in zip(pixels, pair(kernel_size, "kernel_size"))):
            return "same"
    return pixels


def parse_shape(shape: Any, name: str = "shape") -> tuple[int, ...]:
    """A shape without the batch dimension; a leading None, as Keras prints it, is dropped."""
    if isinstance(shape, str) or not isinstance(shape, Sequence) or len(shape) == 0:
        raise ValueError(f"{name}={shape!r} is not a shape; write a tuple such as (28, 28, 1).")
    if shape[0] is None:
        shape = shape[1:]
    if not shape or not all(_is_int(d) and d > 0 for d in shape):
        raise ValueError(f"{name}={shape!r} is not a shape of positive integers (no batch size).")
    return tuple(int(d) for d in shape)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == int(value)


# --- reading a spec -------------------------------------------------------------------------


def parse(spec: Sequence[Mapping[str, Any] | str]) -> list[Layer]:
    """Read a notebook spec into layers, refusing anything that would silently check nothing.

    Parameters
    ----------
    spec : list of dict or str
        One entry per layer: a dict with ``"kind"`` and the settings to check,
        or just the kind (``"flatten"``).

    Raises
    ------
    ValueError, TypeError
        Naming the entry, the problem and what to write instead.
    """
    if isinstance(spec, str | Mapping) or not isinstance(spec, Sequence):
        raise TypeError(
            "The spec is a list with one entry per layer, e.g. "
            "['flatten', {'kind': 'dense', 'units': 10, 'activation': 'softmax'}]."
        )
    return [_parse_entry(entry, number) for number, entry in enumerate(spec, start=1)]


def _parse_entry(entry: Mapping[str, Any] | str, number: int) -> Layer:
    if isinstance(entry, str):
        entry = {"kind": entry}
    if not isinstance(entry, Mapping):
        raise TypeError(f"Spec entry {number} is {entry!r}; write a dict such as "
                        "{'kind': 'dense', 'units': 128} or a kind name such as 'flatten'.")
    if "kind" not in entry:
        raise ValueError(f"Spec entry {number} {dict(entry)} has no 'kind'; add e.g. 'kind': 'dense'.")
    kind, implied = kind_from_name(str(entry["kind"]))
    if kind not in KINDS:
        _refuse_likely_typo(entry["kind"], number)
    allowed = _keys(kind)
    given = {key: value for key, value in entry.items() if key != "kind"}
    for key in given:
        if key not in allowed:
            raise ValueError(_unknown_key_message(key, kind, allowed, number))
    attributes = {**implied, **{key: _normalise(key, value, entry) for key, value in given.items()}}
    missing = [key for key in KINDS[kind].required if key not in attributes] if kind in KINDS else []
    if missing:
        raise ValueError(f"Spec entry {number} ({kind}) needs {missing[0]!r}, "
                         f"e.g. {{'kind': 'activation', 'activation': 'relu'}}.")
    return Layer(kind, attributes)


def _keys(kind: str) -> tuple[str, ...]:
    """Every key a spec entry of this kind may hold, in the order people write them."""
    settings = KINDS[kind].settings if kind in KINDS else ()
    return (*settings, *MEASURED)


def _refuse_likely_typo(kind: Any, number: int) -> None:
    """Unknown kinds are allowed (matched by class name), but not ones a letter away from a known one."""
    known = sorted({*_KIND_ALIASES, *_ACTIVATIONS})
    close = difflib.get_close_matches(_squash(str(kind)), known, n=1, cutoff=0.8)
    if close:
        raise ValueError(f"Spec entry {number}: unknown layer kind {kind!r}; did you mean {close[0]!r}?")


def _unknown_key_message(key: str, kind: str, allowed: Sequence[str], number: int) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else ""
    return (f"Spec entry {number} ({kind}) has no setting {key!r}; {suggestion}"
            f"{kind} takes {', '.join(allowed)}.")


def _normalise(key: str, value: Any, entry: Mapping[str, Any]) -> Any:
    """One spec value in the form the adapters report it, so that equal means equal."""
    if key in ("units", "filters"):
        if not (_is_int(value) and value > 0):
            raise ValueError(f"{key}={value!r} is not a positive whole number.")
        return int(value)
    if key == "params":
        if not (_is_int(value) and value >= 0):
            raise ValueError(f"params={value!r} is not a number of parameters.")
        return int(value)
    if key in ("kernel_size", "strides", "pool_size"):
        return pair(value, key)
    if key == "padding":
        return padding_name(value, entry.get("kernel_size"), entry.get("strides"))
    if key == "activation":
        return activation_name(value)
    if key == "rate":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ValueError(f"rate={value!r} is not a dropout rate between 0 and 1.")
        return float(value)
    if key == "output_shape":
        return parse_shape(value, "output_shape")
    raise AssertionError(f"no normaliser for {key!r}")  # every key in KINDS has one above


# --- writing a layer the way a student would ------------------------------------------------


def render(layer: Layer, keys: Iterable[str] | None = None) -> str:
    """A layer as Keras code, e.g. ``Dense(128, activation='relu')``.

    Parameters
    ----------
    layer : Layer
    keys : iterable of str, optional
        Show only these settings (to put a model's layer beside a spec entry);
        by default every setting that differs from Keras's default.
    """
    if layer.kind not in KINDS:
        return f"{layer.kind}()"
    kind = KINDS[layer.kind]
    settings = {key: layer.attributes[key] for key in kind.settings if key in layer.attributes}
    if keys is None:
        settings = {key: value for key, value in settings.items() if not _is_default(key, value, settings)}
    else:
        wanted = set(keys)
        settings = {key: value for key, value in settings.items() if key in wanted}
    arguments = []
    for position, (key, value) in enumerate(settings.items()):
        text = _format_value(value)
        arguments.append(text if position == 0 and key == kind.settings[0] else f"{key}={text}")
    return f"{kind.display}({', '.join(arguments)})"


_KERAS_DEFAULTS = {"strides": (1, 1), "padding": "valid", "activation": None}


def _is_default(key: str, value: Any, settings: Mapping[str, Any]) -> bool:
    if key == "strides" and "pool_size" in settings:  # pooling strides default to the pool size
        return value == settings["pool_size"]
    return key in _KERAS_DEFAULTS and _KERAS_DEFAULTS[key] == value


def _square_as_int(value: Any) -> Any:
    """``(3, 3)`` as ``3``, the way people write square kernels, pools and strides."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
        return value[0]
    return value


def _format_value(value: Any) -> str:
    value = _square_as_int(value)
    return f"{value:g}" if isinstance(value, float) else repr(value)


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(26, 26, 24)``, or ``"unknown"`` when the shape could not be measured."""
    return "unknown" if shape is None else str(tuple(shape))


def format_count(count: int) -> str:
    """``101,770``: parameter counts are easier to compare with thousands separators."""
    return f"{count:,}"


def spec_entry(layer: Layer) -> dict[str, Any]:
    """A layer written back as the dict a spec would hold, settings in their usual order."""
    entry: dict[str, Any] = {"kind": layer.kind}
    for key in _keys(layer.kind):
        if key in layer.attributes:
            value = layer.attributes[key]
            entry[key] = value if key == "output_shape" else _square_as_int(value)
    return entry
