"""What dataset files a machine has, and whether each is genuine: the logic behind
``labkit data verify`` and ``labkit data info``.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.data import integrity, sources
from labkit.data.errors import IntegrityError
from labkit.data.registry import DATASETS, DatasetSpec, FileSpec


@dataclass(frozen=True)
class FileCheck:
    dataset: str
    file: str
    origin: str  # mirror, cache, system
    path: str
    ok: bool
    detail: str  # how it verified, or what is wrong


def registered_files(dataset: DatasetSpec) -> list[FileSpec]:
    return dataset.files() + ([dataset.mapping] if dataset.mapping else [])


def unique_files():
    """(dataset, spec) for every registered file, each physical file once."""
    seen = set()
    for dataset in DATASETS.values():
        for spec in registered_files(dataset):
            if (dataset.folder, spec.name) not in seen:
                seen.add((dataset.folder, spec.name))
                yield dataset, spec


def verify_all() -> list[FileCheck]:
    """Hash-check every copy of every registered file that exists anywhere labkit looks."""
    checks = []
    for dataset, spec in unique_files():
        for location in sources.existing(dataset, spec):
            try:
                verified = integrity.verify(location.path, spec)
                checks.append(FileCheck(dataset.name, spec.name, location.origin,
                                        str(location.path), True, verified.how))
            except IntegrityError as exc:
                checks.append(FileCheck(dataset.name, spec.name, location.origin,
                                        str(location.path), False, str(exc)))
    return checks


def availability(dataset: DatasetSpec) -> dict[str, str]:
    """For each split (and the mapping), where its files are: an origin name or 'missing'."""
    def where(specs):
        origins = []
        for spec in specs:
            found = sources.existing(dataset, spec)
            origins.append(found[0].origin if found else "missing")
        return "missing" if "missing" in origins else "/".join(sorted(set(origins)))

    result = {split: where(dataset.files(split)) for split in ("train", "test")}
    if dataset.mapping:
        result["mapping"] = where([dataset.mapping])
    return result


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
