"""The JSON API under /api/v1: every route authenticates, checks access, and audits.

The blueprint and its guards are in `app.api.blueprint`; importing this package
imports every view module, so `api` arrives with all its routes.
"""

from __future__ import annotations

from app.api import clinical, controls, openapi, pages, profiles, record, search, shell_files
from app.api.blueprint import api

__all__ = [
    "api",
    "clinical",
    "controls",
    "openapi",
    "pages",
    "profiles",
    "record",
    "search",
    "shell_files",
]
