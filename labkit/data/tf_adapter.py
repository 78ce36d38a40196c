"""``tf.data`` pipelines over uint8 image arrays, for the Keras labs.

The pipeline shuffles and batches *indices*; a batched ``map`` then gathers those
rows from the NumPy array and converts them. The images never become a TensorFlow
constant, so a memory-mapped dataset is read only a batch at a time and the
pipeline's graph stays small. TensorFlow is imported when a pipeline is built.
"""

from __future__ import annotations

import numpy as np

from labkit.data.adapters import check_images_and_labels, check_positive_int, normalization


def to_tf_dataset(
    images,
    labels,
    *,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int | None = None,
    normalize="unit",
    channels_last: bool = True,
    one_hot: int | None = None,
    augment=None,
    drop_remainder: bool = False,
    prefetch: bool = True,
):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches ready for ``model.fit``.

    Parameters
    ----------
    images : uint8 array of shape (N, H, W)
        Raw pixels, as :func:`labkit.data.load` returns them; never copied whole.
    labels : integer array of shape (N,)
    batch_size : int
    shuffle : bool
        Visit the examples in a new random order every epoch.
    seed : int, optional
        Makes the sequence of epoch orders repeatable. By default it follows the
        global seed that :func:`labkit.device.setup` sets.
    normalize : "unit", a dataset name or a (mean, std) pair
        See :func:`labkit.data.adapters.normalization`.
    channels_last : bool
        Images come as (B, H, W, 1), Keras' layout; False gives (B, 1, H, W).
    one_hot : int, optional
        The number of classes: labels become float32 one-hot rows, for
        ``categorical_crossentropy``. By default they stay int64 class indices.
    augment : callable, optional
        Applied to each float32 image batch while pixels are still in [0, 1] (the
        background is 0), before normalisation; for example a ``keras.Sequential``
        of ``RandomRotation`` and ``RandomTranslation`` layers.
    drop_remainder : bool
        Drop the last, smaller batch, for models that need a fixed batch size.
    prefetch : bool
        Prepare the next batches while the model trains on the current one.

    Returns
    -------
    tf.data.Dataset
        float32 images and int64 (or one-hot float32) labels.
    """
    import tensorflow as tf

    images, labels = check_images_and_labels(images, labels)
    batch_size = check_positive_int(batch_size, "batch_size")
    pixel_scale = normalization(normalize)
    if one_hot is not None:
        _check_class_count(one_hot, labels)
    height, width = images.shape[1:]
    static_batch = batch_size if drop_remainder else None

    def gather(indices):
        # Runs as plain NumPy: fancy indexing copies just this batch's rows.
        return images[indices], np.asarray(labels[indices], dtype=np.int64)

    def load_batch(indices):
        pixels, batch_labels = tf.numpy_function(
            gather, [indices], (tf.uint8, tf.int64), stateful=False
        )
        pixels.set_shape((static_batch, height, width))
        batch_labels.set_shape((static_batch,))

        batch = tf.expand_dims(tf.cast(pixels, tf.float32) / 255.0, -1 if channels_last else 1)
        if augment is not None:
            batch = augment(batch)
        if not pixel_scale.is_unit:
            batch = (batch - pixel_scale.mean) / pixel_scale.std
        if one_hot is not None:
            batch_labels = tf.one_hot(batch_labels, one_hot)
        return batch, batch_labels

    order = tf.data.Dataset.range(len(images))
    if shuffle:
        # A buffer as large as the dataset gives a uniform shuffle; it holds
        # only int64 indices (8 bytes per example).
        order = order.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = order.batch(batch_size, drop_remainder=drop_remainder).map(
        load_batch, num_parallel_calls=tf.data.AUTOTUNE
    )
    return dataset.prefetch(tf.data.AUTOTUNE) if prefetch else dataset


def _check_class_count(n_classes, labels: np.ndarray) -> None:
    """tf.one_hot turns an out-of-range label into a row of zeros, silently; refuse instead."""
    check_positive_int(n_classes, "one_hot")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"one_hot={n_classes} but the labels run from {low} to {high}; pass the "
            "dataset's number of classes (len(labkit.data.class_names(name)))."
        )
