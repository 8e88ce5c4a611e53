"""The database schema, one module a domain: accounts, profiles and their sharing
(`accounts`), shell files and their bytes (`documents`), jobs and errors (`jobs`), what
the fast and AI lanes write (`outputs`) and the audit trail (`audit`), on one declarative
base (`base`).

Alembic revisions in `migrations/` create these tables; this package is their single
description, and importing it registers every table on `Base.metadata`. The public names
are re-exported here, so `from app.models import ShellFile` works wherever it is needed.
"""

from app.models.accounts import (
    PERMISSION_LEVELS,
    PROFILE_TYPES,
    Account,
    ApiToken,
    ProfilePermission,
    UserProfile,
)
from app.models.audit import AUDIT_TABLES, AuditLog, AuditSeal
from app.models.base import APP_ROLE, NAMING, Base, JSONType, table_of, utcnow_sql
from app.models.documents import (
    IN_FLIGHT_STATUSES,
    SHELL_FILE_STATUSES,
    BlobChunk,
    LegacyDocumentImport,
    ShellFile,
)
from app.models.jobs import JOB_CATEGORIES, JOB_LANES, JOB_STATUSES, Job, ProcessingError
from app.models.outputs import (
    AiUsage,
    ClinicalDocument,
    ClinicalEntity,
    ClinicalRecord,
    Narrative,
    OcrPage,
    PageLayoutRow,
    RecordEntry,
    RecordMention,
    SecurityScan,
)

__all__ = [
    "APP_ROLE",
    "AUDIT_TABLES",
    "IN_FLIGHT_STATUSES",
    "JOB_CATEGORIES",
    "JOB_LANES",
    "JOB_STATUSES",
    "NAMING",
    "PERMISSION_LEVELS",
    "PROFILE_TYPES",
    "SHELL_FILE_STATUSES",
    "Account",
    "AiUsage",
    "ApiToken",
    "AuditLog",
    "AuditSeal",
    "Base",
    "BlobChunk",
    "ClinicalDocument",
    "ClinicalEntity",
    "ClinicalRecord",
    "JSONType",
    "Job",
    "LegacyDocumentImport",
    "Narrative",
    "OcrPage",
    "PageLayoutRow",
    "ProcessingError",
    "ProfilePermission",
    "RecordEntry",
    "RecordMention",
    "SecurityScan",
    "ShellFile",
    "UserProfile",
    "table_of",
    "utcnow_sql",
]
