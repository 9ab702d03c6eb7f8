"""The service end to end on one machine: API, Redis, a worker on the GPU, file storage.

One command for the lent GPU machine (and, with small sizes, for any CPU): it starts a real
``redis-server`` (``--redis-server``: that machine has no network, so carry the binary), the
API under gunicorn, one worker at ``--concurrency`` 1 and then 2, and submits a mix of aspect
ratios at each size through the HTTP API. Per job it reports submit->succeeded seconds and the
job's own timing (queue, compile, optimize, background checkpoint uploads); per run the GPU's
busy share sampled with ``nvidia-smi`` (null without one) and jobs per GPU-hour. One JSON line
per run goes to ``--out``. Run from the repository root:

    python benchmarks/gpu/e2e.py --out benchmarks/results/e2e-h100.jsonl \\
        --jobs 512:12:500,1024:4:300 --concurrency 1,2          # the GPU run (issue 10)
    python benchmarks/gpu/e2e.py --precision bfloat16 --out benchmarks/results/e2e-h100-bf16.jsonl \
        --jobs 512:12:500,1024:4:300 --concurrency 1,2          # the same in bfloat16 (issue 20)
    .venv/bin/python benchmarks/gpu/e2e.py --jobs 64:4:20,96:2:10 --concurrency 1 \\
        --out /tmp/e2e-cpu.jsonl                                # a quick check on a CPU

``--sequential`` submits each job only after the previous one ended, and ``--against-nst-run``
then runs every job again with ``nst run`` (a fresh process per job, the same photo, painting,
size, iterations and seed) for the service-overhead goal: a job's submit->succeeded time
through the service against the same job under ``nst run``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from harness.ports import free_port  # noqa: E402
from harness.processes import process  # noqa: E402
from harness.waits import answers, wait_for  # noqa: E402

IMAGES = REPO.parent / "shared" / "images"
RATIOS = ((4, 3), (3, 4), (16, 9), (1, 1), (9, 16), (3, 2))  # width : height


def photo(ratio: tuple[int, int], seed: int) -> bytes:
    """A crop of a real photo with the given aspect ratio (JPEG bytes)."""
    name = ("tubingen.jpg", "golden_gate.jpg")[seed % 2]
    with Image.open(IMAGES / name) as image:
        image = image.convert("RGB")
        width, height = image.size
        scale = min(width / ratio[0], height / ratio[1])
        box = (0, 0, int(ratio[0] * scale), int(ratio[1] * scale))
        buffer = io.BytesIO()
        image.crop(box).save(buffer, format="JPEG", quality=92)
        return buffer.getvalue()


class GpuSampler:
    """``nvidia-smi`` utilization samples while the jobs run (none on a machine without it)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        command = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self.stop.wait(0.2):
            with suppress(Exception):
                out = subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(out.split()[0]))

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()

    def busy_share(self) -> float | None:
        return round(statistics.mean(self.samples) / 100, 3) if self.samples else None


def run(args: argparse.Namespace, concurrency: int, folder: Path) -> dict[str, Any]:
    """One run at one concurrency: a fresh Redis, API and worker; every job to its end."""
    redis_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "NST_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "NST_STORAGE_URL": f"file://{folder / 'storage'}",
        "NST_AUTH": "off",
        "NST_API_HOST": "127.0.0.1",
        "NST_API_PORT": str(api_port),
        "NST_API_WORKERS": "1",
        "NST_MAX_SIZE": "2048",
        "NST_WORKER_CONCURRENCY": str(concurrency),
        "NST_WORKER_METRICS_PORT": "0",
        "NST_MAX_ACTIVE_JOBS_PER_KEY": "1000",
    }
    worker = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.main:app",
        "worker",
        "--queues",
        "nst-gpu",
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    with ExitStack() as stack:
        stack.enter_context(
            process(
                [
                    args.redis_server,
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                ],
                env,
                folder / "redis.log",
            )
        )
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        stack.enter_context(
            process(
                [gunicorn, "-c", "python:api.gunicorn_conf", "api.app:create_app()"],
                env,
                folder / "api.log",
            )
        )
        api = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: answers(f"{api}/readyz"), 60, "the API")
        stack.enter_context(process(worker, env, folder / f"worker-{concurrency}.log"))
        wait_for(
            lambda: b"ready." in (folder / f"worker-{concurrency}.log").read_bytes(),
            600,
            "the worker",
        )
        with GpuSampler() as gpu:
            started = time.monotonic()
            specs = list(enumerate(job_specs(args.jobs)))
            if args.sequential:
                jobs, finished = [], []
                for index, spec in specs:
                    jobs.append(submit(api, spec, index))
                    finished.append(wait_final(api, jobs[-1]))
            else:
                jobs = [submit(api, spec, index) for index, spec in specs]
                finished = [wait_final(api, job) for job in jobs]
            wall = time.monotonic() - started
    rows = [job_row(job, end) for job, end in zip(jobs, finished, strict=True)]
    return {
        "concurrency": concurrency,
        "jobs": rows,
        "wall_seconds": round(wall, 1),
        "gpu_busy_share": gpu.busy_share(),
        "jobs_per_gpu_hour": round(len(rows) / wall * 3600, 1),
        "succeeded": sum(r["status"] == "succeeded" for r in rows),
    }


def nst_run_rows(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """Every job again under ``nst run``: wall seconds of the process, and its own job time."""
    rows = []
    nst = str(Path(sys.executable).parent / "nst")
    for index, (size, iterations) in enumerate(job_specs(args.jobs)):
        content = folder / f"content-{index}.jpg"
        content.write_bytes(photo(RATIOS[index % len(RATIOS)], index))
        command = [
            nst,
            "run",
            str(content),
            str(IMAGES / "starry_night.jpg"),
            "-o",
            str(folder / f"out-{index}.png"),
            "--size",
            str(size),
            "--iterations",
            str(iterations),
            "--seed",
            str(index),
            "--json",
        ]
        started = time.monotonic()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
        wall = time.monotonic() - started
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(
            {
                "size": size,
                "iterations": iterations,
                "process_seconds": round(wall, 2),
                "engine_seconds": summary["seconds"],
            }
        )
    return rows


def job_specs(text: str) -> list[tuple[int, int]]:
    """``size:count:iterations,...`` as (size, iterations) per job."""
    specs = []
    for part in text.split(","):
        size, count, iterations = (int(v) for v in part.split(":"))
        specs += [(size, iterations)] * count
    return specs


def submit(api: str, spec: tuple[int, int], index: int) -> dict[str, Any]:
    size, iterations = spec
    with (IMAGES / "starry_night.jpg").open("rb") as style:
        files = {
            "content": ("c.jpg", photo(RATIOS[index % len(RATIOS)], index)),
            "style": ("s.jpg", style.read()),
        }
    data = {"size": str(size), "iterations": str(iterations), "seed": str(index)}
    response = requests.post(f"{api}/v1/jobs", files=files, data=data, timeout=60)
    response.raise_for_status()
    return {**response.json(), "submitted": time.monotonic()}


def wait_final(api: str, job: dict[str, Any]) -> dict[str, Any]:
    """The job once it ended, with the time it was first seen ended."""
    while True:
        current = requests.get(
            f"{api}/v1/jobs/{job['id']}", headers={"Prefer": "wait=60"}, timeout=90
        ).json()
        if current["status"] in ("succeeded", "failed", "cancelled"):
            return {**current, "ended": time.monotonic()}


def job_row(job: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    timing = end.get("timing") or {}
    return {
        "size": job["params"]["size"],
        "iterations": job["params"]["iterations"],
        "status": end["status"],
        "submit_to_end_seconds": round(end["ended"] - job["submitted"], 2),
        **{
            k: timing.get(k)
            for k in (
                "queued_seconds",
                "compile_seconds",
                "optimize_seconds",
                "checkpoint_seconds",
                "precision",
            )
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="512:12:500,1024:4:300", help="size:count:iterations,...")
    parser.add_argument("--concurrency", default="1,2")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--sequential", action="store_true", help="submit each job after the previous one ended"
    )
    parser.add_argument(
        "--against-nst-run",
        action="store_true",
        help="also run every job under `nst run` and compare",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        default=None,
        help="NST_PRECISION of the worker and nst run",
    )
    args = parser.parse_args()
    if args.precision:
        os.environ["NST_PRECISION"] = args.precision  # the worker and nst run inherit it
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        with tempfile.TemporaryDirectory(prefix="nst-e2e-") as folder:
            result = run(args, concurrency, Path(folder))
            if args.against_nst_run:
                direct = nst_run_rows(args, Path(folder))
                result["nst_run"] = direct
                service = sum(r["submit_to_end_seconds"] for r in result["jobs"])
                result["service_over_nst_run"] = round(
                    service / sum(r["process_seconds"] for r in direct), 3
                )
        line = json.dumps(
            {
                "command": " ".join(sys.argv),
                "device": device(),
                "precision_setting": os.environ.get("NST_PRECISION", "float32"),
                **result,
            }
        )
        with args.out.open("a") as out:
            out.write(line + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "jobs"}), flush=True)


def device() -> str:
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        with suppress(Exception):
            return subprocess.run(query, capture_output=True, text=True, timeout=10).stdout.strip()
    return f"cpu ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
