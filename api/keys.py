"""API keys: which owner a bearer token belongs to.

Keys are configured in NST_API_KEYS either as ``sha256:<hex>`` digests (so the
secret need not sit in the configuration) or in plain text, which is hashed at
start-up and never kept. A request's bearer token is hashed and compared in
constant time. The owner id is a prefix of the digest: stable, not secret-revealing.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from contract.errors import ConfigError, Unauthorized
from shared.settings import Settings

ANONYMOUS = "anonymous"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    enabled: bool
    digests: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """Refuse to start with auth on and no keys: open access must be asked for."""
        if settings.auth == "off":
            return cls(enabled=False, digests=())
        if not settings.api_keys:
            raise ConfigError("NST_API_KEYS is empty: set keys, or NST_AUTH=off for open local use")
        digests = tuple(
            k.removeprefix("sha256:").lower() if k.startswith("sha256:") else key_digest(k)
            for k in settings.api_keys
        )
        return cls(enabled=True, digests=digests)

    def owner_for(self, authorization: str | None) -> str:
        """Map an Authorization header to an owner id, or raise Unauthorized."""
        if not self.enabled:
            return ANONYMOUS
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        digest = key_digest(token.strip())
        if not any(hmac.compare_digest(digest, known) for known in self.digests):
            raise Unauthorized("the API key is not valid")
        return digest[:16]
