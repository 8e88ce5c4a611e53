"""Test documents with known text, generated with reportlab, Pillow and pikepdf.

Everything is synthetic. `Corpus(root)` writes each file on first use and keeps it,
so a session generates each document once.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
from PIL import Image, ImageFilter
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from app.pipeline.security import EICAR

WORDS = [
    "patient",
    "clinic",
    "letter",
    "reviewed",
    "today",
    "blood",
    "pressure",
    "medication",
    "paracetamol",
    "twice",
    "daily",
    "haemoglobin",
    "result",
    "normal",
    "range",
    "follow",
    "appointment",
    "weeks",
    "discharge",
    "summary",
    "history",
    "allergy",
    "penicillin",
    "tablet",
    "morning",
    "evening",
    "cholesterol",
    "glucose",
    "kidney",
    "function",
    "stable",
    "review",
    "months",
    "nurse",
    "doctor",
    "referral",
    "hospital",
    "ward",
    "admitted",
    "treatment",
    "plan",
    "advice",
]

PAGE_WIDTH, PAGE_HEIGHT = A4


def sentences(seed: int, lines: int, words_per_line: int = 9) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words_per_line)) for _ in range(lines)]


def page_lines(page: int) -> list[str]:
    """The known text of page `page` of the standard test document."""
    return [f"Page {page} clinical record", *sentences(page, 24)]


COLUMN_WIDTH = 220  # points, at 10 pt Helvetica; the gutter is about 35 points


def column_lines(seed: int, lines: int) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < lines:
        line: list[str] = []
        while True:
            candidate = " ".join([*line, rng.choice(WORDS)])
            if stringWidth(candidate, "Helvetica", 10) > COLUMN_WIDTH:
                break
            line = candidate.split()
        out.append(" ".join(line))
    return out


def text_pdf(pages: list[list[str]], font_size: int = 12) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for lines in pages:
        pdf.setFont("Helvetica", font_size)
        y = PAGE_HEIGHT - 72
        for line in lines:
            pdf.drawString(72, y, line)
            y -= font_size * 1.6
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def two_column_pdf(left: list[str], right: list[str], title: str) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(72, PAGE_HEIGHT - 60, title)
    pdf.setFont("Helvetica", 10)
    for x, column in ((56, left), (56 + COLUMN_WIDTH + 36, right)):
        y = PAGE_HEIGHT - 100
        for index, line in enumerate(column):
            if index and index % 6 == 0:
                y -= 10  # paragraph breaks, at the same height in both columns
            pdf.drawString(x, y, line)
            y -= 14
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def render_pages(pdf_bytes: bytes, dpi: int = 300) -> list[Image.Image]:
    document = pdfium.PdfDocument(pdf_bytes)
    try:
        return [page.render(scale=dpi / 72, grayscale=True).to_pil() for page in document]
    finally:
        document.close()


def add_noise(image: Image.Image, seed: int = 7) -> Image.Image:
    """Scanner noise: speckles, a slight blur and a faint skew."""
    rng = random.Random(seed)
    noisy = image.convert("L").rotate(0.6, fillcolor=255, resample=Image.Resampling.BILINEAR)
    pixels = noisy.load()
    width, height = noisy.size
    for _ in range(width * height // 400):
        pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 90, 170))
    return noisy.filter(ImageFilter.GaussianBlur(0.6))


def images_pdf(images: list[Image.Image], dpi: int = 300) -> bytes:
    buffer = io.BytesIO()
    first, *rest = [image.convert("L") for image in images]
    first.save(buffer, format="PDF", save_all=True, append_images=rest, resolution=dpi)
    return buffer.getvalue()


def mixed_pdf(text_page: list[str], scanned_page: Image.Image) -> bytes:
    """Page 1 has a text layer; page 2 is only an image of a page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setFont("Helvetica", 12)
    y = PAGE_HEIGHT - 72
    for line in text_page:
        pdf.drawString(72, y, line)
        y -= 19
    pdf.showPage()
    pdf.drawImage(ImageReader(scanned_page), 0, 0, PAGE_WIDTH, PAGE_HEIGHT)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted_pdf(plain: bytes) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="secret-user", owner="secret-owner"))
    return out.getvalue()


def javascript_pdf(plain: bytes) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)"))
        pdf.Root.OpenAction = action
        pdf.save(out)
    return out.getvalue()


def embedded_file_pdf(plain: bytes) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(plain)) as pdf:
        pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00" * 64)
        pdf.save(out)
    return out.getvalue()


def zero_page_pdf() -> bytes:
    out = io.BytesIO()
    pikepdf.new().save(out)
    return out.getvalue()


def broken_xref_pdf(plain: bytes) -> bytes:
    """A PDF whose cross-reference offsets are wrong: qpdf rebuilds the table."""
    head, _, _ = plain.rpartition(b"startxref")
    return head + b"startxref\n999999\n%%EOF\n"


def polyglot_pdf_zip(plain: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("run.sh", "echo hidden\n")
    return plain + archive.getvalue()


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A tiny PNG whose header claims 1.6 gigapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


class Corpus:
    """Named test documents, generated on first use and kept in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._makers: dict[str, Callable[[], bytes]] = {
            "born_digital.pdf": lambda: text_pdf([page_lines(1), page_lines(2)]),
            "long_scan.pdf": lambda: images_pdf(
                render_pages(text_pdf([page_lines(n) for n in range(1, 11)]))
            ),
            "scan_300dpi.pdf": lambda: images_pdf(self.scan_images(2)),
            "scan_300dpi.png": lambda: encode(self.scan_images(1)[0], "PNG"),
            "scan_noisy.png": lambda: encode(add_noise(self.scan_images(1)[0]), "PNG"),
            "scan_rot90.png": lambda: encode(self.scan_images(1)[0].rotate(90, expand=True), "PNG"),
            "scan_rot180.pdf": lambda: images_pdf([self.scan_images(1)[0].rotate(180)]),
            "scan_rot270.jpg": lambda: encode(
                self.scan_images(1)[0].rotate(270, expand=True), "JPEG", quality=90
            ),
            "two_column.pdf": lambda: two_column_pdf(
                *self.two_columns(), title="Discharge summary"
            ),
            "two_column_scan.png": lambda: encode(
                render_pages(self.read("two_column.pdf"))[0], "PNG"
            ),
            "mixed.pdf": lambda: mixed_pdf(page_lines(1), self.scan_images(2)[1]),
            "multipage.tiff": lambda: encode(
                self.scan_images(2)[0],
                "TIFF",
                save_all=True,
                append_images=[self.scan_images(2)[1]],
                compression="tiff_deflate",
            ),
            "exif_rotated.jpg": self._exif_rotated,
            "blank.png": lambda: encode(Image.new("L", (1240, 1754), 255), "PNG"),
            "eicar.txt": lambda: EICAR,
            "encrypted.pdf": lambda: encrypted_pdf(self.read("born_digital.pdf")),
            "javascript.pdf": lambda: javascript_pdf(self.read("born_digital.pdf")),
            "embedded_file.pdf": lambda: embedded_file_pdf(self.read("born_digital.pdf")),
            "truncated.pdf": lambda: self.read("born_digital.pdf")[:900],
            "broken_xref.pdf": lambda: broken_xref_pdf(self.read("born_digital.pdf")),
            "zero_pages.pdf": zero_page_pdf,
            "bomb.png": png_bomb,
            "truncated.png": lambda: encode(self.scan_images(1)[0], "PNG")[:5000],
            "text_renamed.pdf": lambda: b"Just some notes, not a PDF at all.\n",
            "polyglot.pdf": lambda: polyglot_pdf_zip(self.read("born_digital.pdf")),
        }

    def scan_images(self, pages: int) -> list[Image.Image]:
        return render_pages(self.read("born_digital.pdf"))[:pages]

    def two_columns(self) -> tuple[list[str], list[str]]:
        """Two columns of 18 lines, each wrapped to the column's width as a typesetter would."""
        return column_lines(101, 18), column_lines(202, 18)

    def _exif_rotated(self) -> bytes:
        """A photo stored on its side, with EXIF saying to turn it upright."""
        upright = self.scan_images(1)[0]
        stored = upright.rotate(270, expand=True)  # the camera wrote it on its side
        exif = Image.Exif()
        exif[0x0112] = 8  # orientation: rotate 90 CW to display
        return encode(stored, "JPEG", quality=92, exif=exif.tobytes())

    def path(self, name: str) -> Path:
        target = self.root / name
        if not target.exists():
            target.write_bytes(self._makers[name]())
        return target

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    @property
    def names(self) -> list[str]:
        return list(self._makers)
