"""Security scan: is this file what it claims to be, and is it safe to open further?

`scan(path, limits)` trusts nothing from the client. It detects the type from the
bytes (libmagic), checks it against the allow-list, and parses the file as that
type with the library the later stages use, refusing what they must not touch:

- a virus signature (the EICAR test file; ClamAV's verdict when `clamd` is given);
- PDFs that need a password, carry executable content (JavaScript, launch
  actions, embedded files, rich media), do not parse, are truncated, have no
  pages or too many, or are also a ZIP archive (a polyglot);
- PDFs built to exhaust the reader (decompression bombs): a stream that inflates
  past the cap, an image claiming more pixels than an accepted image may have, a
  page that would render at the OCR's resolution to more pixels than that;
- images beyond the pixel cap (decompression bombs), too small to hold a page,
  truncated or undecodable, also a ZIP archive, or with too many frames;
- "text" that is not text.

A refusal raises `SecurityRejected` with an `error_type` saying why; the shell file
is then quarantined. A PDF that qpdf can repair (for example a broken
cross-reference table) is accepted, and the report says it was repaired and holds
the repaired bytes' path.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from PIL import Image, ImageSequence, UnidentifiedImageError

from app.filetypes import SNIFF_BYTES, is_allowed, sniff_mime
from app.pipeline import imaging, pdf_objects
from app.pipeline.errors import SecurityRejected
from app.pipeline.limits import ScanLimits

log = logging.getLogger(__name__)

# The EICAR anti-virus test signature, split so this file is not itself flagged.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ScanReport:
    mime_type: str
    page_count: int
    repaired: bool = False
    repaired_path: Path | None = None
    checks: tuple[str, ...] = field(default_factory=tuple)
    #: What the OCR would render over every page, in pixels (0 for text): for the
    #: document's budget (`app.pipeline.budget`), beside each page's own limit here.
    pixels: int = 0


VirusScanner = Callable[[Iterator[bytes]], str | None]
"""Streams bytes to a scanner; returns the name of what it found, or None if clean."""


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _contains(path: Path, needle: bytes) -> bool:
    tail = b""
    for chunk in _chunks(path):
        if needle in tail + chunk:
            return True
        tail = chunk[-len(needle) :]
    return False


# Families of accepted types: a name claiming one family for bytes of another is a disguise
# (a renamed photo, .png for .jpg, is common and harmless; text posing as a PDF is not).
_FAMILY_BY_SUFFIX = {
    ".pdf": "pdf",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
    ".heic": "image",
    ".heif": "image",
    ".webp": "image",
    ".txt": "text",
}


def _family(mime_type: str) -> str:
    if mime_type == "application/pdf":
        return "pdf"
    return "text" if mime_type.startswith("text/") else "image"


def scan(
    path: Path,
    limits: ScanLimits,
    virus_scanner: VirusScanner | None = None,
    *,
    claimed_name: str = "",
) -> ScanReport:
    """Check the file at `path`; return what was found, or raise `SecurityRejected`.

    `claimed_name` is the client's filename: only its suffix is looked at, to catch a
    file posing as another kind.
    """
    if _contains(path, EICAR):
        raise SecurityRejected("the file carries a virus signature", "malware_detected")
    checks = ["eicar"]
    if virus_scanner is not None:
        found = virus_scanner(_chunks(path))
        if found:
            raise SecurityRejected("the virus scanner flagged the file", "malware_detected")
        checks.append("clamav")
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise SecurityRejected("the file is empty", "malformed_file")
    mime_type = sniff_mime(head)
    if not is_allowed(mime_type):
        raise SecurityRejected(f"files of type {mime_type} are not accepted", "unsupported_type")
    claimed = _FAMILY_BY_SUFFIX.get(Path(claimed_name).suffix.lower())
    if claimed is not None and claimed != _family(mime_type):
        raise SecurityRejected(
            f"the file is named as {claimed} but its bytes are {mime_type}", "type_mismatch"
        )
    checks.append("type")
    if mime_type == "application/pdf":
        return _scan_pdf(path, limits, tuple(checks))
    if mime_type == "text/plain":
        _check_text(path)
        return ScanReport(mime_type, 1, checks=(*checks, "text"))
    if _is_polyglot(path):
        raise SecurityRejected("the image is also a ZIP archive", "polyglot_file")
    pages, pixels = _check_image(path, limits)
    return ScanReport(mime_type, pages, checks=(*checks, "image"), pixels=pixels)


def _is_polyglot(path: Path) -> bool:
    """A file that is also a ZIP archive: a ZIP end-of-central-directory near the end."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 66_000))
        tail = handle.read()
    return b"PK\x05\x06" in tail and _contains(path, b"PK\x03\x04")


# qpdf's words when its repair lost part of the file: the end of the file is gone
# (truncated) or a stream's data could not be found. A broken cross-reference table
# alone is rebuilt without them, and that repair is kept.
_DATA_LOST = ("unable to find trailer dictionary", "unable to recover stream data")


def _scan_pdf(path: Path, limits: ScanLimits, checks: tuple[str, ...]) -> ScanReport:
    if _is_polyglot(path):
        raise SecurityRejected("the PDF is also a ZIP archive", "polyglot_file")
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        raise SecurityRejected(
            "the PDF is encrypted and needs a password", "encrypted_pdf"
        ) from None
    except pikepdf.PdfError as exc:
        # Encryption qpdf cannot open (a certificate's, a handler it does not know) needs
        # a key as much as a password does.
        if "encryption" in str(exc).lower():
            raise SecurityRejected("the PDF is encrypted with a key", "encrypted_pdf") from None
        raise SecurityRejected("the PDF does not parse", "malformed_file") from None
    except (RecursionError, ValueError, OSError):
        raise SecurityRejected("the PDF does not parse", "malformed_file") from None
    with pdf:
        try:
            page_count = len(pdf.pages)
        except (pikepdf.PdfError, RecursionError):
            raise SecurityRejected("the PDF's page tree does not parse", "malformed_file") from None
        if page_count == 0:
            raise SecurityRejected("the PDF has no pages", "malformed_file")
        if page_count > limits.max_pages:
            raise SecurityRejected(
                f"the PDF has {page_count} pages; at most {limits.max_pages} are accepted",
                "too_many_pages",
            )
        qpdf_warnings = list(pdf.get_warnings())  # qpdf hands each warning over once
        if any(marker in warning for warning in qpdf_warnings for marker in _DATA_LOST):
            raise SecurityRejected("the PDF is truncated or lost data", "malformed_file")
        pixels = _refuse_oversized_pages(pdf, limits)
        pdf_objects.refuse_hostile_objects(pdf, limits)
        qpdf_warnings += pdf.get_warnings()
        repaired = bool(qpdf_warnings)
        repaired_path = None
        if repaired:
            repaired_path = path.with_name(path.name + ".repaired.pdf")
            pdf.save(repaired_path)
            log.info("PDF repaired by qpdf (%d warnings)", len(qpdf_warnings))
    return ScanReport(
        "application/pdf",
        page_count,
        repaired,
        repaired_path,
        (*checks, "pdf_structure", "pdf_active_content"),
        pixels,
    )


def _refuse_oversized_pages(pdf: pikepdf.Pdf, limits: ScanLimits) -> int:
    """Refuse a page that the OCR, rendering it at `render_dpi`, would turn into more
    pixels than an accepted image may have. Returns the pixels of every page."""
    total = 0
    for page in pdf.pages:
        try:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            scale = float(page.obj.get("/UserUnit", 1)) * limits.render_dpi / 72
        except (pikepdf.PdfError, ValueError, TypeError):
            raise SecurityRejected("a page's size does not parse", "malformed_file") from None
        pixels = abs(x1 - x0) * scale * abs(y1 - y0) * scale
        if pixels > limits.max_image_pixels:
            raise SecurityRejected(
                f"a page would render to {pixels:.0f} pixels; at most "
                f"{limits.max_image_pixels} are accepted",
                "decompression_bomb",
            )
        total += int(pixels)
    return total


def _check_image(path: Path, limits: ScanLimits) -> tuple[int, int]:
    """Decode every frame; return the frame count and the pixels of all frames."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with imaging.open_image(path) as image:
                frames = pixels = 0
                for frame in ImageSequence.Iterator(image):
                    frames += 1
                    if frames > limits.max_pages:
                        raise SecurityRejected("the image has too many frames", "too_many_pages")
                    width, height = frame.size
                    if width * height > limits.max_image_pixels:
                        raise SecurityRejected(
                            f"the image has {width * height} pixels; at most "
                            f"{limits.max_image_pixels} are accepted",
                            "decompression_bomb",
                        )
                    if min(width, height) < limits.min_image_side:
                        raise SecurityRejected(
                            "the image is too small to hold a page", "malformed_file"
                        )
                    frame.load()
                    pixels += width * height
    except SecurityRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SecurityRejected("the image is a decompression bomb", "decompression_bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise SecurityRejected(
            "the image is truncated or does not decode", "malformed_file"
        ) from None
    return frames, pixels


def _check_text(path: Path) -> None:
    if _contains(path, b"\x00"):
        raise SecurityRejected("the text file contains binary data", "malformed_file")
