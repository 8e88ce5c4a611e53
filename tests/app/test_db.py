"""The database layer never repeats statement parameters (document text, names) in errors."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def test_errors_do_not_quote_parameters(db_session: Session) -> None:
    marker = "Jane Example, born 1970-01-01"
    with pytest.raises(DBAPIError) as failure:
        db_session.execute(text("SELECT CAST(:value AS integer)"), {"value": marker})
    assert "Jane" not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)
