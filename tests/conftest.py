"""Shared test setup: real data from the mirror, an isolated cache, headless plots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The genuine dataset mirror (``../shared/data`` in CI), required, never faked."""
    raw = os.environ.get("LABKIT_DATA_DIR", "")
    path = Path(raw) if raw else None
    if path is None or not (path / "mnist").is_dir():
        pytest.fail(
            "LABKIT_DATA_DIR must point at the dataset mirror (../shared/data); "
            "run the tests through `make test`, which sets it."
        )
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory) -> Path:
    """One parsed-array cache for the whole session, outside the user's real cache."""
    cache = tmp_path_factory.mktemp("labkit-cache")
    previous = os.environ.get("LABKIT_CACHE_DIR")
    os.environ["LABKIT_CACHE_DIR"] = str(cache)
    os.environ.setdefault("LABKIT_OFFLINE", "1")  # tests never reach the internet
    yield cache
    if previous is None:
        os.environ.pop("LABKIT_CACHE_DIR", None)
    else:
        os.environ["LABKIT_CACHE_DIR"] = previous
