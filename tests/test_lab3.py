"""Lab 3 (annealing and augmentation): the solution trains to its targets; the student version hides the answers and fails its checks."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

from tests.notebooks import cell, exercise_points, read, released_notebook, solution_notebook

LAB = "lab3-annealing-augmentation"
MODELS = ("plain", "annealed", "augmented")

MEANINGFUL_QUICK_TARGET = 0.90
"""The least test accuracy a quick-profile target may ask for and still show that a model learnt."""


def test_every_size_and_epoch_count_depends_on_the_profile():
    """The quick profile must shrink the work: sizes and epochs come from profile.choose, never literals."""
    source = "\n".join(c.source for c in read(solution_notebook(LAB)).cells)
    for name in ("TRAIN_ROWS", "EPOCHS", "AUGMENTED_EPOCHS"):
        assert f"\n{name} = profile.choose(full=" in source, f"{name} is not chosen by the profile"
    for model in ("plain", "annealed", "augmented"):
        assert f'{model.upper()}_TARGET = labkit.targets.target(LAB, "{model}")' in source, (
            f"the {model} model's target must come from labkit.targets, where the grader reads it")
    assert "epochs=EPOCHS" in source


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.4g}%"


def test_every_exercise_heading_states_its_points_and_its_models_full_profile_thresholds():
    """Points follow the graded cells' own; each model's thresholds are the full profile's, as the grader has them."""
    import labkit

    exercises = exercise_points(read(solution_notebook(LAB)))
    headings = [heading for heading, _ in exercises]
    assert len(headings) == 3
    for heading, model in zip(headings, MODELS):
        full = labkit.targets.target(LAB, model, "full")
        assert f"{model} CNN's test accuracy, at least {_percent(full)} in the full profile" in heading, heading
    transformed = labkit.targets.target(LAB, "augmented-transformed", "full")
    gain = labkit.settings.value(LAB, "TRANSFORMED_GAIN", "full")
    assert f"at least {_percent(transformed)} in the full profile and {100 * gain:g} points above the plain " \
           "CNN's" in headings[2], headings[2]
    assert sum(points for _, points in exercises) == 16


def test_the_constants_the_grader_shares_come_from_labkit_settings_and_the_text_states_them():
    """LEARNING_RATE and TRANSFORMED_GAIN are read from one place by the notebook and the grader alike."""
    import labkit

    notebook = read(solution_notebook(LAB))
    for cell_id, name in (("helpers", "LEARNING_RATE"), ("prepare", "TRANSFORMED_GAIN")):
        assert f'\n{name} = labkit.settings.value(LAB, "{name}")\n' in cell(notebook, cell_id).source, name
    learning_rate = labkit.settings.value(LAB, "LEARNING_RATE")
    assert f"learning rate of {learning_rate:g} (`LEARNING_RATE`)" in cell(notebook, "training-intro").source


def test_each_technique_s_target_is_at_least_the_plain_model_s():
    """A technique's model is held to at least the plain CNN's accuracy; augmentation must add robustness too."""
    import labkit

    for profile in ("quick", "full"):
        plain, annealed, augmented = (labkit.targets.target(LAB, model, profile) for model in MODELS)
        assert plain <= annealed <= augmented, profile


@pytest.mark.slow
def test_solution_runs_end_to_end_in_the_quick_profile_and_saves_loadable_models(solution_run):
    import keras

    import labkit

    run = solution_run(LAB)  # raises at the first failing cell
    executed, folder = run.executed, run.folder

    assert run.failed_graded_cells() == {}  # hidden tests included
    metrics = run.metrics()
    assert metrics["profile"] == "quick"
    images, labels = labkit.data.load("mnist", "test")
    inputs = (images.astype("float32") / 255.0)[..., np.newaxis]
    for name in MODELS:
        assert metrics[name]["test_accuracy"] >= metrics[name]["target"] >= MEANINGFUL_QUICK_TARGET
        model = keras.saving.load_model(folder / "artifacts" / f"{name}.keras", safe_mode=True)
        reloaded = np.mean(model.predict(inputs, batch_size=1000, verbose=0).argmax(axis=1) == labels)
        assert reloaded == pytest.approx(metrics[name]["test_accuracy"], abs=1e-4)
        history = metrics[name]["history"]  # epoch by epoch, for the grader's check of the annealed run
        assert len(history["val_loss"]) == metrics[name]["epochs"] and metrics[name]["test_loss"] > 0
        assert ("learning_rate" in history) == (name != "plain")  # recorded where an annealer ran
    transformed = {name: metrics[name]["transformed_test_accuracy"] for name in MODELS}
    assert transformed["augmented"] >= labkit.targets.target(LAB, "augmented-transformed", "quick")
    assert transformed["augmented"] > transformed["annealed"] and transformed["augmented"] > transformed["plain"]
    assert len(run.comet_archives()) == len(MODELS)  # one run per model

    # The CSV round trip wrote a quick-sized file, and the table drew every model on every split.
    (written,) = folder.glob("mnist-train-*.csv")
    assert sum(1 for _ in written.open()) == 1 + 5_000
    table = next(output["text"] for output in cell(executed, "results").outputs if output.get("name") == "stdout")
    for row in ("CNN ", "CNN + annealing ", "CNN + annealing + augmentation"):
        assert row in table


def run_cells(notebook: nbformat.NotebookNode, *cell_ids: str, **replacements: str) -> dict:
    """Execute some cells of the notebook in one namespace, after textual ``old=new`` swaps in them."""
    import keras

    namespace = {"keras": keras, "np": np}
    for cell_id in cell_ids:
        source = cell(notebook, cell_id).source
        for old, new in replacements.items():
            source = source.replace(old, new)
        exec(source, namespace)
    return namespace


@pytest.mark.slow
def test_hidden_annealer_test_catches_what_the_visible_test_lets_through():
    """Counting any fall of the loss as progress, or a factor written as a number, passes the visible
    test (it stalls on equal losses, with the lab's settings) but not the hidden one."""
    source, released = read(solution_notebook(LAB)), read(released_notebook(LAB))
    mistakes = [{"< self.best - self.min_delta": "< self.best"}, {"rate * self.factor": "rate * 0.3"}]
    for mistake in mistakes:
        assert all(old in cell(source, "annealer").source for old in mistake)

    run_cells(source, "annealer", "test-annealer")  # the solution passes the full test
    for mistake in mistakes:
        namespace = run_cells(source, "annealer", **mistake)
        exec(cell(released, "test-annealer").source, namespace)  # the visible test lets it through
        with pytest.raises(AssertionError, match="the rates through"):
            run_cells(source, "annealer", "test-annealer", **mistake)


@pytest.mark.slow
def test_hidden_augmentation_test_catches_a_reflecting_fill_the_visible_test_lets_through(mirror_dir):
    """Reflecting the border still changes images (visible passes) but paints strokes into the background."""
    import labkit

    source, released = read(solution_notebook(LAB)), read(released_notebook(LAB))
    assert cell(source, "augmentation").source.count('fill_mode="constant"') == 3
    reflecting = {'fill_mode="constant"': 'fill_mode="reflect"'}
    images, _ = labkit.data.load("mnist", "test")
    x_train = (images[:64].astype("float32") / 255.0)[..., np.newaxis]

    namespace = run_cells(source, "augmentation", **reflecting)
    namespace["x_train"] = x_train
    exec(cell(released, "test-augmentation").source, namespace)
    namespace = run_cells(source, "augmentation", **reflecting)
    namespace["x_train"] = x_train
    with pytest.raises(AssertionError, match="fill_mode='constant'"):
        exec(cell(source, "test-augmentation").source, namespace)
