"""The Keras 3 adapter of ``labkit.check`` (see :mod:`labkit.check.frameworks` for its functions).

Imported only when a Keras model is checked. Layers are read by running a zero
batch through the model: a ``keras.Sequential`` layer by layer (nested
Sequentials included), a functional model through a feature-extraction model
(the Keras FAQ's ``keras.Model(model.input, [layer.output ...])``). A subclassed
``keras.Model`` keeps no graph, so its layers come in the order they were
created and without output shapes. Gradients and training use TensorFlow's
``GradientTape``, the backend the course installs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

import keras
import numpy as np

from labkit.check.frameworks import ForwardError
from labkit.check.spec import Layer, ModelSummary, activation_name, kind_from_name, pair, padding_name

_BATCH = 2  # zero images per forward pass: enough for every layer, including BatchNormalization


def describe(model: keras.Model, input_shape: tuple[int, ...] | None) -> ModelSummary:
    own_shape = _input_shape(model)
    shape = own_shape or input_shape
    if shape is None:
        raise ValueError(
            f"The Keras model {model.name!r} does not know its input shape yet: start it with "
            "keras.Input(shape=(28, 28, 1)), or pass input_shape=(28, 28, 1) to the check."
        )
    zeros = np.zeros((_BATCH, *shape), dtype="float32")
    try:
        build(model, zeros)
        output = model(zeros, training=False)
    except Exception as error:  # whatever the student's model raises, it is the finding
        raise ForwardError(
            f"The model cannot process images of shape {shape}: {_error_text(error)}"
        ) from error
    layers, _ = _walk(model, zeros)
    return ModelSummary(layers, tuple(shape), tuple(output.shape[1:]), _count(model.trainable_weights))


def _input_shape(model: keras.Model) -> tuple[int, ...] | None:
    """The shape the model was built for, without the batch; None when it has not been given one."""
    inputs = getattr(model, "inputs", None)  # subclassed and unbuilt models have none
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError("labkit.check handles models with one input; this one has "
                         f"{len(inputs)}.")
    shape = tuple(inputs[0].shape[1:])
    return shape if all(isinstance(d, int) for d in shape) else None


def _walk(layer: keras.Layer, x) -> tuple[list[Layer], object]:
    """The layers ``x`` runs through inside ``layer``, and its output."""
    if isinstance(layer, keras.Sequential):
        found: list[Layer] = []
        for inner in layer.layers:
            inner_found, x = _walk(inner, x)
            found += inner_found
        return found, x
    output = layer(x, training=False)
    if isinstance(layer, keras.Model):
        return _model_layers(layer, x), output
    return [_describe(layer, tuple(output.shape[1:]))], output


def _model_layers(model: keras.Model, x) -> list[Layer]:
    """A functional model's layers with the shapes its graph produces; a subclassed one's without."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not getattr(model, "inputs", None):  # subclassed: no graph to extract outputs from
        return [_describe(layer, None) for layer in layers]
    extractor = keras.Model(model.input, [layer.output for layer in layers])
    outputs = extractor(x, training=False)
    return [_describe(layer, tuple(out.shape[1:])) for layer, out in zip(layers, outputs)]


def _describe(layer: keras.Layer, output_shape: tuple[int, ...] | None) -> Layer:
    kind, settings = _settings(layer)
    attributes = {**settings, "params": _count(layer.trainable_weights)}
    if output_shape is not None:
        attributes["output_shape"] = output_shape
    return Layer(kind, attributes, layer.name)


def _settings(layer: keras.Layer) -> tuple[str, dict]:
    """The layer's kind and the settings a spec can check."""
    layers = keras.layers
    if isinstance(layer, layers.Dense):
        return "dense", {"units": layer.units, "activation": activation_name(layer.activation)}
    if isinstance(layer, layers.Conv2D):
        return "conv2d", {
            "filters": layer.filters,
            "kernel_size": pair(layer.kernel_size),
            "strides": pair(layer.strides),
            "padding": padding_name(layer.padding),
            "activation": activation_name(layer.activation),
        }
    if isinstance(layer, layers.MaxPooling2D | layers.AveragePooling2D):
        kind = "maxpool2d" if isinstance(layer, layers.MaxPooling2D) else "avgpool2d"
        return kind, {
            "pool_size": pair(layer.pool_size),
            "strides": pair(layer.strides),
            "padding": padding_name(layer.padding),
        }
    if isinstance(layer, layers.Dropout):
        return "dropout", {"rate": float(layer.rate)}
    if isinstance(layer, layers.Activation):
        return "activation", {"activation": activation_name(layer.activation)}
    return kind_from_name(type(layer).__name__)  # Flatten, BatchNormalization, ReLU, Softmax, ...


def _count(variables) -> int:
    return sum(math.prod(variable.shape) for variable in variables)


def _error_text(error: Exception) -> str:
    """The useful line of a Keras error, which wraps it in bold between boilerplate."""
    text = str(error)
    bold = re.search(r"\x1b\[1m(.*?)\x1b\[0m", text, flags=re.DOTALL)
    return " ".join((bold.group(1) if bold else text).split())


def build(model: keras.Model, x: np.ndarray) -> None:
    """Create the model's weights for inputs like ``x``, the way ``fit`` would."""
    if model.built:
        return
    if isinstance(model, keras.Sequential):
        model.build((None, *x.shape[1:]))
    else:
        model(x[:1], training=False)


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def _loss(model: keras.Model, x, y, from_logits: bool, training: bool):
    outputs = model(x, training=training)
    return keras.ops.mean(
        keras.losses.sparse_categorical_crossentropy(y, outputs, from_logits=from_logits))


def gradients(model: keras.Model, x: np.ndarray, y: np.ndarray,
              from_logits: bool) -> list[tuple[str, np.ndarray | None]]:
    tf = _tensorflow()
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = _loss(model, x, y, from_logits, training=False)
    grads = tape.gradient(loss, variables)
    return [(variable.path, None if grad is None else keras.ops.convert_to_numpy(grad))
            for variable, grad in zip(variables, grads)]


def frozen(model: keras.Layer) -> list[str]:
    """Names of the layers with weights that were set ``trainable = False``."""
    if not model.trainable and model.weights:
        return [model.name]
    return [name for layer in getattr(model, "layers", ()) for name in frozen(layer)]


def train(model: keras.Model, x: np.ndarray, y: np.ndarray, *, steps: int,
          learning_rate: float, from_logits: bool) -> list[float]:
    tf = _tensorflow()
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = model.trainable_variables

    @tf.function  # traced once: four times faster than eager steps on a small batch
    def step():
        with tf.GradientTape() as tape:
            loss = _loss(model, x, y, from_logits, training=True)
        pairs = [(grad, variable) for grad, variable in zip(tape.gradient(loss, variables), variables)
                 if grad is not None]
        if pairs:
            optimizer.apply_gradients(pairs)
        return loss

    return [float(step()) for _ in range(steps)]


@contextmanager
def preserved(model: keras.Model) -> Iterator[None]:
    saved = model.get_weights()
    try:
        yield
    finally:
        model.set_weights(saved)


def weights(model: keras.Model) -> list[tuple[str, np.ndarray]]:
    return [(variable.path, keras.ops.convert_to_numpy(variable)) for variable in model.trainable_variables]


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    target.set_weights(source.get_weights())


def _tensorflow():
    """TensorFlow, after making sure Keras runs on it: gradients here use its GradientTape."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"labkit.check computes Keras gradients with TensorFlow, but Keras runs on {backend}; "
            "set KERAS_BACKEND=tensorflow before importing keras."
        )
    import tensorflow as tf

    return tf
