"""Blob stores: bytes commit with their row or vanish with it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.storage import Blobs, StorageError


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
