"""``/v1/meta``'s ``speed``: the workers' measured pace, for an estimate before Start.

Jobs are recorded in the real job store as a worker records them (claim, progress, finish with
its timing), so the numbers are the ones a worker leaves behind.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from contract.jobs import Job, new_job_id
from contract.params import JobParams
from tests.fixtures.live import Env
from tests.helpers import record_finished_job


def test_speed_is_null_until_a_job_has_run(client: FlaskClient) -> None:
    assert client.get("/v1/meta").json["speed"] is None


def test_speed_is_the_median_pace_per_megapixel_iteration_and_the_start(
    client: FlaskClient, service_env: Env
) -> None:
    # 500 px = 0.25 Mpx: 10 iterations in 5 s of optimizing (1 of it compiling) = 1.6 s/Mpx-it
    record_finished_job(service_env, 500, 10, optimize=5.0, compile_=1.0)
    record_finished_job(service_env, 500, 10, optimize=9.0, compile_=1.0)  # 3.2 s/Mpx-it
    record_finished_job(service_env, 1000, 20, optimize=100.0)  # 5.0 s/Mpx-it
    speed = client.get("/v1/meta").json["speed"]
    assert speed["seconds_per_megapixel_iteration"] == 3.2
    # the start: total - queued - optimizing without compiling = 2 + compile
    assert speed["startup_seconds"] == 3.0
    assert speed["jobs_measured"] == 3


def test_a_job_too_short_to_measure_is_left_out(client: FlaskClient, service_env: Env) -> None:
    record_finished_job(service_env, 500, 2, optimize=100.0)  # two iterations: mostly its start
    assert client.get("/v1/meta").json["speed"] is None


def test_meta_says_how_many_jobs_wait_for_a_worker(client: FlaskClient, service_env: Env) -> None:
    store = service_env.store()
    assert client.get("/v1/meta").json["queue"] == {"queued": 0}
    for _ in range(2):
        store.create(Job(id=new_job_id(), owner="someone", params=JobParams(), style_count=1))
    assert client.get("/v1/meta").json["queue"] == {"queued": 2}
