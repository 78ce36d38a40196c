"""The one way the grader reads what a sandbox left behind.

Everything a sandboxed run writes into its ``workdir`` (a probe's arrays and
JSON, the executed notebook) was written by code the student controls, and so
was every folder above it: ``.autograder-probe/<part>`` can be a link to files
the notebook wrote earlier, or to a host file only the grader can read. So
every read goes through :func:`read_bytes`, which refuses a link anywhere on the
path, anything but a regular file (a FIFO would hang the grader), and more than
the caller's size cap; the typed readers below add what each kind of data must
be. Read only after :func:`autograder.sandbox.run` has returned, when nothing
inside is left to swap files. No grader opens a sandbox's files another way
(``tests/test_sandbox_output.py`` checks the grader modules for it).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autograder.sandbox.untrusted import UntrustedDataError, loads_json


class OutputRefused(ValueError):
    """A file the sandbox left behind is not plain data the grader may use; the message says why."""


def read_bytes(workdir: Path, name: str | Path, max_bytes: int) -> bytes:
    """The bytes of ``workdir/name``, a regular file reached through no link, of at most ``max_bytes``.

    Raises :class:`FileNotFoundError` when there is no such file, and
    :class:`OutputRefused` for anything else the grader must not read.
    """
    workdir = Path(workdir).resolve()
    path = Path(os.path.normpath(workdir / name))
    if workdir not in path.parents:
        raise OutputRefused(f"{name} leads out of the sandbox's folder; it was not read.")
    for step in [*reversed(path.relative_to(workdir).parents), path.relative_to(workdir)][1:]:
        try:
            info = os.lstat(workdir / step)
        except FileNotFoundError:
            raise FileNotFoundError(f"{name} was not written") from None
        if stat.S_ISLNK(info.st_mode):
            raise OutputRefused(f"{step} is a link, not what the grader wrote; {name} was not read.")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OutputRefused(f"{name} is not a regular file; it was not read.")
        if info.st_size > max_bytes:
            raise OutputRefused(f"{name} has {info.st_size:,} bytes, more than the {max_bytes:,} expected.")
        return file.read(max_bytes)


def exists(workdir: Path, name: str | Path) -> bool:
    """Whether ``workdir/name`` is there at all (link or not): to tell "never written" from "refused"."""
    try:
        os.lstat(Path(workdir) / name)
    except OSError:
        return False
    return True


def read_or_none(read: Callable[[str, int], Any], name: str, max_bytes: int) -> Any:
    """``read(name, max_bytes)`` with one of the readers here (an :class:`OutputFolder`'s); None when the
    file was never written or is refused: for a probe whose missing output is itself the verdict."""
    try:
        return read(name, max_bytes)
    except (FileNotFoundError, OutputRefused, OSError):
        return None


def read_json(workdir: Path, name: str | Path, max_bytes: int) -> Any:
    """``workdir/name`` parsed as bounded JSON (:func:`autograder.sandbox.untrusted.loads_json`)."""
    data = read_bytes(workdir, name, max_bytes)
    try:
        return loads_json(data, max_bytes=max_bytes)
    except UntrustedDataError as error:
        raise OutputRefused(f"{name}: {error}") from None


def read_text(workdir: Path, name: str | Path, max_bytes: int) -> str:
    """``workdir/name`` as UTF-8 text."""
    try:
        return read_bytes(workdir, name, max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise OutputRefused(f"{name} is not UTF-8 text.") from None


def read_array(workdir: Path, name: str | Path, max_bytes: int, *, kinds: str = "biuf",
               shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The ``.npy`` array in ``workdir/name``: no pickles, numbers of a dtype kind in ``kinds`` only,
    of ``shape`` when one is given."""
    data = read_bytes(workdir, name, max_bytes)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as error:  # numpy raises many kinds on a malformed file
        raise OutputRefused(f"{name} is not a readable array ({type(error).__name__}).") from None
    array = _checked(array, name, kinds)
    if shape is not None and array.shape != tuple(shape):
        raise OutputRefused(f"{Path(name).name} has shape {array.shape}, not {tuple(shape)}.")
    return array


def read_arrays(workdir: Path, name: str | Path, max_bytes: int, *, kinds: str = "biuf",
                max_arrays: int = 4096) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``workdir/name`` by name, each checked as :func:`read_array` does."""
    data = read_bytes(workdir, name, max_bytes)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            if len(stored.files) > max_arrays:
                raise OutputRefused(f"{name} holds {len(stored.files):,} arrays, more than {max_arrays:,}.")
            arrays = {key: stored[key] for key in stored.files}
    except OutputRefused:
        raise
    except Exception as error:
        raise OutputRefused(f"{name} is not a readable set of arrays ({type(error).__name__}).") from None
    return {key: _checked(array, f"{name}:{key}", kinds) for key, array in arrays.items()}


_KIND_NAMES = {"b": "booleans", "i": "integers", "u": "integers", "f": "floating-point numbers"}


def _checked(array: np.ndarray, name: str, kinds: str) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype.kind not in kinds:
        wanted = " or ".join(dict.fromkeys(_KIND_NAMES[kind] for kind in kinds))
        raise OutputRefused(f"{Path(str(name)).name} holds {getattr(array, 'dtype', type(array))} values, "
                            f"not {wanted}.")
    return array


class OutputFolder:
    """A folder of a sandbox's ``workdir`` where one probe writes, read only through this module.

    The graders get one of these, never a path, so that reading a probe's
    answer the careful way is also the only way.
    """

    def __init__(self, workdir: Path, folder: str | Path) -> None:
        self.workdir, self.folder = Path(workdir), Path(folder)

    def __repr__(self) -> str:
        return f"OutputFolder({str(self.workdir / self.folder)!r})"

    def exists(self, name: str) -> bool:
        return exists(self.workdir, self.folder / name)

    def read_bytes(self, name: str, max_bytes: int) -> bytes:
        return read_bytes(self.workdir, self.folder / name, max_bytes)

    def read_json(self, name: str, max_bytes: int) -> Any:
        return read_json(self.workdir, self.folder / name, max_bytes)

    def read_text(self, name: str, max_bytes: int) -> str:
        return read_text(self.workdir, self.folder / name, max_bytes)

    def read_array(self, name: str, max_bytes: int, **checks) -> np.ndarray:
        return read_array(self.workdir, self.folder / name, max_bytes, **checks)

    def read_arrays(self, name: str, max_bytes: int, **checks) -> dict[str, np.ndarray]:
        return read_arrays(self.workdir, self.folder / name, max_bytes, **checks)
