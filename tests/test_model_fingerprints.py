"""Finding copied models by their weights, not their files' bytes.

The fast tests check the pure parts: which pairs of students are listed and
how (``identical-models.csv``, read back with the csv module), what a probe's
report must be to be taken, the result file's round trip, and the sketch's
noise between unrelated weights. The slow ones save real Keras and PyTorch
models (tiny, trained a few steps on real MNIST images) and have the real
probes fingerprint them in the real sandbox: a re-saved or re-zipped copy is
identical, a copy with noise of 1e-4 or one more tiny training step is
near-identical, and a model trained from other starting weights is neither.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import zipfile

import numpy as np
import pytest

from autograder import sandbox
from autograder.pipeline.grading import identical_models
from autograder.pipeline.results import SubmissionResult, judged, read_result, write_result
from autograder.probes import weights_fingerprint
from autograder.probes.weights_fingerprint import SKETCH_SIZE
from autograder.reports import feedback
from autograder.scoring import keras_models, model_fingerprints, torch_models
from autograder.scoring.evaluation_sets import Images
from autograder.scoring.model_fingerprints import (
    CSV_HEADER,
    NEAR_IDENTICAL,
    ModelFingerprint,
    SimilarPair,
    similar_pairs,
)

LIMITS = sandbox.Limits(wall_seconds=300, memory_bytes=4 * 2**30, processes=512)
STUDENTS = ("original", "re-saved", "re-zipped", "noise", "one-more-step", "independent")


def _sketch(similarity: float, axis: int) -> tuple[float, ...]:
    """A unit sketch at cosine ``similarity`` with the first axis, the rest on ``axis``: two such
    sketches (on different axes) are at the product of their similarities."""
    vector = np.zeros(SKETCH_SIZE)
    vector[0], vector[axis] = similarity, np.sqrt(1 - similarity**2)
    return tuple(vector)


# --- the pairs and the CSV -----------------------------------------------------------------------------


def test_identical_and_near_identical_pairs_are_listed_most_alike_first(tmp_path):
    base = _sketch(1.0, 1)
    by_student = {
        "ann": {"cnn": ModelFingerprint("a" * 64, base), "fc": ModelFingerprint("c" * 64, base)},
        "bob": {"cnn": ModelFingerprint("a" * 64, base)},  # ann's cnn, however saved
        "=cmd|' /C calc'!A0": {"cnn": ModelFingerprint("b" * 64, _sketch(0.9, 2))},
        "dan": {"cnn": ModelFingerprint("d" * 64, _sketch(0.45, 3)),  # just below the threshold
                "fc": ModelFingerprint("c" * 64)},  # graded before sketches: equal weights all the same
        "eve": {"cnn": ModelFingerprint("e" * 64, _sketch(0.55, 4))},  # just above it
    }
    assert NEAR_IDENTICAL == 0.5
    pairs = similar_pairs(by_student)
    assert [(p.model, p.student, p.other_student, p.kind, p.similarity) for p in pairs] == [
        ("cnn", "ann", "bob", "identical", 1.0),
        ("cnn", "=cmd|' /C calc'!A0", "ann", "near-identical", 0.9),
        ("cnn", "=cmd|' /C calc'!A0", "bob", "near-identical", 0.9),
        ("cnn", "ann", "eve", "near-identical", 0.55),
        ("cnn", "bob", "eve", "near-identical", 0.55),
        ("fc", "ann", "dan", "identical", None),
    ]  # dan's cnn is with no one; nor is eve with the =cmd student (0.9 x 0.55 = 0.495)
    feedback.write_identical_models_csv(tmp_path / "identical-models.csv", pairs)
    with open(tmp_path / "identical-models.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == CSV_HEADER == ["model", "kind", "similarity", "student", "other_student"]
    assert rows[1] == ["cnn", "identical", "1.0000", "ann", "bob"]
    assert rows[2] == ["cnn", "near-identical", "0.9000", "'=cmd|' /C calc'!A0", "ann"]  # shown, not run
    assert rows[-1] == ["fc", "identical", "", "ann", "dan"]
    assert len(rows) == 1 + len(pairs)


def test_a_class_with_no_shared_model_gets_a_header_only(tmp_path):
    by_student = {f"s{k}": {"cnn": ModelFingerprint(f"{k:064x}", _sketch(0.7, k + 1))} for k in range(20)}
    assert similar_pairs(by_student) == []
    feedback.write_identical_models_csv(tmp_path / "identical-models.csv", [])
    assert list(csv.reader((tmp_path / "identical-models.csv").open())) == [CSV_HEADER]


def test_what_a_probe_reports_is_taken_only_as_a_digest_and_finite_numbers():
    sketch = [0.0625] * SKETCH_SIZE
    good = {"fingerprint": "0" * 64, "sketch": sketch, "tensors": 3}
    assert model_fingerprints.validated(good) == ModelFingerprint("0" * 64, tuple(sketch))
    for forged in ({**good, "fingerprint": "0" * 63}, {**good, "fingerprint": "Z" * 64},
                   {**good, "fingerprint": 7}, {**good, "sketch": sketch[:-1]},
                   {**good, "sketch": [*sketch[:-1], float("nan")]}, {**good, "sketch": [*sketch[:-1], True]},
                   {**good, "sketch": [*sketch[:-1], "1"]}, {**good, "sketch": {"0": 1}}, [good], None):
        assert model_fingerprints.validated(forged) is None, forged


def test_fingerprints_round_trip_through_the_result_file_and_old_results_still_read(tmp_path):
    fingerprint = ModelFingerprint("ab" * 32, _sketch(0.6, 7))
    result = SubmissionResult("s1", "lab1-mnist", "hash", (judged("p", 1, True, "ok"),),
                              fingerprints={"cnn": fingerprint})
    write_result(result, tmp_path / "s1.json")
    assert read_result(tmp_path / "s1.json") == result
    old = result.to_json() | {"student_id": "s0", "fingerprints": {"cnn": "cd" * 32}}  # a file's sha256
    assert SubmissionResult.from_json(old).fingerprints == {"cnn": ModelFingerprint("cd" * 32)}
    copy = dataclasses.replace(result, student_id="s2")
    assert identical_models([SubmissionResult.from_json(old), read_result(tmp_path / "s1.json"), copy]) == [
        SimilarPair("cnn", "s1", "s2", "identical", 1.0)]


# --- the probes' arithmetic -------------------------------------------------------------------------


def test_the_fingerprint_depends_on_the_numbers_not_their_order_or_last_bits():
    rng = np.random.default_rng(0)
    tensors = [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)).astype(np.float32)]
    report = weights_fingerprint.report(tensors)
    assert weights_fingerprint.report(tensors[::-1]) == report
    last_bits = [tensor * (1 + 1e-9) for tensor in tensors]
    assert weights_fingerprint.report(last_bits)["fingerprint"] == report["fingerprint"]
    with_counter = [*tensors, np.array(1234, dtype=np.int64)]  # a step counter is not a weight
    assert weights_fingerprint.report(with_counter) == report
    transposed = [tensors[0].T.copy(), *tensors[1:]]  # same numbers, another shape: another model
    assert weights_fingerprint.report(transposed)["fingerprint"] != report["fingerprint"]


def test_unrelated_weights_stay_far_below_the_threshold_in_a_class_of_300():
    """The lower end of NEAR_IDENTICAL's measurement: the sketch's own noise, 44,850 pairs."""
    shapes = [(3, 3, 1, 8), (8,), (3, 3, 8, 16), (16,), (400, 32), (32,), (32,), (32,), (32, 10), (10,)]
    rng = np.random.default_rng(0)
    sketches = np.array([weights_fingerprint.sketch([rng.normal(size=shape) for shape in shapes])
                         for _ in range(300)])
    similarities = (sketches @ sketches.T)[np.triu_indices(300, 1)]
    assert abs(similarities.mean()) < 0.01
    assert similarities.std() == pytest.approx(1 / np.sqrt(SKETCH_SIZE), rel=0.1)
    assert similarities.max() < NEAR_IDENTICAL / 1.5


# --- real models through the real sandbox -------------------------------------------------------------


def _require_sandbox():
    if not sandbox.available():
        pytest.fail("bubblewrap cannot create a sandbox here; the grading tests need it (see autograder/sandbox/bubblewrap.py).")


def _mnist(count: int):
    import labkit.data

    images, labels = labkit.data.load("mnist", "train")
    return images[:count], labels[:count].astype(np.int64)


def _rezipped(source, target) -> None:
    """The same members, in the opposite order, with a zip comment."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in reversed(old.infolist()):
            new.writestr(info.filename, old.read(info))
        new.comment = b"handed in by someone else"


def _keras_models(folder, images, labels) -> dict:
    """Each student's .keras file: one trained model, its copies, and one trained from other weights."""
    import keras

    def trained(seed: int):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(),
                                  keras.layers.Flatten(), keras.layers.Dense(10)])
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(images, labels, batch_size=32, epochs=1, verbose=0)
        return model

    files = {student: folder / f"{student}.keras" for student in STUDENTS}
    original = trained(1)
    original.save(files["original"])
    keras.saving.load_model(files["original"]).save(files["re-saved"])  # another date in its metadata
    _rezipped(files["original"], files["re-zipped"])
    noisy = keras.models.clone_model(original)
    noise = np.random.default_rng(2)
    noisy.set_weights([w + noise.normal(0, 1e-4, w.shape) for w in original.get_weights()])
    noisy.save(files["noise"])
    stepped = keras.saving.load_model(files["original"])
    stepped.optimizer.learning_rate.assign(1e-5)
    stepped.fit(images[:32], labels[:32], batch_size=32, epochs=1, verbose=0)
    stepped.save(files["one-more-step"])
    trained(2).save(files["independent"])
    return files


@pytest.fixture(scope="module")
def keras_fingerprints(tmp_path_factory, mirror_dir):
    """What the real Keras probe, in the sandbox, makes of each student's file."""
    _require_sandbox()
    folder = tmp_path_factory.mktemp("keras-fingerprints")
    images, labels = _mnist(256)
    files = _keras_models(folder, keras_models.prepare(images), labels)
    evaluation = keras_models.write_evaluation_set(folder / "evaluation", Images(images[:20], labels[:20], "20 images"),
                                                   10)
    sandbox.readable_by_all(evaluation.folder)
    found = {student: keras_models.probe(path, evaluation, (28, 28, 1), LIMITS) for student, path in files.items()}
    for student, probed in found.items():
        assert probed.predictions is not None and probed.fingerprint is not None, (student, probed.problem)
    return files, {student: probed.fingerprint for student, probed in found.items()}


def _listed(fingerprints: dict) -> dict[frozenset, tuple[str, float]]:
    """Each listed pair of students: its kind and similarity."""
    pairs = similar_pairs({student: {"model": fingerprint} for student, fingerprint in fingerprints.items()})
    return {frozenset((pair.student, pair.other_student)): (pair.kind, pair.similarity) for pair in pairs}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_re_saved_or_re_zipped_keras_model_is_identical(keras_fingerprints):
    files, fingerprints = keras_fingerprints
    contents = {student: path.read_bytes() for student, path in files.items()}
    assert len(set(contents.values())) == len(STUDENTS)  # no two files alike byte for byte
    listed = _listed(fingerprints)
    trio = ("original", "re-saved", "re-zipped")
    for pair in itertools.combinations(trio, 2):
        assert listed[frozenset(pair)][0] == "identical"
        assert listed[frozenset(pair)][1] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_slightly_changed_keras_model_is_near_identical(keras_fingerprints):
    _, fingerprints = keras_fingerprints
    listed = _listed(fingerprints)
    for student in ("noise", "one-more-step"):
        kind, similarity = listed[frozenset(("original", student))]
        assert kind == "near-identical" and similarity > 0.99, (student, similarity)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_keras_model_trained_from_other_weights_is_neither(keras_fingerprints):
    _, fingerprints = keras_fingerprints
    assert not any("independent" in pair for pair in _listed(fingerprints))
    sketches = {student: np.asarray(fingerprint.sketch) for student, fingerprint in fingerprints.items()}
    assert abs(sketches["independent"] @ sketches["original"]) < NEAR_IDENTICAL / 1.5


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pytorch_copies_are_found_and_an_independent_network_is_not(tmp_path, mirror_dir):
    _require_sandbox()
    import torch
    from safetensors.torch import save_file

    from labkit import models

    images, labels = _mnist(256)
    inputs = torch.from_numpy(images[:, None].astype(np.float32) / 255.0)
    targets = torch.from_numpy(labels)

    def trained_step(network, rows: slice, learning_rate: float):
        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
        network.train()
        for start in range(rows.start, rows.stop, 32):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(network(inputs[start:start + 32]), targets[start:start + 32]).backward()
            optimizer.step()
        return network

    def lenet(seed: int):
        torch.manual_seed(seed)
        return trained_step(models.LeNet(num_classes=62), slice(0, 256), 1e-3)

    files = {student: tmp_path / f"{student}.safetensors" for student in ("original", "re-saved", "noise",
                                                                          "one-more-step", "independent")}
    original = lenet(1)
    models.save_state(original, files["original"])
    state = {name: tensor.detach().clone() for name, tensor in original.state_dict().items()}
    save_file(dict(reversed(state.items())), str(files["re-saved"]), metadata={"saved by": "someone else"})
    noise = torch.Generator().manual_seed(2)
    save_file({name: tensor + 1e-4 * torch.randn(tensor.shape, generator=noise) if tensor.is_floating_point()
               else tensor for name, tensor in state.items()}, str(files["noise"]))
    stepped = models.LeNet(num_classes=62)
    stepped.load_state_dict(state)
    models.save_state(trained_step(stepped, slice(0, 32), 1e-5), files["one-more-step"])
    models.save_state(lenet(2), files["independent"])

    reference = torch_models.reference("lenet", 62, 1.0, {})
    evaluation = torch_models.write_evaluation_set(tmp_path / "evaluation", "images", inputs[:20].numpy(),
                                                   labels[:20], "20 images")
    sandbox.readable_by_all(evaluation.folder)
    ran = torch_models.run_models([torch_models.ModelRun(student, path, reference, evaluation)
                                   for student, path in files.items()], LIMITS)
    assert ran.run["status"] == "ok", ran.run
    assert set(ran.fingerprints) == set(files)
    assert files["original"].read_bytes() != files["re-saved"].read_bytes()
    listed = _listed(ran.fingerprints)
    assert listed[frozenset(("original", "re-saved"))][0] == "identical"
    for student in ("noise", "one-more-step"):
        kind, similarity = listed[frozenset(("original", student))]
        assert kind == "near-identical" and similarity > 0.99, (student, similarity)
    assert not any("independent" in pair for pair in listed)
