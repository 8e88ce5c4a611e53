"""The database layer does not repeat statement parameters (document text, names) in errors.

(The server's own message may still quote a value it could not parse; that is why error
rows keep only a library exception's class: see app.pipeline.errors.describe.)"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def test_errors_do_not_list_statement_parameters(db_session: Session) -> None:
    with pytest.raises(DBAPIError) as failure:
        db_session.execute(
            text("SELECT CAST(:number AS integer), :name"),
            {"number": "x", "name": "Jane Example, born 1970-01-01"},
        )
    assert "Jane" not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)
