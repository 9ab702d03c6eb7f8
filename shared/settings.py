"""Process configuration: every ``NST_*`` variable, read and validated once.

Entry points (the API factory, the Celery app, the CLI) call ``load_settings()``
and pass the result down; nothing below them reads ``os.environ``. pydantic-settings
does the parsing so that a bad value stops the process at start with a message
that names the variable, instead of failing in the middle of a job.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.errors import ConfigError
from contract.params import JobParams, Limits

ENV_PREFIX = "NST_"
DEFAULT_LIMITS = Limits()  # the job limits' defaults are the contract's, written there once


class Settings(BaseSettings):
    """Validated configuration; see README "Configuration" for what each setting does."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    redis_url: str = "redis://localhost:6379/0"
    key_prefix: str = Field(default="nst", pattern=r"^[A-Za-z0-9_.:-]+$")
    storage_url: str = "file://./.run/storage"
    s3_endpoint_url: str | None = None
    # Where clients (CLI, browser, scripts) reach the same store, when not at s3_endpoint_url:
    # presigned result and preview URLs are signed for this host (a signature covers the Host
    # header), e.g. http://localhost:9000 while the services use http://minio:9000.
    s3_public_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # How long a worker keeps retrying object storage before it hands its job back to the queue.
    storage_retry_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Then the job waits this long (doubling each time, up to 10 min) and tries again, this often.
    outage_retry_delay_seconds: float = Field(default=15.0, ge=0)
    max_outage_retries: int = Field(default=20, ge=0)
    presign_expiry_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)

    vgg19_weights: str = "imagenet"
    max_size: int = Field(default=DEFAULT_LIMITS.max_size, ge=16, le=8192)
    max_pixels: int = Field(default=40_000_000, ge=1024)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_style_images: int = Field(default=DEFAULT_LIMITS.max_style_images, ge=1, le=16)
    max_iterations: int = Field(default=DEFAULT_LIMITS.max_iterations, ge=1)
    # Progress (and a preview) this often, resumable state this often, by time on any hardware
    # (worker/nst/optimizers/cadence.py); NST_CHECKPOINT_EVERY saves state every N iterations
    # instead.
    progress_seconds: float = Field(default=2.0, gt=0, le=60)
    checkpoint_seconds: float = Field(default=30.0, gt=0)
    checkpoint_every: int | None = Field(default=None, ge=1)
    # A pool process above this resident size is replaced after its job (0 = never): each new
    # image shape leaves compiled graphs behind (benchmarks/README.md, "Worker memory soak").
    worker_max_memory_mb: int = Field(default=4096, ge=0)
    # Compiled steps an engine keeps (one per layer set and image shape), least recently used
    # dropped first.
    compiled_steps: int = Field(default=8, ge=1, le=256)
    # Pad the optimized image to multiples of this many pixels so nearby shapes share a compiled
    # step (0: exact shapes). Measured in benchmarks/README.md ("Shape buckets").
    shape_bucket: int = Field(default=32, ge=0, le=256)
    # Compile these (width x height) shapes at worker start, e.g. "512x384,384x512" (the
    # default job parameters): the first jobs of those shapes then compile nothing.
    warmup_sizes: Annotated[tuple[str, ...], NoDecode] = ()
    # The memory one job may use, MiB (unset: what the GPU or host has free). Set it when
    # several worker processes share a GPU (NST_WORKER_CONCURRENCY > 1).
    job_memory_limit_mb: float | None = Field(default=None, gt=0)
    # Jobs one worker runs at once, each in its own pool process with its own model.
    worker_concurrency: int = Field(default=1, ge=1, le=16)
    # JAX only: keep compiled programs here across worker restarts (a volume in compose/k8s).
    jax_cache_dir: str | None = None
    # XLA for the TensorFlow step: 10 % faster on one 2-core CPU, 2-5 % slower on another
    # (benchmarks/README.md), so it is the operator's measured choice, off unless asked for.
    xla: Literal["on", "off"] = "off"
    # What VGG19's convolutions run in (worker/nst/precision.py): "auto" times float32 and
    # bfloat16 at start and takes bfloat16 only if it is clearly faster. Never changes a job's
    # parameters; each job records the precision that made it (timing.precision). float32 by
    # default: no start-up measurement, and the same precision on every machine.
    precision: Literal["auto", "float32", "bfloat16"] = "float32"

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
    # A finished job's images (inputs, previews, state, result) are deleted this many seconds
    # after it ends (NST_RESULT_TTL); its record stays for NST_JOB_TTL_SECONDS.
    result_ttl: int = Field(default=7 * 24 * 3600, ge=0)

    worker_metrics_port: int = Field(default=9808, ge=0, le=65535)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    # gunicorn (api/gunicorn_conf.py): processes, connections each, and how long a client may
    # take to send its headers and its body before it is cut off.
    api_workers: int = Field(default=2, ge=1, le=64)
    api_worker_connections: int = Field(default=1000, ge=10)
    api_header_timeout_seconds: int = Field(default=10, ge=1)
    api_body_timeout_seconds: float = Field(default=60.0, gt=0)
    # Every request is answered within this (503 ``server_timeout``, and the log says where it
    # waited); above the body's time, since it counts from the first byte. Event streams are
    # bounded by their own loop, not this. A long poll waits at most half of it.
    api_request_timeout_seconds: float = Field(default=120.0, gt=0)
    # Open event streams plus Prefer: wait polls one key may hold across all API processes (429
    # past it). Size it so one key cannot take the connections others need: well below
    # NST_API_WORKERS x NST_API_WORKER_CONNECTIONS (README, "Configuration").
    max_streams_per_key: int = Field(default=100, ge=1)
    # The scheme, host and path prefix clients reach the API at (https://nst.example.com): the
    # base of every link the API writes. Unset: the request's own Host, for local use only.
    public_base_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    # Built-in styles (shared/presets.py): a folder of paintings, and which of them to offer.
    presets_dir: str | None = None
    presets: Annotated[tuple[str, ...], NoDecode] = ()
    # An idle event stream gets a comment line this often (proxies, dead clients).
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)

    # -- Scale-out and broker failover (deploy/README.md, "Redis Sentinel"; benchmarks/scale.py)
    # The engine a worker runs: the real VGG19 one, or "package.module:factory", a function of
    # these settings that returns an engine (worker/lifecycle.py), e.g. the benchmarks' simulated
    # engine, benchmarks.simulated_engine:from_settings (sleeps the modelled H100 time, writes
    # real objects). Never a default, and create_app refuses any other, so a config shared by API
    # and workers cannot ship one by mistake.
    engine: str = Field(default="vgg19", pattern=r"^(vgg19|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
    # Bytes of each simulated checkpoint state; unset = what the real engine writes at that size.
    simulated_state_bytes: int | None = Field(default=None, ge=0, le=2**31)
    # With NST_REDIS_URL = "sentinel://host1:26379/0;sentinel://host2:26379/0": the name the
    # sentinels monitor the primary under, and the sentinels' own password if they require one
    # (the primary's password goes in the URL, as kombu reads it).
    redis_sentinel_master: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]+$", validate_default=True
    )
    redis_sentinel_password: SecretStr | None = None
    # A worker whose broker stays unreachable this long exits non-zero so its orchestrator
    # restarts it; above a Sentinel failover (~10 s), below NST_STALE_AFTER_SECONDS so the
    # worker is gone before the sweeper hands its job to another.
    broker_lost_exit_seconds: float = Field(default=60.0, ge=5)

    # -- Webhooks (README "Webhooks"). Per-key signing secrets are derived from webhook_secret;
    # unset, webhooks are off. Deliveries are Celery tasks on their own queue, consumed by a
    # cheap CPU worker (worker.webhooks.consumer), so a GPU worker never waits on a receiver.
    webhook_secret: SecretStr | None = Field(default=None, min_length=32)
    webhook_queue: str = Field(default="nst-webhooks", pattern=r"^[A-Za-z0-9_.-]+$")
    # Attempts per completed event (progress events get one: the next checkpoint supersedes it).
    webhook_max_attempts: int = Field(default=8, ge=1, le=20)
    # The first retry waits this long, each next one twice as long, up to the cap (kept below
    # the broker's visibility timeout, or Redis would redeliver a waiting retry early).
    webhook_retry_delay_seconds: float = Field(default=10.0, ge=0)
    webhook_max_retry_delay_seconds: float = Field(default=3600.0, gt=0)
    # One attempt, whole: connect, send, and the receiver's answer (a deadline, not per read).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Attempts of one key's jobs in flight at once, across all consumers: one key's slow
    # receiver can hold this many consumer processes, never all of them.
    webhook_max_in_flight_per_key: int = Field(default=2, ge=1)
    # Local development and tests only: let webhooks reach private and loopback addresses.
    webhook_allow_private: bool = False

    @field_validator("api_keys", "presets", "warmup_sizes", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """Accept a comma-separated list, the only shape an environment variable can carry."""
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("warmup_sizes")
    @classmethod
    def _sizes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for size in value:
            width, _, height = size.partition("x")
            if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
                raise ValueError(f"{size!r} is not WIDTHxHEIGHT")
        return value

    @field_validator("api_request_timeout_seconds")
    @classmethod
    def _answer_after_the_body(cls, value: float, info: ValidationInfo) -> float:
        """The request deadline counts from the first byte, so it must outlast the body's."""
        body = info.data.get("api_body_timeout_seconds")
        if body is not None and value <= body:
            raise ValueError(f"must exceed NST_API_BODY_TIMEOUT_SECONDS ({body:g})")
        return value

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _empty_base_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("storage_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("s3://", "file://")):
            raise ValueError("must start with s3:// or file://")
        return value

    @field_validator("redis_sentinel_master", mode="before")
    @classmethod
    def _empty_master_is_unset(cls, value: object) -> object:
        """docker-compose passes an unset variable on as "": that means no master name."""
        return None if value == "" else value

    @field_validator("redis_sentinel_master")
    @classmethod
    def _master_with_sentinel_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A sentinel:// URL cannot name the primary; a master name without one is a mistake."""
        sentinel = str(info.data.get("redis_url", "")).startswith("sentinel://")
        if sentinel and not value:
            raise ValueError("required when NST_REDIS_URL is a sentinel:// URL")
        if value and not sentinel:
            raise ValueError("set only with a sentinel:// NST_REDIS_URL")
        return value

    @property
    def limits(self) -> Limits:
        """The bounds every entry point checks a new job against."""
        return Limits(self.max_size, self.max_iterations, self.max_style_images)

    def checkpoint_interval(self, params: JobParams) -> int | None:
        """Iterations between state saves: the job's ``checkpoint_every``, else the setting;
        None saves by time (``checkpoint_seconds``)."""
        return params.checkpoint_every or self.checkpoint_every

    @property
    def visibility_timeout_seconds(self) -> int:
        """Redis redelivery delay: above the hard limit so a live job is never run twice."""
        return self.job_time_limit_seconds + 600

    @property
    def webhook_retry_cap_seconds(self) -> float:
        """The longest wait before a webhook retry: the setting, kept a minute below the
        visibility timeout (Redis would hand a retry waiting longer to a second consumer)."""
        return min(self.webhook_max_retry_delay_seconds, self.visibility_timeout_seconds - 60)


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
