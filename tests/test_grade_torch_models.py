"""Checking saved PyTorch networks: real safetensors files made from labkit.models networks.

The fast tests check each file as data (no tensor loaded): a good file, wrong
shapes, missing and extra tensors, oversized files, pickles, files that are not
safetensors at all, and links. The slow one loads files in the real sandbox.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from autograder import sandbox
from autograder.scoring import torch_models
from autograder.scoring.torch_models import ModelRun, StateFileError, read_header

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

from labkit import models  # noqa: E402


@pytest.fixture(scope="module")
def lenet_reference():
    return torch_models.reference("lenet", 62, 1.0, {})


def _save(network, path):
    models.save_state(network, path)
    return path


def _state(network) -> dict:
    return {name: tensor.detach().clone().contiguous() for name, tensor in network.state_dict().items()}


def test_a_saved_lenet_fits_the_reference_exactly(tmp_path, lenet_reference):
    path = _save(models.LeNet(num_classes=62), tmp_path / "lenet.safetensors")
    header = read_header(path)
    assert set(header) == set(lenet_reference.tensors)
    assert header["features.0.weight"] == torch_models.TensorEntry("F32", (6, 1, 5, 5))
    assert torch_models.differences(header, lenet_reference) == []
    assert torch_models.checked_file(path, lenet_reference, "the LeNet") is None
    assert lenet_reference.parameter_count == 35_814  # the hidden test's count
    assert "features.0.weight" in lenet_reference.parameters
    assert "classifier.2.running_mean" not in lenet_reference.parameters  # a buffer, not a parameter


def test_a_network_of_another_width_is_refused_naming_each_misshapen_tensor(tmp_path):
    path = _save(models.VGG(num_classes=62, width=0.5, batch_norm=True), tmp_path / "vgg.safetensors")
    problem = torch_models.checked_file(path, torch_models.reference("vgg", 62, 0.25, {"batch_norm": True}), "the VGG")
    assert "models.build('vgg', num_classes=62, width=0.25, batch_norm=True)" in problem
    assert "features.0.weight is F32 [8, 1, 3, 3], the network's is F32 [4, 1, 3, 3]" in problem
    without_norm = torch_models.checked_file(path, torch_models.reference("vgg", 62, 0.5, {}), "the VGG")
    assert "tensor(s) are not in the network" in without_norm and "num_batches_tracked" in without_norm


def test_missing_and_extra_tensors_are_named(tmp_path, lenet_reference):
    state = _state(models.LeNet(num_classes=62))
    del state["classifier.8.bias"]
    state["classifier.9.weight"] = torch.zeros(3)
    save_file(state, str(tmp_path / "lenet.safetensors"))
    problem = torch_models.checked_file(tmp_path / "lenet.safetensors", lenet_reference, "the LeNet")
    assert "1 tensor(s) the network has are missing: 'classifier.8.bias'" in problem
    assert "1 tensor(s) are not in the network: 'classifier.9.weight'" in problem
    half = {name: tensor.half() if tensor.is_floating_point() else tensor
            for name, tensor in _state(models.LeNet(num_classes=62)).items()}
    save_file(half, str(tmp_path / "half.safetensors"))
    assert "is F16 [6, 1, 5, 5], the network's is F32" in torch_models.checked_file(
        tmp_path / "half.safetensors", lenet_reference, "the LeNet")


def test_a_ten_class_lenet_is_not_the_62_class_one(tmp_path, lenet_reference):
    path = _save(models.LeNet(num_classes=10), tmp_path / "lenet.safetensors")
    assert "classifier.8.weight is F32 [10, 84], the network's is F32 [62, 84]" in torch_models.checked_file(
        path, lenet_reference, "the LeNet")


def test_oversized_files_are_refused_before_anything_is_read(tmp_path):
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as handle:
        handle.truncate(torch_models.MAX_STATE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(StateFileError, match="more than the 33,554,432"):
        read_header(path)
    small = _save(models.LeNet(num_classes=62), tmp_path / "lenet.safetensors")
    with pytest.raises(StateFileError, match="bytes, more than the 1,000"):
        read_header(small, max_bytes=1000)


def test_pickles_are_refused_without_being_loaded(tmp_path):
    state = models.LeNet(num_classes=62).state_dict()
    torch.save(state, tmp_path / "zip.safetensors")  # torch's default: a zip holding a pickle
    torch.save(state, tmp_path / "legacy.safetensors", _use_new_zipfile_serialization=False)
    for name in ("zip.safetensors", "legacy.safetensors"):
        with pytest.raises(StateFileError, match="is a pickle .* models.save_state"):
            read_header(tmp_path / name)


@pytest.mark.parametrize("content", [
    b"", b"not a model", b"\xff" * 64, struct.pack("<Q", 2**40) + b"{}",
    struct.pack("<Q", 4) + b"[1,]", struct.pack("<Q", 2) + b"[]",
])
def test_files_that_are_not_safetensors_are_refused(tmp_path, content):
    path = tmp_path / "lenet.safetensors"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match="not a valid safetensors file .* models.save_state"):
        read_header(path)


def test_a_header_whose_offsets_do_not_match_the_data_is_refused(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    path = tmp_path / "short.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 32)  # 32 bytes for 64 declared
    with pytest.raises(StateFileError, match="not a valid safetensors file .*not fully covered.* models.save_state"):
        read_header(path)
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 60]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)  # 60 bytes is not 16 floats
    with pytest.raises(StateFileError, match="not a valid safetensors file .*invalid shape, data type, or offset"):
        read_header(path)


def test_links_and_missing_files_are_refused(tmp_path, lenet_reference):
    real = _save(models.LeNet(num_classes=62), tmp_path / "real.safetensors")
    (tmp_path / "lenet.safetensors").symlink_to(real)
    assert "is a link" in torch_models.checked_file(tmp_path / "lenet.safetensors", lenet_reference, "the LeNet")
    assert "is missing: run the save cell" in torch_models.checked_file(
        tmp_path / "absent.safetensors", lenet_reference, "the LeNet")


def test_changed_tensors_compares_two_files_exactly(tmp_path):
    network = models.VGG(num_classes=62, width=0.25, batch_norm=True)
    before = _save(network, tmp_path / "before.safetensors")
    with torch.no_grad():
        network.features[0].weight[0, 0, 0, 0] += 1e-6
        network.features[1].running_mean += 1.0  # a buffer: not among the names compared
    after = _save(network, tmp_path / "after.safetensors")
    names = ["features.0.weight", "features.0.bias", "features.1.weight"]
    assert torch_models.changed_tensors(before, after, names) == ["features.0.weight"]
    assert torch_models.changed_tensors(before, before, names) == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_files_are_loaded_strictly_and_run_only_in_the_sandbox(tmp_path, lenet_reference):
    if not sandbox.available():
        pytest.fail("bubblewrap cannot create a sandbox here; the grading tests need it (see autograder/sandbox/bubblewrap.py).")
    torch.manual_seed(0)
    network = models.LeNet(num_classes=62).eval()
    good = _save(network, tmp_path / "good.safetensors")
    broken = _state(network)
    broken["classifier.8.weight"][0, 0] = float("nan")
    save_file(broken, str(tmp_path / "nan.safetensors"))
    inputs = np.random.default_rng(0).normal(size=(50, 1, 28, 28)).astype(np.float32)
    evaluation = torch_models.write_evaluation_set(tmp_path / "evaluation", "images", inputs, np.zeros(50, int),
                                                   "50 random images")
    sandbox.readable_by_all(evaluation.folder)
    ran = torch_models.run_models([ModelRun("good", good, lenet_reference, evaluation),
                                   ModelRun("nan", tmp_path / "nan.safetensors", lenet_reference, evaluation)],
                                  sandbox.Limits(wall_seconds=300, memory_bytes=4 * 2**30, processes=512))
    assert ran.run["status"] == "ok", ran.run
    with torch.no_grad():
        expected = network(torch.from_numpy(inputs)).numpy()
    assert ran.found["good"].problem is None
    np.testing.assert_allclose(ran.found["good"].predictions, expected, rtol=1e-5, atol=1e-5)
    assert ran.found["nan"].predictions is None and "NaN" in ran.found["nan"].problem
