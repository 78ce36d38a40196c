"""labkit.models: the six architectures match their specs, learn, and save safely; the loop helpers work."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import labkit  # noqa: E402
from labkit import models  # noqa: E402


# Parameter counts written out from the layer sizes of each architecture's spec.
def conv(cin, cout, k, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def dense(n_in, n_out):
    return n_in * n_out + n_out


def bn(channels):
    return 2 * channels  # scale and shift; the running averages are buffers, not parameters


def lenet_params(classes, c1=6, c2=16, h1=120, h2=84):
    return conv(1, c1, 5) + conv(c1, c2, 5) + dense(c2 * 9, h1) + bn(h1) + dense(h1, h2) + bn(h2) + dense(h2, classes)


def alexnet_params(classes, c=(16, 48, 96, 64), hidden=1024):
    c1, c2, c3, c4 = c
    features = conv(1, c1, 3) + conv(c1, c2, 3) + conv(c2, c3, 3) + conv(c3, c4, 3) + conv(c4, c4, 3)
    return features + dense(c4 * 9, hidden) + bn(hidden) + dense(hidden, hidden) + bn(hidden) + dense(hidden, classes)


def vgg_params(classes, c=(16, 32, 64, 64, 128, 128, 128, 128), hidden=512, batch_norm=False):
    features = sum(conv(a, b, 3) + (bn(b) if batch_norm else 0) for a, b in zip((1, *c[:-1]), c))
    classifier = dense(c[-1] * 9, hidden) + bn(hidden) + dense(hidden, hidden) + bn(hidden) + dense(hidden, classes)
    return features + classifier


def resnet_params(classes, stages=(16, 32, 64, 128)):
    def block(cin, cout):
        shortcut = conv(cin, cout, 1, bias=False) + bn(cout) if cin != cout else 0
        return conv(cin, cout, 3, bias=False) + bn(cout) + conv(cout, cout, 3, bias=False) + bn(cout) + shortcut

    total, previous = conv(1, stages[0], 3, bias=False) + bn(stages[0]), stages[0]
    for channels in stages:
        total += block(previous, channels) + block(channels, channels)
        previous = channels
    return total + dense(previous, classes)


def spinalnet_params(classes, c1=32, c2=64, units=50):
    half = c2 * 49 // 2
    head = dense(half, units) + 3 * dense(half + units, units) + dense(4 * units, classes)
    return conv(1, c1, 5) + bn(c1) + conv(c1, c2, 5) + bn(c2) + head


def ensnet_params(classes, c=(64, 128, 256, 512, 1024, 2000)):
    features = sum(conv(a, b, 3) + bn(b) for a, b in zip((1, *c[:-1]), c))
    return features + dense(c[-1] * 9, classes) + 10 * dense(c[-1] // 10 * 9, classes) + 11


SOURCE_SIZES = {
    "lenet": lenet_params(62),
    "alexnet": alexnet_params(62),
    "vgg": vgg_params(62),
    "resnet": resnet_params(62),
    "spinalnet": spinalnet_params(62),
    "ensnet": ensnet_params(62),
}
"""Parameters at width 1.0 (the lab source's sizes) and 62 classes."""

HALF_WIDTH_SIZES = {
    "lenet": lenet_params(10, 3, 8, 60, 42),
    "alexnet": alexnet_params(10, (8, 24, 48, 32), 512),
    "vgg": vgg_params(10, (8, 16, 32, 32, 64, 64, 64, 64), 256),
    "resnet": resnet_params(10, (8, 16, 32, 64)),
    "spinalnet": spinalnet_params(10, 16, 32, 25),
    "ensnet": ensnet_params(10, (32, 64, 128, 256, 512, 1000)),
}
"""Parameters at width 0.5 and 10 classes (MNIST): every channel and unit count halved."""


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def real_batch():
    """64 genuine EMNIST ByClass test images, normalised as the lab feeds them, with their labels."""
    images, labels = labkit.data.load("emnist-byclass", "test")
    x, y = labkit.data.to_torch_tensors(images[:64], labels[:64], normalize="emnist-byclass")
    return x, y


@pytest.mark.parametrize("name", list(models.ARCHITECTURES))
def test_source_size_has_the_specified_parameters_and_output_shape(name):
    torch.manual_seed(0)
    model = models.build(name, num_classes=62, width=1.0).eval()
    assert count(model) == SOURCE_SIZES[name]
    with torch.no_grad():
        assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 62)


@pytest.mark.parametrize("name", list(models.ARCHITECTURES))
def test_width_scales_every_layer_and_the_class_count_is_configurable(name):
    model = models.build(name, num_classes=10, width=0.5).eval()
    assert count(model) == HALF_WIDTH_SIZES[name]
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_vgg_with_batch_norm_adds_one_per_convolution():
    assert count(models.VGG(num_classes=62, batch_norm=True)) == vgg_params(62, batch_norm=True)


def test_spinal_head_reads_alternating_halves():
    """Each spinal layer's output depends only on the half of the features the spec gives it."""
    torch.manual_seed(0)
    head = models.SpinalHead(in_features=8, units=3, num_classes=5).eval()
    x = torch.randn(1, 8)
    changed_second_half = x.clone()
    changed_second_half[:, 4:] += 1.0
    first_layer = head.spinal[0]
    assert first_layer.in_features == 4 and all(layer.in_features == 4 + 3 for layer in head.spinal[1:])
    assert torch.equal(first_layer(x[:, :4]), first_layer(changed_second_half[:, :4]))
    assert not torch.allclose(head(x), head(changed_second_half))


@pytest.mark.parametrize("name", list(models.ARCHITECTURES))
def test_one_training_step_reduces_the_loss_on_a_fixed_batch(name, real_batch):
    torch.manual_seed(0)
    model = models.build(name, num_classes=62, width=0.25)
    x, y = real_batch

    def training_loss():
        torch.manual_seed(1)  # the same dropout masks before and after the step
        model.train()
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(model(x), y).item()

    before = training_loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.0)
    torch.manual_seed(1)
    step_loss = models.train_epoch(model, [(x, y)], optimizer, device="cpu")
    after = training_loss()
    assert step_loss == pytest.approx(before, rel=1e-4)  # train_epoch reports the loss it stepped on
    assert after < before


def test_predict_gives_probabilities_in_order(real_batch):
    torch.manual_seed(0)
    model = models.LeNet(num_classes=62)
    x, y = real_batch
    batches = [(x[:40], y[:40]), (x[40:], y[40:])]
    probabilities = models.predict(model, batches, device="cpu")
    assert probabilities.shape == (64, 62) and probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        assert np.allclose(probabilities, torch.softmax(model(x), dim=1).numpy(), atol=1e-6)
    assert not model.training
    assert models.mean_loss(model, batches, device="cpu") == pytest.approx(
        -np.log(probabilities[np.arange(64), y.numpy()]).mean(), rel=1e-4)


def test_a_diverging_run_says_to_lower_the_learning_rate(real_batch):
    model = models.LeNet(num_classes=62)
    x, y = real_batch
    optimizer = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(FloatingPointError, match="learning rate is too high"):
        models.train_epoch(model, [(x, y)] * 3, optimizer, device="cpu")


def test_sample_settings_draws_distinct_combinations_of_the_grid_that_vary_with_the_seed():
    """The search's draw (lab 5's random_search trains one new model per setting drawn here)."""
    grid = {"learning_rate": [1e-3, 1e-1], "batch_size": [16, 32], "momentum": [0, 0.9], "weight_decay": [0]}
    drawn = models.sample_settings(grid, trials=3, seed=1)
    assert len(drawn) == 3 and len({tuple(sorted(s.items())) for s in drawn}) == 3
    assert all(set(s) == set(grid) and all(s[k] in grid[k] for k in grid) for s in drawn)
    assert drawn == models.sample_settings(grid, trials=3, seed=1)
    draws = {frozenset(tuple(sorted(s.items())) for s in models.sample_settings(grid, 3, seed)) for seed in range(5)}
    assert len(draws) > 1
    assert len(models.sample_settings(grid, trials=100)) == 8  # the whole grid, each once


def test_saved_weights_reload_into_the_same_architecture(tmp_path, real_batch):
    torch.manual_seed(0)
    model = models.ResNet(num_classes=62, width=0.25).eval()
    path = models.save_state(model, tmp_path / "resnet.safetensors")
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    assert [p.name for p in tmp_path.iterdir()] == ["resnet.safetensors"]  # no temporary file left

    restored = models.load_state(models.ResNet(num_classes=62, width=0.25), path).eval()
    x, _ = real_batch
    with torch.no_grad():
        assert torch.equal(model(x), restored(x))
    with pytest.raises(ValueError, match="same architecture and width"):
        models.load_state(models.ResNet(num_classes=62, width=0.5), path)
    with pytest.raises(FileNotFoundError, match="save cell"):
        models.load_state(model, tmp_path / "missing.safetensors")


def test_bad_sizes_are_refused_clearly():
    with pytest.raises(ValueError, match="unknown architecture 'lenet5'"):
        models.build("lenet5")
    with pytest.raises(ValueError, match="width"):
        models.VGG(width=0)
    with pytest.raises(ValueError, match="num_classes"):
        models.LeNet(num_classes=1)


def test_importing_labkit_models_does_not_import_torch():
    code = "import sys, labkit, labkit.models; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
