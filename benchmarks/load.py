"""Load benchmark: the real API (gunicorn), Redis, an S3 endpoint (moto) and N Celery workers.

Measures what the issue asks for, on loopback, in one run:
submit latency of ~256 KB uploads and status-poll latency at a target rate (client wall time and
server time), jobs per minute for 1, 2 and 4 CPU workers with a check that every job ended exactly
once, and a burst of 10,000 queued jobs (Redis bytes per queued job, latency with a deep queue).

Server time comes from gunicorn's access log (``%(D)s``, microseconds, every gunicorn worker):
the ``nst_api_request_seconds`` histogram lives in a per-process registry, so one ``/metrics``
scrape sees only the gunicorn worker that answered it, and its buckets are coarse (10, 25, 50 ms).
Both clocks start after the request headers are parsed and include reading the body from the
socket buffer, not the client's upload. Run from the repo root:

    .venv/bin/python benchmarks/load.py                                  # full run
    .venv/bin/python benchmarks/load.py --workers 1 --jobs 4 --submit-jobs 20 \
        --poll-seconds 2 --skip-deep                                     # quick check
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contract.jobs import Job, JobStatus  # noqa: E402
from harness.api_server import APP, gunicorn  # noqa: E402
from harness.arguments import int_list  # noqa: E402
from harness.celery_worker import CeleryWorker  # noqa: E402
from harness.moto_server import AWS_ENV, moto_process  # noqa: E402
from shared.job_store import JobStore  # noqa: E402

PY = sys.executable
BUCKET = "nst-bench"
API_KEYS = ("bench-key-alpha", "bench-key-beta")
# Every request a benchmark sends: (connect, read) seconds. Without one, a request the server
# never answers hangs the whole benchmark (issue 21: scale.py waited 8 minutes on one submit);
# the read part is above the API's own deadline (NST_API_REQUEST_TIMEOUT_SECONDS, 120 s).
HTTP_TIMEOUT = (10.0, 150.0)
TINY_PARAMS = {"size": "32", "iterations": "4", "optimizer": "adam"}
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(D)s"
TARGET_BYTES = 256 * 1024


# -- numbers --------------------------------------------------------------------------------
@dataclass
class Latency:
    """Latency percentiles in milliseconds over ``count`` requests."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ordered = sorted(seconds) or [float("nan")]

        def rank(q: float) -> float:  # nearest rank: an observed value, never interpolated
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

        return cls(len(seconds), rank(0.50), rank(0.99), round(ordered[-1] * 1000, 2))


@dataclass
class Results:
    """Everything the run measured; printed as a table and, with --json, as one line."""

    setup: dict[str, object] = field(default_factory=dict)
    phases: dict[str, dict[str, object]] = field(default_factory=dict)
    throughput: list[dict[str, object]] = field(default_factory=list)
    deep_queue: dict[str, object] = field(default_factory=dict)


# -- images ---------------------------------------------------------------------------------
def jpeg_near(path: Path, target: int) -> bytes:
    """Re-encode path as the JPEG whose size is closest to target bytes (same pixels)."""
    image = Image.open(path).convert("RGB")
    best = b""
    for quality in range(95, 40, -1):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        data = buffer.getvalue()
        if not best or abs(len(data) - target) < abs(len(best) - target):
            best = data
    return best


def tiny_jpeg(path: Path, side: int = 32) -> bytes:
    """A side-pixel JPEG of path, for jobs that must run in about a second."""
    image = Image.open(path).convert("RGB")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# -- processes ------------------------------------------------------------------------------
def start_s3(stack: ExitStack, logs: Path) -> str:
    """moto's S3 server in its own process (not a thread of this client) with the bucket made."""
    return stack.enter_context(moto_process(dict(os.environ), logs / "s3.log", BUCKET)).url


def app_factory(form_memory_bytes: int) -> str:
    """gunicorn's app spec; a non-zero size overrides the app's MAX_FORM_MEMORY_SIZE.

    The default (0) measures the app as it ships. The override stays for experiments: the first
    load run found that Werkzeug counts file chunks against this limit (benchmarks/README.md).
    """
    if not form_memory_bytes:
        return APP
    return f"api.app:create_app(test_config={{'MAX_FORM_MEMORY_SIZE': {form_memory_bytes}}})"


def start_api(
    stack: ExitStack, env: dict[str, str], workers: int, form_memory_bytes: int, logs: Path
) -> str:
    """The API under gunicorn as in deploy/local/services.sh, with an access log of timings."""
    args = [
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        str(logs / "access.log"),
        "--access-logformat",
        ACCESS_LOG_FORMAT,
    ]
    api = gunicorn(
        env, logs / "api.log", args=args, app=app_factory(form_memory_bytes), ready_path="/readyz"
    )
    return stack.enter_context(api).url


@contextmanager
def celery_workers(count: int, env: dict[str, str], logs: Path) -> Iterator[None]:
    """count worker processes (concurrency 1 each), ready before the block starts."""
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                CeleryWorker(
                    env,
                    f"bench{count}-{index}",
                    logs / f"worker{count}-{index}.log",
                    queue=env["NST_QUEUE"],
                )
            )
            for index in range(count)
        ]
        for worker in workers:
            worker.wait_ready(timeout=300)
        yield


# -- clients --------------------------------------------------------------------------------
class Client:
    """One API key's session; thread-local so each client thread keeps its own connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()

    def session(self, key: str) -> requests.Session:
        sessions = self.local.__dict__.setdefault("sessions", {})
        if key not in sessions:
            sessions[key] = requests.Session()
            sessions[key].headers["Authorization"] = f"Bearer {key}"
        return sessions[key]

    def submit(
        self, key: str, content: bytes, style: bytes, params: dict[str, str]
    ) -> tuple[str, float]:
        """POST one job; return (job id, seconds of wall time)."""
        files = {
            "content": ("c.jpg", content, "image/jpeg"),
            "style": ("s.jpg", style, "image/jpeg"),
        }
        started = time.perf_counter()
        response = self.session(key).post(
            f"{self.url}/v1/jobs", files=files, data=params, timeout=HTTP_TIMEOUT
        )
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return response.json()["id"], elapsed

    def poll(self, key: str, job_id: str) -> float:
        started = time.perf_counter()
        url = f"{self.url}/v1/jobs/{job_id}"
        self.session(key).get(url, timeout=HTTP_TIMEOUT).raise_for_status()
        return time.perf_counter() - started

    def cancel(self, key: str, job_id: str) -> None:
        self.session(key).post(f"{self.url}/v1/jobs/{job_id}/cancel", timeout=HTTP_TIMEOUT)


class AccessLog:
    """Server-side request times from gunicorn's access log, read from a marked offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self, method: str, route_prefix: str) -> list[float]:
        """Seconds for each request with method whose path starts with route_prefix."""
        time.sleep(0.5)  # gunicorn writes the line after the response is sent
        with open(self.path) as log:
            log.seek(self.offset)
            lines = [line.split() for line in log]
        return [
            int(parts[3]) / 1e6
            for parts in lines
            if len(parts) == 4 and parts[0] == method and _route_matches(parts[1], route_prefix)
        ]


def _route_matches(path: str, prefix: str) -> bool:
    """POST /v1/jobs is the collection; GET /v1/jobs/ is one job (exactly one more segment)."""
    if prefix.endswith("/"):
        return path.startswith(prefix) and "/" not in path[len(prefix) :]
    return path == prefix


def submit_burst(
    client: Client, count: int, clients: int, content: bytes, style: bytes, params: dict[str, str]
) -> tuple[list[tuple[str, str]], list[float]]:
    """Submit count jobs from clients threads; return ((key, id) pairs, client seconds)."""

    def one(index: int) -> tuple[str, str, float]:
        key = API_KEYS[index % len(API_KEYS)]
        job_id, seconds = client.submit(key, content, style, params)
        return key, job_id, seconds

    with ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(one, range(count)))
    return [(k, j) for k, j, _ in done], [s for _, _, s in done]


def poll_at_rate(
    client: Client, jobs: list[tuple[str, str]], rate: float, seconds: float, threads: int = 8
) -> tuple[float, list[float]]:
    """Poll random jobs at about rate per second for seconds; return (achieved rate, times)."""
    times: list[float] = []
    lock = threading.Lock()
    interval = threads / rate

    def poller(seed: int) -> None:
        rng = random.Random(seed)
        start = time.monotonic()
        next_at = start + rng.random() * interval
        while next_at < start + seconds:
            time.sleep(max(0.0, next_at - time.monotonic()))
            elapsed = client.poll(*rng.choice(jobs))
            with lock:
                times.append(elapsed)
            next_at += interval

    began = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(poller, range(threads)))
    return len(times) / (time.monotonic() - began), times


def cancel_all(client: Client, jobs: list[tuple[str, str]], clients: int) -> None:
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda pair: client.cancel(*pair), jobs))


# -- phases ---------------------------------------------------------------------------------
def latency_phase(
    client: Client, log: AccessLog, args: argparse.Namespace, big: bytes, jobs_before: int
) -> tuple[dict[str, object], dict[str, object], list[tuple[str, str]]]:
    """Submit ~256 KB uploads with no worker running, then poll them at the target rate."""
    log.mark()
    started = time.monotonic()
    params = {**TINY_PARAMS, "size": str(args.submit_size)}  # the API decodes to this size
    jobs, client_times = submit_burst(client, args.submit_jobs, args.clients, big, big, params)
    submit = {
        "jobs": len(jobs),
        "seconds": round(time.monotonic() - started, 2),
        "queue_depth_before": jobs_before,
        "client": asdict(Latency.of(client_times)),
        "server": asdict(Latency.of(log.since_mark("POST", "/v1/jobs"))),
    }
    log.mark()
    achieved, poll_times = poll_at_rate(client, jobs, args.poll_rate, args.poll_seconds)
    poll = {
        "target_per_s": args.poll_rate,
        "achieved_per_s": round(achieved, 1),
        "client": asdict(Latency.of(poll_times)),
        "server": asdict(Latency.of(log.since_mark("GET", "/v1/jobs/"))),
    }
    return submit, poll, jobs


def wait_final(store: JobStore, ids: list[str], timeout: float) -> list[Job]:
    """Poll the job records in Redis until every one is final; return them."""
    deadline = time.monotonic() + timeout
    while True:
        raws = store.redis.mget([f"{store.prefix}:job:{i}" for i in ids])
        jobs = [Job.model_validate_json(r) for r in raws if r is not None]
        if len(jobs) == len(ids) and all(j.status.is_final for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(j.status.is_final for j in jobs)}/{len(ids)} jobs final")
        time.sleep(0.2)


def throughput_phase(
    client: Client,
    store: JobStore,
    env: dict[str, str],
    args: argparse.Namespace,
    workers: int,
    tiny: bytes,
    logs: Path,
) -> dict[str, object]:
    """Jobs per minute with workers ready; checks every job ended once, none lost or duplicated."""
    with celery_workers(workers, env, logs):
        started = time.time()
        pairs, _ = submit_burst(client, args.jobs, args.clients, tiny, tiny, TINY_PARAMS)
        ids = [job_id for _, job_id in pairs]
        jobs = wait_final(store, ids, timeout=60 + 30 * args.jobs)
        finished = max(j.finished_at or started for j in jobs)
    statuses = sorted({j.status.value for j in jobs})
    run_seconds = [j.finished_at - j.started_at for j in jobs if j.finished_at and j.started_at]
    return {
        "workers": workers,
        "jobs": len(ids),
        "seconds": round(finished - started, 2),
        "jobs_per_minute": round(len(ids) / (finished - started) * 60, 1),
        "mean_job_seconds": round(sum(run_seconds) / max(1, len(run_seconds)), 2),
        "statuses": statuses,
        "all_final": all(j.status.is_final for j in jobs),
        "all_succeeded": statuses == [JobStatus.SUCCEEDED.value],
        "unique_ids": len(set(ids)) == len(ids),
        "max_attempts": max(j.attempts for j in jobs),
        "queue_left": int(store.redis.llen(env["NST_QUEUE"])),
    }


def deep_queue_phase(
    client: Client,
    store: JobStore,
    log: AccessLog,
    args: argparse.Namespace,
    queue: str,
    tiny: bytes,
    big: bytes,
) -> dict[str, object]:
    """Queue --queued tiny jobs through the API; Redis bytes per job and latency while deep."""
    before = int(store.redis.info("memory")["used_memory"])
    started = time.monotonic()
    jobs, burst_times = submit_burst(client, args.queued, args.clients, tiny, tiny, TINY_PARAMS)
    burst_seconds = time.monotonic() - started
    after = int(store.redis.info("memory")["used_memory"])
    depth = int(store.redis.llen(queue))
    sample = random.Random(0).sample(jobs, min(200, len(jobs)))
    submit, poll, extra = latency_phase(client, log, args, big, depth)
    return {
        "queued": len(jobs),
        "queue_length": depth,
        "burst_seconds": round(burst_seconds, 1),
        "burst_submits_per_s": round(len(jobs) / burst_seconds, 1),
        "burst_client": asdict(Latency.of(burst_times)),
        "used_memory_delta_bytes_per_job": round((after - before) / len(jobs)),
        "memory_usage_bytes_per_job": per_job_bytes(store, queue, [j for _, j in sample]),
        "submit_while_deep": submit,
        "poll_while_deep": poll,
        "extra_jobs": len(extra),
    }


def per_job_bytes(store: JobStore, queue: str, sample: list[str]) -> dict[str, int]:
    """MEMORY USAGE of one job's record and of its share of the queue and index keys."""
    record = sum(int(store.redis.memory_usage(f"{store.prefix}:job:{i}") or 0) for i in sample)
    shared_keys = [queue, f"{store.prefix}:status:queued"]
    shared_keys += [k.decode() for k in store.redis.scan_iter(f"{store.prefix}:owner:*")]
    shared = sum(int(store.redis.memory_usage(k, samples=0) or 0) for k in shared_keys)
    queued = max(1, int(store.redis.llen(queue)))
    return {"record": round(record / len(sample)), "queue_and_indexes": round(shared / queued)}


# -- setup and cleanup ----------------------------------------------------------------------
def service_env(args: argparse.Namespace, run_id: str, s3_endpoint: str) -> dict[str, str]:
    """NST_* variables for the API and workers: a key prefix and queue of this run's own."""
    prefix = f"nstbench-{run_id}"
    return {
        **os.environ,
        **AWS_ENV,
        "PYTHONUNBUFFERED": "1",
        "NST_REDIS_URL": args.redis_url,
        "NST_KEY_PREFIX": prefix,
        "NST_QUEUE": f"{prefix}-gpu",
        "NST_STORAGE_URL": f"s3://{BUCKET}/{run_id}",
        "NST_S3_ENDPOINT_URL": s3_endpoint,
        "NST_AUTH": "on",
        "NST_API_KEYS": ",".join(API_KEYS),
        "NST_MAX_ACTIVE_JOBS_PER_KEY": "100000",
        "NST_CHECKPOINT_EVERY": "2",
        "NST_VGG19_WEIGHTS": args.weights,
        "NST_WORKER_METRICS_PORT": "0",
    }


def drop_queue(store: JobStore, queue: str) -> None:
    """Remove queued messages (the jobs were cancelled) so later phases start from empty."""
    store.redis.delete(queue, f"_kombu.binding.{queue}")


def delete_run_keys(client: redis.Redis, prefix: str, queue: str) -> int:
    """Delete this run's keys only (its prefix and queue): the db may be shared."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            deleted += int(client.unlink(*batch))
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))
    kombu = [f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    return deleted + int(client.delete(queue, *kombu))


def machine() -> dict[str, object]:
    """CPU count, model and load: the README must say how busy the machine was."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")]
    cpu = models[0] if models else "unknown"
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "load_average": os.getloadavg()}


# -- main -----------------------------------------------------------------------------------
def run(args: argparse.Namespace, logs: Path) -> Results:
    results = Results(setup={**machine(), "args": vars(args)})
    run_id = uuid.uuid4().hex[:8]
    images = REPO.parent / "shared" / "images"
    big = jpeg_near(images / args.image, TARGET_BYTES)
    tiny = tiny_jpeg(images / args.image)
    results.setup.update(upload_bytes=len(big), tiny_bytes=len(tiny), image=args.image)
    redis_client = redis.Redis.from_url(args.redis_url)
    with ExitStack() as stack:
        env = service_env(args, run_id, start_s3(stack, logs))
        store = JobStore(redis_client, env["NST_KEY_PREFIX"])
        stack.callback(delete_run_keys, redis_client, env["NST_KEY_PREFIX"], env["NST_QUEUE"])
        client = Client(start_api(stack, env, args.api_workers, args.form_memory_bytes, logs))
        log = AccessLog(logs / "access.log")
        submit_burst(client, 2 * args.api_workers, 2, tiny, tiny, TINY_PARAMS)  # warm each worker
        submit, poll, jobs = latency_phase(client, log, args, big, 0)
        results.phases.update(submit=submit, poll=poll)
        cancel_all(client, jobs, args.clients)
        drop_queue(store, env["NST_QUEUE"])
        if not args.skip_throughput:
            for workers in args.workers:
                step = throughput_phase(client, store, env, args, workers, tiny, logs)
                results.throughput.append(step)
                print(f"  {workers} worker(s): {step['jobs_per_minute']} jobs/min", flush=True)
        if not args.skip_deep:
            results.deep_queue = deep_queue_phase(
                client, store, log, args, env["NST_QUEUE"], tiny, big
            )
    results.setup["load_average_after"] = os.getloadavg()
    return results


def print_table(results: Results) -> None:
    """A readable summary: one line per measurement."""
    s = results.setup
    print(f"\nmachine: {s['cpus']} x {s['cpu_model']}; load before {s['load_average']}")
    print(f"upload: {s['upload_bytes']} bytes content + same style ({s['image']})")
    rows = [("submit", results.phases.get("submit")), ("poll", results.phases.get("poll"))]
    if results.deep_queue:
        rows += [
            ("submit (deep)", results.deep_queue["submit_while_deep"]),
            ("poll (deep)", results.deep_queue["poll_while_deep"]),
        ]
    print(f"{'phase':<14}{'n':>6}{'client p50':>12}{'p99':>9}{'server p50':>12}{'p99':>9}  ms")
    for name, phase in rows:
        if phase:
            c, v = phase["client"], phase["server"]
            print(
                f"{name:<14}{c['count']:>6}{c['p50_ms']:>12}{c['p99_ms']:>9}"
                f"{v['p50_ms']:>12}{v['p99_ms']:>9}"
            )
    base = results.throughput[0]["jobs_per_minute"] if results.throughput else None
    for step in results.throughput:
        speedup = round(step["jobs_per_minute"] / base, 2) if base else None
        print(f"workers {step['workers']}: {step['jobs_per_minute']} jobs/min, x{speedup}, {step}")
    if results.deep_queue:
        d = {k: v for k, v in results.deep_queue.items() if "while_deep" not in k}
        print(f"deep queue: {d}")
    print(f"load after {s.get('load_average_after')}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int_list, default=[1, 2, 4], help="e.g. 1,2,4")
    parser.add_argument("--jobs", type=int, default=40, help="tiny jobs per throughput step")
    parser.add_argument("--submit-jobs", type=int, default=200, help="~256 KB submits timed")
    parser.add_argument("--submit-size", type=int, default=512, help="output size of timed submits")
    parser.add_argument("--clients", type=int, default=16, help="concurrent submitting clients")
    parser.add_argument("--poll-rate", type=float, default=300, help="target status polls/s")
    parser.add_argument("--poll-seconds", type=float, default=10)
    parser.add_argument("--queued", type=int, default=10_000, help="deep-queue burst size")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-deep", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--form-memory-bytes",
        type=int,
        default=0,
        help="override MAX_FORM_MEMORY_SIZE (0: the app's own setting)",
    )
    parser.add_argument("--image", default="starry_night.jpg", help="in ../shared/images")
    parser.add_argument(
        "--weights",
        default=os.environ.get(
            "NST_VGG19_WEIGHTS", str(REPO.parent / "shared/weights/vgg19_notop.weights.h5")
        ),
    )
    parser.add_argument("--logs", type=Path, default=REPO / ".run" / "bench-load")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    results = run(args, args.logs)
    print_table(results)
    if args.json:
        print(json.dumps(asdict(results), default=str))


if __name__ == "__main__":
    main()
