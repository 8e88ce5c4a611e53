"""Searching a profile's documents from the browser: a plain GET form and a results page.

The same use case as the API's (`app.documents.search`): access, checks and audit are
its. Each result links to its page in the document view; no script is needed.
"""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request

from app.db import request_session
from app.documents.search import SEARCH_PARAMETERS, SearchRefused, search_documents
from app.pipeline.ai.types import ENTITY_TYPES, NARRATIVE_KINDS
from app.search.query import MAX_QUERY_CHARS
from app.web import wording
from app.web.blueprint import web
from app.web.views import page_number, profile_for

PER_PAGE = 20


@web.get("/profiles/<profile_id>/search")
def search(profile_id: str) -> Any:
    profile = profile_for(profile_id)
    page = page_number()
    form = {name: request.args.get(name, "") for name in SEARCH_PARAMETERS}
    context: dict[str, Any] = {
        "profile": profile,
        "form": form,
        "kinds": [(kind, wording.KIND_LABELS.get(kind, kind)) for kind in NARRATIVE_KINDS],
        "kind_labels": wording.KIND_LABELS,
        "entity_types": ENTITY_TYPES,
        "max_query_chars": MAX_QUERY_CHARS,
        "page": page,
    }
    if "q" not in request.args:  # the empty form, before any search
        return render_template("search.html", error=None, hits=None, total=0, **context)
    try:
        results = search_documents(
            request_session(),
            account_id=g.account_id,
            profile_id=profile.id,
            args=request.args,
            page=page,
            per_page=PER_PAGE,
            reason="web: search documents",
        )
    except SearchRefused as refused:
        return render_template("search.html", error=str(refused), hits=[], total=0, **context), 400
    pages = max(1, -(-results.total // PER_PAGE))
    return render_template(
        "search.html", error=None, hits=results.hits, total=results.total, pages=pages, **context
    )
