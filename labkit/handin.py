"""What a student hands in, and the grader's limits on it: written once, read by both sides.

A lab's hand-in is its folder: ``<lab>.ipynb``, ``artifacts/`` (``metrics.json`` and one model
file per graded model, named as in :mod:`labkit.targets`; for a lab that compares networks, its
table and one weights file per network compared) and ``comet-offline/``. The grader
(``autograder``) takes its file list and its limits from here, and so does the student's own check
before hand-in (``labkit check-submission``, :mod:`labkit.check.submission`), so the two cannot
disagree about what is missing or too large.

The save cell of each lab ends with :func:`save_metrics`, which stamps ``metrics.json`` with a
*run record*: a fresh run id, the profile, a hash of every file in ``artifacts/`` and a short hash
of every cell the kernel ran. The run id is also printed in the save cell's output, so the notebook
file, once saved, names the run whose artifacts it goes with; the check compares the three (the
notebook's output, ``metrics.json``, the files themselves).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labkit._files import replaced_atomically

MODEL_FORMATS = {
    "lab1-mnist": ".keras",
    "lab2-fashion-mnist": ".keras",
    "lab3-annealing-augmentation": ".keras",
    "lab4-emnist-baselines": ".keras",
    "lab5-emnist-deep-models": ".safetensors",
}
"""The format each lab saves its graded models in: Keras' own archive, or PyTorch weights as safetensors."""

ARTIFACTS = "artifacts"
METRICS = "metrics.json"
COMET_OFFLINE = "comet-offline"

MAX_MODEL_BYTES = 32 * 2**20
"""A graded model file larger than this is not loaded (the course's largest, lab 5's VGG with batch norm at
width 1.0, is about 6 MB)."""
MAX_METRICS_BYTES = 2**20
"""``metrics.json`` larger than this is not read."""
MAX_NOTEBOOK_BYTES = 16 * 2**20
"""A notebook larger than this is not run by the grader: clear large outputs (images) first."""
RUN_KEY = "run"
"""The key of the run record in ``metrics.json``."""
RUN_MARKER = "Saved for hand-in: run "
"""How the save cell's output names its run: ``Saved for hand-in: run <id> ...``."""
MAX_CELL_HASHES = 2000


@dataclass(frozen=True)
class Limits:
    """How much of one submission the grader takes; what lies beyond is left out, with a note."""

    depth: int = 32
    """Folders within folders (``artifacts/`` is one level)."""
    entries: int = 10_000
    """Files and folders looked at."""
    file_bytes: int = 64 * 2**20
    total_bytes: int = 256 * 2**20
    path_chars: int = 1_000
    """The length of a file's path inside the submission."""


LIMITS = Limits()


def model_files(lab: str) -> dict[str, str]:
    """Each graded model of ``lab`` -> its file in ``artifacts/``: ``{"fc": "fc.keras", "cnn": "cnn.keras"}``."""
    from labkit.targets import TARGETS

    if lab not in MODEL_FORMATS or lab not in TARGETS:
        raise KeyError(f"no hand-in for lab {lab!r}; labs: {', '.join(MODEL_FORMATS)}")
    return {model: f"{model}{MODEL_FORMATS[lab]}" for model in TARGETS[lab]}


COMPARISON_TABLES = {"lab5-emnist-deep-models": "comparison.json"}
"""The labs whose notebook trains every network of :mod:`labkit.models` under one budget, and the file in
``artifacts/`` its table of their scores goes to; each network's weights go beside it (:func:`compared_files`)."""


def compared_files(lab: str) -> dict[str, str]:
    """Each network a lab compares -> its weights file in ``artifacts/``: ``{"lenet": "compare-lenet.safetensors",
    ...}``, every architecture of :mod:`labkit.models`; empty for a lab without a comparison."""
    from labkit.models import ARCHITECTURES

    if lab not in COMPARISON_TABLES:
        return {}
    return {network: f"compare-{network}{MODEL_FORMATS[lab]}" for network in ARCHITECTURES}


def graded_files(lab: str) -> list[str]:
    """Every file of the lab folder the grader reads, as paths inside it (the notebook first)."""
    compared = [COMPARISON_TABLES[lab], *compared_files(lab).values()] if lab in COMPARISON_TABLES else []
    return [f"{lab}.ipynb", f"{ARTIFACTS}/{METRICS}",
            *(f"{ARTIFACTS}/{name}" for name in [*model_files(lab).values(), *compared])]


# --- the grader's rule for each entry of a submission --------------------------------------------------


def is_text(name: str) -> bool:
    """Whether a file name (as :mod:`os` decodes it) is UTF-8 text, so that it can be written anywhere."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def entry_kind(entry: os.DirEntry) -> tuple[str, int]:
    """What ``entry`` is (``"file"``, ``"folder"``, ``"link"``, ``"special"`` or ``"unreadable"``), never
    following a link, and its size when it is a file: what :func:`left_out` judges."""
    try:
        if entry.is_symlink():
            return "link", 0
        if entry.is_dir(follow_symlinks=False):
            return "folder", 0
        if entry.is_file(follow_symlinks=False):
            return "file", entry.stat(follow_symlinks=False).st_size
        return "special", 0
    except OSError:
        return "unreadable", 0


def left_out(path: str, kind: str, size: int, total: int, limits: Limits = LIMITS) -> str | None:
    """Why the entry at ``path`` (a ``"file"``, ``"folder"``, ``"link"``, ...) is left out, or None.

    ``total`` is the bytes taken so far.
    """
    if not is_text(path):
        return "its name is not UTF-8 text; rename it with plain letters and digits"
    if len(path) > limits.path_chars:
        return f"a path of more than {limits.path_chars:,} characters"
    if kind == "link":
        return "a link, not a file"
    if kind == "folder":
        depth = path.count("/") + 1
        return (f"folders nested more than {limits.depth} levels deep; what it holds was left out"
                if depth > limits.depth else None)
    if kind != "file":
        return "not a regular file (a FIFO, socket or device)" if kind == "special" else "could not be read"
    if size > limits.file_bytes or total + size > limits.total_bytes:
        return (f"{size:,} bytes, over the limit of {limits.file_bytes:,} per file "
                f"and {limits.total_bytes:,} per submission")
    return None


# --- the save cell's run record ------------------------------------------------------------------------


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def cell_hash(source: str) -> str:
    """A short hash of a cell's code, blind to the blank lines and spaces around it."""
    return hashlib.sha256(source.strip().encode("utf-8")).hexdigest()[:16]


def executed_cells() -> list[str] | None:
    """The code of every cell this IPython kernel has run since it started, or None outside IPython."""
    import sys

    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return None
    return [source for source in shell.history_manager.input_hist_raw if source.strip()]


def save_metrics(metrics: Mapping[str, Any], artifacts: str | os.PathLike = ARTIFACTS, *,
                 executed: Iterable[str] | None = None, show: bool = True) -> dict:
    """Write ``artifacts/metrics.json`` with a run record added; print it (and the run) when ``show``.

    The record (``metrics["run"]``) holds a new run id, the time, the profile, the sha256 of every
    other file in ``artifacts/`` as it is now, and a short hash of each cell the kernel ran
    (``executed``: the kernel's own history by default; pass the sources outside a notebook).
    Returns the metrics as written.
    """
    from labkit import __version__
    from labkit.profiles import current

    folder = Path(artifacts)
    folder.mkdir(parents=True, exist_ok=True)
    sources = list(executed) if executed is not None else executed_cells()
    files = {path.name: file_hash(path) for path in sorted(folder.iterdir())
             if path.is_file() and not path.is_symlink() and path.name != METRICS and not path.name.startswith(".")}
    record: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "profile": str(metrics.get("profile") or current().name),
        "labkit": __version__,
        "files": files,
    }
    if sources is not None:
        hashes = list(dict.fromkeys(cell_hash(source) for source in sources))
        record["cells"] = hashes[-MAX_CELL_HASHES:]
    written = {**{key: value for key, value in metrics.items() if key != RUN_KEY}, RUN_KEY: record}
    with replaced_atomically(folder / METRICS, "w", encoding="utf-8") as handle:
        json.dump(written, handle, indent=2)
    if show:
        shown = {**written, RUN_KEY: {key: record[key] for key in ("id", "saved_at", "profile")}}
        print(json.dumps(shown, indent=2))
        print(f"{RUN_MARKER}{record['id']} ({record['profile']} profile, {len(files)} model file(s)). "
              "Save the notebook (Ctrl+S), then run the check below.")
    return written
