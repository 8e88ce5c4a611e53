"""OCR as plain functions: born-digital text layers, 300 dpi scans, turned and noisy pages.

Character error rate (CER) is measured against the text each document was made from,
on the reading-order text of spatial mapping.
"""

from __future__ import annotations

import pikepdf
import pytest

from app.pipeline.errors import SecurityRejected
from app.pipeline.layout import map_page
from app.pipeline.ocr import PAGE_LINES, WRAP_COLUMNS, PageText, Tesseract, iter_pages
from tests.support.documents import Corpus, page_lines
from tests.support.text import cer


@pytest.fixture(scope="module")
def engine() -> Tesseract:
    return Tesseract()


def read(corpus: Corpus, name: str, mime: str, engine: Tesseract, pages=(1,)) -> list[PageText]:
    return list(iter_pages(corpus.path(name), mime, list(pages), engine))


def reading_text(page: PageText) -> str:
    return " ".join(line.text for line in map_page(page).lines)


def assert_boxes_inside(page: PageText) -> None:
    for word in page.words:
        assert 0 <= word.x0 <= word.x1 <= page.width + 1, word
        assert 0 <= word.y0 <= word.y1 <= page.height + 1, word


def test_born_digital_pages_come_from_the_text_layer_exactly(corpus: Corpus, engine) -> None:
    pages = read(corpus, "born_digital.pdf", "application/pdf", engine, pages=(1, 2))
    for page in pages:
        assert page.engine == "pdf_text_layer" and page.unit == "pt"
        assert (round(page.width), round(page.height)) == (595, 842)
        assert cer(reading_text(page), " ".join(page_lines(page.number))) == 0
        assert_boxes_inside(page)


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("scan_300dpi.pdf", "application/pdf"),
        ("scan_300dpi.png", "image/png"),
    ],
)
def test_clean_300dpi_scans_read_within_1_percent(corpus: Corpus, engine, name, mime) -> None:
    (page,) = read(corpus, name, mime, engine)
    assert page.engine == "tesseract" and page.rotation == 0
    assert cer(reading_text(page), " ".join(page_lines(1))) <= 0.01
    assert page.mean_confidence is not None and page.mean_confidence > 80
    assert_boxes_inside(page)


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("scan_noisy.png", "image/png"),
        ("scan_rot90.png", "image/png"),
        ("scan_rot180.pdf", "application/pdf"),
        ("scan_rot270.jpg", "image/jpeg"),
        ("exif_rotated.jpg", "image/jpeg"),
    ],
)
def test_turned_and_noisy_scans_read_within_3_percent(corpus: Corpus, engine, name, mime) -> None:
    (page,) = read(corpus, name, mime, engine)
    assert cer(reading_text(page), " ".join(page_lines(1))) <= 0.03
    assert_boxes_inside(page)


def test_a_page_turned_90_or_180_degrees_is_righted_before_reading(corpus: Corpus, engine) -> None:
    (quarter,) = read(corpus, "scan_rot90.png", "image/png", engine)
    (half,) = read(corpus, "scan_rot180.pdf", "application/pdf", engine)
    assert quarter.rotation in (90, 270) and quarter.width < quarter.height
    assert half.rotation == 180


def test_exif_orientation_is_honoured(corpus: Corpus, engine) -> None:
    (page,) = read(corpus, "exif_rotated.jpg", "image/jpeg", engine)
    assert page.width < page.height and page.rotation == 0


def test_mixed_pdf_is_read_page_by_page(corpus: Corpus, engine) -> None:
    first, second = read(corpus, "mixed.pdf", "application/pdf", engine, pages=(1, 2))
    assert (first.engine, second.engine) == ("pdf_text_layer", "tesseract")
    assert cer(reading_text(first), " ".join(page_lines(1))) == 0
    assert cer(reading_text(second), " ".join(page_lines(2))) <= 0.01


def test_multipage_tiff(corpus: Corpus, engine) -> None:
    pages = read(corpus, "multipage.tiff", "image/tiff", engine, pages=(1, 2))
    assert [page.number for page in pages] == [1, 2]
    for page in pages:
        assert cer(reading_text(page), " ".join(page_lines(page.number))) <= 0.01


def test_a_blank_page_is_empty_not_an_error(corpus: Corpus, engine) -> None:
    (page,) = read(corpus, "blank.png", "image/png", engine)
    assert page.is_empty and page.words == ()


def test_plain_text_is_one_page_on_a_character_grid(tmp_path, engine) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Medication list\nParacetamol 500 mg  twice daily\n")
    (page,) = list(iter_pages(path, "text/plain", [1], engine))
    assert page.engine == "plain_text" and page.unit == "char"
    assert [w.text for w in page.words] == [
        "Medication",
        "list",
        "Paracetamol",
        "500",
        "mg",
        "twice",
        "daily",
    ]
    assert (page.words[2].x0, page.words[2].y0) == (0, 1)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda pdf, path: pdf.save(
                path, encryption=pikepdf.Encryption(user="user-pw", owner="owner-pw", R=6)
            ),
            "encrypted_pdf",
        ),
        (
            lambda _pdf, path: path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40),
            "malformed_file",
        ),
    ],
    ids=["aes-256 with a user password", "fuzzed body"],
)
def test_a_pdf_pdfium_cannot_open_is_refused_with_its_reason(tmp_path, make, reason) -> None:
    """Whatever passed the scan's own reading, a PDF the reader cannot open ends with a
    named reason, never an internal error (#15)."""
    path = tmp_path / "letter.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page()
    make(pdf, path)

    with pytest.raises(SecurityRejected) as refused:
        list(iter_pages(path, "application/pdf", [1]))

    assert refused.value.error_type == reason and refused.value.quarantine


def test_plain_text_wraps_long_lines_and_paginates(tmp_path, engine) -> None:
    """A 20,000-character line is wrapped (at a space, or cut when a word is longer than a
    line) into pages of at most PAGE_LINES lines of WRAP_COLUMNS characters (#14, item 4)."""
    path = tmp_path / "long.txt"
    words = " ".join(f"word{n:04d}" for n in range(2_222))  # 19,997 characters
    path.write_text(f"Heading\n{words}\n{'x' * 20_000}\n")
    pages = list(iter_pages(path, "text/plain", [1], engine))
    assert [page.number for page in pages] == list(range(1, len(pages) + 1))
    assert len(pages) > 1
    for page in pages:
        assert page.width <= WRAP_COLUMNS and page.height <= PAGE_LINES
        assert all(w.x1 <= WRAP_COLUMNS and w.y1 <= PAGE_LINES for w in page.words)
    tokens = [w.text for page in pages for w in page.words]
    assert tokens[:3] == ["Heading", "word0000", "word0001"]
    assert " ".join(tokens[1:2_223]) == words  # no word of the wrapped line is cut
    assert "".join(tokens[2_223:]) == "x" * 20_000
