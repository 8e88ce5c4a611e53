"""Every web view: who may reach it (the API's rules, denied is 404) and the audit row it
leaves; the upload form and its script's JSON answers; failures said in plain words."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog, ProcessingError, ShellFile
from tests.support.factories import grant
from tests.support.processed import process_in_place as process_any_in_place
from tests.web.conftest import Person, process_in_place, store_document


@pytest.fixture
def owner(make_person) -> Person:
    return make_person(name="Robin Owner")


@pytest.fixture
def processed(app: Flask, db_session: Session, owner: Person, samples) -> ShellFile:
    shell_file = store_document(app, db_session, owner, samples.read("clinical.pdf"))
    return process_in_place(app, db_session, shell_file.id)


def audit_reasons(session: Session, account_id: uuid.UUID) -> list[str]:
    return list(
        session.scalars(
            select(AuditLog.reason).where(AuditLog.account_id == account_id).order_by(AuditLog.id)
        )
    )


def reads_of(session: Session, account_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = session.execute(
        select(AuditLog.table_name, AuditLog.reason).where(
            AuditLog.account_id == account_id, AuditLog.operation == "read"
        )
    )
    return [(table, reason) for table, reason in rows]


def rows_of(html: str) -> dict[str, str]:
    """Each document row of a list page, by document id."""
    rows = {}
    for part in html.split('<li class="doc" data-id="')[1:]:
        doc_id, _, rest = part.partition('"')
        rows[doc_id] = rest.split("</li>\n</template>")[0]
    return rows


def document_urls(doc_id: object) -> list[str]:
    return [
        f"/documents/{doc_id}",
        f"/documents/{doc_id}/progress",
        f"/documents/{doc_id}/pages/1.png",
        f"/documents/{doc_id}/fhir.json",
    ]


def test_profiles_lists_own_and_granted_profiles_only(
    make_person, owner: Person, db_session: Session
) -> None:
    carer = make_person(name="Casey Carer")
    stranger = make_person(name="Sam Stranger")
    grant(db_session, owner.profile, carer.account, "read_only")
    html = carer.client.get("/profiles").get_data(as_text=True)
    assert "Casey Carer" in html and "Robin Owner" in html and "Sam Stranger" not in html
    assert "shared with you to read" in html
    listed = [
        t
        for t, r in reads_of(db_session, carer.account.id)
        if r == "web: list profiles" and t == "user_profiles"
    ]
    assert len(listed) == 2
    assert "Robin Owner" not in stranger.client.get("/profiles").get_data(as_text=True)


def test_the_document_list_shows_status_date_type_and_is_audited(
    owner: Person, processed: ShellFile, db_session: Session
) -> None:
    response = owner.client.get(f"/profiles/{owner.profile.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert processed.original_filename in html
    assert "Completed" in html
    assert "Discharge summary (PDF)" in html
    assert re.search(r"uploaded\s+<span data-field=\"uploaded_at\">\d{4}-\d\d-\d\d", html)
    assert ("shell_files", "web: list documents") in reads_of(db_session, owner.account.id)


def test_the_list_filters_by_status(
    app: Flask, owner: Person, processed: ShellFile, db_session: Session, samples
) -> None:
    waiting = store_document(app, db_session, owner, samples.read("other.pdf"), "other.pdf")
    completed = owner.client.get(f"/profiles/{owner.profile.id}?status=completed")
    html = completed.get_data(as_text=True)
    assert str(processed.id) in html and str(waiting.id) not in html
    uploaded = owner.client.get(f"/profiles/{owner.profile.id}?status=uploaded")
    assert str(waiting.id) in uploaded.get_data(as_text=True)
    assert owner.client.get(f"/profiles/{owner.profile.id}?status=bogus").status_code == 400


def test_failed_and_quarantined_documents_say_why_and_offer_reprocess_where_it_helps(
    app: Flask, owner: Person, db_session: Session, samples
) -> None:
    refused = store_document(app, db_session, owner, samples.read("letter.pdf"))
    outage = store_document(app, db_session, owner, samples.read("other.pdf"), "other.pdf")
    for doc, status, error_type, stage in (
        (refused, "quarantined", "encrypted_pdf", "security_scan"),
        (outage, "failed", "api_error", "pass1"),
    ):
        doc.status = status
        db_session.add(
            ProcessingError(
                shell_file_id=doc.id,
                stage=stage,
                error_type=error_type,
                error_message="x",
                is_final=True,
            )
        )
    db_session.flush()
    html = owner.client.get(f"/profiles/{owner.profile.id}").get_data(as_text=True)
    assert "This PDF is protected by a password" in html
    assert "The service that reads the document had a problem." in html
    rows = rows_of(html)
    assert re.search(r'class="reprocess"[^>]*hidden', rows[str(refused.id)])
    assert not re.search(r'class="reprocess"[^>]*hidden', rows[str(outage.id)])


def test_reprocess_starts_a_new_run_with_csrf_and_write_access(
    app: Flask, make_person, owner: Person, db_session: Session, samples
) -> None:
    doc = store_document(app, db_session, owner, samples.read("letter.pdf"))
    doc.status = "failed"
    db_session.flush()
    reader = make_person()
    grant(db_session, owner.profile, reader.account, "read_only")
    url = f"/documents/{doc.id}/reprocess"
    assert reader.client.post(url, data={"csrf_token": reader.csrf()}).status_code == 404
    assert owner.client.post(url).status_code == 400  # no CSRF token
    response = owner.client.post(url, data={"csrf_token": owner.csrf()})
    assert response.status_code == 302
    db_session.refresh(doc)
    assert doc.run_number == 2 and doc.status == "uploaded"
    assert "web: reprocess" in audit_reasons(db_session, owner.account.id)


def test_the_document_view_shows_pages_highlights_records_narrative_and_fhir(
    owner: Person, processed: ShellFile, db_session: Session
) -> None:
    response = owner.client.get(f"/documents/{processed.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'src="/documents/{processed.id}/pages/1.png"' in html
    assert re.search(r'<img [^>]*alt="Page 1 of 1 of the document', html)
    entity = re.search(
        r'<rect id="entity-(e\d+)" class="entity t-medication[^"]*"[^>]*tabindex="0"', html
    )
    assert entity, "a medication is highlighted on page 1"
    assert 'aria-label="Medication: Metformin 500 mg twice daily' in html
    assert 'id="record-m1"' in html and 'data-entities="' in html
    assert f'href="#entity-{entity.group(1)}"' in html  # records jump to their source
    assert 'class="cite" href="#record-' in html  # narrative statements cite records
    assert f'href="/documents/{processed.id}/fhir.json"' in html
    assert "<script>" not in html and " style=" not in html  # nothing the CSP would block
    tables = {t for t, r in reads_of(db_session, owner.account.id) if r == "web: view document"}
    assert tables == {
        "shell_files",
        "ocr_pages",
        "clinical_entities",
        "clinical_records",
        "narratives",
    }


def test_a_page_image_is_the_workers_file_served_and_audited(
    app: Flask, owner: Person, processed: ShellFile, db_session: Session
) -> None:
    """The web process serves the image the fast lane drew, and draws none itself (#14,
    item 4): with that file gone it answers 409 and writes nothing."""
    folder = app.config["SETTINGS"].data_dir / "page-images" / str(processed.id)
    (drawn,) = folder.glob("1-*.png")
    first = owner.client.get(f"/documents/{processed.id}/pages/1.png")
    assert first.status_code == 200
    assert first.mimetype == "image/png" and first.data == drawn.read_bytes()
    assert "no-store" in first.headers["Cache-Control"]
    reads = [r for t, r in reads_of(db_session, owner.account.id) if r == "web: view page image"]
    assert len(reads) == 1
    assert owner.client.get(f"/documents/{processed.id}/pages/2.png").status_code == 404

    drawn.unlink()
    missing = owner.client.get(f"/documents/{processed.id}/pages/1.png")
    assert missing.status_code == 409
    assert "not ready yet" in missing.get_data(as_text=True)
    assert list(folder.iterdir()) == []


def test_the_fhir_download_is_a_bundle_attachment(
    owner: Person, processed: ShellFile, db_session: Session
) -> None:
    response = owner.client.get(f"/documents/{processed.id}/fhir.json")
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.get_json()["resourceType"] == "Bundle"
    assert ("clinical_records", "web: download FHIR bundle") in reads_of(
        db_session, owner.account.id
    )


def test_progress_answers_stages_for_the_profile_documents_only(
    app: Flask, make_person, owner: Person, db_session: Session, samples
) -> None:
    doc = store_document(app, db_session, owner, samples.read("letter.pdf"))
    other = make_person()
    foreign = store_document(app, db_session, other, samples.read("letter.pdf"))
    response = owner.client.get(
        f"/profiles/{owner.profile.id}/progress",
        query_string={"ids": f"{doc.id},{foreign.id},junk"},
    )
    items = response.get_json()["items"]
    assert [item["id"] for item in items] == [str(doc.id)]
    stages = items[0]["stages"]
    assert [s["name"] for s in stages] == [
        "security_scan",
        "ocr",
        "spatial_mapping",
        "pass1",
        "pass2",
        "pass3",
        "record",
    ]
    assert stages[0]["status"] == "queued" and stages[0]["lane"] == "fast"
    assert stages[3]["lane"] == "ai"
    assert ("shell_files", "web: watch document progress") in reads_of(db_session, owner.account.id)


def test_a_stranger_gets_404_on_every_document_and_profile_url(
    make_person, owner: Person, processed: ShellFile, db_session: Session
) -> None:
    stranger = make_person()
    urls = [
        f"/profiles/{owner.profile.id}",
        f"/profiles/{owner.profile.id}/progress?ids={processed.id}",
        *document_urls(processed.id),
        f"/documents/{uuid.uuid4()}",
        "/documents/not-a-uuid",
        "/profiles/not-a-uuid",
    ]
    for url in urls:
        response = stranger.client.get(url)
        assert response.status_code == 404, url
        assert processed.original_filename not in response.get_data(as_text=True)
    assert [
        read for read in reads_of(db_session, stranger.account.id) if read[0] != "accounts"
    ] == []
    token = stranger.csrf()
    for url in (f"/documents/{processed.id}/reprocess", f"/profiles/{owner.profile.id}/documents"):
        assert stranger.client.post(url, data={"csrf_token": token}).status_code == 404


def test_revoked_and_expired_grants_reach_nothing(
    make_person, owner: Person, processed: ShellFile, db_session: Session
) -> None:
    from app.runs.states import now

    former = make_person()
    grant(db_session, owner.profile, former.account, "read_write", revoked_at=now())
    lapsed = make_person()
    grant(db_session, owner.profile, lapsed.account, "read_only", expires_at=now())
    for person in (former, lapsed):
        for url in [f"/profiles/{owner.profile.id}", *document_urls(processed.id)]:
            assert person.client.get(url).status_code == 404, url


def test_a_read_only_grant_reads_but_cannot_upload(
    make_person, owner: Person, processed: ShellFile, db_session: Session, samples
) -> None:
    reader = make_person()
    grant(db_session, owner.profile, reader.account, "read_only")
    for url in [f"/profiles/{owner.profile.id}", *document_urls(processed.id)]:
        assert reader.client.get(url).status_code == 200, url
    page = reader.client.get(f"/profiles/{owner.profile.id}").get_data(as_text=True)
    assert 'id="upload-form"' not in page
    response = reader.client.post(
        f"/profiles/{owner.profile.id}/documents",
        data={"file": (io.BytesIO(samples.read("other.pdf")), "other.pdf")},
        headers={"X-CSRFToken": reader.csrf(), "Accept": "application/json"},
    )
    assert response.status_code == 404


def test_the_script_upload_answers_json_and_is_audited(
    owner: Person, db_session: Session, samples
) -> None:
    url = f"/profiles/{owner.profile.id}/documents"
    token = owner.csrf(f"/profiles/{owner.profile.id}")
    headers = {"X-CSRFToken": token, "Accept": "application/json", "Idempotency-Key": "k-1"}
    response = owner.client.post(
        url, data={"file": (io.BytesIO(samples.read("letter.pdf")), "letter.pdf")}, headers=headers
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    doc = db_session.get(ShellFile, uuid.UUID(body["id"]))
    assert doc is not None and doc.uploaded_by == owner.account.id
    assert body["url"] == f"/documents/{doc.id}"
    assert "document upload" in audit_reasons(db_session, owner.account.id)
    again = owner.client.post(
        url, data={"file": (io.BytesIO(samples.read("letter.pdf")), "letter.pdf")}, headers=headers
    )
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]


def test_uploads_without_the_csrf_header_are_refused(owner: Person, samples) -> None:
    response = owner.client.post(
        f"/profiles/{owner.profile.id}/documents",
        data={"file": (io.BytesIO(samples.read("letter.pdf")), "letter.pdf")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400


def test_bad_uploads_get_plain_errors(owner: Person, samples) -> None:
    url = f"/profiles/{owner.profile.id}/documents"
    headers = {"X-CSRFToken": owner.csrf(), "Accept": "application/json"}
    refused = owner.client.post(
        url, data={"file": (io.BytesIO(samples.read("program.exe")), "x.exe")}, headers=headers
    )
    assert refused.status_code == 415
    assert "not accepted" in refused.get_json()["error"]["message"]
    empty = owner.client.post(url, data={"file": (io.BytesIO(b""), "e.pdf")}, headers=headers)
    assert empty.status_code == 400
    nothing = owner.client.post(url, data={}, headers=headers)
    assert nothing.status_code == 400


def test_the_form_upload_without_script_takes_several_files(
    owner: Person, db_session: Session, samples
) -> None:
    response = owner.client.post(
        f"/profiles/{owner.profile.id}/documents",
        data={
            "csrf_token": owner.csrf(),
            "file": [
                (io.BytesIO(samples.read("letter.pdf")), "letter.pdf"),
                (io.BytesIO(samples.read("scan.png")), "scan.png"),
                (io.BytesIO(samples.read("page.html")), "page.html"),
            ],
        },
    )
    assert response.status_code == 302
    docs = db_session.scalars(select(ShellFile).where(ShellFile.patient_id == owner.profile.id))
    assert sorted(d.mime_type for d in docs) == ["application/pdf", "image/png"]
    html = owner.client.get(response.headers["Location"]).get_data(as_text=True)
    assert html.count("Uploaded.") == 2 and "Not uploaded: This kind of file" in html


def test_a_value_that_needs_review_is_marked_in_words_on_the_document_view(
    app: Flask, owner: Person, db_session: Session
) -> None:
    letter = b"Blood results\nPotassium 46 mmol/L (3.5 - 5.3)\nSodium 139 mmol/L (135 - 145)\n"
    shell_file = store_document(app, db_session, owner, letter, name="labs.txt")
    process_any_in_place(app, db_session, shell_file.id)  # a text file, by its own name

    html = owner.client.get(f"/documents/{shell_file.id}").get_data(as_text=True)

    marks = re.findall(r'<strong class="badge [^"]*review">([^<]*)</strong>', html)
    assert marks == ["Check this value against the page: outside what a body can have."]


def test_a_page_image_waits_for_the_security_scan(
    app: Flask, owner: Person, db_session: Session, samples
) -> None:
    """Not yet scanned: 409, whatever the page (#14, item 1)."""
    doc = store_document(app, db_session, owner, samples.read("letter.pdf"))
    response = owner.client.get(f"/documents/{doc.id}/pages/1.png")
    assert response.status_code == 409
    assert "once the security scan has passed" in response.get_data(as_text=True)
