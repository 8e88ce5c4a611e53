"""The upload's one statement on PostgreSQL, built from the rules it checks.

A new document in one round trip: the statement checks the caller's token when the
request took it on trust (`authenticate(deferred=True)`), that the uploader may write to
the profile and that the profile is not archived; only then does it insert the shell
file, one job per stage, the upload's audit row and, for a file of one chunk, its bytes.
Checking and writing in one statement leaves no moment between them for a token or a
grant to be revoked.

Nothing in it restates a rule: the token rule (`account_of_token`), the access rule
(`reaches`) and the fair-share count (`in_flight_of_profile`) are rendered from their one
definition, and the job rows are the rows `enqueue.pipeline_rows` makes, passed as JSON
(their priority set by the fair share computed here). Short, with few parameters, so that
psycopg caches its parsing and PostgreSQL its plan (a test keeps it so).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Select, literal_column, select, text
from sqlalchemy.dialects import postgresql

from app.access.grants import reaches
from app.access.tokens import account_of_token
from app.models import ApiToken, UserProfile
from app.runs.enqueue import FAIR_SHARE_STEP, in_flight_of_profile


def _sql(statement: Select[Any]) -> str:
    """A statement of the access and fair-share rules as PostgreSQL text, its constants
    written as literals, for the upload's one statement below."""
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs=_LITERALS))


_LITERALS = {"literal_binds": True}
# The statement's own parameters, as the rules' arguments.
_ACCOUNT: ColumnElement[Any] = literal_column(":uploaded_by")
_PROFILE: ColumnElement[Any] = literal_column(":patient_id")
_NOW: ColumnElement[Any] = literal_column(":now")
_CALLER_SQL = _sql(
    account_of_token(literal_column(":token_hash"), _NOW).where(ApiToken.account_id == _ACCOUNT)
)
_REACHED_SQL = _sql(
    select(UserProfile.archived).where(
        reaches("read_write", account=_ACCOUNT, profile=_PROFILE, now=_NOW)
    )
)
_IN_FLIGHT_SQL = _sql(in_flight_of_profile(_PROFILE, literal_column(":id")))

_NEW_DOCUMENT_SQL = """
WITH caller AS (
    SELECT CAST(NULL AS uuid) WHERE CAST(:token_hash AS text) IS NULL
    UNION ALL {caller}
), reached AS ({reached}
), allowed AS (
    SELECT 1 FROM reached WHERE NOT archived AND EXISTS (SELECT FROM caller)
), in_flight AS ({in_flight}
), fair AS (
    SELECT least(10, :processing_priority + n / {fair_share_step}) AS priority FROM in_flight
), file_inserted AS (
    INSERT INTO shell_files (id, patient_id, uploaded_by, original_filename, mime_type,
        file_size_bytes, sha256, storage_key, status, processing_priority, idempotency_key,
        run_number)
    SELECT :id, :patient_id, :uploaded_by, :original_filename, :mime_type,
        :file_size_bytes, :sha256, :storage_key, :status, :processing_priority,
        :idempotency_key, :run_number
    FROM allowed
), jobs_inserted AS (
    INSERT INTO job_queue
    SELECT priced.* FROM fair, allowed,
        jsonb_populate_recordset(CAST(NULL AS job_queue), CAST(:job_rows AS jsonb)) AS job,
        jsonb_populate_record(job, jsonb_build_object('priority', fair.priority)) AS priced
), audit_inserted AS (
    INSERT INTO audit_log (actor_type, account_id, patient_id, table_name, record_id,
        operation, reason, compliance_category, request_id, client_address)
    SELECT :audit_actor_type, :audit_account_id, :audit_patient_id, :audit_table_name,
        :audit_record_id, :audit_operation, :audit_reason, :audit_compliance_category,
        :audit_request_id, :audit_client_address
    FROM allowed
){chunk}
SELECT EXISTS (SELECT FROM caller) AS caller, (SELECT archived FROM reached) AS archived,
    (SELECT priority FROM fair) AS priority
"""
_CHUNK_SQL = """, chunk_inserted AS (
    INSERT INTO blob_chunks (storage_key, seq, data) SELECT :storage_key, 0, :chunk FROM allowed
)"""
_PIECES = {
    "caller": _CALLER_SQL,
    "reached": _REACHED_SQL,
    "in_flight": _IN_FLIGHT_SQL,
    "fair_share_step": FAIR_SHARE_STEP,
}
NEW_DOCUMENT = text(_NEW_DOCUMENT_SQL.format(chunk="", **_PIECES))
NEW_DOCUMENT_WITH_BYTES = text(_NEW_DOCUMENT_SQL.format(chunk=_CHUNK_SQL, **_PIECES))


def job_rows_json(rows: list[dict[str, Any]]) -> str:
    """Job rows as the JSON `jsonb_populate_recordset` reads (ids and times as text)."""
    return json.dumps(rows, default=str)
