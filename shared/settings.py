"""Process configuration: every ``NST_*`` variable, read and validated once.

Entry points (the API factory, the Celery app, the CLI) call ``load_settings()``
and pass the result down; nothing below them reads ``os.environ``. pydantic-settings
does the parsing so that a bad value stops the process at start with a message
that names the variable, instead of failing in the middle of a job.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigError

ENV_PREFIX = "NST_"


class Settings(BaseSettings):
    """Validated configuration; see README "Configuration" for what each setting does."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    redis_url: str = "redis://localhost:6379/0"
    key_prefix: str = Field(default="nst", pattern=r"^[A-Za-z0-9_.:-]+$")
    storage_url: str = "file://./.run/storage"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    storage_retries: int = Field(default=5, ge=0, le=20)
    presign_expiry_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)

    vgg19_weights: str = "imagenet"
    max_size: int = Field(default=1024, ge=16, le=8192)
    max_pixels: int = Field(default=40_000_000, ge=1024)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_style_images: int = Field(default=4, ge=1, le=16)
    max_iterations: int = Field(default=2000, ge=1)
    checkpoint_every: int = Field(default=25, ge=1)
    # XLA for the TensorFlow step: 10 % faster on one 2-core CPU, 2-5 % slower on another
    # (benchmarks/README.md), so it is the operator's measured choice, off unless asked for.
    xla: Literal["on", "off"] = "off"

    auth: Literal["on", "off"] = "on"
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    max_active_jobs_per_key: int = Field(default=10, ge=1)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)

    queue: str = Field(default="nst-gpu", pattern=r"^[A-Za-z0-9_.-]+$")
    job_time_limit_seconds: int = Field(default=3600, ge=10)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    stale_after_seconds: float = Field(default=120.0, gt=0)
    max_redeliveries: int = Field(default=3, ge=0)
    job_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    worker_metrics_port: int = Field(default=9808, ge=0, le=65535)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """Accept a comma-separated list, the only shape an environment variable can carry."""
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("storage_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("s3://", "file://")):
            raise ValueError("must start with s3:// or file://")
        return value

    @property
    def visibility_timeout_seconds(self) -> int:
        """Redis redelivery delay: above the hard limit so a live job is never run twice."""
        return self.job_time_limit_seconds + 600


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; raise ConfigError naming the variable on any bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
