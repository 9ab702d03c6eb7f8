"""The engine is written once against ``keras.ops``: under JAX it must compute what it computes
under TensorFlow, take the host reference's steps on the device, and repeat itself in bfloat16.

A process has one Keras backend, so JAX runs in one subprocess (``jax_probe.py``) for the whole
module, and each test reads its part of that report. JAX's compiled programs make its runs
reproducible by themselves; the TensorFlow side of each comparison runs here.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import pytest

from contract.params import parse_params
from tests.engine.backend_probe import probe
from tests.engine.jax_probe import BFLOAT16_JOB
from tests.engine.repeat_probe import pair_at

REPO = Path(__file__).resolve().parents[2]
OPTIMIZERS = ["adam", "lbfgs"]
# The first test waits for the whole module's JAX work (fixture set-up counts towards a test's
# timeout): several minutes on a busy 2-core machine, most of it XLA compiling on the CPU.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def jax_report(weights_path: str) -> dict[str, Any]:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-m", "tests.engine.jax_probe", weights_path],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    return report


def test_jax_backend_computes_the_same_losses_as_tensorflow(engine, jax_report):
    assert keras.backend.backend() == "tensorflow"
    jax_run, tf_run = jax_report["losses"], probe(engine)
    assert jax_run["start"] == pytest.approx(tf_run["start"], rel=1e-4)
    assert len(jax_run["totals"]) == len(tf_run["totals"]) == 4
    assert jax_run["totals"] == pytest.approx(tf_run["totals"], rel=1e-3)
    totals = [jax_run["start"], *jax_run["totals"]]
    assert all(later < earlier for earlier, later in itertools.pairwise(totals))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_device_loops_on_jax_take_the_host_steps_and_resume_exactly(jax_report, optimizer):
    """``test_device_loop.py``'s checks, under JAX."""
    run = jax_report["device"][optimizer]
    assert run["device_losses"] == pytest.approx(run["host_losses"], rel=1e-3)
    assert run["evaluations"][0] == run["evaluations"][1]
    assert run["image_difference"] <= 2
    assert run["one_call_equals_stepwise"] and run["resume_equals_whole"]
    assert run["traces"] == 1


def test_jax_runs_bfloat16_too_reproducibly_and_close_to_float32(engine, jax_report):
    """JAX (the GPU backend): the same bfloat16 network, two runs alike, float32's loss within
    a few percent (JAX's float32 is TensorFlow's within 1e-3, above). Adam: its loop compiles
    in a fraction of L-BFGS's time under XLA."""
    report = jax_report["bfloat16"]
    assert report["digests"][0] == report["digests"][1]
    size = BFLOAT16_JOB["size"]
    content, style = pair_at(size)
    params = parse_params({**BFLOAT16_JOB, "seed": 1, "early_stop": 0})
    float32 = engine.run(content, [style], params).losses.total
    assert report["losses"][0] == pytest.approx(float32, rel=0.03)


def test_compiled_programs_take_the_networks_weights_as_arguments(jax_report):
    """Under ``jax.jit`` a variable read while tracing becomes a constant of the program: 80 MB
    of VGG19 compiled into every step, and a step that ignores new weights. The engine passes
    them in at each call instead: doubling a kernel changes the loss, with no new trace."""
    run = jax_report["weights"]
    assert run["after"] > 1.5 * run["before"]
    assert run["traces"] == 1
