"""Package-level promises: a light import, profiles, settings read from the environment."""

from __future__ import annotations

import subprocess
import sys

import pytest

import labkit
from labkit import config, profiles

FRAMEWORKS = ("tensorflow", "keras", "torch", "jax")


def _modules_after(code: str, candidates) -> list[str]:
    """Which of ``candidates`` are in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in sys.argv[1:] if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe, *candidates],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [m for m in result.stdout.strip().split(",") if m]


def test_import_labkit_is_light():
    assert _modules_after("import labkit", (*FRAMEWORKS, "matplotlib", "sklearn")) == []


def test_no_labkit_module_imports_a_framework_until_used():
    code = (
        "import importlib, pkgutil, labkit\n"
        "for info in pkgutil.walk_packages(labkit.__path__, 'labkit.'):\n"
        "    if not info.name.rsplit('.', 1)[-1].startswith(('_keras', '_torch', '_tf')):\n"
        "        importlib.import_module(info.name)\n"
    )
    assert _modules_after(code, (*FRAMEWORKS, "matplotlib.pyplot")) == []


def test_submodules_load_on_attribute_access():
    assert labkit.data.load is not None
    with pytest.raises(AttributeError):
        labkit.nonexistent  # noqa: B018


def test_profile_defaults_to_full_and_chooses(monkeypatch):
    monkeypatch.delenv("LABKIT_PROFILE", raising=False)
    assert labkit.profile().name == "full" and labkit.profile().choose(full=10, quick=1) == 10
    monkeypatch.setenv("LABKIT_PROFILE", "quick")
    assert labkit.profile().quick and profiles.current().choose(full=10, quick=1) == 1
    monkeypatch.setenv("LABKIT_PROFILE", "fast")
    with pytest.raises(ValueError, match="full, quick"):
        profiles.current()


def test_flags_are_strict(monkeypatch):
    monkeypatch.setenv("LABKIT_OFFLINE", "yes")
    assert config.offline()
    monkeypatch.setenv("LABKIT_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="not a boolean"):
        config.offline()


def test_headless_under_nbgrader_and_ci(monkeypatch):
    for name in ("LABKIT_HEADLESS", "NBGRADER_EXECUTION", "CI"):
        monkeypatch.delenv(name, raising=False)
    assert not config.headless()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert config.headless()


def test_cache_dir_defaults_to_the_platform_cache(monkeypatch):
    monkeypatch.delenv("LABKIT_CACHE_DIR", raising=False)
    assert config.cache_dir().name == "labkit"
