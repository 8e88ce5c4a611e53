"""The profile's record, kept in two tables and read from them.

`record_mentions` holds each document's contribution (`app.pipeline.record.mentions`);
`record_entries` holds the merged entries (`app.pipeline.record.merge`), each rebuilt from
all the profile's mentions of its key. A document changes only the entries it touches:
`refresh_document` replaces its mentions (the record stage, at the end of every run) and
`remove_document` takes them out (archive, hard delete, a new run). Both are idempotent,
join the caller's transaction and commit nothing; both first lock the profile's row
(FOR NO KEY UPDATE on PostgreSQL: uploads into the profile are not held up), so two
documents of one profile never rebuild an entry from each other's half-written mentions.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from app.models import (
    ClinicalDocument,
    RecordEntry,
    RecordMention,
    ShellFile,
    UserProfile,
    table_of,
)
from app.outputs import ai_lane
from app.pipeline.record.mentions import (
    SECTIONS,
    DocumentInfo,
    Mention,
    document_mentions,
    mention_from_json,
    mention_to_json,
    series_key,
)
from app.pipeline.record.merge import Entry, merge_entry, plain
from app.pipeline.record.series import ObservationEntry

Keys = set[tuple[str, str]]


def _lock_profile(session: Session, patient_id: uuid.UUID) -> None:
    session.execute(
        select(UserProfile.id).where(UserProfile.id == patient_id).with_for_update(key_share=True)
    )


def _take_out(session: Session, shell_file_id: uuid.UUID) -> Keys:
    """Delete the document's mentions; return the entries they were part of."""
    rows = session.execute(
        delete(RecordMention)
        .where(RecordMention.shell_file_id == shell_file_id)
        .returning(RecordMention.section, RecordMention.merge_key)
    ).all()
    return {(row.section, row.merge_key) for row in rows}


def document_info(session: Session, shell_file: ShellFile) -> DocumentInfo:
    document_date = session.scalar(
        select(ClinicalDocument.document_date).where(
            ClinicalDocument.shell_file_id == shell_file.id
        )
    )
    return DocumentInfo(str(shell_file.id), shell_file.created_at.isoformat(), document_date)


def refresh_document(session: Session, shell_file: ShellFile) -> int:
    """Replace the document's contribution with what its records say now, and rebuild
    every entry it touched (before or now). Returns how many mentions it has."""
    _lock_profile(session, shell_file.patient_id)
    touched = _take_out(session, shell_file.id)
    mentions = document_mentions(
        document_info(session, shell_file),
        ai_lane.load_records(session, shell_file.id),
        ai_lane.load_entities(session, shell_file.id),
    )
    if mentions:
        session.connection().execute(
            insert(table_of(RecordMention)),
            [
                {
                    "id": uuid.uuid4(),
                    "patient_id": shell_file.patient_id,
                    "shell_file_id": shell_file.id,
                    "section": m.section,
                    "merge_key": m.key,
                    "data": mention_to_json(m),
                }
                for m in mentions
            ],
        )
    touched |= {(m.section, m.key) for m in mentions}
    rebuild(session, shell_file.patient_id, touched)
    return len(mentions)


def remove_document(session: Session, shell_file: ShellFile) -> None:
    """Take the document's contribution out of its profile's record."""
    _lock_profile(session, shell_file.patient_id)
    rebuild(session, shell_file.patient_id, _take_out(session, shell_file.id))


BATCH = 500


def _batches(keys: Keys) -> list[list[tuple[str, str]]]:
    ordered = sorted(keys)
    return [ordered[start : start + BATCH] for start in range(0, len(ordered), BATCH)]


def _mentions_of(session: Session, patient_id: uuid.UUID, keys: Keys) -> list[Mention]:
    found: list[Mention] = []
    for batch in _batches(keys):
        rows = session.scalars(
            select(RecordMention.data).where(
                RecordMention.patient_id == patient_id,
                tuple_(RecordMention.section, RecordMention.merge_key).in_(batch),
            )
        )
        found += map(mention_from_json, rows)
    return found


def rebuild(session: Session, patient_id: uuid.UUID, keys: Keys) -> None:
    """Merge the entries `keys` again from all the profile's mentions of them."""
    if not keys:
        return
    groups: dict[tuple[str, str], list[Mention]] = defaultdict(list)
    for mention in _mentions_of(session, patient_id, keys):
        groups[(mention.section, mention.key)].append(mention)
    for batch in _batches(keys):
        session.execute(
            delete(RecordEntry).where(
                RecordEntry.patient_id == patient_id,
                tuple_(RecordEntry.section, RecordEntry.merge_key).in_(batch),
            )
        )
    rows = []
    for (section, key), group in sorted(groups.items()):
        entry = merge_entry(section, key, group)
        if entry is not None:
            rows.append(_entry_row(patient_id, section, entry))
    if rows:
        session.connection().execute(insert(table_of(RecordEntry)), rows)


def _entry_row(patient_id: uuid.UUID, section: str, entry: Entry) -> dict[str, Any]:
    data: dict[str, Any] = plain(entry)
    detail = None
    if isinstance(entry, ObservationEntry):
        detail = data
        data = {key: value for key, value in data.items() if key != "series"}
        data["series"] = [
            {
                "unit": series.unit,
                "count": len(series.points),
                "review_count": len(series.review),
                "reference_low": series.reference_low,
                "reference_high": series.reference_high,
            }
            for series in entry.series
        ]
    display = getattr(entry, "name", None) or getattr(entry, "substance", "")
    return {
        "patient_id": patient_id,
        "section": section,
        "merge_key": entry.key,
        "display": str(display)[:255],
        "summary": data,
        "detail": detail,
    }


_ORDER = (RecordEntry.section, RecordEntry.display, RecordEntry.merge_key)


def profile_record(session: Session, patient_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every section of the profile's record (empty lists for a profile with none)."""
    record: dict[str, list[dict[str, Any]]] = {section: [] for section in SECTIONS}
    rows = session.execute(
        select(RecordEntry.section, RecordEntry.summary)
        .where(RecordEntry.patient_id == patient_id)
        .order_by(*_ORDER)
    )
    for section, summary in rows:
        record[section].append(summary)
    return record


def section_entries(session: Session, patient_id: uuid.UUID, section: str) -> list[Any]:
    return list(
        session.scalars(
            select(RecordEntry.summary)
            .where(RecordEntry.patient_id == patient_id, RecordEntry.section == section)
            .order_by(*_ORDER)
        )
    )


def observation(session: Session, patient_id: uuid.UUID, code: str) -> dict[str, Any] | None:
    """One test's entry with its whole series, by any of its codes (or its key)."""
    detail: dict[str, Any] | None = session.scalar(
        select(RecordEntry.detail).where(
            RecordEntry.patient_id == patient_id,
            RecordEntry.section == "observations",
            RecordEntry.merge_key == series_key(code),
        )
    )
    return detail


def full_record(session: Session, patient_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every entry in full (observations with their series), for the FHIR Bundle."""
    record: dict[str, list[dict[str, Any]]] = {section: [] for section in SECTIONS}
    rows = session.execute(
        select(RecordEntry.section, RecordEntry.summary, RecordEntry.detail)
        .where(RecordEntry.patient_id == patient_id)
        .order_by(*_ORDER)
    )
    for section, summary, detail in rows:
        record[section].append(detail if detail is not None else summary)
    return record
