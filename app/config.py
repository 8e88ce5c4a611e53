"""The service's configuration, read from the environment in this one place.

`Settings.from_env()` layers the embedded defaults (SQLite and a folder under
`DATA_DIR`) under whatever the environment sets. A value that is present but
malformed raises `ConfigError` naming the variable, so a typo fails at start-up
rather than at the first upload. `CelerySettings.from_env()` reads the Celery
processes' settings (broker, retry budget, beat schedule) for `celeryconfig.py`.
Nothing else reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
#: How often a stage is retried after a transient error before it fails for good: the one
#: retry budget of the Celery tasks and of the job rows (`STAGE_MAX_RETRIES` overrides it).
DEFAULT_STAGE_MAX_RETRIES = 6


class ConfigError(ValueError):
    """A configuration variable is missing or malformed."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _secret(env: Mapping[str, str], name: str, *, minimum_length: int) -> str:
    raw = env.get(name) or ""
    if raw and len(raw) < minimum_length:
        raise ConfigError(f"{name} must be at least {minimum_length} characters long")
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


def _ai_settings(env: Mapping[str, str]) -> dict[str, Any]:
    provider = env.get("AI_PROVIDER") or "local"
    if provider not in ("local", "openai"):
        raise ConfigError("AI_PROVIDER must be 'local' or 'openai'")
    settings: dict[str, Any] = {
        "ai_provider": provider,
        "ai_base_url": env.get("AI_BASE_URL", ""),
        "ai_api_key": env.get("AI_API_KEY", ""),
        "ai_model": env.get("AI_MODEL", ""),
        "ai_timeout_s": _float(env, "AI_TIMEOUT", 120.0, minimum=1.0),
        "ai_prompt_price_per_1k": _float(env, "AI_PROMPT_PRICE_PER_1K", 0.0),
        "ai_completion_price_per_1k": _float(env, "AI_COMPLETION_PRICE_PER_1K", 0.0),
        "ai_requests_per_minute": _int(env, "AI_REQUESTS_PER_MINUTE", 0),
        "ai_tokens_per_minute": _int(env, "AI_TOKENS_PER_MINUTE", 0),
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
    # The audit chain's HMAC key, kept outside the database. Unset: required with
    # PostgreSQL; under the embedded default a key file in DATA_DIR (`app.audit.chain_key`).
    audit_hmac_key: str = field(default="", repr=False)
    # Published marks are written together at most this often (0: at once, as tests want).
    publish_mark_interval_s: float = 0.5
    # Security scan limits and the optional ClamAV daemon ("host:port" or a unix socket path).
    max_pdf_pages: int = 500
    max_image_pixels: int = 60_000_000
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
    # /metrics: with a token, callers must present it; without one, only loopback may ask.
    metrics_token: str = field(default="", repr=False)
    # The web app: its session cookie is sent over HTTPS only unless this is off (plain
    # http on a developer's machine); sign-in attempts per client address and email.
    session_cookie_secure: bool = True
    session_lifetime_s: int = 12 * 3600
    signin_rate_limit: str = "5 per minute"
    testing: bool = False
    # Who runs migrations (the tables' owner); default DATABASE_URL. Row-level security is
    # forced on the owner too, so one URL for both is still protected (revision 0011).
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
            db_pool_size=_int(env, "DB_POOL_SIZE", 10, minimum=1),
            max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 50 * MIB, minimum=1),
            blob_chunk_bytes=_int(env, "BLOB_CHUNK_BYTES", MIB, minimum=4096),
            secret_key=env.get("SECRET_KEY", ""),
            heartbeat_interval_s=_float(env, "HEARTBEAT_INTERVAL", 5.0, minimum=0.1),
            stale_after_s=_float(env, "STALE_AFTER", 30.0, minimum=1.0),
            outbox_grace_s=_float(env, "OUTBOX_GRACE", 5.0, minimum=0.0),
            audit_settle_s=_float(env, "AUDIT_SETTLE", 60.0, minimum=0.0),
            audit_hmac_key=_secret(env, "AUDIT_HMAC_KEY", minimum_length=32),
            publish_mark_interval_s=_float(env, "PUBLISH_MARK_INTERVAL", 0.5, minimum=0.0),
            max_pdf_pages=_int(env, "MAX_PDF_PAGES", 500, minimum=1),
            max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", 60_000_000, minimum=1),
            clamd_address=env.get("CLAMD_ADDRESS") or None,
            ocr_batch_pages=_int(env, "OCR_BATCH_PAGES", 4, minimum=1),
            metrics_token=env.get("METRICS_TOKEN", ""),
            # The embedded default serves plain http on this machine; anything else is
            # expected behind TLS.
            session_cookie_secure=_bool(env, "SESSION_COOKIE_SECURE", bool(raw_db)),
            session_lifetime_s=_int(env, "SESSION_LIFETIME", 12 * 3600, minimum=60),
            signin_rate_limit=env.get("SIGNIN_RATE_LIMIT") or "5 per minute",
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


def embedded_broker_socket(data_dir: Path) -> Path:
    """The unix socket of the Redis the launcher runs when no broker is configured."""
    return data_dir / "redis.sock"


def stage_max_retries(environ: Mapping[str, str] | None = None) -> int:
    """The retry budget of a stage: Celery's `max_retries` for its task (`celeryconfig`)
    and the `max_retries` of its job row (`app.runs.enqueue`), one setting for both."""
    env = os.environ if environ is None else environ
    return _int(env, "STAGE_MAX_RETRIES", DEFAULT_STAGE_MAX_RETRIES)


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CelerySettings:
        env = os.environ if environ is None else environ
        data_dir = _data_dir(env)
        configured = env.get("CELERY_BROKER_URL") or ""
        return cls(
            data_dir=data_dir,
            broker_url=configured or f"redis+socket://{embedded_broker_socket(data_dir)}",
            embedded_broker=not configured,
            stage_retry_backoff_s=_int(env, "STAGE_RETRY_BACKOFF", 2),
            stage_max_retries=stage_max_retries(env),
            outbox_relay_interval_s=_float(env, "OUTBOX_RELAY_INTERVAL", 2.0),
            reclaim_interval_s=_float(env, "RECLAIM_INTERVAL", 10.0),
            audit_seal_interval_s=_float(env, "AUDIT_SEAL_INTERVAL", 30.0),
        )
