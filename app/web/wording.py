"""Plain words for what the pipeline records as codes: statuses, stages, failure reasons.

Only codes reach these sentences (an error row's `error_type` and `stage`), never an
error message, so nothing from a document can show up through them.
"""

from __future__ import annotations

STAGE_LABELS = {
    "security_scan": "Security scan",
    "ocr": "Reading the text",
    "spatial_mapping": "Page layout",
    "pass1": "Finding entities",
    "pass2": "Clinical records",
    "pass3": "Summary",
    "record": "Health record",
}

STATUS_LABELS = {
    "uploaded": "Waiting to start",
    "processing": "Processing",
    "completed": "Completed",
    "failed": "Failed",
    "quarantined": "Quarantined",
    "cancelled": "Cancelled",
    "archived": "Archived",
}

REASONS = {
    "malware_detected": "The virus scanner found something dangerous in this file.",
    "encrypted_pdf": "This PDF is protected by a password, so it cannot be read. "
    "Save an unprotected copy and upload that.",
    "executable_content": "This PDF contains scripts, actions or attached files, "
    "which are not accepted for safety.",
    "malformed_file": "This file is damaged or incomplete and could not be opened.",
    "too_many_pages": "This document has more pages than are accepted.",
    "too_large": "This document is larger than this service processes: "
    "split it into smaller files and upload those.",
    "budget_exceeded": "Reading this document would cost more than one document may.",
    "polyglot_file": "This file is two kinds of file at once, which is not accepted for safety.",
    "decompression_bomb": "This image is far too large to open safely.",
    "unsupported_pdf_feature": "This PDF uses a feature that cannot be checked safely. "
    "Print it to a new PDF and upload that.",
    "type_mismatch": "The file's name says it is one kind of file, but its content is another.",
    "security_rejected": "The security scan did not accept this file.",
    "unsupported_type": "This kind of file is not accepted.",
    "ocr_failure": "The text of this document could not be read.",
    "ai_timeout": "The service that reads the document took too long to answer.",
    "api_error": "The service that reads the document had a problem.",
    "ai_request_rejected": "The service that reads the document refused the request.",
    "invalid_ai_response": "The service that reads the document gave an answer we could not use.",
    "rate_limited": "The service that reads the document was too busy.",
    "scanner_unavailable": "The virus scanner was not available.",
    "storage_error": "The stored file could not be reached.",
    "worker_lost": "Processing was interrupted too many times.",
    "stage_timeout": "A step took too long and was stopped.",
    "timeout": "A step took too long and was stopped.",
    "database_error": "The database was not available.",
    "broker_error": "The processing queue was not available.",
    "connection_error": "A service needed for processing could not be reached.",
}

# Failures a new run may get past (a passing outage); a refused file stays refused.
RETRYABLE_REASONS = frozenset(
    {
        "ai_timeout",
        "api_error",
        "rate_limited",
        "scanner_unavailable",
        "storage_error",
        "worker_lost",
        "stage_timeout",
        "timeout",
        "database_error",
        "broker_error",
        "connection_error",
        "internal_error",
        "invalid_ai_response",
        "ocr_failure",
    }
)


def may_retry(status: str, error_type: str | None) -> bool:
    """Whether offering a reprocess makes sense: not for a file the scan refused."""
    if status == "failed":
        return error_type is None or error_type in RETRYABLE_REASONS or error_type not in REASONS
    return status == "cancelled"


def stage_label(stage: str | None) -> str:
    return STAGE_LABELS.get(stage or "", stage or "")


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def reason_text(status: str, error_type: str | None, stage: str | None) -> str | None:
    """Why a document did not complete, in plain words (None when it did not fail)."""
    if status == "cancelled":
        return "Processing was cancelled."
    if status not in ("failed", "quarantined"):
        return None
    if error_type in REASONS:
        return REASONS[error_type]
    where = f" at the step “{stage_label(stage)}”" if stage else ""
    return f"Processing stopped{where} because of an unexpected problem."


def withheld_text(code: str, error_type: str | None) -> str:
    """Why a document's pages are not shown (`app.documents.content.ContentWithheld`)."""
    why = REASONS.get(error_type or "", REASONS["security_rejected"])
    if code == "quarantined":
        return f"This file was quarantined, so its pages are not shown. {why}"
    if error_type is not None:
        return f"This file did not pass the security scan, so its pages are not shown. {why}"
    return "The pages are shown once the security scan has passed this file."


MIME_LABELS = {
    "application/pdf": "PDF",
    "image/png": "PNG image",
    "image/jpeg": "JPEG photo",
    "image/tiff": "TIFF scan",
    "image/heic": "HEIC photo",
    "image/heif": "HEIF photo",
    "image/webp": "WebP image",
    "text/plain": "Text",
}

KIND_LABELS = {
    "discharge_summary": "Discharge summary",
    "lab_report": "Lab report",
    "clinic_letter": "Clinic letter",
    "medication_list": "Medication list",
    "vitals_record": "Vitals record",
    "other": "Other document",
}


def type_label(mime_type: str, kind: str | None) -> str:
    file_type = MIME_LABELS.get(mime_type, mime_type)
    if kind:
        return f"{KIND_LABELS.get(kind, kind.replace('_', ' ').capitalize())} ({file_type})"
    return file_type
