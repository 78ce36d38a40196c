"""Downloading official files: mirrors in turn, verified, atomic, one process at a time.

pooch does the transfer: it streams into a temporary file beside the target, checks
the hash and only then renames, so an interrupted or wrong download never leaves a
file under the official name. labkit adds what pooch leaves to its users: trying
every mirror before giving up (with the reason each one failed), a file lock so two
processes fetching the same dataset share one download, extracting EMNIST's files
from NIST's single archive, and not knocking again, for a while, on a host that
could not be reached.
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from filelock import FileLock

from labkit import config
from labkit.data import integrity
from labkit.data.errors import DownloadError, IntegrityError
from labkit.data.registry import DATASETS, ArchiveSpec, DatasetSpec, FileSpec

TIMEOUT_S = 60
LOCK_TIMEOUT_S = 3 * 3600  # a slow connection may take this long for EMNIST's 562 MB
RETRY_UNREACHABLE_AFTER_S = 300
"""How long this process skips a URL whose host could not be reached.

Offline, a notebook cell that asks whether EMNIST's official files can be had and
then loads both splits would otherwise try (and print) every URL three times, and
behind a firewall that drops packets wait out the connection timeout each time."""

_unreachable: dict[str, tuple[float, str]] = {}
"""URL -> (``time.monotonic()`` of the failed connection, its reason)."""


def mirror_urls(dataset: DatasetSpec, spec: FileSpec) -> list[str]:
    """URLs of ``spec`` on the mirrors named in ``LABKIT_MIRROR_URL`` (space separated).

    A mirror is laid out like a data directory: ``<base>/<folder>/<file name>``.
    """
    bases = os.environ.get("LABKIT_MIRROR_URL", "").split()
    return [f"{base.rstrip('/')}/{dataset.folder}/{spec.name}" for base in bases]


def official_urls(dataset: DatasetSpec, spec: FileSpec) -> list[str]:
    return [base + spec.name for base in dataset.base_urls]


def _lock(target: Path) -> FileLock:
    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target) + ".lock", timeout=LOCK_TIMEOUT_S)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ValueError) and "hash" in text.lower():
        return "the content's hash is wrong (an error page, a different file, or a cut download)"
    return f"{type(exc).__name__}: {text}"[:300]


def _could_not_connect(exc: BaseException) -> bool:
    """The host gave no answer: no network, no such host, refused, timed out or dropped.

    Only these are remembered: an HTTP error or a wrong or cut download came from a
    host that answered, and says nothing about the next try.
    """
    import requests

    return isinstance(exc, requests.exceptions.ConnectionError)


def _recently_unreachable(url: str) -> str | None:
    """Why ``url`` is skipped now, or None when it may be tried."""
    if url not in _unreachable:
        return None
    failed_at, reason = _unreachable[url]
    age = time.monotonic() - failed_at
    if age >= RETRY_UNREACHABLE_AFTER_S:
        return None
    return (
        f"not tried again: unreachable {age:.0f} s ago ({reason}); labkit tries it again "
        f"{RETRY_UNREACHABLE_AFTER_S // 60} minutes after that failure, or in a new Python process"
    )


def fetch_file(urls: Sequence[str], target: Path, known_hash: str | None, *, progress: bool = True) -> Path:
    """Download ``target`` from the first URL that delivers the expected bytes.

    Returns at once when another process already fetched the file while we waited
    for the lock. Raises :class:`DownloadError` listing every URL and its failure.
    A URL whose host could not be reached is skipped, silently, for
    ``RETRY_UNREACHABLE_AFTER_S``.
    """
    import pooch

    if not urls:
        raise DownloadError(f"no URL is known for {target.name}.")
    with _lock(target):
        if target.is_file():
            return target
        attempts = []
        for url in urls:
            skipped = _recently_unreachable(url)
            if skipped:
                attempts.append(f"  {url}: {skipped}")
                continue
            downloader = pooch.HTTPDownloader(progressbar=progress, timeout=TIMEOUT_S)
            try:
                pooch.retrieve(  # pooch logs "Downloading data from <url>" as it starts
                    url, known_hash, fname=target.name, path=target.parent,
                    downloader=downloader, progressbar=progress,
                )
                _unreachable.pop(url, None)
                return target
            except Exception as exc:  # network, HTTP status, hash: all mean "try the next URL"
                attempts.append(f"  {url}: {_reason(exc)}")
                # On pooch's logger, right under its line, so that an attempt never reads as a download.
                pooch.get_logger().info("Download failed: %s", attempts[-1].strip())
                if _could_not_connect(exc):
                    _unreachable[url] = (time.monotonic(), _reason(exc))
        raise DownloadError(
            f"could not download {target.name}; every URL failed:\n" + "\n".join(attempts)
        )


def archive_members(archive: ArchiveSpec) -> list[tuple[DatasetSpec, FileSpec]]:
    """Every registered file that ``archive`` holds (data and mapping files)."""
    members = []
    for dataset in DATASETS.values():
        if dataset.archive == archive:
            specs = dataset.files() + ([dataset.mapping] if dataset.mapping else [])
            members.extend((dataset, spec) for spec in specs)
    return members


def fetch_archive(archive: ArchiveSpec, dest: Path, members: Iterable[FileSpec], *,
                  urls: Sequence[str] | None = None, progress: bool = True) -> list[Path]:
    """Download ``archive`` once, extract ``members`` into ``dest`` verified, then delete it.

    Each member is written to a temporary name and renamed only after it verifies,
    so an extraction cut short leaves no half file. The archive is removed after a
    complete extraction: its members are what labkit uses, and it is large.
    """
    members = list(members)
    zip_path = fetch_file(urls or archive.urls, dest / archive.name, archive.known_hash, progress=progress)
    written = []
    with _lock(dest / "extract"):
        with zipfile.ZipFile(zip_path) as bundle:
            names = set(bundle.namelist())
            for spec in members:
                target = dest / spec.name
                member = archive.member_prefix + spec.name
                if target.is_file():
                    written.append(target)
                    continue
                if member not in names:
                    raise IntegrityError(
                        f"{zip_path} does not contain {member}; delete it and fetch again."
                    )
                partial = target.with_name(target.name + ".part")
                with bundle.open(member) as src, open(partial, "wb") as out:
                    while block := src.read(1 << 20):
                        out.write(block)
                try:
                    integrity.verify(partial, spec)
                except IntegrityError:
                    partial.unlink()
                    raise
                os.replace(partial, target)
                written.append(target)
        zip_path.unlink()
    return written


def downloads_allowed() -> bool:
    return not config.offline()
