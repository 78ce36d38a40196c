"""Where a dataset file may already be, in the order labkit looks.

1. ``LABKIT_DATA_DIR`` — a read-only mirror an instructor or a JupyterHub provides,
   laid out like ``<dir>/<folder>/<official file name>``;
2. the download cache, ``<LABKIT_CACHE_DIR>/downloads/<folder>/``;
3. the directories of Debian's dataset packages (Fashion-MNIST).

Only the cache is ours to write; a bad file found there is deleted, a bad file in
a mirror is reported and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit import config
from labkit.data.registry import DatasetSpec, FileSpec


@dataclass(frozen=True)
class Location:
    path: Path
    origin: str  # "mirror", "cache" or "system"

    @property
    def ours(self) -> bool:
        """Whether labkit wrote this file and may delete it."""
        return self.origin == "cache"


def download_dir(dataset: DatasetSpec) -> Path:
    return config.cache_dir() / "downloads" / dataset.folder


def candidates(dataset: DatasetSpec, spec: FileSpec) -> list[Location]:
    """Every place ``spec`` could be, most preferred first (existing or not)."""
    places = []
    mirror = config.data_dir()
    if mirror is not None:
        places.append(Location(mirror / dataset.folder / spec.name, "mirror"))
    places.append(Location(download_dir(dataset) / spec.name, "cache"))
    places.extend(Location(Path(d) / spec.name, "system") for d in dataset.debian_dirs)
    return places


def existing(dataset: DatasetSpec, spec: FileSpec) -> list[Location]:
    return [loc for loc in candidates(dataset, spec) if loc.path.is_file()]


def where_to_put(dataset: DatasetSpec) -> str:
    """A sentence for error messages: where missing files should go."""
    mirror = config.data_dir()
    target = download_dir(dataset)
    text = f"put them in {target}"
    if mirror is not None:
        text = f"put them in {mirror / dataset.folder} (LABKIT_DATA_DIR) or {target}"
    return text
