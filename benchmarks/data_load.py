"""Cached vs uncached dataset loads, side by side in one run.

For every split present in the mirror, three ways of getting the arrays into memory:

* ``gz parse``   — what a notebook without labkit does: gunzip the IDX file and wrap it;
* ``first load`` — labkit's slow path: verify the hash, gunzip, parse, write the cache;
* ``cached``     — labkit's repeated load: memory-map the ``.npy`` files.

Each timing materialises the arrays in memory (``np.array`` of the memory map), so a
lazy map does not win by doing nothing. The headline ratio is ``gz parse / cached``;
the target is >= 10 for EMNIST ByMerge test.
"""

from __future__ import annotations

import gzip
import os
import statistics
import tempfile
import time

import numpy as np

TARGET = ("emnist-bymerge", "test", 10.0)


def _time(fn, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def _gz_parse(images_path, labels_path):
    images = np.frombuffer(gzip.open(images_path).read()[16:], np.uint8).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open(labels_path).read()[8:], np.uint8)
    return images, labels


def run(repeat: int = 5) -> dict:
    from labkit.data import loader, registry, sources

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        previous = os.environ.get("LABKIT_CACHE_DIR")
        try:
            for spec in registry.DATASETS.values():
                for split in ("train", "test"):
                    found = [sources.existing(spec, f) for f in spec.files(split)]
                    if not all(found):
                        continue
                    images_path, labels_path = (f[0].path for f in found)

                    def first_load():
                        os.environ["LABKIT_CACHE_DIR"] = tempfile.mkdtemp(dir=scratch)
                        x, y = loader.load_official(spec.name, split, allow_download=False)
                        return np.array(x), np.array(y)

                    def cached_load():
                        x, y = loader.load_official(spec.name, split, allow_download=False)
                        return np.array(x), np.array(y)

                    gz = _time(lambda: _gz_parse(images_path, labels_path), repeat)
                    first = _time(first_load, max(2, repeat // 2))
                    cached_load()  # the cache of the last first_load is warm now
                    cached = _time(cached_load, repeat)
                    rows.append({
                        "dataset": spec.name, "split": split,
                        "images": int(spec.counts[split]),
                        "gz_parse_s": round(gz, 4), "first_load_s": round(first, 4),
                        "cached_load_s": round(cached, 5),
                        "ratio_gz_over_cached": round(gz / cached, 1),
                        "ratio_first_over_cached": round(first / cached, 1),
                    })
        finally:
            if previous is None:
                os.environ.pop("LABKIT_CACHE_DIR", None)
            else:
                os.environ["LABKIT_CACHE_DIR"] = previous
    name, split, target = TARGET
    headline = next((r for r in rows if (r["dataset"], r["split"]) == (name, split)), None)
    return {
        "benchmark": "data_load",
        "rows": rows,
        "target": {"dataset": name, "split": split, "min_ratio": target,
                   "ratio": headline and headline["ratio_gz_over_cached"],
                   "met": bool(headline and headline["ratio_gz_over_cached"] >= target)},
    }


def table(result: dict) -> str:
    lines = ["| dataset | split | images | gz parse (s) | first load (s) | cached (s) | gz/cached | first/cached |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['dataset']} | {r['split']} | {r['images']:,} | {r['gz_parse_s']:.3f} | "
                     f"{r['first_load_s']:.3f} | {r['cached_load_s']:.4f} | {r['ratio_gz_over_cached']}x | "
                     f"{r['ratio_first_over_cached']}x |")
    t = result["target"]
    lines.append(f"\nTarget: {t['dataset']} {t['split']} cached load >= {t['min_ratio']}x faster than "
                 f"parsing the gz: {t['ratio']}x -> {'MET' if t['met'] else 'NOT MET'}")
    return "\n".join(lines)
