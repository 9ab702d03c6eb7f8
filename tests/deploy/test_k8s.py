"""deploy/k8s: schema-valid manifests, a GPU worker that stops gracefully, and KEDA scaling
that counts running jobs as well as queued ones."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.deployfiles import (
    K8S,
    MIN_STOP_GRACE_SECONDS,
    NON_SETTINGS_ENV,
    assert_target_defined,
    k8s_documents,
    k8s_objects,
    option_value,
    settings_env_names,
    string_constants,
    tool,
)

KUBERNETES_VERSION = "1.30"
# Kinds kubernetes-validate has no schema for; each gets its own field tests below.
NOT_CORE_KINDS = {"ScaledObject", "Kustomization"}


def pod_spec(deployment: str) -> dict[str, Any]:
    spec: dict[str, Any] = k8s_objects("Deployment")[deployment]["spec"]["template"]["spec"]
    return spec


def container(deployment: str) -> dict[str, Any]:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found


@pytest.fixture(scope="module")
def scaled_object() -> dict[str, Any]:
    objects = k8s_objects("ScaledObject")
    assert list(objects) == ["nst-worker"]
    return objects["nst-worker"]


def test_core_manifests_match_the_kubernetes_schema() -> None:
    core = sorted({str(path) for path, doc in k8s_documents() if doc["kind"] not in NOT_CORE_KINDS})
    assert len(core) >= 7
    result = subprocess.run(
        [
            tool("kubernetes-validate"),
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--strict",
            "--quiet",
            *core,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Couldn't find schema" not in result.stdout + result.stderr


def test_kustomization_applies_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_deployments_run_the_real_code() -> None:
    api_args = container("nst-api")["args"]
    assert api_args[0] == "gunicorn"
    assert_target_defined(api_args[-1])
    assert_target_defined(option_value(container("nst-worker")["args"], "-A"))


def test_worker_requests_exactly_one_gpu() -> None:
    resources = container("nst-worker")["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == 1
    assert resources["limits"]["nvidia.com/gpu"] == 1


def test_worker_grace_period_covers_a_checkpoint() -> None:
    assert pod_spec("nst-worker")["terminationGracePeriodSeconds"] >= MIN_STOP_GRACE_SECONDS


def test_worker_takes_one_job_at_a_time() -> None:
    args = container("nst-worker")["args"]
    assert option_value(args, "--prefetch-multiplier") == "1"
    assert option_value(args, "--concurrency") == "1"


def test_worker_consumes_the_configured_queue() -> None:
    queue = k8s_objects("ConfigMap")["nst-config"]["data"]["NST_QUEUE"]
    assert option_value(container("nst-worker")["args"], "--queues") == queue


def test_worker_replicas_are_left_to_keda() -> None:
    assert "replicas" not in k8s_objects("Deployment")["nst-worker"]["spec"]


@pytest.mark.parametrize("deployment", ["nst-api", "nst-worker"])
def test_pods_run_as_non_root(deployment: str) -> None:
    pod_security = pod_spec(deployment)["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] != 0
    security = container(deployment)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("deployment", ["nst-api", "nst-worker"])
def test_pods_have_readiness_and_liveness_probes(deployment: str) -> None:
    assert {"readinessProbe", "livenessProbe"} <= set(container(deployment))


def test_api_probes_use_routes_the_api_serves() -> None:
    api = container("nst-api")
    paths = {api[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}
    assert paths == {"/readyz", "/healthz"}
    missing = paths - string_constants("api")
    assert not missing, f"api/ defines no route for {sorted(missing)}"


def test_config_and_secret_keys_are_settings() -> None:
    keys = set(k8s_objects("ConfigMap")["nst-config"]["data"])
    keys |= set(k8s_objects("Secret")["nst-secrets"]["stringData"])
    for name in ("nst-api", "nst-worker"):
        keys |= {env["name"] for env in container(name).get("env", [])}
    unknown = keys - settings_env_names() - NON_SETTINGS_ENV
    assert not unknown, f"set but read by no code: {sorted(unknown)}"


@pytest.mark.parametrize("deployment", ["nst-api", "nst-worker"])
def test_pods_read_the_config_and_secret_that_exist(deployment: str) -> None:
    refs = container(deployment)["envFrom"]
    assert {r["configMapRef"]["name"] for r in refs if "configMapRef" in r} <= set(
        k8s_objects("ConfigMap")
    )
    assert {r["secretRef"]["name"] for r in refs if "secretRef" in r} <= set(k8s_objects("Secret"))


def test_api_service_selects_the_api_pods() -> None:
    service = k8s_objects("Service")["nst-api"]
    labels = k8s_objects("Deployment")["nst-api"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_scaled_object_targets_the_worker_deployment(scaled_object: dict[str, Any]) -> None:
    assert scaled_object["apiVersion"] == "keda.sh/v1alpha1"
    target = scaled_object["spec"]["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target["name"] == "nst-worker" and target["name"] in k8s_objects("Deployment")


def test_scaled_object_scales_to_zero_after_a_cooldown(scaled_object: dict[str, Any]) -> None:
    spec = scaled_object["spec"]
    assert spec["minReplicaCount"] == 0
    assert spec["maxReplicaCount"] >= 1
    assert spec["cooldownPeriod"] >= 60


def test_scaled_object_counts_queued_and_running_jobs(scaled_object: dict[str, Any]) -> None:
    # A redis list-length trigger misses reserved/running jobs (kedacore/keda#6719).
    triggers = scaled_object["spec"]["triggers"]
    assert [t["type"] for t in triggers] == ["prometheus"]
    metadata = triggers[0]["metadata"]
    assert "nst_jobs_queued" in metadata["query"] and "nst_jobs_running" in metadata["query"]
    assert float(metadata["threshold"]) == 1, "one job per worker"


def test_scaled_object_metrics_are_exported_by_the_code(scaled_object: dict[str, Any]) -> None:
    exported = string_constants("api") | string_constants("shared")
    missing = {"nst_jobs_queued", "nst_jobs_running"} - exported
    assert not missing, f"no code exports {sorted(missing)}"


def test_scale_in_removes_workers_one_at_a_time(scaled_object: dict[str, Any]) -> None:
    behavior = scaled_object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    policies = behavior["scaleDown"]["policies"]
    assert policies == [{"type": "Pods", "value": 1, "periodSeconds": policies[0]["periodSeconds"]}]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 60
