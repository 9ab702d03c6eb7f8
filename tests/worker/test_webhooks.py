"""Webhook deliveries with real processes: the API, a GPU worker, the webhook consumer, and a
real HTTP receiver on 127.0.0.1 (so these tests set NST_WEBHOOK_ALLOW_PRIVATE=1, except where
the address policy itself is tested).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from standardwebhooks import Webhook, WebhookVerificationError

from contract.jobs import Job, JobStatus, Progress, new_job_id
from contract.params import JobParams
from contract.webhooks import JobWebhook, WebhookEvent, owner_secret
from shared.queue import make_producer
from shared.webhook_outbox import WebhookNotifier
from tests.fixtures.live import Env as ServiceEnv
from tests.fixtures.live import LiveAPI, WorkerProcess
from tests.helpers import poller, submit, wait_for, wait_status
from worker.webhooks.delivery import signed_headers
from worker.webhooks.http_post import Answer, post
from worker.webhooks.key_slots import OwnerSlots

SERVER_SECRET = "webhook-server-secret-for-tests-0123456789"
StartHooks = Callable[[ServiceEnv], WorkerProcess]


# -- signing, without processes ------------------------------------------------------------------
def test_signature_matches_the_specifications_test_vector() -> None:
    """standard-webhooks' published vector: secret, id, timestamp, body -> this signature."""
    headers = signed_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        '{"test": 2432232314}',
        1614265330,
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


# -- a real receiver -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: str
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """An HTTP server on 127.0.0.1 that answers with scripted statuses, then 200, and keeps
    every request it got."""

    def __init__(self, statuses: list[int] | None = None, location: str | None = None) -> None:
        self.statuses = list(statuses or [])
        self.location = location
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/nst?source=test"

    def of_type(self, kind: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.payload["type"] == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.deliveries.append(Delivery(headers, body, status))
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None, location: str | None = None) -> Receiver:
        made.append(Receiver(statuses, location))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def hooks_env(service_env: ServiceEnv) -> ServiceEnv:
    """The test's services with webhooks on, fast retries, and loopback receivers allowed."""
    prefix = service_env.values["NST_KEY_PREFIX"]
    return ServiceEnv(
        {
            **service_env.values,
            "NST_WEBHOOK_SECRET": SERVER_SECRET,
            "NST_WEBHOOK_QUEUE": f"{prefix}-webhooks",
            "NST_WEBHOOK_ALLOW_PRIVATE": "1",
            "NST_WEBHOOK_RETRY_DELAY_SECONDS": "0.2",
            "NST_WEBHOOK_TIMEOUT_SECONDS": "2",
        }
    )


@pytest.fixture
def hooks_api(shared_api_for: Callable[[ServiceEnv], LiveAPI], hooks_env: ServiceEnv) -> LiveAPI:
    """The whole path: the API, a GPU worker and the webhook consumer on hooks_env's settings
    (shared by this file's tests: each has its own API key, so its own secret and jobs)."""
    return shared_api_for(hooks_env)


def my_secret(api: LiveAPI) -> str:
    response = requests.get(f"{api.url}/v1/webhook-secret", headers=api.headers, timeout=10)
    assert response.status_code == 200
    return str(response.json()["secret"])


def verified(secret: str, delivery: Delivery) -> dict[str, Any]:
    """The payload, once the signature checks out as a receiver would check it."""
    return dict(Webhook(secret).verify(delivery.body, delivery.headers))


# -- the whole path: API, GPU worker, webhook consumer, receiver ------------------------------
def test_completed_event_is_signed_with_the_keys_secret_and_verifies(
    hooks_api: LiveAPI, receiver: Callable[..., Receiver]
) -> None:
    hook = receiver()
    job = submit(hooks_api, webhook_url=hook.url)
    wait_status(poller(hooks_api, job["id"]), {"succeeded"})
    [delivery] = wait_for(lambda: hook.of_type("job.completed"), 60, "the completed event")
    payload = verified(my_secret(hooks_api), delivery)
    assert payload["data"]["id"] == job["id"] and payload["data"]["status"] == "succeeded"
    assert delivery.headers["webhook-id"] == f"{job['id']}.completed"
    assert delivery.headers["content-type"] == "application/json"
    assert all(d.payload["type"] == "job.completed" for d in hook.deliveries)  # not subscribed
    forged = delivery.body.replace('"succeeded"', '"failed"')
    with pytest.raises(WebhookVerificationError):
        Webhook(my_secret(hooks_api)).verify(forged, delivery.headers)
    with pytest.raises(WebhookVerificationError):  # another key's secret
        Webhook(owner_secret(SERVER_SECRET, "someone-else")).verify(delivery.body, delivery.headers)
    unsigned = {k: v for k, v in delivery.headers.items() if k != "webhook-signature"}
    with pytest.raises(WebhookVerificationError):
        Webhook(my_secret(hooks_api)).verify(delivery.body, unsigned)


def test_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    hooks_api: LiveAPI, receiver: Callable[..., Receiver]
) -> None:
    hook = receiver([500, 500])
    job = submit(hooks_api, webhook_url=hook.url)
    poll = poller(hooks_api, job["id"])
    final = wait_status(poll, {"succeeded", "failed", "cancelled"})
    assert final["status"] == "succeeded"  # whatever the receiver does

    def three_attempts() -> list[dict[str, Any]]:
        attempts: list[dict[str, Any]] = poll()["webhook"]["attempts"]
        return attempts if len(attempts) == 3 else []

    attempts = wait_for(three_attempts, 60, "three recorded attempts")
    assert [(a["attempt"], a["status_code"], a["delivered"]) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert [d.answered for d in hook.deliveries] == [500, 500, 200]
    assert len({d.headers["webhook-id"] for d in hook.deliveries}) == 1  # one message, retried
    secret = my_secret(hooks_api)
    assert all(verified(secret, d)["data"]["status"] == "succeeded" for d in hook.deliveries)


def test_progress_events_arrive_when_subscribed(
    hooks_api: LiveAPI, receiver: Callable[..., Receiver]
) -> None:
    hook = receiver()
    job = submit(
        hooks_api,
        webhook_url=hook.url,
        webhook_events="progress,completed",
        iterations=6,
        checkpoint_every=2,
    )
    wait_status(poller(hooks_api, job["id"]), {"succeeded"})
    wait_for(lambda: hook.of_type("job.completed"), 60, "the completed event")

    def last_checkpoint() -> bool:
        return any(
            d.payload["data"]["progress"]["iteration"] == 6 for d in hook.of_type("job.progress")
        )

    wait_for(last_checkpoint, 60, "the last checkpoint's event")
    secret = my_secret(hooks_api)
    progress = [
        verified(secret, d)["data"]["progress"]["iteration"] for d in hook.of_type("job.progress")
    ]
    # A checkpoint's event is skipped when a later one was recorded before it went out
    # (coalescing); the last one always goes out, and none goes out twice.
    # Progress is also due by time (NST_PROGRESS_SECONDS), so a slow iteration on a loaded
    # machine adds an event between checkpoints: any iteration may appear, in order, once.
    assert progress == sorted(set(progress)) and set(progress) <= set(range(1, 7))
    assert progress[-1] == 6


# -- delivery alone: a job record, the webhook consumer, a receiver ---------------------------
def deliver_completed(env: ServiceEnv, url: str) -> Job:
    """Record a job with a webhook and end it through a store that queues its event."""
    notifier = WebhookNotifier(make_producer(env.settings()))
    store = env.store()
    store.on_final = notifier.job_finished
    webhook = JobWebhook(url=url, events=(WebhookEvent.COMPLETED,))
    job = store.create(
        Job(
            id=new_job_id(),
            owner="owner-1",
            params=JobParams(size=48),
            style_count=1,
            webhook=webhook,
        )
    )
    store.finish(job.id, JobStatus.SUCCEEDED)
    return job


def recorded_attempts(env: ServiceEnv, job: Job, count: int) -> list[Any]:
    def enough() -> list[Any]:
        webhook = env.store().get(job.id).webhook
        return webhook.attempts if webhook and len(webhook.attempts) >= count else []

    return wait_for(enough, 30, f"{count} recorded attempts")


def test_delivery_time_check_refuses_a_private_target_and_does_not_retry(
    hooks_env: ServiceEnv, start_webhook_worker: StartHooks, receiver: Callable[..., Receiver]
) -> None:
    """The API let it through (allowed then, or DNS changed since): the consumer refuses it."""
    guarded = ServiceEnv({**hooks_env.values, "NST_WEBHOOK_ALLOW_PRIVATE": "0"})
    consumer = start_webhook_worker(guarded)
    hook = receiver()
    job = deliver_completed(guarded, hook.url)
    [attempt] = recorded_attempts(guarded, job, 1)
    assert attempt.status_code is None and attempt.error.startswith("refused")
    wait_for(lambda: "succeeded" in consumer.output(), 30, "the task to end")
    assert hook.deliveries == [] and len(guarded.store().get(job.id).webhook.attempts) == 1


def test_redirects_are_not_followed_and_attempts_stop_at_the_maximum(
    hooks_env: ServiceEnv, start_webhook_worker: StartHooks, receiver: Callable[..., Receiver]
) -> None:
    env = ServiceEnv({**hooks_env.values, "NST_WEBHOOK_MAX_ATTEMPTS": "2"})
    consumer = start_webhook_worker(env)
    target = receiver()
    redirecting = receiver([307, 307, 307], location=target.url)
    job = deliver_completed(env, redirecting.url)
    attempts = recorded_attempts(env, job, 2)
    assert [(a.status_code, a.delivered) for a in attempts] == [(307, False), (307, False)]
    wait_for(lambda: "undelivered after 2 attempts" in consumer.output(), 30, "giving up")
    assert target.deliveries == [] and len(redirecting.deliveries) == 2


def test_a_receiver_that_never_answers_is_an_attempt_that_timed_out(
    hooks_env: ServiceEnv, start_webhook_worker: StartHooks
) -> None:
    env = ServiceEnv(
        {**hooks_env.values, "NST_WEBHOOK_MAX_ATTEMPTS": "1", "NST_WEBHOOK_TIMEOUT_SECONDS": "1"}
    )
    start_webhook_worker(env)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        job = deliver_completed(env, f"http://127.0.0.1:{silent.getsockname()[1]}/")
        [attempt] = recorded_attempts(env, job, 1)
    assert attempt.status_code is None
    assert attempt.error == "no answer in time; gave up after 1 attempt"


def test_the_consumer_refuses_to_start_without_a_secret(
    hooks_env: ServiceEnv, tmp_path: Path
) -> None:
    env = ServiceEnv({k: v for k, v in hooks_env.values.items() if k != "NST_WEBHOOK_SECRET"})
    consumer = WorkerProcess.webhook_consumer(env, "hooks", tmp_path / "hooks.log")
    assert consumer.proc.wait(timeout=60) == 2
    assert "cannot start: NST_WEBHOOK_SECRET is not set" in consumer.output()
    consumer.stop()


# -- time limits, retries and fairness (issue 21) -----------------------------------------------
class SlowReceiver:
    """A raw TCP receiver on 127.0.0.1 that reads each request and then answers slowly.

    ``trickle``: the status line one byte every ``every`` seconds, for ever (a receiver that
    keeps a per-read timeout from firing); otherwise each connection is held, unanswered, until
    ``release()``, then answered 200. Counts connections open at once, and those the sender cut.
    """

    def __init__(self, trickle: bool, every: float = 0.5) -> None:
        self.trickle, self.every = trickle, every
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.open = self.most_open = self.cut = self.accepted = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/slow"

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            self.open += 1
            self.accepted += 1
            self.most_open = max(self.most_open, self.open)
        try:
            conn.recv(65536)
            if self.trickle:
                for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                    conn.sendall(bytes([byte]))
                    if self.released.wait(self.every):
                        break
            else:
                self.released.wait(120)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            with self.lock:
                self.cut += 1
        finally:
            conn.close()
            with self.lock:
                self.open -= 1


@pytest.fixture
def slow_receiver() -> Iterator[Callable[..., SlowReceiver]]:
    made: list[SlowReceiver] = []

    def make(trickle: bool) -> SlowReceiver:
        made.append(SlowReceiver(trickle))
        return made[-1]

    yield make
    for server in made:
        server.close()


def ended_job(env: ServiceEnv, url: str, owner: str, producer: Any = None) -> Job:
    """A finished job with a webhook; its completed event queued by ``producer``'s notifier."""
    notifier = WebhookNotifier(producer or make_producer(env.settings()))
    store = env.store()
    store.on_final = notifier.job_finished
    webhook = JobWebhook(url=url, events=(WebhookEvent.COMPLETED, WebhookEvent.PROGRESS))
    job = store.create(
        Job(id=new_job_id(), owner=owner, params=JobParams(size=48), style_count=1, webhook=webhook)
    )
    store.finish(job.id, JobStatus.SUCCEEDED)
    return job


def test_the_gpu_workers_notifier_puts_no_job_time_limits_on_webhook_messages(
    hooks_env: ServiceEnv,
) -> None:
    """The GPU worker's app has the delivery task registered with its own hour-long limits;
    they were stamped on every message and the consumer applied them instead of its own."""
    from worker.celery_app import create_worker_app

    settings = hooks_env.settings()
    producer = create_worker_app(settings)
    producer.finalize(auto=True)  # as in a running worker: its tasks registered, with its limits
    ended_job(hooks_env, "http://127.0.0.1:9/", "owner-1", producer=producer)
    queued = redis.Redis.from_url(settings.redis_url).lrange(settings.webhook_queue, 0, -1)
    [message] = [json.loads(raw) for raw in queued]
    assert message["headers"]["task"] == "nst.deliver_webhook"
    assert message["headers"]["timelimit"] == [None, None]


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_attempts_deadline(
    hooks_env: ServiceEnv,
    start_webhook_worker: StartHooks,
    slow_receiver: Callable[..., SlowReceiver],
) -> None:
    """One byte every 0.5 s keeps any per-read timeout from firing; the attempt's deadline
    (2 s here) still ends it, as "no answer in time", and the consumer moves on."""
    from worker.celery_app import create_worker_app

    env = ServiceEnv({**hooks_env.values, "NST_WEBHOOK_MAX_ATTEMPTS": "1"})
    start_webhook_worker(env)
    slow = slow_receiver(trickle=True)
    producer = create_worker_app(env.settings())
    producer.finalize(auto=True)
    job = ended_job(env, slow.url, "owner-1", producer=producer)
    [attempt] = recorded_attempts(env, job, 1)  # the trickle alone would last 8 minutes
    assert attempt.status_code is None
    assert attempt.error == "no answer in time; gave up after 1 attempt"
    wait_for(lambda: slow.cut == 1, 30, "the consumer to hang up on the receiver")


def test_a_failing_receiver_gets_every_attempt_on_the_schedule_then_a_gave_up_record(
    hooks_env: ServiceEnv, start_webhook_worker: StartHooks, receiver: Callable[..., Receiver]
) -> None:
    """Celery's default max_retries (3) ended deliveries after 4 attempts, with a traceback."""
    first = 0.05
    env = ServiceEnv(
        {
            **hooks_env.values,
            "NST_WEBHOOK_MAX_ATTEMPTS": "8",
            "NST_WEBHOOK_RETRY_DELAY_SECONDS": str(first),
        }
    )
    consumer = start_webhook_worker(env)
    hook = receiver([500] * 20)
    job = ended_job(env, hook.url, "owner-1")
    wait_for(lambda: "undelivered after 8 attempts" in consumer.output(), 90, "giving up")
    attempts = env.store().get(job.id).webhook.attempts
    assert [(a.attempt, a.status_code) for a in attempts] == [(n, 500) for n in range(1, 9)]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert all(gap >= first * 2**n for n, gap in enumerate(gaps)), gaps  # 1, 2, 4, ... x first
    assert attempts[-1].error == "the receiver answered 500; gave up after 8 attempts"
    assert all("gave up" not in (a.error or "") for a in attempts[:-1])
    assert len(hook.deliveries) == 8
    assert "MaxRetriesExceeded" not in consumer.output() and "Traceback" not in consumer.output()


def test_a_progress_backlog_is_coalesced_and_another_keys_completed_event_goes_first(
    hooks_env: ServiceEnv, start_webhook_worker: StartHooks, receiver: Callable[..., Receiver]
) -> None:
    """150 checkpoints of one key's job, queued before another key's job ended: the completed
    event is delivered first, and of the 150 only the latest checkpoint goes out."""
    hook = receiver()
    notifier = WebhookNotifier(make_producer(hooks_env.settings()))
    store = hooks_env.store()
    webhook = JobWebhook(url=hook.url, events=(WebhookEvent.PROGRESS,))
    busy = store.create(
        Job(
            id=new_job_id(),
            owner="busy-owner",
            params=JobParams(size=48),
            style_count=1,
            webhook=webhook,
        )
    )
    for iteration in range(1, 151):
        progress = Progress(iteration=iteration, total=150, elapsed_seconds=float(iteration))
        notifier.job_progressed(busy.model_copy(update={"progress": progress}))
    store.update(busy.id, lambda job: job.model_copy(update={"progress": progress}))
    other = ended_job(hooks_env, hook.url, "other-owner")
    start_webhook_worker(hooks_env)
    wait_for(lambda: len(hook.deliveries) == 2, 60, "the completed event and one checkpoint")
    first, second = hook.deliveries
    assert (first.payload["type"], first.payload["data"]["id"]) == ("job.completed", other.id)
    assert (second.payload["type"], second.payload["data"]["progress"]["iteration"]) == (
        "job.progress",
        150,
    )
    broker = redis.Redis.from_url(hooks_env.settings().redis_url)
    progress_queue = f"{hooks_env.values['NST_WEBHOOK_QUEUE']}\x06\x169"  # kombu: priority 9
    wait_for(lambda: broker.llen(progress_queue) == 0, 60, "the backlog to drain")
    assert len(hook.deliveries) == 2


def test_one_keys_slow_receiver_does_not_hold_another_keys_delivery(
    hooks_env: ServiceEnv,
    tmp_path: Path,
    receiver: Callable[..., Receiver],
    slow_receiver: Callable[..., SlowReceiver],
) -> None:
    """Two consumer processes, three events of one key to a receiver that holds every
    connection: that key gets one process (NST_WEBHOOK_MAX_IN_FLIGHT_PER_KEY=1), and another
    key's event goes out through the other while the receiver still holds the first."""
    env = ServiceEnv(
        {
            **hooks_env.values,
            "NST_WEBHOOK_MAX_IN_FLIGHT_PER_KEY": "1",
            "NST_WEBHOOK_TIMEOUT_SECONDS": "30",
            "NST_WEBHOOK_MAX_ATTEMPTS": "1",
        }
    )
    consumer = WorkerProcess.webhook_consumer(
        env, "hooks", tmp_path / "hooks.log", ("--concurrency", "2")
    )
    try:
        consumer.wait_ready()
        slow, fast = slow_receiver(trickle=False), receiver()
        for _ in range(3):
            ended_job(env, slow.url, "slow-owner")
        wait_for(lambda: slow.accepted == 1, 30, "the slow key's first attempt to connect")
        ended_job(env, fast.url, "other-owner")
        wait_for(lambda: fast.deliveries, 25, "the other key's event, while the first is held")
        assert slow.open == 1 and slow.most_open == 1
        slow.release()
        wait_for(lambda: slow.accepted == 3 and slow.open == 0, 60, "the slow key's three events")
        assert slow.most_open == 1
    finally:
        consumer.stop()


def test_a_slot_held_by_a_consumer_that_died_lapses_by_itself(
    redis_url: str, key_prefix: str
) -> None:
    """A consumer killed mid-attempt never gives its slot back: it lapses once the attempt
    could no longer be running (its hard time limit), and other keys never wait on it."""
    slots = OwnerSlots(redis.Redis.from_url(redis_url), key_prefix, per_owner=1, hold_seconds=0.5)
    assert slots.take("owner-1") is not None  # and its holder dies
    assert slots.take("owner-1") is None
    assert slots.take("owner-2") is not None
    wait_for(lambda: slots.take("owner-1") is not None, 10, "the dead holder's slot to lapse")


def test_a_tls_handshake_trickled_byte_by_byte_is_cut_off_at_the_deadline() -> None:
    """The TLS layer takes the socket over, so the deadline must still reach it mid-handshake:
    a receiver that announces a 16 KiB handshake record and sends it a byte every 0.3 s."""
    cut = threading.Event()

    def trickle(server: socket.socket) -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)  # the ClientHello
            conn.sendall(b"\x16\x03\x03\x40\x00")
            for _ in range(2000):
                try:
                    conn.sendall(b"\x02")
                except OSError:
                    cut.set()
                    return
                time.sleep(0.3)

    with socket.create_server(("127.0.0.1", 0)) as server:
        threading.Thread(target=trickle, args=(server,), daemon=True).start()
        url = f"https://localhost:{server.getsockname()[1]}/hooks"
        answer = post(url, "{}", {}, timeout=2, public_only=False)
        assert answer == Answer(error="no answer in time")
        assert cut.wait(30), "the receiver was never hung up on"
