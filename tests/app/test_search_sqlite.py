"""Search on the embedded default (SQLite, FTS5) finds what PostgreSQL finds, and the FTS5
table follows `ocr_pages` through inserts, re-reads and deletes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from app.db import Database
from app.models import OcrPage, ShellFile
from app.outputs import fast_lane
from app.search.pages import search_pages
from app.search.query import parse_filters, parse_query
from tests.support.factories import make_account, make_profile
from tests.support.search import add_document
from tests.support.services import migrate


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'search.db'}"
    migrate(url)
    db = Database(url)
    yield db
    db.engine.dispose()


@pytest.fixture
def sqlite_session(sqlite_db: Database) -> Iterator[Session]:
    session = sqlite_db.sessionmaker()
    yield session
    session.rollback()
    session.close()


LIBRARY = [
    # name, pages, fields
    ("a.pdf", ["Metformin 500 mg twice daily.", "Chest infections, treated."], {}),
    (
        "b.pdf",
        ["Discharge summary: chest pain resolved.", "Started metformin."],
        {"kind": "discharge_summary", "date": "2023-05-01"},
    ),
    (
        "c.pdf",
        ["Lab report: HbA1c 48 mmol/mol. Infection screen negative."],
        {"kind": "lab_report", "date": "2024-02-10", "mentions": (("lab_result", "HbA1c 48"),)},
    ),
    (
        "d.pdf",
        ["Insulin glargine at night; diabetes clinic."],
        {"mentions": (("medication", "Insulin glargine"),)},
    ),
    ("e.pdf", ["Metformin stopped; archived letter."], {"status": "archived"}),
]

CASES: list[tuple[str, dict[str, str]]] = [
    ("metformin", {}),
    ("infection", {}),
    ("chest -pain", {}),
    ('"chest pain"', {}),
    ("insulin OR hba1c", {}),
    ("metformin", {"kind": "discharge_summary"}),
    ("infection", {"date_from": "2024-01-01"}),
    ("chest", {"date_to": "2023-12-31"}),
    ("diabetes OR infection", {"entity_type": "medication"}),
    ("diabetes OR infection", {"entity_name": "hba1c"}),
]


def load_library(session: Session) -> Any:
    account, _ = make_account(session)
    profile = make_profile(session, account)
    uploaded = datetime(2024, 6, 1, tzinfo=UTC)
    for name, pages, fields in LIBRARY:
        add_document(
            session, profile.id, account.id, pages, name=name, uploaded_at=uploaded, **fields
        )
    return profile


def found(session: Session, profile: Any, q: str, **filters: str) -> set[tuple[str, int]]:
    given = {"kind": None, "date_from": None, "date_to": None, "entity_type": None}
    results = search_pages(
        session,
        profile.id,
        parse_query(q),
        parse_filters(**(given | {"entity_name": None} | filters)),
        page=1,
        per_page=50,
    )
    assert results.total == len(results.hits)
    return {(hit.filename, hit.page_number) for hit in results.hits}


def test_sqlite_finds_what_postgresql_finds(db_session: Session, sqlite_session: Session) -> None:
    postgres, sqlite = load_library(db_session), load_library(sqlite_session)

    for q, filters in CASES:
        expected = found(db_session, postgres, q, **filters)
        assert expected, (q, filters)  # each case finds something
        assert found(sqlite_session, sqlite, q, **filters) == expected, (q, filters)


def test_sqlite_snippets_mark_hits_and_escape_the_page(sqlite_session: Session) -> None:
    account, _ = make_account(sqlite_session)
    profile = make_profile(sqlite_session, account)
    add_document(
        sqlite_session, profile.id, account.id, ["<b>Warfarin</b> if INR<3 & \x02held\x03"]
    )

    [hit] = search_pages(
        sqlite_session,
        profile.id,
        parse_query("warfarin"),
        parse_filters(kind=None, date_from=None, date_to=None, entity_type=None, entity_name=None),
        page=1,
        per_page=10,
    ).hits

    assert str(hit.snippet) == "&lt;b&gt;<mark>Warfarin</mark>&lt;/b&gt; if INR&lt;3 &amp; held"


def fts_rows(session: Session) -> int:
    return int(session.scalar(text("SELECT count(*) FROM ocr_pages_fts")) or 0)


def test_the_fts5_table_follows_the_pages(sqlite_session: Session) -> None:
    account, _ = make_account(sqlite_session)
    profile = make_profile(sqlite_session, account)
    before = fts_rows(sqlite_session)
    doc = add_document(sqlite_session, profile.id, account.id, ["Gout flare.", "Allopurinol."])
    assert fts_rows(sqlite_session) == before + 2
    assert found(sqlite_session, profile, "gout") == {("letter.pdf", 1)}

    page = sqlite_session.query(OcrPage).filter_by(shell_file_id=doc, page_number=1).one()
    page.text = "Psoriasis flare."  # an edited page is found by its new words only
    sqlite_session.flush()
    assert found(sqlite_session, profile, "gout") == set()
    assert found(sqlite_session, profile, "psoriasis") == {("letter.pdf", 1)}

    fast_lane.forget_ocr_pages(sqlite_session, doc)  # a reprocess reads every page again
    sqlite_session.flush()
    assert fts_rows(sqlite_session) == before
    assert found(sqlite_session, profile, "allopurinol") == set()

    add_document(sqlite_session, profile.id, account.id, ["Gout again."], name="later.pdf")
    sqlite_session.execute(delete(ShellFile).where(ShellFile.patient_id == profile.id))
    sqlite_session.flush()  # a hard delete cascades to the pages, and on to the FTS5 rows
    assert fts_rows(sqlite_session) == before
    assert found(sqlite_session, profile, "gout") == set()
