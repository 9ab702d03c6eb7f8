"""deploy/Dockerfile.*: lint-clean, non-root, health-checked, pinned, and what they install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.deploy.deployfiles import (
    API_DOCKERFILE,
    DEPLOY,
    REPO,
    WORKER_DOCKERFILE,
    assert_target_defined,
    copy_sources,
    dockerfile_env,
    dockerfile_instructions,
    exec_form,
    final_stage,
    k8s_objects,
    load_compose,
    settings_env_names,
    tool,
)

DOCKERFILES = [API_DOCKERFILE, WORKER_DOCKERFILE]
WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


def project_requirements(*extras: str) -> list[Requirement]:
    """pyproject's base dependencies plus the named extras, following extras that name others."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = [Requirement(line) for line in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, project["optional-dependencies"][extra]):
            if requirement.name == project["name"]:
                pending += sorted(requirement.extras)
            else:
                found.append(requirement)
    return found


def lock_pins(name: str) -> dict[str, str]:
    """deploy/requirements/<name>: normalised distribution name -> pinned version."""
    pins: dict[str, str] = {}
    for line in (DEPLOY / "requirements" / name).read_text().splitlines():
        if line and not line.startswith("#"):
            dist, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", dist).lower()] = version
    return pins


def k8s_container(deployment: str) -> dict[str, Any]:
    """The single container of a deploy/k8s Deployment."""
    found: dict[str, Any] = k8s_objects("Deployment")[deployment]["spec"]["template"]["spec"][
        "containers"
    ][0]
    return found


def pip_installs(path: Path) -> str:
    """The text of every RUN that calls pip install."""
    return "\n".join(
        ins.args
        for ins in dockerfile_instructions(path)
        if ins.keyword == "RUN" and "pip install" in ins.args
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_runs_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    users = [ins.args for ins in final_stage(dockerfile) if ins.keyword == "USER"]
    assert users, "the final stage never leaves root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "k8s runAsNonRoot can only verify a numeric UID"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_has_a_healthcheck(dockerfile: Path) -> None:
    checks = [ins.args for ins in final_stage(dockerfile) if ins.keyword == "HEALTHCHECK"]
    assert checks and "CMD" in checks[-1] and not checks[-1].startswith("NONE")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(dockerfile: Path) -> None:
    args = dict(
        ins.args.split("=", 1)
        for ins in dockerfile_instructions(dockerfile)
        if ins.keyword == "ARG" and "=" in ins.args
    )
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copied_sources_exist(dockerfile: Path) -> None:
    # deploy/weights/ is filled by whoever builds with VGG19_WEIGHTS_SOURCE=local.
    sources = [s for s in copy_sources(dockerfile) if not s.startswith("deploy/weights/")]
    assert sources
    missing = [s for s in sources if not (REPO / s).exists()]
    assert not missing, missing


@pytest.mark.parametrize(
    ("dockerfile", "service"),
    [(API_DOCKERFILE, "api"), (WORKER_DOCKERFILE, "worker")],
    ids=["api", "worker"],
)
def test_image_default_command_is_the_compose_command(dockerfile: Path, service: str) -> None:
    cmd = [ins.args for ins in final_stage(dockerfile) if ins.keyword == "CMD"][-1]
    assert exec_form(cmd) == load_compose()["services"][service]["command"]


def test_api_image_runs_the_app_factory() -> None:
    cmd = exec_form([i.args for i in final_stage(API_DOCKERFILE) if i.keyword == "CMD"][-1])
    assert_target_defined(cmd[-1])


def test_api_image_installs_serve_and_no_engine() -> None:
    installs = pip_installs(API_DOCKERFILE)
    assert '".[serve]"' in installs
    assert not re.search(r"tensorflow|keras|engine", installs, re.IGNORECASE)
    assert not {"tensorflow", "tensorflow-cpu", "keras"} & set(lock_pins("api.txt"))


def stage(path: Path, name: str) -> list[Any]:
    """The instructions of one named build stage."""
    instructions = dockerfile_instructions(path)
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    for begin, end in zip(starts, [*starts[1:], len(instructions)], strict=True):
        if instructions[begin].args.endswith(f" AS {name}"):
            return instructions[begin:end]
    raise AssertionError(f"no stage {name}")


def install_arms() -> dict[str, tuple[str, str, str]]:
    """The worker's install `case`: "backend/device" -> (lock file, engine requirement, extra).

    One stage chooses by shell `case`, not one stage per backend: the classic builder, which
    offline machines use, builds every stage of a file whether the target needs it or not.
    """
    installs = " ".join(
        i.args
        for i in stage(WORKER_DOCKERFILE, "build")
        if i.keyword == "RUN" and "pip install" in i.args
    )
    arms = re.findall(r'(\w+/\w+)\)\s+set -- (\S+) "([^"]+)" (\w+) ;;', installs)
    return {arm: (lock, engine, extra) for arm, lock, engine, extra in arms}


@pytest.mark.parametrize(
    ("arm", "engine_name", "extra", "lock"),
    [
        ("tensorflow/cuda", "tensorflow[and-cuda]", "engine", "worker.txt"),
        ("tensorflow/cpu", "tensorflow-cpu", "engine", "worker.txt"),
        ("jax/cuda", "jax[cuda12]", "jax", "worker-jax.txt"),
        ("jax/cpu", "jax", "jax", "worker-jax.txt"),
    ],
)
def test_worker_image_installs_its_engine_within_its_extra(
    arm: str, engine_name: str, extra: str, lock: str
) -> None:
    arms = install_arms()
    assert arm in arms, f"the worker image has no {arm} build"
    lock_file, engine, installed_extra = arms[arm]
    assert engine.split("==")[0] == engine_name
    version = str(Requirement(engine).specifier).removeprefix("==")
    installs = pip_installs(WORKER_DOCKERFILE)
    keras = re.search(r'"keras==([\w.]+)"', installs)
    assert keras, "the worker must pin keras"
    wanted = {r.name: r.specifier for r in project_requirements(extra)}
    name = "tensorflow-cpu" if arm.startswith("tensorflow") else "jax"
    assert wanted[name].contains(version) and wanted["keras"].contains(keras.group(1))
    # The CUDA TensorFlow must not be overwritten by the `engine` extra's tensorflow-cpu.
    assert installed_extra == ("server" if arm.startswith("tensorflow") else "jax")
    assert lock_file == lock
    pins = lock_pins(lock)
    assert "tensorflow-cpu" not in pins, "tensorflow-cpu would overwrite the CUDA build"
    assert pins[name.removesuffix("-cpu")] == version
    assert pins["keras"] == keras.group(1)


def test_the_worker_image_defaults_to_the_backend_its_gpu_numbers_were_measured_on() -> None:
    args = dict(
        ins.args.split("=", 1)
        for ins in dockerfile_instructions(WORKER_DOCKERFILE)
        if ins.keyword == "ARG" and "=" in ins.args
    )
    assert args["BACKEND"] == "jax" and args["DEVICE"] == "cuda"
    assert dockerfile_env(final_stage(WORKER_DOCKERFILE))["KERAS_BACKEND"] == "${BACKEND}"


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("api.txt", ("serve",)),
        ("worker.txt", ("engine", "server")),
        ("worker-jax.txt", ("jax", "server")),
    ],
)
def test_lock_file_satisfies_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    pins = lock_pins(lock)
    for requirement in project_requirements(*extras):
        # The worker's CUDA TensorFlow stands in for the extra's tensorflow-cpu.
        name = "tensorflow" if requirement.name == "tensorflow-cpu" else requirement.name
        name = re.sub(r"[-_.]+", "-", name).lower()
        assert name in pins, f"{lock} lacks {name}: rerun deploy/requirements/lock.py"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, pyproject wants {requirement}: "
            "rerun deploy/requirements/lock.py"
        )


def test_worker_image_bakes_weights_where_settings_point() -> None:
    runtime = final_stage(WORKER_DOCKERFILE)
    weights_path = dockerfile_env(runtime)["NST_VGG19_WEIGHTS"]
    copied = [i.args for i in runtime if i.keyword == "COPY" and "--from=weights" in i.args]
    assert copied == ["--from=weights /weights/image/ /"]
    written = " ".join(i.args for i in stage(WORKER_DOCKERFILE, "weights") if i.keyword == "RUN")
    assert f"/weights/image{weights_path}" in written
    assert weights_path.endswith(".weights.h5"), "the worker reads Keras 3's weights format"
    worker_env = {e["name"]: e["value"] for e in k8s_container("nst-worker").get("env", [])}
    assert worker_env.get("NST_VGG19_WEIGHTS", weights_path) == weights_path


def test_weights_conversion_yields_a_file_the_worker_accepts(tmp_path: Path) -> None:
    # A randomly initialised VGG19 saved in Keras' legacy HDF5 layout stands in for the
    # downloaded file; the build converts it with this script and runs this same check.
    script = f"""
import h5py, keras, runpy, sys
from keras.src.legacy.saving import legacy_h5_format
model = keras.applications.VGG19(include_top=False, weights=None)
with h5py.File({str(tmp_path / "legacy.h5")!r}, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
sys.argv = ["convert", {str(tmp_path / "legacy.h5")!r}, {str(tmp_path / "out.weights.h5")!r}]
runpy.run_path({str(DEPLOY / "convert_vgg19_weights.py")!r}, run_name="__main__")
from worker.weights import check_weights_file
check_weights_file({str(tmp_path / "out.weights.h5")!r})
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    instructions = dockerfile_instructions(WORKER_DOCKERFILE)
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    assert "convert_vgg19_weights.py" in runs and "check_weights_file(" in runs


def test_worker_image_offers_three_weight_sources() -> None:
    runs = " ".join(i.args for i in stage(WORKER_DOCKERFILE, "weights") if i.keyword == "RUN")
    for source in ("imagenet)", "local)", "mounted)"):
        assert source in runs, source
    assert "keras.applications.VGG19(include_top=False, weights='imagenet')" in runs
    assert "deploy/weights/*.h5" in list(copy_sources(WORKER_DOCKERFILE))
    assert WEIGHTS_FILE in runs and "253f8cb515780f3b799900260a226db6" in runs


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_environment_names_are_settings(dockerfile: Path) -> None:
    env = dockerfile_env(dockerfile_instructions(dockerfile))
    unknown = {k for k in env if k.startswith("NST_")} - settings_env_names()
    assert not unknown, unknown


def test_dockerignore_admits_what_the_images_copy() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for dockerfile in DOCKERFILES:
        for source in copy_sources(dockerfile):
            assert any(source == a or source.startswith(a.split("*")[0]) for a in allowed), source
