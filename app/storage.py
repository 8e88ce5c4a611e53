"""Where the bytes of uploaded files live.

Two stores, chosen by `BLOB_STORAGE_URL`:

- `db`: chunks in PostgreSQL's `blob_chunks`, written in the upload's own
  transaction, so the row and its bytes commit or vanish together. Every worker
  machine can read them.
- `file:///path`: a folder (the embedded default). The file and its folder are
  written and fsynced before the row commits, and the file is removed if the
  transaction rolls back, unless a row names it after all (a commit whose reply was
  lost); a crash between the two leaves at most an unreferenced file, never a row
  without bytes.

A storage key names its store (`db:…`, `file:…`), so keys stay readable after
the configuration changes. Nothing here ever derives a path from a client's
filename.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, delete, event, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from app.models import BlobChunk, SecurityScan, ShellFile, table_of

log = logging.getLogger(__name__)


def local_copies_dir(data_dir: Path) -> Path:
    return data_dir / "cache"


def local_copy_path(data_dir: Path, key: str) -> Path:
    """Where a worker keeps its local copy of a blob (a long scan is read by many batches)."""
    return local_copies_dir(data_dir) / key.replace(":", "_").replace("/", "_")


def page_images_root(data_dir: Path) -> Path:
    return data_dir / "page-images"


def page_images_dir(data_dir: Path, shell_file_id: uuid.UUID) -> Path:
    """Where the fast lane keeps the page images it drew of a document (the web app
    serves them, and draws none itself)."""
    return page_images_root(data_dir) / str(shell_file_id)


def page_image_path(
    data_dir: Path, shell_file_id: uuid.UUID, page_number: int, source_key: str, rotation: int
) -> Path:
    """The image of one page, named by the stored file it was drawn from and the turn OCR
    gave it, so an image from another run's copy or reading is never served for this one."""
    tag = hashlib.sha256(f"{source_key}|{rotation}".encode()).hexdigest()[:16]
    return page_images_dir(data_dir, shell_file_id) / f"{page_number}-{tag}.png"


def write_derived(path: Path, data: bytes) -> None:
    """Write a derived file whole or not at all (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def forget_derived_copies(
    session: Session, data_dir: Path, shell_file_id: uuid.UUID, keys: Iterable[str]
) -> None:
    """Once the session's transaction commits, remove what was derived from a document's
    bytes on this machine: local copies of its blobs and the page images drawn of it."""
    paths = [local_copy_path(data_dir, key) for key in keys]
    images = page_images_dir(data_dir, shell_file_id)

    def remove(_session: Session) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
        shutil.rmtree(images, ignore_errors=True)

    session.connection()
    event.listen(session, "after_commit", remove, once=True)


class StorageError(Exception):
    """The blob store could not be reached or does not hold a blob it should."""

    error_type = "storage_error"


class BlobStore(Protocol):
    def put(self, session: Session, blob_id: uuid.UUID, chunks: Iterable[bytes]) -> str: ...

    def read(self, session: Session, key: str) -> Iterator[bytes]: ...

    def delete(self, session: Session, key: str) -> None: ...


class DatabaseBlobStore:
    @staticmethod
    def key(blob_id: uuid.UUID) -> str:
        return f"db:{blob_id}"

    def put(self, session: Session, blob_id: uuid.UUID, chunks: Iterable[bytes]) -> str:
        key = self.key(blob_id)
        for seq, chunk in enumerate(chunks):
            session.connection().execute(
                insert(table_of(BlobChunk)).values(storage_key=key, seq=seq, data=chunk)
            )
        return key

    def read(self, session: Session, key: str) -> Iterator[bytes]:
        # One primary-key lookup per chunk keeps memory at one chunk whatever the size.
        seq = 0
        while True:
            chunk = session.execute(
                select(BlobChunk.data).where(BlobChunk.storage_key == key, BlobChunk.seq == seq)
            ).scalar_one_or_none()
            if chunk is None:
                if seq == 0:
                    raise StorageError("blob is missing from the database store")
                return
            yield chunk
            seq += 1

    def delete(self, session: Session, key: str) -> None:
        session.execute(delete(BlobChunk).where(BlobChunk.storage_key == key))


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        name = key.removeprefix("file:")
        blob_id = uuid.UUID(name)  # refuses anything that is not a bare UUID
        return self.root / blob_id.hex[:2] / f"{blob_id}"

    def put(self, session: Session, blob_id: uuid.UUID, chunks: Iterable[bytes]) -> str:
        key = f"file:{blob_id}"
        path = self._path(key)
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.root)  # the new folder's entry
        session.connection()  # begin the transaction whose outcome decides the file's fate
        _remove_unless_committed(session, path, key)
        try:
            with path.open("xb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            _fsync_dir(path.parent)  # the file's entry: without it a power cut can lose it
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise StorageError("could not write blob to the file store") from exc
        return key

    def read(self, session: Session, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except OSError as exc:
            raise StorageError("blob is missing from the file store") from exc
        with handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk

    def delete(self, session: Session, key: str) -> None:
        """Remove the file once the session's transaction commits (not before: a rollback
        must leave the row and its bytes together)."""
        path = self._path(key)
        session.connection()
        event.listen(session, "after_commit", lambda _s: path.unlink(missing_ok=True), once=True)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_unless_committed(session: Session, path: Path, key: str) -> None:
    """Delete `path` if the session's transaction rolls back instead of committing, and
    no committed row names `key` (a commit can succeed on the server and still fail in
    the client, when its reply is lost: the row then exists and needs its bytes)."""
    settled = False  # listeners cannot be removed while SQLAlchemy runs them
    engine = session.get_bind().engine  # a connection of its own: the session's is gone

    def committed(_session: Session) -> None:
        nonlocal settled
        settled = True

    def rolled_back(_session: Session, previous: SessionTransaction) -> None:
        nonlocal settled
        if not settled and previous.parent is None:  # the outermost transaction ended
            settled = True
            if not _named_by_a_row(engine, key):
                path.unlink(missing_ok=True)

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_soft_rollback", rolled_back)


def _named_by_a_row(engine: Engine, key: str) -> bool:
    """Does a committed shell file (or its repaired copy) name `key`? When the database
    cannot say, the answer is yes: an unreferenced file costs disk, a missing one a
    document."""
    try:
        with engine.connect() as connection:
            return (
                connection.execute(
                    select(ShellFile.id)
                    .where(ShellFile.storage_key == key)
                    .union_all(
                        select(SecurityScan.shell_file_id).where(
                            SecurityScan.repaired_storage_key == key
                        )
                    )
                ).first()
                is not None
            )
    except Exception:  # noqa: BLE001 - unknown means keep the bytes
        log.warning("could not check whether a rolled-back blob is referenced; kept")
        return True


class Blobs:
    """New blobs go to the configured store; existing ones are read from the store
    their key names."""

    def __init__(self, storage_url: str, data_dir: Path) -> None:
        if storage_url.startswith("file://"):
            file_root = Path(storage_url.removeprefix("file://"))
        else:
            file_root = data_dir / "blobs"
        self.file_root = file_root  # where file: keys live, whichever store is the default
        self._stores: dict[str, BlobStore] = {
            "db": DatabaseBlobStore(),
            "file": FileBlobStore(file_root),
        }
        self._default = self._stores["db" if storage_url == "db" else "file"]

    def put(self, session: Session, blob_id: uuid.UUID, chunks: Iterable[bytes]) -> str:
        return self._default.put(session, blob_id, chunks)

    @property
    def in_database(self) -> bool:
        """New blobs go to `blob_chunks`: a caller may insert a one-chunk blob itself, as
        (`DatabaseBlobStore.key(blob_id)`, seq 0, bytes)."""
        return isinstance(self._default, DatabaseBlobStore)

    def read(self, session: Session, key: str) -> Iterator[bytes]:
        return self._store(key).read(session, key)

    def delete(self, session: Session, key: str) -> None:
        self._store(key).delete(session, key)

    def _store(self, key: str) -> BlobStore:
        scheme = key.split(":", 1)[0]
        try:
            return self._stores[scheme]
        except KeyError:
            raise StorageError("the storage key names no known store") from None
