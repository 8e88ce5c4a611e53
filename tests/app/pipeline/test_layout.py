"""Spatial mapping: lines and blocks in reading order, normalised boxes, text offsets."""

from __future__ import annotations

from app.pipeline.layout import document_text, map_page
from app.pipeline.ocr import PageText, Tesseract, Word, iter_pages
from tests.support.documents import Corpus
from tests.support.text import cer, normalise


def two_column_truth(corpus: Corpus) -> list[str]:
    left, right = corpus.two_columns()
    return ["Discharge summary", *left, *right]


def test_a_two_column_page_reads_column_by_column(corpus: Corpus) -> None:
    (page,) = iter_pages(corpus.path("two_column.pdf"), "application/pdf", [1])

    layout = map_page(page)

    assert [line.text for line in layout.lines] == two_column_truth(corpus)
    assert layout.columns == 2
    left_x = {round(line.box[0], 2) for line in layout.lines[1:19]}
    right_x = {round(line.box[0], 2) for line in layout.lines[19:]}
    assert max(left_x) < 0.5 < min(right_x)


def test_a_scanned_two_column_page_reads_column_by_column(corpus: Corpus) -> None:
    (page,) = iter_pages(corpus.path("two_column_scan.png"), "image/png", [1], Tesseract())
    text = " ".join(line.text for line in map_page(page).lines)
    assert cer(text, " ".join(two_column_truth(corpus))) <= 0.03


def word(text: str, x: float, y: float) -> Word:
    return Word(text, x, y, x + 8 * len(text), y + 10, 90.0)


def test_a_table_reads_row_by_row() -> None:
    rows = [
        ("Haemoglobin", "135", "g/L", "130-170"),
        ("Sodium", "139", "mmol/L", "135-145"),
        ("Potassium", "4.1", "mmol/L", "3.5-5.3"),
    ]
    words = [word("Laboratory", 50, 40), word("results", 140, 40)]
    for index, row in enumerate(rows):
        y = 80 + 20 * index
        words += [word(cell, x, y) for cell, x in zip(row, (50, 250, 330, 450), strict=True)]
    page = PageText(1, 600, 800, "pt", "pdf_text_layer", tuple(words), 100.0)

    layout = map_page(page)

    assert [line.text for line in layout.lines] == [
        "Laboratory results",
        "Haemoglobin 135 g/L 130-170",
        "Sodium 139 mmol/L 135-145",
        "Potassium 4.1 mmol/L 3.5-5.3",
    ]
    assert layout.columns == 1


def test_boxes_are_normalised_and_blocks_follow_paragraphs(corpus: Corpus) -> None:
    (page,) = iter_pages(corpus.path("two_column.pdf"), "application/pdf", [1])
    layout = map_page(page)
    for line in layout.lines:
        assert all(0 <= v <= 1 for v in line.box)
        assert line.box[0] < line.box[2] and line.box[1] < line.box[3]
        for _text, *box, _conf in line.words:
            assert all(0 <= v <= 1 for v in box)
    # Title, then three paragraphs in each column.
    assert len(layout.blocks) == 7
    assert all(block.first_line <= block.last_line for block in layout.blocks)


def test_document_text_maps_each_line_back_to_its_page(corpus: Corpus) -> None:
    pages = list(iter_pages(corpus.path("born_digital.pdf"), "application/pdf", [1, 2]))
    text = document_text(map_page(page) for page in pages)
    for line in text.lines:
        span = text.text[line.start : line.end]
        assert span == map_page(pages[line.page - 1]).lines[line.line].text
        assert 0 <= line.y <= 1
    second = next(line for line in text.lines if line.page == 2)
    assert normalise(text.text[second.start : second.end]) == "Page 2 clinical record"
    for span in text.words:
        assert " " not in text.text[span.start : span.end]
    start = text.text.index("Page 2 clinical")
    page, box = text.locate(start, start + len("Page 2"))
    assert page == 2 and box == second.box[:2] + box[2:] and box[2] < second.box[2]
