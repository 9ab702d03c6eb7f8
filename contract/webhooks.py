"""Webhooks: what a job subscribes to, each key's signing secret, and where a delivery may go.

Deliveries are signed as the Standard Webhooks specification (standardwebhooks.com) says, by
the worker (``worker/webhooks/delivery.py``) with the specification's own library. Each API key
gets its own ``whsec_`` secret, derived here from the server's ``NST_WEBHOOK_SECRET`` and the
key's owner id: no key database is needed, and a key's secret changes when the key does.

The address policy is here too, so the API (at submit) and the delivery (at connect time, as
DNS can change between the two) apply the same one: a webhook may only reach globally routable
addresses, which keeps the service from being used to reach its own network (SSRF). This module
imports no Celery, Flask or signing library: the job record (``contract.jobs``) holds its models,
and the client-only install reads job records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from contract.errors import InvalidParams

URL_FIELD, EVENTS_FIELD = "webhook_url", "webhook_events"
WEBHOOK_FIELDS = (URL_FIELD, EVENTS_FIELD)
MAX_URL_LENGTH = 2048
MAX_RECORDED_ATTEMPTS = 60  # per job; see JobWebhook.record
SECRET_PREFIX = "whsec_"
# Where a resolver's answer comes from; tests pass their own, the service uses the system's.
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses behind a NAT64 gateway
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use only


class WebhookEvent(StrEnum):
    """What a job can notify: each checkpoint, and its end (succeeded, failed or cancelled)."""

    PROGRESS = "progress"
    COMPLETED = "completed"

    @property
    def type(self) -> str:
        """The payload's ``type``: dotted, as the specification recommends."""
        return f"job.{self.value}"


class WebhookSpec(BaseModel):
    """A job's subscription, as accepted at submit: a normalised URL and its events."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(max_length=MAX_URL_LENGTH)
    events: tuple[WebhookEvent, ...] = (WebhookEvent.COMPLETED,)

    def wants(self, event: WebhookEvent) -> bool:
        return event in self.events


class WebhookAttempt(BaseModel):
    """One delivery attempt as recorded on the job: what was sent, when, and what came back."""

    model_config = ConfigDict(frozen=True)

    message_id: str  # the webhook-id header: the same for every attempt of one message
    event: WebhookEvent
    attempt: int = Field(ge=1)
    at: float  # when the attempt started (Unix seconds)
    status_code: int | None = None  # the receiver's answer; None when there was none
    error: str | None = None  # why it did not count as delivered, in words

    @property
    def delivered(self) -> bool:
        """The specification's success: any 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


class JobWebhook(WebhookSpec):
    """A job's subscription and its delivery attempts so far, oldest first (the job record's)."""

    model_config = ConfigDict(frozen=False)

    attempts: list[WebhookAttempt] = Field(default_factory=list)

    def record(self, attempt: WebhookAttempt) -> None:
        """Append an attempt; past MAX_RECORDED_ATTEMPTS the oldest progress attempts go.

        Completed events have at most NST_WEBHOOK_MAX_ATTEMPTS (<= 20) attempts, so they are
        always all there; progress attempts, one per checkpoint, would grow without bound.
        """
        self.attempts.append(attempt)
        while len(self.attempts) > MAX_RECORDED_ATTEMPTS:
            oldest = next(
                (a for a in self.attempts if a.event == WebhookEvent.PROGRESS), self.attempts[0]
            )
            self.attempts.remove(oldest)


class WebhookSecret(BaseModel):
    """``GET /v1/webhook-secret``: the caller's signing secret, and how deliveries are signed."""

    model_config = ConfigDict(frozen=True)

    secret: str = Field(
        description="whsec_ + base64: verify deliveries with it.", examples=["whsec_…"]
    )
    scheme: str = Field(
        description="How deliveries are signed.", examples=["Standard Webhooks v1 (HMAC-SHA256)"]
    )
    events: list[WebhookEvent] = Field(description="The events a job can subscribe to.")


class WebhookTargetRefused(InvalidParams):
    """The webhook URL does not resolve to public addresses only (the SSRF guard).

    An InvalidParams on ``webhook_url`` at submit (400); at delivery, an attempt that is not
    retried. The message never says what the name resolved to: that would let a caller map the
    service's internal DNS.
    """

    def __init__(self) -> None:
        super().__init__(
            "webhook_url must resolve, from this service, to public internet addresses only "
            "(not private, loopback, link-local or otherwise reserved ones)",
            field=URL_FIELD,
        )


# -- the submit fields ---------------------------------------------------------------------------
def parse_webhook(url: str | None, events: str | None) -> WebhookSpec | None:
    """Validate the optional submit fields; None when neither is given.

    ``events`` is comma-separated (``progress``, ``completed``; default ``completed``). The URL
    is stored as urllib3 normalises it, the parser the delivery uses, so that what was checked
    is what is called. Raises InvalidParams naming the field.
    """
    if url is None and events is None:
        return None
    if url is None:
        raise InvalidParams("webhook_events needs a webhook_url", field=URL_FIELD)
    return WebhookSpec(url=_normalised_url(url), events=_events(events))


def _normalised_url(url: str) -> str:
    if not url:
        raise InvalidParams("webhook_url is empty", field=URL_FIELD)
    if len(url) > MAX_URL_LENGTH:
        raise InvalidParams(
            f"webhook_url is longer than {MAX_URL_LENGTH} characters", field=URL_FIELD
        )
    if any(ord(char) <= 0x20 or char in "\\\x7f" for char in url):
        raise InvalidParams("webhook_url holds spaces, control characters or '\\'", URL_FIELD)
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise InvalidParams("webhook_url is not a URL", field=URL_FIELD) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidParams("webhook_url must be an http:// or https:// URL", field=URL_FIELD)
    if parsed.auth:  # parsers disagree on '@' tricks; the signature is the authentication
        raise InvalidParams("webhook_url must not carry a user name or password", URL_FIELD)
    if parsed.port == 0:
        raise InvalidParams("webhook_url has port 0", field=URL_FIELD)
    normalised = str(parsed.url)  # percent-encoding can make it longer than what was sent
    if len(normalised) > MAX_URL_LENGTH:
        raise InvalidParams(
            f"webhook_url is longer than {MAX_URL_LENGTH} characters", field=URL_FIELD
        )
    return normalised


def _events(raw: str | None) -> tuple[WebhookEvent, ...]:
    if raw is None:
        return (WebhookEvent.COMPLETED,)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    known = ", ".join(event.value for event in WebhookEvent)
    if not names:
        raise InvalidParams(f"webhook_events must name at least one of {known}", EVENTS_FIELD)
    unknown = [name for name in names if name not in WebhookEvent._value2member_map_]
    if unknown:
        raise InvalidParams(
            f"webhook_events: unknown event {unknown[0]!r}; choose from {known}", EVENTS_FIELD
        )
    return tuple(event for event in WebhookEvent if event.value in names)


# -- signing -----------------------------------------------------------------------------------
def owner_secret(server_secret: str, owner: str) -> str:
    """The ``whsec_`` secret of one API key's owner: HMAC-SHA256(server secret, owner id).

    Stable for as long as the server secret and the key are, so receivers can keep it; one
    owner's secret says nothing about another's.
    """
    digest = hmac.new(server_secret.encode(), f"nst-webhook:{owner}".encode(), hashlib.sha256)
    return SECRET_PREFIX + base64.b64encode(digest.digest()).decode()


# -- where a delivery may go ---------------------------------------------------------------------
def is_public_address(address: IPAddress) -> bool:
    """True for globally routable unicast addresses only (``ipaddress``'s ``is_global``).

    IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged by that
    address too: ``::ffff:127.0.0.1`` and ``2002:7f00:1::`` are loopback in disguise, and Python
    calls the latter global. Multicast is refused although part of it counts as global.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address (the server's is public by design)
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def public_addresses(host: str, port: int, resolve: Resolver | None = None) -> list[str]:
    """Resolve host and return its addresses if every one is public; else WebhookTargetRefused.

    Every answer must pass, not just one: a name with a public and a private record would
    otherwise let the connection land on the private one. Unresolvable names are refused with
    the same message as private ones, so the answer does not reveal which internal names exist.
    """
    resolve = resolve or socket.getaddrinfo  # looked up now: gevent may have patched it since
    try:
        answers = resolve(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookTargetRefused() from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in answers))
    if not addresses or not all(is_public_address(ipaddress.ip_address(a)) for a in addresses):
        raise WebhookTargetRefused()
    return addresses


def check_target(spec: WebhookSpec, resolve: Resolver | None = None) -> None:
    """Refuse, at submit, a webhook whose host does not resolve to public addresses only."""
    parsed = parse_url(spec.url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    public_addresses(str(parsed.host), port, resolve)
