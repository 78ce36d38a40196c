"""labkit.device: device detection, threads, seeds and determinism, on this machine's CPU."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections import namedtuple

import numpy as np
import pytest
import torch

from labkit.device import DeviceInfo, available_cpus, choose_threads, summary_line


# --------------------------------------------------------------------------- pure helpers
def test_choose_threads_defaults_to_every_available_cpu_and_honours_a_request():
    assert choose_threads(None, available=6) == 6
    assert choose_threads(2, available=6) == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_choose_threads_rejects_anything_but_a_positive_integer(bad):
    with pytest.raises(ValueError, match="positive integer"):
        choose_threads(bad, available=4)


def test_available_cpus_counts_the_cpus_this_process_may_use():
    assert 1 <= available_cpus() <= os.cpu_count()


def test_summary_line_on_a_cpu():
    info = DeviceInfo("torch", "2.13.0", "cpu", "CPU", 1, threads=2, seed=0, deterministic=False)
    assert summary_line(info, "full") == (
        "labkit: torch 2.13.0 on CPU (2 threads), seed 0 — the labs will use the CPU budget "
        "(profile full)"
    )


def test_summary_line_on_gpus_names_them_and_the_gpu_budget():
    info = DeviceInfo("tf", "2.21.0", "cuda", "NVIDIA H100", 2, threads=1, seed=7, deterministic=True)
    assert summary_line(info, "quick") == (
        "labkit: tensorflow 2.21.0 on 2 × NVIDIA H100 (CUDA, 1 thread on the CPU), seed 7, "
        "deterministic — the labs will use the GPU budget (profile quick)"
    )


def test_device_info_is_frozen():
    info = DeviceInfo("torch", "2.13.0", "cpu", "CPU", 1, 2, 0, False)
    with pytest.raises(AttributeError):
        info.seed = 1


def test_a_tensorflow_device_info_has_no_torch_device():
    info = DeviceInfo("tf", "2.21.0", "cpu", "CPU", 1, 2, 0, False)
    with pytest.raises(ValueError, match="setup\\('torch'\\)"):
        info.torch_device


# --------------------------------------------------------------------------- torch setup
@pytest.fixture
def restore_torch_state(monkeypatch):
    """setup changes process-wide settings; put them back for the other tests."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def _draws():
    return torch.rand(3).tolist(), random.random(), float(np.random.rand())


@pytest.mark.slow
def test_torch_setup_prints_one_line_and_describes_the_cpu(restore_torch_state, capsys, monkeypatch):
    from labkit.device import setup

    monkeypatch.setenv("LABKIT_PROFILE", "quick")
    info = setup("torch", seed=5, threads=1)

    assert capsys.readouterr().out.splitlines() == [summary_line(info, "quick")]
    assert (info.framework, info.seed, info.threads, info.deterministic) == ("torch", 5, 1, False)
    assert info.version == torch.__version__
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert (info.kind, info.name, info.count) == ("cpu", "CPU", 1)
        assert info.torch_device == torch.device("cpu")


@pytest.mark.slow
def test_torch_setup_sets_the_thread_count(restore_torch_state):
    from labkit.device import setup

    setup("torch", threads=1)
    assert torch.get_num_threads() == 1
    assert setup("torch", threads=2).threads == torch.get_num_threads() == 2


@pytest.mark.slow
def test_torch_setup_seeds_python_numpy_and_torch(restore_torch_state):
    from labkit.device import setup

    setup("torch", seed=123)
    first = _draws()
    setup("torch", seed=123)
    assert _draws() == first
    setup("torch", seed=124)
    assert _draws() != first


@pytest.mark.slow
def test_labkit_seed_replaces_the_notebook_s_seed_for_calibration_runs(restore_torch_state, monkeypatch):
    from labkit.device import setup

    setup("torch", seed=7)
    seven = _draws()
    monkeypatch.setenv("LABKIT_SEED", "7")
    assert setup("torch", seed=123).seed == 7 and _draws() == seven
    monkeypatch.setenv("LABKIT_SEED", "seven")
    with pytest.raises(ValueError, match="LABKIT_SEED='seven' is not an integer"):
        setup("torch", seed=123)


@pytest.mark.slow
def test_torch_determinism_is_switched_on_and_off(restore_torch_state):
    from labkit.device import setup

    assert setup("torch", deterministic=True).deterministic
    assert torch.are_deterministic_algorithms_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"

    assert not setup("torch", deterministic=False).deterministic
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize(
    "arguments, message",
    [({"framework": "jax"}, "use 'tf' or 'torch'"), ({"framework": "torch", "seed": -1}, "seed")],
)
def test_setup_rejects_bad_arguments(arguments, message):
    from labkit.device import setup

    with pytest.raises(ValueError, match=message):
        setup(**arguments)


# --------------------------------------------------------------------------- to_device
Pair = namedtuple("Pair", "images labels")


def test_to_device_moves_every_tensor_and_keeps_the_structure():
    from labkit.device import to_device

    batch = {
        "pair": Pair(torch.zeros(2, 1, 28, 28), torch.arange(2)),
        "list": [torch.ones(3), "a name", 7],
        "tuple": (torch.ones(1),),
    }
    # "meta" is a real PyTorch device without storage: any machine can move tensors there.
    moved = to_device(batch, "meta")

    assert isinstance(moved["pair"], Pair)
    assert moved["pair"].images.device.type == moved["pair"].labels.device.type == "meta"
    assert moved["pair"].images.shape == (2, 1, 28, 28)
    assert isinstance(moved["list"], list) and moved["list"][1:] == ["a name", 7]
    assert moved["list"][0].device.type == "meta"
    assert isinstance(moved["tuple"], tuple) and moved["tuple"][0].device.type == "meta"
    assert batch["pair"].images.device.type == "cpu"  # the input is left alone


def test_to_device_accepts_a_device_info():
    from labkit.device import to_device

    info = DeviceInfo("torch", torch.__version__, "cpu", "CPU", 1, 1, 0, False)
    images, labels = to_device((torch.zeros(2), torch.ones(2)), info)
    assert images.device == labels.device == torch.device("cpu")


# --------------------------------------------------------------------------- TensorFlow setup
_TF_SCRIPT = textwrap.dedent(
    """
    import json, random, warnings
    import numpy as np
    import tensorflow as tf
    from labkit.device import setup

    def draws():
        return tf.random.uniform([3]).numpy().tolist(), random.random(), float(np.random.rand())

    info = setup("tf", seed=3, threads=1)
    first = draws()
    threads = [tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads()]
    with warnings.catch_warnings(record=True) as same_settings:
        warnings.simplefilter("always")
        setup("tf", seed=3, threads=1)  # TensorFlow is initialised now, but nothing changes
    second = draws()
    with warnings.catch_warnings(record=True) as too_late:
        warnings.simplefilter("always")
        late = setup("tf", seed=3, threads=2)
    print(json.dumps({
        "info": [info.framework, info.kind, info.threads, info.seed, info.version == tf.__version__],
        "threads": threads,
        "same_draws": first == second,
        "same_settings_warnings": [str(w.message) for w in same_settings],
        "too_late_warnings": [str(w.message) for w in too_late],
        "late_threads": late.threads,
    }))
    """
)


@pytest.mark.slow
def test_tensorflow_setup_in_a_fresh_process():
    """TensorFlow's thread pools can be sized only before it initialises: a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _TF_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    result = json.loads(lines[-1])

    printed = [line for line in lines[:-1] if line.startswith("labkit:")]
    assert len(printed) == 3  # one line per setup call
    assert printed[0].startswith("labkit: tensorflow ") and "seed 3" in printed[0]
    framework, kind, threads, seed, version_matches = result["info"]
    assert (framework, threads, seed, version_matches) == ("tf", 1, 3, True)
    assert kind in ("cuda", "mps", "cpu")
    assert result["threads"] == [1, 1]
    assert result["same_draws"]
    assert result["same_settings_warnings"] == []
    assert len(result["too_late_warnings"]) == 1
    assert "already initialised" in result["too_late_warnings"][0]
    assert "first cell" in result["too_late_warnings"][0]
    assert result["late_threads"] == 1  # reports what is in effect, not what was asked
