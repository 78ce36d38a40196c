"""Training curves: per-epoch history with its learning-rate track, and per-batch losses."""

from __future__ import annotations

import numpy as np
import pytest

import labkit.plot as lp
from labkit.plot._history import trailing_mean
from tests.plot_data import load_test_split

LOGS = {
    "loss": [1.21, 0.58, 0.41, 0.33, 0.29, 0.27],
    "val_loss": [0.74, 0.49, 0.44, 0.42, 0.40, 0.40],
    "accuracy": [0.64, 0.83, 0.88, 0.90, 0.91, 0.92],
    "val_accuracy": [0.78, 0.85, 0.87, 0.88, 0.89, 0.89],
}


def test_history_draws_train_and_validation_per_metric_and_no_rate_unless_logged():
    fig = lp.history(LOGS)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    for ax, metric in zip(fig.axes, ("loss", "accuracy")):
        train, validation = ax.get_lines()
        assert (train.get_label(), validation.get_label()) == ("train", "validation")
        np.testing.assert_allclose(train.get_ydata(), LOGS[metric])
        np.testing.assert_allclose(validation.get_ydata(), LOGS[f"val_{metric}"])
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4, 5, 6])
        assert ax.get_yscale() == "linear"


@pytest.mark.parametrize("key", ["learning_rate", "lr"])
def test_a_logged_learning_rate_gets_a_log_scale_panel(key):
    rates = [1e-3, 1e-3, 1e-3, 3e-4, 3e-4, 9e-5]
    fig = lp.history({**LOGS, key: rates}, metrics="loss", title="CNN + annealing")
    loss_ax, rate_ax = fig.axes
    assert rate_ax.get_title() == "Learning rate" and rate_ax.get_yscale() == "log"
    np.testing.assert_allclose(rate_ax.get_lines()[0].get_ydata(), rates)
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train", "validation"]


def test_history_without_validation_and_with_unknown_metrics():
    fig = lp.history({"loss": LOGS["loss"]}, metrics=["loss"])
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train"]
    with pytest.raises(ValueError, match=r"no 'accuracy'; it logged \['loss'\]"):
        lp.history({"loss": LOGS["loss"]})
    with pytest.raises(TypeError, match="what model.fit returns"):
        lp.history([0.5, 0.4])


def test_batch_losses_use_a_log_axis_and_a_running_mean():
    losses = np.geomspace(2.3, 0.05, 500) * np.random.default_rng(4).lognormal(0, 0.3, 500)
    fig = lp.batch_losses(losses, smooth=25)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    raw, smoothed = ax.get_lines()
    np.testing.assert_allclose(raw.get_ydata(), losses)
    np.testing.assert_allclose(smoothed.get_ydata(), trailing_mean(losses, 25))
    assert len(lp.batch_losses(losses, smooth=None).axes[0].get_lines()) == 1


def test_a_diverged_loss_is_explained():
    with pytest.raises(ValueError, match="batch 3 is nan.*lower the learning rate"):
        lp.batch_losses([0.9, 0.7, float("nan"), 0.5])


@pytest.mark.slow
def test_a_real_keras_history_with_reduce_lr_on_plateau(mirror_dir):
    """Keras 3 logs the rate as ``learning_rate``; the plot must find it in a real ``History``."""
    import keras

    images, labels, _ = load_test_split("mnist", 512)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10.0, factor=0.5)
    trained = model.fit(images, labels, epochs=3, batch_size=128, validation_split=0.25, verbose=0,
                        callbacks=[plateau])
    fig = lp.history(trained)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy", "Learning rate"]
    np.testing.assert_allclose(fig.axes[2].get_lines()[0].get_ydata(), trained.history["learning_rate"])
    assert fig.axes[2].get_lines()[0].get_ydata()[-1] < fig.axes[2].get_lines()[0].get_ydata()[0]
