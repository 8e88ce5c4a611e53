"""The legacy import on a generated table of 10,000 documents, in a database of its own.

No worker watches this database, so the imported runs stay unpublished and the test
can look at them as the relay would find them. (tests/ops/test_legacy_pipeline.py runs a
small import through the session's real worker.)
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text

from app.db import Database
from app.models import ShellFile
from app.ops.legacy import (
    LEGACY_PRIORITY,
    ImportReport,
    LegacyImportError,
    Target,
    import_documents,
    legacy_table,
    verify_import,
)
from app.pipeline import STAGE_NAMES
from app.runs import enqueue, outbox
from app.storage import Blobs
from tests.ops.legacy_table import add_document, create_legacy_table
from tests.support.factories import make_shell_file
from tests.support.services import drop_database, fresh_database, migrate

ROWS = 10_000
ACCOUNTS = 2_000
WITH_SELF_PROFILE = 1_000  # accounts 1…1000 already have a self profile
CHUNK = 4096  # small chunks, so the longer documents span several

# Rows after the generated 10,000: each one a case the import must handle.
EMPTY, BAD_CHECKSUM, UNKNOWN_ACCOUNT = 10_001, 10_002, 10_003
SAME_AS_DOC_1 = 10_004  # account 1 again, the bytes of document 1 (an earlier batch)
PNG = 10_005  # binary bytes, no filename
ALREADY_UPLOADED = 10_006  # bytes account 3 had already uploaded through the API
TWIN_A, TWIN_B = 10_007, 10_008  # the same bytes twice in one batch


@pytest.fixture(scope="module")
def legacy_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    name = f"sfp_legacy_{os.getpid()}"
    url = fresh_database(name)
    migrate(url)
    db = Database(url, pool_size=2)
    yield db
    db.engine.dispose()
    drop_database(name)


def scalar(db: Database, sql: str, **params: Any) -> Any:
    with db.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def account_id(connection: Any, number: int) -> uuid.UUID:
    return connection.execute(
        text("SELECT id FROM accounts WHERE email = :e"), {"e": f"legacy{number}@example.test"}
    ).scalar_one()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), (0, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def generate(db: Database, table: str) -> dict[int, bytes]:
    """10,000 text documents for 2,000 accounts, then the special rows; returns the
    special rows' bytes."""
    with db.engine.begin() as connection:
        create_legacy_table(connection, table)
        connection.execute(
            text(
                "INSERT INTO accounts (id, email) SELECT gen_random_uuid(),"
                " 'legacy' || g || '@example.test' FROM generate_series(1, :n) g"
            ),
            {"n": ACCOUNTS},
        )
        connection.execute(
            text(
                "INSERT INTO user_profiles (id, account_owner_id, profile_type, display_name)"
                " SELECT gen_random_uuid(), a.id, p.kind, 'Existing'"
                " FROM generate_series(1, :n) g"
                " JOIN accounts a ON a.email = 'legacy' || g || '@example.test'"
                " CROSS JOIN (VALUES ('self'), ('child')) AS p(kind)"
            ),
            {"n": WITH_SELF_PROFILE},
        )
        # A child profile is not a self profile: these accounts still need one made.
        connection.execute(
            text(
                "INSERT INTO user_profiles (id, account_owner_id, profile_type, display_name)"
                " SELECT gen_random_uuid(), id, 'child', 'Kid' FROM accounts"
                " WHERE email = 'legacy2000@example.test'"
            )
        )
        # Lines of 25 bytes, 1 to 181 of them: every seventh document (4,525 bytes) spans
        # two chunks.
        connection.execute(
            text(
                f"""
                INSERT INTO {table} (id, patient_id, filename, mime_type, content, created_at)
                SELECT i, a.id, 'letter-' || i || '.txt', 'application/pdf',
                       convert_to(repeat('Legacy letter ' || lpad(i::text, 5, '0') || E' line\\n',
                                         1 + (i % 7) * 30),
                                  'UTF8'),
                       now() - make_interval(days => i % 365)
                FROM generate_series(1, :rows) i
                JOIN accounts a
                  ON a.email = 'legacy' || ((i - 1) % :accounts + 1) || '@example.test'
                """
            ),
            {"rows": ROWS, "accounts": ACCOUNTS},
        )
        # Half the rows carry the legacy system's own checksum, some in capitals.
        connection.execute(
            text(f"UPDATE {table} SET sha256 = encode(sha256(content), 'hex') WHERE id % 2 = 0")
        )
        connection.execute(text(f"UPDATE {table} SET sha256 = upper(sha256) WHERE id % 10 = 0"))
        doc1 = connection.execute(text(f"SELECT content FROM {table} WHERE id = 1")).scalar_one()
        special = {
            EMPTY: b"",
            BAD_CHECKSUM: b"these bytes changed after their checksum was taken\n",
            SAME_AS_DOC_1: doc1,
            PNG: png_bytes(),
            ALREADY_UPLOADED: b"Uploaded once through the API, and kept in the old system\n",
            TWIN_A: b"Scanned twice into the old system\n",
            TWIN_B: b"Scanned twice into the old system\n",
        }
        owners = {
            EMPTY: account_id(connection, 1),
            BAD_CHECKSUM: account_id(connection, 1),
            SAME_AS_DOC_1: account_id(connection, 1),
            PNG: account_id(connection, 2),
            ALREADY_UPLOADED: account_id(connection, 3),
            TWIN_A: account_id(connection, 4),
            TWIN_B: account_id(connection, 4),
        }
        for legacy_id, content in special.items():
            add_document(
                connection,
                table,
                legacy_id,
                owners[legacy_id],
                content,
                filename=None if legacy_id == PNG else "letter.txt",
                sha256="0" * 64 if legacy_id == BAD_CHECKSUM else None,
            )
        add_document(connection, table, UNKNOWN_ACCOUNT, uuid.uuid4(), b"whose?\n")
        special[UNKNOWN_ACCOUNT] = b"whose?\n"
        upload_through_api(connection, account_id(connection, 3), special[ALREADY_UPLOADED])
    return special


def upload_through_api(connection: Any, account: uuid.UUID, content: bytes) -> None:
    """What an earlier upload left behind: a completed shell file and its blob."""
    shell_file_id = uuid.uuid4()
    connection.execute(
        text(
            "INSERT INTO shell_files (id, patient_id, uploaded_by, original_filename, mime_type,"
            " file_size_bytes, sha256, storage_key, status, run_number, processing_priority)"
            " SELECT :id, p.id, :account, 'upload.txt', 'text/plain', :size, :sha, :key,"
            " 'completed', 1, 5 FROM user_profiles p"
            " WHERE p.account_owner_id = :account AND p.profile_type = 'self'"
        ),
        {
            "id": shell_file_id,
            "account": account,
            "size": len(content),
            "sha": hashlib.sha256(content).hexdigest(),
            "key": f"db:{shell_file_id}",
        },
    )
    connection.execute(
        text("INSERT INTO blob_chunks (storage_key, seq, data) VALUES (:key, 0, :data)"),
        {"key": f"db:{shell_file_id}", "data": content},
    )


COUNTED_TABLES = (
    "shell_files",
    "blob_chunks",
    "job_queue",
    "user_profiles",
    "audit_log",
    "legacy_document_imports",
)


def table_counts(db: Database) -> dict[str, int]:
    return {name: scalar(db, f"SELECT count(*) FROM {name}") for name in COUNTED_TABLES}


@pytest.fixture(scope="module")
def imported(
    legacy_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Target, ImportReport, dict[int, bytes], dict[str, int]]:
    """Given 10,008 legacy rows, when they are imported once: the target, the report,
    the special rows' bytes and the table counts before the import."""
    table = legacy_table("documents")
    special = generate(legacy_db, table)
    before = table_counts(legacy_db)
    blobs = Blobs("db", tmp_path_factory.mktemp("blobs"))
    target = Target(table=table, blobs=blobs, bytes_in_database=True, chunk_bytes=CHUNK)
    report = import_documents(legacy_db, target)
    return target, report, special, before


def test_the_import_reports_what_it_did(imported) -> None:
    _, report, _, _ = imported
    assert report.as_json() == {
        "scanned": ROWS + 8,
        "imported": ROWS + 2,  # the PNG and the first twin
        "duplicates": 3,  # document 1's bytes again, the earlier upload, the second twin
        "profiles_created": ACCOUNTS - WITH_SELF_PROFILE,
        "runs_enqueued": ROWS + 2,
        "refused": {
            "checksum_mismatch": {"count": 1, "legacy_ids": [BAD_CHECKSUM]},
            "empty": {"count": 1, "legacy_ids": [EMPTY]},
            "unknown_account": {"count": 1, "legacy_ids": [UNKNOWN_ACCOUNT]},
        },
    }


def test_each_document_lands_in_its_accounts_self_profile(legacy_db, imported) -> None:
    _, _, _, before = imported
    # Every account with documents has exactly one self profile: the one it had, or a new one.
    assert (
        scalar(
            legacy_db,
            "SELECT count(*) FROM accounts a WHERE a.email LIKE 'legacy%'"
            " AND (SELECT count(*) FROM user_profiles p WHERE p.account_owner_id = a.id"
            "      AND p.profile_type = 'self') <> 1",
        )
        == 0
    )
    assert (
        scalar(legacy_db, "SELECT count(*) FROM user_profiles WHERE display_name = 'Existing'")
        == 2 * WITH_SELF_PROFILE
    )
    assert (
        scalar(legacy_db, "SELECT count(*) FROM user_profiles")
        == before["user_profiles"] + ACCOUNTS - WITH_SELF_PROFILE
    )
    # Each mapped shell file belongs to the self profile of the legacy row's account.
    assert (
        scalar(
            legacy_db,
            "SELECT count(*) FROM legacy_document_imports m"
            " JOIN documents d ON d.id = m.legacy_id"
            " JOIN shell_files s ON s.id = m.shell_file_id"
            " JOIN user_profiles p ON p.id = s.patient_id"
            " WHERE p.account_owner_id = d.patient_id AND p.profile_type = 'self'"
            " AND m.patient_id = p.id",
        )
        == ROWS + 5
    )


def test_shell_files_keep_the_legacy_bytes_and_dates(legacy_db, imported) -> None:
    target, _, special, _ = imported
    assert (
        scalar(
            legacy_db,
            "SELECT count(*) FROM shell_files s JOIN legacy_document_imports m"
            " ON m.shell_file_id = s.id AND NOT m.duplicate JOIN documents d ON d.id = m.legacy_id"
            " WHERE s.status = 'uploaded' AND s.processing_priority = :p"
            " AND s.sha256 = encode(sha256(d.content), 'hex')"
            " AND s.file_size_bytes = length(d.content) AND s.created_at = d.created_at"
            " AND s.uploaded_by = d.patient_id AND s.storage_key = 'db:' || s.id",
            p=LEGACY_PRIORITY,
        )
        == ROWS + 2
    )
    # Two chunks for every seventh document (4.3 KB), one for the rest.
    assert (
        scalar(
            legacy_db,
            "SELECT count(*) FROM blob_chunks c JOIN shell_files s ON s.storage_key = c.storage_key"
            " JOIN legacy_document_imports m ON m.shell_file_id = s.id AND NOT m.duplicate",
        )
        == ROWS + ROWS // 7 + 2
    )
    with target_session(legacy_db) as session:
        png = shell_file_of(session, PNG)
        assert b"".join(target.blobs.read(session, png.storage_key)) == special[PNG]
        assert (png.mime_type, png.original_filename) == ("image/png", "upload")
        longest = shell_file_of(session, 13)  # 13 % 7 == 6: two chunks
        assert longest.mime_type == "text/plain"  # from the bytes, not the legacy column
        assert longest.original_filename == "letter-13.txt"
        content = b"".join(target.blobs.read(session, longest.storage_key))
        assert len(content) > CHUNK
        assert hashlib.sha256(content).hexdigest() == longest.sha256


def test_duplicates_map_onto_the_shell_file_that_holds_their_bytes(legacy_db, imported) -> None:
    with target_session(legacy_db) as session:
        assert shell_file_of(session, SAME_AS_DOC_1).id == shell_file_of(session, 1).id
        assert shell_file_of(session, TWIN_B).id == shell_file_of(session, TWIN_A).id
        earlier = shell_file_of(session, ALREADY_UPLOADED)
        assert (earlier.original_filename, earlier.status) == ("upload.txt", "completed")
    duplicates = scalar(
        legacy_db,
        "SELECT array_agg(legacy_id ORDER BY legacy_id) FROM legacy_document_imports"
        " WHERE duplicate",
    )
    assert duplicates == [SAME_AS_DOC_1, ALREADY_UPLOADED, TWIN_B]


def test_each_new_document_has_one_unpublished_background_run(legacy_db, imported) -> None:
    row = scalar(
        legacy_db,
        "SELECT json_build_object("
        " 'jobs', count(*),"
        " 'unpublished', count(*) FILTER (WHERE published_at IS NULL),"
        " 'priorities', array_agg(DISTINCT priority),"
        " 'categories', array_agg(DISTINCT job_category),"
        " 'heads_queued', count(*) FILTER (WHERE stage_index = 0 AND status = 'queued'),"
        " 'rest_waiting', count(*) FILTER (WHERE stage_index > 0 AND status = 'waiting'),"
        " 'files', count(DISTINCT shell_file_id)) FROM job_queue",
    )
    assert row == {
        "jobs": len(STAGE_NAMES) * (ROWS + 2),
        "unpublished": len(STAGE_NAMES) * (ROWS + 2),
        "priorities": [LEGACY_PRIORITY],
        "categories": ["background"],
        "heads_queued": ROWS + 2,
        "rest_waiting": (len(STAGE_NAMES) - 1) * (ROWS + 2),
        "files": ROWS + 2,
    }
    # Runs were enqueued in legacy id order, so the relay takes the oldest documents first.
    assert scalar(
        legacy_db,
        "SELECT bool_and(in_order) FROM (SELECT j.created_at >= lag(j.created_at)"
        " OVER (ORDER BY m.legacy_id) IS NOT FALSE AS in_order"
        " FROM legacy_document_imports m JOIN job_queue j"
        " ON j.shell_file_id = m.shell_file_id AND j.stage_index = 0 WHERE NOT m.duplicate) o",
    )


def test_the_relay_publishes_a_live_upload_before_the_backlog(legacy_db, imported) -> None:
    session = legacy_db.sessionmaker()
    try:
        profile_id = scalar(legacy_db, "SELECT id FROM user_profiles LIMIT 1")
        live = make_shell_file(
            session, profile_id, None, original_filename="live.txt", mime_type="text/plain"
        )
        enqueue.enqueue_pipeline(session, live)
        picked = outbox.jobs_to_publish(
            session, current_epoch=None, grace=timedelta(0), stale_after=timedelta(seconds=30)
        )
        legacy_ids = dict(
            session.execute(
                text(
                    "SELECT shell_file_id, legacy_id FROM legacy_document_imports"
                    " WHERE NOT duplicate"
                )
            ).all()
        )
        assert picked[0].shell_file_id == live.id
        assert [legacy_ids[job.shell_file_id] for job in picked[1:]] == list(range(1, 500))
    finally:
        session.rollback()
        session.close()


def test_every_write_is_audited_by_the_system(legacy_db, imported) -> None:
    _, _, _, before = imported
    rows = scalar(
        legacy_db,
        "SELECT json_object_agg(k, n) FROM (SELECT table_name || ':' || reason AS k, count(*) AS n"
        " FROM audit_log WHERE actor_type = 'system' AND operation = 'create'"
        " AND account_id IS NULL GROUP BY 1) c",
    )
    assert rows == {
        "user_profiles:legacy import: self profile": ACCOUNTS - WITH_SELF_PROFILE,
        "shell_files:legacy import": ROWS + 2,
        "legacy_document_imports:legacy import: same bytes already in the profile": 3,
    }
    assert scalar(legacy_db, "SELECT count(*) FROM audit_log") == before["audit_log"] + sum(
        rows.values()
    )


def test_verify_names_the_refused_rows_and_a_damaged_blob(legacy_db, imported) -> None:
    target, _, _, _ = imported
    report = verify_import(legacy_db, target)
    assert report.as_json() == {
        "ok": False,
        "legacy_rows": ROWS + 8,
        "legacy_bytes": scalar(legacy_db, "SELECT sum(length(content)) FROM documents"),
        "mapped": ROWS + 5,
        "imported": ROWS + 2,
        "duplicates": 3,
        "deleted_since": 0,
        "missing": 3,
        "missing_ids": [EMPTY, BAD_CHECKSUM, UNKNOWN_ACCOUNT],
        "mismatched": 0,
        "mismatched_ids": [],
    }
    # One flipped byte in one stored chunk is caught.
    key = scalar(
        legacy_db,
        "SELECT storage_key FROM shell_files s JOIN legacy_document_imports"
        " m ON m.shell_file_id = s.id WHERE m.legacy_id = 13",
    )
    with legacy_db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE blob_chunks SET data = overlay(data PLACING '\\x00'::bytea FROM 100)"
                " WHERE storage_key = :key AND seq = 1"
            ),
            {"key": key},
        )
    try:
        damaged = verify_import(legacy_db, target)
        assert (damaged.ok, damaged.mismatched, damaged.mismatched_ids) == (False, 1, [13])
    finally:
        with legacy_db.engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE blob_chunks c SET data = substring(d.content FROM 4097 FOR 4096)"
                    " FROM documents d WHERE d.id = 13 AND c.storage_key = :key AND c.seq = 1"
                ),
                {"key": key},
            )
    assert verify_import(legacy_db, target).mismatched == 0


def test_a_second_import_changes_nothing(legacy_db, imported) -> None:
    target, _, _, _ = imported
    after_first = table_counts(legacy_db)

    again = import_documents(legacy_db, target)

    assert (again.imported, again.duplicates, again.profiles_created, again.runs_enqueued) == (
        0,
        0,
        0,
        0,
    )
    assert again.scanned == 3  # only the refused rows are looked at again
    assert sorted(again.refused) == ["checksum_mismatch", "empty", "unknown_account"]
    assert table_counts(legacy_db) == after_first


def test_once_the_legacy_data_is_fixed_the_import_completes(legacy_db, imported) -> None:
    target, _, _, _ = imported
    with legacy_db.engine.begin() as connection:
        connection.execute(text("DELETE FROM documents WHERE id = :id"), {"id": EMPTY})
        connection.execute(
            text("UPDATE documents SET sha256 = NULL WHERE id = :id"), {"id": BAD_CHECKSUM}
        )
        connection.execute(
            text(
                "INSERT INTO accounts (id, email) SELECT patient_id, 'found@example.test'"
                " FROM documents WHERE id = :id"
            ),
            {"id": UNKNOWN_ACCOUNT},
        )

    report = import_documents(legacy_db, target)
    verified = verify_import(legacy_db, target)

    assert (report.imported, report.profiles_created, report.refused) == (2, 1, {})
    assert verified.ok
    assert (verified.legacy_rows, verified.mapped, verified.missing) == (ROWS + 7, ROWS + 7, 0)


def test_a_file_blob_store_gets_the_bytes_streamed_through_it(legacy_db, tmp_path: Path) -> None:
    """The same import with blobs in a folder: each document goes through `Blobs.put`."""
    table = legacy_table("file_store_documents")
    contents = {
        900_000 + n: (f"Letter {n} of {os.urandom(8).hex()}\n" * (CHUNK // 8))[
            : CHUNK * n + 17
        ].encode()
        for n in range(3)
    }
    with legacy_db.engine.begin() as connection:
        owner = account_id(connection, 7)
        create_legacy_table(connection, table)
        for legacy_id, content in contents.items():
            add_document(connection, table, legacy_id, owner, content)
    blobs = Blobs(f"file://{tmp_path}", tmp_path)
    target = Target(table=table, blobs=blobs, bytes_in_database=False, chunk_bytes=CHUNK)

    report = import_documents(legacy_db, target)

    assert report.imported == 3
    with target_session(legacy_db) as session:
        for legacy_id, content in contents.items():
            shell_file = shell_file_of(session, legacy_id)
            assert shell_file.storage_key.startswith("file:")
            assert b"".join(blobs.read(session, shell_file.storage_key)) == content
    assert verify_import(legacy_db, target).ok
    stored = next(p for p in tmp_path.rglob("*") if p.is_file())
    stored.write_bytes(b"not what was imported")
    assert verify_import(legacy_db, target).mismatched == 1


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("letter.txt", "Dear colleague\n")
    return buffer.getvalue()


def test_a_file_an_upload_would_refuse_is_refused_with_its_reason(legacy_db, tmp_path) -> None:
    """The upload's rules hold for legacy rows: a type off the allow-list (judged from
    the bytes, whatever the old mime_type column says) or a file over the size limit is
    refused by reason and left unmapped; the rest of the batch is imported."""
    table = legacy_table("typed_documents")
    rows = {
        950_001: b"A plain clinic letter\n",
        950_002: b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n",
        950_003: zip_bytes(),
        950_004: b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(400),
        950_005: b"A letter longer than the size limit\n" * (CHUNK // 8),
        950_006: png_bytes(),
    }
    with legacy_db.engine.begin() as connection:
        owner = account_id(connection, 9)
        create_legacy_table(connection, table)
        for legacy_id, content in rows.items():
            add_document(connection, table, legacy_id, owner, content, filename="letter.pdf")
    target = Target(
        table=table, blobs=Blobs("db", tmp_path), bytes_in_database=True, chunk_bytes=CHUNK,
        max_bytes=2 * CHUNK,
    )  # fmt: skip

    report = import_documents(legacy_db, target)

    assert report.refused == {
        "unsupported_type": [950_002, 950_003, 950_004],
        "too_large": [950_005],
    }
    assert report.imported == 2
    with target_session(legacy_db) as session:
        assert shell_file_of(session, 950_001).mime_type == "text/plain"
        assert shell_file_of(session, 950_006).mime_type == "image/png"
    verified = verify_import(legacy_db, target)
    assert verified.missing_ids == [950_002, 950_003, 950_004, 950_005]


def test_a_table_that_is_missing_or_oddly_named_is_refused(legacy_db, tmp_path: Path) -> None:
    with pytest.raises(LegacyImportError, match="plain"):
        legacy_table("documents; DROP TABLE accounts")
    target = Target(
        table=legacy_table("no_such_table"),
        blobs=Blobs("db", tmp_path),
        bytes_in_database=True,
        chunk_bytes=CHUNK,
    )
    with pytest.raises(LegacyImportError, match="missing or lacks the columns"):
        import_documents(legacy_db, target)


def target_session(db: Database) -> Any:
    return db.session()


def shell_file_of(session: Any, legacy_id: int) -> ShellFile:
    shell_file_id = session.execute(
        text("SELECT shell_file_id FROM legacy_document_imports WHERE legacy_id = :id"),
        {"id": legacy_id},
    ).scalar_one()
    shell_file = session.get(ShellFile, shell_file_id)
    assert shell_file is not None
    return shell_file
