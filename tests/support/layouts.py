"""Test pages with real layouts and their known reading order, for spatial mapping.

Each page is drawn with reportlab (Helvetica, A4) and kept with the text it was
made from, in reading order:

- `drop_cap`: two columns of running text, the first paragraph opening with a
  drop capital three lines tall; the paragraph breaks do not line up.
- `title_columns`: a full-width title and standfirst over two columns.
- `side_panel`: a letter whose body runs beside a boxed contact panel.
- `header_footer`: two columns under a running header (hospital, patient id) and
  over a footer ("Confidential", page number), each split left and right.
- `aligned_columns`: two columns whose headings and paragraph breaks line up
  across the gutter.
- `lab_table`: a laboratory report whose table must be read row by row.
- `letter`: a single-column letter.

`LayoutPage.truths` lists the acceptable readings (a side panel may come before or
after the body); `before` holds pairs of lines that must be read in that order
(the last line of a left column before the first of the right one); `rows` holds
lines that must stay one line (table rows). `scan(page, engine)` renders a page at
300 dpi and reads it with Tesseract; `text_layer(page, path)` reads its PDF text.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from app.pipeline.ocr import PageText, Tesseract, iter_pdf_pages, read_image_page
from tests.support.documents import WORDS, add_noise, render_pages
from tests.support.text import normalise

PAGE_WIDTH, PAGE_HEIGHT = A4
BODY = ("Helvetica", 10)
LEADING = 14
LEFT_X, RIGHT_X, COLUMN_WIDTH = 56, 312, 226  # a 30 pt gutter


@dataclass(frozen=True)
class LayoutPage:
    name: str
    pdf: bytes
    truths: tuple[tuple[str, ...], ...]
    before: tuple[tuple[str, str], ...] = ()
    rows: tuple[str, ...] = ()
    columns: int = 1

    @property
    def truth(self) -> str:
        return " ".join(self.truths[0])


def wrap(rng: random.Random, width: float, first: str = "") -> str:
    """One line of random vocabulary words that fills `width` points at 10 pt."""
    words = first.split()
    while True:
        candidate = " ".join([*words, rng.choice(WORDS)])
        if stringWidth(candidate, *BODY) > width:
            return " ".join(words)
        words = candidate.split()


def paragraph(rng: random.Random, lines: int, width: float = COLUMN_WIDTH) -> list[str]:
    return [wrap(rng, width) for _ in range(lines)]


@dataclass
class Sheet:
    """A reportlab page that remembers what it drew."""

    pdf: canvas.Canvas = field(init=False)
    buffer: io.BytesIO = field(default_factory=io.BytesIO)

    def __post_init__(self) -> None:
        self.pdf = canvas.Canvas(self.buffer, pagesize=A4)

    def text(
        self,
        x: float,
        y: float,
        line: str,
        font: tuple[str, int] = BODY,
        justify: float | None = None,
    ) -> str:
        """Draw `line` with its baseline `y` points below the top of the page.

        With `justify`, the spaces stretch so that the line is that many points wide.
        """
        text = self.pdf.beginText(x, PAGE_HEIGHT - y)
        text.setFont(*font)
        spaces = line.count(" ")
        stretch = (justify - stringWidth(line, *font)) / spaces if justify and spaces else 0
        text.setWordSpace(stretch)  # always set: the word spacing outlives the text object
        text.textOut(line)
        self.pdf.drawText(text)
        return line

    def right(self, x: float, y: float, line: str, font: tuple[str, int] = BODY) -> str:
        self.pdf.setFont(*font)
        self.pdf.drawRightString(x, PAGE_HEIGHT - y, line)
        return line

    def column(
        self,
        x: float,
        y: float,
        paragraphs: list[list[str]],
        gap: float = 10,
        justify: float | None = None,
    ) -> float:
        """Paragraphs one under another (justified but for their last lines); the next baseline."""
        for index, lines in enumerate(paragraphs):
            if index:
                y += gap
            for number, line in enumerate(lines):
                self.text(x, y, line, justify=justify if number < len(lines) - 1 else None)
                y += LEADING
        return y

    def finish(self) -> bytes:
        self.pdf.showPage()
        self.pdf.save()
        return self.buffer.getvalue()


def flat(paragraphs: list[list[str]]) -> list[str]:
    return [line for lines in paragraphs for line in lines]


def drop_cap() -> LayoutPage:
    """Justified columns with a narrow (12 pt) gutter, as a newsletter sets them."""
    rng = random.Random(301)
    sheet = Sheet()
    width, gutter = 235, 12
    right_x = LEFT_X + width + gutter
    cap_font = ("Helvetica-Bold", 48)
    indent = stringWidth("T", *cap_font) + 6
    opening = [wrap(rng, width - indent, "he"), *(wrap(rng, width - indent) for _ in range(2))]
    rest = [paragraph(rng, 6, width), paragraph(rng, 8, width), paragraph(rng, 7, width)]
    right = [paragraph(rng, 5, width), paragraph(rng, 9, width), paragraph(rng, 8, width)]
    top = 90
    sheet.text(LEFT_X, top + 2 * LEADING, "T", cap_font)  # its baseline on the third line
    for index, line in enumerate(opening):
        sheet.text(LEFT_X + indent, top + index * LEADING, line, justify=width - indent)
    sheet.column(LEFT_X, top + 3 * LEADING, [rest[0]], justify=width)
    sheet.column(LEFT_X, top + 9 * LEADING + 10, rest[1:], justify=width)
    sheet.column(right_x, top, right, justify=width)
    left_lines = ["T" + opening[0], *opening[1:], *flat(rest)]
    right_lines = flat(right)
    return LayoutPage(
        "drop_cap",
        sheet.finish(),
        ((*left_lines, *right_lines),),
        before=((left_lines[-1], right_lines[0]), (left_lines[2], left_lines[3])),
        columns=2,
    )


def title_columns() -> LayoutPage:
    rng = random.Random(302)
    sheet = Sheet()
    title = sheet.text(LEFT_X, 70, "Outpatient Clinic Review", ("Helvetica-Bold", 18))
    standfirst = [sheet.text(LEFT_X, 96 + i * LEADING, wrap(rng, 480)) for i in range(2)]
    left = [paragraph(rng, 7), paragraph(rng, 10), paragraph(rng, 6)]
    right = [paragraph(rng, 9), paragraph(rng, 4), paragraph(rng, 9)]
    sheet.column(LEFT_X, 140, left)
    sheet.column(RIGHT_X, 140, right)
    left_lines, right_lines = flat(left), flat(right)
    return LayoutPage(
        "title_columns",
        sheet.finish(),
        ((title, *standfirst, *left_lines, *right_lines),),
        before=((standfirst[-1], left_lines[0]), (left_lines[-1], right_lines[0])),
        columns=2,
    )


PANEL = [
    "Cardiology Department",
    "Northfield General Hospital",
    "12 Station Road",
    "Leeds LS1 4AB",
    "Tel 0113 496 0000",
    "Fax 0113 496 0001",
    "Secretary Mrs J Ward",
    "Clinic code CARD7",
]


def side_panel() -> LayoutPage:
    rng = random.Random(303)
    sheet = Sheet()
    width = 300
    heading = sheet.text(LEFT_X, 70, "Northfield General Hospital", ("Helvetica-Bold", 16))
    body = [
        ["Dear Dr Patel,"],
        paragraph(rng, 6, width),
        paragraph(rng, 8, width),
        paragraph(rng, 5, width),
        ["Yours sincerely,", "Dr A Khan, Consultant Cardiologist"],
    ]
    sheet.column(LEFT_X, 120, body)
    panel_x = 392
    sheet.pdf.rect(panel_x - 8, PAGE_HEIGHT - 112 - len(PANEL) * 12 - 4, 160, len(PANEL) * 12 + 12)
    for index, line in enumerate(PANEL):
        sheet.text(panel_x, 120 + index * 12, line, ("Helvetica", 9))
    body_lines = flat(body)
    return LayoutPage(
        "side_panel",
        sheet.finish(),
        ((heading, *body_lines, *PANEL), (heading, *PANEL, *body_lines)),
        columns=2,
    )


def header_footer() -> LayoutPage:
    rng = random.Random(304)
    sheet = Sheet()
    small = ("Helvetica", 9)
    header = [
        sheet.text(LEFT_X, 40, "Northfield General Hospital", small),
        sheet.right(PAGE_WIDTH - 56, 40, "Patient ID 4471203", small),
    ]
    sheet.pdf.line(LEFT_X, PAGE_HEIGHT - 46, PAGE_WIDTH - 56, PAGE_HEIGHT - 46)
    title = sheet.text(LEFT_X, 84, "Discharge Summary", ("Helvetica-Bold", 16))
    left = [paragraph(rng, 12), paragraph(rng, 14), paragraph(rng, 10)]
    right = [paragraph(rng, 10), paragraph(rng, 13), paragraph(rng, 11)]
    sheet.column(LEFT_X, 116, left)
    sheet.column(RIGHT_X, 116, right)
    sheet.pdf.line(LEFT_X, 50, PAGE_WIDTH - 56, 50)
    footer = [
        sheet.text(LEFT_X, PAGE_HEIGHT - 36, "Confidential", small),
        sheet.right(PAGE_WIDTH - 56, PAGE_HEIGHT - 36, "Page 2 of 3", small),
    ]
    left_lines, right_lines = flat(left), flat(right)
    return LayoutPage(
        "header_footer",
        sheet.finish(),
        ((*header, title, *left_lines, *right_lines, *footer),),
        before=(
            (header[1], left_lines[0]),
            (left_lines[-1], right_lines[0]),
            (right_lines[-1], footer[0]),
        ),
        columns=2,
    )


def aligned_columns() -> LayoutPage:
    rng = random.Random(305)
    sheet = Sheet()
    bold = ("Helvetica-Bold", 11)
    left_parts: list[str] = []
    right_parts: list[str] = []
    y = 80.0
    for left_heading, right_heading in (("Medications", "Follow up"), ("Allergies", "Advice")):
        left_parts.append(sheet.text(LEFT_X, y, left_heading, bold))
        right_parts.append(sheet.text(RIGHT_X, y, right_heading, bold))
        y += LEADING + 4
        for lines in (4, 6):
            left, right = paragraph(rng, lines), paragraph(rng, lines)
            sheet.column(LEFT_X, y, [left])
            sheet.column(RIGHT_X, y, [right])
            left_parts += left
            right_parts += right
            y += lines * LEADING + 10
        y += 8
    return LayoutPage(
        "aligned_columns",
        sheet.finish(),
        ((*left_parts, *right_parts),),
        before=((left_parts[-1], right_parts[0]),),
        columns=2,
    )


LAB_ROWS = [
    ("Haemoglobin", "135", "g/L", "130-170"),
    ("White cell count", "7.2", "10^9/L", "4.0-11.0"),
    ("Platelets", "250", "10^9/L", "150-400"),
    ("Sodium", "139", "mmol/L", "135-145"),
    ("Potassium", "4.1", "mmol/L", "3.5-5.3"),
    ("Urea", "5.8", "mmol/L", "2.5-7.8"),
    ("Creatinine", "88", "umol/L", "59-104"),
    ("Alanine aminotransferase", "31", "U/L", "0-40"),
    ("Total cholesterol", "5.6", "mmol/L", "0.0-5.0"),
    ("HbA1c", "48", "mmol/mol", "20-41"),
]


def lab_table() -> LayoutPage:
    rng = random.Random(306)
    sheet = Sheet()
    title = sheet.text(LEFT_X, 70, "Laboratory Report", ("Helvetica-Bold", 16))
    patient = sheet.text(LEFT_X, 100, "Patient Jane Doe")
    sample = sheet.text(LEFT_X, 114, "Sample taken 12 March 2024")
    columns = (LEFT_X, 260, 330, 420)
    bold = ("Helvetica-Bold", 10)
    head = ("Test", "Result", "Units", "Reference range")
    for x, cell in zip(columns, head, strict=True):
        sheet.text(x, 150, cell, bold)
    rows = [" ".join(head)]
    for index, row in enumerate(LAB_ROWS):
        for x, cell in zip(columns, row, strict=True):
            sheet.text(x, 170 + index * 18, cell)
        rows.append(" ".join(row))
    comment = paragraph(rng, 3, 480)
    sheet.column(LEFT_X, 170 + len(LAB_ROWS) * 18 + 20, [comment])
    return LayoutPage(
        "lab_table",
        sheet.finish(),
        ((title, patient, sample, *rows, *comment),),
        rows=tuple(rows),
    )


def letter() -> LayoutPage:
    rng = random.Random(307)
    sheet = Sheet()
    sender = ["Northfield Medical Practice", "4 Mill Lane", "Leeds LS6 2QT", "14 March 2024"]
    for index, line in enumerate(sender):
        sheet.right(PAGE_WIDTH - 56, 60 + index * LEADING, line)
    recipient = ["Dr S Patel", "Cardiology Department", "Northfield General Hospital"]
    sheet.column(LEFT_X, 140, [recipient])
    body = [
        ["Dear Dr Patel,"],
        paragraph(rng, 5, 480),
        paragraph(rng, 7, 480),
        paragraph(rng, 4, 480),
        ["Yours sincerely,", "Dr M Green"],
    ]
    sheet.column(LEFT_X, 210, body)
    return LayoutPage("letter", sheet.finish(), ((*sender, *recipient, *flat(body)),))


PAGES: dict[str, Callable[[], LayoutPage]] = {
    "drop_cap": drop_cap,
    "title_columns": title_columns,
    "side_panel": side_panel,
    "header_footer": header_footer,
    "aligned_columns": aligned_columns,
    "lab_table": lab_table,
    "letter": letter,
}


def all_pages() -> list[LayoutPage]:
    return [make() for make in PAGES.values()]


def scan(page: LayoutPage, engine: Tesseract, noisy: bool = False) -> PageText:
    """The page rendered at 300 dpi (grayscale) and read by Tesseract, in pixels.

    `noisy`: scanned skewed by 0.6 degrees, with speckles and a slight blur.
    """
    (image,) = render_pages(page.pdf)
    if noisy:
        image = add_noise(image)
    words, mean, rotation, used = read_image_page(image, engine)
    return PageText(
        1, float(used.width), float(used.height), "px", "tesseract", tuple(words), mean, rotation
    )


def text_layer(page: LayoutPage, directory: Path) -> PageText:
    """The page's PDF text layer, as pdfium gives it."""
    path = directory / f"{page.name}.pdf"
    path.write_bytes(page.pdf)
    (read,) = iter_pdf_pages(path, [1], None)
    return read


def position(needle: str, text: str, least: float = 80) -> int | None:
    """Where `needle` best matches in `text` (both normalised), or None below `least`."""
    match = fuzz.partial_ratio_alignment(normalise(needle), normalise(text))
    if match is None or match.score < least:
        return None
    return match.dest_start
