"""Deliver webhook messages: sign, POST, record the attempt on the job, retry with backoff.

Runs in its own cheap consumer of the webhook queue (``worker/webhook_main.py``: no engine, no
GPU), never in a GPU worker. Each attempt is signed afresh as the Standard Webhooks
specification says (the timestamp is the attempt's), with the specification's own library and
the job owner's secret, and recorded on the job whatever came of it. A ``completed`` event is
retried after 1, 2, 4, ... times NST_WEBHOOK_RETRY_DELAY_SECONDS until it is delivered or
NST_WEBHOOK_MAX_ATTEMPTS are spent; a ``progress`` event is tried once, as the next checkpoint's
event supersedes it. A target refused by the address policy is not retried.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime
from functools import cached_property

from celery import Celery, Task, shared_task, signals
from standardwebhooks import Webhook

from shared.errors import JobNotFound
from shared.job_store import JobStore
from shared.queue import DELIVER_WEBHOOK_TASK
from shared.redis_client import client_for
from shared.settings import Settings
from shared.webhooks import WebhookAttempt, WebhookEvent, owner_secret
from worker.webhook_http import post

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


def deliver(
    consumer: WebhookConsumer, job_id: str, event: WebhookEvent, message_id: str, body: str,
    attempt: int,
) -> float | None:  # fmt: skip
    """Make attempt number ``attempt``; return the seconds to wait before the next, or None.

    None also when there is nothing to deliver: the job is gone (expired or deleted) or has no
    webhook for this event.
    """
    try:
        job = consumer.store.get(job_id)
    except JobNotFound:
        log.info("webhook %s dropped: job %s is gone", message_id, job_id)
        return None
    hook = job.webhook
    if hook is None or not hook.wants(event):
        return None
    settings = consumer.settings
    started = time.time()
    headers = {
        "content-type": "application/json", "user-agent": USER_AGENT,
        **signed_headers(consumer.secret_for(job.owner), message_id, body, started),
    }  # fmt: skip
    answer = post(
        hook.url, body, headers, settings.webhook_timeout_seconds,
        public_only=not settings.webhook_allow_private,
    )  # fmt: skip
    record = WebhookAttempt(
        message_id=message_id, event=event, attempt=attempt, at=started,
        status_code=answer.status_code, error=answer.error,
    )  # fmt: skip
    _record(consumer, job_id, record)
    if record.delivered or answer.final or event == WebhookEvent.PROGRESS:
        return None
    if attempt >= settings.webhook_max_attempts:
        log.warning(
            "webhook %s undelivered after %d attempts: %s", message_id, attempt, answer.error
        )
        return None
    return backoff_seconds(
        attempt, settings.webhook_retry_delay_seconds, settings.webhook_retry_cap_seconds
    )


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


@shared_task(name=DELIVER_WEBHOOK_TASK, bind=True, acks_late=True, ignore_result=True)
def deliver_webhook(self: Task, job_id: str, event: str, message_id: str, body: str) -> str:
    """One attempt; another is scheduled with Celery's own retry (a new message, delayed)."""
    consumer: WebhookConsumer = self.app.nst_webhooks
    attempt = self.request.retries + 1
    wait = deliver(consumer, job_id, WebhookEvent(event), message_id, body, attempt)
    if wait is not None:
        raise self.retry(countdown=wait, max_retries=None)
    return "done"
