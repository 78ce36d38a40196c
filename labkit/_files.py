"""Writing files so that they appear complete or not at all."""

from __future__ import annotations

import os
import secrets
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
