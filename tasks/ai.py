"""The ai lane: Pass 1 entities → Pass 2 clinical records → Pass 3 narrative.

Each task loads by id, calls the configured provider (`app.pipeline.ai`: the local
rules by default, or any OpenAI-compatible service), and saves through
`app.outputs.ai_lane`. A service that says "slow down" (HTTP 429, or the shared
rate limit) is retried after its Retry-After, and holds every worker back for that
long; other transient faults follow the ordinary backoff schedule.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from celery.signals import worker_init
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.audit import AuditUnavailable
from app.celery_app import flask_app_of
from app.config import Settings
from app.models import ShellFile
from app.outputs import ai_lane
from app.pipeline import budget
from app.pipeline.ai import Provider, Usage, make_provider
from app.pipeline.ai.errors import ProviderRateLimited, sent_before
from app.pipeline.ai.vocabulary import default_vocabulary
from app.pipeline.errors import PipelineError, RateLimited
from app.ratelimit import RedisRateLimiter
from tasks.base import Save, StageContext

T = TypeVar("T")
log = logging.getLogger(__name__)

_providers: dict[tuple[Any, ...], Provider] = {}
_limiters: dict[str, RedisRateLimiter] = {}


def _limiter(task: Any, settings: Settings) -> RedisRateLimiter | None:
    if not (settings.ai_requests_per_minute or settings.ai_tokens_per_minute):
        return None
    key = settings.ai_provider
    if key not in _limiters:
        url = str(task.app.conf.broker_url).replace("redis+socket://", "unix://")
        _limiters[key] = RedisRateLimiter(
            redis.Redis.from_url(url, socket_timeout=5),
            settings.ai_provider,
            requests_per_minute=settings.ai_requests_per_minute,
            tokens_per_minute=settings.ai_tokens_per_minute,
        )
    return _limiters[key]


@worker_init.connect(weak=False)
def _load_vocabularies_before_forking(sender: Any = None, **_: Any) -> None:
    """A worker of the `ai` queue with the local provider loads Pass 1's vocabularies once,
    before its pool forks: the children share them, and no document waits for the load.

    Then every worker moves what it has loaded out of the collector's sight
    (`gc.freeze`, as Python's documentation advises before a fork): no collection in a
    child walks the vocabularies, the lexicon and the modules again (a full collection
    of that heap stalled a record merge by 80 ms), and the pages they sit on stay shared.
    """
    if sender is not None and "ai" in (sender.app.amqp.queues.consume_from or {}):
        settings: Settings = flask_app_of(sender.app).config["SETTINGS"]
        if settings.ai_provider == "local":
            default_vocabulary()
    gc.collect()
    gc.freeze()


def provider_for(task: Any, settings: Settings) -> Provider:
    """The configured provider, built once per worker process."""
    key = (settings.ai_provider, settings.ai_base_url, settings.ai_model)
    if key not in _providers:
        if settings.ai_provider == "local":
            _providers[key] = make_provider("local")
        else:
            _providers[key] = make_provider(
                "openai",
                base_url=settings.ai_base_url,
                api_key=settings.ai_api_key,
                model=settings.ai_model,
                timeout=settings.ai_timeout_s,
                prompt_price_per_1k=settings.ai_prompt_price_per_1k,
                completion_price_per_1k=settings.ai_completion_price_per_1k,
                rate_limiter=_limiter(task, settings),
            )
    return _providers[key]


def _retry_later(context: StageContext, exc: RateLimited) -> None:
    """Retry after the service's Retry-After (or the backoff, if that is longer)."""
    task = context.task
    if isinstance(exc, ProviderRateLimited) and exc.retry_after:
        limiter = _limiter(task, context.settings)
        if limiter is not None:
            limiter.block(exc.retry_after)
    backoff = get_exponential_backoff_interval(
        factor=int(task.retry_backoff),
        retries=task.request.retries,
        maximum=task.retry_backoff_max,
        full_jitter=False,
    )
    raise task.retry(exc=exc, countdown=max(float(exc.retry_after or 0), backoff))


def _audit_sent(session: Session, context: StageContext, usage: Usage) -> None:
    """The audit row of what this pass sent to a remote model, if it sent anything."""
    ai_lane.audit_disclosure(
        session,
        shell_file_id=context.shell_file_id,
        patient_id=context.claim.patient_id,
        stage=context.claim.stage,
        usage=usage,
        base_url=context.settings.ai_base_url,
    )


def _audit_failed_pass(context: StageContext, exc: PipelineError) -> None:
    """A pass that failed after its requests went out (an HTTP error, a timeout, answers
    that never fit) still sent the document: audit that on its own, before the failure
    is filed. A fault here is logged, never raised over the pass's own failure."""
    usage = sent_before(exc)
    if usage is None or not usage.requests:
        return
    try:
        with context.db.session() as session:
            _audit_sent(session, context, usage)
            session.commit()
    except (AuditUnavailable, SQLAlchemyError):
        log.error("the disclosure of a failed %s could not be audited", context.claim.stage)


def _ask(context: StageContext, stage: str, question: Callable[[Provider], T]) -> T:
    """Put one pass to the provider, within what the document's run may still spend on a
    model (`budget.BudgetExceeded` before a request that could pass it); a rate limit
    retries the stage after Retry-After; what a failed pass sent is audited."""
    provider = provider_for(context.task, context.settings)
    try:
        if provider.name == "local":  # nothing is sent anywhere, nothing is spent
            return question(provider)
        with context.db.session() as session:
            spent = ai_lane.spent_before(session, context.shell_file_id, stage)
        with budget.spending(budget.RunBudget(context.budget, spent)):
            return question(provider)
    except PipelineError as exc:
        _audit_failed_pass(context, exc)
        if isinstance(exc, RateLimited):
            _retry_later(context, exc)
        raise


def _shell_file(session: Session, context: StageContext) -> ShellFile:
    shell_file = session.get(ShellFile, context.shell_file_id)
    assert shell_file is not None
    return shell_file


def entities_work(context: StageContext) -> Save:
    with context.db.session() as session:
        doc = ai_lane.load_document_text(session, context.shell_file_id)
    entities, usage = _ask(context, "pass1", lambda provider: provider.detect_entities(doc))

    def save(session: Session) -> None:
        ai_lane.save_entities(session, _shell_file(session, context), entities)
        ai_lane.save_usage(session, context.shell_file_id, "pass1", usage)
        _audit_sent(session, context, usage)

    return save


def records_work(context: StageContext) -> Save:
    with context.db.session() as session:
        doc = ai_lane.load_document_text(session, context.shell_file_id)
        entities = ai_lane.load_entities(session, context.shell_file_id)
    records, usage = _ask(context, "pass2", lambda provider: provider.enrich(doc, entities))

    def save(session: Session) -> None:
        ai_lane.save_records(session, _shell_file(session, context), records)
        ai_lane.save_usage(session, context.shell_file_id, "pass2", usage)
        _audit_sent(session, context, usage)

    return save


def narrative_work(context: StageContext) -> Save:
    with context.db.session() as session:
        entities = ai_lane.load_entities(session, context.shell_file_id)
        records = ai_lane.load_records(session, context.shell_file_id)
    narrative, usage = _ask(context, "pass3", lambda provider: provider.narrate(records, entities))

    def save(session: Session) -> None:
        ai_lane.save_narrative(session, _shell_file(session, context), narrative, usage)
        ai_lane.save_usage(session, context.shell_file_id, "pass3", usage)
        _audit_sent(session, context, usage)

    return save
