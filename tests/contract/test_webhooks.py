"""Webhook subscriptions, per-key secrets, the address policy, and attempts on the job record."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from contract.errors import InvalidParams
from contract.webhooks import (
    MAX_RECORDED_ATTEMPTS,
    JobWebhook,
    WebhookAttempt,
    WebhookEvent,
    WebhookTargetRefused,
    check_target,
    is_public_address,
    owner_secret,
    parse_webhook,
    public_addresses,
)

SERVER_SECRET = "s" * 40


def resolver(*addresses: str) -> Any:
    """A resolver answering with fixed addresses, as getaddrinfo would."""

    def resolve(host: str, port: int, **_: object) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.251",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "2002:a00:1::",
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
    ],
)
def test_non_global_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_a_name_with_one_private_record_among_public_ones_is_refused() -> None:
    """Otherwise the connection could be made to land on the private one."""
    with pytest.raises(WebhookTargetRefused):
        public_addresses("hooks.example", 443, resolver("93.184.215.14", "10.0.0.7"))
    assert public_addresses("hooks.example", 443, resolver("93.184.215.14")) == ["93.184.215.14"]


def test_localhost_is_refused_after_real_resolution() -> None:
    with pytest.raises(WebhookTargetRefused) as refused:
        check_target(parse_webhook("http://localhost:8080/hook", None))
    assert refused.value.field == "webhook_url"
    assert "127.0.0.1" not in refused.value.message  # no resolver answers in messages


def test_an_unresolvable_name_is_refused_like_a_private_one() -> None:
    """The same message either way, so a caller cannot map which internal names exist."""
    with pytest.raises(WebhookTargetRefused) as unresolvable:
        check_target(parse_webhook("https://no-such-host.invalid/", None))
    with pytest.raises(WebhookTargetRefused) as private:
        check_target(parse_webhook("https://10.0.0.1/", None))
    assert unresolvable.value.message == private.value.message


def test_events_default_to_completed_and_are_parsed_from_a_list() -> None:
    assert parse_webhook(None, None) is None
    assert parse_webhook("https://h.example/x", None).events == (WebhookEvent.COMPLETED,)
    spec = parse_webhook("HTTPS://H.example:8443/x?y=1", " completed , progress ")
    assert spec is not None
    assert spec.events == (WebhookEvent.PROGRESS, WebhookEvent.COMPLETED)
    assert spec.url == "https://h.example:8443/x?y=1"  # stored as the delivery will parse it


@pytest.mark.parametrize(
    ("url", "events", "field"),
    [
        ("ftp://h.example/", None, "webhook_url"),
        ("file:///etc/passwd", None, "webhook_url"),
        ("h.example/hook", None, "webhook_url"),
        ("https://user:pw@h.example/", None, "webhook_url"),
        ("https://h.example\\@10.0.0.1/", None, "webhook_url"),
        ("https://h.example/a b", None, "webhook_url"),
        ("https://h.example:0/", None, "webhook_url"),
        ("https://h.example/" + "a" * 2048, None, "webhook_url"),
        ("https://h.example/" + "é" * 1000, None, "webhook_url"),  # 6000 once percent-encoded
        ("", None, "webhook_url"),
        (None, "completed", "webhook_url"),
        ("https://h.example/", "finished", "webhook_events"),
        ("https://h.example/", " , ", "webhook_events"),
    ],
)
def test_bad_webhook_fields_are_refused_naming_the_field(
    url: str | None, events: str | None, field: str
) -> None:
    with pytest.raises(InvalidParams) as refused:
        parse_webhook(url, events)
    assert refused.value.field == field


def test_each_owner_has_a_stable_secret_of_its_own() -> None:
    alice = owner_secret(SERVER_SECRET, "alice")
    assert alice == owner_secret(SERVER_SECRET, "alice")
    assert alice.startswith("whsec_") and len(alice) == len("whsec_") + 44  # 32 bytes, base64
    assert alice != owner_secret(SERVER_SECRET, "bob")
    assert alice != owner_secret("t" * 40, "alice")


def attempt(event: WebhookEvent, number: int = 1) -> WebhookAttempt:
    return WebhookAttempt(message_id="m", event=event, attempt=number, at=0.0, status_code=500)


def test_recorded_attempts_are_bounded_by_dropping_old_progress_ones() -> None:
    hook = JobWebhook(url="https://h.example/", events=tuple(WebhookEvent))
    hook.record(attempt(WebhookEvent.COMPLETED))
    for _ in range(MAX_RECORDED_ATTEMPTS + 10):
        hook.record(attempt(WebhookEvent.PROGRESS))
    assert len(hook.attempts) == MAX_RECORDED_ATTEMPTS
    assert hook.attempts[0].event == WebhookEvent.COMPLETED  # completed attempts are all kept
