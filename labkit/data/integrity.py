"""Is this file the official one? Hash checks that also recognise the usual impostors.

A file is accepted when its own sha256 is the official one, or when its
uncompressed content has the official content hash (a recompressed copy, such as
Debian's). Everything else is refused with a message that says what the file
actually is: truncated, an HTML error page saved under a data name, not gzip at
all, or simply different.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from labkit.data.errors import IntegrityError
from labkit.data.registry import FileSpec

_CHUNK = 1 << 20


@dataclass(frozen=True)
class VerifiedFile:
    """A file that passed verification, with its uncompressed content."""

    path: Path
    sha256: str
    content: bytes
    how: str  # a phrase for reports: which check it passed


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_impostor(head: bytes) -> str | None:
    """Name what a non-gzip file looks like, from its first bytes."""
    text = head.lstrip()[:512].lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return "an HTML page (a download that hit an error or login page), not data"
    if text.startswith((b"<?xml", b"<error")):
        return "an XML error document (typically a cloud-storage 'AccessDenied'), not data"
    if text.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer file, not the data it points to (run `git lfs pull`)"
    return None


def verify(path: Path, spec: FileSpec) -> VerifiedFile:
    """Check ``path`` against the official ``spec`` and return its uncompressed content.

    Raises
    ------
    IntegrityError
        With the file's path, what it is, and the expected hash.
    """
    path = Path(path)
    raw = path.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    expected = f"sha256 {spec.sha256}" if spec.sha256 else "no published hash"

    def refuse(problem: str) -> IntegrityError:
        return IntegrityError(
            f"{path} is not the official {spec.name}: {problem} "
            f"(expected {expected}"
            + (f", {spec.size:,} bytes" if spec.size else "")
            + f"; this file has sha256 {actual}, {len(raw):,} bytes)."
        )

    if not spec.name.endswith(".gz"):  # plain-text files, such as EMNIST's mappings
        if spec.sha256 and actual != spec.sha256:
            raise refuse(describe_impostor(raw[:1024]) or "its content differs")
        return VerifiedFile(path, actual, raw, "official sha256")

    if raw[:2] != b"\x1f\x8b":
        raise refuse(describe_impostor(raw[:1024]) or "it is not a gzip file")
    if spec.size is not None and len(raw) < spec.size and actual != spec.sha256:
        truncated_hint = f"it is truncated ({len(raw):,} of {spec.size:,} bytes)"
    else:
        truncated_hint = None
    try:
        content = gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise refuse(truncated_hint or f"it is damaged or truncated ({exc})") from None

    if spec.sha256 and actual == spec.sha256:
        return VerifiedFile(path, actual, content, "official sha256")
    if spec.content_sha256:
        if hashlib.sha256(content).hexdigest() == spec.content_sha256:
            return VerifiedFile(path, actual, content, "official content sha256 (recompressed copy)")
        raise refuse(truncated_hint or "its content differs from the official file")
    if spec.sha256:
        raise refuse(truncated_hint or "it differs from the official file")
    return VerifiedFile(path, actual, content, "structure only (no official hash is published)")
