"""Deliver webhook messages: sign, POST, record the attempt on the job, retry with backoff.

Runs in its own cheap consumer of the webhook queue (``worker/webhooks/consumer.py``: no engine, no
GPU), never in a GPU worker. Each attempt is signed afresh as the Standard Webhooks
specification says (the timestamp is the attempt's), with the specification's own library and
the job owner's secret, and recorded on the job whatever came of it. An attempt ends within
NST_WEBHOOK_TIMEOUT_SECONDS, however slowly the receiver answers (``webhook_http``).

A ``completed`` event is retried after 1, 2, 4, ... times NST_WEBHOOK_RETRY_DELAY_SECONDS until
it is delivered or NST_WEBHOOK_MAX_ATTEMPTS are spent; the last attempt's record says it gave
up. A ``progress`` event is tried once, and not at all once a later checkpoint of its job was
recorded (coalescing: a backlog of one job's checkpoints costs one delivery, not one each). A
target refused by the address policy is not retried.

Fairness between keys: ``completed`` events go ahead of ``progress`` ones on the queue
(``shared.webhook_outbox.PRIORITY``), and each key has at most a few attempts in flight
(``webhook_slots``), so one key's backlog or slow receiver does not hold other keys up.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from celery import Celery, Task, shared_task, signals
from standardwebhooks import Webhook

from contract.errors import JobNotFound
from contract.jobs import Job
from contract.webhooks import WebhookAttempt, WebhookEvent, owner_secret
from shared.job_store import JobStore
from shared.queue import DELIVER_WEBHOOK_TASK
from shared.redis_client import client_for
from shared.settings import Settings
from shared.webhook_outbox import PRIORITY
from worker.webhooks.http_post import Answer, post
from worker.webhooks.key_slots import OwnerSlots

log = logging.getLogger(__name__)
USER_AGENT = "nst-webhooks/1"


class WebhookConsumer:
    """What a webhook consumer process builds once, and its start-up check."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        app.nst_webhooks = self  # the task finds its context here

    def connect(self) -> None:
        signals.worker_init.connect(self.check_secret_or_exit, weak=False)

    def check_secret_or_exit(self, **_: object) -> None:
        """Refuse to start without NST_WEBHOOK_SECRET: every message would fail to sign."""
        if self.settings.webhook_secret is None:
            log.critical("cannot start: NST_WEBHOOK_SECRET is not set; webhooks cannot be signed")
            raise SystemExit(2)

    @cached_property
    def store(self) -> JobStore:
        client = client_for(self.settings, patient=True)
        return JobStore(client, self.settings.key_prefix, self.settings.job_ttl_seconds)

    @cached_property
    def slots(self) -> OwnerSlots:
        """A slot lapses when the attempt holding it can no longer run (its hard time limit)."""
        settings = self.settings
        return OwnerSlots(
            self.store.redis,
            settings.key_prefix,
            settings.webhook_max_in_flight_per_key,
            hold_seconds=attempt_time_limits(settings)[1],
        )

    def secret_for(self, owner: str) -> str:
        assert self.settings.webhook_secret is not None  # checked at start-up
        return owner_secret(self.settings.webhook_secret.get_secret_value(), owner)


def signed_headers(secret: str, message_id: str, body: str, now: float) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, made at that attempt's time."""
    timestamp = datetime.fromtimestamp(int(now), UTC)
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": signature,
    }


def attempt_time_limits(settings: Settings) -> tuple[float, float]:
    """Celery's (soft, hard) limits of one delivery task: backstops above the attempt's own
    deadline (NST_WEBHOOK_TIMEOUT_SECONDS), for what a socket shutdown cannot end."""
    soft = settings.webhook_timeout_seconds + 5
    return soft, soft + 10


@dataclass(frozen=True)
class Again:
    """The message goes back on the queue: attempt number ``attempt`` in ``wait`` seconds."""

    attempt: int
    wait: float


def deliver(
    consumer: WebhookConsumer,
    job_id: str,
    event: WebhookEvent,
    message_id: str,
    body: str,
    attempt: int,
) -> Again | None:
    """Make attempt number ``attempt``; say when to make the next one, or None for no more.

    None also when there is nothing to deliver: the job is gone (expired or deleted), has no
    webhook for this event, or (a progress event) has a later checkpoint since. When the job's
    key has its slots in flight, nothing is attempted and the same attempt comes back shortly.
    """
    try:
        job = consumer.store.get(job_id)
    except JobNotFound:
        log.info("webhook %s dropped: job %s is gone", message_id, job_id)
        return None
    hook = job.webhook
    if hook is None or not hook.wants(event):
        return None
    if event == WebhookEvent.PROGRESS and _superseded(job, message_id):
        return None
    token = consumer.slots.take(job.owner)
    if token is None:  # this key's other deliveries hold its slots: let other keys go first
        return Again(attempt, wait=random.uniform(1.0, 2.0))
    started = time.time()
    try:
        answer = _attempt(consumer, job, message_id, body, started)
    finally:
        consumer.slots.give_back(job.owner, token)
    return _after(consumer, job_id, event, message_id, (attempt, started), answer)


def _superseded(job: Job, message_id: str) -> bool:
    """A progress event whose checkpoint is older than the job's latest recorded one."""
    try:
        iteration = int(message_id.rpartition(".")[2])
    except ValueError:
        return False
    return job.progress is not None and job.progress.iteration > iteration


def _attempt(
    consumer: WebhookConsumer, job: Job, message_id: str, body: str, started: float
) -> Answer:
    assert job.webhook is not None
    settings = consumer.settings
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(consumer.secret_for(job.owner), message_id, body, started),
    }
    return post(
        job.webhook.url,
        body,
        headers,
        settings.webhook_timeout_seconds,
        public_only=not settings.webhook_allow_private,
    )


def _after(
    consumer: WebhookConsumer,
    job_id: str,
    event: WebhookEvent,
    message_id: str,
    attempt_at: tuple[int, float],
    answer: Answer,
) -> Again | None:
    """Record the attempt (saying so when it was the last of a completed event) and decide."""
    settings = consumer.settings
    attempt, started = attempt_at
    delivered = answer.error is None
    retriable = event == WebhookEvent.COMPLETED and not delivered and not answer.final
    gave_up = retriable and attempt >= settings.webhook_max_attempts
    attempts = f"{attempt} attempt{'s' if attempt > 1 else ''}"
    error = f"{answer.error}; gave up after {attempts}" if gave_up else answer.error
    record = WebhookAttempt(
        message_id=message_id,
        event=event,
        attempt=attempt,
        at=started,
        status_code=answer.status_code,
        error=error,
    )
    _record(consumer, job_id, record)
    if gave_up:
        log.warning("webhook %s undelivered after %d attempts: %s", message_id, attempt, error)
    if not retriable or gave_up:
        return None
    wait = backoff_seconds(
        attempt, settings.webhook_retry_delay_seconds, settings.webhook_retry_cap_seconds
    )
    return Again(attempt + 1, wait)


def backoff_seconds(attempt: int, first: float, cap: float) -> float:
    """The wait after failed attempt number ``attempt``: first, 2*first, 4*first, ... up to cap.

    Up to a quarter more at random, so the retries of many jobs whose receiver was down do not
    all arrive in the same second when it comes back.
    """
    return min(first * 2 ** (attempt - 1) * random.uniform(1.0, 1.25), cap)


def _record(consumer: WebhookConsumer, job_id: str, attempt: WebhookAttempt) -> None:
    """Record on the job; a job store that cannot be reached loses the record, not the retry."""
    try:
        consumer.store.record_webhook_attempt(job_id, attempt)
    except JobNotFound:
        pass  # expired or deleted while the attempt ran
    except Exception:
        log.exception("could not record webhook attempt %d of %s", attempt.attempt, job_id)


@shared_task(
    name=DELIVER_WEBHOOK_TASK, bind=True, acks_late=True, ignore_result=True, max_retries=None
)
def deliver_webhook(
    self: Task, job_id: str, event: str, message_id: str, body: str, attempt: int = 1
) -> str:
    """One attempt; another is scheduled with Celery's own retry (a new message, delayed).

    ``deliver`` alone decides when to stop (NST_WEBHOOK_MAX_ATTEMPTS), so Celery's own count is
    off (``max_retries=None``: its default of 3 would end a message early, with a traceback).
    The attempt number travels in the message: a turn given to another key is not an attempt.
    """
    consumer: WebhookConsumer = self.app.nst_webhooks
    kind = WebhookEvent(event)
    again = deliver(consumer, job_id, kind, message_id, body, attempt)
    if again is None:
        return "done"
    raise self.retry(
        args=[job_id, event, message_id, body],
        kwargs={"attempt": again.attempt},
        countdown=again.wait,
        priority=PRIORITY[kind],
    )
