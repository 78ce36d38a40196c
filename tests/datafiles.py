"""Building scratch mirrors and caches from the genuine files, for tests that break things."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path


def scratch_mirror(real_mirror: Path, root: Path, folders=("mnist",)) -> Path:
    """A writable mirror whose files are copies of the genuine ones."""
    for folder in folders:
        shutil.copytree(real_mirror / folder, root / folder,
                        ignore=shutil.ignore_patterns("partial"))
    for path in root.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return root


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


HTML_PAGE = b"<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>\n"


def recompress(path: Path, level: int = 1) -> None:
    """Recompress in place, as Debian's packages do: same content, different bytes."""
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=level, mtime=0))
