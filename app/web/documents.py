"""One document: its pages with what was found on them, its records, narrative and FHIR.

Every view finds the document through `document_for` (the API's access rules, from
`grants.accessible_document`; denied is 404) and commits its audit rows before sending anything.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    url_for,
)
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from app.audit import audit_read, commit_audited, log_audit_event
from app.db import request_session
from app.documents import lifecycle
from app.documents.content import ContentWithheld, passed_scan
from app.models import (
    ClinicalDocument,
    ClinicalRecord,
    Narrative,
    OcrPage,
    PageLayoutRow,
    ShellFile,
    UserProfile,
)
from app.outputs import ai_lane
from app.quotas import QuotaExceeded
from app.web import images, present, progress, wording
from app.web.blueprint import error_page, web
from app.web.views import can_write, document_for


def _summary(shell_file: ShellFile, profile: UserProfile) -> dict[str, Any]:
    db = request_session()
    return progress.summaries(db, [shell_file], can_write=can_write(profile))[0]


def _audit_document_view(shell_file: ShellFile) -> None:
    """One row per kind of data the page shows, committed before it is sent."""
    db = request_session()
    for table in (
        "shell_files",
        "ocr_pages",
        "clinical_entities",
        "clinical_records",
        "narratives",
    ):
        log_audit_event(
            db,
            operation="read",
            table_name=table,
            record_id=shell_file.id,
            patient_id=shell_file.patient_id,
            reason="web: view document",
        )
    commit_audited(db)


@web.get("/documents/<shell_file_id>")
def document(shell_file_id: str) -> Any:
    shell_file = document_for(shell_file_id)
    db = request_session()
    profile = db.get(UserProfile, shell_file.patient_id)
    assert profile is not None  # a shell file's profile is its foreign key
    ocr_pages = list(
        db.scalars(
            select(OcrPage)
            .where(OcrPage.shell_file_id == shell_file.id)
            .order_by(OcrPage.page_number)
        )
    )
    layouts = {
        row.page_number: row
        for row in db.scalars(
            select(PageLayoutRow).where(PageLayoutRow.shell_file_id == shell_file.id)
        )
    }
    entities = ai_lane.load_entities(db, shell_file.id)
    record_rows = list(
        db.scalars(
            select(ClinicalRecord)
            .where(ClinicalRecord.shell_file_id == shell_file.id)
            .order_by(
                ClinicalRecord.record_type,
                func.length(ClinicalRecord.record_key),
                ClinicalRecord.record_key,
            )
        )
    )
    narrative = db.get(Narrative, shell_file.id)
    clinical = db.get(ClinicalDocument, shell_file.id)
    summary = _summary(shell_file, profile)
    _audit_document_view(shell_file)
    return render_template(
        "document.html",
        doc=shell_file,
        profile=profile,
        summary=summary,
        pages=present.pages_view(ocr_pages, layouts, entities),
        view_width=present.VIEW_WIDTH,
        entities=[present.entity_view(e) for e in entities],
        records=present.records_view(record_rows, {e.id: e for e in entities}),
        narrative=narrative,
        statements=narrative.statements["statements"] if narrative else [],
        document_date=clinical.document_date if clinical else None,
    )


@web.get("/documents/<shell_file_id>/progress")
def document_progress(shell_file_id: str) -> Any:
    shell_file = document_for(shell_file_id)
    db = request_session()
    profile = db.get(UserProfile, shell_file.patient_id)
    assert profile is not None
    summary = _summary(shell_file, profile)
    audit_read(
        db,
        table_name="shell_files",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="web: watch document progress",
    )
    return jsonify(items=[summary])


@web.get("/documents/<shell_file_id>/pages/<int:page_number>.png")
def page_image(shell_file_id: str, page_number: int) -> Any:
    shell_file = document_for(shell_file_id)
    db = request_session()
    try:
        scan = passed_scan(db, shell_file)
    except ContentWithheld as withheld:
        return error_page(409, wording.withheld_text(withheld.code, withheld.reason))
    page = db.scalar(
        select(OcrPage).where(
            OcrPage.shell_file_id == shell_file.id, OcrPage.page_number == page_number
        )
    )
    if page is None:
        raise NotFound("no such page")
    data_dir = current_app.config["SETTINGS"].data_dir
    try:
        png = images.page_png(data_dir, shell_file, scan, page)
    except images.PageNotDrawnYet:
        return error_page(409, "This page's image is not ready yet. Try again in a moment.")
    audit_read(
        db,
        table_name="ocr_pages",
        record_id=page.id,
        patient_id=shell_file.patient_id,
        reason="web: view page image",
    )
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, no-store"})


@web.get("/documents/<shell_file_id>/fhir.json")
def fhir_download(shell_file_id: str) -> Any:
    shell_file = document_for(shell_file_id)
    db = request_session()
    bundle = ai_lane.load_fhir_bundle(db, shell_file)
    audit_read(
        db,
        table_name="clinical_records",
        record_id=shell_file.id,
        patient_id=shell_file.patient_id,
        reason="web: download FHIR bundle",
    )
    return Response(
        json.dumps(bundle, indent=2),
        mimetype="application/fhir+json",
        headers={
            "Content-Disposition": f'attachment; filename="document-{shell_file.id}.fhir.json"'
        },
    )


@web.post("/documents/<shell_file_id>/reprocess")
def reprocess(shell_file_id: str) -> Any:
    """Start a new run from the first stage (a failed or cancelled document)."""
    shell_file = document_for(shell_file_id, level="read_write")
    try:
        lifecycle.reprocess(
            request_session(), shell_file, account_id=g.account_id, reason="web: reprocess"
        )
    except lifecycle.CannotReprocess:
        flash("This document cannot be processed again right now.", "error")
        return redirect(url_for("web.document", shell_file_id=shell_file.id))
    except QuotaExceeded as exceeded:
        minutes = max(1, round(exceeded.retry_after / 60))
        flash(f"Too many reprocess requests: try again in about {minutes} min.", "error")
        return redirect(url_for("web.document", shell_file_id=shell_file.id))
    flash(f"Processing again ({wording.status_label(shell_file.status).lower()}).")
    return redirect(url_for("web.document", shell_file_id=shell_file.id))
