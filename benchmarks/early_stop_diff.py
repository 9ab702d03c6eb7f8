"""Early stop's effect on the picture: each pair's image with and without it, pixel by pixel.

Reads the ``early_stop=<tolerance>`` and ``early_stop=0`` rows that ``quality.py`` cached in
``benchmarks/results/quality.jsonl`` (and their images in ``benchmarks/out/quality``) and
prints a Markdown table: iterations run and saved, both yardstick distances, and how far the
two pictures are apart (mean and 99th percentile of the absolute difference per channel, in
0..255, and the share of pixels with a channel off by more than 8). Run from the repo root:

    .venv/bin/python benchmarks/early_stop_diff.py --tolerance 0.01 --iterations 300
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", default="0.01")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--results", type=Path, default=BENCH / "results" / "quality.jsonl")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "out" / "quality")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    runs = {
        (r["content"], r["style"], r["setting"]): r
        for r in rows
        if r["iterations"] == args.iterations and r["size"] == args.size
    }
    print(
        f"| pair | iterations run (saved) at {args.tolerance} | content / style at 0 | "
        f"content / style at {args.tolerance} | mean abs pixel diff (/255) | 99th percentile | "
        "pixels off by > 8/255 |"
    )
    print("|---|---|---|---|---|---|---|")
    saved = total = 0
    for (content, style, setting), full in sorted(runs.items()):
        stopped = runs.get((content, style, f"early_stop={args.tolerance}"))
        if setting != "early_stop=0" or stopped is None:
            continue
        diff = np.abs(_pixels(args, full) - _pixels(args, stopped))
        saved += stopped["iterations_saved"]
        total += args.iterations
        print(
            f"| {content} x {style} | {stopped['iterations_run']} ({stopped['iterations_saved']})"
            f" | {full['content_distance']:.3f} / {full['style_distance']:.3f}"
            f" | {stopped['content_distance']:.3f} / {stopped['style_distance']:.3f}"
            f" | {diff.mean():.2f} | {np.percentile(diff, 99):.0f}"
            f" | {(diff.max(axis=2) > 8).mean() * 100:.1f} % |"
        )
    if total:
        print(f"\nsaved {saved} of {total} iterations ({saved / total * 100:.0f} %)")


def _pixels(args: argparse.Namespace, row: dict[str, object]) -> np.ndarray:
    path = args.out_dir / str(args.size) / Path(str(row["image"])).name
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float64)


if __name__ == "__main__":
    main()
