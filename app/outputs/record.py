"""The profile's record, kept in two tables and read from them.

`record_mentions` holds each document's contribution (`app.pipeline.record.mentions`);
`record_entries` holds the merged entries, each with what it keeps to take more mentions
(`app.pipeline.record.fold`). A new document is folded into the entries it touches from
its own mentions alone, whatever the size of the profile; when a document leaves (archive,
hard delete, a new run) the entries it was part of are rebuilt from all their mentions,
as is an entry written before it kept a state. A test's series are merged from its
mentions when read. `refresh_document` and `remove_document` are idempotent, join the
caller's transaction and commit nothing; both first lock the profile's row (FOR NO KEY
UPDATE on PostgreSQL: uploads into the profile are not held up), so two documents of one
profile never fold into an entry at once.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, insert, select, true, tuple_, update
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
from app.pipeline.record.fold import (
    RULES,
    EntryState,
    build,
    fold,
    state_from_json,
    state_to_json,
)
from app.pipeline.record.mentions import (
    SECTIONS,
    DocumentInfo,
    Mention,
    document_mentions,
    mention_from_json,
    mention_to_json,
    series_key,
)
from app.pipeline.record.merge import merge_entry, plain

Keys = set[tuple[str, str]]


def _outdated(rules: int | None) -> bool:
    """Whether a record made under `rules` (None: never made) is stale under these."""
    return rules is None or rules < RULES


def _lock_profile(session: Session, patient_id: uuid.UUID) -> bool:
    """Lock the profile's row; return whether its record is stale (see `stale`)."""
    return _outdated(
        session.scalar(
            select(UserProfile.record_rules)
            .where(UserProfile.id == patient_id)
            .with_for_update(key_share=True)
        )
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


def _save_mentions(session: Session, shell_file: ShellFile) -> list[Mention]:
    """Derive the document's mentions from its records and save them."""
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
    return mentions


def stale(session: Session, patient_id: uuid.UUID) -> bool:
    """Whether the profile's record was made under older rules than these (`fold.RULES`),
    or never made (documents completed before there was a record)."""
    return _outdated(
        session.scalar(select(UserProfile.record_rules).where(UserProfile.id == patient_id))
    )


def refresh_document(session: Session, shell_file: ShellFile) -> int:
    """Replace the document's contribution with what its records say now: the entries it
    was part of are rebuilt, those it is new to take its mentions. A record made under
    older rules is first made again from its other documents. Returns how many mentions
    the document has."""
    if _lock_profile(session, shell_file.patient_id):
        rebuild_profile(session, shell_file.patient_id, without=shell_file.id)
    left = _take_out(session, shell_file.id)
    mentions = _save_mentions(session, shell_file)
    rebuild(session, shell_file.patient_id, left)
    added: dict[tuple[str, str], list[Mention]] = defaultdict(list)
    for mention in mentions:
        if (mention.section, mention.key) not in left:
            added[(mention.section, mention.key)].append(mention)
    _fold_in(session, shell_file.patient_id, added)
    return len(mentions)


def remove_document(session: Session, shell_file: ShellFile) -> None:
    """Take the document's contribution out of its profile's record."""
    if _lock_profile(session, shell_file.patient_id):
        rebuild_profile(session, shell_file.patient_id, without=shell_file.id)
    else:
        rebuild(session, shell_file.patient_id, _take_out(session, shell_file.id))


def rebuild_profile(
    session: Session, patient_id: uuid.UUID, *, without: uuid.UUID | None = None
) -> dict[str, int]:
    """The profile's record made again from its completed documents' records (all but
    `without`): every mention derived anew, every entry merged from them, under the rules
    of this release. Returns what it counted."""
    _lock_profile(session, patient_id)
    session.execute(delete(RecordEntry).where(RecordEntry.patient_id == patient_id))
    session.execute(delete(RecordMention).where(RecordMention.patient_id == patient_id))
    documents = session.scalars(
        select(ShellFile)
        .where(
            ShellFile.patient_id == patient_id,
            ShellFile.status == "completed",
            ShellFile.id != without if without is not None else true(),
        )
        .order_by(ShellFile.created_at, ShellFile.id)
    ).all()
    keys: Keys = set()
    mentions = 0
    for shell_file in documents:
        added = _save_mentions(session, shell_file)
        keys |= {(m.section, m.key) for m in added}
        mentions += len(added)
    rebuild(session, patient_id, keys)
    session.execute(
        update(UserProfile).where(UserProfile.id == patient_id).values(record_rules=RULES)
    )
    return {"documents": len(documents), "mentions": mentions, "entries": len(keys)}


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
    kept = {}
    for (section, key), group in sorted(groups.items()):
        built = build(section, key, group)
        if built is not None:
            kept[(section, key)] = built
    _write(session, patient_id, keys, kept)


Kept = tuple[dict[str, Any], EntryState]


def _fold_in(
    session: Session, patient_id: uuid.UUID, added: dict[tuple[str, str], list[Mention]]
) -> None:
    """Fold new mentions into their entries; an entry without a state (or none yet) is
    rebuilt from all its mentions, which for a new entry are the new ones."""
    before: dict[tuple[str, str], Kept] = {}
    for batch in _batches(set(added)):
        rows = session.execute(
            select(
                RecordEntry.section, RecordEntry.merge_key, RecordEntry.summary, RecordEntry.state
            ).where(
                RecordEntry.patient_id == patient_id,
                tuple_(RecordEntry.section, RecordEntry.merge_key).in_(batch),
            )
        )
        for section, key, summary, state in rows:
            try:
                before[(section, key)] = (summary, state_from_json(state))
            except (ValueError, KeyError, TypeError):
                continue  # none, or another version's: rebuilt below
    rebuild(session, patient_id, set(added) - set(before))
    kept = {
        (section, key): fold(section, key, before[(section, key)], added[(section, key)])
        for section, key in sorted(before)
    }
    _write(session, patient_id, set(kept), kept)


def _write(
    session: Session, patient_id: uuid.UUID, keys: Keys, kept: dict[tuple[str, str], Kept]
) -> None:
    """Replace the entries `keys` with those `kept` (a key not kept has no entry now)."""
    for batch in _batches(keys):
        session.execute(
            delete(RecordEntry).where(
                RecordEntry.patient_id == patient_id,
                tuple_(RecordEntry.section, RecordEntry.merge_key).in_(batch),
            )
        )
    rows = [
        _entry_row(patient_id, section, key, summary, state)
        for (section, key), (summary, state) in sorted(kept.items())
    ]
    if rows:
        session.connection().execute(insert(table_of(RecordEntry)), rows)


def _entry_row(
    patient_id: uuid.UUID, section: str, key: str, summary: dict[str, Any], state: EntryState
) -> dict[str, Any]:
    display = summary.get("name") or summary.get("substance") or ""
    return {
        "patient_id": patient_id,
        "section": section,
        "merge_key": key,
        "display": str(display)[:255],
        "summary": summary,
        "detail": None,
        "state": state_to_json(state),
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


def observations(
    session: Session, patient_id: uuid.UUID, key: str | None = None
) -> list[dict[str, Any]]:
    """Tests in full, their series merged from their mentions (one test, or every one)."""
    query = select(RecordMention.data).where(
        RecordMention.patient_id == patient_id, RecordMention.section == "observations"
    )
    if key is not None:
        query = query.where(RecordMention.merge_key == key)
    groups: dict[str, list[Mention]] = defaultdict(list)
    for mention in map(mention_from_json, session.scalars(query)):
        groups[mention.key].append(mention)
    entries = [merge_entry("observations", found, group) for found, group in groups.items()]
    shown = [plain(entry) for entry in entries if entry is not None]
    return sorted(shown, key=lambda entry: (entry["name"], entry["key"]))


def observation(session: Session, patient_id: uuid.UUID, code: str) -> dict[str, Any] | None:
    """One test's entry with its whole series, by any of its codes (or its key)."""
    found = observations(session, patient_id, series_key(code))
    return found[0] if found else None


def full_record(session: Session, patient_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every entry in full (tests with their series), for the FHIR Bundle and the results."""
    record = profile_record(session, patient_id)
    record["observations"] = observations(session, patient_id)
    return record
