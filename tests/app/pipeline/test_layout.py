"""Spatial mapping: lines and blocks in reading order, normalised boxes, text offsets."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from app.pipeline.layout import document_text, map_page
from app.pipeline.ocr import PageText, Tesseract, Word, iter_pages
from tests.support import layouts
from tests.support.documents import Corpus
from tests.support.scans import LAB_ROWS, Expected, clean_scan, noisy_scan, read_scan
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


def table_page(rows: list[tuple[str, ...]], *marks: Word) -> PageText:
    words = [word("Laboratory", 50, 40), word("results", 140, 40), *marks]
    for index, row in enumerate(rows):
        y = 80 + 20 * index
        words += [word(cell, x, y) for cell, x in zip(row, (50, 250, 330, 450), strict=True)]
    return PageText(1, 600, 800, "px", "tesseract", tuple(words), 90.0)


def test_a_speck_in_a_table_row_leaves_the_row_whole() -> None:
    # A noisy scan's OCR reads a speck of toner, a few pixels across, as a word. Just
    # above the row's middle and nearest the value, it must not part the value from
    # the test name (the value overlaps the speck by less than half its height).
    rows = [("Haemoglobin", "135", "g/L", "130-170"), ("ALT", "34", "U/L", "0-40")]
    speck = Word(".", 200, 99.5, 201, 101.5, 12.0)
    page = table_page(rows, speck)
    drifting = [
        replace(w, y0=w.y0 + 0.8, y1=w.y1 + 0.8) if w.x0 > 200 and w.y0 == 100 else w
        for w in page.words
    ]
    layout = map_page(replace(page, words=tuple(drifting)))
    assert [line.text for line in layout.lines] == [
        "Laboratory results",
        "Haemoglobin 135 g/L 130-170",
        "ALT . 34 U/L 0-40",
    ]


@pytest.mark.parametrize(
    "mark",
    [Word("|", 190, 92, 192, 94, 40.0), Word("I", 190, 92, 198, 100, 40.0)],
    ids=["speck", "stray letter"],
)
def test_a_mark_in_a_tables_column_gap_does_not_make_it_columns(mark: Word) -> None:
    # Between two rows and between the names and the values: lined up with neither,
    # it must not make a column of its own that splits the gap into two gutters.
    rows = [
        ("Haemoglobin", "135", "g/L", "130-170"),
        ("Sodium", "139", "mmol/L", "135-145"),
        ("Potassium", "4.1", "mmol/L", "3.5-5.3"),
    ]
    layout = map_page(table_page(rows, mark))
    lines = [line.text for line in layout.lines]
    assert [line for line in lines if line != mark.text] == [
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


# The lab report of tests/support/scans.py through a tired scanner: seeds whose specks
# once split the table's column gaps (4) or parted a value from its test name (15).
NOISY_SEEDS = (4, 15)


@pytest.fixture(scope="module")
def noisy_lab_reports() -> dict[int, list[str]]:
    engine, clean = Tesseract(), clean_scan()
    return {
        seed: read_scan(noisy_scan(clean, seed), engine).text.splitlines() for seed in NOISY_SEEDS
    }


def holds_row(line: str, row: Expected) -> bool:
    """The line holds the row's test name and, as the first number after it, its value."""
    text = normalise(line)
    name = fuzz.partial_ratio_alignment(normalise(row.test), text)
    if name is None or name.score < 85:
        return False
    number = re.search(r"\d[\d.,:]*", text[name.dest_end :])
    value = re.sub(r"\D", "", row.result)
    return number is not None and re.sub(r"\D", "", number.group()).startswith(value)


@pytest.mark.parametrize("seed", NOISY_SEEDS)
def test_a_noisy_scans_table_keeps_its_rows(seed: int, noisy_lab_reports) -> None:
    # A row the OCR misread may be lost; a row that layout tore apart must not be.
    lines = noisy_lab_reports[seed]
    kept = [row.test for row in LAB_ROWS if any(holds_row(line, row) for line in lines)]
    assert len(kept) >= 0.9 * len(LAB_ROWS), (seed, kept)
