"""Page images for the document view: served, never drawn, by the web process.

The fast lane's OCR draws each page in a worker, with OCR's caps, as it reads it
(`app.outputs.fast_lane.draw_page_image`), and keeps it where derived files live
(`app.storage.page_image_path`). The web process only reads the image a worker wrote for
the page as it stands (the stored file OCR read, and its rotation): an untrusted file is
never rasterised here. Reached only through the access-checked, audited view, and only
once the document passed its security scan (`app.documents.content`).
"""

from __future__ import annotations

from pathlib import Path

from app.models import OcrPage, SecurityScan, ShellFile
from app.storage import page_image_path


class PageNotDrawnYet(Exception):
    """No worker has drawn this page (yet); the view answers 409."""


def page_png(data_dir: Path, shell_file: ShellFile, scan: SecurityScan, page: OcrPage) -> bytes:
    """The PNG a worker drew of `page`, from the file OCR read (`scan`'s repaired copy, or
    the original). Read whole (a page is a few hundred kilobytes), so no file handle
    outlives the request."""
    key = scan.repaired_storage_key or shell_file.storage_key
    path = page_image_path(data_dir, shell_file.id, page.page_number, key, page.rotation)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PageNotDrawnYet("the page image has not been drawn yet") from None
