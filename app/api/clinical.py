"""What the AI lane found in a document: entities, clinical records, narrative, FHIR."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from app.api import schemas
from app.api.blueprint import api
from app.api.openapi import COMMON_ERRORS, Reply, documented
from app.api.shell_files import readable_shell_file
from app.audit import audit_read
from app.db import request_session
from app.models import AiUsage, ClinicalRecord, Narrative
from app.outputs import ai_lane
from app.pipeline.ai import to_json


@api.get("/shell-files/<shell_file_id>/entities")
@documented(
    "Pass 1: clinical mentions with their span, page, box and context",
    Reply(200, "The entities in text order", schemas.Entities),
    *COMMON_ERRORS,
)
def list_entities(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    entities = ai_lane.load_entities(session, shell_file.id)
    audit_read(
        session,
        table_name="clinical_entities",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="view extracted entities",
    )
    return jsonify(shell_file_id=str(shell_file.id), items=to_json(entities))


@api.get("/shell-files/<shell_file_id>/clinical-records")
@documented(
    "Pass 2: normalised records, each citing the entities it came from",
    Reply(200, "The records", schemas.ClinicalRecords),
    *COMMON_ERRORS,
)
def list_clinical_records(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    rows = session.scalars(
        select(ClinicalRecord)
        .where(ClinicalRecord.shell_file_id == shell_file.id)
        .order_by(
            ClinicalRecord.record_type,
            func.length(ClinicalRecord.record_key),
            ClinicalRecord.record_key,
        )
    ).all()
    records = ai_lane.load_records(session, shell_file.id)
    items = [
        {
            "id": row.record_key,
            "type": row.record_type,
            "display": row.display,
            "code_system": row.code_system,
            "code": row.code,
            "entity_ids": row.entity_keys["entities"],
            "data": row.data,
        }
        for row in rows
    ]
    usage = session.execute(
        select(
            func.coalesce(func.sum(AiUsage.prompt_tokens + AiUsage.completion_tokens), 0),
            func.coalesce(func.sum(AiUsage.cost_usd), 0.0),
        ).where(AiUsage.shell_file_id == shell_file.id)
    ).one()
    audit_read(
        session,
        table_name="clinical_records",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="view clinical records",
    )
    return jsonify(
        shell_file_id=str(shell_file.id),
        document_kind=records.document_kind,
        document_date=records.document_date,
        service_dates=list(records.service_dates),
        items=items,
        ai_usage={"tokens": int(usage[0]), "cost_usd": float(usage[1])},
    )


@api.get("/shell-files/<shell_file_id>/narrative")
@documented(
    "Pass 3: a summary whose every statement cites records",
    Reply(200, "The narrative", schemas.Narrative),
    *COMMON_ERRORS,
)
def get_narrative(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    narrative = session.get(Narrative, shell_file.id)
    if narrative is None:
        raise NotFound("the narrative is not written yet")
    body = {
        "shell_file_id": str(shell_file.id),
        "kind": narrative.kind,
        "document_date": narrative.document_date,
        "summary": narrative.summary,
        "statements": narrative.statements["statements"],
        "provider": narrative.provider,
        "model": narrative.model,
    }
    audit_read(
        session,
        table_name="narratives",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="view narrative",
    )
    return jsonify(body)


@api.get("/shell-files/<shell_file_id>/fhir")
@documented(
    "The records as a FHIR R4 collection Bundle, with Provenance",
    Reply(200, "A FHIR Bundle", schemas.FhirBundle, media_type="application/fhir+json"),
    *COMMON_ERRORS,
)
def get_fhir_bundle(shell_file_id: str) -> Any:
    shell_file = readable_shell_file(shell_file_id)
    session = request_session()
    bundle = ai_lane.load_fhir_bundle(session, shell_file)
    audit_read(
        session,
        table_name="clinical_records",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="export FHIR bundle",
    )
    response: Response = jsonify(bundle)
    response.mimetype = "application/fhir+json"
    return response
