"""The web app end to end in a real browser: Debian's Chromium, headless, driven by Playwright.

Given the app served over HTTP on a free port (the session's database, Redis and worker)
and two accounts with passwords; when the first signs in, uploads a born-digital PDF
and a scan of a clinical letter, and watches both lanes finish; then it opens the
document and sees entities highlighted on page 1, reads a record's source, and signs
out; and the second account gets 404 on every one of the first's pages.

Screenshots of the main screens are taken on every run; with UPDATE_SCREENSHOTS=1 they
are written to docs/screenshots/ (the README shows them), otherwise to a temporary folder,
so a test run leaves the checkout as it found it.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from app.access.passwords import hash_password
from app.config import PROJECT_ROOT
from app.models import Account, UserProfile
from tests.support.samples import Samples, text_pdf

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = (
    PROJECT_ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="sfp-screenshots-"))
)
PASSWORD = "a long test password"
LANES_TIMEOUT_MS = 150_000


@pytest.fixture
def served(app: Flask, worker: object) -> Iterator[str]:
    """The app over real HTTP, in a thread of this process, with the session's settings."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def make_account(app: Flask, name: str) -> tuple[str, uuid.UUID]:
    first_name = name.split(maxsplit=1)[0].lower()
    email = f"{first_name}@example.test"  # the session's database is fresh
    with app.extensions["db"].session() as session:
        account = Account(id=uuid.uuid4(), email=email, password_hash=hash_password(PASSWORD))
        session.add(account)
        session.flush()
        profile = UserProfile(
            id=uuid.uuid4(), account_owner_id=account.id, profile_type="self", display_name=name
        )
        session.add(profile)
    return email, profile.id


def scanned_letter(samples: Samples, folder: Path) -> Path:
    """The clinical letter as a 200 dpi greyscale scan (a PNG: no text layer to read)."""
    pdf = pdfium.PdfDocument(samples.path("clinical.pdf"))
    try:
        image = pdf[0].render(scale=200 / 72, grayscale=True).to_pil()
    finally:
        pdf.close()
    path = folder / "scanned-letter.png"
    image.save(path)
    return path


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/profiles")


def wait_until(page: Page, script: str, timeout_ms: int = 30_000) -> None:
    """Poll a page expression (wait_for_function evaluates strings, which the CSP forbids)."""
    waited = 0
    while not page.evaluate(script):
        assert waited < timeout_ms, f"still false after {timeout_ms} ms: {script}"
        page.wait_for_timeout(200)
        waited += 200


IMAGE_LOADED = "document.querySelector('#page-1 img').naturalWidth > 0"


def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def test_sign_in_upload_watch_read_sign_out_and_no_access_for_another_account(
    app: Flask, served: str, browser: Browser, samples: Samples, tmp_path: Path
) -> None:
    email, profile_id = make_account(app, "Alex Example")
    other_email, _ = make_account(app, "Sam Other")
    pdf_path = tmp_path / "discharge-letter.pdf"
    pdf_path.write_bytes(samples.read("clinical.pdf"))
    scan_path = scanned_letter(samples, tmp_path)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)

    # Sign in.
    page.goto(f"{served}/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "sign-in.png")
    sign_in(page, served, email)
    page.get_by_role("link", name="Alex Example").click()
    page.wait_for_url(f"{served}/profiles/{profile_id}")

    # Upload a born-digital PDF and a scan; each gets a bar, then a row with live stages.
    page.set_input_files("#file-input", [str(pdf_path), str(scan_path)])
    rows = page.locator("#documents .doc")
    expect(rows).to_have_count(2)
    expect(page.locator("#upload-list li progress")).to_have_count(2)
    expect(page.locator("#documents-total")).to_have_text("2")
    expect(page.get_by_role("button", name="Upload")).to_be_hidden()  # the script uploads
    wait_until(
        page,
        "document.querySelectorAll('#documents .stage.st-completed').length > 0",
        LANES_TIMEOUT_MS,
    )
    shoot(page, "documents-progress.png")
    for row in (rows.nth(0), rows.nth(1)):
        expect(row).to_have_attribute("data-status", "completed", timeout=LANES_TIMEOUT_MS)
    assert page.locator("#documents .stage.st-completed").count() == 14  # 7 stages, 2 files
    expect(page.locator("#documents .badge").first).to_have_text("Completed")

    # Open the PDF: page 1 as an image, with entities highlighted over it.
    page.get_by_role("link", name="discharge-letter.pdf").click()
    page.wait_for_url(f"{served}/documents/*")
    document_url = page.url
    image = page.locator("#page-1 img")
    expect(image).to_have_attribute("alt", re.compile(r"^Page 1 of 1 of the document"))
    wait_until(page, IMAGE_LOADED)
    medication = page.locator("#page-1 rect.entity.t-medication").first
    expect(medication).to_be_visible()
    medication.hover()
    expect(page.locator("#entity-details")).to_contain_text("Medication: Metformin 500 mg")
    expect(page.locator("#entity-details")).to_contain_text("confidence")
    image_url = served + image.get_attribute("src")
    shoot(page, "document.png")

    # A record leads to where it came from: its highlight takes the focus.
    page.locator("#record-m1 a.jump").click()
    focused = page.evaluate("document.activeElement && document.activeElement.id")
    assert focused.startswith("entity-"), focused

    # The keyboard reaches the highlights too.
    page.locator("#page-1 rect.entity").last.focus()
    expect(page.locator("#entity-details")).not_to_contain_text("Point at")

    # The scan went through OCR and was read as well: highlights on its page 1.
    page.goto(f"{served}/profiles/{profile_id}")
    page.get_by_role("link", name="scanned-letter.png").click()
    wait_until(page, IMAGE_LOADED)
    assert page.locator("#page-1 rect.entity").count() > 0

    # On a phone-sized screen nothing runs off the side.
    phone = browser.new_context(
        viewport={"width": 375, "height": 812}, storage_state=context.storage_state()
    )
    phone_page = phone.new_page()
    phone_page.goto(document_url)
    wait_until(phone_page, IMAGE_LOADED)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    shoot(phone_page, "phone.png")
    phone.close()

    # Sign out: the pages are out of reach again.
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{served}/sign-in")
    page.goto(document_url)
    assert page.url.startswith(f"{served}/sign-in")
    context.close()

    # Another account reaches none of it.
    stranger = browser.new_context()
    other = stranger.new_page()
    sign_in(other, served, other_email)
    expect(other.get_by_text("Alex Example")).to_have_count(0)
    for url in (document_url, image_url, f"{served}/profiles/{profile_id}"):
        response = other.goto(url)
        assert response is not None and response.status == 404, url
    stranger.close()


def test_three_dated_lab_reports_make_an_hba1c_trend_whose_points_lead_to_their_pages(
    app: Flask, served: str, browser: Browser, tmp_path: Path
) -> None:
    email, profile_id = make_account(app, "Jo Trend")
    reports = []
    for year, value in (("2022", "48 mmol/mol (20-41)"), ("2023", "53 mmol/mol (20-41)"),
                        ("2024", "6.8 % (4.0-5.9)")):  # fmt: skip
        path = tmp_path / f"lab-{year}.pdf"
        path.write_bytes(text_pdf(["Laboratory report", f"Date of report: 01/03/{year}",
                                   f"Results: HbA1c {value}", "Diagnosis: type 2 diabetes",
                                   "Medications: Metformin 500 mg twice daily",
                                   "Allergies: penicillin - rash"]))  # fmt: skip
        reports.append(str(path))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    sign_in(page, served, email)
    page.goto(f"{served}/profiles/{profile_id}")
    page.set_input_files("#file-input", reports)
    rows = page.locator("#documents .doc")
    expect(rows).to_have_count(3)
    for index in range(3):
        expect(rows.nth(index)).to_have_attribute(
            "data-status", "completed", timeout=LANES_TIMEOUT_MS
        )

    page.get_by_role("link", name="Health record", exact=True).click()
    page.wait_for_url(f"{served}/profiles/{profile_id}/record")
    expect(page.get_by_role("heading", name="Recent results")).to_be_visible()
    shoot(page, "health-record.png", full_page=True)
    page.get_by_role("link", name="3 results").click()
    chart = page.locator("svg.chart").first
    expect(chart.locator("circle.point")).to_have_count(3)
    expect(page.locator("table td.value")).to_have_count(3)
    shoot(page, "results.png")

    # A point is a link (reachable by the keyboard) to the page it was read on.
    point = chart.locator("a.point-link").first
    point.focus()
    point.press("Enter")
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]+#page-1$"))
    wait_until(page, IMAGE_LOADED)
    context.close()
