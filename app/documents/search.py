"""Searching a profile's documents: the one use case behind the API's and the web's search.

It checks access as every read does (a profile the account cannot reach is a 404, as a
missing one is), checks the search and its filters (`SearchRefused`, for the views' 400),
runs it, and commits an audit row saying that the profile was searched and how many
pages matched. The query is patient data: it goes into no audit row and no log.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from app.access.grants import accessible_profile
from app.audit import audit_read
from app.search.pages import Results, search_pages
from app.search.query import SearchRefused, parse_filters, parse_query

__all__ = ["SEARCH_PARAMETERS", "Results", "SearchRefused", "search_documents"]

#: The request parameters a search reads, the same for the API and the web page.
SEARCH_PARAMETERS = ("q", "kind", "from", "to", "entity_type", "entity_name")


def search_documents(
    session: Session,
    *,
    account_id: uuid.UUID,
    profile_id: uuid.UUID,
    args: Mapping[str, str],
    page: int,
    per_page: int,
    reason: str,
) -> Results:
    """One page of the profile's pages matching `args` (the request's parameters).

    Raises NotFound for a profile the account cannot reach, `SearchRefused` for a bad
    search or filter, and `AuditUnavailable` if the search cannot be audited.
    """
    profile = accessible_profile(session, account_id, profile_id, "read_only")
    query = parse_query(args.get("q"))
    filters = parse_filters(
        kind=args.get("kind"),
        date_from=args.get("from"),
        date_to=args.get("to"),
        entity_type=args.get("entity_type"),
        entity_name=args.get("entity_name"),
    )
    results = search_pages(session, profile.id, query, filters, page=page, per_page=per_page)
    audit_read(
        session,
        table_name="ocr_pages",
        record_id=None,
        patient_id=profile.id,
        reason=f"{reason}, pages matched: {results.total}",
    )
    return results
