"""float32 against bfloat16 (NST_PRECISION) in one process: speed, the CPU floor, time to quality.

Everything is measured in one run on one machine, interleaved so that its load hits both
precisions alike; compare ratios within a run, never across runs. From the repo root::

    nice -n 10 .venv/bin/python benchmarks/precision.py --json benchmarks/results/precision-cpu.json
    .venv/bin/python benchmarks/precision.py --sizes 64 --iterations 2 --rounds 1 \\
        --baseline-steps 5 --quality-iterations 6          # quick check, ~1 min

1. **What ``auto`` chooses here**, and the timings it chose by (``precision.choose_precision``).
2. **Seconds per iteration** of the default job (L-BFGS, early stop off) at each ``--sizes``:
   the gaps between per-iteration progress reports (``progress_seconds`` tiny, no state saved),
   median over ``--rounds`` rounds of ``--iterations``, each engine warm (compiled) first.
3. **The CPU floor**: the convolutions' FLOPs per evaluation (forward, and the gradient with
   respect to the input; VGG19 up to ``block5_conv2``) divided by the throughput one large
   convolution reaches in bfloat16 here; and how close the engine comes to it (an L-BFGS
   iteration is one evaluation: 1.01-1.02 over 100 iterations in the quality gate; the short
   timed runs here count their start and final evaluations too).
4. **Time to quality** (``benchmarks/engine.py``'s target): the TensorFlow tutorial's image after
   ``--baseline-steps`` Adam steps, scored by the float32 engine's loss; then each precision runs
   L-BFGS over 2 scales and we note when its full-size image, scored the same way, first
   reaches that loss.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SHARED = REPO.parent / "shared"
PRECISIONS = ("float32", "bfloat16")


def cpu() -> dict[str, Any]:
    """The CPU's model name, cores and the flags that matter for bfloat16."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8")
    return {
        "model": model,
        "cores": os.cpu_count(),
        "flags": {flag: flag in flags for flag in wanted},
    }


def conv_flops(height: int, width: int) -> float:
    """FLOPs of one evaluation's convolutions: VGG19 to block5_conv2, forward plus the gradient
    with respect to each layer's input (as much again; no weight gradients are taken)."""
    from contract.params import VGG19_CONV_LAYERS

    channels = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    total, previous = 0.0, 3
    for name in VGG19_CONV_LAYERS[: VGG19_CONV_LAYERS.index("block5_conv2") + 1]:
        block = int(name[5])
        scale = 2 ** (block - 1)
        out = channels[block]
        total += 2 * (height // scale) * (width // scale) * 9 * previous * out
        previous = out
    return 2 * total


def conv_throughput(precision: str, repeats: int = 5) -> float:
    """FLOP/s of one large 3x3 convolution (block3's 256 -> 256 at 192x256), forward, compiled."""
    import keras

    from worker.nst.optimizers.gradients import compile_traced

    layer = keras.layers.Conv2D(256, 3, padding="same", dtype=precision)
    x = keras.ops.convert_to_tensor(
        np.random.default_rng(0).normal(size=(1, 192, 256, 256)).astype(np.float32)
    )
    layer.build(x.shape)
    call = compile_traced(
        lambda image: keras.ops.sum(keras.ops.cast(layer(image), "float32")), False, layer.weights
    )
    float(call(x))
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        float(call(x))
        seconds.append(time.perf_counter() - started)
    return 2 * 192 * 256 * 9 * 256 * 256 / statistics.median(seconds)


def iteration_seconds(engine: Any, images: tuple[Any, Any], size: int, iterations: int) -> dict:
    """Per-iteration gaps of one run (a progress report after each iteration, no state)."""
    from contract.params import parse_params
    from worker.nst.options import RunOptions

    stamps: list[float] = []
    params = parse_params({"size": size, "iterations": iterations + 1, "early_stop": 0})
    result = engine.run(
        images[0],
        [images[1]],
        params,
        RunOptions(progress_seconds=1e-6, on_checkpoint=lambda c: stamps.append(c.elapsed_seconds)),
    )
    return {
        "gaps": [float(t) for t in np.diff(stamps)],
        "evaluations_per_iteration": result.evaluations / result.iterations,
        "shape": [int(result.size[1]), int(result.size[0])],
    }


def speed(engines: dict[str, Any], images: tuple[Any, Any], args: argparse.Namespace) -> dict:
    """Seconds per iteration per size and precision, rounds interleaved."""
    from contract.params import parse_params

    table: dict[int, dict[str, Any]] = {}
    for size in args.sizes:
        for engine in engines.values():  # compile outside the timing
            engine.run(
                images[0],
                [images[1]],
                parse_params({"size": size, "iterations": 2, "early_stop": 0}),
            )
        gaps: dict[str, list[float]] = {p: [] for p in engines}
        runs: dict[str, dict] = {}
        for _ in range(args.rounds):
            for precision, engine in engines.items():
                runs[precision] = iteration_seconds(engine, images, size, args.iterations)
                gaps[precision] += runs[precision]["gaps"]
        height, width = runs["float32"]["shape"]
        table[size] = {
            "shape": [height, width],
            "loadavg": os.getloadavg()[0],
            "gflop_per_evaluation": conv_flops(height, width) / 1e9,
            **{
                p: {
                    "median": statistics.median(g),
                    "mean": statistics.mean(g),
                    "n": len(g),
                    "evaluations_per_iteration": runs[p]["evaluations_per_iteration"],
                }
                for p, g in gaps.items()
            },
        }
        print(f"{size} px: {json.dumps(table[size])}", flush=True)
    return table


def time_to_quality(
    engines: dict[str, Any], images: tuple[Any, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """The tutorial's target scored by the float32 engine, and when each precision reaches it."""
    from engine import engine_params, fit_to, make_tutorial  # benchmarks/engine.py

    from worker.nst.options import RunOptions

    scorer = engines["float32"]
    paths = [SHARED / "images" / name for name in ("tubingen.jpg", "starry_night.jpg")]
    step, pixels = make_tutorial(args.weights, *paths, args.quality_size)
    started = time.perf_counter()
    for _ in range(args.baseline_steps):
        step()
    tutorial_seconds = time.perf_counter() - started
    full = engine_params(args.quality_size)
    reference = scorer.run(images[0], [images[1]], engine_params(args.quality_size, iterations=1))
    target = scorer.score(images[0], [images[1]], full, fit_to(pixels(), reference.image)).total
    out: dict[str, Any] = {
        "target": target,
        "tutorial_seconds": tutorial_seconds,
        "baseline_steps": args.baseline_steps,
    }
    params = engine_params(
        args.quality_size,
        iterations=args.quality_iterations,
        optimizer="lbfgs",
        scales=2,
        early_stop=0,
    )
    for precision, engine in engines.items():
        warm = engine_params(
            args.quality_size, iterations=2, optimizer="lbfgs", scales=2, early_stop=0
        )
        engine.run(images[0], [images[1]], warm)
        seen: list[tuple[int, float, np.ndarray]] = []

        def keep(checkpoint: Any, seen: list = seen) -> None:
            if max(checkpoint.image.shape[:2]) == args.quality_size:
                seen.append((checkpoint.iteration, checkpoint.elapsed_seconds, checkpoint.image))

        result = engine.run(
            images[0], [images[1]], params, RunOptions(checkpoint_every=1, on_checkpoint=keep)
        )
        reached = next(
            (
                (it, sec)
                for it, sec, image in seen
                if scorer.score(images[0], [images[1]], full, image).total <= target
            ),
            (None, None),
        )
        out[precision] = {
            "iteration": reached[0],
            "seconds": reached[1],
            "run_seconds": result.seconds,
            "final_loss_float32": scorer.score(images[0], [images[1]], full, result.image).total,
        }
        print(f"time to quality {precision}: {json.dumps(out[precision])}", flush=True)
    return out


def report(summary: dict[str, Any]) -> str:
    """The Markdown tables of benchmarks/README.md ("Precision")."""
    info, lines = summary["cpu"], []
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info["flags"].items())
    lines.append(f"CPU: {info['model']}, {info['cores']} cores; {flags}")
    auto = summary["auto"]
    lines.append(f"auto: {auto['describe']}")
    f32_tp, bf16_tp = summary["throughput"]["float32"], summary["throughput"]["bfloat16"]
    lines.append(
        f"one 3x3 conv (256->256, 192x256): float32 {f32_tp / 1e9:.0f} GFLOP/s, "
        f"bfloat16 {bf16_tp / 1e9:.0f} GFLOP/s ({bf16_tp / f32_tp:.2f}x)"
    )
    lines += [
        "",
        "| size (H x W) | load | float32 s/it median (mean, n) | bfloat16 s/it median "
        "(mean, n) | bf16 speed-up | conv GFLOP/evaluation | "
        "bf16 floor s/evaluation (conv FLOPs / bf16 conv throughput) | floor / engine bf16 "
        "s/it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, row in summary["speed"].items():
        f32, bf16 = row["float32"], row["bfloat16"]
        floor = row["gflop_per_evaluation"] * 1e9 / bf16_tp  # one evaluation per iteration
        lines.append(
            f"| {size} px ({row['shape'][0]} x {row['shape'][1]}) | {row['loadavg']:.1f} | "
            f"{f32['median']:.3f} ({f32['mean']:.3f}, {f32['n']}) | "
            f"{bf16['median']:.3f} ({bf16['mean']:.3f}, {bf16['n']}) | "
            f"{f32['median'] / bf16['median']:.2f}x | "
            f"{row['gflop_per_evaluation']:.1f} | {floor:.3f} | {floor / bf16['median']:.0%} |"
        )
    quality = summary.get("quality")
    if quality:
        lines += [
            "",
            f"time to quality: target {quality['target']:.4g} (the tutorial's image "
            f"after {quality['baseline_steps']} Adam steps, {quality['tutorial_seconds']:.1f}"
            " s, scored by the float32 engine)",
        ]
        for precision in PRECISIONS:
            q = quality[precision]
            reached = (
                f"iteration {q['iteration']}, {q['seconds']:.1f} s"
                if q["iteration"]
                else "not reached"
            )
            final = q["final_loss_float32"]
            lines.append(
                f"- {precision}: {reached}; loss after the run {final:.4g}"
                f" ({q['run_seconds']:.1f} s)"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_notop.weights.h5"))
    parser.add_argument(
        "--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[256, 512, 1024]
    )
    parser.add_argument("--iterations", type=int, default=4, help="Timed per round and size.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quality-size", type=int, default=256)
    parser.add_argument("--baseline-steps", type=int, default=150)
    parser.add_argument("--quality-iterations", type=int, default=100)
    parser.add_argument("--no-quality", action="store_true", help="Skip time to quality.")
    parser.add_argument("--json", default=None, help="Also write the summary here.")
    parser.add_argument("--report", default=None, help="Print the tables of a --json file.")
    args = parser.parse_args()
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return
    from yardstick import open_rgb

    from worker.nst.engine import StyleTransfer  # before anything else starts TensorFlow
    from worker.nst.precision import choose_precision

    engines = {p: StyleTransfer(args.weights, precision=p) for p in PRECISIONS}  # type: ignore[arg-type]
    images = tuple(open_rgb(SHARED / "images" / n) for n in ("tubingen.jpg", "starry_night.jpg"))
    auto = choose_precision("auto", engines["float32"]._extractors)
    summary: dict[str, Any] = {
        "cpu": cpu(),
        "command": " ".join([os.path.relpath(sys.executable, REPO), *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "loadavg_start": os.getloadavg()[0],
        "auto": {
            "describe": auto.describe(),
            "precision": auto.precision,
            "float32_seconds": auto.float32_seconds,
            "bfloat16_seconds": auto.bfloat16_seconds,
        },
        "throughput": {p: conv_throughput(p) for p in PRECISIONS},
    }
    print(json.dumps(summary), flush=True)
    summary["speed"] = speed(engines, images, args)  # type: ignore[arg-type]
    if not args.no_quality:
        summary["quality"] = time_to_quality(engines, images, args)  # type: ignore[arg-type]
    summary["loadavg_end"] = os.getloadavg()[0]
    print(report(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(BENCH))
    main()
