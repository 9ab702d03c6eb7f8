"""Redis going away and coming back: a restart, a 60-second outage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.redis_server import RedisServer, redis_server
from tests.fixtures.live import Env, WorkerProcess, api_for
from tests.helpers import outage, poller, submit, submit_running, wait_for, wait_status

Start = Callable[..., WorkerProcess]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, persisted as docker-compose runs it."""
    with redis_server(tmp_path / "redis-data") as server:
        yield server


def test_redis_restart_loses_no_queued_or_running_job(
    service_env: Env, own_redis: RedisServer, start_worker: Start
) -> None:
    env = Env({**service_env.values, "NST_REDIS_URL": own_redis.url})
    with api_for(env) as api:
        start_worker(env=env)
        running = submit(api, iterations=40, checkpoint_every=4, size=32)
        queued = submit(api, iterations=8, checkpoint_every=4, size=32)
        wait_for(
            lambda: poller(api, running["id"])()["status"] == "running", 120, "first job running"
        )
        own_redis.stop()
        own_redis.start()
        for job in (running, queued):
            final = wait_status(poller(api, job["id"]), {"succeeded", "failed", "cancelled"}, 240)
            assert final["status"] == "succeeded", final


def test_60_second_redis_outage_stops_the_running_job_and_it_resumes_once_redis_is_back(
    service_env: Env, own_redis: RedisServer, start_worker: Start
) -> None:
    """Past the worker's half-minute Redis budget the job stops without failing; it resumes.

    Nothing can be recorded while Redis is gone, so the job keeps its last checkpoint in
    storage; when Redis is back its heartbeat is stale and the sweeper queues it again.
    """
    env = Env({**service_env.values, "NST_REDIS_URL": own_redis.url})
    with api_for(env) as api:
        worker = start_worker(env=env)
        _, poll = submit_running(api, iterations=400, past=4)
        with outage(60, own_redis.stop, own_redis.start):
            wait_for(
                lambda: "the job store is unreachable" in worker.output(),
                90,
                "the worker to give the job up",
            )
        final = wait_status(poll, {"succeeded", "failed", "cancelled"}, 400)
        assert final["status"] == "succeeded", final
        assert final["attempts"] >= 2 and final["resumed_from_iteration"] >= 4, final
