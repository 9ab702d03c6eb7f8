"""Scale-out benchmark: how many GPU workers one API and one Redis keep busy, and what fails first.

One run starts, on loopback: a Redis of its own (append-only, as docker-compose ships it, so
its counters see only this run), real storage (moto's S3 server in its own process, or a
``file://`` folder), the API under gunicorn exactly as ``deploy/local/services.sh`` runs it
(``gunicorn -c python:api.gunicorn_conf 'api.app:create_app()'``, NST_API_* settings), and for
each N in ``--workers`` N fresh ``celery worker`` processes as docker-compose runs them, with
the simulated engine (``benchmarks/simulated_engine.py``): each job sleeps the modelled H100
time and writes real previews, states (of the real engine's size unless ``--state-bytes``) and
results. Clients submit N x ``--jobs-per-worker`` jobs through the API (two real photos, an
Idempotency-Key each) and poll each unfinished job every ``--poll-interval`` seconds; with
``--prefill`` every job is queued first and the workers are then told to take the queue.

Per N it reports: jobs per second and efficiency (throughput / (N x one worker's), the N=1
step of the same run), overall and while jobs waited in the queue; submit->start latency and
dispatch latency (a job waiting for a worker that has just become free, to that worker
claiming it), p50/p99; Redis commands, bytes and CPU per job (INFO commandstats/stats/cpu, the
depth sampler's own commands subtracted); CPU seconds per job of the API (every gunicorn
process), the workers, Redis, storage and this client; what idle workers cost; queue depth over
time (every 0.5 s); how busy the machine was. Then, when asked: the cost of one sweep against
R running jobs, a GET per job as before and one MGET as now (``--sweep-running``), and Redis
memory and API CPU per queued job (``--queued-jobs``). benchmarks/README.md, "Scale-out", has
the results and their commands. Run from the repo root:

    .venv/bin/python benchmarks/scale.py --workers 1,16 --jobs-per-worker 5 --json
    .venv/bin/python benchmarks/scale.py --workers 1,4,16,64 --state-bytes 65536 \
        --queued-jobs 2000 --sweep-running 64,640,6400 --out benchmarks/results/scale-x.json
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.load import BUCKET, HTTP_TIMEOUT, Latency, machine  # noqa: E402
from benchmarks.simulated_engine import (  # noqa: E402
    SIMULATED_ENGINE,
    iteration_seconds,
    real_state_bytes,
)
from contract.jobs import Job, JobStatus  # noqa: E402
from harness.api_server import gunicorn  # noqa: E402
from harness.arguments import int_list  # noqa: E402
from harness.celery_worker import CeleryWorker  # noqa: E402
from harness.moto_server import AWS_ENV, moto_process  # noqa: E402
from harness.redis_server import redis_server  # noqa: E402
from harness.waits import wait_for  # noqa: E402
from shared.job_store import JobStore  # noqa: E402
from shared.queue import make_producer  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.storage import JobKeys, ObjectStorage, open_storage  # noqa: E402

PY = sys.executable
API_KEY = "bench-scale-key"
IMAGES = REPO.parent / "shared" / "images"
SAMPLE_SECONDS = 0.5
JOB_QUEUE = "nst-gpu"  # NST_QUEUE's default, which the API publishes to
HOLD_QUEUE = "nst-scale-hold"  # --prefill: workers wait here, on nothing, until released


# -- the stack --------------------------------------------------------------------------------
@dataclass
class Stack:
    """The running services of one step and what the benchmark needs to reach and measure them."""

    env: dict[str, str]  # the API's environment; workers add the simulated engine
    api_url: str
    redis: redis.Redis
    store: JobStore
    storage: ObjectStorage
    pids: dict[str, list[int]] = field(default_factory=dict)  # role -> top-level process ids
    finished: list[str] = field(default_factory=list)  # ids of every job the steps ran


def start_redis(stack: ExitStack, logs: Path) -> tuple[str, int]:
    """A redis-server of the run's own, persisted as docker-compose runs it, starting empty."""
    folder = Path(tempfile.mkdtemp(prefix="redis-", dir=logs))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    server = stack.enter_context(redis_server(folder, aof_rewrite=True))
    assert server.process is not None
    return server.url, server.process.pid


def start_moto(stack: ExitStack, logs: Path) -> tuple[str, int]:
    """moto's S3 server in its own process, with the bucket made."""
    server = stack.enter_context(moto_process(dict(os.environ), logs / "s3.log", BUCKET))
    return server.url, server.pid


def service_env(args: argparse.Namespace, redis_url: str, storage: str | None) -> dict[str, str]:
    """NST_* settings of the API and the workers: production defaults except what is named."""
    env = {
        **os.environ,
        **AWS_ENV,
        "PYTHONUNBUFFERED": "1",
        "NST_REDIS_URL": redis_url,
        "NST_AUTH": "on",
        "NST_API_KEYS": API_KEY,
        "NST_MAX_ACTIVE_JOBS_PER_KEY": "1000000",
        "NST_WORKER_METRICS_PORT": "0",
        "NST_API_WORKERS": str(args.api_workers),
    }
    env.pop("NST_ENGINE", None)
    if storage is None:
        env["NST_STORAGE_URL"] = f"file://{args.logs / 'storage'}"
    else:
        env.update(NST_STORAGE_URL=f"s3://{BUCKET}/scale", NST_S3_ENDPOINT_URL=storage)
    if args.checkpoint_every:
        env["NST_CHECKPOINT_EVERY"] = str(args.checkpoint_every)
    return env


def start_api(stack: ExitStack, env: dict[str, str], logs: Path) -> tuple[str, int]:
    """The API as deploy/local/services.sh starts it: gunicorn with the repo's config file."""
    api = stack.enter_context(gunicorn(env, logs / "api.log", ready_path="/readyz"))
    return api.url, api.pid


@contextmanager
def simulated_workers(
    count: int, env: dict[str, str], args: argparse.Namespace, queue: str
) -> Iterator[list[int]]:
    """count worker processes as docker-compose runs them, consuming queue, all ready; yields
    their pids."""
    worker_env = {**env, "NST_ENGINE": SIMULATED_ENGINE}
    if args.state_bytes is not None:
        worker_env["NST_SIMULATED_STATE_BYTES"] = str(args.state_bytes)
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                CeleryWorker(
                    worker_env,
                    worker_name(count, index),
                    args.logs / f"worker-{count}-{index}.log",
                    queue=queue,
                    heartbeat=True,
                    extra_args=["--prefetch-multiplier", "1"],
                )
            )
            for index in range(count)
        ]
        for worker in workers:
            worker.wait_ready(timeout=600)
        yield [worker.pid for worker in workers]


# -- measuring ------------------------------------------------------------------------------
def tree_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children so far."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def tree_pss_mb(pids: list[int]) -> float:
    """Proportional memory (shared pages split between sharers) of these process trees, MiB."""
    total = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            total += sum(p.memory_full_info().pss for p in [root, *root.children(recursive=True)])
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


@dataclass
class Snapshot:
    """Counters read at one moment: Redis INFO, each role's CPU, the machine's CPU."""

    at: float
    info: dict[str, Any]
    cpu: dict[str, float]
    machine_busy: float
    worker_pss_mb: float = 0.0  # memory of one worker (main process + pool child)

    @classmethod
    def take(cls, stack: Stack) -> Snapshot:
        times = psutil.cpu_times()
        cpu = {role: tree_cpu_seconds(pids) for role, pids in stack.pids.items()}
        cpu["client"] = sum(psutil.Process().cpu_times()[:2])
        busy = sum(times) - times.idle - times.iowait
        workers = stack.pids.get("workers", [])
        pss = tree_pss_mb(workers) / len(workers) if workers else 0.0
        return cls(time.time(), stack.redis.info("all"), cpu, busy, round(pss, 1))


def redis_deltas(before: Snapshot, after: Snapshot, samples: int, jobs: int) -> dict[str, Any]:
    """Redis work per job between two snapshots, without the depth sampler's own commands."""
    calls: dict[str, int] = {}
    for key, value in after.info.items():
        if key.startswith("cmdstat_"):
            old = before.info.get(key, {}).get("calls", 0)
            calls[key.removeprefix("cmdstat_")] = int(value["calls"]) - int(old)
    calls["llen"] = calls.get("llen", 0) - samples
    calls["scard"] = calls.get("scard", 0) - 2 * samples
    calls = {name: count for name, count in calls.items() if count > 0}
    cpu = sum(after.info[k] - before.info[k] for k in ("used_cpu_sys", "used_cpu_user"))
    top = sorted(calls.items(), key=lambda item: -item[1])[:12]
    net = {
        k: after.info[k] - before.info[k]
        for k in ("total_net_input_bytes", "total_net_output_bytes")
    }
    return {
        "commands_per_job": round(sum(calls.values()) / jobs, 1),
        "bytes_in_per_job": round(net["total_net_input_bytes"] / jobs),
        "bytes_out_per_job": round(net["total_net_output_bytes"] / jobs),
        "cpu_ms_per_job": round(cpu / jobs * 1000, 2),
        "top_commands_per_job": {name: round(count / jobs, 2) for name, count in top},
        "connections_per_job": round(
            (after.info["total_connections_received"] - before.info["total_connections_received"])
            / jobs,
            2,
        ),
        "sweeps": calls.get("smembers", 0),
        "used_memory_peak_mb": round(after.info["used_memory_peak"] / 2**20, 1),
    }


class DepthSampler:
    """Queue length and queued/running counts every 0.5 s (one LLEN, two SCARDs)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.samples: list[tuple[float, int, int, int]] = []
        self.began = time.time()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.began = time.time()  # wall clock, as the job records keep it
        began = time.monotonic()
        store = self.stack.store
        while not self.stop.wait(SAMPLE_SECONDS):
            listed = int(store.redis.llen(JOB_QUEUE))
            queued, running = store.count(JobStatus.QUEUED), store.count(JobStatus.RUNNING)
            self.samples.append((round(time.monotonic() - began, 2), listed, queued, running))

    def __enter__(self) -> DepthSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


# -- clients --------------------------------------------------------------------------------
def inputs(args: argparse.Namespace) -> tuple[bytes, bytes]:
    """Two real photos as a user would send them: content and style, at --upload-side px."""

    def jpeg(name: str) -> bytes:
        image = Image.open(IMAGES / name).convert("RGB")
        image.thumbnail((args.upload_side, args.upload_side))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        return buffer.getvalue()

    return jpeg("tubingen.jpg"), jpeg("starry_night.jpg")


class Clients:
    """Submit jobs and poll every unfinished one, as one client per job would, over keep-alive."""

    def __init__(self, url: str, params: dict[str, str], images: tuple[bytes, bytes]) -> None:
        self.url, self.params, self.images = url, params, images
        self.local = threading.local()
        self.active: dict[str, float] = {}  # job id -> next poll (monotonic)
        self.final: dict[str, str] = {}
        self.lock = threading.Lock()
        self.errors: list[str] = []

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers["Authorization"] = f"Bearer {API_KEY}"
        return self.local.session

    def submit(self, _: int) -> None:
        content, style = self.images
        files = {
            "content": ("c.jpg", content, "image/jpeg"),
            "style": ("s.jpg", style, "image/jpeg"),
        }
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        try:
            response = self.session().post(
                f"{self.url}/v1/jobs",
                files=files,
                data=self.params,
                headers=headers,
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as exc:  # a hung submit is a result, not a hung run
            self.errors.append(f"submit: {type(exc).__name__}: {exc}")
            return
        if response.status_code != 202:
            self.errors.append(f"submit {response.status_code}: {response.text[:200]}")
            return
        with self.lock:
            self.active[response.json()["id"]] = time.monotonic()

    def get(self, job_id: str) -> str | None:
        """One status poll: the job's status, or None when the API did not answer 200."""
        try:
            response = self.session().get(f"{self.url}/v1/jobs/{job_id}", timeout=HTTP_TIMEOUT)
        except requests.RequestException:
            return None
        return response.json().get("status") if response.ok else None

    def poll_due(self, interval: float, on_final: Callable[[str], None]) -> None:
        """GET every job whose poll is due; a final one leaves the active set."""
        now = time.monotonic()
        with self.lock:
            due = [job_id for job_id, at in self.active.items() if at <= now]
            for job_id in due:
                self.active[job_id] = now + interval
        for job_id in due:
            status = self.get(job_id)
            if status in ("succeeded", "failed", "cancelled"):
                with self.lock:
                    self.active.pop(job_id, None)
                    self.final[job_id] = status
                on_final(job_id)


def drive(
    clients: Clients,
    count: int,
    args: argparse.Namespace,
    cleanup: Callable[[str], None],
    release: Callable[[], None] | None = None,
) -> float:
    """Submit count jobs from --clients threads while --pollers threads poll; return the time
    the clock starts: the first submit, or with ``release`` (--prefill) the moment the workers
    are told to take jobs, once every job is queued."""
    started = time.time()
    done = threading.Event()

    def poller() -> None:
        while not done.is_set():
            clients.poll_due(args.poll_interval, cleanup)
            time.sleep(0.02)

    with ThreadPoolExecutor(args.pollers) as polling:
        futures = [polling.submit(poller) for _ in range(args.pollers)]
        try:
            with ThreadPoolExecutor(args.clients) as submitting:
                list(submitting.map(clients.submit, range(count)))
            if release is not None:
                release()
                started = time.time()
            timeout = 600 + 60 * args.jobs_per_worker
            wait_for(lambda: not clients.active, timeout, "every job final")
        finally:
            done.set()
        for future in futures:
            future.result()
    return started


# -- one step -------------------------------------------------------------------------------
def run_step(stack: Stack, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """N simulated workers, idle and then on N x jobs-per-worker jobs: the row for N."""
    count = workers * args.jobs_per_worker
    clients = Clients(stack.api_url, job_params(args), inputs(args))
    queue = HOLD_QUEUE if args.prefill else JOB_QUEUE
    with simulated_workers(workers, stack.env, args, queue) as pids:
        stack.pids["workers"] = pids
        idle = idle_cost(stack, workers, args.idle_seconds)
        release = functools.partial(take_jobs, stack, workers) if args.prefill else None
        before = Snapshot.take(stack)
        with DepthSampler(stack) as sampler:
            cleanup = functools.partial(forget_objects, stack)
            started = drive(clients, count, args, cleanup, release)
        after = Snapshot.take(stack)
    del stack.pids["workers"]
    jobs = [stack.store.get(job_id) for job_id in clients.final]
    stack.finished += clients.final
    row = job_figures(jobs, started, workers, args)
    row["redis"] = redis_deltas(before, after, len(sampler.samples), len(jobs))
    row["cpu_seconds_per_job"] = {
        role: round((after.cpu[role] - before.cpu[role]) / len(jobs), 4) for role in after.cpu
    }
    row["idle"] = idle
    row["machine"] = machine_figures(before, after, workers)
    row["queue"] = queue_figures(sampler.samples, workers)
    row["saturated"] = saturated_throughput(jobs, sampler, started)
    row["submit_errors"] = clients.errors[:5]
    return row


def take_jobs(stack: Stack, workers: int) -> None:
    """--prefill: tell every worker (waiting on an empty queue) to consume the job queue now."""
    producer = make_producer(Settings(redis_url=stack.env["NST_REDIS_URL"]))
    names = [worker_name(workers, index) for index in range(workers)]
    replies = producer.control.add_consumer(JOB_QUEUE, destination=names, reply=True, timeout=10)
    assert len(replies) == workers, f"{len(replies)} of {workers} workers took the queue"


def worker_name(workers: int, index: int) -> str:
    return f"scale{workers}-{index}@{socket.gethostname()}"


def forget_objects(stack: Stack, job_id: str) -> None:
    """Delete a finished job's objects (the benchmark's own hygiene: 52 MB states add up)."""
    stack.storage.delete_prefix(JobKeys(job_id).prefix)


def idle_cost(stack: Stack, workers: int, seconds: float) -> dict[str, float]:
    """What N ready workers cost with nothing to do: Redis commands and CPU, per worker-second."""
    before = Snapshot.take(stack)
    time.sleep(seconds)
    after = Snapshot.take(stack)
    wall = (after.at - before.at) * workers
    calls = after.info["total_commands_processed"] - before.info["total_commands_processed"] - 1
    redis_cpu = sum(after.info[k] - before.info[k] for k in ("used_cpu_sys", "used_cpu_user"))
    return {
        "redis_commands_per_worker_second": round(calls / wall, 3),
        "redis_cpu_ms_per_worker_second": round(redis_cpu / wall * 1000, 3),
        "worker_cpu_ms_per_worker_second": round(
            (after.cpu["workers"] - before.cpu["workers"]) / wall * 1000, 2
        ),
    }


def job_params(args: argparse.Namespace) -> dict[str, str]:
    return {"size": str(args.size), "iterations": str(args.iterations), "optimizer": args.optimizer}


def job_figures(
    jobs: list[Job], started: float, workers: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Throughput and latencies from the job records themselves (the store's own timestamps)."""
    finished = max(job.finished_at or started for job in jobs)
    per_second = len(jobs) / (finished - started)
    run_seconds = [j.finished_at - j.started_at for j in jobs if j.finished_at and j.started_at]
    device = modelled_job_seconds(args)
    return {
        "workers": workers,
        "jobs": len(jobs),
        "seconds": round(finished - started, 2),
        "jobs_per_second": round(per_second, 4),
        "device_efficiency": round(per_second / (workers / device), 3),
        "modelled_device_seconds_per_job": round(device, 2),
        "mean_run_seconds": round(statistics.fmean(run_seconds), 2),
        "submit_to_start_ms": _ms(
            Latency.of([j.started_at - j.created_at for j in jobs if j.started_at])
        ),
        "dispatch_ms": _ms(Latency.of(dispatch_delays(jobs, started))),
        "statuses": sorted({j.status.value for j in jobs}),
        "max_attempts": max(j.attempts for j in jobs),
    }


def _ms(latency: Latency) -> dict[str, float]:
    return {"p50": latency.p50_ms, "p99": latency.p99_ms, "max": latency.max_ms}


def modelled_job_seconds(args: argparse.Namespace) -> float:
    """The H100 time the simulated engine sleeps for one job (512 x 384 for a 4:3 photo)."""
    width, height = working_dims(args.size)
    return args.iterations * iteration_seconds(args.optimizer, width, height)


def working_dims(size: int) -> tuple[int, int]:
    """Output width and height of the content photo (tubingen.jpg, 4:3) at this long side."""
    with Image.open(IMAGES / "tubingen.jpg") as image:
        width, height = image.size
    scale = size / max(width, height)
    return round(width * scale), round(height * scale)


def dispatch_delays(jobs: list[Job], started: float) -> list[float]:
    """For each job: from the later of its submission and its worker becoming free (at first:
    the clock's start), to its start.

    The queue's hand-off time, with the wait for a busy worker taken out. A finished record
    keeps the worker that ran it; jobs that ran more than once are left out.
    """
    by_worker: dict[str, list[Job]] = {}
    for job in jobs:
        if job.worker and job.started_at and job.attempts == 1:
            by_worker.setdefault(job.worker, []).append(job)
    delays = []
    for runs in by_worker.values():
        free_at = started
        for job in sorted(runs, key=lambda j: j.started_at or 0.0):
            assert job.started_at is not None
            delays.append(job.started_at - max(job.created_at, free_at))
            free_at = job.finished_at or job.started_at
    return delays


def saturated_throughput(
    jobs: list[Job], sampler: DepthSampler, started: float
) -> dict[str, float]:
    """Completions per second while jobs waited in the queue (the longest such stretch after
    the clock started).

    Every worker had work then, so this is the dispatch rate the control plane sustains,
    without the ramp while clients are still submitting the first jobs and the tail while
    the last ones finish.
    """
    best: tuple[float, float] = (0.0, 0.0)
    start: float | None = None
    samples = [s for s in sampler.samples if sampler.began + s[0] >= started]
    for at, listed, _, _ in [*samples, (float("inf"), 0, 0, 0)]:
        if listed > 0 and start is None:
            start = at
        elif listed == 0 and start is not None:
            end = min(at, samples[-1][0])
            best = max(best, (start, end), key=lambda span: span[1] - span[0])
            start = None
    first, last = (sampler.began + best[0], sampler.began + best[1])
    done = sum(1 for job in jobs if job.finished_at and first <= job.finished_at <= last)
    seconds = last - first
    return {
        "seconds": round(seconds, 1),
        "jobs": done,
        "jobs_per_second": round(done / seconds, 4) if seconds > 0 else 0.0,
    }


def machine_figures(before: Snapshot, after: Snapshot, workers: int) -> dict[str, float]:
    """Cores busy on average, ours and everyone else's (the machine is shared), and per worker."""
    wall = after.at - before.at
    ours = sum(after.cpu[k] - before.cpu[k] for k in after.cpu)
    busy = after.machine_busy - before.machine_busy
    return {
        "cores": psutil.cpu_count() or 0,
        "busy_cores": round(busy / wall, 2),
        "benchmark_cores": round(ours / wall, 2),
        "other_cores": round(max(0.0, busy - ours) / wall, 2),
        "worker_pss_mb_each": after.worker_pss_mb,
        "cores_per_worker_process": round(
            (after.cpu["workers"] - before.cpu["workers"]) / wall / workers, 4
        ),
        "load_average": list(os.getloadavg()),
    }


def queue_figures(samples: list[tuple[float, int, int, int]], workers: int) -> dict[str, Any]:
    """Depth over time, and worker-seconds lost to idling while jobs waited (starvation)."""
    starved = sum(
        SAMPLE_SECONDS * max(0, workers - running)
        for _, listed, _, running in samples
        if listed > 0
    )
    return {
        "max_listed": max((s[1] for s in samples), default=0),
        "max_queued": max((s[2] for s in samples), default=0),
        "mean_running": round(statistics.fmean(s[3] for s in samples), 2) if samples else 0,
        "idle_worker_seconds_while_queued": round(starved, 1),
        "series": [list(s) for s in samples],  # [seconds, list length, queued, running]
    }


# -- once per run: the sweeper's scan and Redis memory per queued job ------------------------
def sweeper_cost(
    stack: Stack, counts: list[int], template: Job, interval: float
) -> list[dict[str, Any]]:
    """Time and Redis work of one sweep over R running records: a GET each (before) and one MGET.

    Before the fix every worker swept every interval; now one claims each interval. The fleet
    cost per second is therefore (workers / interval) x a sweep before, and 1 / interval after.
    """
    rows = []
    for running in counts:
        ids = _fake_running(stack, template, running)
        per_get = _time_sweeps(
            stack, lambda: [stack.store.get(i) for i in stack.store.running_ids()]
        )
        per_mget = _time_sweeps(stack, lambda: stack.store.stale_running(3600.0))
        rows.append(
            {
                "running": running,
                "get_each": per_get,
                "one_mget": per_mget,
                "fleet_redis_ms_per_s_before": round(per_get["redis_ms"] * running / interval, 2),
                "fleet_redis_ms_per_s_after": round(per_mget["redis_ms"] / interval, 3),
            }
        )
        _forget(stack, ids)
    return rows


def _fake_running(stack: Stack, template: Job, count: int) -> list[str]:
    """count running records shaped like a real finished job of this run, beating now."""
    jobs = [template.model_copy(update={"id": str(uuid.uuid4())}) for _ in range(count)]
    for job in jobs:
        fresh = Job(id=job.id, owner="sweep-bench", params=job.params, style_count=1)
        stack.store.create(fresh)
        stack.store.mark_running(job.id, "sweep-bench@host", stale_after=3600.0)
        stack.store.update(job.id, lambda record, job=job: _with_progress(record, job))
    return [job.id for job in jobs]


def _with_progress(record: Job, shaped_like: Job) -> Job:
    record.progress, record.loss_weights = shaped_like.progress, shaped_like.loss_weights
    record.has_preview = True
    return record


def _forget(stack: Stack, ids: list[str]) -> None:
    for job_id in ids:
        stack.store.finish(job_id, JobStatus.CANCELLED)


def _time_sweeps(stack: Stack, sweep: Callable[[], object], rounds: int = 20) -> dict[str, float]:
    """Client wall ms, Redis CPU ms and Redis commands of one sweep (mean of rounds)."""
    info = stack.redis.info("all")
    began = time.perf_counter()
    for _ in range(rounds):
        sweep()
    wall = (time.perf_counter() - began) / rounds
    after = stack.redis.info("all")
    cpu = sum(after[k] - info[k] for k in ("used_cpu_sys", "used_cpu_user")) / rounds
    commands = (after["total_commands_processed"] - info["total_commands_processed"] - 1) / rounds
    return {
        "wall_ms": round(wall * 1000, 2),
        "redis_ms": round(cpu * 1000, 3),
        "commands": round(commands, 1),
    }


def queued_memory(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Submit --queued-jobs with no worker running, then poll each 5 times: Redis memory per
    queued job, and the API's CPU per submit and per poll (every gunicorn process)."""
    memory = int(stack.redis.info("memory")["used_memory"])
    clients = Clients(stack.api_url, job_params(args), inputs(args))
    api = tree_cpu_seconds(stack.pids["api"])
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(clients.submit, range(args.queued_jobs)))
    submitted = tree_cpu_seconds(stack.pids["api"])
    queued = list(clients.active)
    with ThreadPoolExecutor(args.pollers) as pool:
        list(pool.map(lambda job_id: [clients.get(job_id) for _ in range(5)], queued))
    polled = tree_cpu_seconds(stack.pids["api"])
    after = int(stack.redis.info("memory")["used_memory"])
    record = statistics.fmean(
        int(stack.redis.memory_usage(f"{stack.store.prefix}:job:{i}") or 0) for i in queued[:200]
    )
    queue = int(stack.redis.memory_usage(JOB_QUEUE, samples=0) or 0)
    last = stack.finished[-1] if stack.finished else "none"
    finished = stack.redis.memory_usage(f"{stack.store.prefix}:job:{last}")
    return {
        "jobs": len(queued),
        "finished_record_bytes": int(finished or 0),
        "used_memory_bytes_per_job": round((after - memory) / len(queued)),
        "record_bytes": round(record),
        "queue_message_bytes": round(queue / max(1, int(stack.redis.llen(JOB_QUEUE)))),
        "api_cpu_ms_per_submit": round((submitted - api) / len(queued) * 1000, 2),
        "api_cpu_ms_per_poll": round((polled - submitted) / (5 * len(queued)) * 1000, 3),
    }


# -- the run --------------------------------------------------------------------------------
def build_stack(stack: ExitStack, args: argparse.Namespace) -> Stack:
    """Redis, storage and the API, up for the whole run; workers come and go per step."""
    redis_url, redis_pid = start_redis(stack, args.logs)
    endpoint, moto_pid = start_moto(stack, args.logs) if args.storage == "s3" else (None, None)
    env = service_env(args, redis_url, endpoint)
    api_url, api_pid = start_api(stack, env, args.logs)
    client = redis.Redis.from_url(redis_url)
    settings = Settings(
        storage_url=env["NST_STORAGE_URL"], s3_endpoint_url=env.get("NST_S3_ENDPOINT_URL")
    )
    pids = {"api": [api_pid], "redis": [redis_pid], "storage": [moto_pid] if moto_pid else []}
    return Stack(env, api_url, client, JobStore(client), open_storage(settings), pids)


def run(args: argparse.Namespace) -> dict[str, Any]:
    setup = {**machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    width, height = working_dims(args.size)
    state = (
        args.state_bytes
        if args.state_bytes is not None
        else real_state_bytes(args.optimizer, width, height)
    )
    setup.update(
        output=f"{width}x{height}", state_bytes=state, uploads=[len(b) for b in inputs(args)]
    )
    with ExitStack() as stack:
        services = build_stack(stack, args)
        rows = []
        for workers in args.workers:
            rows.append(run_step(services, workers, args))
            print(
                f"{workers} workers: {rows[-1]['jobs_per_second']} jobs/s",
                file=sys.stderr,
                flush=True,
            )
        add_efficiency(rows)
        template = services.store.get(services.finished[-1])
        interval = Settings().heartbeat_seconds
        sweeps = (
            sweeper_cost(services, args.sweep_running, template, interval)
            if args.sweep_running
            else []
        )
        memory = queued_memory(services, args) if args.queued_jobs else {}
    setup["load_average_after"] = list(os.getloadavg())
    return {"setup": setup, "rows": rows, "sweeper": sweeps, "queued_memory": memory}


def add_efficiency(rows: list[dict[str, Any]]) -> None:
    """Throughput over N x one worker's (the N=1 step of this run; None without one), overall
    and while saturated."""
    base = next((row for row in rows if row["workers"] == 1), None)
    for row in rows:
        row["efficiency"] = _ratio(row["jobs_per_second"], base and base["jobs_per_second"], row)
        row["saturated"]["efficiency"] = _ratio(
            row["saturated"]["jobs_per_second"], base and base["saturated"]["jobs_per_second"], row
        )


def _ratio(value: float, one: float | None, row: dict[str, Any]) -> float | None:
    return round(value / (row["workers"] * one), 3) if one else None


def summary(results: dict[str, Any]) -> str:
    """One readable line per step."""
    lines = [f"machine: {results['setup']['cpus']} x {results['setup']['cpu_model']}"]
    for row in results["rows"]:
        cpu = row["cpu_seconds_per_job"]
        lines.append(
            f"N={row['workers']:>3}: {row['jobs_per_second']:.3f} jobs/s, "
            f"efficiency {row['efficiency']} (saturated {row['saturated']['efficiency']}), "
            f"device {row['device_efficiency']}, start p50/p99 {row['submit_to_start_ms']['p50']}/"
            f"{row['submit_to_start_ms']['p99']} ms, dispatch p50/p99 {row['dispatch_ms']['p50']}/"
            f"{row['dispatch_ms']['p99']} ms, redis {row['redis']['commands_per_job']} cmds/job, "
            f"cpu s/job {cpu}, busy {row['machine']['busy_cores']} cores"
        )
    return "\n".join(lines)


def without_series(results: dict[str, Any]) -> dict[str, Any]:
    rows = [
        {**row, "queue": {k: v for k, v in row["queue"].items() if k != "series"}}
        for row in results["rows"]
    ]
    return {**results, "rows": rows}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int_list, default=[1, 4, 16, 64], help="e.g. 1,4,16,64")
    parser.add_argument("--jobs-per-worker", type=int, default=5)
    parser.add_argument("--size", type=int, default=512, help="output long side (px)")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="NST_CHECKPOINT_EVERY (default: the setting's)",
    )
    parser.add_argument(
        "--state-bytes",
        type=int,
        default=None,
        help="simulated state size (default: the real engine's)",
    )
    parser.add_argument(
        "--storage", choices=["s3", "file"], default="s3", help="moto's S3 server or file://"
    )
    parser.add_argument(
        "--api-workers", type=int, default=2, help="NST_API_WORKERS (gunicorn processes)"
    )
    parser.add_argument(
        "--upload-side", type=int, default=1024, help="long side of the uploaded photos"
    )
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="queue every job first, then let the workers take them (dispatch, not admission)",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent submitting clients")
    parser.add_argument("--pollers", type=int, default=4, help="threads polling unfinished jobs")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds between polls of one job"
    )
    parser.add_argument(
        "--sweep-running",
        type=int_list,
        default=[],
        help="running records to time one sweep over, e.g. 64,640,6400 (default: none)",
    )
    parser.add_argument(
        "--queued-jobs", type=int, default=0, help="jobs queued for Redis memory per queued job"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0, help="idle workers measured before each step"
    )
    parser.add_argument("--logs", type=Path, default=REPO / ".run" / "bench-scale")
    parser.add_argument("--out", type=Path, help="write the full results (with depth series) here")
    parser.add_argument("--json", action="store_true", help="print one JSON line (no depth series)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    os.environ.update(AWS_ENV)  # this process deletes finished jobs' objects from the S3 server
    args.logs.mkdir(parents=True, exist_ok=True)
    results = run(args)
    print(summary(results), file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.json:
        print(json.dumps(without_series(results)))


if __name__ == "__main__":
    main()
