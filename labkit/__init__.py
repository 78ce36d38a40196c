"""labkit: the helper library of a graded deep-learning image-classification course.

Importing ``labkit`` is cheap: it loads neither TensorFlow nor PyTorch, nor even
matplotlib. Submodules are imported on first attribute access, so
``labkit.data.load(...)`` or ``labkit.plot.confusion_matrix(...)`` work after a
bare ``import labkit``. It does prepare one thing: TensorFlow, whenever it is
first imported afterwards, starts without its start-up notes (:mod:`labkit._tf_startup`).
"""

from __future__ import annotations

import importlib

from labkit import _tf_startup

__version__ = "0.1.0"

_SUBMODULES = ("augment", "check", "config", "course", "data", "device", "handin", "live", "models", "plot", "profiles",
               "settings", "targets", "track")

__all__ = ["__version__", "check_submission", "profile", *_SUBMODULES]

_tf_startup.install()


def profile():
    """The active run profile (``LABKIT_PROFILE=full|quick``); see :mod:`labkit.profiles`."""
    from labkit.profiles import current

    return current()


def check_submission(notebook=None, *, profile: str = "full", load: bool = True):
    """Check this lab's folder as the grader will read it: one line per check (see :mod:`labkit.check.submission`)."""
    from labkit.check.submission import check_submission as check

    return check(notebook, profile=profile, load=load)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"labkit.{name}")
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
