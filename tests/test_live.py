"""Live training curves and progress bars, in each place a lab runs: headless, terminal, notebook."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import labkit
from labkit.live import LivePlot, panel_layout, progress

EPOCHS = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.7, 0.6], "accuracy": [0.6, 0.8, 0.9]}


def record(live: LivePlot, curves: dict[str, list[float]]) -> None:
    """Feed ``curves`` to ``live`` one epoch at a time, epochs counted from 1."""
    for epoch, values in enumerate(zip(*curves.values()), start=1):
        live.update(epoch, **dict(zip(curves, values)))


def drawn(figure) -> dict[str, dict[str, list[float]]]:
    """What a figure shows: ``{panel title: {curve label: y values}}``."""
    return {ax.get_title(): {line.get_label(): line.get_ydata().tolist() for line in ax.lines}
            for ax in figure.axes}


@pytest.fixture
def headless(monkeypatch):
    monkeypatch.setenv("LABKIT_HEADLESS", "1")


@pytest.fixture
def console(monkeypatch):
    """A person running a plain script: nothing marks the run as headless."""
    for name in ("LABKIT_HEADLESS", "CI", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def mnist_256(mirror_dir) -> tuple[np.ndarray, np.ndarray]:
    """256 genuine MNIST training images, scaled to [0, 1], and their labels."""
    images, labels = labkit.data.load("mnist", "train")
    return np.asarray(images[:256], dtype=np.float32) / 255.0, np.array(labels[:256])


def test_headless_shows_nothing_during_training_then_draws_one_figure(headless, tmp_path, capsys):
    live = LivePlot(every=0, save_to=tmp_path / "curves.png")
    record(live, EPOCHS)

    assert live.mode == "headless"
    assert live.figure is None, "nothing may be drawn while a headless run trains"
    assert not (tmp_path / "curves.png").exists()

    figure = live.finish()
    assert drawn(figure) == {
        "loss": {"loss": EPOCHS["loss"], "val_loss": EPOCHS["val_loss"]},
        "accuracy": {"accuracy": EPOCHS["accuracy"]},
    }
    assert figure.axes[0].lines[0].get_xdata().tolist() == [1, 2, 3]
    assert live.finish() is figure, "finishing again redraws the same figure, never a new one"
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert capsys.readouterr() == ("", "")


def test_console_prints_one_summary_line_per_redraw(console, capsys):
    live = LivePlot(every=0)
    record(live, EPOCHS)
    lines = capsys.readouterr().out.splitlines()
    assert live.mode == "console"
    assert lines == [
        "epoch 1: loss 0.9, val_loss 1, accuracy 0.6",
        "epoch 2: loss 0.5, val_loss 0.7, accuracy 0.8",
        "epoch 3: loss 0.3, val_loss 0.6, accuracy 0.9",
    ]
    live.finish()
    assert capsys.readouterr().out.splitlines() == [lines[-1]]


def test_redraws_are_throttled_but_the_end_is_always_shown(console, capsys):
    live = LivePlot(every=3600)
    record(live, EPOCHS)
    assert capsys.readouterr().out.splitlines() == ["epoch 1: loss 0.9, val_loss 1, accuracy 0.6"]
    live.finish()
    assert capsys.readouterr().out.splitlines() == ["epoch 3: loss 0.3, val_loss 0.6, accuracy 0.9"]


def test_history_keeps_each_curve_with_its_own_steps(headless):
    live = LivePlot(x_label="iteration")
    for step in range(1, 7):
        live.update(step, loss=1.0 / step)
        if step % 3 == 0:
            live.update(step, val_loss=2.0 / step)
    steps, values = live.history["val_loss"]
    assert steps.tolist() == [3, 6] and values.tolist() == [2.0 / 3, 2.0 / 6]
    assert live.history["loss"][0].tolist() == [1, 2, 3, 4, 5, 6]
    assert live.finish().axes[0].get_xlabel() == "iteration"


def test_validation_curves_share_their_training_curve_panel():
    assert panel_layout(["val_accuracy", "loss", "accuracy", "val_loss", "lr"]) == {
        "accuracy": ["accuracy", "val_accuracy"],
        "loss": ["loss", "val_loss"],
        "lr": ["lr"],
    }


def test_bad_values_are_refused_with_a_way_out(headless):
    live = LivePlot()
    with pytest.raises(ValueError, match=r"live.update\(step, loss=loss\)"):
        live.update(1)
    with pytest.raises(TypeError, match=r"single number; got ndarray of shape \(3,\)"):
        live.update(1, loss=np.ones(3))
    with pytest.raises(ValueError, match="Nothing was recorded"):
        live.finish()
    with pytest.raises(ValueError, match="seconds"):
        LivePlot(every=-1)


def test_headless_progress_bar_is_drawn_only_at_start_and_end(headless, capsys):
    items = []
    for item in progress(range(10), desc="train"):
        time.sleep(0.03)  # long enough for an animated bar to redraw several times
        items.append(item)
    err = capsys.readouterr().err
    assert items == list(range(10))
    assert "0/10" in err and "10/10" in err
    assert not any(f" {done}/10" in err for done in range(1, 10)), err


def test_progress_passes_the_iterable_through_in_a_terminal(console):
    assert list(progress(["a", "b"], unit="batch")) == ["a", "b"]


@pytest.mark.slow
def test_keras_callback_records_every_epoch_and_finishes_with_fit(headless, mnist_256):
    import keras

    images, labels = mnist_256
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    live = LivePlot()
    history = model.fit(images, labels, epochs=2, batch_size=64, validation_split=0.25,
                        callbacks=[live.keras_callback()], verbose=0).history

    assert live.figure is not None, "the callback finishes the plot when fit ends"
    shown = drawn(live.figure)
    assert shown["loss"] == {"loss": history["loss"], "val_loss": history["val_loss"]}
    assert shown["accuracy"] == {"accuracy": history["accuracy"], "val_accuracy": history["val_accuracy"]}


@pytest.mark.slow
def test_gradient_tape_loop_passes_tensors_as_they_are(headless, mnist_256):
    import keras
    import tensorflow as tf

    images, labels = mnist_256
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    optimizer = keras.optimizers.SGD(0.1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    live, expected = LivePlot(x_label="iteration"), []
    for step, start in enumerate(range(0, 256, 64)):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels[start:start + 64], model(images[start:start + 64], training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        live.update(step, loss=loss)
        expected.append(float(loss.numpy()))
    assert drawn(live.finish()) == {"loss": {"loss": expected}}


@pytest.mark.slow
def test_pytorch_loop_passes_tensors_as_they_are(headless, mnist_256):
    import torch

    images, labels = (torch.from_numpy(array) for array in mnist_256)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    live, expected = LivePlot(x_label="iteration"), []
    for step, start in enumerate(range(0, 256, 64)):
        loss = torch.nn.functional.cross_entropy(model(images[start:start + 64]), labels[start:start + 64])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        live.update(step, loss=loss)  # still attached to the graph: no .item() needed
        expected.append(loss.item())
    steps, values = live.history["loss"]
    assert steps.tolist() == [0, 1, 2, 3] and values.tolist() == expected


@pytest.mark.slow
def test_in_a_notebook_one_image_is_updated_in_place_and_headless_shows_none():
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "import os\nfor name in ('LABKIT_HEADLESS', 'CI', 'NBGRADER_EXECUTION'):\n"
        "    os.environ.pop(name, None)\nimport labkit.live",
        "live = labkit.live.LivePlot(every=0)\nfor epoch in (1, 2, 3):\n"
        "    live.update(epoch, loss=1 / epoch)\nprint(live.mode)\nfigure = live.finish()",
        "os.environ['LABKIT_HEADLESS'] = '1'\nquiet = labkit.live.LivePlot(every=0)\n"
        "for epoch in (1, 2, 3):\n    quiet.update(epoch, loss=1 / epoch)\nprint(quiet.mode)\n"
        "figure = quiet.finish()",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells])
    repo = Path(labkit.__file__).parents[1]
    NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(repo)}}).execute()

    def outputs(cell: int, kind: str) -> list:
        return [output for output in notebook.cells[cell].outputs if output.output_type == kind]

    live_images = outputs(1, "display_data")
    assert [output.text for output in outputs(1, "stream")] == ["notebook\n"]
    assert len(live_images) == 1, "four redraws must update one image, not add four"
    assert "image/png" in live_images[0].data
    assert [output.text for output in outputs(2, "stream")] == ["headless\n"]
    assert outputs(2, "display_data") == []
