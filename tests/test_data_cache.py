"""Parsed arrays are cached: repeated loads are memory maps, stale entries are rebuilt,
and a crash while writing never leaves an entry that looks complete."""

from __future__ import annotations

import os

import numpy as np
import pytest

import labkit
from labkit.data import cache
from tests.datafiles import recompress, scratch_mirror


@pytest.fixture
def fresh(tmp_path, mirror_dir, monkeypatch):
    root = scratch_mirror(mirror_dir, tmp_path / "mirror")
    monkeypatch.setenv("LABKIT_DATA_DIR", str(root))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    return root


def test_a_repeated_load_is_a_read_only_memory_map_of_the_same_data(fresh):
    first = labkit.data.load("mnist", "test")
    second = labkit.data.load("mnist", "test")
    assert isinstance(second.images, np.memmap) and not second.images.flags.writeable
    np.testing.assert_array_equal(first.images, second.images)
    meta = cache.read("mnist-test").meta
    assert [s["how"] for s in meta["sources"]] == ["official sha256"] * 2


def test_a_changed_source_is_verified_again(fresh):
    labkit.data.load("mnist", "test")
    before = cache.read("mnist-test").meta["sources"][0]
    recompress(fresh / "mnist" / "t10k-images-idx3-ubyte.gz")  # new bytes, same content
    labkit.data.load("mnist", "test")
    after = cache.read("mnist-test").meta["sources"][0]
    assert after["sha256"] != before["sha256"] and "content" in after["how"]


def test_a_file_used_from_a_new_place_is_verified_again(fresh, tmp_path, monkeypatch):
    labkit.data.load("mnist", "test")
    moved = tmp_path / "elsewhere"
    os.rename(fresh, moved)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(moved))
    labkit.data.load("mnist", "test")
    assert cache.read("mnist-test").meta["sources"][0]["path"].startswith(str(moved))


def test_a_crash_while_writing_leaves_no_entry(fresh, monkeypatch):
    real_save = np.save
    calls = []

    def save_then_crash(handle, array):
        calls.append(1)
        if len(calls) == 2:  # the labels file: images already written
            raise OSError("disk full")
        real_save(handle, array)

    monkeypatch.setattr(np, "save", save_then_crash)
    with pytest.raises(OSError, match="disk full"):
        labkit.data.load("mnist", "test")
    monkeypatch.setattr(np, "save", real_save)
    assert cache.read("mnist-test") is None
    leftovers = [p.name for p in cache.entry_dir("mnist-test").iterdir()]
    assert "meta.json" not in leftovers and not [n for n in leftovers if n.endswith(".tmp")]
    _, labels = labkit.data.load("mnist", "test")  # and the next load simply rebuilds it
    assert len(labels) == 10000


def test_a_corrupt_cache_entry_is_rebuilt(fresh):
    labkit.data.load("mnist", "test")
    (cache.entry_dir("mnist-test") / "images.npy").write_bytes(b"garbage")
    images, _ = labkit.data.load("mnist", "test")
    assert images.shape == (10000, 28, 28)
