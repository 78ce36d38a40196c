"""An accuracy counts only for a model that classifies: the architecture gate and the perturbed copies.

A student can hand in a "model" that recognises the public test images instead
of one that learnt to classify. Two defences, each tested here on real
components: the accuracy parts score only the very file whose architecture
passed (the gate), and the evaluation images go to the sandbox with perturbed
copies of a sample shuffled in among them, drawn from the grading run's secret,
which a lookup of exact pixels cannot classify (the perturbed copies). The
memorisers are built as a student would build them, with plain Keras layers
whose weights are the MNIST test images; the honest models are the lab 1
solution notebook's, trained once in the quick profile.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from autograder import sandbox
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.results import accuracy_part, gated, judged, not_judged
from autograder.scoring import evaluation_sets, keras_models, perturbed_copies
from tests.grading_class import options, parts, require_sandbox, summary

LAB = "lab1-mnist"
SECRET = GradingSecret(b"accuracy-integrity-tests-secret!")
"""A fixed secret: the copies, and so every verdict below, are the same on every run."""
GATE = "Scored only for a model that passes its architecture check: fix {part} first"
NOT_GENERALISING = "does not generalise to slightly shifted copies of the test images"


@pytest.fixture(scope="module")
def mnist_test():
    import labkit

    return labkit.data.load("mnist", "test")


# --- the perturbed copies -------------------------------------------------------------------------


def test_each_copy_is_its_image_moved_by_one_pixel_and_lightly_noised(mnist_test):
    images = mnist_test[0][:300]
    copies = perturbed_copies.perturbed(images, SECRET.rng("test/copies")).astype(float)

    offsets = [(down, right) for down in (-1, 0, 1) for right in (-1, 0, 1) if (down, right) != (0, 0)]
    moved = [perturbed_copies.shifted(images, np.full(len(images), down), np.full(len(images), right))
             for down, right in offsets]
    residuals = np.stack([np.abs(copies - candidate).mean(axis=(1, 2)) for candidate in moved])
    best = residuals.argmin(axis=0)
    noise = copies - np.stack(moved)[best, np.arange(len(images))]
    assert (residuals.min(axis=0) < residuals.max(axis=0) / 2).all()  # one shift explains each copy
    assert len(set(best.tolist())) == len(offsets)  # every direction is drawn
    inked = np.stack(moved)[best, np.arange(len(images))] > 30
    assert 6 < noise[inked].std() < 10  # the noise (8 levels) is there, and stays mild
    assert not (copies == images).all(axis=(1, 2)).any()


def test_the_sandbox_gets_every_image_once_and_the_copies_shuffled_in_drawn_from_the_secret(mnist_test):
    images, labels = mnist_test[0][:3000], mnist_test[1][:3000]

    rows = perturbed_copies.with_copies(images, labels, SECRET.rng("test/rows"))
    again = perturbed_copies.with_copies(images, labels, SECRET.rng("test/rows"))
    other = perturbed_copies.with_copies(images, labels, GradingSecret.fresh().rng("test/rows"))

    assert len(rows.images) == len(images) + perturbed_copies.COPIES and rows.copied.sum() == perturbed_copies.COPIES
    originals = {image.tobytes(): label for image, label in zip(images, labels)}
    kept = [image.tobytes() for image in rows.images[~rows.copied]]
    assert sorted(kept) == sorted(originals)  # each evaluation image once, unchanged
    assert all(originals[image.tobytes()] == label
               for image, label in zip(rows.images[~rows.copied], rows.labels[~rows.copied]))
    assert not any(image.tobytes() in originals for image in rows.images[rows.copied])
    assert 0.3 < np.mean(np.flatnonzero(rows.copied) / len(rows.copied)) < 0.7  # shuffled in, not appended
    np.testing.assert_array_equal(again.images, rows.images)  # the same secret draws the same rows
    assert not np.array_equal(other.copied, rows.copied)  # another run's secret, other rows

    alone = perturbed_copies.with_copies(images, labels, None)
    assert alone.images is images and not alone.copied.any()


def _judged(correct: np.ndarray, copied: np.ndarray, target: float = 0.85):
    evaluation = keras_models.EvaluationSet(Path("."), np.zeros(len(correct), int), 10, "the test images", copied)
    scores = np.eye(10)[np.where(correct, 0, 1)]
    return accuracy_part("test-fc-accuracy", 2, dataclasses.replace(keras_models.ModelProbe(), predictions=scores),
                         evaluation, target, "The network")


def test_an_accuracy_counts_only_when_the_copies_are_classified_nearly_as_well():
    copied = np.arange(1000) >= 800  # 800 originals, 200 copies

    def right(on_originals: float, on_copies: float) -> np.ndarray:
        return np.concatenate([np.arange(800) < on_originals * 800, np.arange(200) < on_copies * 200])

    honest = _judged(right(0.92, 0.80), copied)
    assert (honest.verdict, honest.value) == ("pass", 0.92), honest.message
    assert NOT_GENERALISING not in honest.message
    just_inside = _judged(right(0.92, 0.92 - perturbed_copies.MARGIN), copied)
    assert just_inside.verdict == "pass", just_inside.message

    lookup = _judged(right(1.0, 0.10), copied)
    assert (lookup.verdict, lookup.points, lookup.value) == ("fail", 0, 1.0)
    assert "reaches 100.00% on the test images" in lookup.message
    assert "copies of 200 of those images" in lookup.message and "only 10.00%" in lookup.message
    assert NOT_GENERALISING in lookup.message
    assert _judged(right(0.92, 0.92 - perturbed_copies.MARGIN - 0.01), copied).verdict == "fail"


def test_an_accuracy_counts_only_for_the_file_whose_architecture_passed():
    accurate = judged("test-fc-accuracy", 2, True, "The network reaches 97.00%.", value=0.97, threshold=0.85)
    passed = judged("test-fc-model", 2, True, "The layers are the spec's.")
    failed = judged("test-fc-model", 2, False, "Layer 2 is Dense(10000), the spec's is Dense(128).")

    assert gated(accurate, passed, "fc.keras") is accurate
    refused = gated(accurate, failed, "fc.keras")
    assert (refused.verdict, refused.points, refused.value, refused.threshold) == ("fail", 0, 0.97, 0.85)
    assert refused.message.startswith(GATE.format(part="test-fc-model"))
    assert "(fc.keras: Layer 2 is Dense(10000), the spec's is Dense(128)). The network reaches 97.00%." \
        in refused.message

    missing = judged("test-fc-accuracy", 2, False, "fc.keras is missing.", threshold=0.85)
    assert gated(missing, failed, "fc.keras") is missing  # nothing measured: its own reason says it
    timed_out = not_judged("test-fc-accuracy", 2, "timeout", "The probe took too long.")
    assert gated(timed_out, failed, "fc.keras") is timed_out


# --- memorisers, built as a student would -----------------------------------------------------------


def nearest_template(images: np.ndarray, labels: np.ndarray, sharpness: float = 50.0):
    """A Keras model that is a table of ``images``: the nearest one's label, from plain Dense layers.

    ``t.x - |t|^2 / 2`` is largest for the template ``t`` nearest ``x``; a sharp
    softmax picks it, and a second Dense maps it to its label.
    """
    import keras

    templates = images.reshape(len(images), -1).astype("float32") / 255.0
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(len(images)),
                              keras.layers.Softmax(), keras.layers.Dense(10, use_bias=False)])
    model.layers[1].set_weights([sharpness * templates.T, -sharpness * 0.5 * (templates ** 2).sum(axis=1)])
    model.layers[3].set_weights([np.eye(10, dtype="float32")[labels]])
    return model


def exact_lookup(images: np.ndarray, labels: np.ndarray, tolerance: float = 0.5):
    """A table keyed on (nearly) exact pixels: a template fires only when the input covers all its ink."""
    import keras

    templates = images.reshape(len(images), -1).astype("float32") / 255.0
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(len(images), activation="relu"),
                              keras.layers.Dense(10, use_bias=False)])
    model.layers[1].set_weights([templates.T, tolerance - (templates ** 2).sum(axis=1)])
    model.layers[2].set_weights([np.eye(10, dtype="float32")[labels]])
    return model


@pytest.fixture(scope="module")
def reference_models(solution_run) -> Path:
    """The solution notebook's ``artifacts/`` (fc.keras, cnn.keras), trained once in the quick profile."""
    return solution_run(LAB).folder / "artifacts"


@pytest.fixture(scope="module")
def memorisers(tmp_path_factory, mnist_test) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("memorisers")
    files = {"nearest-template": folder / "nearest-template.keras", "exact-lookup": folder / "exact-lookup.keras"}
    nearest_template(*mnist_test).save(files["nearest-template"])
    exact_lookup(*mnist_test).save(files["exact-lookup"])
    for path in files.values():
        assert path.stat().st_size < keras_models.MAX_MODEL_BYTES  # the grader loads it, as a student's file
    return files


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_in_the_sandbox_honest_models_keep_their_accuracy_and_an_exact_lookup_collapses(
        tmp_path, mnist_test, reference_models, memorisers):
    """The probe's own run on the MNIST test images with copies drawn from a fixed secret."""
    require_sandbox()
    import labkit

    evaluation = keras_models.write_evaluation_set(
        tmp_path / "evaluation", evaluation_sets.official_test_set("mnist", "MNIST"), 10,
        SECRET.rng(f"{LAB}/perturbed-copies"))
    sandbox.readable_by_all(tmp_path)
    files = {"fc": reference_models / "fc.keras", "cnn": reference_models / "cnn.keras", **memorisers}
    found = {name: keras_models.probe(path, evaluation, (28, 28, 1), options(Path(".")).probe_limits)
             for name, path in files.items()}
    for name, probed in found.items():
        assert probed.predictions is not None, (name, probed.problem)
    accuracy = {name: accuracy_part("test-fc-accuracy", 2, probed, evaluation,
                                    labkit.targets.target(LAB, "fc", "quick"), name)
                for name, probed in found.items()}

    for honest in ("fc", "cnn"):
        assert accuracy[honest].verdict == "pass", accuracy[honest].message
        assert NOT_GENERALISING not in accuracy[honest].message
    lookup = accuracy["exact-lookup"]
    assert lookup.value > 0.85, lookup.message  # on the test images alone it would pass the target
    assert lookup.verdict == "fail" and NOT_GENERALISING in lookup.message
    assert accuracy["nearest-template"].value > 0.99  # a table of the images: stopped by the gate, below


# --- through the grader, as an instructor grades a class ---------------------------------------------


def _artifacts(folder: Path, fc: Path, cnn: Path) -> None:
    """A hand-in of model files only: what alone can earn the model and accuracy parts."""
    (folder / "artifacts").mkdir(parents=True)
    shutil.copyfile(fc, folder / "artifacts" / "fc.keras")
    shutil.copyfile(cnn, folder / "artifacts" / "cnn.keras")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_memorisers_and_wrong_architectures_earn_no_accuracy_points_and_the_reference_keeps_them(
        tmp_path, mirror_dir, reference_models, memorisers):
    from autograder.pipeline.grading import grade

    require_sandbox()
    fc, cnn = reference_models / "fc.keras", reference_models / "cnn.keras"
    class_dir = tmp_path / "submissions"
    _artifacts(class_dir / "reference" / LAB, fc, cnn)
    _artifacts(class_dir / "nearest-template" / LAB, memorisers["nearest-template"], memorisers["nearest-template"])
    _artifacts(class_dir / "exact-lookup" / LAB, memorisers["exact-lookup"], memorisers["exact-lookup"])
    _artifacts(class_dir / "swapped" / LAB, cnn, fc)  # accurate networks, each under the other's name

    results = {result.student_id: result for result in grade(
        LAB, class_dir, tmp_path / "graded", workers=2,
        options=dataclasses.replace(options(mirror_dir), secret=SECRET))}

    reference = parts(results["reference"])
    assert [part for part, found in reference.items() if found.verdict == "pass"] == [
        "test-fc-model", "test-fc-accuracy", "test-cnn-model", "test-cnn-accuracy"], summary(results["reference"])
    for student in ("nearest-template", "exact-lookup", "swapped"):
        found = parts(results[student])
        assert results[student].score == 0, summary(results[student])
        for model, accuracy in (("test-fc-model", "test-fc-accuracy"), ("test-cnn-model", "test-cnn-accuracy")):
            assert found[model].verdict == "fail"
            assert found[accuracy].message.startswith(GATE.format(part=model)), summary(results[student], 600)
            assert "The architecture differs from the specification in" in found[accuracy].message.splitlines()[0]
            assert found[accuracy].value > 0.9 or student == "exact-lookup"  # measured, and accurate, but void
    assert NOT_GENERALISING in parts(results["exact-lookup"])["test-fc-accuracy"].message
