"""labkit.check on Keras 3 models: lab 1's models, their mutations, and broken behaviour."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import labkit
from labkit import check

layers = keras.layers

pytestmark = pytest.mark.slow

MLP = [
    "flatten",
    {"kind": "dense", "units": 128, "activation": "relu"},
    {"kind": "dense", "units": 10, "activation": "softmax"},
]
CNN = [
    {"kind": "conv2d", "filters": 24, "kernel_size": 3, "activation": "relu"},
    {"kind": "maxpool2d", "pool_size": 2},
    {"kind": "conv2d", "filters": 36, "kernel_size": 3, "activation": "relu"},
    {"kind": "maxpool2d", "pool_size": 2},
    "flatten",
    {"kind": "dense", "units": 128, "activation": "relu"},
    {"kind": "dense", "units": 10, "activation": "softmax"},
]
MLP_PARAMS = (784 * 128 + 128) + (128 * 10 + 10)
CNN_PARAMS = (3 * 3 * 24 + 24) + (3 * 3 * 24 * 36 + 36) + (5 * 5 * 36 * 128 + 128) + (128 * 10 + 10)


def mlp(*hidden):
    """Lab 1's dense network; ``hidden`` replaces its middle layers."""
    middle = hidden or (layers.Dense(128, activation="relu"),)
    return keras.Sequential([keras.Input((28, 28)), layers.Flatten(), *middle,
                             layers.Dense(10, activation="softmax")])


def cnn(first_kernel=3, second_conv=True, units=128, padding="valid"):
    """Lab 1's convolutional network, with knobs for the mutations."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(24, first_kernel, activation="relu", padding=padding),
        layers.MaxPooling2D(2),
        *([layers.Conv2D(36, 3, activation="relu")] if second_conv else []),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(units, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def aspects(report):
    return [(d.aspect, d.layer) for d in report.differences]


@pytest.fixture(scope="module")
def digits(mirror_dir):
    """64 genuine MNIST test digits, scaled to [0, 1] as the labs feed them."""
    images, labels = labkit.data.load("mnist", "test")
    return images[:64].astype("float32") / 255, labels[:64]


# --- architecture ----------------------------------------------------------------------------


def test_lab1_models_match_their_specs():
    report = check.architecture(mlp(), MLP, output_shape=(10,), params=MLP_PARAMS)
    assert report and report.differences == ()
    assert "3 layers, 101,770 trainable parameters" in str(report)
    assert check.architecture(cnn(), CNN, input_shape=(28, 28, 1), params=CNN_PARAMS)


def test_output_shapes_come_from_a_real_forward_pass():
    assert [entry["output_shape"] for entry in check.spec_of(cnn())] == [
        (26, 26, 24), (13, 13, 24), (11, 11, 36), (5, 5, 36), (900,), (128,), (10,)]
    spec = [dict(entry, output_shape=(26, 26, 24)) if i == 0 else entry for i, entry in enumerate(CNN)]
    report = check.architecture(cnn(padding="same"), spec)
    assert aspects(report) == [("output_shape", 1)]
    assert "should output shape (26, 26, 24) but outputs shape (28, 28, 24)" in str(report)


def test_an_activation_layer_is_the_same_as_the_activation_argument():
    separate = keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(128),
                                 layers.Activation("relu"), layers.Dense(10), layers.Softmax()])
    assert check.architecture(separate, MLP, params=MLP_PARAMS)
    assert check.spec_of(separate) == check.spec_of(mlp())


@pytest.mark.parametrize("model, expected, words", [
    (keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(10, activation="softmax")]),
     [("missing layer", 2)], "Layer 2, Dense(128, activation='relu'), is missing"),
    (mlp(layers.Dense(128, activation="relu"), layers.Dropout(0.2)),
     [("extra layer", None)], "extra layer, Dropout(0.2)"),
    (mlp(layers.Dense(64, activation="relu")),
     [("units", 2)], "but is Dense(64, activation='relu')"),
    (mlp(layers.Dense(128, activation="sigmoid")),
     [("activation", 2)], "but is Dense(128, activation='sigmoid')"),
], ids=["missing layer", "extra layer", "wrong units", "wrong activation"])
def test_each_mlp_mutation_is_reported_as_exactly_that_difference(model, expected, words):
    report = check.architecture(model, MLP)
    assert aspects(report) == expected
    assert words in str(report)


def test_a_wrong_kernel_size_is_reported_as_exactly_that_difference():
    report = check.architecture(cnn(first_kernel=5), CNN)
    assert aspects(report) == [("kernel_size", 1)]
    assert "but is Conv2D(24, kernel_size=5, activation='relu')" in str(report)


def test_combined_mutations_report_every_difference():
    report = check.architecture(cnn(first_kernel=5, second_conv=False, units=64), CNN, params=CNN_PARAMS)
    assert aspects(report) == [("kernel_size", 1), ("missing layer", 3), ("units", 6), ("params", None)]
    with pytest.raises(AssertionError) as raised:
        report.assert_ok()
    assert all(d.message in str(raised.value) for d in report.differences)


def test_functional_nested_and_unbuilt_models_are_read_alike():
    inputs = keras.Input((28, 28, 1))
    hidden = inputs
    for layer in cnn().layers:
        hidden = type(layer).from_config(layer.get_config())(hidden)  # a fresh copy of each layer
    functional = keras.Model(inputs, hidden)
    assert check.spec_of(functional) == check.spec_of(cnn())
    nested = keras.Sequential([keras.Input((28, 28)),
                               keras.Sequential([layers.Flatten(), layers.Dense(128, activation="relu")]),
                               layers.Dense(10, activation="softmax")])
    assert check.spec_of(nested) == check.spec_of(mlp())
    unbuilt = keras.Sequential([layers.Flatten(), layers.Dense(128, activation="relu"),
                                layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="keras.Input"):
        check.architecture(unbuilt, MLP)
    assert check.architecture(unbuilt, MLP, input_shape=(28, 28), params=MLP_PARAMS)


def test_an_input_shape_other_than_the_labs_is_reported():
    flat = keras.Sequential([keras.Input((784,)), layers.Dense(128, activation="relu"),
                             layers.Dense(10, activation="softmax")])
    report = check.architecture(flat, MLP, input_shape=(28, 28))
    assert aspects(report) == [("input_shape", None), ("missing layer", 1)]
    assert "inputs of shape (784,)" in str(report)


# --- behaviour -------------------------------------------------------------------------------


def test_a_softmax_output_is_a_distribution_and_a_linear_one_is_not(digits):
    images, _ = digits
    assert check.output_is_distribution(mlp(), images, n_classes=10)
    linear = keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(10)])
    assert [d.aspect for d in check.output_is_distribution(linear, images).differences] == [
        "not probabilities"]
    assert check.output_is_distribution(linear, images, from_logits=True)
    sigmoid = keras.Sequential([keras.Input((28, 28)), layers.Flatten(),
                                layers.Dense(10, activation="sigmoid")])
    assert [d.aspect for d in check.output_is_distribution(sigmoid, images).differences] == [
        "rows do not sum to 1"]
    assert [d.aspect for d in check.output_is_distribution(mlp(), images, n_classes=47).differences] == [
        "number of classes"]


def test_initial_loss_is_near_ln_c_unless_the_inputs_are_unscaled(digits):
    images, labels = digits
    report = check.initial_loss(mlp(), images, labels, n_classes=10)
    assert report, str(report)
    unscaled = check.initial_loss(mlp(), images * 255, labels, n_classes=10)
    assert [d.aspect for d in unscaled.differences] == ["initial loss too high"]


def test_a_sound_model_overfits_one_batch_and_keeps_its_weights(digits):
    images, labels = digits
    model = mlp()
    before = model.get_weights()
    report = check.can_overfit_batch(model, images[:32], labels[:32])
    assert report, str(report)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_frozen_model_cannot_overfit(digits):
    images, labels = digits
    model = mlp()
    model.trainable = False
    report = check.can_overfit_batch(model, images[:32], labels[:32], steps=20)
    assert [d.aspect for d in report.differences] == ["loss did not fall"]


def test_gradients_reach_a_sound_model_but_not_past_a_stop_gradient(digits):
    images, labels = digits
    assert check.gradients_reach_all_parameters(mlp(), images, labels)
    cut = mlp(layers.Dense(128, activation="relu"), layers.Lambda(keras.ops.stop_gradient))
    report = check.gradients_reach_all_parameters(cut, images, labels)
    assert [d.aspect for d in report.differences] == ["no gradient"]
    hidden = cut.layers[1].name
    assert f"'{cut.name}/{hidden}/kernel' and '{cut.name}/{hidden}/bias'" in str(report)


def test_a_frozen_layer_is_reported_unless_allowed(digits):
    images, labels = digits
    model = mlp()
    model.layers[1].trainable = False
    report = check.gradients_reach_all_parameters(model, images, labels)
    assert [d.aspect for d in report.differences] == ["frozen"]
    assert f"'{model.layers[1].name}' is frozen" in str(report)
    assert check.gradients_reach_all_parameters(model, images, labels, allow_frozen=True)


def _sgd_step(learning_rate=0.1, sign=1.0, apply=True):
    """A training step on (model, (x, y)); the defaults make it the reference SGD step."""
    def step(model, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        if apply:
            for variable, grad in zip(model.trainable_variables, grads):
                variable.assign(variable - sign * learning_rate * grad)
    return step


def _keras_optimizer_step(model, batch):
    """A correct step written differently: Keras's own SGD optimizer."""
    x, y = batch
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))


@pytest.mark.parametrize("student, expected", [
    (_keras_optimizer_step, []),
    (_sgd_step(sign=-1.0), ["opposite direction"]),
    (_sgd_step(learning_rate=1.0), ["step size"]),
    (_sgd_step(apply=False), ["not updated"]),
], ids=["correct", "ascent", "learning rate", "no update"])
def test_a_training_step_is_compared_with_the_reference(digits, student, expected):
    images, labels = digits
    report = check.training_step_matches(student, _sgd_step(), mlp, (images[:16], labels[:16]))
    assert [d.aspect for d in report.differences] == expected
    if expected == ["step size"]:
        assert "10 times as far" in str(report)
