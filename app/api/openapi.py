"""The OpenAPI 3 description of the API, served at /api/v1/openapi.json.

Written down as data (design-first) and checked by the tests against the
routes the app really has and the bodies it really returns.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from app.api.blueprint import api
from app.api.profiles import MAX_PAGE
from app.models import SHELL_FILE_STATUSES

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_INT = {"type": ["integer", "null"]}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


ID_PARAM = {"name": "shell_file_id", "in": "path", "required": True, "schema": {"type": "string"}}
COMMON_ERRORS = {
    "401": _error("Missing or invalid bearer token"),
    "404": _error("Not found, or not yours"),
    "503": _error("The access could not be audited, so it was refused"),
}

StageStatus = {
    "type": ["object", "null"],
    "properties": {
        "status": {"type": "string"},
        "lane": {"type": "string", "enum": ["fast", "ai"]},
        "job_id": UUID,
        "attempts": {"type": "integer"},
        "started_at": TIME,
        "completed_at": TIME,
        "duration_ms": NULLABLE_INT,
        "last_error": {"type": ["string", "null"]},
    },
}

ShellFile = {
    "type": "object",
    "required": ["id", "patient_id", "status", "mime_type", "sha256"],
    "properties": {
        "id": UUID,
        "patient_id": UUID,
        "original_filename": {"type": "string"},
        "mime_type": {"type": "string"},
        "file_size_bytes": {"type": "integer"},
        "sha256": {"type": "string"},
        "status": {"type": "string", "enum": list(SHELL_FILE_STATUSES)},
        "current_stage": {"type": ["string", "null"]},
        "run_number": {"type": "integer"},
        "processing_priority": {"type": "integer", "minimum": 1, "maximum": 10},
        "page_count": NULLABLE_INT,
        "ocr_average_confidence": {"type": ["number", "null"]},
        "created_at": TIME,
        "updated_at": TIME,
        "processing_started_at": TIME,
        "processing_completed_at": TIME,
        "stages": {"type": "object", "additionalProperties": StageStatus},
    },
}

PageSummary = {
    "type": "object",
    "required": ["page_number", "width", "height", "unit", "engine", "is_empty", "text"],
    "properties": {
        "page_number": {"type": "integer", "minimum": 1},
        "width": {"type": "number"},
        "height": {"type": "number"},
        "unit": {"type": "string", "enum": ["pt", "px", "char"]},
        "engine": {"type": "string"},
        "rotation": {"type": "integer", "enum": [0, 90, 180, 270]},
        "mean_confidence": {"type": ["number", "null"]},
        "word_count": {"type": "integer"},
        "is_empty": {"type": "boolean"},
        "columns": NULLABLE_INT,
        "text": {"type": "string"},
    },
}
NORMALISED_BOX = {
    "type": "array",
    "items": {"type": "number", "minimum": 0, "maximum": 1},
    "minItems": 4,
    "maxItems": 4,
}
Page = {
    "allOf": [
        {"$ref": "#/components/schemas/PageSummary"},
        {
            "type": "object",
            "required": ["words", "lines", "blocks"],
            "properties": {
                "words": {
                    "description": "[text, x0, y0, x1, y1, confidence] in the page's unit",
                    "type": "array",
                    "items": {"type": "array", "minItems": 6, "maxItems": 6},
                },
                "lines": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string"},
                            "box": NORMALISED_BOX,
                            "block": {"type": "integer"},
                            "words": {
                                "type": "array",
                                "description": "[text, x0, y0, x1, y1, confidence], box 0-1",
                            },
                        },
                    },
                },
                "blocks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "box": NORMALISED_BOX,
                            "first_line": {"type": "integer"},
                            "last_line": {"type": "integer"},
                        },
                    },
                },
            },
        },
    ]
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Shell file pipeline",
        "version": "1",
        "description": "Upload medical documents into a profile and follow their processing.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "ShellFile": ShellFile,
            "PageSummary": PageSummary,
            "Entity": {
                "type": "object",
                "required": ["id", "type", "text", "start", "end"],
                "properties": {
                    "id": {"type": "string"},
                    "type": {"type": "string"},
                    "text": {"type": "string"},
                    "start": {"type": "integer"},
                    "end": {"type": "integer"},
                    "page": NULLABLE_INT,
                    "box": {"type": ["array", "null"], "items": {"type": "number"}},
                    "confidence": {"type": "number"},
                    "negated": {"type": "boolean"},
                    "historical": {"type": "boolean"},
                    "family": {"type": "boolean"},
                    "hypothetical": {"type": "boolean"},
                    "section": {"type": ["string", "null"]},
                    "found_by": {
                        "type": "string",
                        "enum": ["lexicon", "vocabulary", "pattern", "section", "fuzzy", "model"],
                    },
                    "ocr_confidence": {"type": ["number", "null"]},
                },
            },
            "ClinicalRecord": {
                "type": "object",
                "required": ["id", "type", "display", "entity_ids", "data"],
                "properties": {
                    "id": {"type": "string"},
                    "type": {
                        "type": "string",
                        "enum": [
                            "medication",
                            "lab_result",
                            "vital",
                            "condition",
                            "allergy",
                            "immunization",
                            "procedure",
                        ],
                    },
                    "display": {"type": "string"},
                    "code_system": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                    "entity_ids": {"type": "array", "items": {"type": "string"}},
                    "data": {
                        "type": "object",
                        "description": "The record's fields. A lab result or vital sign "
                        "read from a page also carries needs_review (check it against the "
                        "page: implausible or read weakly), review_reason (a code) and "
                        "ocr_confidence (0-1, of the words the value was read from).",
                        "properties": {
                            "needs_review": {"type": "boolean"},
                            "review_reason": {"type": ["string", "null"]},
                            "ocr_confidence": {"type": ["number", "null"]},
                        },
                    },
                },
            },
            "Page": Page,
            "UploadAnswer": {
                "type": "object",
                "required": ["shell_file_id", "job_id", "status", "duplicate"],
                "properties": {
                    "shell_file_id": UUID,
                    "job_id": {"type": ["string", "null"], "format": "uuid"},
                    "status": {"type": "string"},
                    "patient_id": UUID,
                    "mime_type": {"type": "string"},
                    "file_size_bytes": {"type": "integer"},
                    "sha256": {"type": "string"},
                    "duplicate": {"type": "boolean"},
                },
            },
            "ProcessingError": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "job_id": {"type": ["string", "null"], "format": "uuid"},
                    "stage": {"type": "string"},
                    "error_type": {"type": "string"},
                    "error_message": {"type": "string"},
                    "retry_count": {"type": "integer"},
                    "next_retry_at": TIME,
                    "is_final": {"type": "boolean"},
                    "created_at": TIME,
                },
            },
            "Profile": {
                "type": "object",
                "properties": {
                    "id": UUID,
                    "display_name": {"type": "string"},
                    "profile_type": {
                        "type": "string",
                        "enum": ["self", "child", "pet", "dependent"],
                    },
                    "archived": {"type": "boolean"},
                    "access": {
                        "type": "string",
                        "enum": ["owner", "read_only", "read_write", "full_access"],
                    },
                },
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/shell-files": {
            "post": {
                "operationId": "upload_shell_file",
                "summary": "Upload a document into a profile",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file", "patient_id"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary", "minLength": 1},
                                    "patient_id": UUID,
                                    "priority": {"type": "integer", "minimum": 1, "maximum": 10},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("UploadAnswer", "Stored; processing is queued"),
                    "200": _json(
                        "UploadAnswer", "Answered by an earlier upload (same key or bytes)"
                    ),
                    "400": _error("Missing, empty or malformed input"),
                    "409": _error("Idempotency-Key reused for other bytes, or profile archived"),
                    "413": _error("File larger than MAX_UPLOAD_BYTES"),
                    "415": _error("File type not accepted (judged from its bytes)"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/cancel": {
            "post": {
                "operationId": "cancel_shell_file",
                "summary": "Stop the document's run (needs read_write)",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "Cancelled",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "status": {"const": "cancelled"},
                                        "cancelled_jobs": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "409": _error("No run under way"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/reprocess": {
            "post": {
                "operationId": "reprocess_shell_file",
                "summary": "Start a new run, from the start or from a stage (needs read_write)",
                "parameters": [ID_PARAM],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "from_stage": {
                                        "type": "string",
                                        "enum": [
                                            "security_scan",
                                            "ocr",
                                            "spatial_mapping",
                                            "pass1",
                                            "pass2",
                                            "pass3",
                                        ],
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "The new run is queued",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "run_number": {"type": "integer"},
                                        "status": {"type": "string"},
                                        "job_id": UUID,
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("The body is not a JSON object, or from_stage not a string"),
                    "409": _error(
                        "Not finished or failed, from_stage names no stage, "
                        "or the stages before it did not complete"
                    ),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}": {
            "delete": {
                "operationId": "delete_shell_file",
                "summary": "Archive (read_write); with hard=true delete it all (full_access)",
                "parameters": [
                    ID_PARAM,
                    {
                        "name": "hard",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Archived",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "status": {"const": "archived"},
                                    },
                                }
                            }
                        },
                    },
                    "204": {"description": "Deleted with its bytes and every derived row"},
                    "400": _error("hard is not true or false"),
                    **COMMON_ERRORS,
                },
            },
            "get": {
                "operationId": "get_shell_file",
                "summary": "Status of a document and of each stage",
                "parameters": [ID_PARAM],
                "responses": {"200": _json("ShellFile", "The document"), **COMMON_ERRORS},
            },
        },
        "/api/v1/shell-files/{shell_file_id}/errors": {
            "get": {
                "operationId": "list_shell_file_errors",
                "summary": "Every failed attempt of every stage",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The error rows, oldest first",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "items": {
                                            "type": "array",
                                            "items": {
                                                "$ref": "#/components/schemas/ProcessingError"
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/content": {
            "get": {
                "operationId": "get_shell_file_content",
                "summary": "The original bytes (audited)",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The file as uploaded",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/pages": {
            "get": {
                "operationId": "list_pages",
                "summary": "Every page's text and reading summary (audited)",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The pages, in order",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "page_count": NULLABLE_INT,
                                        "items": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/PageSummary"},
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/pages/{page_number}": {
            "get": {
                "operationId": "get_page",
                "summary": "One page: text, lines and blocks in reading order, word boxes",
                "parameters": [
                    ID_PARAM,
                    {
                        "name": "page_number",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ],
                "responses": {"200": _json("Page", "The page"), **COMMON_ERRORS},
            }
        },
        "/api/v1/shell-files/{shell_file_id}/entities": {
            "get": {
                "operationId": "list_entities",
                "summary": "Pass 1: clinical mentions with their span, page, box and context",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The entities in text order",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "items": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Entity"},
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/clinical-records": {
            "get": {
                "operationId": "list_clinical_records",
                "summary": "Pass 2: normalised records, each citing the entities it came from",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The records",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "document_kind": {"type": ["string", "null"]},
                                        "document_date": {"type": ["string", "null"]},
                                        "service_dates": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                        },
                                        "items": {
                                            "type": "array",
                                            "items": {
                                                "$ref": "#/components/schemas/ClinicalRecord"
                                            },
                                        },
                                        "ai_usage": {
                                            "type": "object",
                                            "properties": {
                                                "tokens": {"type": "integer"},
                                                "cost_usd": {"type": "number"},
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/narrative": {
            "get": {
                "operationId": "get_narrative",
                "summary": "Pass 3: a summary whose every statement cites records",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "The narrative",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["summary", "statements"],
                                    "properties": {
                                        "shell_file_id": UUID,
                                        "kind": {"type": "string"},
                                        "document_date": {"type": ["string", "null"]},
                                        "summary": {"type": "string"},
                                        "statements": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "required": ["text", "record_ids"],
                                                "properties": {
                                                    "text": {"type": "string"},
                                                    "record_ids": {
                                                        "type": "array",
                                                        "minItems": 1,
                                                        "items": {"type": "string"},
                                                    },
                                                },
                                            },
                                        },
                                        "provider": {"type": "string"},
                                        "model": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/shell-files/{shell_file_id}/fhir": {
            "get": {
                "operationId": "get_fhir_bundle",
                "summary": "The records as a FHIR R4 collection Bundle, with Provenance",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {
                        "description": "A FHIR Bundle",
                        "content": {
                            "application/fhir+json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["resourceType", "type"],
                                    "properties": {
                                        "resourceType": {"const": "Bundle"},
                                        "type": {"const": "collection"},
                                        "entry": {"type": "array"},
                                    },
                                }
                            }
                        },
                    },
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/profiles": {
            "get": {
                "operationId": "list_profiles",
                "summary": "Profiles the caller owns or was granted",
                "responses": {
                    "200": {
                        "description": "The profiles",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "items": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Profile"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "401": COMMON_ERRORS["401"],
                    "503": COMMON_ERRORS["503"],
                },
            }
        },
        "/api/v1/profiles/{profile_id}/shell-files": {
            "get": {
                "operationId": "list_profile_shell_files",
                "summary": "A page of a profile's documents, newest first",
                "parameters": [
                    {
                        "name": "profile_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(SHELL_FILE_STATUSES)},
                    },
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                    },
                    {
                        "name": "per_page",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of documents",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "items": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/ShellFile"},
                                        },
                                        "page": {"type": "integer"},
                                        "per_page": {"type": "integer"},
                                        "total": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("Bad filter or page"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This description",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
    },
}


@api.get("/openapi.json")
def openapi() -> Response:
    return jsonify(SPEC)
