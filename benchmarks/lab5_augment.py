"""Lab 5's batched augmentation against the seed's one-image-at-a-time augmentation, side by side.

The seed (001) augmented EMNIST through a ``Dataset`` whose ``__getitem__`` ran
torchvision's ``RandomAffine`` on one image at a time. labkit builds one affine
matrix per image and resamples the whole batch with ``affine_grid`` /
``grid_sample``. Both sides here use the same transform code (labkit's), so the
ratio measures only batching; the seed's PIL round trip per image would cost more
still. Headline: images per second, batched / per image, for batches of 256
genuine EMNIST ByClass test images; the target is >= 10x.
"""

from __future__ import annotations

import statistics
import time

BATCH = 256
TARGET_RATIO = 10.0


def _median_seconds(fn, repeat: int = 5) -> float:
    fn()  # warm-up
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run(arguments: list[str] | None = None) -> dict:
    import labkit
    from labkit.augment import RandomAffine

    images, labels = labkit.data.load("emnist-byclass", "test")
    batch, _ = labkit.data.to_torch_tensors(images[:BATCH], labels[:BATCH], normalize="emnist-byclass")
    augmenter = RandomAffine(fill=-0.1736 / 0.3317, seed=0)

    batched = _median_seconds(lambda: augmenter(batch))
    per_image = _median_seconds(lambda: [augmenter(batch[i:i + 1]) for i in range(BATCH)])
    ratio = round(per_image / batched, 1)
    return {
        "batch": BATCH,
        "batched_images_per_s": round(BATCH / batched),
        "per_image_images_per_s": round(BATCH / per_image),
        "target": {"min_ratio": TARGET_RATIO, "ratio": ratio, "met": ratio >= TARGET_RATIO},
    }


def table(result: dict) -> str:
    t = result["target"]
    return "\n".join([
        "| augmentation | images/s |",
        "|---|---:|",
        f"| one image at a time (the seed's way) | {result['per_image_images_per_s']:,} |",
        f"| whole batch of {result['batch']} (labkit.augment) | {result['batched_images_per_s']:,} |",
        f"\nTarget: batched >= {t['min_ratio']}x faster: {t['ratio']}x -> {'MET' if t['met'] else 'NOT MET'}",
    ])

