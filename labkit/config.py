"""Settings read from the environment, each at the moment it is needed.

Nothing here is cached or changed at import, so a notebook, a test or the
grader can set a variable and see its effect on the next call.

=====================  ================================================
``LABKIT_DATA_DIR``    read-only dataset mirror (``mnist/``, ``fashion-mnist/``, ``emnist/``)
``LABKIT_CACHE_DIR``   writable cache for downloads and parsed arrays
``LABKIT_PROFILE``     ``full`` (default) or ``quick``: epochs and subset sizes
``LABKIT_OFFLINE``     ``1`` forbids downloads (grading sandboxes, exams)
``LABKIT_TRACKING``    ``off`` disables Comet tracking
``LABKIT_COURSE``      the course's name (else ``course.json``; see :mod:`labkit.course`)
``LABKIT_STUDENT_ID``  the student's id (else ``labkit course --student-id``'s setting)
``LABKIT_CONFIG_DIR``  where that setting is kept (platformdirs' user config folder)
``LABKIT_HEADLESS``    ``1`` forces the non-interactive behaviour of plots
=====================  ================================================
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable; an unrecognised value is an error, not a guess."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def data_dir() -> Path | None:
    """The read-only dataset mirror, or None when ``LABKIT_DATA_DIR`` is unset."""
    raw = os.environ.get("LABKIT_DATA_DIR", "").strip()
    return Path(raw).expanduser() if raw else None


def cache_dir() -> Path:
    """Where downloads and parsed arrays are kept (created on first write, not here)."""
    raw = os.environ.get("LABKIT_CACHE_DIR", "").strip()
    if raw:
        return Path(raw).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("labkit"))


def offline() -> bool:
    """True when downloads are forbidden (``LABKIT_OFFLINE=1``)."""
    return env_flag("LABKIT_OFFLINE")


def tracking_enabled() -> bool:
    """False when ``LABKIT_TRACKING=off`` (or any false value)."""
    return env_flag("LABKIT_TRACKING", default=True)


def headless() -> bool:
    """True when nobody is watching: forced, CI, or a notebook executed by nbgrader.

    Under headless execution plots do not animate, nothing is uploaded and no
    window opens; a notebook run by a person in JupyterLab is not headless.
    """
    if env_flag("LABKIT_HEADLESS"):
        return True
    if os.environ.get("NBGRADER_EXECUTION"):  # set by nbgrader while it autogrades/validates
        return True
    return env_flag("CI")
