"""The security scan's limits: how much a file may ask of the readers after it."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class ScanLimits:
    max_pages: int = 500
    max_image_pixels: int = 60_000_000  # a 300 dpi A3 scan is 17 MP; a phone photo 12-50 MP
    max_pdf_objects: int = 2_000_000
    min_image_side: int = 16  # pixels; smaller holds no readable text
    max_stream_bytes: int = 256 * MIB  # one PDF stream (or each step of its filters), decoded
    max_total_stream_bytes: int = 1024 * MIB  # every PDF stream, decoded
    render_dpi: int = 300  # the OCR's, to size pages in pixels
