"""Queueing a job opens no result subscription in the API process.

Found from outside (issue 21, failure 6): a submit under benchmarks/scale.py never answered, and
three of the API's Redis connections each held 169 unread bytes whose last command was
``unsubscribe``. That is Celery's Redis result backend: ``send_task`` without
``ignore_result`` subscribes to ``celery-task-meta-<id>`` (83 bytes of reply), and dropping
the AsyncResult unsubscribes from ``__del__`` (86 more), on a pub/sub connection nobody reads,
per greenlet (the backend is thread-local, so greenlet-local under gevent) and from whatever
greenlet or thread the garbage collector runs in. The API never reads a task's result: it must
not subscribe at all.
"""

from __future__ import annotations

import os

import psutil
import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import post_job
from tests.images import content_bytes, style_bytes


def _own_redis_clients(admin: redis.Redis) -> list[dict[str, str]]:
    """CLIENT LIST entries of this process's own connections (matched by local port)."""
    ports = {
        conn.laddr.port
        for conn in psutil.Process(os.getpid()).net_connections(kind="tcp")
        if conn.raddr
    }
    return [c for c in admin.client_list() if int(c["addr"].rsplit(":", 1)[1]) in ports]


def test_submitting_jobs_leaves_no_pubsub_connection_with_unread_replies(
    app: Flask, client: FlaskClient, redis_url: str
) -> None:
    admin = redis.Redis.from_url(redis_url)
    files = [("content", (content_bytes(48), "c.jpg")), ("style", (style_bytes(48), "s.jpg"))]
    for _ in range(3):
        response = post_job(client, files, size=32, iterations=2)
        assert response.status_code == 202, response.get_json()
    pubsub_commands = {"subscribe", "unsubscribe", "ssubscribe", "sunsubscribe"}
    subscribed = [c for c in _own_redis_clients(admin) if c["cmd"] in pubsub_commands]
    assert subscribed == [], f"result subscriptions left by submits: {subscribed}"
