"""The web app's own signing key (no SECRET_KEY set) is never readable by anyone else."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.web import _local_secret_key


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: a file created without an explicit mode would be world-readable."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_key_file_is_0600_from_its_creation(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def narrowed_later(*args: object, **kwargs: object) -> None:
        raise AssertionError("the key was written under a wider mode and narrowed afterwards")

    # No chmod may be needed: the file must be born 0600, leaving no window in which
    # another user could open it.
    monkeypatch.setattr(os, "chmod", narrowed_later)
    monkeypatch.setattr(Path, "chmod", narrowed_later)

    key = _local_secret_key(tmp_path)

    assert len(key) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
    assert _local_secret_key(tmp_path) == key


def test_a_key_another_process_wrote_first_is_kept(tmp_path: Path, open_umask: None) -> None:
    (tmp_path / "secret_key").write_text("k" * 64)
    assert _local_secret_key(tmp_path) == "k" * 64
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
