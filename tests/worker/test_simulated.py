"""The simulated engine: the real engine's interface, sizes and H100 timing, and no TensorFlow.

It stands in for VGG19 in benchmarks/scale.py (``benchmarks/simulated_engine.py``, selected by
its import path in NST_ENGINE), so what it claims to reproduce is checked against the real
thing: the checkpoint state's size against ``worker.nst.state.dump_state``, its timing against
the measurements in benchmarks/README.md; its checkpoints and results are the real engine's
classes (``worker.nst.results``). And it must never reach an API process or a deployment file.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from api.app import create_app
from benchmarks.simulated_engine import (
    H100_SECONDS,
    SIMULATED_ENGINE,
    SimulatedEngine,
    iteration_seconds,
    real_state_bytes,
)
from contract.errors import ConfigError, EngineFailure
from contract.params import JobParams
from shared.settings import Settings, load_settings
from shared.storage import JobKeys
from tests.deploy.deployfiles import API_DOCKERFILE, COMPOSE_FILE, K8S, WORKER_DOCKERFILE
from tests.fixtures.live import Env, LiveAPI, WorkerProcess
from tests.fixtures.services import REPO
from tests.helpers import poller, submit, wait_for, wait_status
from worker.engine_protocols import CheckpointView
from worker.nst.options import RunOptions
from worker.nst.results import Checkpoint, TransferResult

Start = Callable[..., WorkerProcess]


def photo(width: int = 400, height: int = 300) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), "RGB")


def run(
    params: JobParams,
    every: int | None = 25,
    resume: bytes | None = None,
    stop_at: int | None = None,
    **cadence: float,
) -> tuple[list[CheckpointView], TransferResult | None]:
    """Run the engine, keeping its reports; raise at ``stop_at`` as a cancel would."""
    seen: list[CheckpointView] = []

    def keep(checkpoint: CheckpointView) -> None:
        seen.append(checkpoint)
        if checkpoint.iteration == stop_at and checkpoint.state is not None:
            raise KeyboardInterrupt

    try:
        options = RunOptions(
            checkpoint_every=every, on_checkpoint=keep, resume_from=resume, **cadence
        )
        result = SimulatedEngine(4096).run(photo(), [photo(200, 200)], params, options)
    except KeyboardInterrupt:
        return seen, None
    return seen, result


def test_checkpoints_and_result_are_the_real_engines_classes() -> None:
    checkpoints, result = run(JobParams(size=64, optimizer="adam", iterations=4), every=2)
    assert checkpoints and all(type(c) is Checkpoint for c in checkpoints)
    assert type(result) is TransferResult


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_state_weighs_what_the_real_engine_writes(optimizer: str) -> None:
    from worker.nst.state import RunState, dump_state

    width, height = 512, 384
    image = (1, height, width, 3)
    arrays = {
        "lbfgs": {"s": (10, height * width * 3), "y": (10, height * width * 3), "grad": image},
        "adam": {"m": image, "v": image},
    }[optimizer]
    state = RunState(
        scale_index=0,
        iteration=100,
        elapsed=1.0,
        image=np.zeros(image, np.float32),
        optimizer={k: np.zeros(v, np.float32) for k, v in arrays.items()},
    )
    real = len(dump_state(state, JobParams(size=512, optimizer=optimizer), 1))
    assert real_state_bytes(optimizer, width, height) == pytest.approx(real, rel=0.01)


def test_iteration_times_are_the_h100_figures_of_the_benchmarks_readme() -> None:
    readme = (REPO / "benchmarks" / "README.md").read_text()
    row = r"\| (\d+)\N{MULTIPLICATION SIGN}(\d+) \| (L-BFGS|Adam) \| [\d.]+ \| "
    rows = re.findall(row + r"\*\*([\d.]+)\*\* \| 1\.00 \|", readme)  # the float32 column
    measured = {(opt.lower().replace("-", ""), int(w) * int(h)): float(s) for w, h, opt, s in rows}
    assert len(measured) == 4
    modelled = {(opt, px): s for opt, points in H100_SECONDS.items() for px, s in points}
    assert modelled == measured
    assert iteration_seconds("lbfgs", 512, 384) == pytest.approx(0.0241)
    assert iteration_seconds("adam", 1024, 768) == pytest.approx(0.0291)


def test_run_sleeps_the_modelled_time_and_checkpoints_as_the_engine_does() -> None:
    params = JobParams(size=128, optimizer="adam", iterations=100)
    started = time.monotonic()
    checkpoints, result = run(params)
    assert time.monotonic() - started >= 100 * iteration_seconds("adam", 128, 96)
    assert [c.iteration for c in checkpoints] == [25, 50, 75, 100]
    assert all(len(c.state) == 4096 and c.image.shape == (96, 128, 3) for c in checkpoints)
    assert result is not None and result.size == (128, 96) and result.iterations == 100
    assert result.image.dtype == np.uint8


def test_progress_comes_between_states_by_modelled_time() -> None:
    params = JobParams(size=128, optimizer="adam", iterations=100)
    per_iteration = iteration_seconds("adam", 128, 96)
    reports, _ = run(
        params,
        every=None,
        progress_seconds=10 * per_iteration,
        checkpoint_seconds=40 * per_iteration,
    )
    states = [c.iteration for c in reports if c.state is not None]
    progress = [c.iteration for c in reports if c.state is None]
    assert states == [40, 80, 100]
    assert progress == [10, 20, 30, 50, 60, 70, 90]


def test_a_progress_report_answered_true_gets_the_state_at_once() -> None:
    params = JobParams(size=128, optimizer="adam", iterations=100)
    seen: list[CheckpointView] = []

    def drain_at_30(checkpoint: CheckpointView) -> bool:
        seen.append(checkpoint)
        return checkpoint.iteration == 30 and checkpoint.state is None

    options = RunOptions(
        on_checkpoint=drain_at_30, progress_seconds=10 * iteration_seconds("adam", 128, 96)
    )
    SimulatedEngine(4096).run(photo(), [photo(200, 200)], params, options)
    at_30 = [c.state is not None for c in seen if c.iteration == 30]
    assert at_30 == [False, True]


def test_a_stopped_run_resumes_from_its_checkpoint() -> None:
    params = JobParams(size=128, optimizer="adam", iterations=100)
    first, _ = run(params, stop_at=50)
    resumed, result = run(params, resume=first[-1].state)
    assert [c.iteration for c in resumed] == [75, 100]
    assert resumed[0].elapsed_seconds > first[-1].elapsed_seconds
    assert result is not None and result.evaluations == 50


def test_state_of_another_job_or_engine_is_refused() -> None:
    first, _ = run(JobParams(size=128, optimizer="adam", iterations=50), stop_at=25)
    with pytest.raises(EngineFailure, match="different parameters"):
        run(JobParams(size=128, optimizer="adam", iterations=60), resume=first[-1].state)
    with pytest.raises(EngineFailure, match="not written by the simulated engine"):
        run(JobParams(size=128, optimizer="adam", iterations=50), resume=b"PK\x03\x04 numpy")


def test_importing_the_simulated_worker_imports_no_tensorflow() -> None:
    code = (
        "import sys, benchmarks.simulated_engine, worker.lifecycle, worker.tasks, worker.runner; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60).returncode == 0


def test_the_api_refuses_to_start_with_the_simulated_engine() -> None:
    with pytest.raises(ConfigError, match=f"NST_ENGINE={SIMULATED_ENGINE} is for benchmark"):
        create_app(Settings(engine=SIMULATED_ENGINE))


@pytest.mark.parametrize("engine", ["simulated", "benchmarks.simulated_engine", "a:b:c", ""])
def test_an_engine_is_vgg19_or_an_import_path_with_its_factory(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NST_ENGINE", engine)
    with pytest.raises(ConfigError, match="NST_ENGINE"):
        load_settings()


def test_a_worker_told_an_engine_that_cannot_be_imported_stops_at_start(
    service_env: Env, start_worker: Start
) -> None:
    env = Env({**service_env.values, "NST_ENGINE": "benchmarks.simulated_engine:no_such_factory"})
    worker = start_worker(env=env, wait=False)
    wait_for(lambda: worker.proc.poll() is not None, 90, "the worker to exit")
    out = worker.output()
    assert worker.proc.returncode == 2
    assert "cannot start: NST_ENGINE=benchmarks.simulated_engine:no_such_factory" in out
    assert "ready." not in out


def test_no_deployment_file_selects_the_simulated_engine() -> None:
    files = [COMPOSE_FILE, API_DOCKERFILE, WORKER_DOCKERFILE, *sorted(K8S.glob("*.yaml"))]
    assert not [path.name for path in files if "simulated" in path.read_text()]
    assert Settings.model_fields["engine"].default == "vgg19"


def test_a_simulated_worker_runs_a_job_through_the_real_stack_without_tensorflow(
    live_api: LiveAPI, service_env: Env, start_worker: Start
) -> None:
    state_bytes = 300_000
    env = Env(
        {
            **service_env.values,
            "NST_ENGINE": SIMULATED_ENGINE,
            "NST_SIMULATED_STATE_BYTES": str(state_bytes),
        }
    )
    worker = start_worker(env=env)
    job = submit(live_api, size=64, iterations=40, checkpoint_every=10)
    final = wait_status(poller(live_api, job["id"]), {"succeeded", "failed"}, timeout=60)
    assert final["status"] == "succeeded" and final["progress"]["iteration"] == 40
    storage, keys = service_env.storage(), JobKeys(job["id"])
    assert len(storage.get(keys.state)) == state_bytes
    assert max(Image.open(io.BytesIO(storage.get(keys.result))).size) == 64
    [child] = worker.child_pids()
    mapped = {Path(m.path).name for m in psutil.Process(child).memory_maps()}
    assert not [name for name in mapped if "tensorflow" in name]
