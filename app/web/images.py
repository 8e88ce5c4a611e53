"""Page images for the document view, rendered from the stored file and cached.

A page is drawn as OCR read it: the same file the fast lane read (the repaired copy of
a PDF qpdf mended), the same page, turned by the same rotation, so the normalised word
and entity boxes lie on it. PDFs render with pdfium, images with Pillow (EXIF
orientation honoured), a text file as its words on the character grid its boxes use.

Rendered pages are kept under `DATA_DIR/page-images/<shell file id>/`, named by the
stored file and the rotation, so a reprocess that changes either draws anew. They are
served only through the access-checked, audited view; files unused for a day are
pruned as others are rendered.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageSequence
from sqlalchemy.orm import Session

from app.models import OcrPage, SecurityScan, ShellFile
from app.pipeline import imaging
from app.storage import Blobs, page_images_dir

MAX_WIDTH_PX = 1400  # wide enough to read on a large screen, small enough to send
MAX_TEXT_HEIGHT_PX = 16000  # a long text file's one page, drawn smaller
KEEP_FOR_S = 24 * 3600


class PageUnavailable(Exception):
    """The page cannot be drawn (no readable source); the view answers 404."""


def page_image(
    session: Session, blobs: Blobs, data_dir: Path, shell_file: ShellFile, page: OcrPage
) -> Path:
    """The PNG of one page, rendered on first use and then read from the cache."""
    scan = session.get(SecurityScan, shell_file.id)
    if scan is None:
        raise PageUnavailable("the document was never accepted by the security scan")
    key = scan.repaired_storage_key or shell_file.storage_key
    tag = hashlib.sha256(f"{key}|{page.rotation}|{MAX_WIDTH_PX}".encode()).hexdigest()[:16]
    target = page_images_dir(data_dir, shell_file.id) / f"{page.page_number}-{tag}.png"
    if target.exists():
        target.touch()
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    source = partial.with_suffix(".src")
    try:
        with source.open("wb") as out:
            for chunk in blobs.read(session, key):
                out.write(chunk)
        image = render(source, scan.detected_mime, page)
        image.save(partial, format="PNG", optimize=False)
        partial.replace(target)
    finally:
        source.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    _prune(data_dir / "page-images")
    return target


def render(path: Path, mime_type: str, page: OcrPage) -> Image.Image:
    """Draw page `page.page_number` of the file at `path` upright, at most MAX_WIDTH_PX wide."""
    if mime_type == "application/pdf":
        image = _pdf_page(path, page.page_number)
    elif mime_type == "text/plain":
        return _text_page(page)
    else:
        image = _image_frame(path, page.page_number)
    if page.rotation:
        image = image.rotate(page.rotation, expand=True, fillcolor="white")
    if image.width > MAX_WIDTH_PX:
        image = image.resize(
            (MAX_WIDTH_PX, round(image.height * MAX_WIDTH_PX / image.width)),
            Image.Resampling.LANCZOS,
        )
    return image


def _pdf_page(path: Path, number: int) -> Image.Image:
    pdf = pdfium.PdfDocument(path)
    try:
        if not 1 <= number <= len(pdf):
            raise PageUnavailable("no such page")
        pdf_page = pdf[number - 1]
        try:
            width, _ = pdf_page.get_size()
            return pdf_page.render(scale=min(3.0, MAX_WIDTH_PX / width)).to_pil().convert("RGB")
        finally:
            pdf_page.close()
    finally:
        pdf.close()


def _image_frame(path: Path, number: int) -> Image.Image:
    with imaging.open_image(path) as image:
        for index, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if index == number:
                upright = ImageOps.exif_transpose(frame.copy())
                upright.thumbnail((MAX_WIDTH_PX * 2, MAX_WIDTH_PX * 4))
                return upright.convert("RGB")
    raise PageUnavailable("no such page")


def _text_page(page: OcrPage) -> Image.Image:
    """A text file has no picture: draw its words where their grid boxes say they are."""
    columns, rows = max(1, int(page.width)), max(1, int(page.height))
    cell_w = max(1, min(10, MAX_WIDTH_PX // columns, MAX_TEXT_HEIGHT_PX // (2 * rows)))
    cell_h = 2 * cell_w
    image = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(1, cell_h - 4))
    for text, x0, y0, *_ in page.words["words"]:
        draw.text((x0 * cell_w, y0 * cell_h + 2), text, fill="black", font=font)
    return image


def _prune(root: Path) -> None:
    cutoff = time.time() - KEEP_FOR_S
    for entry in root.glob("*/*"):
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
