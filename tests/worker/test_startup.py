"""A worker whose weights cannot be loaded stops at start-up, status 2, before taking any job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.fixtures.live import Env, WorkerProcess
from tests.helpers import free_port, wait_for
from worker.weights import IMAGENET_FILE

Start = Callable[..., WorkerProcess]


def _exit_of(start_worker: Start, env: Env) -> WorkerProcess:
    worker = start_worker(env=env, wait=False)
    wait_for(lambda: worker.proc.poll() is not None, 90, "the worker to exit")
    return worker


def test_missing_weights_file_stops_the_worker(
    service_env: Env, start_worker: Start, tmp_path: Path
) -> None:
    absent = tmp_path / "absent.weights.h5"
    worker = _exit_of(start_worker, Env({**service_env.values, "NST_VGG19_WEIGHTS": str(absent)}))
    out = worker.output()
    assert worker.proc.returncode == 2
    assert f"cannot start: NST_VGG19_WEIGHTS: no file at {absent}" in out
    assert "ready." not in out and "Traceback" not in out


def test_imagenet_weights_that_cannot_be_fetched_stop_the_worker(
    service_env: Env, start_worker: Start, tmp_path: Path
) -> None:
    models = tmp_path / "keras" / "models"
    models.mkdir(parents=True)
    (models / IMAGENET_FILE).write_bytes(b"a truncated earlier download")
    env = Env(
        {
            **service_env.values,
            "NST_VGG19_WEIGHTS": "imagenet",
            "KERAS_HOME": str(models.parent),
            "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}",
        }
    )
    worker = _exit_of(start_worker, env)
    out = worker.output()
    assert worker.proc.returncode == 2
    assert "cannot start: NST_VGG19_WEIGHTS=imagenet: cannot download" in out
    assert "set NST_VGG19_WEIGHTS to a local" in out
    assert "ready." not in out
    assert [p.name for p in models.iterdir()] == [IMAGENET_FILE], "no partial download left"
