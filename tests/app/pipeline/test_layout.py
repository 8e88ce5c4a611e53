"""Spatial mapping: lines and blocks in reading order, normalised boxes, text offsets."""

from __future__ import annotations

import pytest
from rapidfuzz.distance import Levenshtein

from app.pipeline.layout import document_text, map_page
from app.pipeline.ocr import PageText, Tesseract, Word, iter_pages
from tests.support import layouts
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


# Real layouts, drawn with reportlab (tests/support/layouts.py), read once per module:
# scanned at 300 dpi through Tesseract, and from the PDF's own text layer.

NOISY = "header_footer_noisy"  # scanned skewed (0.6 degrees), speckled and blurred


@pytest.fixture(scope="module")
def layout_pages() -> dict[str, layouts.LayoutPage]:
    pages = {page.name: page for page in layouts.all_pages()}
    pages[NOISY] = pages["header_footer"]
    return pages


@pytest.fixture(scope="module")
def scans(layout_pages) -> dict[str, PageText]:
    engine = Tesseract()
    return {
        name: layouts.scan(page, engine, noisy=name == NOISY) for name, page in layout_pages.items()
    }


@pytest.fixture(scope="module")
def text_layers(layout_pages, tmp_path_factory) -> dict[str, PageText]:
    directory = tmp_path_factory.mktemp("layouts")
    return {
        name: layouts.text_layer(page, directory)
        for name, page in layout_pages.items()
        if name != NOISY
    }


def best_cer(text: str, page: layouts.LayoutPage) -> float:
    return min(cer(text, " ".join(truth)) for truth in page.truths)


def reading(page: PageText) -> str:
    return " ".join(line.text for line in map_page(page).lines)


SCANNED = [*layouts.PAGES, NOISY]


@pytest.mark.parametrize("name", SCANNED)
def test_a_scan_reads_at_least_as_well_as_tesseracts_own_order(name, layout_pages, scans) -> None:
    page, scanned = layout_pages[name], scans[name]
    ours = best_cer(reading(scanned), page)
    tesseract = best_cer(scanned.text, page)  # the words in the order Tesseract gives them
    assert ours <= 1.1 * tesseract, (name, ours, tesseract)


@pytest.mark.parametrize("name", list(layouts.PAGES))
def test_a_text_layer_reads_in_the_order_it_was_written(name, layout_pages, text_layers) -> None:
    # Its words are exact; only a drop capital read apart from its word ("T he") may differ.
    assert best_cer(reading(text_layers[name]), layout_pages[name]) <= 0.001


@pytest.mark.parametrize("name", SCANNED)
def test_columns_are_read_one_after_the_other(name, layout_pages, scans, text_layers) -> None:
    page = layout_pages[name]
    for read in (scans[name], text_layers.get(name)):
        if read is None:
            continue
        text = reading(read)
        layout = map_page(read)
        assert layout.columns == page.columns
        for first, then in page.before:
            first_at, then_at = layouts.position(first, text), layouts.position(then, text)
            assert first_at is not None and then_at is not None
            assert first_at < then_at, (name, read.engine, first, then)


def test_the_running_header_comes_first_and_the_footer_last(scans, text_layers) -> None:
    for read in (scans["header_footer"], text_layers["header_footer"]):
        lines = [line.text for line in map_page(read).lines]
        assert lines[0] == "Northfield General Hospital Patient ID 4471203"
        assert lines[-1] == "Confidential Page 2 of 3"


def test_a_drop_capital_joins_the_first_line_of_its_paragraph(text_layers) -> None:
    layout = map_page(text_layers["drop_cap"])
    first = layout.lines[0]
    assert first.text.startswith("T he ") and first.box[3] - first.box[1] > 0.03
    assert all(line.text != "T" for line in layout.lines)
    assert len(layout.blocks) == 6  # three paragraphs a column


@pytest.mark.parametrize("source", ["scan", "text layer"])
def test_a_lab_tables_rows_stay_whole(source, layout_pages, scans, text_layers) -> None:
    read = scans["lab_table"] if source == "scan" else text_layers["lab_table"]
    lines = [line.text for line in map_page(read).lines]
    for row in layout_pages["lab_table"].rows:
        assert min(Levenshtein.distance(line, row) for line in lines) <= max(2, len(row) // 20)


def test_a_skewed_scan_keeps_its_rows_and_columns() -> None:
    # A table over two columns of prose, every line drifting down by a line or more
    # across the page, as on a scan turned by a degree and a half.
    def drifting(text: str, x0: float, y: float) -> Word:
        return Word(text, x0, y + 0.025 * x0, x0 + 44, y + 0.025 * x0 + 10, 90)

    rows = [[f"t{row}c{cell}" for cell in range(3)] for row in range(4)]
    words = [
        drifting(text, 50 + 230 * cell, 60 + 20 * row)
        for row, cells in enumerate(rows)
        for cell, text in enumerate(cells)
    ]
    columns = [
        [[f"c{column}r{row}w{n}" for n in range(5)] for row in range(12)] for column in range(2)
    ]
    words += [
        drifting(text, 50 + 280 * column + 48 * n, 160 + 20 * row)
        for column, lines in enumerate(columns)
        for row, line in enumerate(lines)
        for n, text in enumerate(line)
    ]
    layout = map_page(PageText(1, 600, 800, "px", "tesseract", tuple(words), 90.0))
    assert [line.text for line in layout.lines] == [
        " ".join(line) for line in [*rows, *columns[0], *columns[1]]
    ]
    assert layout.columns == 2
