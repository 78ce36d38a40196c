"""The instructor's private evaluation set: written, read back, refused with what to fix, and on the CLI.

The images are genuine MNIST test images from the mirror; grading a real
submission on a private set is in ``test_grade_lab5.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from autograder.scoring import evaluation_sets
from autograder.scoring.evaluation_sets import EvaluationSetError

LAB = "lab1-mnist"


@pytest.fixture(scope="module")
def mnist_test():
    import labkit

    images, labels = labkit.data.load("mnist", "test")
    return images[:300], labels[:300]


def test_a_private_set_reads_back_as_written_and_feedback_names_it(tmp_path, mnist_test):
    images, labels = mnist_test
    path = evaluation_sets.write_private_set(evaluation_sets.private_file(tmp_path, LAB), images, labels, 10)

    found = evaluation_sets.images_for(tmp_path, LAB, 10, default=lambda: pytest.fail("the default was read"))

    np.testing.assert_array_equal(found.images, images)
    np.testing.assert_array_equal(found.labels, labels)
    assert found.labels.dtype == np.int64
    assert found.description == f"the instructor's 300 private evaluation images ({path.name})"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_without_a_folder_the_lab_s_default_set_is_used(mnist_test):
    default = evaluation_sets.Images(*mnist_test, "the default")
    assert evaluation_sets.images_for(None, LAB, 10, default=lambda: default) is default
    assert evaluation_sets.fingerprint(None, LAB) == ""


def test_lab_5_s_transfer_images_are_read_from_their_own_keys(tmp_path, mnist_test):
    images, labels = mnist_test
    evaluation_sets.write_private_set(evaluation_sets.private_file(tmp_path, "lab5-emnist-deep-models"),
                                      images[:100], labels[:100], 62,
                                      mnist_images=images[100:], mnist_labels=labels[100:])

    found = evaluation_sets.images_for(tmp_path, "lab5-emnist-deep-models", 10, default=None, prefix="mnist_",
                                       what="MNIST images")

    np.testing.assert_array_equal(found.labels, labels[100:])
    assert found.description.startswith("the instructor's 200 private evaluation MNIST images")


def test_a_new_file_changes_the_fingerprint_so_results_are_graded_again(tmp_path, mnist_test):
    images, labels = mnist_test
    path = evaluation_sets.private_file(tmp_path, LAB)
    evaluation_sets.write_private_set(path, images, labels, 10)
    first = evaluation_sets.fingerprint(tmp_path, LAB)
    evaluation_sets.write_private_set(path, images, (labels + 1) % 10, 10)

    assert evaluation_sets.fingerprint(tmp_path, LAB) not in ("", first)


@pytest.mark.parametrize("change, words", [
    (lambda x, y: (x.astype("float32"), y), "the images are float32; store them as uint8"),
    (lambda x, y: (x[..., None], y), "the images have shape (300, 28, 28, 1)"),
    (lambda x, y: (x[:0], y[:0]), "N >= 1"),
    (lambda x, y: (x, y[:-1]), "there are 300 images and labels of shape (299,)"),
    (lambda x, y: (x, y.astype("float64")), "the labels are float64; they must be integer class indices"),
    (lambda x, y: (x, np.where(np.arange(len(y)) < 3, 10, y)), "3 labels are outside 0-9 (e.g. 10)"),
])
def test_a_malformed_set_is_refused_with_what_to_fix(tmp_path, mnist_test, change, words):
    images, labels = change(*mnist_test)
    path = evaluation_sets.private_file(tmp_path, LAB)
    np.savez(path, images=images, labels=labels)

    with pytest.raises(EvaluationSetError) as refused:
        evaluation_sets.images_for(tmp_path, LAB, 10, default=None)
    assert words in str(refused.value)
    assert str(refused.value).startswith(f"{path.name}: ")

    with pytest.raises(EvaluationSetError, match="images|labels"):  # nothing is written either
        evaluation_sets.write_private_set(tmp_path / "written.npz", images, labels, 10)
    assert not list(tmp_path.glob("*written*"))


def test_unreadable_or_incomplete_files_are_refused_with_what_to_fix(tmp_path, mnist_test):
    images, labels = mnist_test
    path = evaluation_sets.private_file(tmp_path, LAB)

    with pytest.raises(EvaluationSetError, match="does not exist.*write_private_set.*without --evaluation"):
        evaluation_sets.fingerprint(tmp_path, LAB)

    np.savez(path, images=images, targets=labels)
    with pytest.raises(EvaluationSetError, match=r"has no `labels` \(it holds \['images', 'targets'\]\)"):
        evaluation_sets.images_for(tmp_path, LAB, 10, default=None)

    np.savez(path, images=images, labels=np.array([object()] * len(labels)))  # a pickle where labels belong
    with pytest.raises(EvaluationSetError, match="not a readable .npz of plain arrays"):
        evaluation_sets.images_for(tmp_path, LAB, 10, default=None)

    with open(path, "wb") as stream:  # one array, not named arrays
        np.save(stream, images)
    with pytest.raises(EvaluationSetError, match="one array, not named arrays"):
        evaluation_sets.images_for(tmp_path, LAB, 10, default=None)

    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(EvaluationSetError, match="not a readable .npz"):
        evaluation_sets.images_for(tmp_path, LAB, 10, default=None)


def test_the_command_line_stops_before_grading_when_the_private_file_is_missing(tmp_path):
    (tmp_path / "class" / "ada" / LAB).mkdir(parents=True)
    out = tmp_path / "out"

    ran = subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(tmp_path / "class"), "--out",
                          str(out), "--evaluation", str(tmp_path / "private")], capture_output=True, text=True,
                         timeout=120)

    assert ran.returncode == 2, ran.stderr
    assert f"error: The private evaluation set {tmp_path / 'private' / (LAB + '.npz')} does not exist" in ran.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("lab, dataset, classes", [
    ("lab1-mnist", "mnist", 10), ("lab2-fashion-mnist", "fashion-mnist", 10),
    ("lab3-annealing-augmentation", "mnist", 10), ("lab4-emnist-baselines", "emnist-bymerge", 47),
    ("lab5-emnist-deep-models", "emnist-byclass", 62),
])
def test_every_lab_s_grader_scores_on_the_private_set_when_given_one(tmp_path, mnist_test, lab, dataset, classes):
    """What each grader writes for its model probes: the private images (prepared) with a perturbed copy
    of each (fewer than ``perturbed_copies.COPIES``), shuffled; their labels kept back."""
    import labkit
    from autograder import graders
    from autograder.pipeline.options import GradingOptions
    from labkit.data import partition

    images, labels = (partition.load(dataset, "test") if dataset.startswith("emnist")
                      else labkit.data.load(dataset, "test"))
    images, labels = images[-123:], labels[-123:]
    digits, digit_labels = mnist_test
    evaluation_sets.write_private_set(evaluation_sets.private_file(tmp_path / "private", lab), images, labels,
                                      classes, mnist_images=digits[:45], mnist_labels=digit_labels[:45])

    context = graders.grader_for(lab).setup(tmp_path / "scratch", GradingOptions(
        profile="quick", evaluation_dir=tmp_path / "private"))

    evaluations = [context.emnist, context.mnist] if lab.startswith("lab5") else [context.evaluation]
    for evaluation, wanted in zip(evaluations, [labels, digit_labels[:45]]):
        for rows in (~evaluation.copied, evaluation.copied):  # each image once, and one copy of each
            np.testing.assert_array_equal(np.sort(evaluation.labels[rows]), np.sort(wanted))
        assert "private evaluation" in evaluation.description
        shipped = sorted(path.name for path in evaluation.folder.iterdir())
        assert not any("label" in name for name in shipped), shipped  # the labels stay with the grader
        inputs = np.load(evaluation.folder / (f"{evaluation.name}.npy" if lab.startswith("lab5") else "inputs.npy"))
        transformed = context.mixed.copies if lab.startswith("lab3") else 0  # lab 3 sends transformed copies too
        assert len(inputs) == 2 * len(wanted) + transformed and inputs.dtype == np.float32


# --- the EMNIST drop-in for MNIST's test set: framed as MNIST's, and fair ----------------------------


def test_the_emnist_drop_in_is_framed_as_mnist_s_digits_are():
    import labkit

    def framing(images: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The median height of the ink, and the mean and spread of the centres of mass."""
        ink = images > 0
        heights = [np.ptp(np.flatnonzero(image.any(axis=1))) + 1 for image in ink]
        weights = images.astype(float)
        grid = np.arange(28)
        centres = np.stack([(weights.sum(axis=2) @ grid), (weights.sum(axis=1) @ grid)], axis=1) \
            / weights.sum(axis=(1, 2))[:, None]
        return float(np.median(heights)), centres.mean(axis=0), centres.std(axis=0)

    raw, _ = labkit.data.load("emnist-mnist", "test")
    drop_in = evaluation_sets.emnist_mnist()
    mnist = framing(labkit.data.load("mnist", "test")[0][:2000])
    stored, framed = framing(raw[:2000]), framing(drop_in.images[:2000])

    assert mnist[0] == 20 and stored[0] >= 24  # MNIST's box, EMNIST's as stored
    assert framed[0] == mnist[0]
    np.testing.assert_allclose(framed[1], mnist[1], atol=0.1)
    np.testing.assert_allclose(framed[2], mnist[2], atol=0.1)
    assert (np.abs(stored[1] - mnist[1]) > 0.3).any() and (stored[2] > 3 * mnist[2]).all()
    np.testing.assert_array_equal(drop_in.labels, labkit.data.load("emnist-mnist", "test")[1])


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_reference_earns_every_accuracy_point_on_the_emnist_drop_in_from_the_command_line(
        tmp_path, solution_run):
    """Written by ``python -m autograder.scoring.evaluation_sets DIR``, graded with ``--evaluation DIR``: fair.

    EMNIST's MNIST split as stored gives the same models 59.6% (dense) and 79.2% (CNN), below the quick
    targets; framed as MNIST's digits are, they reach what they reach on MNIST.
    """
    from autograder.pipeline.grading import result_path
    from autograder.pipeline.results import read_result
    from tests.grading_class import parts, require_sandbox

    require_sandbox()
    reference = solution_run(LAB).folder / "artifacts"
    private = tmp_path / "private"
    wrote = subprocess.run([sys.executable, "-m", "autograder.scoring.evaluation_sets", str(private)],
                           capture_output=True, text=True, timeout=300)
    assert wrote.returncode == 0, wrote.stderr
    assert sorted(path.name for path in private.iterdir()) == sorted(
        f"{lab}.npz" for lab in evaluation_sets.MNIST_LABS)

    shutil.copytree(reference, tmp_path / "class" / "reference" / LAB / "artifacts",
                    ignore=shutil.ignore_patterns("metrics.json"))  # the model files alone
    graded = subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(tmp_path / "class"), "--out",
                             str(tmp_path / "out"), "--profile", "quick", "--evaluation", str(private)],
                            capture_output=True, text=True, timeout=900)
    assert graded.returncode == 0, graded.stderr
    result = parts(read_result(result_path(tmp_path / "out", LAB, "reference")))
    for part in ("test-fc-accuracy", "test-cnn-accuracy"):
        assert result[part].verdict == "pass", result[part].message
        assert "the instructor's 10,000 private evaluation images (lab1-mnist.npz)" in result[part].message
