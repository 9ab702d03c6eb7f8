"""The engine is written once against ``keras.ops``: JAX must compute what TensorFlow computes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from tests.engine.backend_probe import probe

REPO = Path(__file__).resolve().parents[2]


def _probe_under(backend: str, weights_path: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-m", "tests.engine.backend_probe", weights_path],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_jax_backend_computes_the_same_losses_as_tensorflow(engine, weights_path):
    assert keras.backend.backend() == "tensorflow"
    jax_run = _probe_under("jax", weights_path)
    tf_run = probe(engine)
    assert jax_run["backend"] == "jax"
    assert jax_run["start"] == pytest.approx(tf_run["start"], rel=1e-4)
    assert len(jax_run["totals"]) == len(tf_run["totals"]) == 4
    assert jax_run["totals"] == pytest.approx(tf_run["totals"], rel=1e-3)
    totals = [jax_run["start"], *jax_run["totals"]]
    assert all(later < earlier for earlier, later in itertools.pairwise(totals))
