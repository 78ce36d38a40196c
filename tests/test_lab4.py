"""Lab 4 (EMNIST ByMerge): the solution trains to its targets; the student version hides the answers and fails its checks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.notebooks import cell, exercise_points, read, released_notebook, solution_notebook

LAB = "lab4-emnist-baselines"

MEANINGFUL_QUICK_TARGETS = {"dense": 0.60, "cnn": 0.70}
"""The least quick-profile test accuracy that still shows a model learnt (a constant guess gets about 5%)."""


def test_every_count_and_size_comes_from_the_profile_and_every_target_from_labkit_targets():
    import labkit

    source = "\n".join(c.source for c in read(solution_notebook(LAB)).cells)
    for name in ("train_size", "DENSE_MAX_EPOCHS", "CNN_MAX_EPOCHS"):
        assert f"{name} = profile.choose(" in source, f"{name} is not chosen by the profile"
    # The patience is the grader's too: it comes from labkit.settings, per profile.
    assert '\nPATIENCE = labkit.settings.value(LAB, "PATIENCE")' in source
    assert labkit.settings.value(LAB, "PATIENCE", "quick") < labkit.settings.value(LAB, "PATIENCE", "full")
    for model in ("dense", "cnn"):
        assert f'{model.upper()}_TARGET = labkit.targets.target(LAB, "{model}")' in source
        quick, full = (labkit.targets.target(LAB, model, profile) for profile in ("quick", "full"))
        assert MEANINGFUL_QUICK_TARGETS[model] <= quick < full
    assert labkit.targets.target(LAB, "cnn", "full") >= 0.89, "the course promises a CNN of about 90%"


def test_every_exercise_heading_states_its_points_and_its_model_s_full_profile_target():
    """Points follow the graded cells' own; an accuracy's threshold is the full profile's, from labkit.targets."""
    import labkit

    exercises = exercise_points(read(solution_notebook(LAB)))  # each heading's points checked there
    headings = [heading for heading, _ in exercises]
    assert len(headings) == 5
    for number, model in ((3, "dense"), (4, "cnn")):
        full = labkit.targets.target(LAB, model, "full")
        assert f"test accuracy, at least {100 * full:.4g}% in the full profile" in headings[number - 1], headings
    assert not any("accuracy" in headings[number - 1] for number in (1, 2, 5)), headings
    assert sum(points for _, points in exercises) == 18


def test_the_solution_s_functions_agree_with_the_grader_s_references_on_the_grader_s_inputs():
    """The solution's callback stops where Keras' EarlyStopping does, and its weights are scikit-learn's."""
    import math

    import keras

    import labkit
    from autograder.graders import lab4_emnist_baselines as lab4
    from autograder.pipeline.grading_secret import GradingSecret
    from autograder.probes.lab4_early_stopping import facts_while_driven

    notebook = read(solution_notebook(LAB))
    namespace = {"np": np, "math": math, "keras": keras, "labkit": labkit, "LAB": LAB, "N_CLASSES": lab4.CLASSES}
    for cell_id in ("early-stopping", "class-weights"):
        exec(cell(notebook, cell_id).source.split("\n\n\nclass_weight = ")[0], namespace)  # without the call
    patience = lab4.probe_patience()
    assert namespace["PATIENCE"] == labkit.settings.value(LAB, "PATIENCE")
    namespace["PATIENCE"] = patience  # the profile the grader's probe runs in
    for secret in (GradingSecret(b"a" * 32), GradingSecret(b"b" * 32)):
        sequences = lab4.epoch_logs(patience, secret.rng("early-stopping"))
        assert facts_while_driven(namespace["early_stopping"], sequences) == lab4.reference_early_stopping(
            patience, sequences)
        labels = lab4.unbalanced_labels(lab4.CLASSES, secret.rng("class-weights"))
        weights = namespace["balanced_class_weights"](labels)
        assert list(weights) == list(range(lab4.CLASSES))
        np.testing.assert_allclose([weights[c] for c in range(lab4.CLASSES)],
                                   lab4.reference_class_weights(labels, lab4.CLASSES), rtol=1e-12)


@pytest.mark.parametrize("mistake, old, new", [
    ("never puts the best weights back", "            self.model.set_weights(self.best_weights)\n", "            pass\n"),
    ("takes an equal loss for an improvement", 'logs["val_loss"] < self.best_loss', 'logs["val_loss"] <= self.best_loss'),
    ("never restarts the count", "            self.epochs_without_improvement = 0\n        else:",
     "        else:"),
    ("waits one epoch too many", ">= self.patience", "> self.patience"),
])
def test_the_students_own_early_stopping_check_catches_a_callback_that(mistake, old, new):
    """Each mistake fails the released notebook's own check, and the hidden tests' comparison with Keras."""
    import math

    import keras

    import labkit

    source, released = read(solution_notebook(LAB)), read(released_notebook(LAB))
    solution = cell(source, "early-stopping").source
    assert solution.count(old) == 1

    def run(notebook, exercise: str) -> None:
        namespace = {"np": np, "math": math, "keras": keras, "labkit": labkit, "LAB": LAB}
        exec(exercise, namespace)
        exec(cell(notebook, "test-early-stopping").source, namespace)

    run(source, solution)  # hidden tests included
    with pytest.raises(AssertionError, match="your callback"):
        run(released, solution.replace(old, new))


def test_data_source_is_chosen_explicitly_and_stated():
    """The offline partition is asked for only when the official train images cannot be had, and said so."""
    loading = cell(read(solution_notebook(LAB)), "load-data").source
    assert 'official = labkit.data.official_available(DATASET, "train")' in loading
    assert loading.count("offline_partition=not official") == 2  # train and test from the same source
    assert "print(f\"data: {train.dataset}\")" in loading and "provenance" in loading


def test_upright_check_refuses_the_seeds_rotation():
    """The blog post's 90-degree rotation must fail the students' own check, not only the grader's."""
    import labkit

    source, released = read(solution_notebook(LAB)), read(released_notebook(LAB))
    images, labels = labkit.data.load("emnist-bymerge", "test")
    upright_sample = np.asarray(images[:10])

    def run(notebook, exercise: str) -> None:
        namespace = {"np": np, "labkit": labkit, "train_labels": labels, "class_names": None,
                     "upright_sample": upright_sample, "stored_sample": upright_sample.transpose(0, 2, 1),
                     "test_images": images}
        exec(exercise.split("\n\n\nlabkit.plot")[0], namespace)  # the function, without its figure
        exec(cell(notebook, "test-upright").source, namespace)

    solution = cell(source, "upright").source
    assert "return np.transpose(stored, (0, 2, 1))" in solution
    run(source, solution)  # hidden tests included
    for rotation in ("np.rot90(stored, k=1, axes=(1, 2))", "np.rot90(stored, k=-1, axes=(1, 2))"):
        wrong = solution.replace("np.transpose(stored, (0, 2, 1))", rotation)
        with pytest.raises(AssertionError, match="Rotating by 90"):
            run(released, wrong)


@pytest.mark.slow
def test_solution_runs_end_to_end_in_the_quick_profile_and_saves_loadable_models(solution_run):
    import keras

    import labkit

    run = solution_run(LAB)  # raises at the first failing cell
    executed, folder = run.executed, run.folder

    assert run.failed_graded_cells() == {}  # hidden tests included
    outputs = "\n".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "data: emnist-bymerge/offline-partition" in outputs  # this machine has no official train images
    assert "OFFLINE PARTITION" in outputs  # labkit's own announcement reaches the notebook

    metrics = run.metrics()
    assert metrics["profile"] == "quick" and metrics["data"] == "emnist-bymerge/offline-partition"
    images, labels = labkit.data.load("emnist-bymerge", "test", offline_partition=True)
    x = (images.astype("float32") / 255.0)[..., np.newaxis]
    for model in ("dense", "cnn"):
        assert metrics[model]["test_accuracy"] >= metrics[model]["target"] >= MEANINGFUL_QUICK_TARGETS[model]
        assert metrics[model]["target"] == labkit.targets.target(LAB, model, "quick")
        saved = keras.saving.load_model(folder / "artifacts" / f"{model}.keras", safe_mode=True)
        predicted = saved.predict(x, batch_size=1000, verbose=0).argmax(axis=1)
        assert np.mean(predicted == labels) == pytest.approx(metrics[model]["test_accuracy"], abs=1e-4)
        if model == "cnn":
            recorded = [(pair["true"], pair["predicted"], pair["count"]) for pair in metrics["most_confused"]]
            names = labkit.data.class_names("emnist-bymerge")
            assert recorded == [(pair.true, pair.predicted, pair.count)
                                for pair in labkit.plot.most_confused_pairs(labels, predicted, names, k=12)]
    weighted = metrics["dense_class_weights"]
    assert weighted["balanced_accuracy"] > metrics["dense"]["balanced_accuracy"], "class weights should help rare classes"
    assert len(run.comet_archives()) == 3  # dense, weighted dense, CNN

