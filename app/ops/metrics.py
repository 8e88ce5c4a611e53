"""Prometheus metrics at /metrics: what Flower cannot show, read from the database and the
broker at scrape time, so the figures survive restarts and agree across processes.

Only with `Authorization: Bearer $METRICS_TOKEN`; unset, nobody may read them, and
`METRICS_TOKEN=disabled` serves them to anyone (an explicit choice).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from app.config import METRICS_OPEN
from app.db import get_db
from app.models import Job, ProcessingError, ShellFile
from app.runs.states import ACTIVE_JOB_STATUSES, now

metrics = Blueprint("metrics", __name__)
LANES = ("fast", "ai")
DURATION_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
STUCK_AFTER = timedelta(minutes=10)


class PipelineCollector(Collector):
    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        with self.app.app_context(), get_db().session() as session:
            yield from self._documents(session)
            yield from self._queues(session)
            yield from self._errors(session)
            yield from self._durations(session)

    def _documents(self, session: Any) -> Iterator[Metric]:
        by_status = dict(
            session.execute(select(ShellFile.status, func.count()).group_by(ShellFile.status)).all()
        )
        uploads = CounterMetricFamily("shellfile_uploads", "Documents accepted, ever")
        uploads.add_metric([], sum(by_status.values()))
        yield uploads
        documents = GaugeMetricFamily(
            "shellfile_documents", "Documents by status", labels=["status"]
        )
        for status, count in by_status.items():
            documents.add_metric([status], count)
        yield documents
        stuck = session.scalar(
            select(func.count(func.distinct(Job.shell_file_id))).where(
                Job.status.in_(ACTIVE_JOB_STATUSES),
                func.coalesce(Job.heartbeat_at, Job.published_at, Job.created_at)
                < now() - STUCK_AFTER,
            )
        )
        gauge = GaugeMetricFamily(
            "shellfile_stuck_documents", "Documents with a stage silent for over 10 minutes"
        )
        gauge.add_metric([], stuck or 0)
        yield gauge

    def _queues(self, session: Any) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "shellfile_queue_depth", "Jobs waiting per lane", labels=["lane", "source"]
        )
        oldest = GaugeMetricFamily(
            "shellfile_oldest_pending_job_age_seconds",
            "Age of the oldest queued job per lane",
            labels=["lane"],
        )
        rows = dict(
            session.execute(
                select(Job.job_lane, func.count())
                .where(Job.status == "queued")
                .group_by(Job.job_lane)
            ).all()
        )
        ages = dict(
            session.execute(
                select(Job.job_lane, func.min(Job.created_at))
                .where(Job.status == "queued")
                .group_by(Job.job_lane)
            ).all()
        )
        broker = _broker_depths(self.app)
        current = now()
        for lane in LANES:
            depth.add_metric([lane, "database"], rows.get(lane, 0))
            if broker is not None:
                depth.add_metric([lane, "broker"], broker[lane])
            first = ages.get(lane)
            if first is not None and first.tzinfo is None:
                first = first.replace(tzinfo=current.tzinfo)
            oldest.add_metric([lane], (current - first).total_seconds() if first else 0.0)
        yield depth
        yield oldest

    def _errors(self, session: Any) -> Iterator[Metric]:
        rows = session.execute(
            select(
                ProcessingError.stage,
                ProcessingError.error_type,
                ProcessingError.is_final,
                func.count(),
            ).group_by(ProcessingError.stage, ProcessingError.error_type, ProcessingError.is_final)
        ).all()
        retries = CounterMetricFamily(
            "shellfile_stage_retries", "Failed attempts retried", labels=["stage", "error_type"]
        )
        failures = CounterMetricFamily(
            "shellfile_stage_failures", "Final stage failures", labels=["stage", "error_type"]
        )
        for stage, error_type, final, count in rows:
            (failures if final else retries).add_metric([stage, error_type], count)
        yield retries
        yield failures

    def _durations(self, session: Any) -> Iterator[Metric]:
        histogram = HistogramMetricFamily(
            "shellfile_stage_duration_seconds",
            "Stage durations, stages completed in the last 24 hours",
            labels=["stage"],
        )
        rows = session.execute(
            select(Job.job_type, Job.started_at, Job.completed_at)
            .where(
                Job.status == "completed",
                Job.started_at.is_not(None),
                Job.completed_at > now() - timedelta(hours=24),
            )
            .limit(100_000)
        ).all()
        by_stage: dict[str, list[float]] = {}
        for stage, started, completed in rows:
            by_stage.setdefault(stage, []).append((completed - started).total_seconds())
        for stage, seconds in sorted(by_stage.items()):
            buckets = [(str(b), sum(1 for s in seconds if s <= b)) for b in DURATION_BUCKETS]
            buckets.append(("+Inf", len(seconds)))
            histogram.add_metric([stage], buckets, sum_value=sum(seconds))
        yield histogram


def _broker_depths(app: Any) -> dict[str, int] | None:
    """Messages waiting in Redis per lane, over every priority list; None if it is down."""
    try:
        client = app.extensions["dispatcher"].broker_client()
        return {
            lane: sum(
                int(client.llen(key))
                for key in [lane, *(f"{lane}:{step}" for step in range(1, 10))]
            )
            for lane in LANES
        }
    except Exception:  # noqa: BLE001 - the broker being down is itself what the gauge lacks
        return None


def _allowed() -> bool:
    """Whether the caller presents METRICS_TOKEN (or it is METRICS_OPEN); unset, nobody.
    No address is trusted: a reverse proxy on this machine makes every caller loopback."""
    token = current_app.config["SETTINGS"].metrics_token
    if token == METRICS_OPEN:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


@metrics.get("/metrics")
def serve_metrics() -> Response:
    if not _allowed():
        raise NotFound()
    registry = current_app.extensions.get("metrics_registry")
    if registry is None:
        registry = CollectorRegistry()
        registry.register(PipelineCollector(current_app._get_current_object()))  # type: ignore[attr-defined]
        current_app.extensions["metrics_registry"] = registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
