"""Loading one split of one dataset: find, verify, parse once, then memory-map.

The slow path (verify the official files, gunzip, parse, turn EMNIST upright)
runs once per source; its result is cached as ``.npy`` files, and every later
load is a memory map of those. See :mod:`labkit.data.cache`.
"""

from __future__ import annotations

import warnings

import numpy as np

from labkit.data import cache, download, idx, integrity, sources
from labkit.data.errors import DataError, DatasetNotFoundError, IntegrityError
from labkit.data.registry import DatasetSpec, FileSpec, check_split, get
from labkit.data.split import Split


# ----------------------------------------------------------------- finding files
def _verified(dataset: DatasetSpec, spec: FileSpec, locations, problems: list[str]):
    """The first of ``locations`` holding a verified ``spec``; bad copies are reported (ours deleted)."""
    for location in locations:
        try:
            return integrity.verify(location.path, spec)
        except IntegrityError as exc:
            if location.ours:
                location.path.unlink(missing_ok=True)
                problem = f"{exc} It was deleted from the cache."
            else:
                problem = (
                    f"{exc} labkit skipped it; replace it with the official file "
                    f"(`labkit data verify` checks a whole mirror)."
                )
            warnings.warn(problem, stacklevel=4)
            problems.append(problem)
    return None


def _download(dataset: DatasetSpec, specs: list[FileSpec], problems: list[str]) -> None:
    """Fetch ``specs`` into the cache: each from the configured mirrors, then officially."""
    target_dir = sources.download_dir(dataset)
    left = []
    for spec in specs:
        urls = download.mirror_urls(dataset, spec)
        if dataset.archive is None:
            urls += download.official_urls(dataset, spec)
        if not urls:
            left.append(spec)
            continue
        known = f"sha256:{spec.sha256}" if spec.sha256 else None
        try:
            download.fetch_file(urls, target_dir / spec.name, known)
        except DataError as exc:
            problems.append(str(exc))
            left.append(spec)
    if left and dataset.archive is not None:
        members = [member for _, member in download.archive_members(dataset.archive)]
        try:
            download.fetch_archive(dataset.archive, target_dir, members)
        except DataError as exc:
            problems.append(str(exc))


def resolve(dataset: DatasetSpec, specs: list[FileSpec], *, allow_download: bool | None = None):
    """Verified copies of every file in ``specs``, downloading what is missing.

    Raises one :class:`DatasetNotFoundError` naming every missing file and where
    to put it, rather than stopping at the first.
    """
    if allow_download is None:
        allow_download = download.downloads_allowed()
    problems: list[str] = []
    found = {spec: _verified(dataset, spec, sources.existing(dataset, spec), problems) for spec in specs}
    missing = [spec for spec, file in found.items() if file is None]
    if missing and allow_download:
        _download(dataset, missing, problems)
        for spec in missing:
            downloaded = sources.Location(sources.download_dir(dataset) / spec.name, "cache")
            if downloaded.path.is_file():
                found[spec] = _verified(dataset, spec, [downloaded], problems)
        missing = [spec for spec, file in found.items() if file is None]
    if missing:
        how = (
            "Downloads are off (LABKIT_OFFLINE=1)"
            if not allow_download
            else "They could not be downloaded"
        )
        urls = dataset.archive.urls[0] if dataset.archive else dataset.base_urls[0]
        lines = [
            f"{dataset.title}: {len(missing)} file(s) missing: "
            + ", ".join(spec.name for spec in missing) + ".",
            f"{how}. Get the official files (from {urls}) and {sources.where_to_put(dataset)}, "
            f"or set LABKIT_DATA_DIR to a mirror that has them, then run `labkit data verify`.",
        ]
        if problems:
            lines.append("Details:\n" + "\n".join(f"- {p}" for p in problems))
        raise DatasetNotFoundError("\n".join(lines))
    return found


# ------------------------------------------------------------------ parsing files
def _parse(verified: integrity.VerifiedFile, ndim: int) -> np.ndarray:
    try:
        return idx.parse(verified.content, ndim=ndim)
    except idx.IDXFormatError as exc:
        raise IntegrityError(f"{verified.path} is not a valid IDX file: {exc}") from None


def build_arrays(dataset: DatasetSpec, split: str, images_file, labels_file):
    """Official IDX content -> upright uint8 images and 0-based int64 labels, checked."""
    images = _parse(images_file, 3)
    labels = _parse(labels_file, 1)
    expected = dataset.counts[split]
    if images.shape != (expected, 28, 28) or labels.shape != (expected,):
        raise IntegrityError(
            f"{dataset.title} {split}: expected {expected:,} images of 28x28 and as many labels, "
            f"found images {images.shape} ({images_file.path}) and labels {labels.shape} "
            f"({labels_file.path})."
        )
    labels = labels.astype(np.int64) - dataset.label_offset
    if labels.min() < 0 or labels.max() >= dataset.n_classes:
        raise IntegrityError(
            f"{labels_file.path}: labels span {labels.min()}..{labels.max()}, "
            f"outside the {dataset.n_classes} classes of {dataset.title}."
        )
    if dataset.transposed:  # EMNIST stores each image transposed; make it upright once, here
        images = images.transpose(0, 2, 1)
    return np.ascontiguousarray(images), labels


# ------------------------------------------------------------------------ loading
def _describe(verified: integrity.VerifiedFile) -> str:
    return f"{verified.path} ({verified.how})"


def _fast_path(key: str, dataset: DatasetSpec, specs: list[FileSpec]):
    paths = []
    for spec in specs:
        found = sources.existing(dataset, spec)
        if not found:
            return None
        paths.append(found[0].path)
    return cache.read(key, [cache.stamp(p) for p in paths])


def load_official(name: str, split: str, *, allow_download: bool | None = None) -> Split:
    """One official split, verified on first use from each place, memory-mapped after."""
    dataset = get(name)
    check_split(split)
    specs = [dataset.images[split], dataset.labels[split]]
    key = f"{dataset.name}-{split}"
    entry = _fast_path(key, dataset, specs)
    if entry is None:
        with cache.lock(key):
            entry = _fast_path(key, dataset, specs)  # another process may have built it
            if entry is None:
                files = resolve(dataset, specs, allow_download=allow_download)
                images_file, labels_file = files[specs[0]], files[specs[1]]
                images, labels = build_arrays(dataset, split, images_file, labels_file)
                entry = cache.write(key, images, labels, {
                    "dataset": dataset.name,
                    "split": split,
                    "sources": [
                        {**cache.stamp(f.path), "sha256": f.sha256, "how": f.how}
                        for f in (images_file, labels_file)
                    ],
                    "provenance": (
                        f"{dataset.title}, official {split} split from "
                        f"{_describe(images_file)} and {_describe(labels_file)}"
                    ),
                })
    return Split(entry.images, entry.labels, dataset=dataset.name, split=split,
                 provenance=entry.meta["provenance"])


def official_available(name: str, split: str, *, allow_download: bool | None = None) -> bool:
    """Whether the official files of a split can be had (locally, or by downloading them)."""
    dataset = get(name)
    if _fast_path(f"{dataset.name}-{split}", dataset, dataset.files(split)) is not None:
        return True  # verified when it was cached
    try:
        resolve(dataset, dataset.files(split), allow_download=allow_download)
    except DataError:
        return False
    return True


# -------------------------------------------------------------------- class names
def parse_mapping(text: str, label_offset: int = 0) -> tuple[str, ...]:
    """EMNIST's ``label ascii [ascii...]`` lines -> class names ordered by 0-based label.

    Letters' mapping gives an upper- and a lower-case code per label (``1 65 97``):
    that class is named ``"A/a"``.
    """
    rows = [line.split() for line in text.splitlines() if line.strip()]
    try:
        pairs = sorted((int(r[0]) - label_offset, "/".join(chr(int(c)) for c in r[1:])) for r in rows)
    except (ValueError, IndexError):
        raise IntegrityError("an EMNIST mapping file must hold lines of integers: 'label ascii...'.") from None
    labels = [label for label, _ in pairs]
    if labels != list(range(len(labels))):
        raise IntegrityError(f"mapping labels are not 0..{len(labels) - 1} after the offset.")
    return tuple(name for _, name in pairs)


def class_names(name: str) -> tuple[str, ...]:
    """Class names in label order, from the official mapping file where there is one."""
    dataset = get(name)
    if dataset.mapping is None:
        return dataset.class_names
    mapping = resolve(dataset, [dataset.mapping])[dataset.mapping]
    names = parse_mapping(mapping.content.decode("ascii"), dataset.label_offset)
    if len(names) != dataset.n_classes:
        raise IntegrityError(f"{mapping.path} lists {len(names)} classes, not {dataset.n_classes}.")
    return names
