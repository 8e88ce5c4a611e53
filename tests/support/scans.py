"""A realistic lab report as a scanner would hand it over: clean at 300 dpi, or noisy.

`LAB_ROWS` is what the page says (test, result, units, reference range, flag), and
what a reading of it must give back (`Expected`). `lab_report_pdf()` draws the
report with reportlab as a table; `clean_scan()` rasterises it at 300 dpi with
pdfium; `noisy_scan(seed)` adds what a tired office scanner adds: a slight turn,
blur, speckles, uneven toner and JPEG artefacts. Everything is seeded, so a page
is the same in every run.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, ImageFilter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from app.pipeline.layout import DocumentText, document_text, map_page
from app.pipeline.ocr import PageText, Tesseract, read_image_page

SCAN_DPI = 300
PAGE_WIDTH, PAGE_HEIGHT = A4


@dataclass(frozen=True)
class Expected:
    """One result row: as printed, and the record a reading must give."""

    test: str  # as printed
    result: str
    units: str
    reference: str
    flag: str
    name: str  # the lexicon's canonical name
    value: float
    unit: str  # UCUM


LAB_ROWS: tuple[Expected, ...] = (
    Expected("Haemoglobin", "142", "g/L", "130 - 170", "", "haemoglobin", 142, "g/L"),
    Expected(
        "White cell count", "6.8", "x10^9/L", "4.0 - 11.0", "", "white cell count", 6.8, "10*9/L"
    ),
    Expected("Platelets", "245", "x10^9/L", "150 - 400", "", "platelets", 245, "10*9/L"),
    Expected("Sodium", "139", "mmol/L", "135 - 145", "", "sodium", 139, "mmol/L"),
    Expected("Potassium", "4.6", "mmol/L", "3.5 - 5.3", "", "potassium", 4.6, "mmol/L"),
    Expected("Urea", "5.6", "mmol/L", "2.5 - 7.8", "", "urea", 5.6, "mmol/L"),
    Expected("Creatinine", "88", "umol/L", "59 - 104", "", "creatinine", 88, "umol/L"),
    Expected("Glucose (fasting)", "6.4", "mmol/L", "3.9 - 5.5", "H", "glucose", 6.4, "mmol/L"),
    Expected("HbA1c", "53", "mmol/mol", "20 - 41", "H", "HbA1c", 53, "mmol/mol"),
    Expected(
        "Total cholesterol", "5.8", "mmol/L", "< 5.0", "H", "total cholesterol", 5.8, "mmol/L"
    ),
    Expected("HDL cholesterol", "1.2", "mmol/L", "> 1.0", "", "HDL cholesterol", 1.2, "mmol/L"),
    Expected("LDL cholesterol", "3.7", "mmol/L", "< 3.0", "H", "LDL cholesterol", 3.7, "mmol/L"),
    Expected("Triglycerides", "2.1", "mmol/L", "< 1.7", "H", "triglycerides", 2.1, "mmol/L"),
    Expected("ALT", "34", "U/L", "0 - 40", "", "ALT", 34, "U/L"),
    Expected("CRP", "3", "mg/L", "0 - 5", "", "CRP", 3, "mg/L"),
)
COLUMNS = (("Test", 56), ("Result", 220), ("Units", 290), ("Reference range", 380), ("Flag", 500))


def lab_report_pdf(rows: tuple[Expected, ...] = LAB_ROWS) -> bytes:
    """One A4 page: a laboratory's header, the patient block, and the results table."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    top = PAGE_HEIGHT - 60
    pdf.setFont("Helvetica-Bold", 15)
    pdf.drawString(56, top, "Northfield Pathology Laboratory")
    pdf.setFont("Helvetica", 10)
    pdf.drawString(56, top - 16, "Clinical Biochemistry and Haematology")
    pdf.drawString(
        56, top - 44, "Patient: Jane Example      NHS No: 999 123 4567      DOB: 12/03/1961"
    )
    pdf.drawString(56, top - 58, "Requested by: Dr A Patel, Leeds Road Surgery")
    pdf.drawString(56, top - 72, "Collected: 04/02/2025 09:10      Reported: 04/02/2025 16:45")
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(56, top - 104, "Results")
    y = top - 128
    pdf.setFont("Helvetica-Bold", 10)
    for title, x in COLUMNS:
        pdf.drawString(x, y, title)
    pdf.line(56, y - 5, PAGE_WIDTH - 56, y - 5)
    pdf.setFont("Helvetica", 10)
    y -= 22
    for row in rows:
        for text, (_, x) in zip(
            (row.test, row.result, row.units, row.reference, row.flag), COLUMNS, strict=True
        ):
            if text:
                pdf.drawString(x, y, text)
        y -= 19
    pdf.line(56, y + 8, PAGE_WIDTH - 56, y + 8)
    pdf.setFont("Helvetica-Oblique", 9)
    pdf.drawString(
        56, y - 12, "Results outside the reference range are flagged H (high) or L (low)."
    )
    pdf.drawString(56, y - 26, "Authorised by: Dr S Morgan, Consultant Chemical Pathologist")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def clean_scan(pdf_bytes: bytes | None = None) -> Image.Image:
    """The report's page rasterised at 300 dpi in grayscale, as a flatbed scanner gives it."""
    document = pdfium.PdfDocument(pdf_bytes or lab_report_pdf())
    try:
        return document[0].render(scale=SCAN_DPI / 72, grayscale=True).to_pil().convert("L")
    finally:
        document.close()


def noisy_scan(image: Image.Image, seed: int = 12) -> Image.Image:
    """A worn scan: turned ~0.8 degrees, blurred, speckled, toner fading, saved as JPEG."""
    rng = random.Random(seed)
    page = image.convert("L").rotate(
        rng.uniform(0.6, 1.0), fillcolor=255, resample=Image.Resampling.BICUBIC
    )
    page = page.filter(ImageFilter.GaussianBlur(1.1))
    pixels = page.load()
    assert pixels is not None
    width, height = page.size
    for _ in range(width * height // 250):  # dust and toner specks
        x, y = rng.randrange(width), rng.randrange(height)
        pixels[x, y] = rng.choice((0, 60, 120, 200))
    # Toner fading in horizontal bands: dark text greys out in places.
    band = height // 24
    for top in range(0, height, band):
        lift = rng.randint(0, 70)
        if lift:
            region = page.crop((0, top, width, min(height, top + band)))
            region = region.point(lambda v, lift=lift: min(255, v + lift))
            page.paste(region, (0, top))
    buffer = io.BytesIO()
    page.save(buffer, format="JPEG", quality=rng.randint(22, 30))
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def read_scan(image: Image.Image, engine: Tesseract | None = None) -> DocumentText:
    """OCR a page image with the project's Tesseract, then spatial mapping (the fast lane)."""
    words, mean, rotation, used = read_image_page(image, engine or Tesseract())
    page = PageText(
        1, float(used.width), float(used.height), "px", "tesseract", tuple(words), mean, rotation
    )
    return document_text([map_page(page)])
