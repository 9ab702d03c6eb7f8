"""Whole jobs through the live API, the real Redis queue, a real worker process and S3.

Most run on the shared worker (``worker_api``): a job's whole life needs a worker, not a
new one. A test whose worker runs with other settings (file storage, a memory limit) starts
its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import requests

from api.app import create_app
from contract.jobs import Job, JobStatus, new_job_id
from contract.params import JobParams
from shared.images import encode_png
from shared.queue import enqueue_job, make_producer
from shared.storage import JobKeys
from tests.fixtures.live import Env, LiveAPI, WorkerProcess, serve
from tests.helpers import poller, submit, wait_for, wait_status
from tests.images import content_bytes, image_size


def test_job_succeeds_with_a_preview_before_the_result(worker_api: LiveAPI) -> None:
    job = submit(worker_api, iterations=8, checkpoint_every=2)
    poll = poller(worker_api, job["id"])
    previews_while_running: list[str] = []

    def finished() -> bool:
        state = poll()
        if state["status"] == "running" and state["preview_url"]:
            previews_while_running.append(state["preview_url"])
        return state["status"] in {"succeeded", "failed"}

    wait_for(finished, 180, "the job to end", every=0.05)
    final = poll()
    assert final["status"] == "succeeded", final
    assert previews_while_running, "no preview appeared before the job ended"
    assert final["progress"]["iteration"] == final["progress"]["total"] == 8
    result = requests.get(final["result_url"], timeout=10)
    assert result.status_code == 200 and result.content.startswith(b"\x89PNG")
    width, height = image_size(content_bytes(64))
    assert image_size(result.content) == (48, round(48 * height / width))
    url = f"{worker_api.url}/v1/jobs/{job['id']}/result"
    via_api = requests.get(url, headers=worker_api.headers, allow_redirects=True, timeout=10)
    assert via_api.content == result.content


def test_engine_error_ends_the_job_failed_with_a_message(worker_api: LiveAPI) -> None:
    env = worker_api.env
    job = Job(id=new_job_id(), owner="x", params=JobParams(size=32, iterations=2), style_count=1)
    keys = JobKeys(job.id)
    storage = env.storage()
    storage.put(keys.content, b"\x89PNG\r\n\x1a\n truncated", "image/png")
    storage.put(
        keys.style(0), encode_png(__import__("numpy").zeros((8, 8, 3), "uint8")), "image/png"
    )
    env.store().create(job)
    enqueue_job(make_producer(env.settings()), job.id)
    wait_for(lambda: env.store().get(job.id).status.is_final, 120, "the job to end")
    ended = env.store().get(job.id)
    assert ended.status == JobStatus.FAILED
    assert ended.error is not None and ended.error.code == "invalid_image"
    assert "content" in ended.error.message and "truncated or corrupt" in ended.error.message
    follow_up = submit(worker_api, iterations=2)  # the worker keeps serving
    final = wait_status(poller(worker_api, follow_up["id"]), {"succeeded", "failed"})
    assert final["status"] == "succeeded"


def test_cancel_while_running_stops_at_the_next_checkpoint(worker_api: LiveAPI) -> None:
    job = submit(worker_api, iterations=400, checkpoint_every=2, size=32)
    poll = poller(worker_api, job["id"])
    wait_for(lambda: (poll().get("progress") or {}).get("iteration", 0) >= 2, 120, "progress")
    cancel = requests.post(
        f"{worker_api.url}/v1/jobs/{job['id']}/cancel", headers=worker_api.headers, timeout=10
    )
    assert cancel.status_code == 202 and cancel.json()["cancel_requested"]
    final = wait_status(poll, {"cancelled", "succeeded", "failed"}, timeout=60)
    assert final["status"] == "cancelled"
    assert final["progress"]["iteration"] < 400 and final["result_url"] is None


def test_cancel_while_queued_means_it_never_runs(worker_api: LiveAPI) -> None:
    blocker = submit(worker_api, iterations=400, checkpoint_every=2, size=32)
    waiting = submit(worker_api, iterations=2)
    blocking = poller(worker_api, blocker["id"])
    wait_for(lambda: blocking()["status"] == "running", 120, "blocker running")
    cancel = requests.post(
        f"{worker_api.url}/v1/jobs/{waiting['id']}/cancel", headers=worker_api.headers, timeout=10
    )
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    requests.post(
        f"{worker_api.url}/v1/jobs/{blocker['id']}/cancel", headers=worker_api.headers, timeout=10
    )
    wait_status(blocking, {"cancelled"}, timeout=60)
    store = worker_api.env.store()
    queue = worker_api.env.values["NST_QUEUE"]
    wait_for(lambda: store.redis.llen(queue) == 0, 30, "the cancelled job's message to be consumed")
    never_ran = store.get(waiting["id"])
    assert never_ran.status == JobStatus.CANCELLED
    assert never_ran.attempts == 0 and never_ran.started_at is None


def test_file_storage_results_stream_through_the_api_with_auth(
    service_env: Env, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    env = Env({**service_env.values, "NST_STORAGE_URL": f"file://{tmp_path}/objects"})
    with serve(create_app(env.settings())) as url:
        api = LiveAPI(url, env)
        start_worker(env=env)
        job = submit(api, iterations=4, checkpoint_every=2, size=32)
        final = wait_status(poller(api, job["id"]), {"succeeded", "failed"})
        assert final["status"] == "succeeded"
        assert final["result_url"] == f"{url}/v1/jobs/{job['id']}/result"
        assert requests.get(final["result_url"], timeout=10).status_code == 401
        result = requests.get(final["result_url"], headers=api.headers, timeout=10)
        assert result.status_code == 200 and result.headers["Content-Type"] == "image/png"
        assert result.headers["X-Content-Type-Options"] == "nosniff"
        assert image_size(result.content)[0] == 32
        preview = requests.get(final["preview_url"], headers=api.headers, timeout=10)
        assert preview.status_code == 200 and preview.content.startswith(b"\xff\xd8")
        assert (tmp_path / "objects" / "jobs" / job["id"] / "result.png").is_file()


def test_job_record_shows_its_loss_weights_and_an_early_stop(worker_api: LiveAPI) -> None:
    job = submit(
        worker_api, size=48, iterations=300, optimizer="lbfgs", early_stop=0.05, checkpoint_every=10
    )
    final = wait_status(poller(worker_api, job["id"]), {"succeeded", "failed"})
    assert final["status"] == "succeeded", final
    progress = final["progress"]
    assert progress["stopped_early"] and progress["iteration"] < 300
    assert progress["iterations_saved"] == 300 - progress["iteration"]
    weights = final["loss_weights"]
    assert weights["style_strength"] == 1.0 and weights["content_weight"] == 1.0
    assert len(weights["style_layer_weights"]) == 5


def test_a_job_too_large_for_the_workers_memory_fails_clearly_and_the_worker_goes_on(
    live_api: LiveAPI, start_worker: Callable[..., WorkerProcess]
) -> None:
    env = Env({**live_api.env.values, "NST_JOB_MEMORY_LIMIT_MB": "10"})
    start_worker(env=env)
    big = submit(live_api, size=128, iterations=2)
    failed = wait_status(poller(live_api, big["id"]), {"succeeded", "failed"})
    assert failed["status"] == "failed" and failed["error"]["code"] == "insufficient_memory"
    assert "128 px job needs about" in failed["error"]["message"]
    small = submit(live_api, size=32, iterations=2)  # the same worker, still there
    assert wait_status(poller(live_api, small["id"]), {"succeeded", "failed"})["status"] == (
        "succeeded"
    )
