"""The profile's health record: all of it, its medications, one test's series, and FHIR.

The same access rule as every read (`accessible_profile`: anything not reachable is 404)
and the same audit, committed before the data leaves (`audit_read`). A profile with no
documents has an empty record.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g, jsonify, request
from werkzeug.exceptions import BadRequest, NotFound

from app.access.grants import accessible_profile
from app.api import record_schemas, schemas
from app.api.blueprint import api
from app.api.openapi import COMMON_ERRORS, Reply, documented, error
from app.audit import audit_read
from app.db import request_session
from app.models import UserProfile
from app.outputs import record
from app.outputs.record_fhir import record_bundle


def _readable_profile(profile_id: str, reason: str) -> UserProfile:
    """The profile, if the caller may read it, with the read audited (404 otherwise)."""
    try:
        pid = uuid.UUID(profile_id)
    except ValueError:
        raise NotFound("no such profile") from None
    session = request_session()
    profile = accessible_profile(session, g.account_id, pid, "read_only")
    audit_read(
        session,
        table_name="record_entries",
        record_id=None,
        patient_id=profile.id,
        reason=reason,
    )
    return profile


@api.get("/profiles/<profile_id>/record")
@documented(
    "The profile's health record, merged across its documents, every entry citing its sources",
    Reply(200, "Every section (empty for a profile without documents)", record_schemas.Record),
    *COMMON_ERRORS,
)
def get_record(profile_id: str) -> Any:
    profile = _readable_profile(profile_id, "view health record")
    sections = record.profile_record(request_session(), profile.id)
    return jsonify(profile_id=str(profile.id), **sections)


@api.get("/profiles/<profile_id>/record/medications")
@documented(
    "The profile's medications, one per drug",
    Reply(200, "The medications", record_schemas.Medications),
    *COMMON_ERRORS,
)
def get_record_medications(profile_id: str) -> Any:
    profile = _readable_profile(profile_id, "view health record: medications")
    items = record.section_entries(request_session(), profile.id, "medications")
    return jsonify(profile_id=str(profile.id), items=items)


@api.get("/profiles/<profile_id>/record/observations")
@documented(
    "One test's results over time: its series in one display unit, and values to review",
    Reply(200, "The test's series", record_schemas.ObservationSeries),
    error(400, "Missing or malformed code"),
    *COMMON_ERRORS,
    query=record_schemas.ObservationQuery,
)
def get_record_observation(profile_id: str) -> Any:
    code = request.args.get("code", "").strip()
    if not code or len(code) > record_schemas.MAX_CODE_LENGTH:
        raise BadRequest(f"code must be 1 to {record_schemas.MAX_CODE_LENGTH} characters")
    profile = _readable_profile(profile_id, "view health record: results")
    found = record.observation(request_session(), profile.id, code)
    if found is None:
        raise NotFound("no results of that test in this profile")
    return jsonify(profile_id=str(profile.id), code=code, observation=found)


@api.get("/profiles/<profile_id>/fhir")
@documented(
    "The profile's health record as a FHIR R4 collection Bundle, with Provenance",
    Reply(200, "A FHIR Bundle", schemas.FhirBundle, media_type="application/fhir+json"),
    *COMMON_ERRORS,
)
def get_record_fhir(profile_id: str) -> Any:
    profile = _readable_profile(profile_id, "export health record as FHIR")
    bundle = record_bundle(profile, record.full_record(request_session(), profile.id))
    response: Response = jsonify(bundle)
    response.mimetype = "application/fhir+json"
    return response
