"""The service's configuration, read from the environment in this one place.

`Settings.from_env()` layers the embedded defaults (SQLite and a folder under
`DATA_DIR`) under whatever the environment sets. A value that is present but
malformed raises `ConfigError` naming the variable, so a typo fails at start-up
rather than at the first upload. `CelerySettings.from_env()` reads the Celery
processes' settings (broker, retry budget, beat schedule) for `celeryconfig.py`.
Nothing else reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.config_values import (
    ConfigError,
    boolean,
    integer,
    ipv4_address,
    number,
    port,
    rate,
    secret,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
#: How often a stage is retried after a transient error before it fails for good: the one
#: retry budget of the Celery tasks and of the job rows (`STAGE_MAX_RETRIES` overrides it).
DEFAULT_STAGE_MAX_RETRIES = 6


#: METRICS_TOKEN's value that serves /metrics without a token (an explicit choice).
METRICS_OPEN = "disabled"
MIN_METRICS_TOKEN = 16


def _metrics_token(env: Mapping[str, str]) -> str:
    """METRICS_TOKEN: a bearer token of at least 16 characters, or `disabled` to serve
    /metrics to anyone; unset, /metrics is served to nobody."""
    raw = (env.get("METRICS_TOKEN") or "").strip()
    if raw and raw != METRICS_OPEN and len(raw) < MIN_METRICS_TOKEN:
        raise ConfigError(f"METRICS_TOKEN must have at least {MIN_METRICS_TOKEN} characters")
    return raw


def _data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("DATA_DIR") or PROJECT_ROOT / "var").resolve()


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` forms hosting platforms hand out.

    SQLAlchemy needs the driver named; this project speaks psycopg 3.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ConfigError("DATABASE_URL must be a postgresql:// or sqlite:// URL")


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine: `localhost`, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ai_base_url(env: Mapping[str, str]) -> str:
    """AI_BASE_URL, which receives document text: https, or plain http to loopback only."""
    url = env.get("AI_BASE_URL", "")
    if not url:
        return url
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if host and (scheme == "https" or (scheme == "http" and is_loopback_host(host))):
        return url
    # The URL itself is not echoed: it may carry credentials.
    raise ConfigError(
        "AI_BASE_URL must be an https:// URL (plain http:// only to this machine: "
        "localhost, 127.0.0.0/8 or ::1), since document text is sent to it"
    )


def _ai_settings(env: Mapping[str, str]) -> dict[str, Any]:
    provider = env.get("AI_PROVIDER") or "local"
    if provider not in ("local", "openai"):
        raise ConfigError("AI_PROVIDER must be 'local' or 'openai'")
    settings: dict[str, Any] = {
        "ai_provider": provider,
        "ai_base_url": _ai_base_url(env),
        "ai_api_key": env.get("AI_API_KEY", ""),
        "ai_model": env.get("AI_MODEL", ""),
        "ai_timeout_s": number(env, "AI_TIMEOUT", 120.0, minimum=1.0),
        "ai_prompt_price_per_1k": number(env, "AI_PROMPT_PRICE_PER_1K", 0.0),
        "ai_completion_price_per_1k": number(env, "AI_COMPLETION_PRICE_PER_1K", 0.0),
        "ai_requests_per_minute": integer(env, "AI_REQUESTS_PER_MINUTE", 0),
        "ai_tokens_per_minute": integer(env, "AI_TOKENS_PER_MINUTE", 0),
    }
    if provider == "openai" and not (settings["ai_base_url"] and settings["ai_model"]):
        raise ConfigError("AI_PROVIDER=openai needs AI_BASE_URL and AI_MODEL")
    return settings


@dataclass(frozen=True)
class Settings:
    """Everything the web and worker processes need to know about their surroundings."""

    data_dir: Path
    database_url: str
    # "db" keeps blobs in PostgreSQL (chunked, in the upload's transaction);
    # "file:///path" keeps them in a folder every process can read.
    blob_storage_url: str
    db_pool_size: int = 10  # per process: at least a web process's threads, plus a spare
    # Web processes check a pooled connection that sat idle before use (`app.db`); workers
    # skip the round trip and retry a stage whose connection turns out dead (a transient
    # error).
    db_pre_ping: bool = True
    max_upload_bytes: int = 50 * MIB
    blob_chunk_bytes: int = MIB
    secret_key: str = field(default="", repr=False)
    # How long a running stage may go without a heartbeat before beat reclaims it.
    heartbeat_interval_s: float = 5.0
    stale_after_s: float = 30.0
    # A committed job still unpublished after this long is published by the relay.
    outbox_grace_s: float = 5.0
    # Audit rows are sealed into the hash chain once this old (their transactions are over).
    audit_settle_s: float = 60.0
    # Files no document names any more (left by a crash) are swept once this old.
    orphan_grace_s: float = 3600.0
    # The audit chain's HMAC key, kept outside the database. Unset: required with
    # PostgreSQL; under the embedded default a key file in DATA_DIR (`app.audit.chain_key`).
    audit_hmac_key: str = field(default="", repr=False)
    # Published marks are written together at most this often (0: at once, as tests want).
    publish_mark_interval_s: float = 0.5
    # Security scan limits and the optional ClamAV daemon ("host:port" or a unix socket path).
    max_pdf_pages: int = 500
    max_image_pixels: int = 60_000_000
    # A PDF stream, through each of its filters, may decode to at most this many bytes.
    max_pdf_stream_bytes: int = 256 * MIB
    clamd_address: str | None = None
    # Documents with more pages than this are read in batches of it, in parallel.
    ocr_batch_pages: int = 4
    # The AI lane: "local" (offline rules, the default) or "openai" (any service that
    # speaks the chat-completions API). Limits are per provider, shared by every worker.
    ai_provider: str = "local"
    ai_base_url: str = ""
    ai_api_key: str = field(default="", repr=False)
    ai_model: str = ""
    ai_timeout_s: float = 120.0
    ai_prompt_price_per_1k: float = 0.0
    ai_completion_price_per_1k: float = 0.0
    ai_requests_per_minute: int = 0  # 0: no limit
    ai_tokens_per_minute: int = 0
    # /metrics: callers must present this bearer token; unset, nobody may ask, and
    # METRICS_OPEN ("disabled") serves it to anyone.
    metrics_token: str = field(default="", repr=False)
    # How many proxies in front of the web process set X-Forwarded-For/-Proto (werkzeug's
    # ProxyFix): the client address audited and rate-limited is the one they saw.
    trusted_proxies: int = 0
    # The web app: its session cookie is sent over HTTPS only unless this is off (plain
    # http on a developer's machine); sign-in attempts per client address and email, and
    # failed sign-ins per account and across the service (`app.ratelimit.SignInLimits`).
    session_cookie_secure: bool = True
    session_lifetime_s: int = 12 * 3600
    signin_rate_limit: str = "5 per minute"
    signin_account_limit: str = "10 per 15 minutes"
    signin_global_limit: str = "100 per minute"
    # What one account may start: uploads and reprocesses ("N per minute|hour|day", or
    # "unlimited"), counted in the broker's Redis (`app.quotas`).
    upload_rate_limit: str = "600 per hour"
    reprocess_rate_limit: str = "60 per hour"
    # What one document may cost (`app.pipeline.budget`): its text, the pixels its pages
    # render to, and per run the tokens and estimated dollars of a remote model (0: no cap).
    max_document_characters: int = 2_000_000
    max_document_pixels: int = 5_000_000_000
    max_run_tokens: int = 2_000_000
    max_run_cost_usd: float = 0.0
    testing: bool = False
    # Who runs migrations (the tables' owner); default DATABASE_URL. Row-level security is
    # forced on the owner too, so one URL for both is still protected (revision 0012).
    migrations_database_url: str = ""

    def __post_init__(self) -> None:
        if not self.migrations_database_url:
            object.__setattr__(self, "migrations_database_url", self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = _data_dir(env)
        raw_db = env.get("DATABASE_URL")
        if raw_db:
            database_url = normalise_database_url(raw_db)
        else:
            database_url = f"sqlite:///{data_dir / 'shellfiles.db'}"
        default_storage = (
            "db" if database_url.startswith("postgresql") else "file://" + str(data_dir / "blobs")
        )
        storage = env.get("BLOB_STORAGE_URL") or default_storage
        if storage != "db" and not storage.startswith("file://"):
            raise ConfigError("BLOB_STORAGE_URL must be 'db' or a file:// URL")
        raw_migrations_db = env.get("MIGRATIONS_DATABASE_URL")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            migrations_database_url=(
                normalise_database_url(raw_migrations_db) if raw_migrations_db else database_url
            ),
            blob_storage_url=storage,
            db_pool_size=integer(env, "DB_POOL_SIZE", 10, minimum=1),
            max_upload_bytes=integer(env, "MAX_UPLOAD_BYTES", 50 * MIB, minimum=1),
            blob_chunk_bytes=integer(env, "BLOB_CHUNK_BYTES", MIB, minimum=4096),
            secret_key=env.get("SECRET_KEY", ""),
            heartbeat_interval_s=number(env, "HEARTBEAT_INTERVAL", 5.0, minimum=0.1),
            stale_after_s=number(env, "STALE_AFTER", 30.0, minimum=1.0),
            outbox_grace_s=number(env, "OUTBOX_GRACE", 5.0, minimum=0.0),
            audit_settle_s=number(env, "AUDIT_SETTLE", 60.0, minimum=0.0),
            orphan_grace_s=number(env, "ORPHAN_GRACE", 3600.0, minimum=0.0),
            audit_hmac_key=secret(env, "AUDIT_HMAC_KEY", minimum_length=32),
            publish_mark_interval_s=number(env, "PUBLISH_MARK_INTERVAL", 0.5, minimum=0.0),
            max_pdf_pages=integer(env, "MAX_PDF_PAGES", 500, minimum=1),
            max_image_pixels=integer(env, "MAX_IMAGE_PIXELS", 60_000_000, minimum=1),
            max_pdf_stream_bytes=integer(env, "MAX_PDF_STREAM_BYTES", 256 * MIB, minimum=MIB),
            clamd_address=env.get("CLAMD_ADDRESS") or None,
            ocr_batch_pages=integer(env, "OCR_BATCH_PAGES", 4, minimum=1),
            metrics_token=_metrics_token(env),
            trusted_proxies=integer(env, "TRUSTED_PROXIES", 0),
            # The embedded default serves plain http on this machine; anything else is
            # expected behind TLS.
            session_cookie_secure=boolean(env, "SESSION_COOKIE_SECURE", bool(raw_db)),
            session_lifetime_s=integer(env, "SESSION_LIFETIME", 12 * 3600, minimum=60),
            signin_rate_limit=rate(env, "SIGNIN_RATE_LIMIT", "5 per minute"),
            signin_account_limit=rate(env, "SIGNIN_ACCOUNT_LIMIT", "10 per 15 minutes"),
            signin_global_limit=rate(env, "SIGNIN_GLOBAL_LIMIT", "100 per minute"),
            upload_rate_limit=rate(env, "UPLOAD_RATE_LIMIT", "600 per hour", may_be_unlimited=True),
            reprocess_rate_limit=rate(
                env, "REPROCESS_RATE_LIMIT", "60 per hour", may_be_unlimited=True
            ),
            max_document_characters=integer(env, "MAX_DOCUMENT_CHARACTERS", 2_000_000, minimum=1),
            max_document_pixels=integer(env, "MAX_DOCUMENT_PIXELS", 5_000_000_000, minimum=1),
            max_run_tokens=integer(env, "MAX_RUN_TOKENS", 2_000_000, minimum=1),
            max_run_cost_usd=number(env, "MAX_RUN_COST_USD", 0.0),
            **_ai_settings(env),
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """Return a copy with some fields replaced (used by tests and the launcher)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        overrides = dict(overrides)
        if self.migrations_database_url == self.database_url:  # one URL for both: keep so
            overrides.setdefault("migrations_database_url", overrides.get("database_url", ""))
        return replace(self, **overrides)


@dataclass(frozen=True)
class LauncherSettings:
    """What `python -m app.ops.launcher` (`make run`) reads: where the web app and Flower
    listen, and Flower's sign-in. They listen on loopback unless BIND_ADDRESS says else."""

    bind_address: str = "127.0.0.1"
    web_port: int = 8000
    flower_port: int = 5555
    # "user:password"; empty: the launcher makes one up for the run.
    flower_basic_auth: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LauncherSettings:
        env = os.environ if environ is None else environ
        flower_auth = env.get("FLOWER_BASIC_AUTH", "")
        if flower_auth and ":" not in flower_auth:
            raise ConfigError("FLOWER_BASIC_AUTH must be user:password")
        return cls(
            bind_address=ipv4_address(env, "BIND_ADDRESS", "127.0.0.1"),
            web_port=port(env, "PORT", 8000),
            flower_port=port(env, "FLOWER_PORT", 5555),
            flower_basic_auth=flower_auth,
        )


def embedded_broker_socket(data_dir: Path) -> Path:
    """The unix socket of the Redis the launcher runs when no broker is configured."""
    return data_dir / "redis.sock"


def stage_max_retries(environ: Mapping[str, str] | None = None) -> int:
    """The retry budget of a stage: Celery's `max_retries` for its task (`celeryconfig`)
    and the `max_retries` of its job row (`app.runs.enqueue`), one setting for both."""
    env = os.environ if environ is None else environ
    return integer(env, "STAGE_MAX_RETRIES", DEFAULT_STAGE_MAX_RETRIES)


@dataclass(frozen=True)
class CelerySettings:
    """What the Celery processes read from the environment: `celeryconfig.py`'s values.

    Read when `celeryconfig` is imported, so unlike `Settings` they take no per-app
    overrides; tests set the variables (and reload `celeryconfig`) instead.
    """

    data_dir: Path
    broker_url: str
    # No CELERY_BROKER_URL: the broker is the embedded Redis on a socket in data_dir.
    embedded_broker: bool
    # Every stage's retry schedule: waits of backoff, 2x, 4x... s (capped at 64 s), then
    # final failure after stage_max_retries retries.
    stage_retry_backoff_s: int = 2
    stage_max_retries: int = DEFAULT_STAGE_MAX_RETRIES
    # Beat's schedule: the outbox relay, the reclaim of silent stages, the audit seal.
    outbox_relay_interval_s: float = 2.0
    reclaim_interval_s: float = 10.0
    audit_seal_interval_s: float = 30.0
    orphan_sweep_interval_s: float = 3600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CelerySettings:
        env = os.environ if environ is None else environ
        data_dir = _data_dir(env)
        configured = env.get("CELERY_BROKER_URL") or ""
        return cls(
            data_dir=data_dir,
            broker_url=configured or f"redis+socket://{embedded_broker_socket(data_dir)}",
            embedded_broker=not configured,
            stage_retry_backoff_s=integer(env, "STAGE_RETRY_BACKOFF", 2),
            stage_max_retries=stage_max_retries(env),
            outbox_relay_interval_s=number(env, "OUTBOX_RELAY_INTERVAL", 2.0),
            reclaim_interval_s=number(env, "RECLAIM_INTERVAL", 10.0),
            audit_seal_interval_s=number(env, "AUDIT_SEAL_INTERVAL", 30.0),
            orphan_sweep_interval_s=number(env, "ORPHAN_SWEEP_INTERVAL", 3600.0, minimum=1.0),
        )
