"""labkit.check on torch modules: lab 1's models written the PyTorch ways, mutations, broken behaviour."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labkit
from labkit import check

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
IMAGE = (1, 28, 28)  # channels first
MLP_PARAMS = (784 * 128 + 128) + (128 * 10 + 10)
CNN_PARAMS = (3 * 3 * 24 + 24) + (3 * 3 * 24 * 36 + 36) + (5 * 5 * 36 * 128 + 128) + (128 * 10 + 10)


def mlp(*hidden, head=True):
    """Lab 1's dense network as an nn.Sequential; ``hidden`` replaces its middle."""
    middle = hidden or (nn.Linear(784, 128), nn.ReLU())
    return nn.Sequential(nn.Flatten(), *middle, nn.Linear(128, 10), *([nn.Softmax(dim=1)] if head else []))


class FunctionalCNN(nn.Module):
    """Lab 1's CNN as people write it in PyTorch: F.relu, one pool module used twice, x.view."""

    def __init__(self, first_kernel=3, second_conv=True, units=128):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 24, first_kernel)
        self.conv2 = nn.Conv2d(24, 36, 3) if second_conv else None
        self.pool = nn.MaxPool2d(2)
        side = (28 - first_kernel + 1) // 2
        side, channels = ((side - 2) // 2, 36) if second_conv else (side // 2, 24)
        self.fc1 = nn.Linear(channels * side * side, units)
        self.fc2 = nn.Linear(units, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        if self.conv2 is not None:
            x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        else:
            x = self.pool(x)
        x = x.view(x.size(0), -1)
        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


class Cut(nn.Module):
    """An MLP whose hidden layer is detached from the loss: its parameters never learn."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = nn.Linear(784, 128), nn.Linear(128, 10)

    def forward(self, x):
        return F.softmax(self.out(F.relu(self.hidden(torch.flatten(x, 1))).detach()), dim=1)


class Unused(nn.Module):
    """An MLP with a layer that is registered but never called in forward."""

    def __init__(self):
        super().__init__()
        self.body, self.spare = mlp(), nn.Linear(3, 3)

    def forward(self, x):
        return self.body(x)


def aspects(report):
    return [(d.aspect, d.layer) for d in report.differences]


@pytest.fixture(scope="module")
def digits(mirror_dir):
    """64 genuine MNIST test digits, (N, 1, 28, 28) in [0, 1], as the PyTorch lab feeds them."""
    images, labels = labkit.data.load("mnist", "test")
    return images[:64, None].astype("float32") / 255, labels[:64]


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


# --- architecture ----------------------------------------------------------------------------


def test_linear_then_relu_is_a_dense_layer_with_relu():
    report = check.architecture(mlp(), MLP, input_shape=IMAGE, output_shape=(10,), params=MLP_PARAMS)
    assert report and "3 layers, 101,770 trainable parameters" in str(report)
    assert check.spec_of(mlp(), IMAGE) == [
        {"kind": "flatten", "output_shape": (784,), "params": 0},
        {"kind": "dense", "units": 128, "activation": "relu", "output_shape": (128,), "params": 100_480},
        {"kind": "dense", "units": 10, "activation": "softmax", "output_shape": (10,), "params": 1_290},
    ]


def test_functional_calls_and_a_reused_module_are_read_in_the_order_they_run():
    report = check.architecture(FunctionalCNN(), CNN, input_shape=IMAGE, params=CNN_PARAMS)
    assert report, str(report)
    assert [entry["output_shape"] for entry in check.spec_of(FunctionalCNN(), IMAGE)] == [
        (24, 26, 26), (24, 13, 13), (36, 11, 11), (36, 5, 5), (900,), (128,), (10,)]


def test_sequential_and_functional_forms_read_alike():
    sequential = nn.Sequential(
        nn.Conv2d(1, 24, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(24, 36, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(900, 128), nn.ReLU(), nn.Linear(128, 10),
        nn.Softmax(dim=1))
    assert check.spec_of(sequential, IMAGE) == check.spec_of(FunctionalCNN(), IMAGE)


@pytest.mark.parametrize("model, expected, words", [
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(dim=1)),
     [("missing layer", 2)], "Layer 2, Dense(128, activation='relu'), is missing"),
    (mlp(nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2)),
     [("extra layer", None)], "extra layer, Dropout(0.2) ('3')"),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1)),
     [("units", 2)], "but is Dense(64, activation='relu') ('1')"),
    (mlp(nn.Linear(784, 128), nn.Tanh()),
     [("activation", 2)], "but is Dense(128, activation='tanh')"),
    (mlp(nn.Linear(784, 128)),
     [("activation", 2)], "but is Dense(128, activation=None)"),
], ids=["missing layer", "extra layer", "wrong units", "wrong activation", "no activation"])
def test_each_mlp_mutation_is_reported_as_exactly_that_difference(model, expected, words):
    report = check.architecture(model, MLP, input_shape=IMAGE)
    assert aspects(report) == expected
    assert words in str(report)


def test_a_wrong_kernel_size_is_reported_as_exactly_that_difference():
    report = check.architecture(FunctionalCNN(first_kernel=5), CNN, input_shape=IMAGE)
    assert aspects(report) == [("kernel_size", 1)]
    assert "but is Conv2D(24, kernel_size=5, activation='relu') ('conv1')" in str(report)


def test_combined_mutations_report_every_difference():
    model = FunctionalCNN(first_kernel=5, second_conv=False, units=64)
    report = check.architecture(model, CNN, input_shape=IMAGE, output_shape=(10,), params=CNN_PARAMS)
    assert aspects(report) == [("kernel_size", 1), ("missing layer", 3), ("units", 6), ("params", None)]
    assert "Layer 3, Conv2D(36, kernel_size=3, activation='relu'), is missing: add it after layer 2" \
        in str(report)


def test_a_model_that_cannot_run_is_one_difference_and_a_missing_shape_an_error():
    report = check.architecture(FunctionalCNN(), CNN, input_shape=(3, 28, 28))
    assert aspects(report) == [("forward pass", None)]
    assert "cannot process images of shape (3, 28, 28)" in str(report)
    with pytest.raises(ValueError, match="input_shape=\\(1, 28, 28\\)"):
        check.architecture(FunctionalCNN(), CNN)


# --- behaviour -------------------------------------------------------------------------------


def test_distribution_checks_follow_the_loss(digits):
    images, _ = digits
    assert check.output_is_distribution(mlp(), images, n_classes=10)
    logits = mlp(head=False)
    assert check.output_is_distribution(logits, images, n_classes=10, from_logits=True)
    assert [d.aspect for d in check.output_is_distribution(logits, images).differences] == [
        "not probabilities"]
    doubled = check.output_is_distribution(mlp(), images, from_logits=True)
    assert [d.aspect for d in doubled.differences] == ["already probabilities"]
    assert "nn.CrossEntropyLoss" in str(doubled)


def test_initial_loss_is_near_ln_c_unless_the_inputs_are_unscaled(digits):
    images, labels = digits
    assert check.initial_loss(mlp(head=False), images, labels, n_classes=10, from_logits=True)
    unscaled = check.initial_loss(mlp(head=False), images * 255, labels, n_classes=10, from_logits=True)
    assert [d.aspect for d in unscaled.differences] == ["initial loss too high"]


def test_a_sound_model_overfits_one_batch_and_is_left_as_it_was(digits):
    images, labels = digits
    model = mlp(head=False).eval()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    report = check.can_overfit_batch(model, images[:32], labels[:32], from_logits=True)
    assert report, str(report)
    assert not model.training
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())


def test_a_frozen_model_cannot_overfit(digits):
    images, labels = digits
    frozen = mlp().requires_grad_(False)
    report = check.can_overfit_batch(frozen, images[:32], labels[:32], steps=20)
    assert [d.aspect for d in report.differences] == ["loss did not fall"]


def test_gradients_stop_at_a_detach_and_skip_frozen_or_unused_layers(digits):
    images, labels = digits
    assert check.gradients_reach_all_parameters(mlp(), images, labels)
    cut = check.gradients_reach_all_parameters(Cut(), images, labels)
    assert [d.aspect for d in cut.differences] == ["no gradient"]
    assert "'hidden.weight' and 'hidden.bias'" in str(cut)

    frozen = mlp()
    frozen[1].requires_grad_(False)
    report = check.gradients_reach_all_parameters(frozen, images, labels)
    assert [d.aspect for d in report.differences] == ["frozen"]
    assert "'1.weight' and '1.bias' are frozen" in str(report)
    assert check.gradients_reach_all_parameters(frozen, images, labels, allow_frozen=True)

    unused = Unused()
    assert [d.aspect for d in check.gradients_reach_all_parameters(unused, images, labels).differences] \
        == ["no gradient"]


def _step(learning_rate=0.1, sign=1.0, zero_grad=True, update=True):
    """A training step on (model, (x, y)), plain SGD by hand; the defaults make it the reference.

    Gradients live on the parameters between calls, so leaving out zero_grad
    piles them up exactly as in a student's training loop.
    """
    def step(model, batch):
        x, y = batch
        if zero_grad:
            model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if update:
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter -= sign * learning_rate * parameter.grad
    return step


@pytest.fixture(scope="module")
def batch(digits):
    images, labels = digits
    return torch.tensor(images[:16]), torch.tensor(labels[:16])


@pytest.mark.parametrize("student, expected", [
    (_step(), []),
    (_step(sign=-1.0), ["opposite direction"]),
    (_step(learning_rate=0.01), ["step size"]),
    (_step(update=False), ["not updated"]),
], ids=["correct", "ascent", "learning rate", "no update"])
def test_a_training_step_is_compared_with_the_reference(batch, student, expected):
    report = check.training_step_matches(student, _step(), lambda: mlp(head=False), batch)
    assert [d.aspect for d in report.differences] == expected


def test_a_forgotten_zero_grad_shows_in_the_second_step(batch):
    report = check.training_step_matches(_step(zero_grad=False), _step(), lambda: mlp(head=False), batch)
    assert not report
    assert "(step 2; the steps before it matched)" in str(report)
    assert "optimizer.zero_grad()" in str(report)
    assert check.training_step_matches(_step(zero_grad=False), _step(), lambda: mlp(head=False), batch,
                                       steps=1)


def test_a_random_reference_step_is_refused(batch):
    with_dropout = lambda: nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10))  # noqa: E731
    with pytest.raises(ValueError, match="remove dropout"):
        check.training_step_matches(_step(), _step(), with_dropout, batch)
