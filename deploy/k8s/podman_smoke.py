"""`make k8s-smoke`: the pods of deploy/k8s run for real by `podman kube play`, one job end to end.

No Kubernetes cluster can run on the build machines (node images come from a registry), but
podman runs a manifest's Deployments as pods: the same images, args, envFrom, securityContext
(UID 10001, read-only root filesystem, dropped capabilities), emptyDir volumes and ports. This
script takes the manifests as they are and changes, in a copy under a temporary directory, only
what cannot exist on this machine; each change is printed:

- image names -> the local builds (`make images`): nst-api:dev, the worker's CPU build;
- `nvidia.com/gpu` requests and limits, tolerations -> removed (the CPU worker);
- the worker's baked-in weights -> the real file mounted read-only (hostPath, NST_WEIGHTS_FILE);
- replicas -> 1 (two cores here), NST_WARMUP_SIZES -> "" (no 512 px warm-up on a CPU);
- the Secret -> a ConfigMap of test values (podman reads Secret objects only from its own store);
- Redis and S3, which the manifests expect outside (secret.yaml), -> two stand-in pods (`redis`,
  `minio`: the stand-in images of `make images`) on a podman network with DNS;
- ports the host reaches -> hostPort on 18000+ (the API, and S3 for the presigned result link).

Kinds podman does not run (Namespace, Service, PodDisruptionBudget, ScaledObject) are left
out and listed. Readiness is each container's own readinessProbe from the manifest, evaluated
inside the container (`podman exec`): podman turns only livenessProbe into a healthcheck, and
with no systemd its timer never fires. Each step prints one line with its time; everything is
torn down at the end (`podman kube down`, the network), also after a failure.

    .venv/bin/python deploy/k8s/podman_smoke.py          # after `make images`
    .venv/bin/python deploy/k8s/podman_smoke.py --keep   # leave the pods up afterwards

Needs root (apt-get install podman catatonit when missing; rootful podman) and Docker with the
images built: they are copied with `docker save | podman load` when podman lacks them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from client.api_client import Client  # noqa: E402
from deploy.offline.images import image_field  # noqa: E402

K8S = REPO / "deploy" / "k8s"
TAG = os.environ.get("NST_IMAGE_TAG", "dev")
IMAGES = {
    "nst-api:0.1.0": f"nst-api:{TAG}",
    "nst-worker:0.1.0": f"nst-worker:cpu-{TAG}",
}
REDIS_IMAGE = "nst-redis-standin:7.0"
S3_IMAGE = "nst-s3-standin:s3rver-3.7.1"
WEIGHTS = Path(
    os.environ.get("NST_WEIGHTS_FILE", REPO.parent / "shared/weights/vgg19_notop.weights.h5")
)
BAKED_WEIGHTS = "/opt/nst/vgg19_notop.weights.h5"
NETWORK = "nst-k8s-smoke"
API_KEY = "k8s-smoke-key-0123456789"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
CONTENT = REPO / "examples" / "tubingen.jpg"
STYLE = REPO / "examples" / "starry_night.jpg"
SIZE, ITERATIONS = 64, 10
# Rootful podman in this machine's container: runc (crun is not installed) and ulimits below
# the hard limits podman would otherwise copy and fail to set (RLIMIT_NPROC).
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""
RUNS = {"Deployment", "ConfigMap"}
T = TypeVar("T")


def step(name: str, action: Callable[[], str]) -> None:
    started = time.monotonic()
    detail = action()
    print(f"{time.monotonic() - started:7.1f} s  {name}: {detail}", flush=True)


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 1) -> T:
    """Poll until condition returns something truthy; fail naming what after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (requests.RequestException, subprocess.CalledProcessError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port(start: int) -> int:
    """The first port from start on that nothing on the host listens on."""
    for port in range(start, start + 1000):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError(f"no free port from {start}")


def documents(path: Path) -> Iterator[dict[str, Any]]:
    yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)


def store_pod(name: str, image: str, host_port: int | None = None) -> dict[str, Any]:
    """A stand-in store as a bare Pod: its name, like a Service's, resolves on the network."""
    container: dict[str, Any] = {"name": name, "image": f"localhost/{image}"}
    if host_port:
        container["ports"] = [{"containerPort": 9000, "hostPort": host_port}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    }


class Smoke:
    """The transformed manifests, the podman pods they become and the host's view of them."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.api_port = free_port(18080)
        self.s3_port = free_port(self.api_port + 1)
        self.api = f"http://127.0.0.1:{self.api_port}"
        conf = work / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.stores = work / "stores.yaml"
        self.app = work / "app.yaml"
        self.played: list[Path] = []
        self.network_created = False
        self.changes: list[str] = []
        self.skipped: list[str] = []
        self.host_ports: dict[str, int] = {}
        self.probes: dict[str, dict[str, Any]] = {}
        self.final: dict[str, Any] = {}  # podman container name -> readinessProbe
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {API_KEY}"

    def podman(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        result = subprocess.run(
            ["podman", *args], env=self.env, text=True, capture_output=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed: {result.stderr[-3000:]}")
        return result.stdout

    # -- steps -----------------------------------------------------------------------------

    def install(self) -> str:
        missing = [tool for tool in ("podman", "catatonit") if not shutil.which(tool)]
        if missing:
            if os.geteuid() != 0:
                raise AssertionError(f"{' '.join(missing)} missing: run as root or install it")
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", *missing],
                check=True,
                capture_output=True,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        return self.podman("--version").strip() + (f" (installed {missing})" if missing else "")

    def load_images(self) -> str:
        """docker save | podman load for each image podman lacks or holds in another build."""
        loaded = []
        for image in [*IMAGES.values(), REDIS_IMAGE, S3_IMAGE]:
            docker_id = image_field(image, "{{.Id}}")
            assert docker_id is not None, f"docker has no image {image}: run `make images`"
            podman_id = image_field(f"localhost/{image}", "{{.Id}}", tool="podman", env=self.env)
            if docker_id.removeprefix("sha256:") != podman_id:
                save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
                subprocess.run(
                    ["podman", "load", "-q"],
                    stdin=save.stdout,
                    env=self.env,
                    check=True,
                    capture_output=True,
                )
                if save.wait() != 0:
                    raise AssertionError(f"docker save {image} failed")
                loaded.append(image)
        return f"loaded {loaded or 'nothing (podman has the same builds)'}"

    def transform(self) -> str:
        """Write the manifests as podman will run them; record every change."""
        kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
        config: dict[str, str] = {}
        secret: dict[str, str] = {}
        apps: list[dict[str, Any]] = []
        for name in kustomization["resources"]:
            for doc in documents(K8S / name):
                kind, meta = doc["kind"], doc["metadata"]["name"]
                if kind == "ConfigMap":
                    config = dict(doc["data"])
                elif kind == "Secret":
                    secret = dict(doc.get("stringData") or {})
                elif kind in RUNS:
                    apps.append(self.adapt(copy.deepcopy(doc)))
                else:
                    self.skipped.append(f"{kind}/{meta}")
        secret.update(
            NST_REDIS_URL="redis://redis:6379/0",
            NST_API_KEYS=API_KEY,
            NST_WEBHOOK_SECRET="k8s-smoke-webhook-secret-0123456789abcdef",
            **S3_KEYS,
        )
        config.update(
            NST_S3_ENDPOINT_URL="http://minio:9000",
            NST_S3_PUBLIC_ENDPOINT_URL=f"http://localhost:{self.s3_port}",
        )
        self.changes.append(
            "Secret nst-secrets -> ConfigMap of test values (Redis, API key, S3 keys); "
            "ConfigMap + NST_S3_ENDPOINT_URL, NST_S3_PUBLIC_ENDPOINT_URL"
        )
        maps = [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}, "data": d}
            for n, d in (("nst-config", config), ("nst-secrets", secret))
        ]
        stores = [store_pod("redis", REDIS_IMAGE), store_pod("minio", S3_IMAGE, self.s3_port)]
        self.stores.write_text(yaml.safe_dump_all(stores, sort_keys=False))
        self.app.write_text(yaml.safe_dump_all([*maps, *apps], sort_keys=False))
        return (
            f"{len(apps)} Deployments to {self.app}; left out {', '.join(self.skipped)}; "
            + "; ".join(self.changes)
        )

    def adapt(self, doc: dict[str, Any]) -> dict[str, Any]:
        name = doc["metadata"]["name"]
        spec = doc["spec"]
        if spec.get("replicas", 1) != 1 or "replicas" not in spec:
            self.changes.append(f"{name} replicas {spec.get('replicas', 'unset')} -> 1")
        spec["replicas"] = 1
        pod = spec["template"]["spec"]
        if pod.pop("tolerations", None):
            self.changes.append(f"{name} tolerations removed")
        for container in pod["containers"]:
            image = container["image"]
            container["image"] = f"localhost/{IMAGES[image]}"
            for section in container.get("resources", {}).values():
                if section.pop("nvidia.com/gpu", None):
                    self.changes.append(f"{name} nvidia.com/gpu removed")
            for ref in container.get("envFrom", []):
                if "secretRef" in ref:
                    ref["configMapRef"] = ref.pop("secretRef")
            # podman 4.3 publishes a port without hostPort on the host under its own number
            # (8000, 9808: taken here), so each gets a free host port.
            for port in container.get("ports", []):
                if port.get("name") == "http":
                    port["hostPort"] = self.api_port
                else:
                    port["hostPort"] = free_port(self.s3_port + 1 + len(self.host_ports))
                self.host_ports[f"{name}/{port.get('name')}"] = port["hostPort"]
                self.changes.append(f"{name} port {port.get('name')} -> host {port['hostPort']}")
            env = container.setdefault("env", [])
            weights = [e for e in env if e["name"] == "NST_VGG19_WEIGHTS"]
            if weights:
                volume = f"{name}-weights"
                pod["volumes"].append(
                    {"name": volume, "hostPath": {"path": str(WEIGHTS), "type": "File"}}
                )
                container["volumeMounts"].append(
                    {"name": volume, "mountPath": weights[0]["value"], "readOnly": True}
                )
                self.changes.append(f"{name} weights: hostPath {WEIGHTS} read-only")
            for item in env:
                if item["name"] == "NST_WARMUP_SIZES":
                    item["value"] = ""
                    self.changes.append(f"{name} NST_WARMUP_SIZES -> ''")
            if "readinessProbe" in container:
                # kube play names a Deployment's container <name>-pod-0-<container>.
                self.probes[f"{name}-pod-0-{container['name']}"] = container["readinessProbe"]
        return doc

    def play(self, path: Path) -> None:
        self.played.append(path)
        self.podman("kube", "play", "--network", NETWORK, str(path), timeout=300)

    def up_stores(self) -> str:
        if NETWORK not in self.podman("network", "ls", "--format", "{{.Name}}").split():
            self.podman("network", "create", NETWORK)
            self.network_created = True
        self.play(self.stores)
        wait_for(
            lambda: "PONG" in self.podman("exec", "redis-redis", "redis-cli", "ping"),
            60,
            "the Redis stand-in to answer PING",
        )
        wait_for(
            lambda: requests.get(f"http://127.0.0.1:{self.s3_port}/", timeout=5).status_code < 500,
            60,
            f"the S3 stand-in on host port {self.s3_port}",
        )
        import boto3  # the host's client, as an operator's `aws s3 mb` would be

        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.s3_port}",
            region_name="us-east-1",
            aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket="nst")
        return f"pods redis, minio on network {NETWORK}; bucket nst created"

    def up_app(self) -> str:
        """kube play, then check that each container got the manifest's securityContext."""
        self.play(self.app)
        pods = self.podman("pod", "ps", "--format", "{{.Name}} {{.Status}}").strip()
        for container in self.probes:
            user, readonly, caps = self.podman(
                "inspect",
                "-f",
                "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.EffectiveCaps}}",
                container,
            ).split(maxsplit=2)
            assert user.startswith("10001"), (container, user)
            assert readonly == "true" and caps.strip() == "[]", (container, readonly, caps)
        return "; ".join(pods.splitlines()) + (
            "; each as UID 10001, read-only root file system, no capabilities"
        )

    def probe(self, container: str, spec: dict[str, Any]) -> bool:
        """One run of a manifest's readinessProbe inside its container, as the kubelet would."""
        timeout = float(spec.get("timeoutSeconds", 1))
        if "exec" in spec:
            command = spec["exec"]["command"]
        else:
            get = spec["httpGet"]
            url = f"http://127.0.0.1:{self.container_port(container, get['port'])}{get['path']}"
            command = [
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen({url!r}, timeout={timeout})",
            ]
        # A CRI exec (containerd, CRI-O) runs with the container's environment, HOSTNAME (the
        # pod name) included, which the Celery ping's "celery@$HOSTNAME" needs; podman exec
        # leaves HOSTNAME out, so it is passed as the kubelet's runtime would have it.
        hostname = self.podman("inspect", "-f", "{{.Config.Hostname}}", container).strip()
        result = subprocess.run(
            ["podman", "exec", "--env", f"HOSTNAME={hostname}", container, *command],
            env=self.env,
            capture_output=True,
            timeout=timeout + 30,
        )
        return result.returncode == 0

    def container_port(self, container: str, port: int | str) -> int:
        if isinstance(port, int):
            return port
        for doc in documents(self.app):
            for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                for p in c.get("ports", []):
                    if p.get("name") == port:
                        return int(p["containerPort"])
        raise AssertionError(f"no port named {port} for {container}")

    def ready(self) -> str:
        started = time.monotonic()
        lines = []
        for container, spec in self.probes.items():
            wait_for(
                lambda c=container, s=spec: self.probe(c, s),  # type: ignore[misc]
                300,
                f"{container}'s readinessProbe",
                every=2,
            )
            lines.append(f"{container} {time.monotonic() - started:.0f} s")
        return "readinessProbe passed: " + ", ".join(lines)

    def metrics(self) -> str:
        """The worker's Prometheus port (what the headless nst-worker-metrics Service names)."""
        port = self.host_ports["nst-worker/metrics"]

        def scrape() -> list[str]:
            response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            response.raise_for_status()
            return [line for line in response.text.splitlines() if line.startswith("nst_")]

        series = wait_for(scrape, 60, f"nst_* series on the worker's metrics port {port}")
        return f"worker metrics on host port {port}: {len(series)} nst_* samples"

    def job(self) -> str:
        submitted = Client(self.api, API_KEY).submit(
            CONTENT, STYLE, size=SIZE, iterations=ITERATIONS, optimizer="adam", early_stop=0
        )
        job_id = str(submitted.id)
        final = {"succeeded", "failed", "cancelled"}

        def ended() -> dict[str, Any]:
            job = dict(self.session.get(f"{self.api}/v1/jobs/{job_id}", timeout=30).json())
            return job if job["status"] in final else {}

        self.final = wait_for(ended, 600, f"job {job_id} to end", every=2)
        assert self.final["status"] == "succeeded", json.dumps(self.final)[:2000]
        return f"job {job_id} {SIZE} px, {ITERATIONS} iterations: succeeded"

    def download(self) -> str:
        url = self.final["result_url"]
        response = requests.get(url, timeout=30)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        assert response.content.startswith(b"\x89PNG"), "the result is not a PNG"
        size = len(response.content)
        return f"result PNG via the presigned link on host port {self.s3_port}: {size} bytes"

    def logs(self) -> None:
        """On failure: each container's state and last log lines."""
        for line in self.podman("ps", "-a", "--format", "{{.Names}}", check=False).split():
            if line.endswith("-infra"):
                continue
            state = self.podman(
                "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", line, check=False
            )
            tail = subprocess.run(
                ["podman", "logs", "--tail", "15", line],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(f"--- {line}: {state.strip()}\n{(tail.stdout + tail.stderr)[-2500:]}")

    def down(self) -> str:
        for path in reversed(self.played):
            self.podman("kube", "down", str(path), check=False, timeout=400)
        if self.network_created:
            self.podman("network", "rm", NETWORK, check=False)
        left = self.podman("pod", "ps", "-q", "--filter", f"network={NETWORK}", check=False)
        return "pods and network removed" + (f" (left: {left.split()})" if left.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the pods up afterwards")
    options = parser.parse_args()
    if not WEIGHTS.is_file():
        sys.exit(f"no VGG19 weights at {WEIGHTS}: set NST_WEIGHTS_FILE")
    # `timeout`, Ctrl-C or a CI kill still takes the pods down (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="nst-k8s-smoke-"))
    try:
        smoke = Smoke(work)
        ok = False
        try:
            step("podman", smoke.install)
            step("images", smoke.load_images)
            step("manifests", smoke.transform)
            step("stores", smoke.up_stores)
            step("kube play", smoke.up_app)
            step("ready", smoke.ready)
            step("metrics", smoke.metrics)
            step("job", smoke.job)
            step("download", smoke.download)
            ok = True
        except (AssertionError, subprocess.SubprocessError, requests.RequestException) as error:
            print(f"FAILED: {error}", flush=True)
            smoke.logs()
        finally:
            if options.keep:
                print(f"kept: podman kube down {smoke.app} && podman kube down {smoke.stores}")
            else:
                step("kube down", smoke.down)
    finally:
        if not options.keep:
            shutil.rmtree(work)
    print(f"{'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
