"""Blob stores: bytes commit with their row or vanish with it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.db import Database
from app.models import ShellFile
from app.storage import Blobs, StorageError
from tests.support.factories import make_account, make_profile, make_shell_file


@pytest.fixture
def file_blobs(tmp_path: Path) -> Blobs:
    return Blobs(f"file://{tmp_path / 'blobs'}", tmp_path)


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_file_blob_survives_commit(db_session: Session, file_blobs: Blobs, tmp_path: Path) -> None:
    key = file_blobs.put(db_session, uuid.uuid4(), [b"abc", b"def"])
    db_session.commit()
    assert b"".join(file_blobs.read(db_session, key)) == b"abcdef"
    assert len(stored_files(tmp_path / "blobs")) == 1


def test_file_blob_is_removed_on_rollback(
    db_session: Session, file_blobs: Blobs, tmp_path: Path
) -> None:
    file_blobs.put(db_session, uuid.uuid4(), [b"abc"])
    assert len(stored_files(tmp_path / "blobs")) == 1
    db_session.rollback()
    assert stored_files(tmp_path / "blobs") == []


def test_a_later_rollback_keeps_a_committed_blob(
    db_session: Session, file_blobs: Blobs, tmp_path: Path
) -> None:
    key = file_blobs.put(db_session, uuid.uuid4(), [b"abc"])
    db_session.commit()
    db_session.rollback()
    assert b"".join(file_blobs.read(db_session, key)) == b"abc"


def test_database_blob_round_trip_and_missing(db_session: Session, tmp_path: Path) -> None:
    blobs = Blobs("db", tmp_path)
    key = blobs.put(db_session, uuid.uuid4(), [b"x" * 10, b"y" * 5])
    assert key.startswith("db:")
    assert b"".join(blobs.read(db_session, key)) == b"x" * 10 + b"y" * 5
    with pytest.raises(StorageError):
        b"".join(blobs.read(db_session, f"db:{uuid.uuid4()}"))


@pytest.mark.parametrize("key", ["file:../../etc/passwd", "file:/etc/passwd", "s3:bucket/x"])
def test_keys_never_become_arbitrary_paths(
    db_session: Session, file_blobs: Blobs, key: str
) -> None:
    with pytest.raises((StorageError, ValueError)):
        b"".join(file_blobs.read(db_session, key))


def test_a_rollback_keeps_the_bytes_of_a_row_that_committed_after_all(
    app, db_session: Session, file_blobs: Blobs, tmp_path: Path
) -> None:
    """A commit can succeed on the server while its reply is lost: the client rolls back,
    but the row exists. Its bytes must stay (#15)."""
    blob_id = uuid.uuid4()
    key = file_blobs.put(db_session, blob_id, [b"the bytes of an accepted upload"])
    engine = app.extensions["db"].engine  # a connection of its own: this row commits
    with Session(engine) as committed, committed.begin():  # as the server committed it
        account, _ = make_account(committed)
        profile = make_profile(committed, account)
        make_shell_file(committed, profile.id, account.id, id=blob_id, storage_key=key)
    try:
        db_session.rollback()  # what the client saw

        assert b"".join(file_blobs.read(db_session, key)) == b"the bytes of an accepted upload"
    finally:
        with Session(engine) as cleanup, cleanup.begin():
            cleanup.execute(delete(ShellFile).where(ShellFile.id == blob_id))


def test_a_stored_file_and_its_folder_reach_the_disk(
    db_session: Session, file_blobs: Blobs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync of the file alone can lose it in a power cut: its folder's entry is synced too."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{descriptor}").readlink()))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    key = file_blobs.put(db_session, uuid.uuid4(), [b"abc"])
    (path,) = stored_files(tmp_path / "blobs")

    assert synced == [str(tmp_path / "blobs"), str(path), str(path.parent)]
    db_session.commit()
    assert key.endswith(path.name)


def test_the_embedded_database_syncs_every_commit(tmp_path: Path) -> None:
    """SQLite in WAL mode with synchronous=NORMAL can lose a commit that answered 201 to a
    power cut; the embedded default runs synchronous=FULL (2)."""
    db = Database(f"sqlite:///{tmp_path / 'embedded.db'}")
    try:
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        db.engine.dispose()
