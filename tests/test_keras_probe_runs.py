"""One submission's saved Keras models are probed in one sandbox run, and each is judged as in a run of its own.

TensorFlow takes seconds to start in every sandbox, so a lab's files go to
the probe together (:func:`autograder.scoring.keras_models.probe_files`). A
file Keras' safe mode refuses ends that run; every file it left unfinished is
probed again alone, so no file's verdict depends on the files beside it. Real
files, the real probe, the real sandbox, genuine MNIST images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder import sandbox
from autograder.pipeline.results import judged
from autograder.scoring import keras_models
from autograder.scoring.evaluation_sets import Images
from tests.grading_class import require_sandbox

LIMITS = sandbox.Limits(wall_seconds=300, memory_bytes=4 * 2**30, processes=512)
INPUT_SHAPE = (28, 28, 1)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory, mirror_dir):
    import labkit

    require_sandbox()
    images, labels = labkit.data.load("mnist", "test")
    folder = tmp_path_factory.mktemp("keras-probe-runs")
    evaluation = keras_models.write_evaluation_set(folder / "evaluation",
                                                   Images(images[:40], labels[:40].astype(np.int64), "40 images"), 10)
    sandbox.readable_by_all(evaluation.folder)
    return evaluation


def _save_models(folder: Path) -> dict[str, Path]:
    """fc.keras and cnn.keras (untrained, seeded), lambda.keras (code in a layer: safe mode refuses it), junk.keras."""
    import keras

    keras.utils.set_random_seed(3)
    layers = keras.layers
    files = {name: folder / f"{name}.keras" for name in ("fc", "lambda", "junk", "cnn")}
    keras.Sequential([keras.Input(INPUT_SHAPE), layers.Flatten(), layers.Dense(10, activation="softmax")]).save(
        files["fc"])
    keras.Sequential([keras.Input(INPUT_SHAPE), layers.Lambda(lambda x: x * 0 + 1), layers.Flatten(),
                      layers.Dense(10, activation="softmax")]).save(files["lambda"])
    files["junk"].write_bytes(b"not a zip archive")
    keras.Sequential([keras.Input(INPUT_SHAPE), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                      layers.Dense(10, activation="softmax")]).save(files["cnn"])
    return files


def _findings(probed: keras_models.ModelProbe) -> tuple:
    """What a probe found, less the run it was found in."""
    return (probed.summary, probed.summary_problem, probed.problem, probed.verdict, probed.fingerprint)


@pytest.mark.slow
def test_each_file_is_judged_as_alone_whatever_the_files_probed_beside_it(tmp_path, evaluation):
    files = _save_models(tmp_path)
    together = keras_models.probe_files(list(files.values()), evaluation, INPUT_SHAPE, LIMITS)
    alone = [keras_models.probe(path, evaluation, INPUT_SHAPE, LIMITS) for path in files.values()]
    for name, shared, own in zip(files, together, alone):
        assert _findings(shared) == _findings(own), name
        assert (shared.predictions is None) == (own.predictions is None), name
        if own.predictions is not None:
            np.testing.assert_allclose(shared.predictions, own.predictions, rtol=1e-5, atol=1e-6, err_msg=name)
    found = dict(zip(files, together))
    assert found["fc"].predictions is not None and found["cnn"].predictions is not None
    assert found["lambda"].problem.startswith("The model file could not be loaded in Keras' safe mode")
    assert "is not a Keras model file" in found["junk"].problem
    # fc.keras finished in the run of the three loadable files, which lambda.keras ended; cnn.keras and
    # lambda.keras were then probed again, each alone. junk.keras never reached a sandbox.
    assert found["fc"].run_files == ("fc.keras", "lambda.keras", "cnn.keras")
    assert (found["lambda"].run_files, found["cnn"].run_files, found["junk"].run_files) == (
        ("lambda.keras",), ("cnn.keras",), ())


@pytest.mark.slow
def test_files_that_load_share_one_run_that_the_runs_record_once(tmp_path, evaluation):
    files = _save_models(tmp_path)
    fc, cnn = keras_models.probe_files([files["fc"], files["cnn"]], evaluation, INPUT_SHAPE, LIMITS)
    assert fc.run_files == cnn.run_files == ("fc.keras", "cnn.keras")
    assert (fc.seconds, fc.peak_memory_bytes) == (cnn.seconds, cnn.peak_memory_bytes) and fc.seconds > 0
    passed = judged("part", 1, True, "ok")
    graded = keras_models.GradedModels({
        name: keras_models.GradedModel(probed, passed, passed, probed.fingerprint,
                                       {"seconds": probed.seconds, "peak_memory_bytes": probed.peak_memory_bytes})
        for name, probed in (("fc", fc), ("cnn", cnn))})
    assert list(graded.runs) == ["fc and cnn models"]
