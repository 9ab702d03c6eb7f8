"""Worker memory soak: many jobs of distinct image shapes through one real worker, RSS over time.

Found from outside: one process ran 24 jobs of distinct shapes and grew from 817 to 1154 MB,
about 14 MB per shape, for good (each new shape left compiled graphs behind). Now the engine
keeps at most ``NST_COMPILED_STEPS`` compiled steps (least recently used evicted) and Celery
replaces a pool process above ``NST_WORKER_MAX_MEMORY_MB`` between jobs. This runs the real
worker (celery, prefork, one pool process) on the real Redis with file storage, submits jobs
through the API's code (Flask's test client, in this process) one after another, and samples
the resident memory of the worker's processes after each job.

"Flat" is measured, not eyeballed: the slope of a least-squares line through the pool
process's RSS over the jobs after warm-up, in MB per 100 jobs, and the rise from the end of
warm-up to the maximum. Run from the repository root:

    .venv/bin/python benchmarks/soak.py --jobs 200            # the full soak (~10 minutes)
    .venv/bin/python benchmarks/soak.py --jobs 12 --warmup 4  # quick check
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import redis
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from harness.celery_worker import CeleryWorker  # noqa: E402
from harness.waits import wait_for  # noqa: E402
from shared.settings import load_settings  # noqa: E402

SHARED_IMAGES = REPO.parent / "shared" / "images"


def shapes(count: int) -> list[tuple[int, int]]:
    """Distinct (width, height) pairs, 64 to 248 px wide, as users' aspect ratios vary."""
    widths = range(64, 249, 8)
    heights = (64, 72, 80, 96)
    pairs = [(w, h) for h in heights for w in widths]
    return [pairs[i % len(pairs)] for i in range(count)]


def image_of(name: str, width: int, height: int) -> bytes:
    with Image.open(SHARED_IMAGES / name) as image:
        buffer = io.BytesIO()
        image.convert("RGB").resize((width, height)).save(buffer, format="JPEG")
        return buffer.getvalue()


def rss_mb(parent: psutil.Process) -> tuple[float, float, int]:
    """(pool child RSS, parent + children RSS) in MB, and the pool child's pid (0 if none)."""
    children = parent.children(recursive=True)
    child = children[0] if children else None
    total = parent.memory_info().rss + sum(c.memory_info().rss for c in children)
    if child is None:
        return 0.0, total / 2**20, 0
    return child.memory_info().rss / 2**20, total / 2**20, child.pid


def start_worker(env: dict[str, str], log: Path) -> CeleryWorker:
    """One real worker (one pool process) on the run's queue, ready."""
    worker = CeleryWorker(env, f"soak-{uuid.uuid4().hex[:6]}", log, queue=env["NST_QUEUE"])
    try:
        return worker.wait_ready(timeout=300)
    except BaseException:
        worker.stop()
        raise


def run_job(client: Any, store: Any, index: int, size: tuple[int, int], iterations: int) -> str:
    """Submit one job through the API code and wait for it to end; return its final status."""
    data = {
        "content": (io.BytesIO(image_of("tubingen.jpg", *size)), "c.jpg"),
        "style": (io.BytesIO(image_of("starry_night.jpg", 96, 72)), "s.jpg"),
        "size": str(max(size)),
        "iterations": str(iterations),
        "optimizer": "adam",
        "seed": str(index),
    }
    response = client.post("/v1/jobs", data=data, content_type="multipart/form-data")
    if response.status_code != 202:
        raise RuntimeError(f"submit failed: {response.status_code} {response.json}")
    job_id = response.json["id"]
    job = wait_for(lambda: (j := store.get(job_id)).status.is_final and j, 300, f"job {job_id}")
    return str(job.status.value)


def flatness(rss: list[float], warmup: int) -> dict[str, float]:
    """Slope (MB per 100 jobs) and rise (MB) of the pool process's RSS after warm-up."""
    after = np.array(rss[warmup:])
    slope = float(np.polyfit(np.arange(len(after)), after, 1)[0]) * 100 if len(after) > 1 else 0.0
    return {
        "rss_after_warmup_mb": round(float(after[0]), 1),
        "rss_max_mb": round(float(after.max()), 1),
        "rss_end_mb": round(float(after[-1]), 1),
        "rise_mb": round(float(after.max() - after[0]), 1),
        "slope_mb_per_100_jobs": round(slope, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=25, help="jobs before the flatness check")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--compiled-steps", default=None, help="NST_COMPILED_STEPS for the worker")
    parser.add_argument("--max-memory-mb", default=None, help="NST_WORKER_MAX_MEMORY_MB")
    parser.add_argument(
        "--shape-bucket",
        default="1",
        help="NST_SHAPE_BUCKET; 1 (the worst case, and every run before "
        "buckets existed) compiles one step per distinct shape",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    folder = Path(tempfile.mkdtemp(prefix="nst-soak-"))
    env = {
        **os.environ,
        "NST_REDIS_URL": args.redis_url,
        "NST_KEY_PREFIX": f"soak-{run}",
        "NST_QUEUE": f"soak-{run}",
        "NST_STORAGE_URL": f"file://{folder / 'storage'}",
        "NST_AUTH": "off",
        "NST_WORKER_METRICS_PORT": "0",
        "NST_CHECKPOINT_EVERY": "100",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    for name, value in (
        ("NST_COMPILED_STEPS", args.compiled_steps),
        ("NST_WORKER_MAX_MEMORY_MB", args.max_memory_mb),
        ("NST_SHAPE_BUCKET", args.shape_bucket),
    ):
        if value is not None:
            env[name] = value
    os.environ.update({k: v for k, v in env.items() if k.startswith("NST_")})
    settings = load_settings()
    client = create_app(settings).test_client()
    store = client.application.extensions["nst"].store
    worker = start_worker(env, folder / "worker.log")
    parent = psutil.Process(worker.pid)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for index, size in enumerate(shapes(args.jobs)):
            status = run_job(client, store, index, size, args.iterations)
            child, total, pid = rss_mb(parent)
            rows.append(
                {
                    "job": index + 1,
                    "shape": size,
                    "status": status,
                    "child_rss_mb": round(child, 1),
                    "total_rss_mb": round(total, 1),
                    "child_pid": pid,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
            if not args.json:
                print(json.dumps(rows[-1]), flush=True)
    finally:
        worker.stop(group=True)
        client_redis = redis.Redis.from_url(args.redis_url)
        for key in client_redis.scan_iter(f"*soak-{run}*"):
            client_redis.delete(key)
    summary = {
        "jobs": len(rows),
        "distinct_shapes": len({tuple(r["shape"]) for r in rows}),
        "failed": sum(r["status"] != "succeeded" for r in rows),
        "pool_processes": len({r["child_pid"] for r in rows}),
        "compiled_steps": args.compiled_steps or "default",
        "max_memory_mb": args.max_memory_mb or "default",
        **flatness([r["child_rss_mb"] for r in rows], min(args.warmup, len(rows) - 1)),
        "seconds": rows[-1]["seconds"] if rows else 0,
    }
    print(json.dumps({"summary": summary, "rows": rows} if args.json else {"summary": summary}))


if __name__ == "__main__":
    main()
