"""Searching from the browser: the box on the profile page, a results page of highlighted
snippets linking to their pages, plain-word refusals, the API's access rules and audit."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog, ShellFile
from tests.support.search import add_document
from tests.web.conftest import Person, process_in_place, store_document


@pytest.fixture
def owner(make_person) -> Person:
    return make_person(name="Robin Owner")


@pytest.fixture
def processed(app: Flask, db_session: Session, owner: Person, samples) -> ShellFile:
    shell_file = store_document(app, db_session, owner, samples.read("clinical.pdf"))
    return process_in_place(app, db_session, shell_file.id)


def test_the_profile_page_has_a_search_box_that_works_without_script(owner: Person) -> None:
    page = owner.client.get(f"/profiles/{owner.profile.id}").get_data(as_text=True)

    form = re.search(r'<form method="get" role="search"[^>]*action="([^"]+)"', page)
    assert form and form.group(1) == f"/profiles/{owner.profile.id}/search"
    assert re.search(r'<label for="search-q">', page)
    assert re.search(r'<input id="search-q" type="search" name="q"', page)


def test_results_show_highlighted_snippets_linking_to_their_page(
    owner: Person, processed: ShellFile, db_session: Session
) -> None:
    response = owner.client.get(f"/profiles/{owner.profile.id}/search?q=metformin")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "1 matching page" in page
    assert f'href="/documents/{processed.id}#page-1"' in page
    assert re.search(r'<p class="snippet">[^<]*<mark>Metformin</mark>', page)
    reasons = db_session.scalars(
        select(AuditLog.reason).where(
            AuditLog.account_id == owner.account.id, AuditLog.table_name == "ocr_pages"
        )
    ).all()
    assert reasons == ["web: search documents, pages matched: 1"]


def test_page_text_shows_as_text_in_results(owner: Person, db_session: Session) -> None:
    add_document(
        db_session, owner.profile.id, owner.account.id, ["Gout <script>alert(1)</script> flare"]
    )

    page = owner.client.get(f"/profiles/{owner.profile.id}/search?q=gout").get_data(as_text=True)

    assert "<script>alert" not in page
    assert "<mark>Gout</mark>" in page


def test_a_bad_search_is_a_400_page_saying_why(owner: Person) -> None:
    response = owner.client.get(f'/profiles/{owner.profile.id}/search?q="chest+pain')

    assert response.status_code == 400
    assert "is not closed" in response.get_data(as_text=True)
    assert owner.client.get(f"/profiles/{owner.profile.id}/search").status_code == 200


def test_a_stranger_gets_404_and_nothing_is_audited_for_them(
    make_person, owner: Person, processed: ShellFile, db_session: Session
) -> None:
    stranger = make_person()

    for url in (
        f"/profiles/{owner.profile.id}/search?q=metformin",
        f"/profiles/{owner.profile.id}/search",
    ):
        response = stranger.client.get(url)
        assert response.status_code == 404, url
        assert "Metformin" not in response.get_data(as_text=True)
    reads = db_session.scalars(
        select(AuditLog).where(
            AuditLog.account_id == stranger.account.id, AuditLog.table_name == "ocr_pages"
        )
    ).all()
    assert reads == []


def test_results_page_through_keeping_the_search(owner: Person, db_session: Session) -> None:
    add_document(db_session, owner.profile.id, owner.account.id, ["Eczema flare."] * 25)
    url = f"/profiles/{owner.profile.id}/search?q=eczema&kind=&from=2020-01-01"

    first = owner.client.get(url).get_data(as_text=True)
    second = owner.client.get(url + "&page=2").get_data(as_text=True)

    assert "25 matching pages" in first and "Page 1 of 2" in first
    assert re.search(r'href="[^"]*page=2[^"]*"', first)
    next_link = re.search(r'<a href="([^"]+)">Next</a>', first)
    assert (
        next_link and "q=eczema" in next_link.group(1) and "from=2020-01-01" in next_link.group(1)
    )
    assert second.count('class="result"') == 5
