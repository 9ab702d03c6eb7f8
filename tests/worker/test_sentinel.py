"""Losing Redis for real: a Sentinel failover, the append-only file's everysec window, a worker
cut off from its broker. Real redis-server processes (in sentinel mode too), the API over HTTP
and Celery workers running the simulated engine (``benchmarks/simulated_engine.py``: no
TensorFlow, so a worker starts in seconds and a job's length is set by its iteration count).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from benchmarks.simulated_engine import SIMULATED_ENGINE
from contract.errors import ConfigError
from harness.redis_server import RedisServer, redis_sentinel, redis_server
from shared.job_store import JobStore
from shared.redis_client import client_for
from shared.settings import load_settings
from tests.fixtures.live import Env, LiveAPI, WorkerProcess, api_for
from tests.helpers import poller, submit, wait_for, wait_status
from tests.images import content_bytes, style_bytes
from worker.celery_app import broker_retries_within

Start = Callable[..., WorkerProcess]
log = logging.getLogger(__name__)
MASTER = "nst"
FINAL = {"succeeded", "failed", "cancelled"}
# Adam at 128 x 96 px: about 3 ms of modelled H100 time per iteration (the simulated engine).
LONG_JOB = {"size": 128, "optimizer": "adam", "iterations": 4000, "checkpoint_every": 200}
SHORT_JOB = {"size": 128, "optimizer": "adam", "iterations": 100, "checkpoint_every": 50}


# -- real Redis processes ------------------------------------------------------------------
@dataclass
class SentinelGroup:
    """One primary, one replica, three sentinels: the docker-compose ``sentinel`` profile."""

    primary: RedisServer
    replica: RedisServer
    sentinels: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return ";".join(f"sentinel://127.0.0.1:{s.port}/0" for s in self.sentinels)

    def primary_port(self) -> int:
        """Where the sentinels say the primary is now."""
        host_port = self.sentinels[0].client().sentinel_get_master_addr_by_name(MASTER)
        return int(host_port[1])

    def ready(self) -> bool:
        """The replica holds a full copy, and every sentinel knows it and the two others.

        A sentinel counts a replica as soon as it connects, before its first full sync; a
        failover then would promote an empty copy (the first version of this test did).
        """
        try:
            replication = self.replica.client().info("replication")
            states = [s.client().sentinel_master(MASTER) for s in self.sentinels]
        except redis.RedisError:
            return False
        synced = replication["master_link_status"] == "up"
        synced = synced and not replication["master_sync_in_progress"]
        known = all(st["num-slaves"] == 1 and st["num-other-sentinels"] == 2 for st in states)
        return synced and known


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """Started in order, each awaited; every process stopped afterwards, even after a failed
    start."""
    with ExitStack() as running:
        primary = redis_server(tmp_path / "primary", "--repl-diskless-sync-delay", "0")
        running.enter_context(primary)
        replica = redis_server(tmp_path / "replica", "--replicaof", "127.0.0.1", str(primary.port))
        group = SentinelGroup(primary, running.enter_context(replica))
        group.sentinels = [
            running.enter_context(redis_sentinel(tmp_path / f"sentinel-{i}", MASTER, primary.port))
            for i in range(3)
        ]
        wait_for(group.ready, 60, "the sentinels to see the replica and each other")
        yield group


def sentinel_env(service_env: Env, group: SentinelGroup, **extra: str) -> Env:
    return Env(
        {
            **service_env.values,
            "NST_REDIS_URL": group.url,
            "NST_REDIS_SENTINEL_MASTER": MASTER,
            "NST_MAX_ITERATIONS": "20000",
            "NST_MAX_ACTIVE_JOBS_PER_KEY": "1000",
            **extra,
        }
    )


def simulated(env: Env, **extra: str) -> Env:
    """The same settings for a worker process, with the simulated engine and small states."""
    return Env(
        {**env.values, "NST_ENGINE": SIMULATED_ENGINE, "NST_SIMULATED_STATE_BYTES": "4096", **extra}
    )


def store_of(env: Env) -> JobStore:
    settings = env.settings()
    return JobStore(client_for(settings, patient=True), settings.key_prefix)


def post_job(api: LiveAPI, **params: Any) -> requests.Response:
    """One submission, as a client sends it (an Idempotency-Key of its own); any status."""
    files = [
        ("content", ("c.jpg", content_bytes(64), "image/jpeg")),
        ("style", ("s.jpg", style_bytes(64), "image/jpeg")),
    ]
    headers = {**api.headers, "Idempotency-Key": str(uuid.uuid4())}
    data = {k: str(v) for k, v in params.items()}
    return requests.post(f"{api.url}/v1/jobs", data=data, files=files, headers=headers, timeout=30)


def runs_of(worker: WorkerProcess, job_id: str) -> int:
    """How many times a worker ran the job to success (Celery logs each task's return value)."""
    pattern = rf"Task nst\.run_job\[{job_id}\] succeeded in [\d.]+s: 'succeeded'"
    return len(re.findall(pattern, worker.output()))


def wait_running(api: LiveAPI, job_id: str, past: int) -> None:
    poll = poller(api, job_id)
    wait_for(
        lambda: (poll().get("progress") or {}).get("iteration", 0) >= past,
        60,
        f"job {job_id} past iteration {past}",
    )


# -- Sentinel failover ----------------------------------------------------------------------
def test_failover_loses_no_job_and_runs_none_twice(
    service_env: Env, sentinel_group: SentinelGroup, start_worker: Start
) -> None:
    env = sentinel_env(service_env, sentinel_group)
    with api_for(env) as api:
        worker = start_worker(env=simulated(env))
        running = submit(api, **LONG_JOB)
        wait_running(api, running["id"], LONG_JOB["checkpoint_every"])
        queued = [submit(api, **SHORT_JOB) for _ in range(2)]
        old_primary = sentinel_group.primary_port()
        sentinel_group.primary.kill()
        answers = submit_through_failover(api)
        assert sentinel_group.primary_port() != old_primary
        later = [submit(api, **SHORT_JOB) for _ in range(2)]
        accepted = [running, *queued, *later] + [
            {"id": r.json()["id"]} for _, r in answers if r.status_code == 202
        ]
        for job in accepted:
            final = wait_status(poller(api, job["id"]), FINAL, timeout=120)
            assert final["status"] == "succeeded", final
        ids = [job["id"] for job in accepted]
        wait_for(lambda: all(runs_of(worker, i) for i in ids), 10, "Celery to log every run")
        assert {i: runs_of(worker, i) for i in ids} == dict.fromkeys(ids, 1)
        finished = store_of(env).finished_counts()
        assert finished == {("succeeded", "succeeded"): len(accepted)}


def submit_through_failover(api: LiveAPI) -> list[tuple[float, requests.Response]]:
    """Submit every 0.2 s from the primary's death until three in a row are accepted again.

    Asserts the contract: 503 (the job store is unreachable, JSON) and nothing else while the
    sentinels promote the replica, never for longer than the failover window, then 202.
    """
    started = time.monotonic()
    answers: list[tuple[float, requests.Response]] = []
    while len(answers) < 3 or any(r.status_code != 202 for _, r in answers[-3:]):
        assert time.monotonic() - started < 30, [(t, r.status_code) for t, r in answers]
        answers.append((time.monotonic() - started, post_job(api, **SHORT_JOB)))
        time.sleep(0.2)
    refused = [(t, r) for t, r in answers if r.status_code != 202]
    assert all(r.status_code == 503 for _, r in refused), [r.text for _, r in refused]
    assert all(r.json()["error"]["code"] == "queue_unavailable" for _, r in refused)
    window = max((t for t, _ in refused), default=0.0)
    first_accepted = next(t for t, r in answers if r.status_code == 202)
    assert window < first_accepted or not refused, "503 again after the failover"
    log.info("failover: %d answers 503 over %.2f s, then 202", len(refused), window)
    return answers


# -- the append-only file's everysec window -----------------------------------------------
@pytest.fixture
def standalone_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


def standalone_env(service_env: Env, server: RedisServer) -> Env:
    return Env(
        {
            **service_env.values,
            "NST_REDIS_URL": f"redis://127.0.0.1:{server.port}/0",
            "NST_MAX_ITERATIONS": "20000",
            "NST_MAX_ACTIVE_JOBS_PER_KEY": "1000",
        }
    )


def test_redis_process_crash_loses_no_acknowledged_job(
    service_env: Env, standalone_redis: RedisServer, start_worker: Start
) -> None:
    """SIGKILL within milliseconds of the last 202: Redis had written every reply's change to
    the append-only file (write(2) before replying); only the fsync waits for the next second,
    and a dead process does not take the kernel's page cache with it."""
    env = standalone_env(service_env, standalone_redis)
    with api_for(env) as api:
        start_worker(env=simulated(env))
        running = submit(api, **LONG_JOB)
        wait_running(api, running["id"], LONG_JOB["checkpoint_every"])
        accepted = [running] + [submit(api, **SHORT_JOB) for _ in range(3)]
        standalone_redis.kill()
        standalone_redis.start()
        for job in accepted:
            final = wait_status(poller(api, job["id"]), FINAL, timeout=120)
            assert final["status"] == "succeeded", final


def test_machine_crash_loses_the_last_second_of_writes_and_nothing_runs_twice_to_an_end(
    service_env: Env, standalone_redis: RedisServer, start_worker: Start
) -> None:
    """A kernel crash or power loss loses what was written but not yet fsynced: up to the last
    second (two at worst) of acknowledged writes. Emulated by cutting the append-only file back
    to its length at a moment T, as the disk would hold it after such a crash.

    What that costs, as deploy/README.md says: a job accepted after T is gone (404; the client
    must submit it again), and a job that finished after T is running again in the restored
    record: the sweeper requeues it once its heartbeat is stale and it ends from its last
    checkpoint in storage, counted as finished once.
    """
    env = standalone_env(service_env, standalone_redis)
    with api_for(env) as api:
        start_worker(env=simulated(env))
        finishing = submit(api, **{**LONG_JOB, "iterations": 1500, "checkpoint_every": 100})
        wait_running(api, finishing["id"], 100)
        append_only = aof_increment(standalone_redis)
        synced_length = _fsynced_length(standalone_redis, append_only)
        lost = submit(api, **SHORT_JOB)
        wait_status(poller(api, finishing["id"]), FINAL, timeout=60)
        standalone_redis.kill()
        with open(append_only, "r+b") as aof:
            aof.truncate(synced_length)
        standalone_redis.start()
        gone = requests.get(f"{api.url}/v1/jobs/{lost['id']}", headers=api.headers, timeout=10)
        assert gone.status_code == 404
        final = wait_status(poller(api, finishing["id"]), FINAL, timeout=60)
        assert final["status"] == "succeeded" and final["attempts"] == 2, final
        assert store_of(env).finished_counts() == {("succeeded", "succeeded"): 1}


def aof_increment(server: RedisServer) -> Path:
    """The file Redis 7 appends new writes to (appendonlydir/*.incr.aof)."""
    [increment] = sorted((server.folder / "appendonlydir").glob("*.incr.aof"))
    return increment


def _fsynced_length(server: RedisServer, path: Path) -> int:
    """The file's length now, once no fsync is pending: what the disk holds at this moment."""
    wait_for(
        lambda: server.client().info("persistence")["aof_pending_bio_fsync"] == 0,
        10,
        "the pending fsync",
    )
    return path.stat().st_size


# -- a worker cut off from its broker -------------------------------------------------------
class Partition:
    """A TCP relay to Redis that can be cut, as a network partition cuts one worker off."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.is_cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # cut
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                if self.is_cut:  # accepted just before the cut: it must not outlive it
                    client.close()
                    upstream.close()
                    return
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_relay, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones: the broker is gone for this side."""
        self.listener.close()
        with self.lock:
            self.is_cut = True
            for sock in self.sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass


def test_worker_cut_off_from_its_broker_exits_non_zero_and_its_job_resumes_elsewhere(
    service_env: Env, standalone_redis: RedisServer, start_worker: Start
) -> None:
    env = standalone_env(service_env, standalone_redis)
    partition = Partition(standalone_redis.port)
    behind = Env({**env.values, "NST_REDIS_URL": f"redis://127.0.0.1:{partition.port}/0"})
    with api_for(env) as api:
        lost = start_worker("lost", env=simulated(behind, NST_BROKER_LOST_EXIT_SECONDS="5"))
        job = submit(api, **{**LONG_JOB, "iterations": 8000})
        wait_running(api, job["id"], 2 * LONG_JOB["checkpoint_every"])
        start_worker("rescuer", env=simulated(env))
        before = store_of(env).get(job["id"]).progress
        partition.cut()
        final = wait_status(poller(api, job["id"]), FINAL, timeout=120)
        assert final["status"] == "succeeded" and final["attempts"] == 2, final
        assert before is not None and final["resumed_from_iteration"] >= before.iteration
        wait_for(lambda: lost.proc.poll() is not None, 120, "the cut-off worker to exit")
        assert lost.proc.returncode != 0
        assert "Unrecoverable error" in lost.output()
        assert store_of(env).finished_counts() == {("succeeded", "succeeded"): 1}


def test_sentinel_url_without_a_master_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="NST_REDIS_SENTINEL_MASTER"):
        load_settings(redis_url="sentinel://127.0.0.1:26379/0")
    with pytest.raises(ConfigError, match="NST_REDIS_SENTINEL_MASTER"):
        load_settings(redis_sentinel_master="nst")


@pytest.mark.parametrize(("seconds", "retries"), [(5, 2), (60, 8), (300, 17)])
def test_broker_retries_span_at_least_the_exit_setting(seconds: float, retries: int) -> None:
    """kombu waits 2, 4, 6, ... s between attempts, at most 30: the attempts must cover
    NST_BROKER_LOST_EXIT_SECONDS, and one fewer must not."""
    waits = [min(2.0 * n, 30.0) for n in range(1, retries + 1)]
    assert broker_retries_within(seconds) == retries
    assert sum(waits) >= seconds > sum(waits[:-1])


def test_the_webhook_consumer_reads_jobs_through_the_sentinels(
    service_env: Env, sentinel_group: SentinelGroup
) -> None:
    """Found by review: the consumer opened NST_REDIS_URL as a plain URL, which fails for
    ``sentinel://``; it must find the primary the way the API and the GPU workers do."""
    from celery import Celery

    from worker.webhooks.delivery import WebhookConsumer

    env = sentinel_env(service_env, sentinel_group)
    consumer = WebhookConsumer(Celery("webhooks-under-test"), env.settings())
    probe = f"{env.settings().key_prefix}:probe"
    consumer.store.redis.set(probe, "1")
    assert sentinel_group.primary.client().get(probe) == b"1"
