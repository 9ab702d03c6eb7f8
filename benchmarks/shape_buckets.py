"""How many compiled shapes each bucket size leaves, and what its padding costs.

Every new optimized-image shape compiles anew (3.5 s at 256 px on this CPU, 22-26 s at 512 px
on an H100 with JAX; benchmarks/README.md), and each compiled shape stays in memory. Padding
the image up to multiples of ``NST_SHAPE_BUCKET`` (``worker/nst/inputs.pad_to_bucket``) lets
nearby shapes share one step, at the price of optimizing the padded pixels too: an
iteration's work grows with the pixel count. This script counts both for a population of
aspect ratios, using the engine's own ``working_size`` and ``pad_to_bucket``:

- the aspect ratios of the photos and paintings in ``../shared/images``;
- the common camera and screen ratios (1:1, 5:4, 4:3, 3:2, 16:10, 16:9, 2:1) both ways;
- ``--random`` ratios drawn log-uniformly between 1:3 and 3:1 (what arbitrary uploads look like).

It reports, per job size and bucket, the number of distinct compiled shapes and the mean and
worst share of extra pixels. With ``--time`` it also measures seconds per iteration at an exact
and a padded shape, to check that the cost of padding is its pixel share. Run from the repo root:

    .venv/bin/python benchmarks/shape_buckets.py --sizes 256,512,1024 --buckets 0,16,32,64,128
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
COMMON = ((1, 1), (5, 4), (4, 3), (3, 2), (16, 10), (16, 9), (2, 1))


def aspect_sizes(random_count: int, seed: int) -> list[tuple[int, int]]:
    """(width, height) of the population: real images, common ratios, random ratios."""
    sizes = []
    images = SHARED / "images"
    for path in sorted(images.glob("*")) if images.is_dir() else []:
        with Image.open(path) as image:
            sizes.append(image.size)
    for wide, high in COMMON:
        sizes += [(wide * 600, high * 600), (high * 600, wide * 600)]
    rng = random.Random(seed)
    for _ in range(random_count):
        ratio = 3.0 ** rng.uniform(-1.0, 1.0)
        sizes.append((round(3000 * ratio), 3000) if ratio >= 1 else (3000, round(3000 / ratio)))
    return sizes


def bucket_row(sizes: list[tuple[int, int]], long_side: int, bucket: int) -> dict[str, object]:
    """Distinct padded shapes and the extra-pixel share for one job size and bucket."""
    from shared.images import working_size
    from worker.nst.inputs import pad_to_bucket

    shapes, extra = set(), []
    for size in sizes:
        width, height = working_size(size, long_side)
        padded = pad_to_bucket(np.zeros((height, width, 1), np.uint8), bucket).shape
        shapes.add(padded[:2])
        extra.append(padded[0] * padded[1] / (width * height) - 1.0)
    return {
        "size": long_side,
        "bucket": bucket,
        "images": len(sizes),
        "shapes": len(shapes),
        "mean_extra_pixels": round(statistics.fmean(extra), 4),
        "max_extra_pixels": round(max(extra), 4),
    }


def time_padding(
    weights: str, long_side: int, short: int, bucket: int, steps: int
) -> dict[str, object]:
    """Seconds per Adam iteration at long_side x short, exact and padded to the bucket."""
    import time

    from contract.params import JobParams
    from worker.nst.engine import StyleTransfer

    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 255, (short, long_side, 3), dtype=np.uint8))
    style = Image.fromarray(rng.integers(0, 255, (long_side, long_side, 3), dtype=np.uint8))
    row: dict[str, object] = {"size": long_side, "short_side": short, "bucket": bucket}
    for name, pad in (("exact", 0), ("padded", bucket)):
        engine = StyleTransfer(weights, shape_bucket=pad)
        seconds = []
        for iterations in (2, 2 + steps, 2, 2 + steps):
            params = JobParams(
                size=long_side, iterations=iterations, optimizer="adam", early_stop=0.0
            )
            start = time.perf_counter()
            engine.run(content, [style], params)
            seconds.append(time.perf_counter() - start)
        row[f"{name}_s_per_iteration"] = round(
            ((seconds[3] - seconds[2]) + (seconds[1] - seconds[0])) / (2 * steps), 4
        )
    padded_short = -(-short // bucket) * bucket
    row["pixel_ratio"] = round(padded_short / short, 4)
    row["time_ratio"] = round(row["padded_s_per_iteration"] / row["exact_s_per_iteration"], 4)  # type: ignore[operator]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--buckets", default="0,16,32,64,128")
    parser.add_argument("--random", type=int, default=1000, help="Random aspect ratios to add.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time", metavar="SIZExSHORT:BUCKET", help="e.g. 256x161:32")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_notop.weights.h5"))
    args = parser.parse_args()
    sizes = aspect_sizes(args.random, args.seed)
    for long_side in (int(s) for s in args.sizes.split(",")):
        for bucket in (int(b) for b in args.buckets.split(",")):
            print(json.dumps(bucket_row(sizes, long_side, bucket)))
    if args.time:
        shape, _, bucket = args.time.partition(":")
        long_side, _, short = shape.partition("x")
        print(
            json.dumps(
                time_padding(args.weights, int(long_side), int(short), int(bucket), args.steps)
            )
        )


if __name__ == "__main__":
    main()
