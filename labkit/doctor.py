"""``labkit doctor``: one screen that says whether this machine is ready for the labs.

Students paste its output into a help request; instructors run it on a JupyterHub
image. It imports the frameworks (that is the point), so it is slow-ish and
never runs on ``import labkit``.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

from labkit import __version__, config, profiles


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _tensorflow_devices() -> str:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter off the report
    try:
        import tensorflow as tf
    except Exception as exc:  # a broken install must not break the doctor
        return f"unavailable ({type(exc).__name__}: {exc})"
    gpus = tf.config.list_physical_devices("GPU")
    return f"{len(gpus)} GPU(s)" if gpus else "CPU only"


def _torch_devices() -> str:
    try:
        import torch
    except Exception as exc:
        return f"unavailable ({type(exc).__name__}: {exc})"
    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "Apple MPS"
    return f"CPU only ({torch.get_num_threads()} threads)"


def _data_summary() -> list[str]:
    from labkit.data.inventory import verify_all

    checks = verify_all()
    bad = [c for c in checks if not c.ok]
    lines = [f"  verified files:   {len(checks) - len(bad)} ok, {len(bad)} bad"]
    lines += [f"  BAD: {c.path}" for c in bad]
    names = sorted({c.dataset for c in checks if c.ok})
    lines.append(f"  datasets present: {', '.join(names) or 'none'}")
    return lines


def _comet_summary() -> str:
    if not config.tracking_enabled():
        return "off (LABKIT_TRACKING=off)"
    if os.environ.get("COMET_API_KEY"):
        return "API key from the environment (COMET_API_KEY)"
    config_file = Path(os.environ.get("COMET_CONFIG", Path.home() / ".comet.config"))
    if config_file.is_file() and "api_key" in config_file.read_text(errors="ignore"):
        return f"API key from {config_file}"
    return "no API key: experiments are saved as offline archives for `comet upload`"


def _course_summary() -> str:
    from labkit import course

    try:
        found = course.current()
    except ValueError as error:
        return f"settings unreadable: {error}"
    student = found.student_id or "no student id (labkit course --student-id ID)"
    return f"{found.name}, {student}"


def report() -> str:
    lines = [
        f"labkit {__version__}",
        f"python       {sys.version.split()[0]} ({sys.executable})",
        f"platform     {platform.platform()}, {os.cpu_count()} CPU(s)",
        f"profile      {profiles.current().name} (LABKIT_PROFILE)",
        f"numpy        {_version('numpy')}",
        f"tensorflow   {_version('tensorflow-cpu') if _version('tensorflow') == 'not installed' else _version('tensorflow')}"
        f", keras {_version('keras')}: {_tensorflow_devices()}",
        f"torch        {_version('torch')}: {_torch_devices()}",
        f"comet_ml     {_version('comet_ml')}: {_comet_summary()}",
        f"course       {_course_summary()}",
        f"data dir     {config.data_dir() or '(LABKIT_DATA_DIR not set)'}",
        f"cache dir    {config.cache_dir()}",
        f"downloads    {'off (LABKIT_OFFLINE=1)' if config.offline() else 'allowed'}",
        "data",
        *_data_summary(),
    ]
    return "\n".join(lines)
