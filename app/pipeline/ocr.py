"""OCR: every word on every page, with its box and confidence.

- Born-digital PDF pages: the text layer, read with pdfium, one box per word.
- Scanned PDF pages: rendered at 300 dpi (grayscale) and read by Tesseract.
- Images (PNG, JPEG, TIFF frames, HEIC, WebP): EXIF orientation applied, then Tesseract.
- Plain text: wrapped and paginated, words placed on each page's character grid.

Pages are produced one at a time (`iter_pages`), so a 100-page scan never has
more than one rendered page in memory. A page whose first reading is weak is
checked for orientation (Tesseract OSD) and read again upright if it was turned
90, 180 or 270 degrees. Coordinates: top-left origin; PDF pages in points,
images in pixels (`unit`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageOps, ImageSequence

from app.pipeline import imaging
from app.pipeline.errors import SecurityRejected

RENDER_DPI = 300
# A page with fewer characters than this in its text layer is treated as a scan.
MIN_TEXT_LAYER_CHARS = 16
# Below this mean confidence a reading is checked for a turned page.
ORIENTATION_CHECK_BELOW = 70.0
# Plain text is laid out in pages of this many lines of at most this many characters.
WRAP_COLUMNS = 100
PAGE_LINES = 60
TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata")


class OcrEngineError(Exception):
    """Tesseract could not run (missing language data, a crash)."""

    error_type = "ocr_failure"


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    confidence: float  # 0-100; 100 for a PDF's text layer

    def as_row(self) -> list[object]:
        return [
            self.text,
            round(self.x0, 2),
            round(self.y0, 2),
            round(self.x1, 2),
            round(self.y1, 2),
            round(self.confidence, 1),
        ]


@dataclass(frozen=True)
class PageText:
    number: int  # 1-based
    width: float
    height: float
    unit: str  # "pt" (PDF), "px" (image), "char" (plain text)
    engine: str  # "pdf_text_layer", "tesseract", "plain_text"
    words: tuple[Word, ...] = field(default_factory=tuple)
    mean_confidence: float | None = None
    rotation: int = 0  # degrees the page was turned to read it upright

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def is_empty(self) -> bool:
        return not self.words


def tessdata_dir() -> str:
    for candidate in TESSDATA_DIRS:
        if Path(candidate, "eng.traineddata").exists():
            return candidate
    raise OcrEngineError("Tesseract's English language data is not installed (tesseract-ocr-eng)")


class Tesseract:
    """One Tesseract engine per thread, reused across pages (loading it costs ~0.2 s)."""

    _local = threading.local()

    def __init__(self) -> None:
        import tesserocr

        self._tesserocr = tesserocr

    def _api(self, lang: str) -> object:
        apis = getattr(self._local, "apis", None)
        if apis is None:
            apis = self._local.apis = {}
        if lang not in apis:
            tess = self._tesserocr
            psm = tess.PSM.OSD_ONLY if lang == "osd" else tess.PSM.AUTO
            try:
                apis[lang] = tess.PyTessBaseAPI(path=tessdata_dir() + "/", lang=lang, psm=psm)
            except RuntimeError as exc:
                raise OcrEngineError(f"Tesseract could not load {lang!r} data") from exc
        return apis[lang]

    def read(self, image: Image.Image) -> tuple[list[Word], float | None]:
        """Words with boxes (pixels) and confidences, and the page's mean confidence."""
        tess = self._tesserocr
        api = self._api("eng")
        api.SetImage(image)  # type: ignore[attr-defined]
        if not api.Recognize():  # type: ignore[attr-defined]
            raise OcrEngineError("Tesseract failed to recognise the page")
        words: list[Word] = []
        iterator = api.GetIterator()  # type: ignore[attr-defined]
        level = tess.RIL.WORD
        if iterator is None:  # nothing on the page
            return [], None
        for item in tess.iterate_level(iterator, level):
            try:
                text = (item.GetUTF8Text(level) or "").strip()
            except RuntimeError:  # tesserocr's word with no text
                continue
            box = item.BoundingBox(level)
            if not text or box is None:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            words.append(Word(text, x0, y0, x1, y1, float(item.Confidence(level))))
        mean = sum(w.confidence for w in words) / len(words) if words else None
        return words, mean

    def rotation(self, image: Image.Image) -> int:
        """Degrees to turn the page clockwise to read it upright (0 if unsure)."""
        api = self._api("osd")
        api.SetImage(image)  # type: ignore[attr-defined]
        try:
            result = api.DetectOrientationScript()  # type: ignore[attr-defined]
        except RuntimeError:
            return 0
        if not result or result.get("orient_conf", 0) < 2.0:
            return 0
        return int(result["orient_deg"]) % 360


def _looks_sideways(words: list[Word]) -> bool:
    """Tesseract reads a page turned 90 degrees as vertical text: tall boxes around long words."""
    long_words = [w for w in words if len(w.text) >= 4]
    if not long_words:
        return False
    tall = sum(1 for w in long_words if (w.y1 - w.y0) > (w.x1 - w.x0))
    return tall / len(long_words) > 0.5


def read_image_page(
    image: Image.Image, engine: Tesseract
) -> tuple[list[Word], float | None, int, Image.Image]:
    """Read an upright-or-turned page: (words, mean confidence, rotation, page image used)."""
    gray = image.convert("L")
    words, mean = engine.read(gray)
    confident = mean is not None and mean >= ORIENTATION_CHECK_BELOW and len(words) >= 5
    if confident and not _looks_sideways(words):
        return words, mean, 0, gray
    turn = engine.rotation(gray)
    if turn == 0:
        return words, mean, 0, gray
    # OSD reports how far the text is turned; rotating counter-clockwise by it rights it.
    upright = gray.rotate(turn, expand=True)
    turned_words, turned_mean = engine.read(upright)
    better = mean is None or (turned_mean is not None and turned_mean >= mean - 10)
    if better and not _looks_sideways(turned_words):
        return turned_words, turned_mean, turn, upright
    return words, mean, 0, gray


def _pdf_text_layer(page: pdfium.PdfPage, height: float) -> list[Word]:
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = textpage.get_text_range(0, count)
        if len(text) != count:  # generated characters shift indices: read one by one
            text = "".join(textpage.get_text_range(i, 1) or " " for i in range(count))
        words: list[Word] = []
        chars: list[str] = []
        box = [0.0, 0.0, 0.0, 0.0]
        for index, char in enumerate(text):
            if char.isspace() or char == "\x00":
                if chars:
                    words.append(
                        Word(
                            "".join(chars), box[0], height - box[3], box[2], height - box[1], 100.0
                        )
                    )
                    chars = []
                continue
            left, bottom, right, top = textpage.get_charbox(index)
            if chars:
                box = [min(box[0], left), min(box[1], bottom), max(box[2], right), max(box[3], top)]
            else:
                box = [left, bottom, right, top]
            chars.append(char)
        if chars:
            words.append(
                Word("".join(chars), box[0], height - box[3], box[2], height - box[1], 100.0)
            )
        return words
    finally:
        textpage.close()


def iter_pdf_pages(
    path: Path, numbers: Iterable[int], engine: Tesseract | None
) -> Iterator[PageText]:
    """Pages `numbers` (1-based) of a PDF, one at a time, text layer or OCR as each needs.

    A PDF that PDFium cannot open is refused with a named reason (a password it needs:
    `encrypted_pdf`; anything else: `malformed_file`), never left as an internal error,
    whatever passed the security scan's own reading of it.
    """
    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise SecurityRejected("the PDF needs a password", "encrypted_pdf") from None
        raise SecurityRejected("PDFium cannot read the PDF", "malformed_file") from None
    try:
        for number in numbers:
            page = pdf[number - 1]
            try:
                width, height = page.get_size()
                words = _pdf_text_layer(page, height)
                if sum(len(w.text) for w in words) >= MIN_TEXT_LAYER_CHARS:
                    yield PageText(
                        number, width, height, "pt", "pdf_text_layer", tuple(words), 100.0
                    )
                    continue
                if engine is None:
                    engine = Tesseract()
                bitmap = page.render(scale=RENDER_DPI / 72, grayscale=True)
                image = bitmap.to_pil()
                ocr_words, mean, rotation, used = read_image_page(image, engine)
                scale = 72 / RENDER_DPI  # report in points, like the text layer
                if rotation in (90, 270):
                    width, height = height, width
                yield PageText(
                    number,
                    width,
                    height,
                    "pt",
                    "tesseract",
                    tuple(
                        Word(
                            w.text,
                            w.x0 * scale,
                            w.y0 * scale,
                            w.x1 * scale,
                            w.y1 * scale,
                            w.confidence,
                        )
                        for w in ocr_words
                    ),
                    mean,
                    rotation,
                )
                del image, used, bitmap
            finally:
                page.close()
    finally:
        pdf.close()


def iter_image_pages(
    path: Path, numbers: Iterable[int], engine: Tesseract | None
) -> Iterator[PageText]:
    wanted = set(numbers)
    engine = engine or Tesseract()
    with imaging.open_image(path) as image:
        for index, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if index not in wanted:
                continue
            upright = ImageOps.exif_transpose(frame.copy())
            words, mean, rotation, used = read_image_page(upright, engine)
            yield PageText(
                index,
                float(used.width),
                float(used.height),
                "px",
                "tesseract",
                tuple(words),
                mean,
                rotation,
            )


def text_file_pages(path: Path) -> Iterator[PageText]:
    """Plain text laid out as pages of at most PAGE_LINES lines of WRAP_COLUMNS characters
    (a longer line wraps at a space, a longer word is cut), so every page reads as text
    and is drawn at a bounded size; each word's box is its place on the page's grid."""
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        content = raw.decode("latin-1")
    rows = [row for line in content.splitlines() or [""] for row in _wrap(line.expandtabs(4))]
    for first in range(0, len(rows), PAGE_LINES):
        page_rows = rows[first : first + PAGE_LINES]
        words = tuple(
            Word(token, column, row, column + len(token), row + 1, 100.0)
            for row, placed in enumerate(page_rows)
            for column, token in placed
        )
        width = max((word.x1 for word in words), default=1.0)
        number = first // PAGE_LINES + 1
        yield PageText(
            number, float(width), float(len(page_rows)), "char", "plain_text", words, 100.0
        )


def _wrap(line: str) -> list[list[tuple[int, str]]]:
    """One line of text as rows of (column, word), none wider than WRAP_COLUMNS."""
    rows: list[list[tuple[int, str]]] = [[]]
    column = gap = 0
    for token in line.split(" "):
        if not token:
            gap += 1  # a second space between words, or indentation: kept
            continue
        start, rest = column + gap, token
        if start + len(rest) > WRAP_COLUMNS:
            if rows[-1]:
                rows.append([])
            start = 0
        while len(rest) > WRAP_COLUMNS:
            rows[-1].append((0, rest[:WRAP_COLUMNS]))
            rows.append([])
            rest = rest[WRAP_COLUMNS:]
        rows[-1].append((start, rest))
        column, gap = start + len(rest), 1
    return rows


def iter_pages(
    path: Path, mime_type: str, numbers: Iterable[int], engine: Tesseract | None = None
) -> Iterator[PageText]:
    """Pages `numbers` (1-based) of the document at `path`, one at a time."""
    if mime_type == "application/pdf":
        yield from iter_pdf_pages(path, numbers, engine)
    elif mime_type == "text/plain":
        # The scan counts a text file as one page; it is laid out into its pages here,
        # all read together as page 1.
        if 1 in set(numbers):
            yield from text_file_pages(path)
    else:
        yield from iter_image_pages(path, numbers, engine)
