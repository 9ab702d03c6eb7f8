"""``/v1/meta``'s ``speed``: the workers' measured pace, for an estimate before Start.

Jobs are recorded in the real job store as a worker records them (claim, progress, finish with
its timing), so the numbers are the ones a worker leaves behind.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from shared.jobs import Job, JobStatus, JobTiming, Progress, new_job_id
from shared.params import JobParams
from tests.fixtures.live import Env

WORKER = "w@host"


def ran(env: Env, size: int, iterations: int, optimize: float, compile_: float = 0.0) -> Job:
    """A job that succeeded after ``iterations`` at ``size``, optimizing for ``optimize`` s."""
    store = env.store()
    params = JobParams(size=size, iterations=iterations)
    job = store.create(Job(id=new_job_id(), owner="someone", params=params, style_count=1))
    store.mark_running(job.id, WORKER, stale_after=60)
    progress = Progress(iteration=iterations, total=iterations, elapsed_seconds=optimize)
    store.record_progress(job.id, WORKER, progress, has_preview=False)
    timing = JobTiming(queued_seconds=1.0, compile_seconds=compile_, optimize_seconds=optimize,
                       checkpoint_seconds=0.0, total_seconds=1.0 + optimize + 2.0)  # fmt: skip
    finished = store.finish(job.id, JobStatus.SUCCEEDED, timing=lambda _: timing)
    assert finished is not None
    return finished


def test_speed_is_null_until_a_job_has_run(client: FlaskClient) -> None:
    assert client.get("/v1/meta").json["speed"] is None


def test_speed_is_the_median_pace_per_megapixel_iteration_and_the_start(
    client: FlaskClient, service_env: Env
) -> None:
    # 500 px = 0.25 Mpx: 10 iterations in 5 s of optimizing (1 of it compiling) = 1.6 s/Mpx-it
    ran(service_env, 500, 10, optimize=5.0, compile_=1.0)
    ran(service_env, 500, 10, optimize=9.0, compile_=1.0)  # 3.2 s/Mpx-it
    ran(service_env, 1000, 20, optimize=100.0)  # 5.0 s/Mpx-it
    speed = client.get("/v1/meta").json["speed"]
    assert speed["seconds_per_megapixel_iteration"] == 3.2
    # the start: total - queued - optimizing without compiling = 2 + compile
    assert speed["startup_seconds"] == 3.0
    assert speed["jobs_measured"] == 3


def test_a_job_too_short_to_measure_is_left_out(client: FlaskClient, service_env: Env) -> None:
    ran(service_env, 500, 2, optimize=100.0)  # two iterations: mostly its start
    assert client.get("/v1/meta").json["speed"] is None
