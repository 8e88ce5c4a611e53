"""Searching a profile's pages through the API, on the real PostgreSQL database: access,
filters, highlights that page text cannot turn into markup, refusals, and the audit."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog
from tests.support.factories import bearer, grant, make_account, make_profile
from tests.support.search import add_document


@pytest.fixture
def owner(db_session: Session) -> dict[str, Any]:
    account, token = make_account(db_session)
    profile = make_profile(db_session, account)
    return {"account": account, "token": token, "profile": profile}


def search(client: FlaskClient, owner: dict[str, Any], **params: Any) -> Any:
    return client.get(
        f"/api/v1/profiles/{owner['profile'].id}/search",
        query_string=params,
        headers=bearer(owner["token"]),
    )


def add(db_session: Session, owner: dict[str, Any], pages: list[str], **fields: Any) -> uuid.UUID:
    return add_document(db_session, owner["profile"].id, owner["account"].id, pages, **fields)


def test_a_word_finds_its_page_with_a_highlighted_snippet_and_links(
    client: FlaskClient, db_session: Session, owner
) -> None:
    doc = add(
        db_session,
        owner,
        ["Clinic letter, nothing of note.", "Started metformin 500 mg for diabetes."],
        kind="clinic_letter",
        date="2024-03-12",
    )

    response = search(client, owner, q="metformin")

    assert response.status_code == 200, response.json
    assert response.json["total"] == 1
    [hit] = response.json["items"]
    assert hit["shell_file_id"] == str(doc)
    assert hit["page_number"] == 2
    assert hit["kind"] == "clinic_letter"
    assert hit["document_date"] == "2024-03-12"
    assert "<mark>metformin</mark>" in hit["snippet"]
    assert hit["links"]["page"] == f"/api/v1/shell-files/{doc}/pages/2"
    assert hit["links"]["view"] == f"/documents/{doc}#page-2"


def test_words_are_stemmed_and_the_web_syntax_is_understood(
    client: FlaskClient, db_session: Session, owner
) -> None:
    infections = add(db_session, owner, ["Two chest infections treated with amoxicillin."])
    insulin = add(db_session, owner, ["Insulin glargine at night; no infection."])

    def found(q: str) -> set[str]:
        response = search(client, owner, q=q)
        assert response.status_code == 200, response.json
        return {item["shell_file_id"] for item in response.json["items"]}

    assert found("infection") == {str(infections), str(insulin)}
    assert found("infection -insulin") == {str(infections)}
    assert found("amoxicillin OR glargine") == {str(infections), str(insulin)}
    assert found('"chest infections"') == {str(infections)}
    assert found('"amoxicillin treated"') == set()  # both words, not that phrase


def test_page_text_is_escaped_and_only_hits_are_marked(
    client: FlaskClient, db_session: Session, owner
) -> None:
    add(
        db_session,
        owner,
        [
            'Warfarin if INR 2<3 & "stable" <script>alert(1)</script> \x02held\x03'
            ' <img src=x onerror="steal()"> &amp; warfarin again'
        ],
    )

    snippet = search(client, owner, q="warfarin").json["items"][0]["snippet"]

    assert snippet.count("<mark>") == snippet.count("</mark>") == 2
    assert snippet.lower().count("<mark>warfarin</mark>") == 2  # \x02, \x03 mark nothing
    outside_marks = snippet.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in outside_marks and ">" not in outside_marks and '"' not in outside_marks
    assert "&lt;" in outside_marks and "&amp;" in outside_marks


def test_a_stranger_gets_404_and_results_never_cross_profiles(
    client: FlaskClient, db_session: Session, owner
) -> None:
    mine = add(db_session, owner, ["Penicillin allergy: rash."])
    other_account, other_token = make_account(db_session)
    other_profile = make_profile(db_session, other_account)
    add_document(db_session, other_profile.id, other_account.id, ["Penicillin allergy: hives."])
    stranger = {"token": other_token, "profile": owner["profile"]}

    assert search(client, stranger, q="penicillin").status_code == 404
    missing = {"token": owner["token"], "profile": other_profile}
    assert search(client, missing, q="penicillin").status_code == 404
    answer = search(client, owner, q="penicillin").json
    assert [item["shell_file_id"] for item in answer["items"]] == [str(mine)]


def test_a_live_grant_may_search_and_a_revoked_one_may_not(
    client: FlaskClient, db_session: Session, owner
) -> None:
    add(db_session, owner, ["Asthma review."])
    reader, reader_token = make_account(db_session)
    permission = grant(db_session, owner["profile"], reader, "read_only")
    as_reader = {"token": reader_token, "profile": owner["profile"]}

    assert search(client, as_reader, q="asthma").json["total"] == 1
    permission.revoked_at = datetime.now(UTC)
    db_session.flush()
    assert search(client, as_reader, q="asthma").status_code == 404


def test_archived_documents_never_appear(client: FlaskClient, db_session: Session, owner) -> None:
    add(db_session, owner, ["Hypertension follow-up."], status="archived")
    shown = add(db_session, owner, ["Hypertension controlled."])

    answer = search(client, owner, q="hypertension").json

    assert [item["shell_file_id"] for item in answer["items"]] == [str(shown)]
    assert answer["total"] == 1


def test_the_entity_filter_finds_documents_that_mention_a_medication(
    client: FlaskClient, db_session: Session, owner
) -> None:
    on_it = add(
        db_session,
        owner,
        ["Diabetes review: HbA1c improving."],
        mentions=(("medication", "Metformin 500 mg twice daily"),),
    )
    add(
        db_session,
        owner,
        ["Diabetes review: diet only."],
        mentions=(("condition", "metformin intolerance"),),
    )

    def found(**filters: str) -> list[str]:
        response = search(client, owner, q="diabetes", **filters)
        assert response.status_code == 200, response.json
        return [item["shell_file_id"] for item in response.json["items"]]

    assert found(entity_type="medication", entity_name="METFORMIN") == [str(on_it)]
    assert len(found(entity_name="metformin")) == 2
    assert found(entity_type="medication") == [str(on_it)]
    assert found(entity_type="allergy") == []
    assert found(entity_name="50%") == []  # a LIKE wildcard is a character here


def test_the_date_and_kind_filters(client: FlaskClient, db_session: Session, owner) -> None:
    old = add(db_session, owner, ["Cholesterol 5.2"], kind="lab_report", date="2023-05-01")
    undated = add(
        db_session,
        owner,
        ["Cholesterol 4.8"],
        uploaded_at=datetime(2024, 6, 1, 9, 30, tzinfo=UTC),
    )

    def found(**filters: str) -> set[str]:
        response = search(client, owner, q="cholesterol", **filters)
        assert response.status_code == 200, response.json
        return {item["shell_file_id"] for item in response.json["items"]}

    assert found(**{"from": "2024-01-01"}) == {str(undated)}
    assert found(to="2023-12-31") == {str(old)}
    assert found(**{"from": "2023-05-01", "to": "2023-05-01"}) == {str(old)}
    assert found(**{"from": "2024-06-01", "to": "2024-06-01"}) == {str(undated)}
    assert found(kind="lab_report") == {str(old)}
    assert found() == {str(old), str(undated)}


def test_results_are_paginated(client: FlaskClient, db_session: Session, owner) -> None:
    add(db_session, owner, ["Eczema cream.", "Eczema better.", "Eczema gone."])

    first = search(client, owner, q="eczema", per_page=2).json
    second = search(client, owner, q="eczema", per_page=2, page=2).json
    past = search(client, owner, q="eczema", per_page=2, page=9).json

    assert (first["total"], len(first["items"])) == (3, 2)
    assert (second["total"], len(second["items"])) == (3, 1)
    pages = {item["page_number"] for item in first["items"] + second["items"]}
    assert pages == {1, 2, 3}
    assert (past["total"], past["items"]) == (3, [])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Type something"),
        ({"q": "   "}, "Type something"),
        ({"q": "x" * 401}, "at most 400 characters"),
        ({"q": '"chest pain'}, "not closed"),
        ({"q": "OR asthma"}, "OR needs a word on each side"),
        ({"q": "asthma or"}, "OR needs a word on each side"),
        ({"q": "asthma OR OR copd"}, "OR needs a word on each side"),
        ({"q": "-asthma"}, "not only what to leave out"),
        ({"q": "asthma OR -copd"}, "cannot be joined with OR"),
        ({"q": "?!"}, "no words to find"),
        ({"q": "asthma\x00"}, "cannot be searched for"),
        ({"q": "asthma", "kind": "novel"}, "kind must be one of"),
        ({"q": "asthma", "entity_type": "gene"}, "entity type must be one of"),
        ({"q": "asthma", "from": "2024-13-01"}, "'from' must be a date"),
        ({"q": "asthma", "to": "yesterday"}, "'to' must be a date"),
        ({"q": "asthma", "from": "2024-02-01", "to": "2024-01-01"}, "ends before it starts"),
        ({"q": "asthma", "entity_name": "x" * 101}, "at most 100"),
        ({"q": "asthma", "page": "0"}, "page must be"),
        ({"q": "asthma", "per_page": "500"}, "per_page must be"),
    ],
)
def test_bad_searches_are_400_with_a_plain_message(
    client: FlaskClient, db_session: Session, owner, params, message
) -> None:
    add(db_session, owner, ["Asthma plan."])

    response = search(client, owner, **params)

    assert response.status_code == 400
    assert message in response.json["error"]["message"]
    assert "asthma" not in response.json["error"]["message"].lower()


def test_each_search_is_audited_without_its_query_and_nothing_logs_it(
    client: FlaskClient, db_session: Session, owner, caplog: pytest.LogCaptureFixture
) -> None:
    add(db_session, owner, ["Seen for shingles.", "Shingles vaccine offered."])
    caplog.set_level(logging.DEBUG)

    response = search(client, owner, q="shingles zoster OR shingles")

    assert response.status_code == 200
    rows = db_session.scalars(
        select(AuditLog).where(
            AuditLog.patient_id == owner["profile"].id, AuditLog.table_name == "ocr_pages"
        )
    ).all()
    assert len(rows) == 1
    [row] = rows
    assert (row.operation, row.account_id) == ("read", owner["account"].id)
    assert row.reason == "search documents, pages matched: 2"
    assert all("shingles" not in str(value).lower() for value in vars(row).values())
    assert all("shingles" not in record.getMessage().lower() for record in caplog.records)
