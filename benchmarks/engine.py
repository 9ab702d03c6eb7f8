"""Benchmark the engine against the TensorFlow tutorial's Gatys loop, on one machine in one run.

Measures seconds per iteration (engine with XLA off and on, Adam and L-BFGS; the tutorial's
Adam loop), time to quality (engine L-BFGS multi-scale until its loss is at or below the loss of
the tutorial's image after ``--baseline-steps`` steps, both scored with this engine's loss), and
peak RSS per output size (one subprocess per size). Run from the repo root:

    .venv/bin/python benchmarks/engine.py            # full run (~10 minutes on 2 CPU cores)
    .venv/bin/python benchmarks/engine.py --size 64 --baseline-steps 10 --speed-steps 3 \
        --quality-iterations 10 --memory-sizes 64    # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT_LAYERS = ["block5_conv2"]


def make_tutorial(weights: str, content_path: Path, style_path: Path, size: int) -> Any:
    """The TensorFlow "Neural style transfer" tutorial, verbatim in substance.

    Returns ``(train_step, pixels)``: one Adam step on its image, and that image as uint8 RGB.
    """
    import tensorflow as tf

    def load_img(path: Path) -> Any:
        img = tf.image.decode_image(tf.io.read_file(str(path)), channels=3)
        img = tf.image.convert_image_dtype(img, tf.float32)
        shape = tf.cast(tf.shape(img)[:-1], tf.float32)
        new_shape = tf.cast(shape * (size / max(shape)), tf.int32)
        return tf.image.resize(img, new_shape)[tf.newaxis, :]

    def vgg_layers(layer_names: list[str]) -> Any:
        vgg = tf.keras.applications.VGG19(include_top=False, weights=weights)
        vgg.trainable = False
        return tf.keras.Model([vgg.input], [vgg.get_layer(name).output for name in layer_names])

    def gram_matrix(input_tensor: Any) -> Any:
        result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
        input_shape = tf.shape(input_tensor)
        return result / tf.cast(input_shape[1] * input_shape[2], tf.float32)

    class StyleContentModel(tf.keras.models.Model):
        def __init__(self, style_layers: list[str], content_layers: list[str]) -> None:
            super().__init__()
            self.vgg = vgg_layers(style_layers + content_layers)
            self.style_layers, self.content_layers = style_layers, content_layers
            self.num_style_layers = len(style_layers)
            self.vgg.trainable = False

        def call(self, inputs: Any) -> Any:
            preprocessed = tf.keras.applications.vgg19.preprocess_input(inputs * 255.0)
            outputs = self.vgg(preprocessed)
            style_outputs = [gram_matrix(o) for o in outputs[: self.num_style_layers]]
            content_outputs = outputs[self.num_style_layers :]
            return {
                "content": dict(zip(self.content_layers, content_outputs, strict=True)),
                "style": dict(zip(self.style_layers, style_outputs, strict=True)),
            }

    extractor = StyleContentModel(STYLE_LAYERS, CONTENT_LAYERS)
    content_image, style_image = load_img(content_path), load_img(style_path)
    style_targets = extractor(style_image)["style"]
    content_targets = extractor(content_image)["content"]
    image = tf.Variable(content_image)
    opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
    style_weight, content_weight, total_variation_weight = 1e-2, 1e4, 30

    def style_content_loss(outputs: Any) -> Any:
        style_outputs, content_outputs = outputs["style"], outputs["content"]
        style_loss = tf.add_n(
            [tf.reduce_mean((style_outputs[n] - style_targets[n]) ** 2) for n in style_outputs]
        )
        style_loss *= style_weight / len(STYLE_LAYERS)
        content_loss = tf.add_n(
            [
                tf.reduce_mean((content_outputs[n] - content_targets[n]) ** 2)
                for n in content_outputs
            ]
        )
        content_loss *= content_weight / len(CONTENT_LAYERS)
        return style_loss + content_loss

    @tf.function()
    def train_step(image: Any) -> None:
        with tf.GradientTape() as tape:
            outputs = extractor(image)
            loss = style_content_loss(outputs)
            loss += total_variation_weight * tf.image.total_variation(image)
        grad = tape.gradient(loss, image)
        opt.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0))

    def pixels() -> np.ndarray:
        return np.clip(np.rint(image.numpy()[0] * 255), 0, 255).astype(np.uint8)

    return (lambda: train_step(image)), pixels


def timed(call: Callable[[], Any], count: int) -> list[float]:
    """Seconds taken by each of ``count`` calls."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def engine_params(size: int, **overrides: Any) -> Any:
    """Engine defaults at ``size`` with the tutorial's layers (which are also our defaults)."""
    from contract.params import parse_params

    fields = {"size": size, "content_layers": CONTENT_LAYERS, "style_layers": STYLE_LAYERS}
    return parse_params({**fields, **overrides})


def engine_iteration_times(
    engine: Any, images: tuple[Any, Any], size: int, steps: int, optimizer: str
) -> list[float]:
    """Seconds per iteration of one run on a warm engine, from its checkpoint timestamps.

    Per-job setup (resizing, targets) is excluded; the per-iteration checkpoint
    serialization (1 checkpoint per iteration here) is included.
    """
    from worker.nst.options import RunOptions

    content, style = images
    stamps: list[float] = []
    params = engine_params(size, iterations=steps + 1, optimizer=optimizer)
    engine.run(
        content,
        [style],
        params,
        RunOptions(checkpoint_every=1, on_checkpoint=lambda c: stamps.append(c.elapsed_seconds)),
    )
    return [float(t) for t in np.diff(stamps)]


def speed_rounds(
    args: argparse.Namespace, images: tuple[Any, Any], tutorial_step: Callable[[], Any]
) -> dict[str, list[float]]:
    """Interleave the tutorial and each engine configuration, so machine load hits all alike."""
    from worker.nst.engine import StyleTransfer

    configs = []
    for jit in (False,) if args.no_xla else (False, True):
        engine = StyleTransfer(args.weights, jit_compile=jit)
        for optimizer in ("adam", "lbfgs"):
            configs.append((f"engine {optimizer}, XLA {'on' if jit else 'off'}", engine, optimizer))
            params = engine_params(args.size, iterations=2, optimizer=optimizer)
            engine.run(images[0], [images[1]], params)  # trace / compile outside the timing
    tutorial_step()
    times: dict[str, list[float]] = {"tutorial Adam": [], **{c[0]: [] for c in configs}}
    for _ in range(args.rounds):
        times["tutorial Adam"] += timed(tutorial_step, args.speed_steps)
        for label, engine, optimizer in configs:
            times[label] += engine_iteration_times(
                engine, images, args.size, args.speed_steps, optimizer
            )
    return times


def time_to_quality(
    engine: Any, images: tuple[Any, Any], size: int, iterations: int, scales: int, target: float
) -> dict[str, Any]:
    """Run L-BFGS multi-scale; report when its full-size loss first reaches ``target``."""
    from worker.nst.options import RunOptions

    content, style = images
    params = engine_params(size, iterations=iterations, optimizer="lbfgs", scales=scales)
    warm = engine_params(size, iterations=scales, optimizer="lbfgs", scales=scales)
    engine.run(content, [style], warm)
    reached: list[tuple[int, float]] = []
    full_size = engine_params(size).size

    def on_checkpoint(checkpoint: Any) -> None:
        if max(checkpoint.image.shape[:2]) == full_size and checkpoint.losses.total <= target:
            reached.append((checkpoint.iteration, checkpoint.elapsed_seconds))

    options = RunOptions(checkpoint_every=1, on_checkpoint=on_checkpoint)
    result = engine.run(content, [style], params, options)
    first = reached[0] if reached else (None, None)
    return {
        "iteration": first[0],
        "seconds": first[1],
        "final_loss": result.losses.total,
        "run_seconds": result.seconds,
        "image": result.image,
    }


def peak_rss_mb(size: int, steps: int) -> float:
    """Peak RSS of a fresh process that loads the engine and runs ``steps`` L-BFGS iterations."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(size), "--speed-steps", str(steps)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return float(out.stdout.strip().splitlines()[-1])


def memory_child(weights: str, size: int, steps: int) -> None:
    """Body of the ``--memory-child`` subprocess: print peak RSS in MiB."""
    from worker.nst.engine import StyleTransfer

    engine = StyleTransfer(weights)
    content, style = load_images()
    engine.run(content, [style], engine_params(size, iterations=steps, optimizer="lbfgs"))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def load_images() -> tuple[Image.Image, Image.Image]:
    """tubingen.jpg and starry_night.jpg from ../shared/images."""
    return tuple(  # type: ignore[return-value]
        Image.open(SHARED / "images" / name).convert("RGB")
        for name in ("tubingen.jpg", "starry_night.jpg")
    )


def parse_args() -> argparse.Namespace:
    """Sizes and step counts are flags so a quick run is possible."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_notop.weights.h5"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--baseline-steps", type=int, default=150)
    parser.add_argument("--speed-steps", type=int, default=6, help="Iterations per timing block.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved timing rounds.")
    parser.add_argument("--quality-iterations", type=int, default=100)
    parser.add_argument("--scales", type=int, default=2)
    parser.add_argument("--memory-sizes", default="256,512")
    parser.add_argument("--no-xla", action="store_true", help="Skip the XLA (jit_compile) rows.")
    parser.add_argument("--save-dir", default=None, help="Write both final images here.")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def fit_to(pixels: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Resize the tutorial's image to the engine's output grid (they may differ by a pixel)."""
    if pixels.shape == like.shape:
        return pixels
    resized = Image.fromarray(pixels).resize(
        (like.shape[1], like.shape[0]), Image.Resampling.BILINEAR
    )
    return np.asarray(resized)


def main() -> None:
    """Run every measurement and print a table plus one JSON line."""
    args = parse_args()
    if args.memory_child is not None:
        memory_child(args.weights, args.memory_child, args.speed_steps)
        return
    from worker.nst.engine import StyleTransfer

    load_before = os.getloadavg()
    images = load_images()
    paths = [SHARED / "images" / name for name in ("tubingen.jpg", "starry_night.jpg")]
    speeds = speed_rounds(args, images, make_tutorial(args.weights, *paths, args.size)[0])
    tutorial_step, tutorial_pixels = make_tutorial(args.weights, *paths, args.size)
    tutorial_times = timed(tutorial_step, args.baseline_steps)
    engine = StyleTransfer(args.weights)  # the shipped default, NST_XLA=off
    reference = engine.run(images[0], [images[1]], engine_params(args.size, iterations=1)).image
    pixels = fit_to(tutorial_pixels(), reference)
    target = engine.score(images[0], [images[1]], engine_params(args.size), pixels).total
    quality = time_to_quality(
        engine, images, args.size, args.quality_iterations, args.scales, target
    )
    memory = {size: peak_rss_mb(int(size), 3) for size in args.memory_sizes.split(",") if size}
    if args.save_dir:
        Path(args.save_dir).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(Path(args.save_dir) / "baseline.png")
        Image.fromarray(quality["image"]).save(Path(args.save_dir) / "engine_lbfgs.png")
    loads = (load_before, os.getloadavg())
    report(args, speeds, tutorial_times, target, quality, memory, loads)


def report(
    args: argparse.Namespace,
    speeds: dict[str, list[float]],
    tutorial_times: list[float],
    target: float,
    quality: dict[str, Any],
    memory: dict[str, float],
    loads: tuple[tuple[float, ...], tuple[float, ...]],
) -> None:
    """Print the markdown table that goes into benchmarks/README.md, and a JSON line."""
    base = float(np.median(speeds["tutorial Adam"]))
    print(f"| {args.size} px, tutorial layers | s/iteration median (mean) | ratio to tutorial |")
    print("|---|---|---|")
    for label, times in speeds.items():
        median = float(np.median(times))
        print(f"| {label} | {median:.3f} ({np.mean(times):.3f}) | {median / base:.2f}x |")
    warm_wall = sum(tutorial_times[1:]) * len(tutorial_times) / max(len(tutorial_times) - 1, 1)
    hit = quality["seconds"]
    reach = (
        f"{hit:.1f} s, iteration {quality['iteration']} ({hit / warm_wall:.2f} of tutorial)"
        if hit is not None
        else f"not within {args.quality_iterations} iterations"
    )
    print(f"\n| time to quality ({args.size} px) | value |\n|---|---|")
    print(f"| tutorial, {args.baseline_steps} Adam steps: wall time (warm) | {warm_wall:.1f} s |")
    print(f"| tutorial's final image, scored with this engine's loss | {target:.4g} |")
    print(f"| engine L-BFGS (XLA off), {args.scales} scales: reaches that loss at | {reach} |")
    print(
        f"| engine L-BFGS, loss after {args.quality_iterations} iterations | "
        f"{quality['final_loss']:.4g} ({quality['run_seconds']:.1f} s) |"
    )
    for size, mb in memory.items():
        print(f"| peak RSS, fresh process, engine L-BFGS at {size} px | {mb:.0f} MiB |")
    print(f"\nload average (1/5/15 min) before: {loads[0]}, after: {loads[1]}")
    summary = {
        "speeds": speeds,
        "tutorial_times": tutorial_times,
        "target": target,
        "memory_mib": memory,
        "loads": loads,
        "quality": {k: v for k, v in quality.items() if k != "image"},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    main()
