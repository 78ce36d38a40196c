"""Writing files so that they appear complete or not at all, and only where they were meant to go."""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_atomically(path: Path, mode: str = "wb", **open_args):
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block succeeds.

    A crash or an exception inside the block leaves ``path`` as it was (absent or
    the previous version) and no temporary file behind.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, mode.replace("w", "x"), **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class NotARealFolder(NotADirectoryError):
    """A step of a path is a link or a file where a folder was expected: nothing is read or written through it."""

    def __init__(self, path: Path, kind: str):
        super().__init__(f"{path} is {kind}, not a folder; nothing is read or written through it")
        self.path, self.kind = path, kind


def real_folder(root: Path, names, *, create: bool = True) -> Path | None:
    """``root/names[0]/names[1]/...``, each step a real folder (no link), made when missing and ``create``.

    Returns None when a step is missing and not ``create``; raises
    :class:`NotARealFolder` when a step is a link or a file, so that a link
    planted below ``root`` never leads a write (or a delete) outside it.
    """
    path = Path(root)  # trusted: the caller's own folder
    if create:
        path.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = path / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            if not create:
                return None
            path.mkdir()
            continue
        if not stat.S_ISDIR(mode):
            raise NotARealFolder(path, "a link" if stat.S_ISLNK(mode) else "a file")
    return path
