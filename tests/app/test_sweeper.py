"""The orphan sweep: bytes and derived files that no document names are removed once old
enough; what a row names, anything young, and names this code never writes are kept."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select

from app.models import Account, BlobChunk
from app.storage import FileBlobStore, local_copy_path, page_images_dir
from app.sweeper import sweep_machine, sweep_stores
from tests.support.factories import make_account, make_profile, make_shell_file

HOUR = timedelta(hours=1)


def _write(path: Path, *, age: timedelta) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"bytes of a document")
    then = time.time() - age.total_seconds()
    os.utime(path, (then, then))
    return path


def _old_folder(path: Path) -> Path:
    _write(path / "page-1.png", age=2 * HOUR)
    then = time.time() - 7200
    os.utime(path, (then, then))
    return path


@pytest.fixture
def named_key(app: Flask) -> Iterator[tuple[str, uuid.UUID]]:
    """A committed document whose original is `file:<uuid>`."""
    key = f"file:{uuid.uuid4()}"
    db = app.extensions["db"]
    with db.session() as session:
        account, _ = make_account(session)
        profile = make_profile(session, account)
        shell_file = make_shell_file(session, profile.id, account.id, storage_key=key)
        ids = (account.id, shell_file.id)
        session.commit()
    yield key, ids[1]
    with db.session() as session:
        session.execute(delete(Account).where(Account.id == ids[0]))
        session.commit()


def test_the_machine_sweep_removes_copies_and_images_of_documents_that_are_gone(
    app: Flask, tmp_path: Path, named_key: tuple[str, uuid.UUID]
) -> None:
    key, shell_file_id = named_key
    gone = f"db:{uuid.uuid4()}"
    kept_copy = _write(local_copy_path(tmp_path, key), age=2 * HOUR)
    orphan_copy = _write(local_copy_path(tmp_path, gone), age=2 * HOUR)
    young_copy = _write(local_copy_path(tmp_path, f"db:{uuid.uuid4()}"), age=timedelta(0))
    foreign = _write(tmp_path / "cache" / "notes.tmp", age=2 * HOUR)
    kept_images = _old_folder(page_images_dir(tmp_path, shell_file_id))
    orphan_images = _old_folder(page_images_dir(tmp_path, uuid.uuid4()))

    report = sweep_machine(app.extensions["db"], tmp_path, grace=HOUR)

    assert (report.local_copies, report.page_images) == (1, 1)
    assert not orphan_copy.exists() and not orphan_images.exists()
    assert kept_copy.exists() and young_copy.exists() and foreign.exists()
    assert kept_images.exists()


def test_the_store_sweep_removes_files_and_chunks_no_row_names(
    app: Flask, tmp_path: Path, named_key: tuple[str, uuid.UUID]
) -> None:
    key, _ = named_key
    store = FileBlobStore(tmp_path / "blobs")
    named = _write(store._path(key), age=2 * HOUR)
    orphan = _write(store._path(f"file:{uuid.uuid4()}"), age=2 * HOUR)
    young = _write(store._path(f"file:{uuid.uuid4()}"), age=timedelta(0))
    db = app.extensions["db"]
    unnamed_chunks = f"db:{uuid.uuid4()}"
    with db.session() as session:
        session.add_all(BlobChunk(storage_key=unnamed_chunks, seq=n, data=b"x") for n in range(3))
        session.commit()

    report = sweep_stores(db, tmp_path / "blobs", grace=HOUR)

    assert (report.stored_files, report.stored_chunks) == (1, 3)
    assert named.exists() and young.exists() and not orphan.exists()
    with db.session() as session:
        left = session.scalars(select(BlobChunk).where(BlobChunk.storage_key == unnamed_chunks))
        assert list(left) == []


def test_flask_storage_sweep_reports_what_it_removed(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    orphan = _write(local_copy_path(settings.data_dir, f"db:{uuid.uuid4()}"), age=2 * HOUR)

    result = app.test_cli_runner().invoke(args=["storage", "sweep", "--grace-minutes", "60"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["local_copies"] >= 1
    assert not orphan.exists()
