"""Each lab's training recipe against its seed tutorial's, side by side in one run.

The labs promise to teach what their seeds teach in a fraction of the time. This
benchmark holds them to it: for every model a lab grades, it trains

* **ours**: the lab's solution notebook, executed in the full profile, whose save
  cell records each model's training time and test accuracy in ``metrics.json``;
* **seed**: the seed's own recipe (its architecture, optimiser, batch size, epochs,
  callbacks and augmentation, in Keras 3) on the *same* training images and the same
  official test set, so that only the recipe differs;

and reports the time ratio (seed / ours) and the accuracy difference, with how many
cores each side had on average (:mod:`benchmarks.machine`; ours over the whole notebook,
whose loading and plotting use one): a ratio means most when the two had the same.

The seeds' recipes are long (seed 002: ~40 min, seed 004: ~85 min, seed 000: ~7 min on 2 CPU cores), so this
benchmark is not part of ``make bench``; run it explicitly, one lab at a time if
need be::

    .venv/bin/python -m benchmarks lab_recipes                # every lab
    .venv/bin/python -m benchmarks lab_recipes:lab1-mnist     # one lab
    .venv/bin/python -m benchmarks lab_recipes:lab3-annealing-augmentation,model=augmented  # one seed model

Where a seed leaves a choice to the reader (seed 003's CNN optimiser), the
choice is written next to the recipe below.

Lab 5 (PyTorch) is the exception: seed 001's recipe takes hours on 2 CPU cores, so
its VGG, the lab's best model, is compared at equal time instead, by
:mod:`benchmarks.lab5_recipe`; its row's seed time says so.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import machine

MAX_TIME_RATIO_TARGET = 1.0
"""Ours must train no slower than the seed (ratio seed/ours >= this), per model."""

MAX_ACCURACY_LOSS = 0.005
"""... while losing at most half a point of test accuracy against it."""


@dataclass(frozen=True)
class SeedRecipe:
    """How a seed trains one of the models a lab grades."""

    lab: str
    model: str  # the key of the model in the lab's metrics.json
    seed: str  # the seed tutorial's file prefix in ../shared/seeds
    build: Callable[[], object]
    optimizer: Callable[[], object]
    batch_size: int
    epochs: int
    annealing: bool = False
    augmentation: bool = False
    patience: int | None = None  # early stopping on val_loss, as seed 000 does


# --- the seeds' models, as they wrote them ------------------------------------------------------

def _seed003_fc():
    import keras

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def _seed003_cnn():
    import keras

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(24, 3, activation="relu"),
        keras.layers.MaxPool2D(2),
        keras.layers.Conv2D(36, 3, activation="relu"),
        keras.layers.MaxPool2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def _seed002_cnn():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(128, 3, activation="relu"), layers.MaxPooling2D(), layers.BatchNormalization(),
        layers.Conv2D(256, 3, activation="relu"), layers.MaxPooling2D(), layers.BatchNormalization(),
        layers.Conv2D(512, 3, activation="relu"), layers.MaxPooling2D(), layers.BatchNormalization(),
        layers.Flatten(),
        layers.Dense(1024, activation="relu"),
        layers.Dense(1024, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def _seed004_cnn():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 5, padding="same", activation="relu"),
        layers.Conv2D(32, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.4),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.5),
        layers.Flatten(),
        layers.Dense(384, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def _seed000_dense():
    import keras

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(47, activation="softmax"),
    ])


def _seed000_cnn():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(47, activation="softmax"),
    ])


def _sgd(learning_rate: float):
    def make():
        import keras

        return keras.optimizers.SGD(learning_rate=learning_rate)
    return make


def _adam():
    import keras

    return keras.optimizers.Adam(learning_rate=0.001)


RECIPES = [
    # Seed 003 (MIT 6.S191 lab 2): SGD at 0.1, batch 64, 5 epochs. Its CNN's optimiser is left
    # "of choice"; we keep the fully connected model's, as the lab's reference solution did.
    SeedRecipe("lab1-mnist", "fc", "003", _seed003_fc, _sgd(0.1), batch_size=64, epochs=5),
    SeedRecipe("lab1-mnist", "cnn", "003", _seed003_cnn, _sgd(0.1), batch_size=64, epochs=5),
    # Seed 002: Adam, batch 64, 10 epochs (its validation_split=0.2 becomes the lab's split).
    SeedRecipe("lab2-fashion-mnist", "cnn", "002", _seed002_cnn, _adam, batch_size=64, epochs=10),
    # Seed 004: Adam, batch 42, 30 epochs; ReduceLROnPlateau(val_loss, patience 2, factor 0.3);
    # ImageDataGenerator(rotation 10, zoom 0.05, shifts 0.05).
    SeedRecipe("lab3-annealing-augmentation", "plain", "004", _seed004_cnn, _adam, batch_size=42, epochs=30),
    SeedRecipe("lab3-annealing-augmentation", "annealed", "004", _seed004_cnn, _adam, batch_size=42, epochs=30,
               annealing=True),
    SeedRecipe("lab3-annealing-augmentation", "augmented", "004", _seed004_cnn, _adam, batch_size=42,
               epochs=30, annealing=True, augmentation=True),
    # Seed 000 (the W&B report "EMNIST classification"): Adam at 0.001, up to 70 epochs, early
    # stopping with a patience of 5. It gives neither its batch size nor what it monitors:
    # a batch of 256 and val_loss are assumed, restoring nothing (Keras' default).
    SeedRecipe("lab4-emnist-baselines", "dense", "000", _seed000_dense, _adam, batch_size=256, epochs=70,
               patience=5),
    SeedRecipe("lab4-emnist-baselines", "cnn", "000", _seed000_cnn, _adam, batch_size=256, epochs=70,
               patience=5),
]

DATASETS = {"lab1-mnist": "mnist", "lab2-fashion-mnist": "fashion-mnist", "lab3-annealing-augmentation": "mnist",
            "lab4-emnist-baselines": "emnist-bymerge"}

SUBSET_BY_THE_NOTEBOOK = {"lab4-emnist-baselines"}
"""Labs whose notebook trains on a CPU-sized stratified subset, recorded as ``train_size`` in metrics.json."""


# --- training a seed recipe -----------------------------------------------------------------------

def _prepare(images) -> np.ndarray:
    return (np.asarray(images, dtype="float32") / 255.0)[..., np.newaxis]


def _seed_augmentation():
    """Seed 004's ImageDataGenerator, as Keras 3 preprocessing layers applied per batch."""
    import keras

    return keras.Sequential([
        keras.layers.RandomRotation(10 / 360, fill_mode="constant"),
        keras.layers.RandomZoom(0.05, fill_mode="constant"),
        keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant"),
    ])


def train_seed_recipe(recipe: SeedRecipe, data: dict[str, np.ndarray]) -> dict:
    """Train ``recipe`` on ``data`` (x_train, y_train, x_val, y_val, x_test, y_test); time and score it."""
    import keras

    keras.utils.set_random_seed(0)
    model = recipe.build()
    if recipe.augmentation:
        model = keras.Sequential([keras.Input((28, 28, 1)), _seed_augmentation(), model])
    model.compile(optimizer=recipe.optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = []
    if recipe.patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience))
    if recipe.annealing:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.3,
                                                           min_lr=1e-5, min_delta=1e-3))
    history, timing = machine.measure(lambda: model.fit(
        data["x_train"], data["y_train"], batch_size=recipe.batch_size, epochs=recipe.epochs,
        validation_data=(data["x_val"], data["y_val"]), callbacks=callbacks, verbose=0))
    predicted = model.predict(data["x_test"], batch_size=1000, verbose=0).argmax(axis=1)
    return {"train_seconds": timing["wall_seconds"], "epochs": len(history.history["loss"]), "timing": timing,
            "test_accuracy": float(np.mean(predicted == data["y_test"]))}


def lab_data(lab: str, train_size: int | None = None) -> dict[str, np.ndarray]:
    """The data the lab's notebook trains on in the full profile, 10% held out for validation.

    EMNIST comes from its official split when the training images can be had, else from the
    offline partition, as the notebook chooses; ``train_size`` is the notebook's CPU cap.
    """
    import labkit

    name = DATASETS[lab]
    partition = name.startswith("emnist") and not labkit.data.official_available(name, "train")
    images, labels = labkit.data.load(name, "train", offline_partition=partition)
    if train_size is not None and train_size < len(labels):
        images, labels = labkit.data.stratified_subset(images, labels, train_size, seed=0)
    train_index, val_index = labkit.data.stratified_split(labels, 0.1)
    test_images, test_labels = labkit.data.load(name, "test", offline_partition=partition)
    return {
        "x_train": _prepare(images[train_index]), "y_train": np.asarray(labels[train_index]),
        "x_val": _prepare(images[val_index]), "y_val": np.asarray(labels[val_index]),
        "x_test": _prepare(test_images), "y_test": np.asarray(test_labels),
    }


# --- ours: the solution notebook in the full profile ------------------------------------------------

def run_solution_notebook(lab: str) -> tuple[dict, dict]:
    """Execute ``solutions/<lab>`` in the full profile; its ``metrics.json``, and the whole run's timing."""
    from tests.notebooks import execute, solution_notebook

    with tempfile.TemporaryDirectory() as scratch:
        _, timing = machine.measure(lambda: execute(
            solution_notebook(lab), Path(scratch), cell_timeout=3600,
            environment={"LABKIT_PROFILE": "full", "LABKIT_TRACKING": "off"}))
        return json.loads((Path(scratch) / "artifacts" / "metrics.json").read_text()), timing


def parse(arguments: list[str] | None) -> tuple[list[str], set[str] | None]:
    """The labs asked for (all by default) and, with ``model=NAME`` (repeatable), the only seed models to train."""
    from benchmarks import lab5_recipe

    known = [*DATASETS, lab5_recipe.LAB]
    labs, models = [], set()
    for argument in arguments or []:
        key, _, value = argument.partition("=")
        if key == "model" and value:
            models.add(value)
        elif argument in known:
            labs.append(argument)
        else:
            raise ValueError(f"lab_recipes: {argument!r}: name a lab with a seed recipe ({', '.join(known)}) "
                             "or model=NAME (a model the lab grades, e.g. model=augmented)")
    labs = labs or known
    offered = {recipe.model for recipe in RECIPES if recipe.lab in labs}
    if lab5_recipe.LAB in labs:
        offered.add(lab5_recipe.MODEL)
    if models - offered:
        raise ValueError(f"lab_recipes: no seed recipe for model {', '.join(sorted(models - offered))} in "
                         f"{', '.join(labs)}; models: {', '.join(sorted(offered))}")
    return labs, models or None


def run(arguments: list[str] | None = None) -> dict:
    from benchmarks import lab5_recipe

    labs, models = parse(arguments)
    rows = []
    for lab in labs:
        ours, our_run = run_solution_notebook(lab)
        if lab == lab5_recipe.LAB:  # PyTorch, and compared at equal time: see benchmarks.lab5_recipe
            rows += lab5_recipe.rows(ours, our_run) if models is None or lab5_recipe.MODEL in models else []
            continue
        data = lab_data(lab, ours["train_size"] if lab in SUBSET_BY_THE_NOTEBOOK else None)
        for recipe in (r for r in RECIPES if r.lab == lab and (models is None or r.model in models)):
            seed = train_seed_recipe(recipe, data)
            mine = ours[recipe.model]
            rows.append({
                "lab": lab, "model": recipe.model, "seed": recipe.seed,
                "seed_seconds": seed["train_seconds"], "seed_epochs": seed["epochs"],
                "seed_accuracy": seed["test_accuracy"],
                "our_seconds": mine["train_seconds"], "our_accuracy": mine["test_accuracy"],
                "time_ratio": seed["train_seconds"] / mine["train_seconds"],
                "accuracy_gain": mine["test_accuracy"] - seed["test_accuracy"],
                "seed_run": seed["timing"], "our_run": our_run,
            })
    met = all(row["time_ratio"] >= MAX_TIME_RATIO_TARGET and row["accuracy_gain"] >= -MAX_ACCURACY_LOSS
              for row in rows)
    return {"rows": rows, "target": {
        "description": f"ours trains >= {MAX_TIME_RATIO_TARGET}x as fast as the seed, losing <= "
                       f"{MAX_ACCURACY_LOSS:.1%} test accuracy", "met": met}}


def table(result: dict) -> str:
    lines = [f"| {' | '.join(COLUMNS)} |", "|---" * len(COLUMNS) + "|"]
    lines += [f"| {' | '.join(cells(row))} |" for row in result["rows"]]
    return "\n".join(lines)


COLUMNS = ("lab", "model", "seed", "seed time", "ours", "speed-up", "seed acc.", "our acc.", "cores: seed / ours")


def cells(row: dict) -> list[str]:
    """One model's row of the table, a cell per column of :data:`COLUMNS`."""
    seed_time, speed_up = f"{row['seed_seconds']:.0f} s", f"{row['time_ratio']:.1f}x"
    if row.get("comparison") == "equal time":  # the seed stopped when our time was up
        seed_time, speed_up = f"{seed_time} ({row['seed_epochs']:.2f} epochs)", "equal time"
    return [row["lab"], row["model"], row["seed"], seed_time, f"{row['our_seconds']:.0f} s", speed_up,
            f"{row['seed_accuracy']:.2%}", f"{row['our_accuracy']:.2%}",
            f"{machine.cores(row.get('seed_run'))} / {machine.cores(row.get('our_run'))}"]
