"""Searching the text of a profile's pages, newest documents first among equal matches.

PostgreSQL matches `ocr_pages.search_vector` (a generated tsvector under a GIN index)
against `websearch_to_tsquery`, ranks with `ts_rank` and draws snippets with
`ts_headline` for the page of results only. SQLite (the embedded default) matches the FTS5
table `ocr_pages_fts` (migration 0011), ranks with `bm25` and draws snippets with
`snippet()`. Both apply the same filters, written once here.

Callers check access to the profile first (`app.access.grants.accessible_profile`);
every query here is confined to that profile's documents and never reads an archived one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from app.models import ClinicalDocument, ClinicalEntity, OcrPage, ShellFile
from app.models.outputs import SEARCH_CONFIG
from app.search.query import Filters, SearchQuery
from app.search.snippets import ELLIPSIS, HIT_END, HIT_START, render_snippet

#: Archived documents are out of the profile's view, so out of its search too.
SEARCHED_DOCUMENT = ShellFile.status != "archived"

#: ts_headline's options: up to two fragments of 12-30 words, hits between the marks.
HEADLINE_OPTIONS = (
    f"StartSel={HIT_START}, StopSel={HIT_END}, MinWords=12, MaxWords=30,"
    f' MaxFragments=2, FragmentDelimiter="{ELLIPSIS}"'
)
#: How many words of a page SQLite's snippet() shows around its hits.
SNIPPET_WORDS = 24

_FTS = table("ocr_pages_fts", column("text"), column("page_id"))
_FTS_NAME: ColumnElement[Any] = literal_column("ocr_pages_fts")


@dataclass(frozen=True)
class Hit:
    """One page that matched: its document, its number and a snippet with hits marked."""

    shell_file_id: uuid.UUID
    filename: str
    kind: str | None
    document_date: str | None
    uploaded_at: datetime
    page_number: int
    snippet: Markup


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    total: int


def search_pages(
    session: Session,
    profile_id: uuid.UUID,
    query: SearchQuery,
    filters: Filters,
    *,
    page: int,
    per_page: int,
) -> Results:
    """One page of the profile's pages that match, best first, and how many match (on
    SQLite, and past the last page, counted by a second query when the page is full)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    statement = _postgres if postgres else _sqlite
    params: dict[str, Any] = {
        "q": query.text if postgres else query.fts5_match(),
        "limit": per_page,
        "offset": (page - 1) * per_page,
    }
    if postgres:
        # A generic plan (psycopg prepares a statement run often) cannot judge how many
        # pages a search's words match, so it may scan every page; plan each search anew.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows = session.execute(statement(_conditions(profile_id, filters)), params).all()
    if rows and postgres:
        total = int(rows[0].total)
    elif (rows or page == 1) and len(rows) < per_page:
        total = (page - 1) * per_page + len(rows)  # the last page: no need to count
    else:
        counted = statement(_conditions(profile_id, filters), count=True)
        total = int(session.scalar(counted, params) or 0)
    return Results([_hit(row) for row in rows], total)


def _hit(row: Any) -> Hit:
    return Hit(
        shell_file_id=row.shell_file_id,
        filename=row.original_filename,
        kind=row.document_kind,
        document_date=row.document_date,
        uploaded_at=row.created_at,
        page_number=row.page_number,
        snippet=render_snippet(row.snippet or ""),
    )


def _conditions(profile_id: uuid.UUID, filters: Filters) -> list[ColumnElement[bool]]:
    """The profile's searched documents that pass the filters (on `shell_files` joined
    with `clinical_documents`)."""
    conditions = [ShellFile.patient_id == profile_id, SEARCHED_DOCUMENT]
    if filters.kind is not None:
        conditions.append(ClinicalDocument.document_kind == filters.kind)
    if filters.date_from is not None:
        conditions.append(_dated_on_or_after(filters.date_from.isoformat()))
    if filters.date_to is not None:
        conditions.append(_dated_before((filters.date_to + timedelta(days=1)).isoformat()))
    if filters.entity_type is not None or filters.entity_name is not None:
        conditions.append(_mentions(profile_id, filters))
    return conditions


def _midnight(day: str) -> datetime:
    return datetime.combine(datetime.fromisoformat(day).date(), time(), UTC)


def _dated_on_or_after(day: str) -> ColumnElement[bool]:
    """The document's own date (Pass 2's), else the day it was uploaded, is `day` or later."""
    return or_(
        ClinicalDocument.document_date >= day,
        and_(ClinicalDocument.document_date.is_(None), ShellFile.created_at >= _midnight(day)),
    )


def _dated_before(day: str) -> ColumnElement[bool]:
    return or_(
        ClinicalDocument.document_date < day,
        and_(ClinicalDocument.document_date.is_(None), ShellFile.created_at < _midnight(day)),
    )


def _mentions(profile_id: uuid.UUID, filters: Filters) -> ColumnElement[bool]:
    """The document has a Pass 1 mention of the type, whose text contains the name
    (case-insensitive: "metformin" finds "Metformin 500 mg twice daily")."""
    mention = select(literal(1)).where(
        ClinicalEntity.shell_file_id == ShellFile.id,
        ClinicalEntity.patient_id == profile_id,
    )
    if filters.entity_type is not None:
        mention = mention.where(ClinicalEntity.entity_type == filters.entity_type)
    if filters.entity_name is not None:
        name = filters.entity_name.lower()
        mention = mention.where(func.lower(ClinicalEntity.text).contains(name, autoescape=True))
    return mention.exists()


def _matching(
    columns: list[Any], source: Any, conditions: list[ColumnElement[bool]]
) -> Select[Any]:
    return (
        select(*columns)
        .select_from(source)
        .join(ShellFile, ShellFile.id == OcrPage.shell_file_id)
        .outerjoin(ClinicalDocument, ClinicalDocument.shell_file_id == ShellFile.id)
        .where(*conditions)
    )


_FIELDS = (
    OcrPage.shell_file_id,
    OcrPage.page_number,
    ShellFile.original_filename,
    ShellFile.created_at,
    ClinicalDocument.document_kind,
    ClinicalDocument.document_date,
)


def _postgres(conditions: list[ColumnElement[bool]], *, count: bool = False) -> Select[Any]:
    """The matches, ranked in the one scan that finds them and kept narrow (a MATERIALIZED
    CTE: no tsvector carried on), counted from there; snippets for the page shown only."""
    config: ColumnElement[Any] = literal_column(f"'{SEARCH_CONFIG}'::regconfig")
    tsquery = func.websearch_to_tsquery(config, bindparam("q", type_=Text))
    conditions = [*conditions, OcrPage.search_vector.op("@@")(tsquery)]
    if count:
        return _matching([func.count()], OcrPage, conditions)
    rank = func.ts_rank(OcrPage.search_vector, tsquery)
    ranked = (
        _matching([OcrPage.id, *_FIELDS, rank.label("rank")], OcrPage, conditions)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    order = (ranked.c.rank.desc(), ranked.c.created_at.desc(), ranked.c.shell_file_id,
             ranked.c.page_number)  # fmt: skip
    shown = (
        select(ranked)
        .order_by(*order)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery()
    )
    page_text = func.translate(OcrPage.text, f"{HIT_START}{HIT_END}", "")
    headline = func.ts_headline(config, page_text, tsquery, HEADLINE_OPTIONS)
    total = select(func.count()).select_from(ranked).scalar_subquery()
    return (
        select(
            *(shown.c[field.key] for field in _FIELDS),
            total.label("total"),
            headline.label("snippet"),
        )
        .select_from(shown)
        .join(OcrPage, OcrPage.id == shown.c.id)
        .order_by(
            shown.c.rank.desc(),
            shown.c.created_at.desc(),
            shown.c.shell_file_id,
            shown.c.page_number,
        )
    )


def _sqlite(conditions: list[ColumnElement[bool]], *, count: bool = False) -> Select[Any]:
    conditions = [*conditions, _FTS_NAME.op("MATCH")(bindparam("q", type_=Text))]
    joined = _FTS.join(OcrPage, OcrPage.id == _FTS.c.page_id)
    if count:
        return _matching([func.count()], joined, conditions)
    rank = func.bm25(_FTS_NAME)
    snippet = func.snippet(_FTS_NAME, 0, HIT_START, HIT_END, ELLIPSIS.strip(), SNIPPET_WORDS)
    return (
        _matching(
            [*_FIELDS, snippet.label("snippet")],
            joined,
            conditions,
        )
        .order_by(rank, ShellFile.created_at.desc(), ShellFile.id, OcrPage.page_number)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
