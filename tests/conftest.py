"""Real services for the suite: Redis, an S3 endpoint (moto server), the live API, a worker.

Starting a worker (Celery, TensorFlow, the VGG19 weights) is the suite's largest fixed cost,
so the tests that need nothing from a worker but its jobs share one: ``worker_api``. Such a
worker is started the first time a test of this process asks for its settings and stays for
the session; each test still has its own API key, so its own owner, list, quota and jobs.
Tests that kill, stop, count or reconfigure a worker keep their own (``start_worker``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the plugins below are imported by pytest, after this module, for rewriting
    from tests.fixtures.live import Env, LiveAPI, WorkerProcess

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.live", "tests.fixtures.engine"]

# What a test's service_env gives it alone: a shared worker has its own of each.
PER_TEST = ("NST_KEY_PREFIX", "NST_QUEUE", "NST_STORAGE_URL")
# Read by the API only: tests that differ in these alone can share a worker.
API_ONLY = ("NST_API_KEYS", "NST_PRESETS", "NST_PRESETS_DIR", "NST_EVENTS_HEARTBEAT_SECONDS")


# The files whose tests wait longest (outages of 60 s, workers killed and restarted, a JAX
# process, fresh-process repeats), by the last full run's durations. `make test` deals whole
# files to its processes in collection order (xdist --dist loadfile): dealt first, these run
# beside the many short files instead of trailing after them. The order of tests within a
# file is unchanged; a file missing from this list only runs later.
LONGEST_FIRST = (
    "tests/worker/test_redis_outages.py",
    "tests/worker/test_storage_outages.py",
    "tests/engine/test_jax.py",
    "tests/worker/test_faults.py",
    "tests/worker/test_sentinel.py",
    "tests/engine/test_precision.py",
    "tests/deploy/test_local_services.py",
    "tests/engine/test_strength.py",
    "tests/engine/test_engine.py",
    "tests/engine/test_device_loop.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deal the longest files first (see LONGEST_FIRST); a stable sort keeps the rest in order."""
    root = Path(config.rootpath)

    def rank(item: pytest.Item) -> int:
        path = Path(item.path).relative_to(root).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


class SharedWorkers:
    """This test process's shared workers, one per distinct worker settings, started on use.

    Each has its own key prefix and queue (named after the run, so that the run's cleanup
    removes them) and its own storage prefix or folder, of the scheme the tests ask for.
    """

    def __init__(self, run_id: str, folder: Path) -> None:
        self.run_id, self.folder = run_id, folder
        self.started: dict[tuple[tuple[str, str], ...], tuple[Env, WorkerProcess]] = {}

    def get(self, settings: Env) -> Env:
        """The env of a running worker for settings (its per-test values replaced)."""
        from tests.fixtures.live import Env, WorkerProcess
        from tests.fixtures.services import BUCKET

        scheme = settings.values["NST_STORAGE_URL"].partition("://")[0]
        same = {k: v for k, v in settings.values.items() if k not in PER_TEST + API_ONLY}
        key = tuple(sorted({**same, "storage": scheme}.items()))
        if key not in self.started:
            name = f"shared{len(self.started)}"
            prefix = f"nsttest-{self.run_id}-{name}"
            storage = (
                f"file://{self.folder / name}" if scheme == "file" else f"s3://{BUCKET}/{prefix}"
            )
            env = Env(
                {
                    **settings.values,
                    "NST_KEY_PREFIX": prefix,
                    "NST_QUEUE": f"{prefix}-gpu",
                    "NST_STORAGE_URL": storage,
                }
            )
            worker = WorkerProcess(env, name, self.folder / f"{name}.log")
            self.started[key] = (env, worker)
            worker.wait_ready()
        env, worker = self.started[key]
        assert worker.proc.poll() is None, f"the shared worker exited:\n{worker.output()[-3000:]}"
        return env

    def stop(self) -> None:
        """At the session's end: how a shared worker ends proves nothing, so no warm shutdown."""
        for _, worker in self.started.values():
            worker.discard()


@pytest.fixture(scope="session")
def shared_workers(
    redis_url: str, run_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedWorkers]:
    """This process's shared workers; stopped, and their keys removed, at the end."""
    import redis

    from tests.fixtures.services import remove_keys

    workers = SharedWorkers(run_id, tmp_path_factory.mktemp("shared-workers"))
    yield workers
    workers.stop()
    remove_keys(redis.Redis.from_url(redis_url), f"*nsttest-{run_id}-shared*")


@pytest.fixture
def worker_api(shared_workers: SharedWorkers, service_env: Env) -> Iterator[LiveAPI]:
    """The live API with a worker already serving its queue, under an API key of this test's.

    The worker is the shared one for service_env's settings (the folder's overrides count);
    the app reads service_env's API-only settings. Afterwards this test's unfinished jobs are
    cancelled and awaited and the queue drained, so the next test finds the worker idle.
    """
    from api.app import create_app
    from api.keys import key_digest
    from tests.fixtures.live import OTHER_API_KEY, Env, LiveAPI, serve

    shared = shared_workers.get(service_env)
    key = f"test-key-{uuid.uuid4().hex}"
    api_only = {k: v for k, v in service_env.values.items() if k in API_ONLY}
    env = Env({**shared.values, **api_only, "NST_API_KEYS": f"{key},{OTHER_API_KEY}"})
    with serve(create_app(env.settings())) as url:
        yield LiveAPI(url, env, headers={"Authorization": f"Bearer {key}"})
    _settle(env, key_digest(key)[:16])


def _settle(env: Env, owner: str) -> None:
    """Cancel what the test left queued or running, then wait until the worker is idle."""
    from contract.errors import JobFinished
    from tests.helpers import wait_for

    store = env.store()
    unfinished = [
        job for job in store.list_for_owner(owner, None, 0, 1000) if not job.status.is_final
    ]
    running = [store.get(job_id) for job_id in store.running_ids()]  # any owner's
    for job in unfinished + running:
        with contextlib.suppress(JobFinished):  # it ended meanwhile
            store.request_cancel(job.id, job.owner)
    queue = env.values["NST_QUEUE"]
    wait_for(
        lambda: not store.running_ids() and store.redis.llen(queue) == 0,
        180,
        "the shared worker to end this test's jobs",
    )
