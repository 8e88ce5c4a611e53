"""The API's requests and answers, declared once as pydantic models.

The OpenAPI description (`app.api.openapi`) is generated from these models, and the
tests check every answer the views give against it, so the two cannot drift apart.
The views build their bodies themselves (no validation at run time); these models say
what those bodies are.

Answers forbid keys they do not declare, so a key a view adds without its model fails
the tests. A field that is `X | SkipJsonSchema[None] = None` may be left out but is
never null.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.models import PROFILE_TYPES, SHELL_FILE_STATUSES
from app.pipeline import STAGE_NAMES
from app.pipeline.ai.types import ENTITY_TYPES, NARRATIVE_KINDS
from app.search.query import MAX_ENTITY_NAME_CHARS, MAX_QUERY_CHARS

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000  # keeps the row offset within PostgreSQL's range

if TYPE_CHECKING:
    ShellFileStatus = str
    StageName = str
    ProfileType = str
    DocumentKind = str
    EntityType = str
else:  # the value sets, from the one place each is defined
    ShellFileStatus = Literal[SHELL_FILE_STATUSES]
    StageName = Literal[STAGE_NAMES]
    ProfileType = Literal[PROFILE_TYPES]
    DocumentKind = Literal[NARRATIVE_KINDS]
    EntityType = Literal[ENTITY_TYPES]

NormalisedBox = Annotated[
    list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=4, max_length=4)
]


class Answer(BaseModel):
    """An answer body: exactly the declared keys."""

    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """An object that may carry keys besides the declared ones."""

    model_config = ConfigDict(extra="allow")


# Errors


class ErrorDetail(Answer):
    code: str
    message: str
    # Why a document is withheld: the `error_type` of its final error (never a message).
    reason: str | SkipJsonSchema[None] = None


class Error(Answer):
    error: ErrorDetail


# Shell files


class StageStatus(Answer):
    status: str
    lane: Literal["fast", "ai"]
    job_id: uuid.UUID
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    last_error: str | None


class ShellFile(Answer):
    id: uuid.UUID
    patient_id: uuid.UUID
    original_filename: str
    mime_type: str
    file_size_bytes: int
    sha256: str
    status: ShellFileStatus
    current_stage: str | None
    run_number: int
    processing_priority: int = Field(ge=1, le=10)
    page_count: int | None
    ocr_average_confidence: float | None
    created_at: datetime | None
    updated_at: datetime | None
    processing_started_at: datetime | None
    processing_completed_at: datetime | None
    stages: dict[str, StageStatus | None] | SkipJsonSchema[None] = Field(
        None, description="Each stage of the current run (one document's status only)"
    )


class UploadAnswer(Answer):
    shell_file_id: uuid.UUID
    job_id: uuid.UUID | None
    status: ShellFileStatus
    patient_id: uuid.UUID
    mime_type: str
    file_size_bytes: int
    sha256: str
    duplicate: bool


class ProcessingError(Answer):
    id: int
    job_id: uuid.UUID | None
    stage: str
    error_type: str
    error_message: str
    retry_count: int
    next_retry_at: datetime | None
    is_final: bool
    created_at: datetime | None


class ProcessingErrors(Answer):
    shell_file_id: uuid.UUID
    items: list[ProcessingError]


class Reprocessed(Answer):
    shell_file_id: uuid.UUID
    run_number: int
    status: ShellFileStatus
    job_id: uuid.UUID


class Cancelled(Answer):
    shell_file_id: uuid.UUID
    status: Literal["cancelled"]
    cancelled_jobs: int


class Archived(Answer):
    shell_file_id: uuid.UUID
    status: Literal["archived"]


# Pages


class PageSummary(Answer):
    page_number: int = Field(ge=1)
    width: float
    height: float
    unit: Literal["pt", "px", "char"]
    engine: str
    rotation: Literal[0, 90, 180, 270]
    mean_confidence: float | None
    word_count: int
    is_empty: bool
    columns: int | None
    text: str


class Pages(Answer):
    shell_file_id: uuid.UUID
    page_count: int | None
    items: list[PageSummary]


class Line(Open):
    text: str
    box: NormalisedBox
    block: int
    words: list[list[Any]] = Field(description="[text, x0, y0, x1, y1, confidence], box 0-1")


class Block(Open):
    box: NormalisedBox
    first_line: int
    last_line: int


class Page(PageSummary):
    words: list[Annotated[list[Any], Field(min_length=6, max_length=6)]] = Field(
        description="[text, x0, y0, x1, y1, confidence] in the page's unit"
    )
    lines: list[Line]
    blocks: list[Block]


# What the AI lane found


class Entity(Answer):
    id: str
    type: str
    text: str
    start: int
    end: int
    page: int | None
    box: list[float] | None
    confidence: float
    negated: bool
    historical: bool
    family: bool
    hypothetical: bool
    section: str | None
    found_by: Literal["lexicon", "vocabulary", "pattern", "section", "fuzzy", "model"]
    ocr_confidence: float | None


class Entities(Answer):
    shell_file_id: uuid.UUID
    items: list[Entity]


class RecordData(Open):
    """The record's fields. A lab result or vital sign read from a page also carries
    needs_review (check it against the page: implausible or read weakly), review_reason
    (a code) and ocr_confidence (0-1, of the words the value was read from)."""

    needs_review: bool | SkipJsonSchema[None] = None
    review_reason: str | None = None
    ocr_confidence: float | None = None


class ClinicalRecord(Answer):
    id: str
    type: Literal[
        "medication",
        "lab_result",
        "vital",
        "condition",
        "allergy",
        "immunization",
        "procedure",
    ]
    display: str
    code_system: str | None
    code: str | None
    entity_ids: list[str]
    data: RecordData


class AiUsage(Answer):
    tokens: int
    cost_usd: float


class ClinicalRecords(Answer):
    shell_file_id: uuid.UUID
    document_kind: str | None
    document_date: str | None
    service_dates: list[str]
    items: list[ClinicalRecord]
    ai_usage: AiUsage


class Statement(Answer):
    text: str
    record_ids: list[str] = Field(min_length=1)


class Narrative(Answer):
    shell_file_id: uuid.UUID
    kind: str
    document_date: str | None
    summary: str
    statements: list[Statement]
    provider: str
    model: str


class FhirBundle(Open):
    """A FHIR R4 collection Bundle (validated against FHIR by `fhir.resources`)."""

    resource_type: Literal["Bundle"] = Field(alias="resourceType")
    type: Literal["collection"]
    entry: list[dict[str, Any]] | SkipJsonSchema[None] = None


# Profiles


class Profile(Answer):
    id: uuid.UUID
    display_name: str
    profile_type: ProfileType
    archived: bool
    access: Literal["owner", "read_only", "read_write", "full_access"]


class Profiles(Answer):
    items: list[Profile]


class ShellFilePage(Answer):
    items: list[ShellFile]
    page: int
    per_page: int
    total: int


class SearchLinks(Answer):
    page: str = Field(description="The page's text, lines and words in this API")
    view: str = Field(description="The page in the web app")


class SearchHit(Answer):
    shell_file_id: uuid.UUID
    filename: str
    kind: DocumentKind | None
    document_date: date | None = Field(description="The document's own date, if Pass 2 read one")
    uploaded_at: datetime
    page_number: int
    snippet: str = Field(description="HTML: the page's text escaped, its hits in <mark>")
    links: SearchLinks


class SearchResults(Answer):
    items: list[SearchHit]
    page: int
    per_page: int
    total: int


# Requests: what a view reads from the query, headers and body. The views parse these
# themselves (their error bodies are the API's own); the models describe them.


class ShellFileListQuery(BaseModel):
    status: ShellFileStatus | SkipJsonSchema[None] = None
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)


class SearchQuery(BaseModel):
    q: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description='Words, "a phrase", a OR b, -left-out (web-search syntax)',
    )
    kind: DocumentKind | SkipJsonSchema[None] = None
    from_: date | SkipJsonSchema[None] = Field(None, alias="from")
    to: date | SkipJsonSchema[None] = None
    entity_type: EntityType | SkipJsonSchema[None] = None
    entity_name: str | SkipJsonSchema[None] = Field(None, max_length=MAX_ENTITY_NAME_CHARS)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)


class DeleteQuery(BaseModel):
    hard: bool = False


class PagePath(BaseModel):
    shell_file_id: str
    page_number: int = Field(ge=1)


class UploadHeaders(BaseModel):
    idempotency_key: str | SkipJsonSchema[None] = Field(
        None, alias="Idempotency-Key", max_length=255
    )


class UploadForm(BaseModel):
    file: bytes = Field(
        json_schema_extra={"type": "string", "format": "binary", "minLength": 1},
        description="The document; its type is judged from its bytes",
    )
    patient_id: uuid.UUID
    priority: int = Field(5, ge=1, le=10)


class ReprocessBody(BaseModel):
    from_stage: StageName | SkipJsonSchema[None] = None
