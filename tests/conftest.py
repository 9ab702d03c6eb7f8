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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the plugins below are imported by pytest, after this module, for rewriting
    from tests.fixtures.live import Env, LiveAPI, WorkerProcess

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.live", "tests.fixtures.engine"]

# What a test's service_env gives it alone: a shared worker has its own of each.
PER_TEST = ("NST_KEY_PREFIX", "NST_QUEUE", "NST_STORAGE_URL", "NST_WEBHOOK_QUEUE")
# Read by the API only: tests that differ in these alone can share a worker.
API_ONLY = ("NST_API_KEYS", "NST_PRESETS", "NST_PRESETS_DIR", "NST_EVENTS_HEARTBEAT_SECONDS")


# The files that take longest (outages of 60 s, workers killed and restarted, the engine's
# compiles, a JAX process), by their total seconds in a full run (--durations=0, Intel Xeon,
# 2 cores, 2026-12-07), longest first. `make test` deals whole files to its N processes in
# collection order (xdist --dist loadfile); each process is handed two files at once (the
# k-th and the (N+k)-th), and then one more whenever it is nearly done. Dealt first, these
# run beside the many short files instead of trailing after them; a file over a minute or two
# is split by what it owns, so that no process is left with a long tail. The order of tests
# within a file is unchanged; a file missing from this list only runs later.
LONGEST_FIRST = (
    "tests/worker/test_storage_outages.py",  # 125 s
    "tests/worker/test_redis_outages.py",  # 103 s
    "tests/worker/test_sentinel.py",  # 99 s
    "tests/engine/test_engine.py",  # 77 s
    "tests/engine/test_jax.py",  # 72 s
    "tests/worker/test_killed_pool_children.py",  # 52 s
    "tests/engine/test_device_loop.py",  # 46 s
    "tests/deploy/test_local_services.py",  # 41 s
    "tests/worker/test_stopped_and_lost_workers.py",  # 41 s
    "tests/engine/test_precision.py",  # 40 s
    "tests/worker/test_webhooks.py",  # 37 s
    "tests/e2e/test_job_lifecycle.py",  # 28 s
    "tests/web/test_page.py",  # 28 s
    "tests/api/test_slow_clients.py",  # 24 s
    "tests/cli/test_cli_features.py",  # 24 s
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
    Settings with a webhook secret get the webhook consumer too, on a queue of their own.
    """

    def __init__(self, run_id: str, folder: Path) -> None:
        self.run_id, self.folder = run_id, folder
        self.started: dict[tuple[tuple[str, str], ...], tuple[Env, list[WorkerProcess]]] = {}

    def get(self, settings: Env) -> Env:
        """The env of running workers for settings (its per-test values replaced)."""
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
                    "NST_WEBHOOK_QUEUE": f"{prefix}-webhooks",
                }
            )
            workers = [WorkerProcess(env, name, self.folder / f"{name}.log")]
            if "NST_WEBHOOK_SECRET" in same:
                hooks = f"{name}-hooks"
                workers.append(
                    WorkerProcess.webhook_consumer(env, hooks, self.folder / f"{hooks}.log")
                )
            self.started[key] = (env, workers)
            for worker in workers:
                worker.wait_ready()
        env, workers = self.started[key]
        for worker in workers:
            assert worker.proc.poll() is None, f"{worker.name} exited:\n{worker.output()[-3000:]}"
        return env

    def stop(self) -> None:
        """At the session's end: how a shared worker ends proves nothing, so no warm shutdown."""
        for _, workers in self.started.values():
            for worker in workers:
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

    The worker is the shared one for service_env's settings (the folder's overrides count).
    """
    with shared_worker_api(shared_workers, service_env) as api:
        yield api


@pytest.fixture
def shared_api_for(shared_workers: SharedWorkers) -> Iterator[Callable[[Env], LiveAPI]]:
    """``worker_api`` for other settings (a file's own fixture of settings): call it with them;
    what it starts is settled, as ``worker_api``'s is, at the test's end."""
    with contextlib.ExitStack() as stack:
        yield lambda settings: stack.enter_context(shared_worker_api(shared_workers, settings))


@contextlib.contextmanager
def shared_worker_api(shared_workers: SharedWorkers, settings: Env) -> Iterator[LiveAPI]:
    """``worker_api`` for any settings: the shared workers for them, the app on their API-only
    settings. Afterwards this test's unfinished jobs are cancelled and awaited and the queue
    drained, so the next test finds the worker idle."""
    from api.app import create_app
    from api.keys import key_digest
    from tests.fixtures.live import OTHER_API_KEY, Env, LiveAPI, serve

    shared = shared_workers.get(settings)
    key = f"test-key-{uuid.uuid4().hex}"
    api_only = {k: v for k, v in settings.values.items() if k in API_ONLY}
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
