"""Test documents, generated once per session with reportlab and Pillow."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


@dataclass(frozen=True)
class Samples:
    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


CLINICAL_LETTER = [
    "Discharge summary",
    "Date of discharge: 12/03/2024",
    "Medications: Metformin 500 mg twice daily",
    "Results: Haemoglobin 135 g/L (130-170)",
    "Observations: BP 142/91 mmHg, HR 88 bpm",
    "The patient denies chest pain.",
    "Allergies: penicillin - rash",
]


def text_pdf(lines: list[str]) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    y = 800
    for line in lines:
        pdf.drawString(72, y, line)
        y -= 18
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def image_bytes(fmt: str, size: tuple[int, int] = (400, 200), label: str = "Sample") -> bytes:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 20), label, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def generate(root: Path) -> Samples:
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "letter.pdf": text_pdf(["Clinic letter", "Patient reviewed today.", "Plan: follow up."]),
        "other.pdf": text_pdf(["Lab report", "Haemoglobin 135 g/L"]),
        "clinical.pdf": text_pdf(CLINICAL_LETTER),
        "scan.png": image_bytes("PNG"),
        "photo.jpg": image_bytes("JPEG"),
        "scan.tiff": image_bytes("TIFF"),
        "photo.webp": image_bytes("WEBP"),
        "note.txt": b"Medication list\nParacetamol 500 mg twice daily\n",
        "page.html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        "program.exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200,
        "archive.zip": b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 100,
        "empty.pdf": b"",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return Samples(root)
