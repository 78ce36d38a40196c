"""Lab 4 (EMNIST ByMerge): the solution trains to its targets; the student version hides the answers and fails its checks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.notebooks import cell, read, released_notebook, solution_notebook

LAB = "lab4-emnist-baselines"

MEANINGFUL_QUICK_TARGETS = {"dense": 0.60, "cnn": 0.70}
"""The least quick-profile test accuracy that still shows a model learnt (a constant guess gets about 5%)."""


def test_every_count_and_size_comes_from_the_profile_and_every_target_from_labkit_targets():
    import labkit

    source = "\n".join(c.source for c in read(solution_notebook(LAB)).cells)
    for name in ("train_size", "PATIENCE", "DENSE_MAX_EPOCHS", "CNN_MAX_EPOCHS"):
        assert f"{name} = profile.choose(" in source, f"{name} is not chosen by the profile"
    for model in ("dense", "cnn"):
        assert f'{model.upper()}_TARGET = labkit.targets.target(LAB, "{model}")' in source
        quick, full = (labkit.targets.target(LAB, model, profile) for profile in ("quick", "full"))
        assert MEANINGFUL_QUICK_TARGETS[model] <= quick < full
    assert labkit.targets.target(LAB, "cnn", "full") >= 0.89, "the course promises a CNN of about 90%"


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

