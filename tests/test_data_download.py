"""The real download path, against a local HTTP server serving the genuine files."""

from __future__ import annotations

import gzip
import hashlib
import io
import multiprocessing
import zipfile

import numpy as np
import pytest

import labkit
from labkit.data import DownloadError, download, registry
from tests.http_mirror import MirrorServer

LABELS = registry.MNIST.labels["test"]


@pytest.fixture
def online(tmp_path, monkeypatch):
    """No data dir, an empty cache, downloads on."""
    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LABKIT_OFFLINE", "0")
    return tmp_path / "cache"


@pytest.fixture
def server(mirror_dir):
    with MirrorServer(mirror_dir) as srv:
        yield srv


def _leftovers(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def test_first_mirror_failing_then_second_succeeding(online, server, monkeypatch, mirror_dir, capfd):
    monkeypatch.setenv("LABKIT_MIRROR_URL", f"{server.url('broken')} {server.url('good')}")
    images, labels = labkit.data.load("mnist", "test")
    assert len(images) == 10000
    assert server.hits[f"/broken/mnist/{LABELS.name}"] == 1
    assert server.hits[f"/good/mnist/{LABELS.name}"] == 1
    broken, good = f"{server.url('broken')}/mnist/{LABELS.name}", f"{server.url('good')}/mnist/{LABELS.name}"
    printed = capfd.readouterr().err.splitlines()
    said = [line for line in printed if line.startswith("Download") and LABELS.name in line]
    expected = [
        f"Downloading data from '{broken}'",
        f"Download failed: {broken}: HTTPError: 500",  # an attempt that failed never reads as a download
        f"Downloading data from '{good}'",
    ]
    assert len(said) == 3 and all(line.startswith(start) for line, start in zip(said, expected)), said
    downloaded = online / "downloads" / "mnist" / LABELS.name
    assert downloaded.read_bytes() == (mirror_dir / "mnist" / LABELS.name).read_bytes()


@pytest.mark.parametrize("bad_mode,reason", [("cut", ""), ("html", "hash is wrong")])
def test_interrupted_or_wrong_download_falls_through_and_leaves_nothing(online, server, bad_mode, reason):
    target = online / "downloads" / "mnist" / LABELS.name
    known = f"sha256:{LABELS.sha256}"
    with pytest.raises(DownloadError) as caught:
        download.fetch_file([f"{server.url(bad_mode)}/mnist/{LABELS.name}"], target, known, progress=False)
    assert reason in str(caught.value) and server.url(bad_mode) in str(caught.value)
    assert _leftovers(online) == []  # no partial file, nothing under the official name
    path = download.fetch_file(
        [f"{server.url(bad_mode)}/mnist/{LABELS.name}", f"{server.url('good')}/mnist/{LABELS.name}"],
        target, known, progress=False,
    )
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LABELS.sha256
    assert _leftovers(online) == [LABELS.name]


def test_every_mirror_failing_is_one_error_listing_each(online, server):
    urls = [f"{server.url(m)}/mnist/{LABELS.name}" for m in ("broken", "html", "cut")]
    with pytest.raises(DownloadError) as caught:
        download.fetch_file(urls, online / LABELS.name, f"sha256:{LABELS.sha256}", progress=False)
    message = str(caught.value)
    assert all(url in message for url in urls) and "500" in message


def _load_in_child(cache, mirror_url, queue):
    import os

    os.environ.update(LABKIT_CACHE_DIR=cache, LABKIT_MIRROR_URL=mirror_url, LABKIT_OFFLINE="0")
    os.environ.pop("LABKIT_DATA_DIR", None)
    import labkit.data

    images, labels = labkit.data.load("mnist", "test")
    queue.put((int(images.sum()), int(labels.sum())))


def test_two_processes_fetching_at_once_both_succeed_with_one_download(online, server):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [context.Process(target=_load_in_child, args=(str(online), server.url("slow"), queue))
                for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [c.exitcode for c in children] == [0, 0]
    results = [queue.get(timeout=5) for _ in children]
    assert results[0] == results[1]
    assert server.hits[f"/slow/mnist/{registry.MNIST.images['test'].name}"] == 1
    assert server.hits[f"/slow/mnist/{LABELS.name}"] == 1


def test_an_archive_is_downloaded_extracted_verified_and_removed(online, mirror_dir):
    """EMNIST's path: one archive, members extracted and verified (a small genuine zip here)."""
    members = [registry.get("emnist-mnist").labels["test"], registry.get("emnist-mnist").mapping]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for spec in members:
            bundle.writestr("gzip/" + spec.name, (mirror_dir / "emnist" / spec.name).read_bytes())
    archive_bytes = buffer.getvalue()
    archive = registry.ArchiveSpec(
        name="gzip.zip", urls=(), size=len(archive_bytes), member_prefix="gzip/",
        known_hash="md5:" + hashlib.md5(archive_bytes).hexdigest(),
    )
    with MirrorServer(mirror_dir, extra={"emnist/gzip.zip": archive_bytes}) as srv:
        dest = online / "downloads" / "emnist"
        written = download.fetch_archive(archive, dest, members,
                                          urls=[f"{srv.url('good')}/emnist/gzip.zip"], progress=False)
    assert [p.name for p in written] == [m.name for m in members]
    assert _leftovers(online) == sorted(m.name for m in members)  # the archive itself is gone
    extracted_labels = np.frombuffer(gzip.decompress(written[0].read_bytes())[8:], np.uint8)
    assert np.bincount(extracted_labels).tolist() == [1000] * 10


def test_an_archive_member_that_fails_verification_is_not_kept(online, mirror_dir):
    spec = registry.get("emnist-mnist").labels["test"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:  # a member under the right name, wrong content
        bundle.writestr("gzip/" + spec.name, (mirror_dir / "mnist" / LABELS.name).read_bytes())
    archive_bytes = buffer.getvalue()
    archive = registry.ArchiveSpec("gzip.zip", (), "md5:" + hashlib.md5(archive_bytes).hexdigest(),
                                   len(archive_bytes), "gzip/")
    with MirrorServer(mirror_dir, extra={"emnist/gzip.zip": archive_bytes}) as srv:
        with pytest.raises(labkit.data.IntegrityError, match=spec.name):
            download.fetch_archive(archive, online / "downloads" / "emnist", [spec],
                                   urls=[f"{srv.url('good')}/emnist/gzip.zip"], progress=False)
    assert not (online / "downloads" / "emnist" / spec.name).exists()
    assert not list((online / "downloads" / "emnist").glob("*.part"))
