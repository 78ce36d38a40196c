"""The spec language and the layer alignment, without any framework: plain lists of layers."""

from __future__ import annotations

import pytest

from labkit.check.spec import Layer, merge_activations, parse, render, spec_entry
from labkit.check.structure import compare_layers

LAB1_MLP = [
    "flatten",
    {"kind": "dense", "units": 128, "activation": "relu"},
    {"kind": "dense", "units": 10, "activation": "softmax"},
]


def dense(units, activation=None, source=None):
    """A dense layer as an adapter reports it: every setting known."""
    return Layer("dense", {"units": units, "activation": activation}, source)


def aspects(differences):
    return [(d.aspect, d.layer) for d in differences]


# --- reading specs ---------------------------------------------------------------------------


def test_equivalent_spellings_parse_to_the_same_layers():
    keras_words = parse([{"kind": "Conv2D", "filters": 24, "kernel_size": 3, "activation": "ReLU"},
                         {"kind": "MaxPooling2D", "pool_size": 2}])
    torch_words = parse([{"kind": "conv2d", "filters": 24, "kernel_size": (3, 3), "activation": "relu"},
                         {"kind": "MaxPool2d", "pool_size": [2, 2]}])
    assert keras_words == torch_words
    assert keras_words[0].attributes["kernel_size"] == (3, 3)


def test_an_activation_name_is_a_layer_kind_and_folds_into_the_layer_before():
    separate = merge_activations(parse(["flatten", {"kind": "linear", "units": 128}, "relu",
                                        {"kind": "dense", "units": 10}, "Softmax"]))
    assert separate == merge_activations(parse(LAB1_MLP))


def test_an_activation_after_a_layer_that_cannot_hold_one_stays_a_layer():
    layers = merge_activations(parse([{"kind": "conv2d", "filters": 8}, "batchnorm", "relu"]))
    assert [layer.kind for layer in layers] == ["conv2d", "batchnorm", "activation"]
    doubled = merge_activations(parse([{"kind": "dense", "activation": "relu"}, "relu"]))
    assert [layer.kind for layer in doubled] == ["dense", "activation"]


def test_linear_means_no_activation_and_pixel_padding_means_same():
    [layer] = parse([{"kind": "conv2d", "kernel_size": 3, "padding": 1, "activation": "linear"}])
    assert layer.attributes["padding"] == "same"
    assert layer.attributes["activation"] is None


def test_shapes_may_be_copied_from_a_keras_summary():
    [layer] = parse([{"kind": "flatten", "output_shape": (None, 784)}])
    assert layer.attributes["output_shape"] == (784,)


def test_unknown_kinds_are_matched_by_name():
    assert parse(["Rescaling"])[0].kind == "rescaling"


@pytest.mark.parametrize("spec, message", [
    ({"kind": "dense"}, "list with one entry per layer"),
    ([{"units": 10}], "has no 'kind'"),
    ([{"kind": "dense", "unit": 10}], "did you mean 'units'"),
    ([{"kind": "conv2d", "units": 10}], "conv2d takes filters"),
    ([{"kind": "dens"}], "did you mean 'dense'"),
    ([{"kind": "dense", "units": 0}], "positive whole number"),
    ([{"kind": "dropout", "rate": 50}], "between 0 and 1"),
    ([{"kind": "activation"}], "needs 'activation'"),
    ([{"kind": "conv2d", "kernel_size": (3, 3, 3)}], "one integer (3) or two"),
    ([{"kind": "conv2d", "padding": "full"}], "'valid', 'same'"),
    ([{"kind": "flatten", "output_shape": 784}], "not a shape"),
])
def test_a_bad_spec_is_refused_with_what_to_write(spec, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(spec)


# --- writing layers --------------------------------------------------------------------------


def test_layers_render_as_keras_code_without_defaults():
    conv, pool, drop = parse([
        {"kind": "conv2d", "filters": 24, "kernel_size": 3, "strides": 1, "activation": "relu"},
        {"kind": "maxpool2d", "pool_size": 2, "strides": 2},
        {"kind": "dropout", "rate": 0.25},
    ])
    assert render(conv) == "Conv2D(24, kernel_size=3, activation='relu')"
    assert render(pool) == "MaxPooling2D(2)"
    assert render(drop) == "Dropout(0.25)"
    assert render(dense(64, "relu"), keys=["units"]) == "Dense(64)"


def test_spec_entry_reads_back_as_the_same_layer():
    layers = parse([{"kind": "conv2d", "filters": 24, "kernel_size": 3, "output_shape": (26, 26, 24)}])
    assert parse([spec_entry(layer) for layer in layers]) == layers


# --- aligning a model with its spec ----------------------------------------------------------


def model_layers(*layers):
    return [Layer("flatten", {}), *layers]


def test_identical_layers_have_no_differences():
    assert compare_layers(parse(LAB1_MLP), model_layers(dense(128, "relu"), dense(10, "softmax"))) == []


def test_a_missing_layer_is_one_difference_not_a_cascade():
    differences = compare_layers(merge_activations(parse(LAB1_MLP)), model_layers(dense(10, "softmax")))
    assert aspects(differences) == [("missing layer", 2)]
    assert "Layer 2, Dense(128, activation='relu'), is missing: add it after layer 1, Flatten()" \
        in differences[0].message


def test_an_extra_layer_says_where_it_is():
    found = model_layers(dense(128, "relu"), Layer("dropout", {"rate": 0.5}, "drop"), dense(10, "softmax"))
    differences = compare_layers(parse(LAB1_MLP), found)
    assert aspects(differences) == [("extra layer", None)]
    assert "extra layer, Dropout(0.5) ('drop'), after layer 2, Dense(128, activation='relu')" \
        in differences[0].message


def test_a_replaced_layer_among_layers_of_the_same_kind_is_paired_by_position():
    found = model_layers(Layer("dropout", {"rate": 0.5}), dense(10, "softmax"))
    differences = compare_layers(parse(LAB1_MLP), found)
    assert aspects(differences) == [("layer kind", 2)]
    assert "should be Dense(128, activation='relu') but is Dropout(0.5)" in differences[0].message


def test_each_wrong_setting_is_its_own_difference_with_advice():
    found = model_layers(dense(64, "sigmoid", "fc1"), dense(10, "softmax"))
    differences = compare_layers(parse(LAB1_MLP), found)
    assert aspects(differences) == [("units", 2), ("activation", 2)]
    assert differences[0].message.startswith(
        "Layer 2 should be Dense(128, activation='relu') but is Dense(64, activation='sigmoid') ('fc1'): "
        "check the number of units")


def test_unspecified_settings_are_not_checked():
    loose = parse(["flatten", "dense", {"kind": "dense", "units": 10}])
    assert compare_layers(loose, model_layers(dense(7, "tanh"), dense(10, None))) == []


def test_combined_mutations_report_every_difference_in_order():
    spec = parse(LAB1_MLP + [{"kind": "dropout", "rate": 0.5}])
    found = [dense(32, "relu"), dense(10, "softmax"), Layer("batchnorm", {})]
    assert aspects(compare_layers(spec, found)) == [
        ("missing layer", 1), ("units", 2), ("layer kind", 4)]
