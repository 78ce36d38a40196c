"""Parsed arrays kept as ``.npy`` files, so a repeated load is a memory map, not a gunzip.

An entry is ``<cache>/arrays/<key>/`` with ``images.npy``, ``labels.npy`` and
``meta.json``. ``meta.json`` is written last and names the exact source files
(path, size, modification time): an entry whose sources changed or moved is
stale and is rebuilt, which is how a file gets verified again "when it is first
used from a new place". Every file is written under a temporary name and renamed,
so a crash never leaves an entry that looks complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit import config
from labkit._files import replaced_atomically

FORMAT = 1


def entry_dir(key: str) -> Path:
    return config.cache_dir() / "arrays" / key


def stamp(path: Path) -> dict:
    """What identifies a source file cheaply: where it is, its size and mtime."""
    info = path.stat()
    return {"path": str(path.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


@dataclass(frozen=True)
class Entry:
    images: np.ndarray
    labels: np.ndarray
    meta: dict


def read(key: str, sources: list[dict] | None = None) -> Entry | None:
    """The cached arrays for ``key``, memory-mapped read-only, or None when absent or stale.

    ``sources`` are the stamps the caller would build the entry from; the entry is
    valid only if it was built from exactly those.
    """
    directory = entry_dir(key)
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if meta.get("format") != FORMAT:
        return None
    if sources is not None and [
        {k: s[k] for k in ("path", "size", "mtime_ns")} for s in meta.get("sources", [])
    ] != sources:
        return None
    try:
        images = np.load(directory / "images.npy", mmap_mode="r")
        labels = np.load(directory / "labels.npy", mmap_mode="r")
    except (FileNotFoundError, ValueError, OSError):
        return None
    return Entry(images, labels, meta)


def write(key: str, images: np.ndarray, labels: np.ndarray, meta: dict) -> Entry:
    """Store an entry atomically and return it memory-mapped."""
    directory = entry_dir(key)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "meta.json").unlink(missing_ok=True)  # the entry is invalid until rewritten
    for name, array in (("images.npy", images), ("labels.npy", labels)):
        with replaced_atomically(directory / name) as handle:
            np.save(handle, np.ascontiguousarray(array))
    meta = {"format": FORMAT, **meta}
    with replaced_atomically(directory / "meta.json", "w") as handle:
        json.dump(meta, handle, indent=2)
    entry = read(key)
    assert entry is not None
    return entry


def lock(key: str):
    """A file lock serialising the building of one entry across processes."""
    from filelock import FileLock

    directory = config.cache_dir() / "arrays"
    directory.mkdir(parents=True, exist_ok=True)
    return FileLock(str(directory / f"{key}.lock"), timeout=3600)
