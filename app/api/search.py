"""Full-text search of a profile's pages: `GET /api/v1/profiles/<id>/search?q=…`."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, jsonify, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from app.api import schemas
from app.api.blueprint import api
from app.api.openapi import COMMON_ERRORS, Reply, documented, error
from app.api.profiles import positive_int
from app.api.schemas import MAX_PAGE, MAX_PER_PAGE
from app.db import request_session
from app.documents.search import SearchRefused, search_documents
from app.search.pages import Hit


def _hit_view(hit: Hit) -> dict[str, Any]:
    sf_id = str(hit.shell_file_id)
    return {
        "shell_file_id": sf_id,
        "filename": hit.filename,
        "kind": hit.kind,
        "document_date": hit.document_date,
        "uploaded_at": hit.uploaded_at.isoformat(),
        "page_number": hit.page_number,
        "snippet": str(hit.snippet),
        "links": {
            "page": url_for("api.get_page", shell_file_id=sf_id, page_number=hit.page_number),
            "view": url_for("web.document", shell_file_id=sf_id, _anchor=f"page-{hit.page_number}"),
        },
    }


@api.get("/profiles/<profile_id>/search")
@documented(
    "Search the text of every page of a profile's documents (audited; the query is not kept)",
    Reply(200, "A page of matching pages, best first", schemas.SearchResults),
    error(400, "No query, a query too long or malformed, or a bad filter or page"),
    *COMMON_ERRORS,
    query=schemas.SearchQuery,
)
def search_profile(profile_id: str) -> Any:
    """Pages of the profile's documents (not archived ones) that match `q`, with snippets."""
    try:
        pid = uuid.UUID(profile_id)
    except ValueError:
        raise NotFound("no such profile") from None
    page = positive_int("page", 1, MAX_PAGE)
    per_page = positive_int("per_page", 20, MAX_PER_PAGE)
    try:
        results = search_documents(
            request_session(),
            account_id=g.account_id,
            profile_id=pid,
            args=request.args,
            page=page,
            per_page=per_page,
            reason="search documents",
        )
    except SearchRefused as refused:
        raise BadRequest(str(refused)) from None
    items = [_hit_view(hit) for hit in results.hits]
    return jsonify(items=items, page=page, per_page=per_page, total=results.total)
