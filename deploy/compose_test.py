"""`make compose-test`: the stand-in stack in real containers, driven from this host.

Everything the operator's path touches runs for real: the images `make images` built, Docker
Compose, the published ports. The host talks to the stack only through those ports (the API,
the S3 stand-in for result links) and through `docker` itself for what an operator does with
it (scale, kill, restart, stop, down). Each step prints one line with its time; the run ends
with the total, and a failed step names what it waited for, then the stack is taken down.

    .venv/bin/python deploy/compose_test.py            # after `make images`
    .venv/bin/python deploy/compose_test.py --keep     # leave the stack up afterwards

Jobs are tiny (48 px, Adam, 10 to 40 iterations) so the CPU worker finishes them in seconds
to minutes; the VGG19 weights are the real ones, mounted read-only (NST_WEIGHTS_FILE, default
../shared/weights/vgg19_notop.weights.h5 beside the repository).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from client.api_client import Client  # noqa: E402  (the repository is not installed here)
from client.event_stream import follow  # noqa: E402

PROJECT = "nst-compose-test"
API_KEY = "compose-test-key-0123456789"
CONTENT = REPO / "examples" / "tubingen.jpg"
STYLE = REPO / "examples" / "starry_night.jpg"
WEIGHTS = Path(
    os.environ.get("NST_WEIGHTS_FILE", REPO.parent / "shared/weights/vgg19_notop.weights.h5")
)
SIZE = 48
CHECKPOINT_EVERY = 5
FINAL = {"succeeded", "failed", "cancelled"}
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 0.5) -> T:
    """Poll until condition returns something truthy; fail naming what after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (requests.RequestException, subprocess.CalledProcessError):
            value = None  # type: ignore[assignment]
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Stack:
    """The compose project under test and the host's view of it."""

    def __init__(self, work: Path) -> None:
        self.api_port, self.s3_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.work = work
        self.override = work / "compose.test.yml"
        self.override.write_text(json.dumps(self.test_settings(), indent=2))
        self.env = {
            **os.environ,
            "NST_API_PORT": str(self.api_port),
            "NST_S3_PORT": str(self.s3_port),
            "NST_S3_PUBLIC_ENDPOINT_URL": f"http://localhost:{self.s3_port}",
            "NST_API_KEYS": API_KEY,
            "NST_PROGRESS_SECONDS": "1",
            "NST_CHECKPOINT_SECONDS": "2",
            "NST_WARMUP_SIZES": "",
            "NST_WEIGHTS_FILE": str(WEIGHTS),
        }
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {API_KEY}"
        self.client = Client(self.api, API_KEY)

    @staticmethod
    def test_settings() -> dict[str, Any]:
        """Test-only settings: webhooks to this host, a quick sweeper, a lighter API."""
        env = {
            "NST_WEBHOOK_ALLOW_PRIVATE": "true",
            "NST_HEARTBEAT_SECONDS": "2",
            "NST_STALE_AFTER_SECONDS": "20",
            "NST_BROKER_LOST_EXIT_SECONDS": "10",
            "NST_API_WORKERS": "2",
        }
        host = ["host.docker.internal:host-gateway"]
        return {
            "services": {
                name: {"environment": env, "extra_hosts": host}
                for name in ("api", "worker", "webhooks")
            }
        }

    def compose(self, *args: str, capture: bool = False) -> str:
        command = [
            "docker",
            "compose",
            "-p",
            PROJECT,
            "-f",
            "docker-compose.yml",
            "-f",
            "docker-compose.standins.yml",
            "-f",
            str(self.override),
            *args,
        ]
        result = subprocess.run(
            command, cwd=REPO, env=self.env, text=True, check=False, capture_output=capture
        )
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command[7:])} failed: {result.stderr or ''}"[-3000:])
        return result.stdout or ""

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service, capture=True).split()

    def get(self, path: str) -> Any:
        response = self.session.get(self.api + path, timeout=30)
        response.raise_for_status()
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/jobs/{job_id}"))

    def submit(self, iterations: int) -> str:
        """Submit one small job through the SDK, as a client of the stack would; its id."""
        job = self.client.submit(
            CONTENT,
            STYLE,
            size=SIZE,
            iterations=iterations,
            optimizer="adam",
            early_stop=0,
            checkpoint_every=CHECKPOINT_EVERY,
        )
        return str(job.id)

    def wait_final(self, job_id: str, timeout: float = 300) -> dict[str, Any]:
        job = wait_for(
            lambda: (j := self.job(job_id))["status"] in FINAL and j,
            timeout,
            f"job {job_id} to end",
        )
        return dict(job)  # type: ignore[arg-type]

    def wait_running(self, job_id: str, past: int, timeout: float = 300) -> dict[str, Any]:
        """Wait until the job runs past iteration ``past`` (so a checkpoint was saved)."""

        def running() -> dict[str, Any] | None:
            job = self.job(job_id)
            assert job["status"] not in FINAL, f"job {job_id} ended too soon: {job['status']}"
            progress = job["progress"] or {}
            ok = job["status"] == "running" and progress.get("iteration", 0) >= past
            return job if ok else None

        return wait_for(running, timeout, f"job {job_id} past iteration {past}")

    def worker_of(self, job_id: str) -> str:
        """The worker container whose log shows it received this job."""

        def find() -> str | None:
            for cid in self.containers("worker"):
                if job_id in docker("logs", cid, capture=True, stderr=True):
                    return cid
            return None

        return wait_for(find, 60, f"a worker log naming job {job_id}")

    def download(self, job: dict[str, Any]) -> bytes:
        url = job["result_url"]
        assert url and urlsplit(url).port == self.s3_port, f"result URL not on the host: {url}"
        response = requests.get(url, timeout=30)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        assert response.content.startswith(b"\x89PNG"), "the result is not a PNG"
        return response.content


def docker(*args: str, capture: bool = False, stderr: bool = False) -> str:
    result = subprocess.run(
        ["docker", *args],
        text=True,
        check=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if stderr else None,
    )
    return result.stdout or ""


class WebhookReceiver:
    """An HTTP server on this host that records every POST it gets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://host.docker.internal:{self.port}/hook"

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Bodies whose Standard Webhooks signature checks out with ``secret``."""
        key = base64.b64decode(secret.removeprefix("whsec_"))
        good = []
        for headers, body in list(self.received):
            signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
            expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            if f"v1,{expected}" in headers.get("webhook-signature", "").split():
                good.append(json.loads(body))
        return good


class Steps:
    """The steps, in order; each one line with its time."""

    def __init__(self, stack: Stack, work: Path) -> None:
        self.stack, self.work = stack, work
        self.finished: list[str] = []  # succeeded jobs, checked again after down and up
        self.hook = WebhookReceiver()
        self.first: dict[str, Any] = {}

    def up(self) -> str:
        self.stack.compose("down", "--volumes", "--remove-orphans", capture=True)
        self.stack.compose("up", "--detach", "--wait", "--quiet-pull")
        return f"stack healthy, API {self.stack.api}"

    def submit_and_follow(self) -> str:
        output = self.work / "first.png"
        nst = str(Path(sys.executable).parent / "nst")
        command = [
            nst,
            "submit",
            str(CONTENT),
            str(STYLE),
            "--api",
            self.stack.api,
            "--api-key",
            API_KEY,
            "--size",
            str(SIZE),
            "--iterations",
            "20",
            "--optimizer",
            "adam",
            "--early-stop",
            "0",
            "--checkpoint-every",
            str(CHECKPOINT_EVERY),
            "--webhook-url",
            self.hook.url,
            "--webhook-events",
            "progress,completed",
            "--wait",
            "-o",
            str(output),
        ]
        cli = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, text=True, stderr=subprocess.DEVNULL
        )
        assert cli.stdout is not None
        job_id = cli.stdout.readline().strip()
        events = [
            e.name
            for e in follow(
                self.stack.session,
                f"{self.stack.api}/v1/jobs/{job_id}/events",
                lambda r: r.raise_for_status(),
            )
        ]
        assert cli.wait(timeout=300) == 0, "nst submit --wait failed"
        assert "progress" in events and events[-1] == "succeeded", events
        assert output.read_bytes().startswith(b"\x89PNG"), "nst wrote no PNG"
        self.first = self.stack.job(job_id)
        self.finished.append(job_id)
        return f"nst submit --wait: job {job_id} succeeded, {len(events)} events streamed"

    def download_result(self) -> str:
        data = self.stack.download(self.first)
        return f"result downloaded from the S3 stand-in via the API's URL ({len(data)} bytes)"

    def webhook(self) -> str:
        secret = self.stack.get("/v1/webhook-secret")["secret"]
        job_id = self.first["id"]

        def completed() -> list[dict[str, Any]]:
            return [
                b
                for b in self.hook.verified(secret)
                if json.dumps(b).find(job_id) >= 0 and "succeeded" in json.dumps(b)
            ]

        wait_for(completed, 60, "a signed 'succeeded' webhook on this host")
        unsigned = len(self.hook.received) - len(self.hook.verified(secret))
        assert unsigned == 0, f"{unsigned} deliveries failed signature verification"
        return f"{len(self.hook.received)} signed webhook deliveries received on the host"

    def scale(self) -> str:
        self.stack.compose("up", "--detach", "--wait", "--scale", "worker=2")
        workers = self.stack.containers("worker")
        assert len(workers) == 2, workers
        ids = [self.stack.submit(10) for _ in range(4)]
        for job_id in ids:
            assert self.stack.wait_final(job_id)["status"] == "succeeded", job_id
        took = {
            w for w in workers for j in ids if j in docker("logs", w, capture=True, stderr=True)
        }
        assert took == set(workers), f"only {len(took)} of 2 workers took a job"
        self.finished += ids
        return "2 workers, 4 jobs succeeded, both workers took work"

    def kill_worker(self) -> str:
        job_id = self.stack.submit(40)
        before = self.stack.wait_running(job_id, 2 * CHECKPOINT_EVERY)["progress"]["iteration"]
        victim = self.stack.worker_of(job_id)
        docker("kill", victim, capture=True)
        final = self.stack.wait_final(job_id, timeout=400)
        assert final["status"] == "succeeded", final
        resumed = final["resumed_from_iteration"]
        assert final["attempts"] >= 2 and resumed is not None and resumed > 0, final
        self.stack.compose("up", "--detach", "--wait", "--scale", "worker=2")
        self.finished.append(job_id)
        return f"killed its worker at iteration {before}: resumed from {resumed}, succeeded"

    def restart_redis(self) -> str:
        ids = [self.stack.submit(20) for _ in range(3)]  # two running, one queued
        self.stack.wait_running(ids[0], CHECKPOINT_EVERY)
        self.stack.compose("restart", "redis", capture=True)
        for job_id in ids:
            final = self.stack.wait_final(job_id, timeout=400)
            assert final["status"] == "succeeded", final
        listed = {j["id"] for j in self.stack.get("/v1/jobs?limit=50")["jobs"]}
        missing = set(self.finished) - listed
        assert not missing, f"lost across the Redis restart: {missing}"
        self.finished += ids
        return "Redis restarted under 3 jobs: all succeeded, no job record lost"

    def stop_worker(self) -> str:
        self.stack.compose("up", "--detach", "--wait", "--scale", "worker=1")
        job_id = self.stack.submit(40)
        self.stack.wait_running(job_id, 2 * CHECKPOINT_EVERY)
        started = time.monotonic()
        self.stack.compose("stop", "worker", capture=True)
        stopped_in = time.monotonic() - started
        handed_back = self.stack.job(job_id)
        assert handed_back["status"] == "queued", handed_back["status"]
        self.stack.compose("up", "--detach", "--wait", "--scale", "worker=1")
        final = self.stack.wait_final(job_id, timeout=400)
        assert final["status"] == "succeeded" and (final["resumed_from_iteration"] or 0) > 0, final
        self.finished.append(job_id)
        return (
            f"worker stopped in {stopped_in:.1f} s, job handed back, resumed from "
            f"{final['resumed_from_iteration']}"
        )

    def down_and_up(self) -> str:
        self.stack.compose("down", capture=True)
        self.stack.compose("up", "--detach", "--wait")
        for job_id in self.finished:
            job = self.stack.job(job_id)
            assert job["status"] == "succeeded", (job_id, job["status"])
            self.stack.download(job)
        return f"down and up: {len(self.finished)} finished jobs and their results still there"

    def web_page(self) -> str:
        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("NST_CHROMIUM", "/usr/bin/chromium"),
                args=["--headless", "--no-sandbox", "--disable-gpu"],
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(60_000)
                page.goto(self.stack.api + "/")
                page.get_by_label("Key", exact=True).fill(API_KEY)
                page.get_by_role("button", name="Save key").click()
                thumb = page.locator("#jobs li img.thumb").first
                expect(thumb).to_be_visible()
                wait_for(
                    lambda: thumb.evaluate("img => img.complete && img.naturalWidth"),
                    60,
                    "the gallery's first picture to load",
                )
                page.locator("#jobs li").first.get_by_role("button", name="Show").click()
                expect(page.locator("#result")).to_be_visible()
                width = wait_for(
                    lambda: page.eval_on_selector("#result", "img => img.naturalWidth"),
                    60,
                    "the result image to load",
                )
                page.screenshot(path=str(self.work / "web.png"), full_page=True)
            finally:
                browser.close()
        return f"web page shows the finished result (naturalWidth {width})"

    def containers_as_declared(self) -> str:
        problems = []
        for cid in self.stack.compose("ps", "-q", capture=True).split():
            info = json.loads(docker("inspect", cid, capture=True))[0]
            name = info["Name"].lstrip("/")
            uid = docker("exec", cid, "id", "-u", capture=True).strip()
            if uid == "0" or not info["Config"]["User"]:
                problems.append(f"{name} runs as uid {uid} (image user {info['Config']['User']!r})")
            health = (info["State"].get("Health") or {}).get("Status")
            if health != "healthy":
                problems.append(f"{name} health {health}")
            for mount in info["Mounts"]:
                if mount["Type"] == "volume" and mount.get("RW"):
                    probe = f"{mount['Destination']}/.write-probe"
                    touched = subprocess.run(
                        ["docker", "exec", cid, "sh", "-c", f": > {probe} && rm {probe}"],
                        capture_output=True,
                    )
                    if touched.returncode:
                        problems.append(f"{name} cannot write {mount['Destination']}")
            if not docker("logs", "--tail", "5", cid, capture=True, stderr=True).strip():
                problems.append(f"{name} wrote no log to stdout/stderr")
        [worker] = self.stack.containers("worker")[:1]
        cached = docker("exec", worker, "sh", "-c", "ls /var/cache/nst-jax | wc -l", capture=True)
        if int(cached.strip()) == 0:
            problems.append("the worker wrote nothing to its JAX cache volume")
        assert not problems, "; ".join(problems)
        entries = cached.strip()
        return f"every container non-root, healthy, writing its volumes; JAX cache: {entries} files"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack up at the end")
    options = parser.parse_args()
    assert WEIGHTS.is_file(), f"no VGG19 weights at {WEIGHTS} (set NST_WEIGHTS_FILE)"
    work = Path(tempfile.mkdtemp(prefix="nst-compose-test-"))
    stack = Stack(work)
    steps = Steps(stack, work)
    plan = [
        steps.up,
        steps.submit_and_follow,
        steps.download_result,
        steps.webhook,
        steps.scale,
        steps.kill_worker,
        steps.restart_redis,
        steps.stop_worker,
        steps.down_and_up,
        steps.web_page,
        steps.containers_as_declared,
    ]
    started = time.monotonic()
    failed = False
    try:
        for step in plan:
            with timed(step.__name__) as report:
                report(step())
    except BaseException:
        failed = True
        logs = stack.compose("logs", "--no-color", "--tail", "60", capture=True)
        (work / "compose.log").write_text(logs)
        print(f"stack logs (last 60 lines each): {work / 'compose.log'}", flush=True)
        raise
    finally:
        if not options.keep:
            stack.compose("down", "--volumes", "--remove-orphans", capture=True)
        print(
            f"{'FAILED' if failed else 'passed'}: total {time.monotonic() - started:.0f} s",
            flush=True,
        )


@contextmanager
def timed(name: str) -> Iterator[Callable[[str], None]]:
    """Print ``[ 12.3 s] name: what happened`` when the step ends (or how it failed)."""
    started = time.monotonic()
    said: list[str] = []
    try:
        yield said.append
    except BaseException as exc:
        print(f"[{time.monotonic() - started:6.1f} s] {name}: FAILED: {exc}", flush=True)
        raise
    print(f"[{time.monotonic() - started:6.1f} s] {name}: {said[0] if said else 'ok'}", flush=True)


if __name__ == "__main__":
    main()
