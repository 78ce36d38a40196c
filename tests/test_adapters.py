"""The TensorFlow and PyTorch adapters, on real MNIST test images.

Most behaviour is the same for both frameworks, so those tests run once per
framework through ``build`` (the adapter) and ``epoch`` (one pass as NumPy).
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

import labkit.data
from labkit.data.adapters import (
    DATASET_NORMALIZATION,
    UNIT,
    Normalization,
    compute_normalization,
    normalization,
)

N = 300  # examples per test: enough for several batches, small enough for 2 shared CPUs
BATCH = 64  # does not divide N, so the last batch is a short one


@pytest.fixture(scope="module")
def mnist_test(mirror_dir):
    """The real MNIST test split: read-only memory-mapped uint8 images and int64 labels."""
    return labkit.data.load("mnist", "test")


@pytest.fixture
def subset(mnist_test):
    images, labels = mnist_test
    return images[:N], labels[:N]


@pytest.fixture
def memmapped(tmp_path, mnist_test):
    """A .npy file of real images opened read-only, plus its path to change it behind the adapter's back."""
    path = tmp_path / "images.npy"
    np.save(path, mnist_test[0][:N])
    return np.load(path, mmap_mode="r"), mnist_test[1][:N], path


def _to_tf_dataset(*args, **kwargs):
    from labkit.data.tf_adapter import to_tf_dataset

    return to_tf_dataset(*args, **kwargs)


def _to_torch_loader(*args, **kwargs):
    from labkit.data.torch_adapter import to_torch_loader

    return to_torch_loader(*args, **kwargs)


@pytest.fixture(
    params=[
        pytest.param(_to_tf_dataset, id="tf", marks=pytest.mark.slow),
        pytest.param(_to_torch_loader, id="torch", marks=pytest.mark.slow),
    ]
)
def build(request):
    return request.param


def epoch(pipeline):
    """One pass over a pipeline: images as (B, 28, 28) float arrays and labels, per batch."""
    return [
        (np.asarray(images).reshape(len(labels), 28, 28), np.asarray(labels))
        for images, labels in pipeline
    ]


def as_pixels(batches) -> np.ndarray:
    """Undo "unit" normalisation: the uint8 images an epoch delivered, in order."""
    return np.rint(np.concatenate([images for images, _ in batches]) * 255).astype(np.uint8)


def label_order(batches) -> list[int]:
    return np.concatenate([labels for _, labels in batches]).tolist()


# --------------------------------------------------------------------------- normalisation
def test_the_dataset_constants_are_the_measured_mean_and_std(mirror_dir):
    for name in ("mnist", "fashion-mnist"):
        measured = compute_normalization(labkit.data.load(name, "train").images)
        assert measured.mean == pytest.approx(DATASET_NORMALIZATION[name].mean, abs=1e-4)
        assert measured.std == pytest.approx(DATASET_NORMALIZATION[name].std, abs=1e-4)
    # EMNIST's training images are not in the mirror; its byclass test split is a
    # large sample (116,323 images) of the same distribution.
    emnist = compute_normalization(labkit.data.load("emnist-byclass", "test").images)
    assert emnist.mean == pytest.approx(DATASET_NORMALIZATION["emnist-byclass"].mean, abs=1e-3)
    assert emnist.std == pytest.approx(DATASET_NORMALIZATION["emnist-byclass"].std, abs=1e-3)


def test_every_dataset_has_normalisation_constants():
    assert set(DATASET_NORMALIZATION) == set(labkit.data.names())


def test_compute_normalization_does_not_depend_on_the_chunk_size(subset):
    images = subset[0]
    whole = compute_normalization(images, chunk_size=len(images))
    assert compute_normalization(images, chunk_size=7) == whole
    pixels = images.astype(np.float64) / 255
    assert whole.mean == pytest.approx(pixels.mean(), rel=1e-12)
    assert whole.std == pytest.approx(pixels.std(), rel=1e-9)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("unit", UNIT),
        ("mnist", Normalization(0.1307, 0.3081)),
        ((0.5, 0.25), Normalization(0.5, 0.25)),
        (Normalization(0.1, 0.2), Normalization(0.1, 0.2)),
    ],
)
def test_normalization_specs(spec, expected):
    assert normalization(spec) == expected


@pytest.mark.parametrize("spec", ["imagenet", (0.5,), 0.5, None])
def test_an_unknown_normalization_spec_lists_the_choices(spec):
    with pytest.raises(ValueError, match="'unit', a \\(mean, std\\) pair, or one of the datasets mnist"):
        normalization(spec)


def test_a_normalization_needs_a_positive_std():
    with pytest.raises(ValueError, match="positive std"):
        Normalization(0.1, 0.0)


# --------------------------------------------------------------------------- both frameworks
def test_batches_have_the_promised_shapes_and_dtypes(build, subset):
    batches = epoch(build(*subset, batch_size=BATCH, shuffle=False))
    assert [len(labels) for _, labels in batches] == [BATCH] * (N // BATCH) + [N % BATCH]
    images, labels = batches[0]
    assert images.dtype == np.float32 and labels.dtype == np.int64


def test_a_known_pixel_is_normalised_with_the_dataset_constants(build, subset):
    images, labels = subset
    (first, _), *_ = epoch(build(images, labels, batch_size=BATCH, shuffle=False, normalize="mnist"))
    row, col = np.unravel_index(np.argmax(images[0]), images[0].shape)  # a stroke pixel
    assert images[0, row, col] > 0 and images[0, 0, 0] == 0
    assert first[0, row, col] == pytest.approx((images[0, row, col] / 255 - 0.1307) / 0.3081, rel=1e-6)
    assert first[0, 0, 0] == pytest.approx(-0.1307 / 0.3081, rel=1e-6)  # the background


def test_unit_normalisation_keeps_every_pixel_and_the_order(build, subset):
    images, labels = subset
    batches = epoch(build(images, labels, batch_size=BATCH, shuffle=False, normalize="unit"))
    delivered = np.concatenate([batch for batch, _ in batches])
    assert delivered.min() >= 0 and delivered.max() <= 1
    assert np.array_equal(as_pixels(batches), images)
    assert label_order(batches) == labels.tolist()


def test_every_example_is_seen_exactly_once_per_shuffled_epoch(build, subset):
    images, labels = subset
    pipeline = build(images, labels, batch_size=BATCH, shuffle=True, seed=1)
    expected = Counter(zip(map(bytes, images), labels.tolist()))
    for _ in range(2):
        batches = epoch(pipeline)
        assert Counter(zip(map(bytes, as_pixels(batches)), label_order(batches))) == expected


def test_a_seed_fixes_the_order_of_every_epoch(build, subset):
    first, same_seed, other_seed = (
        build(*subset, batch_size=BATCH, shuffle=True, seed=seed) for seed in (7, 7, 8)
    )
    epochs = [label_order(epoch(first)), label_order(epoch(first))]
    assert epochs[0] != subset[1].tolist()  # shuffled at all
    assert epochs[0] != epochs[1]  # and reshuffled for the next epoch
    assert [label_order(epoch(same_seed)) for _ in range(2)] == epochs
    assert label_order(epoch(other_seed)) != epochs[0]


def test_augmentation_sees_unit_pixels_before_normalisation(build, subset):
    images, labels = subset
    pipeline = build(
        images, labels, batch_size=BATCH, shuffle=False, normalize="mnist", augment=lambda b: 1.0 - b
    )
    (first, _), *_ = epoch(pipeline)
    expected = ((1.0 - images[:BATCH] / 255) - 0.1307) / 0.3081
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)


def test_a_memory_mapped_dataset_is_read_lazily_not_copied(build, memmapped):
    images, labels, path = memmapped
    pipeline = build(images, labels, batch_size=BATCH, shuffle=False)
    assert as_pixels(epoch(pipeline))[0].max() > 0

    writable = np.load(path, mmap_mode="r+")
    writable[0] = 255  # change the file after the pipeline was built
    writable.flush()

    assert (as_pixels(epoch(pipeline))[0] == 255).all()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y: (x.astype(np.float32) / 255, y), "images must be uint8"),
        (lambda x, y: (x[:, :, :, None], y), "images must be uint8 pixels of shape \\(N, height, width\\)"),
        (lambda x, y: (x, y[:-1]), "300 images but 299 labels"),
        (lambda x, y: (x, y.astype(np.float32)), "integer class indices"),
        (lambda x, y: (x[:0], y[:0]), "empty"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(build, subset, change, message):
    with pytest.raises(ValueError, match=message):
        build(*change(*subset), batch_size=BATCH)


def test_a_bad_batch_size_is_refused(build, subset):
    with pytest.raises(ValueError, match="batch_size=0 must be a positive integer"):
        build(*subset, batch_size=0)


# --------------------------------------------------------------------------- TensorFlow only
@pytest.mark.slow
def test_tf_layouts_and_static_shapes(subset):
    from labkit.data.tf_adapter import to_tf_dataset

    channels_last = to_tf_dataset(*subset, batch_size=BATCH)
    assert channels_last.element_spec[0].shape.as_list() == [None, 28, 28, 1]
    channels_first = to_tf_dataset(*subset, batch_size=BATCH, channels_last=False, drop_remainder=True)
    assert channels_first.element_spec[0].shape.as_list() == [BATCH, 1, 28, 28]
    assert channels_first.element_spec[1].shape.as_list() == [BATCH]
    assert len(list(channels_first)) == N // BATCH


@pytest.mark.slow
def test_tf_one_hot_labels(subset):
    from labkit.data.tf_adapter import to_tf_dataset

    images, labels = subset
    (_, one_hot), *_ = epoch(to_tf_dataset(images, labels, batch_size=BATCH, shuffle=False, one_hot=10))
    assert one_hot.dtype == np.float32 and one_hot.shape == (BATCH, 10)
    assert (one_hot.sum(axis=1) == 1).all()
    assert np.array_equal(one_hot.argmax(axis=1), labels[:BATCH])


@pytest.mark.slow
def test_tf_one_hot_refuses_labels_beyond_the_class_count(subset):
    from labkit.data.tf_adapter import to_tf_dataset

    with pytest.raises(ValueError, match="one_hot=5 but the labels run from 0 to 9"):
        to_tf_dataset(*subset, one_hot=5)


# --------------------------------------------------------------------------- PyTorch only
@pytest.mark.slow
def test_torch_loader_layout_and_lengths(subset):
    from labkit.data.torch_adapter import to_torch_loader

    loader = to_torch_loader(*subset, batch_size=BATCH, drop_last=True)
    images, labels = next(iter(loader))
    assert tuple(images.shape) == (BATCH, 1, 28, 28) and tuple(labels.shape) == (BATCH,)
    assert len(loader) == N // BATCH and len(loader.dataset) == N


@pytest.mark.slow
def test_torch_loader_delivers_batches_on_the_requested_device(subset):
    from labkit.data.torch_adapter import to_torch_loader

    # "meta" is a real PyTorch device without storage: any machine can move tensors there.
    images, labels = next(iter(to_torch_loader(*subset, batch_size=BATCH, device="meta")))
    assert images.device.type == labels.device.type == "meta"


@pytest.mark.slow
def test_torch_tensors_match_the_loader_and_share_writable_labels(subset):
    from labkit.data.torch_adapter import to_torch_loader, to_torch_tensors

    images, labels = subset
    writable_labels = np.array(labels)
    all_images, all_labels = to_torch_tensors(images, writable_labels, normalize="fashion-mnist")

    assert tuple(all_images.shape) == (N, 1, 28, 28) and str(all_images.dtype) == "torch.float32"
    assert np.shares_memory(all_labels.numpy(), writable_labels)  # torch.from_numpy, no copy
    first, first_labels = next(iter(to_torch_loader(
        images, labels, batch_size=BATCH, shuffle=False, normalize="fashion-mnist"
    )))
    assert np.array_equal(all_images[:BATCH].numpy(), first.numpy())
    assert np.array_equal(all_labels[:BATCH].numpy(), first_labels.numpy())


@pytest.mark.slow
def test_torch_tensors_from_read_only_arrays_raise_no_warning(subset):
    from labkit.data.torch_adapter import to_torch_tensors

    images, labels = subset
    assert not images.flags.writeable and not labels.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it is handed a read-only array
        _, tensor_labels = to_torch_tensors(images, labels)
    assert np.array_equal(tensor_labels.numpy(), labels)


@pytest.mark.slow
def test_torch_worker_processes_deliver_the_same_batches(subset):
    from labkit.data.torch_adapter import to_torch_loader

    in_process, with_worker = (
        epoch(to_torch_loader(*subset, batch_size=BATCH, seed=3, num_workers=workers))
        for workers in (0, 1)
    )
    assert label_order(with_worker) == label_order(in_process)
    assert np.array_equal(as_pixels(with_worker), as_pixels(in_process))
