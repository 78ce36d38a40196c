"""Bad files are refused with a message that says what they are, and never stay in the cache."""

from __future__ import annotations

import numpy as np
import pytest

import labkit
from labkit.data import DatasetNotFoundError, IntegrityError, integrity, registry
from tests.datafiles import HTML_PAGE, recompress, scratch_mirror, truncate

LABELS = registry.MNIST.labels["test"]
IMAGES = registry.MNIST.images["test"]


@pytest.fixture
def mirror(tmp_path, mirror_dir, monkeypatch):
    root = scratch_mirror(mirror_dir, tmp_path / "mirror")
    monkeypatch.setenv("LABKIT_DATA_DIR", str(root))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    return root


def test_a_recompressed_copy_is_accepted_by_its_content_hash(mirror):
    recompress(mirror / "mnist" / IMAGES.name)
    verified = integrity.verify(mirror / "mnist" / IMAGES.name, IMAGES)
    assert "content" in verified.how
    images, labels = labkit.data.load("mnist", "test")
    assert images.shape == (10000, 28, 28) and np.bincount(labels).sum() == 10000


def test_a_truncated_file_is_refused_naming_file_and_hash(mirror):
    path = mirror / "mnist" / IMAGES.name
    truncate(path)
    with pytest.raises(IntegrityError) as caught:
        integrity.verify(path, IMAGES)
    message = str(caught.value)
    assert str(path) in message and IMAGES.sha256 in message and "truncated" in message


def test_an_html_page_under_a_data_name_is_named_as_such(mirror):
    path = mirror / "mnist" / LABELS.name
    path.write_bytes(HTML_PAGE)
    with pytest.raises(IntegrityError, match="an HTML page"):
        integrity.verify(path, LABELS)


def test_a_different_gzip_is_refused(mirror):
    path = mirror / "mnist" / LABELS.name
    path.write_bytes((mirror / "mnist" / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(IntegrityError, match="content differs"):
        integrity.verify(path, LABELS)


def test_offline_with_files_missing_is_one_error_listing_them_all(mirror):
    (mirror / "mnist" / IMAGES.name).unlink()
    (mirror / "mnist" / LABELS.name).unlink()
    with pytest.raises(DatasetNotFoundError) as caught:
        labkit.data.load("mnist", "test")
    message = str(caught.value)
    assert "2 file(s) missing" in message
    assert IMAGES.name in message and LABELS.name in message
    assert "LABKIT_OFFLINE=1" in message and str(mirror / "mnist") in message


def test_a_bad_mirror_file_is_skipped_for_a_good_copy_with_a_warning(mirror, mirror_dir, tmp_path):
    good_cache = tmp_path / "cache" / "downloads" / "mnist"
    good_cache.mkdir(parents=True)
    (good_cache / LABELS.name).write_bytes((mirror_dir / "mnist" / LABELS.name).read_bytes())
    (mirror / "mnist" / LABELS.name).write_bytes(HTML_PAGE)
    with pytest.warns(UserWarning, match="HTML page"):
        _, labels = labkit.data.load("mnist", "test")
    assert len(labels) == 10000
    assert (mirror / "mnist" / LABELS.name).read_bytes() == HTML_PAGE  # a mirror is never modified


def test_a_bad_file_in_the_cache_is_deleted(mirror, tmp_path):
    cached = tmp_path / "cache" / "downloads" / "mnist" / LABELS.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(HTML_PAGE)
    (mirror / "mnist" / LABELS.name).unlink()
    with pytest.warns(UserWarning, match="deleted from the cache"):
        with pytest.raises(DatasetNotFoundError, match="HTML page"):
            labkit.data.load("mnist", "test")
    assert not cached.exists()
    assert not list((tmp_path / "cache").rglob("*.npy"))  # no parsed arrays from bad data


def test_a_debian_style_system_copy_is_found_and_accepted(tmp_path, mirror_dir, monkeypatch):
    """Debian's dataset-fashion-mnist recompresses the files; labkit finds and accepts them there."""
    import dataclasses

    from labkit.data import loader

    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    spec = dataclasses.replace(registry.FASHION_MNIST, debian_dirs=(str(system),))
    for file in spec.files("test"):
        (system / file.name).write_bytes((mirror_dir / "fashion-mnist" / file.name).read_bytes())
        recompress(system / file.name, level=9)
    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    found = loader.resolve(spec, spec.files("test"), allow_download=False)
    assert {f.path.parent for f in found.values()} == {system}
    assert all("recompressed" in f.how for f in found.values())
