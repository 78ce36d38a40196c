"""One call at the top of a lab: pick the device, size the CPU threads, seed everything.

Labs start with::

    info = labkit.device.setup("torch", seed=0)
    model = Net().to(info.torch_device)
    for batch in loader:
        images, labels = labkit.device.to_device(batch, info)

Nothing here runs at import, and neither TensorFlow nor PyTorch is imported until
``setup`` is called for it. The decisions (how many threads, what to print) are
pure functions; ``setup`` is the thin layer that applies them to a framework.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from labkit.profiles import current as current_profile

FRAMEWORKS = ("tf", "torch")
_PACKAGE_NAMES = {"tf": "tensorflow", "torch": "torch"}
_KIND_LABELS = {"cuda": "CUDA", "mps": "Apple MPS", "cpu": "CPU"}

# cuBLAS reuses workspaces nondeterministically unless told otherwise; this is the
# setting PyTorch's reproducibility notes recommend.
_CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"

_TOO_LATE_FOR_TF = (
    "labkit: TensorFlow was already initialised, so {what} could not be changed. "
    "Call labkit.device.setup('tf') in the first cell, before any other TensorFlow "
    "code, then restart the kernel and run the notebook again."
)


@dataclass(frozen=True)
class DeviceInfo:
    """What :func:`setup` found and configured; printed once, passed to the helpers.

    Attributes
    ----------
    framework : {"tf", "torch"}
    version : str
        The framework's version, e.g. ``"2.13.0+cpu"``.
    kind : {"cuda", "mps", "cpu"}
        The accelerator the framework will compute on.
    name : str
        The device's marketing name, e.g. ``"NVIDIA H100 80GB HBM3"``, or ``"CPU"``.
    count : int
        How many devices of that kind the framework sees (1 for the CPU).
    threads : int
        CPU threads the framework uses for its operations.
    seed : int
    deterministic : bool
        True when setup asked the framework for deterministic kernels.
    """

    framework: str
    version: str
    kind: str
    name: str
    count: int
    threads: int
    seed: int
    deterministic: bool

    @property
    def accelerated(self) -> bool:
        """True on a GPU, where the labs can afford their larger budgets."""
        return self.kind != "cpu"

    @property
    def torch_device(self):
        """The ``torch.device`` to put models and batches on (PyTorch labs only)."""
        if self.framework != "torch":
            raise ValueError(
                f"This DeviceInfo describes {_PACKAGE_NAMES[self.framework]}; "
                "call labkit.device.setup('torch') to get a torch device."
            )
        import torch

        return torch.device(self.kind)


def available_cpus() -> int:
    """CPUs this process may run on: the affinity mask where the OS has one, else all."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def choose_threads(requested: int | None, available: int) -> int:
    """The thread count to use: the request when given, otherwise every available CPU.

    A shared course server pins each student to a few cores; sizing the pools to
    the affinity mask rather than the whole machine avoids oversubscription.
    """
    if requested is None:
        return max(1, available)
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise ValueError(
            f"threads={requested!r} is not a positive integer; pass None to use "
            f"all {available} CPUs available to this process."
        )
    return requested


def summary_line(info: DeviceInfo, profile: str) -> str:
    """The one line ``setup`` prints, so a reader of a graded notebook sees where it ran."""
    threads = f"{info.threads} thread{'s' if info.threads != 1 else ''}"
    kind = _KIND_LABELS[info.kind]
    if info.accelerated:
        devices = info.name if info.count == 1 else f"{info.count} × {info.name}"
        where = f"{devices} ({kind}, {threads} on the CPU)"
    else:
        where = f"{kind} ({threads})"
    determinism = ", deterministic" if info.deterministic else ""
    budget = "GPU" if info.accelerated else "CPU"
    return (
        f"labkit: {_PACKAGE_NAMES[info.framework]} {info.version} on {where}, "
        f"seed {info.seed}{determinism} — the labs will use the {budget} budget "
        f"(profile {profile})"
    )


def seed_from_environment(seed: int) -> int:
    """``LABKIT_SEED`` as an integer when it is set, else ``seed``."""
    raw = os.environ.get("LABKIT_SEED", "").strip()
    if not raw:
        return seed
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"LABKIT_SEED={raw!r} is not an integer; set it to a seed such as 1, or unset it.") from None


def setup(
    framework: str = "tf",
    seed: int = 0,
    deterministic: bool = False,
    threads: int | None = None,
) -> DeviceInfo:
    """Configure ``framework`` for a lab, print one line about it and describe it.

    Parameters
    ----------
    framework : {"tf", "torch"}
    seed : int
        Seeds Python's ``random``, NumPy's global generator and the framework, so
        that weight initialisation and shuffling repeat from run to run.
        ``LABKIT_SEED``, when set, takes its place: the calibration benchmarks
        re-run a lab's unchanged notebook on several seeds that way.
    deterministic : bool
        Also ask for deterministic kernels: slower on a GPU, but a rerun gives the
        same numbers. Once on, TensorFlow cannot turn it off again in the same process.
    threads : int, optional
        CPU threads for the framework's operations; all available CPUs by default.

    Returns
    -------
    DeviceInfo

    Notes
    -----
    For TensorFlow, call this before any other TensorFlow code: GPU memory growth
    and thread pools can only be set before TensorFlow initialises. When it is too
    late, setup warns and reports the settings actually in effect. On a CPU-only
    machine it never fails.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework={framework!r} is not supported; use 'tf' or 'torch'.")
    seed = seed_from_environment(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed!r} must be an integer in 0 .. 2**32 - 1.")
    wanted_threads = choose_threads(threads, available_cpus())

    configure = _configure_tf if framework == "tf" else _configure_torch
    info = configure(seed=seed, deterministic=bool(deterministic), threads=wanted_threads)
    print(summary_line(info, current_profile().name))
    return info


def as_torch_device(target):
    """The ``torch.device`` that ``target`` names: a DeviceInfo, a torch.device or a string."""
    import torch

    return target.torch_device if isinstance(target, DeviceInfo) else torch.device(target)


def to_device(batch, target):
    """Move every tensor in ``batch`` to ``target``, keeping the batch's structure.

    ``batch`` may be a tensor or a tuple, named tuple, list or dict of them (nested
    as deep as needed); anything that is not a tensor, such as a file name, is
    returned unchanged. ``target`` is a :class:`DeviceInfo`, a ``torch.device`` or
    a device string such as ``"cuda"``.
    """
    import torch

    device = as_torch_device(target)
    # Asynchronous copies pay off only for CUDA; they are safe because PyTorch
    # orders them before any later use of the tensor on that device.
    non_blocking = device.type == "cuda"

    def move(item):
        if isinstance(item, torch.Tensor):
            return item.to(device, non_blocking=non_blocking)
        if isinstance(item, tuple) and hasattr(item, "_fields"):
            return type(item)(*(move(value) for value in item))
        if isinstance(item, (tuple, list)):
            return type(item)(move(value) for value in item)
        if isinstance(item, dict):
            return type(item)((key, move(value)) for key, value in item.items())
        return item

    return move(batch)


def _configure_torch(*, seed: int, deterministic: bool, threads: int) -> DeviceInfo:
    import torch

    if torch.cuda.is_available():
        kind, count = "cuda", torch.cuda.device_count()
        name = torch.cuda.get_device_name(0)
    elif torch.backends.mps.is_available():
        kind, name, count = "mps", "Apple GPU", 1
    else:
        kind, name, count = "cpu", "CPU", 1

    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and every CUDA and MPS device
    if deterministic:
        # Must be in the environment before cuBLAS creates its first handle.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_DETERMINISTIC_WORKSPACE)
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic)

    return DeviceInfo(
        framework="torch",
        version=torch.__version__,
        kind=kind,
        name=name,
        count=count,
        threads=torch.get_num_threads(),
        seed=seed,
        deterministic=deterministic,
    )


def _configure_tf(*, seed: int, deterministic: bool, threads: int) -> DeviceInfo:
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    too_late = []
    try:
        # Without growth TensorFlow reserves all GPU memory up front, which
        # starves any other notebook sharing the GPU.
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        too_late.append("GPU memory growth")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        too_late.append("the thread count")
    if too_late:
        warnings.warn(_TOO_LATE_FOR_TF.format(what=" and ".join(too_late)), stacklevel=3)

    keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow at once
    if deterministic:
        tf.config.experimental.enable_op_determinism()

    if gpus:
        # tensorflow-metal registers Apple GPUs as ordinary "GPU" devices.
        kind = "mps" if sys.platform == "darwin" else "cuda"
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
    else:
        kind, name = "cpu", "CPU"

    return DeviceInfo(
        framework="tf",
        version=tf.__version__,
        kind=kind,
        name=name,
        count=max(1, len(gpus)),
        # 0 means "TensorFlow's default", which is one thread per available CPU.
        threads=tf.config.threading.get_intra_op_parallelism_threads() or available_cpus(),
        seed=seed,
        deterministic=deterministic,
    )

