"""docker-compose.yml: valid Compose, pointing at real code and settings, scalable workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.deploy.deployfiles import (
    COMPOSE_FILE,
    MIN_STOP_GRACE_SECONDS,
    NON_SETTINGS_ENV,
    REPO,
    WORKER_DOCKERFILE,
    assert_target_defined,
    compose_environment,
    dockerfile_env,
    final_stage,
    load_compose,
    option_value,
    parse_duration,
    settings_default,
    settings_env_names,
    string_constants,
)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = load_compose()["services"]
    return services


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_has_the_documented_services(services: dict[str, Any]) -> None:
    assert {"redis", "minio", "createbucket", "api", "worker", "flower"} <= set(services)
    assert services["flower"]["profiles"], "flower is optional: it belongs under a profile"


def test_api_command_names_the_app_factory(services: dict[str, Any]) -> None:
    command = services["api"]["command"]
    assert command[0] == "gunicorn"
    assert command[-1] == "api.app:create_app()"
    assert_target_defined(command[-1])


def test_worker_command_names_the_celery_app(services: dict[str, Any]) -> None:
    command = services["worker"]["command"]
    assert command[:1] == ["celery"] and "worker" in command
    assert option_value(command, "-A") == "worker.main:app"
    assert_target_defined(option_value(command, "-A"))


def test_every_environment_variable_is_a_setting(services: dict[str, Any]) -> None:
    known = settings_env_names()
    for name in ("api", "worker"):
        env = compose_environment(services[name])
        unknown = {k for k in env if k not in known and k not in NON_SETTINGS_ENV}
        assert not unknown, f"{name} sets variables no code reads: {sorted(unknown)}"


def test_api_and_worker_share_the_same_settings(services: dict[str, Any]) -> None:
    api_env = compose_environment(services["api"])
    worker_env = compose_environment(services["worker"])
    assert {k: v for k, v in worker_env.items() if k in api_env} == api_env


def test_worker_consumes_the_queue_the_api_publishes_to(services: dict[str, Any]) -> None:
    env = compose_environment(services["worker"])
    queue = env.get("NST_QUEUE", settings_default("queue"))
    assert option_value(services["worker"]["command"], "--queues") == queue


def test_worker_takes_one_job_at_a_time(services: dict[str, Any]) -> None:
    command = services["worker"]["command"]
    assert option_value(command, "--concurrency") == "1"
    assert option_value(command, "--prefetch-multiplier") == "1"


def test_worker_reserves_one_nvidia_gpu(services: dict[str, Any]) -> None:
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_worker_can_be_scaled(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed name allows one container only"
    assert "ports" not in worker, "a fixed host port allows one container only"


def test_worker_stop_grace_covers_a_checkpoint(services: dict[str, Any]) -> None:
    grace = parse_duration(services["worker"]["stop_grace_period"])
    assert grace >= MIN_STOP_GRACE_SECONDS
    assert services["worker"].get("stop_signal", "SIGTERM") == "SIGTERM"


def test_redis_persists_and_never_evicts(services: dict[str, Any]) -> None:
    command = services["redis"]["command"]
    assert option_value(command, "--appendonly") == "yes"
    assert option_value(command, "--maxmemory-policy") == "noeviction"
    volumes = load_compose()["volumes"]
    assert any(
        v.split(":")[0] in volumes and v.endswith(":/data") for v in services["redis"]["volumes"]
    )


@pytest.mark.parametrize("name", ["redis", "minio", "api", "worker"])
def test_long_running_services_have_healthchecks(services: dict[str, Any], name: str) -> None:
    assert services[name]["healthcheck"]["test"]


def test_api_starts_after_redis_storage_and_bucket(services: dict[str, Any]) -> None:
    assert services["api"]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
        "createbucket": {"condition": "service_completed_successfully"},
    }


def test_api_healthcheck_uses_a_route_the_api_serves(services: dict[str, Any]) -> None:
    test = " ".join(services["api"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in test
    assert "/readyz" in string_constants("api"), "api/ defines no /readyz route"


def test_bucket_created_is_the_storage_bucket(services: dict[str, Any]) -> None:
    storage = urlparse(compose_environment(services["api"])["NST_STORAGE_URL"])
    assert storage.scheme == "s3"
    script = services["createbucket"]["command"][0]
    assert f"mc mb --ignore-existing local/{storage.netloc}" in script


def test_s3_credentials_are_the_minio_root_user(services: dict[str, Any]) -> None:
    minio = compose_environment(services["minio"])
    for name in ("api", "worker"):
        env = compose_environment(services[name])
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
        assert env["NST_S3_ENDPOINT_URL"] == "http://minio:9000"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_built_images_use_dockerfiles_that_exist(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    assert (REPO / build["context"] / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", ["redis", "minio", "createbucket", "flower"])
def test_third_party_images_are_pinned(services: dict[str, Any], name: str) -> None:
    image = services[name]["image"]
    _, _, tag = image.rpartition(":")
    assert "/" not in tag and tag not in {"", "latest"}, image


def test_sentinel_profile_is_a_replica_and_three_sentinels_watching_redis(
    services: dict[str, Any],
) -> None:
    profile = {name for name, svc in services.items() if "sentinel" in svc.get("profiles", [])}
    assert profile == {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    replica = services["redis-replica"]["command"]
    assert option_value(replica, "--replicaof") == "redis"
    assert option_value(replica, "--appendonly") == "yes"
    assert option_value(replica, "--maxmemory-policy") == "noeviction"
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = services[name]["command"][0]
        assert "sentinel monitor nst redis 6379 2" in script, "quorum 2 of 3, on the primary"
        assert any(v.endswith(":/data") for v in services[name]["volumes"]), "keeps its state"
        assert services[name]["healthcheck"]["test"]


STANDINS_FILE = REPO / "docker-compose.standins.yml"


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's `!reset` tag (the value it resets to is kept as written)."""


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


ComposeLoader.add_constructor("!reset", _reset)


def load_standins() -> dict[str, Any]:
    services: dict[str, Any] = yaml.load(STANDINS_FILE.read_text(), ComposeLoader)["services"]
    return services


def test_standins_file_matches_the_compose_specification(tmp_path: Path) -> None:
    # As JSON: the schema checker's YAML reader does not know Compose's `!reset` tag.
    as_json = tmp_path / "docker-compose.standins.json"
    as_json.write_text(json.dumps(yaml.load(STANDINS_FILE.read_text(), ComposeLoader)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(as_json),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_standins_replace_every_registry_image_with_one_built_here(
    services: dict[str, Any],
) -> None:
    """`make images` builds what the stand-in file names; nothing may be left to pull."""
    standins = load_standins()
    for name, service in services.items():
        override = standins.get(name, {})
        if "build" not in service:
            assert "image" in override, f"{name}: {service['image']} would be pulled"
        image = override.get("image", service.get("image", ""))
        assert "/" not in image.split(":")[0], f"{name}: {image} names a registry"
        built = {**service.get("build", {}), **override.get("build", {})}
        user_image = name == "createbucket" and image.startswith("nst-api:")
        assert built or user_image, f"{name}: {image} is not built by make images"
        if built:
            assert (REPO / built["context"] / built["dockerfile"]).is_file(), name


def test_standin_workers_need_no_gpu_and_mount_the_weights_read_only() -> None:
    worker = load_standins()["worker"]
    assert worker["build"]["args"]["DEVICE"] == "cpu"
    assert worker["build"]["args"]["VGG19_WEIGHTS_SOURCE"] == "mounted"
    assert worker["deploy"] == {}, "no GPU reservation"
    weights = dockerfile_env(final_stage(WORKER_DOCKERFILE))["NST_VGG19_WEIGHTS"]
    assert any(v.endswith(f":{weights}:ro") for v in worker["volumes"])
