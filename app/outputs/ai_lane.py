"""Saving and loading what the AI lane produces, keyed by (shell file, stage).

Each save replaces what an earlier run of the same stage wrote (stages run at least
once). Records are kept both as rows (to query across a profile, to build FHIR) and
as the provider's own JSON, so a later pass reads back exactly what an earlier wrote.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.audit import log_audit_event
from app.models import (
    AiUsage,
    ClinicalDocument,
    ClinicalEntity,
    ClinicalRecord,
    Narrative,
    PageLayoutRow,
    ShellFile,
)
from app.outputs.fhir import CVX, ICD10CM, SNOMED, records_bundle
from app.pipeline import budget
from app.pipeline.ai import types as ai
from app.pipeline.layout import Block, DocumentText, Line, PageLayout, document_text

#: The AI lane's passes, in order, as their usage rows name them.
AI_STAGES = ("pass1", "pass2", "pass3")

RECORD_TYPES = ai.RECORD_CLASSES
_TYPE_OF_CLASS = {cls: name for name, cls in RECORD_TYPES.items()}
_GROUP_OF_TYPE = {
    "medication": "medications",
    "lab_result": "lab_results",
    "vital": "vitals",
    "condition": "conditions",
    "allergy": "allergies",
    "immunization": "immunizations",
    "procedure": "procedures",
}


def load_document_text(session: Session, shell_file_id: uuid.UUID) -> DocumentText:
    """The reading-order text spatial mapping left, with its lines and word boxes."""
    rows = session.scalars(
        select(PageLayoutRow)
        .where(PageLayoutRow.shell_file_id == shell_file_id)
        .order_by(PageLayoutRow.page_number)
    ).all()
    pages = []
    for row in rows:
        lines = tuple(
            Line(
                line["text"],
                tuple(line["box"]),
                tuple(tuple(w) for w in line["words"]),
                line["block"],
            )
            for line in row.layout["lines"]
        )
        blocks = tuple(
            Block(tuple(b["box"]), b["first_line"], b["last_line"]) for b in row.layout["blocks"]
        )
        pages.append(PageLayout(row.page_number, row.width, row.height, lines, blocks, row.columns))
    return document_text(pages)


def save_entities(session: Session, shell_file: ShellFile, entities: list[ai.Entity]) -> None:
    session.execute(delete(ClinicalEntity).where(ClinicalEntity.shell_file_id == shell_file.id))
    session.add_all(
        ClinicalEntity(
            shell_file_id=shell_file.id,
            patient_id=shell_file.patient_id,
            entity_key=entity.id,
            entity_type=entity.type,
            text=entity.text,
            start_offset=entity.start,
            end_offset=entity.end,
            page=entity.page,
            box={"box": list(entity.box)} if entity.box else None,
            confidence=entity.confidence,
            negated=entity.negated,
            historical=entity.historical,
            family=entity.family,
            hypothetical=entity.hypothetical,
            section=entity.section,
            found_by=entity.found_by,
            ocr_confidence=entity.ocr_confidence,
        )
        for entity in entities
    )


def entity_from_row(row: ClinicalEntity) -> ai.Entity:
    box = row.box["box"] if row.box else None
    return ai.Entity(
        id=row.entity_key,
        type=row.entity_type,
        text=row.text,
        start=row.start_offset,
        end=row.end_offset,
        page=row.page,
        box=tuple(box) if box else None,
        confidence=row.confidence,
        negated=row.negated,
        historical=row.historical,
        family=row.family,
        hypothetical=row.hypothetical,
        section=row.section,
        found_by=row.found_by or "lexicon",
        ocr_confidence=row.ocr_confidence,
    )


def load_entities(session: Session, shell_file_id: uuid.UUID) -> list[ai.Entity]:
    rows = session.scalars(
        select(ClinicalEntity)
        .where(ClinicalEntity.shell_file_id == shell_file_id)
        .order_by(ClinicalEntity.start_offset, ClinicalEntity.entity_key)
    ).all()
    return [entity_from_row(row) for row in rows]


def _display(record: Any) -> str:
    for attribute in ("name", "test", "substance", "vaccine", "type"):
        value = getattr(record, attribute, None)
        if value:
            return str(value)[:255]
    return record.id


def _code(record: Any) -> tuple[str | None, str | None]:
    if getattr(record, "rxnorm", None):
        return "http://www.nlm.nih.gov/research/umls/rxnorm", record.rxnorm
    if getattr(record, "loinc", None):
        return "http://loinc.org", record.loinc
    if getattr(record, "code", None):
        return SNOMED, record.code
    if getattr(record, "icd10cm", None):
        return ICD10CM, record.icd10cm
    if getattr(record, "cvx", None):
        return CVX, record.cvx
    return None, None


def save_records(session: Session, shell_file: ShellFile, records: ai.ClinicalRecords) -> None:
    session.execute(delete(ClinicalRecord).where(ClinicalRecord.shell_file_id == shell_file.id))
    session.execute(delete(ClinicalDocument).where(ClinicalDocument.shell_file_id == shell_file.id))
    session.add(
        ClinicalDocument(
            shell_file_id=shell_file.id,
            document_kind=records.document_kind,
            document_date=records.document_date,
            service_dates={"dates": list(records.service_dates)},
        )
    )
    for record in records.all_records():
        system, code = _code(record)
        session.add(
            ClinicalRecord(
                shell_file_id=shell_file.id,
                patient_id=shell_file.patient_id,
                record_key=record.id,
                record_type=_TYPE_OF_CLASS[type(record)],
                display=_display(record),
                code_system=system,
                code=code,
                data=ai.to_json(record),
                entity_keys={"entities": list(record.entity_ids)},
            )
        )


def load_records(session: Session, shell_file_id: uuid.UUID) -> ai.ClinicalRecords:
    document = session.get(ClinicalDocument, shell_file_id)
    rows = session.scalars(
        select(ClinicalRecord)
        .where(ClinicalRecord.shell_file_id == shell_file_id)
        .order_by(ClinicalRecord.record_type, ClinicalRecord.record_key)
    ).all()
    groups: dict[str, list[Any]] = {group: [] for group in _GROUP_OF_TYPE.values()}
    for row in sorted(rows, key=lambda r: (r.record_type, len(r.record_key), r.record_key)):
        record: Any = ai.from_json(RECORD_TYPES[row.record_type], row.data)
        groups[_GROUP_OF_TYPE[row.record_type]].append(record)
    return ai.ClinicalRecords(
        document_date=document.document_date if document else None,
        service_dates=tuple(document.service_dates["dates"]) if document else (),
        document_kind=document.document_kind if document else None,
        **{group: tuple(items) for group, items in groups.items()},
    )


def load_fhir_bundle(session: Session, shell_file: ShellFile) -> dict[str, Any]:
    """The document's records and entities as a FHIR R4B Bundle (`app.outputs.fhir`)."""
    return records_bundle(
        shell_file,
        load_records(session, shell_file.id),
        load_entities(session, shell_file.id),
    )


def save_narrative(
    session: Session, shell_file: ShellFile, narrative: ai.Narrative, usage: ai.Usage
) -> None:
    session.execute(delete(Narrative).where(Narrative.shell_file_id == shell_file.id))
    session.add(
        Narrative(
            shell_file_id=shell_file.id,
            kind=narrative.kind,
            document_date=narrative.document_date,
            summary=narrative.summary,
            statements={"statements": ai.to_json(list(narrative.statements))},
            provider=usage.provider,
            model=usage.model,
        )
    )
    shell_file.ai_synthesized_summary = narrative.summary


def save_usage(session: Session, shell_file_id: uuid.UUID, stage: str, usage: ai.Usage) -> None:
    session.execute(
        delete(AiUsage).where(AiUsage.shell_file_id == shell_file_id, AiUsage.stage == stage)
    )
    session.add(
        AiUsage(
            shell_file_id=shell_file_id,
            stage=stage,
            provider=usage.provider,
            model=usage.model,
            requests=usage.requests,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
        )
    )


def spent_before(session: Session, shell_file_id: uuid.UUID, stage: str) -> budget.Spend:
    """What this run's passes before `stage` spent on a model (their usage rows: a pass's
    row is replaced when it runs again, so the earlier passes' rows are this run's)."""
    earlier = AI_STAGES[: AI_STAGES.index(stage)]
    if not earlier:
        return budget.Spend()
    tokens, cost = session.execute(
        select(
            func.coalesce(func.sum(AiUsage.prompt_tokens + AiUsage.completion_tokens), 0),
            func.coalesce(func.sum(AiUsage.cost_usd), 0.0),
        ).where(AiUsage.shell_file_id == shell_file_id, AiUsage.stage.in_(earlier))
    ).one()
    return budget.Spend(int(tokens), float(cost))


#: The compliance category of an audit row that records document data sent to a remote
#: model service.
DISCLOSURE = "phi_disclosure"


def audit_disclosure(
    session: Session,
    *,
    shell_file_id: uuid.UUID,
    patient_id: uuid.UUID | None,
    stage: str,
    usage: ai.Usage,
    base_url: str,
) -> None:
    """Record, in the caller's transaction, that a pass sent the document's data to a
    remote model service: which provider and host, which document and pass, how many
    characters in how many requests; never the text. A pass that sent nothing (the local
    provider, or Pass 3 without records) records nothing. Raises `AuditUnavailable`."""
    if usage.requests == 0:
        return
    parts = urlsplit(base_url)
    host = (parts.hostname or "unknown host")[:120]
    if parts.port:
        host += f":{parts.port}"
    log_audit_event(
        session,
        operation="read",
        table_name="shell_files",
        record_id=shell_file_id,
        patient_id=patient_id,
        reason=(
            f"{stage}: document data sent to the {usage.provider} model service at {host}"
            f" ({usage.characters_sent} characters in {usage.requests} requests)"
        ),
        compliance_category=DISCLOSURE,
    )
