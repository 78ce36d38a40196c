"""TensorFlow's start-up notes, kept out of notebooks and command output.

Importing TensorFlow (2.21 on an x86 CPU) writes, from its C++ libraries::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796593232.467531    5062 port.cc:153] oneDNN custom operations are on. You may see ...
    I0000 00:00:1796593232.512579    5062 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...
    To enable the following instructions: AVX2 AVX512F ..., rebuild TensorFlow with the appropriate compiler flags.

In a notebook these lines show in red under the first cell, where students take
them for errors. They are written straight to file descriptor 2 while the
libraries load: no Python logging option reaches them, and ``TF_CPP_MIN_LOG_LEVEL``
silences only the last one, the preamble and the oneDNN note being written
before TensorFlow reads it.

:func:`install` (run by ``import labkit``, which is why a lab imports labkit
before Keras) therefore waits for TensorFlow's first import, whoever makes it:
Keras, a lab, the grader. During that import, file
descriptor 2 goes to a temporary file; afterwards what was written there is passed
on to ``sys.stderr``, less the log records below the level ``TF_CPP_MIN_LOG_LEVEL``
names: the filter TensorFlow applies to all its later messages. Unset, the level
becomes 1, which drops notes and keeps warnings and errors. Anything written during
the import that is not one of TensorFlow's notes is passed on too, only later.
"""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_MIN_LOG_LEVEL = "1"
"""TensorFlow's notes hidden, its warnings and errors shown: ``make lab``'s setting too."""

_SEVERITIES = "IWEF"  # INFO, WARNING, ERROR, FATAL: TF_CPP_MIN_LOG_LEVEL 0 shows from I on, 1 from W on, ...
_RECORD = re.compile(
    r"(?P<absl>[IWEF])\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\] "  # I0000 00:00:1796593232.467531  5062 port.cc:153]
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+: (?P<tsl>[IWEF]) \S+:\d+\] "  # 2024-01-11 05:40:05.061907: I tensorflow/...]
)
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def min_log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it; 0, showing everything, when it is not a number."""
    value = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    return int(value) if value.isdigit() else 0


def kept(text: str, min_level: int) -> str:
    """What a reader should see of ``text``, which TensorFlow's libraries wrote to stderr while loading.

    Log records below ``min_level`` are dropped with their continuation lines (a
    record's message may span lines), and so is absl's preamble, a note about its
    own start-up. Everything else is kept in order.
    """
    shown, level = [], None  # level: the severity of the record the current line belongs to
    for line in text.splitlines(keepends=True):
        record = _RECORD.match(line)
        if record:
            level = _SEVERITIES.index(record["absl"] or record["tsl"])
        elif line.rstrip("\r\n") == _ABSL_PREAMBLE:
            level = 0
        if level is None or level >= min_level:
            shown.append(line)
    return "".join(shown)


@contextmanager
def filtered_stderr() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 in the block, then pass on what :func:`kept` keeps."""
    held = None
    try:
        sys.stderr.flush()
        held = tempfile.TemporaryFile()
        original = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no standard error (pythonw), or no room to hold it back
        if held is not None:
            held.close()
        yield  # TensorFlow must start all the same, notes and all
        return
    with held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()  # in a plain process, Python's own writes in the block go to the file too
            os.dup2(original, 2)
            os.close(original)
            held.seek(0)
            sys.stderr.write(kept(held.read().decode(errors="replace"), min_log_level()))
            sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with its start-up notes filtered."""

    def __init__(self, finder: _QuietFirstImport, loader: importlib.abc.Loader):
        self._finder, self._loader = finder, loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self._loader  # the module keeps its real loader
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_MIN_LOG_LEVEL)  # read by TensorFlow from now on
        try:
            with filtered_stderr():
                self._loader.exec_module(module)
        finally:
            if self._finder in sys.meta_path:  # once started, TensorFlow prints no more notes
                sys.meta_path.remove(self._finder)


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do, and hands it to :class:`_QuietLoader`."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(self, spec.loader)
                return spec
        return None


def install() -> None:
    """Filter TensorFlow's start-up notes when it is first imported; nothing once it has been."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFirstImport())
