"""The webhook consumer in docker-compose.yml and deploy/k8s: the real app, its own queue,
the settings every other process has, and no GPU."""

from __future__ import annotations

from typing import Any

from tests.deploy.deployfiles import (
    NON_SETTINGS_ENV,
    assert_target_defined,
    compose_environment,
    k8s_objects,
    load_compose,
    option_value,
    settings_default,
    settings_env_names,
)

APP = "worker.webhooks.consumer:app"


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = load_compose()["services"][name]
    return service


def k8s_container() -> dict[str, Any]:
    pod = k8s_objects("Deployment")["nst-webhooks"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    found: dict[str, Any] = container
    return found


def test_compose_consumer_runs_the_webhook_app_on_the_webhook_queue() -> None:
    command = compose_service("webhooks")["command"]
    assert option_value(command, "-A") == APP
    assert_target_defined(APP)
    env = compose_environment(compose_service("webhooks"))
    assert option_value(command, "--queues") == env.get(
        "NST_WEBHOOK_QUEUE", settings_default("webhook_queue")
    )


def test_compose_consumer_shares_the_api_settings_and_holds_no_gpu() -> None:
    env = compose_environment(compose_service("webhooks"))
    api_env = compose_environment(compose_service("api"))
    assert {k: v for k, v in env.items() if k in api_env} == api_env  # the same secret, queue
    assert "NST_WEBHOOK_SECRET" in env
    assert not set(env) - settings_env_names() - NON_SETTINGS_ENV
    assert "deploy" not in compose_service("webhooks"), "it reserves no GPU"
    assert compose_service("webhooks")["healthcheck"]["test"]


def test_k8s_consumer_runs_the_webhook_app_without_a_gpu() -> None:
    container = k8s_container()
    assert option_value(container["args"], "-A") == APP
    assert option_value(container["args"], "--queues") == settings_default("webhook_queue")
    resources = container["resources"]
    assert not any("gpu" in key for part in resources.values() for key in part)
    assert {"readinessProbe", "livenessProbe"} <= set(container)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_k8s_consumer_reads_the_secret_that_holds_the_webhook_secret() -> None:
    refs = {r["secretRef"]["name"] for r in k8s_container()["envFrom"] if "secretRef" in r}
    secrets = k8s_objects("Secret")
    assert any("NST_WEBHOOK_SECRET" in secrets[name]["stringData"] for name in refs)
    assert len(secrets["nst-secrets"]["stringData"]["NST_WEBHOOK_SECRET"]) >= 32
