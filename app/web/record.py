"""A profile's health record in the browser: the record page and the results view.

The same access rule and audit as every page (`profile_for`, then `audit_read` committed
before the page is sent). Results are drawn as inline SVG charts on the server
(`app.web.charts`), each with a table of the same values.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from app.audit import audit_read
from app.db import request_session
from app.outputs import record
from app.pipeline.record.mentions import series_key
from app.web.blueprint import web
from app.web.charts import source_page, trend_chart
from app.web.views import profile_for

RECENT_RESULTS = 12


def _audit(profile_id: Any, reason: str) -> None:
    audit_read(
        request_session(),
        table_name="record_entries",
        record_id=None,
        patient_id=profile_id,
        reason=reason,
    )


@web.get("/profiles/<profile_id>/record")
def health_record(profile_id: str) -> Any:
    """Current medications, problems, allergies, immunizations and recent results."""
    profile = profile_for(profile_id)
    sections = record.profile_record(request_session(), profile.id)
    _audit(profile.id, "web: view health record")
    results = [o for o in sections["observations"] if o["latest"] is not None]
    results.sort(key=lambda o: (o["latest"]["date"], o["name"]), reverse=True)
    return render_template(
        "record.html",
        profile=profile,
        medications=[m for m in sections["medications"] if m["status"] != "stopped"],
        stopped=[m for m in sections["medications"] if m["status"] == "stopped"],
        conditions=sections["conditions"],
        allergies=sections["allergies"],
        immunizations=sections["immunizations"],
        procedures=sections["procedures"],
        results=results[:RECENT_RESULTS],
        source_page=source_page,
    )


@web.get("/profiles/<profile_id>/results")
def results(profile_id: str) -> Any:
    """Every test's trend: a chart per series, with its values in a table beside it."""
    profile = profile_for(profile_id)
    wanted = (request.args.get("code") or "").strip()[:64]
    key = series_key(wanted) if wanted else None
    observations = record.observations(request_session(), profile.id, key)
    _audit(profile.id, "web: view results")
    charts = [
        (observation, [(series, trend_chart(series)) for series in observation["series"]])
        for observation in observations
    ]
    return render_template(
        "results.html", profile=profile, charts=charts, wanted=wanted, source_page=source_page
    )
