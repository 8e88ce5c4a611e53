"""Opening images (Pillow, with HEIC/HEIF from pillow-heif), and drawing the page images
the web app shows.

A page image is drawn by the fast lane's OCR, in a worker, as OCR read the page: the same
file (the repaired copy of a PDF qpdf mended), the same page, turned by the same rotation,
so the normalised word and entity boxes lie on it. PDFs render with pdfium, images with
Pillow (EXIF orientation honoured), a text file as its words on the character grid its
boxes use (OCR wraps and paginates it, so a page is at most `ocr.WRAP_COLUMNS` wide and
`ocr.PAGE_LINES` tall). Every image is at most `MAX_WIDTH_PX` wide and `max_pixels` in
all, the OCR's own cap: nothing here draws more than OCR may.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageSequence
from pillow_heif import register_heif_opener

register_heif_opener()

MAX_WIDTH_PX = 1400  # wide enough to read on a large screen, small enough to send
TEXT_CELL_PX = (10, 20)  # a character of a text file: width, height


class PageNotDrawable(Exception):
    """The page is not in the file (a page number past its end)."""


def open_image(path: Path) -> Image.Image:
    """Open (lazily) any accepted image type, HEIC and HEIF included."""
    return Image.open(path)


def draw_page(
    path: Path,
    mime_type: str,
    *,
    number: int,
    rotation: int,
    words: list[tuple[str, float, float]],
    grid: tuple[float, float],
    max_pixels: int,
) -> Image.Image:
    """Page `number` (1-based) of the file at `path` upright. A text file's page is drawn
    from `words` ((text, column, row)) on its `grid` (columns, rows) instead."""
    if mime_type == "text/plain":
        return _text_page(words, grid)
    if mime_type == "application/pdf":
        image = _pdf_page(path, number, max_pixels)
    else:
        image = _image_frame(path, number)
    if rotation:
        image = image.rotate(rotation, expand=True, fillcolor="white")
    if image.width > MAX_WIDTH_PX:
        image = image.resize(
            (MAX_WIDTH_PX, max(1, round(image.height * MAX_WIDTH_PX / image.width))),
            Image.Resampling.LANCZOS,
        )
    return image


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _pdf_page(path: Path, number: int, max_pixels: int) -> Image.Image:
    pdf = pdfium.PdfDocument(path)
    try:
        if not 1 <= number <= len(pdf):
            raise PageNotDrawable("no such page")
        page = pdf[number - 1]
        try:
            width, height = page.get_size()
            scale = min(3.0, MAX_WIDTH_PX / max(width, 1.0))
            scale = min(scale, math.sqrt(max_pixels / max(width * height, 1.0)))
            return page.render(scale=scale).to_pil().convert("RGB")
        finally:
            page.close()
    finally:
        pdf.close()


def _image_frame(path: Path, number: int) -> Image.Image:
    # The scan refused any frame over MAX_IMAGE_PIXELS, as OCR relies on too.
    with open_image(path) as image:
        for index, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if index == number:
                upright = ImageOps.exif_transpose(frame.copy())
                upright.thumbnail((MAX_WIDTH_PX * 2, MAX_WIDTH_PX * 4))
                return upright.convert("RGB")
    raise PageNotDrawable("no such page")


def _text_page(words: list[tuple[str, float, float]], grid: tuple[float, float]) -> Image.Image:
    """A text file has no picture: its words where their grid boxes say they are."""
    cell_w, cell_h = TEXT_CELL_PX
    columns, rows = max(1, math.ceil(grid[0])), max(1, math.ceil(grid[1]))
    image = Image.new("L", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=cell_h - 4)
    for text, column, row in words:
        draw.text((column * cell_w, row * cell_h + 2), text, fill="black", font=font)
    return image
