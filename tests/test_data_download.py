"""The real download path, against a local HTTP server serving the genuine files."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import multiprocessing
import socket
import sys
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
    monkeypatch.setattr(download, "_unreachable", {})  # no test inherits another's unreachable URLs
    return tmp_path / "cache"


@pytest.fixture
def server(mirror_dir):
    with MirrorServer(mirror_dir) as srv:
        yield srv


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time, as a notebook's stderr would be."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


@pytest.fixture
def printed(capfd, monkeypatch):
    """capfd, with pooch's log lines in it however early pooch was imported.

    pooch's handler keeps the ``sys.stderr`` of the moment pooch was imported,
    which under pytest may be an earlier test's capture, long closed.
    """
    import pooch

    for handler in pooch.get_logger().handlers:
        monkeypatch.setattr(handler, "stream", _CurrentStderr())
    return capfd


def _dead_base_url() -> str:
    """The URL of a local port nobody listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _urls_tried(printed) -> list[str]:
    """The URLs of pooch's "Downloading data from '<url>' ..." lines printed since the last call."""
    lines = printed.readouterr().err.splitlines()
    return [line.split("'")[1] for line in lines if line.startswith("Downloading data from")]


def _leftovers(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def test_first_mirror_failing_then_second_succeeding(online, server, monkeypatch, mirror_dir, printed):
    monkeypatch.setenv("LABKIT_MIRROR_URL", f"{server.url('broken')} {server.url('good')}")
    images, labels = labkit.data.load("mnist", "test")
    assert len(images) == 10000
    assert server.hits[f"/broken/mnist/{LABELS.name}"] == 1
    assert server.hits[f"/good/mnist/{LABELS.name}"] == 1
    broken, good = f"{server.url('broken')}/mnist/{LABELS.name}", f"{server.url('good')}/mnist/{LABELS.name}"
    lines = printed.readouterr().err.splitlines()
    said = [line for line in lines if line.startswith("Download") and LABELS.name in line]
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


def test_an_unreachable_url_is_skipped_for_a_while_then_tried_again(online, server, monkeypatch, printed):
    dead = f"{_dead_base_url()}/mnist/{LABELS.name}"
    broken = f"{server.url('broken')}/mnist/{LABELS.name}"  # a host that answers, with an error

    def fetch():
        with pytest.raises(DownloadError) as caught:
            download.fetch_file([dead, broken], online / LABELS.name, f"sha256:{LABELS.sha256}",
                                progress=False)
        return str(caught.value), _urls_tried(printed)

    message, tried = fetch()
    assert tried == [dead, broken] and "ConnectionError" in message
    message, tried = fetch()
    assert tried == [broken], "the refused URL was tried again at once"
    assert f"{dead}: not tried again: unreachable" in message and "ConnectionError" in message
    assert server.hits[f"/broken/mnist/{LABELS.name}"] == 2
    monkeypatch.setattr(download, "RETRY_UNREACHABLE_AFTER_S", 0)
    message, tried = fetch()
    assert tried == [dead, broken] and "not tried again" not in message


def test_offline_a_lab_data_cell_tries_each_url_once(online, mirror_dir, monkeypatch, printed):
    """Labs 4 and 5 ask whether the official train split can be had, then load both splits."""
    monkeypatch.setenv("LABKIT_DATA_DIR", str(mirror_dir))  # holds ByMerge's test split only
    dead = _dead_base_url()
    monkeypatch.setenv("LABKIT_MIRROR_URL", dead)
    bymerge = registry.get("emnist-bymerge")
    archive = dataclasses.replace(bymerge.archive, urls=(f"{dead}/nist/gzip.zip",))
    monkeypatch.setitem(registry.DATASETS, "emnist-bymerge", dataclasses.replace(bymerge, archive=archive))

    official = labkit.data.official_available("emnist-bymerge", "train")
    train = labkit.data.load("emnist-bymerge", "train", offline_partition=not official)
    test = labkit.data.load("emnist-bymerge", "test", offline_partition=not official)

    assert not official
    assert train.dataset == test.dataset == "emnist-bymerge/offline-partition"
    assert len(train[1]) + len(test[1]) == bymerge.counts["test"]
    expected = [f"{dead}/emnist/{spec.name}" for spec in bymerge.files("train")] + [archive.urls[0]]
    assert _urls_tried(printed) == expected  # each once, not once per call


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
