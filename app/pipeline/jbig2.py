"""What a JBIG2 stream would make its decoder allocate, read from its segment headers.

A JBIG2 image in a PDF (ITU T.88, the embedded organisation: segments one after the
other, no file header) says the size of its page and of every region in headers, and
the decoder allocates bitmaps of those sizes whatever the PDF's /Width and /Height
claim (PDFium accepts up to 65,535 pixels a side: half a gigabyte for one page). So
every page, region, halftone grid and pattern collection is checked against the pixel
cap here, before any decoder sees it; a stream whose segments cannot be walked (cut
short, or a segment of unknown length) is refused, since nothing could vouch for it.
"""

from __future__ import annotations

import struct

from app.pipeline.errors import SecurityRejected

_PAGE_INFORMATION = 48
_END_OF_STRIPE = 50
_PATTERN_DICTIONARY = 16
_HALFTONE_REGIONS = frozenset({20, 22, 23})
# Text, halftone, generic and refinement regions: their data opens with the region's size.
_REGIONS = frozenset({4, 6, 7, 20, 22, 23, 36, 38, 39, 40, 42, 43})
_UNKNOWN_LENGTH = 0xFFFFFFFF


def check(data: bytes, max_pixels: int) -> None:
    """Refuse JBIG2 `data` that declares a bitmap over `max_pixels`
    (`decompression_bomb`) or whose segments cannot be walked (`malformed_file`)."""
    page_width = 0
    at = 0
    while at < len(data):
        try:
            kind, body, at = _segment(data, at)
        except (struct.error, IndexError):
            raise _damaged() from None
        if kind == _PAGE_INFORMATION and len(body) >= 8:
            page_width, height = struct.unpack_from(">II", body)
            if height != _UNKNOWN_LENGTH:  # striped pages grow by their end-of-stripe rows
                _limit(page_width * height, max_pixels)
        elif kind == _END_OF_STRIPE and len(body) >= 4:
            (row,) = struct.unpack_from(">I", body)
            _limit(page_width * (row + 1), max_pixels)
        elif kind in _REGIONS and len(body) >= 16:
            width, height, _, y = struct.unpack_from(">IIII", body)
            _limit(width * height, max_pixels)
            _limit(page_width * (y + height), max_pixels)  # the page grows to hold it
            if kind in _HALFTONE_REGIONS and len(body) >= 26:
                grid_width, grid_height = struct.unpack_from(">II", body, 18)
                _limit(grid_width * grid_height, max_pixels)
        elif kind == _PATTERN_DICTIONARY and len(body) >= 7:
            pattern_width, pattern_height, gray_max = struct.unpack_from(">BBI", body, 1)
            _limit((gray_max + 1) * pattern_width * pattern_height, max_pixels)


def _segment(data: bytes, at: int) -> tuple[int, bytes, int]:
    """The segment at `at`: its type, its data, and where the next one starts."""
    (number,) = struct.unpack_from(">I", data, at)
    flags = data[at + 4]
    at += 5
    referred = data[at] >> 5
    if referred == 7:  # the long form: a 29-bit count, then one retention bit each
        (count,) = struct.unpack_from(">I", data, at)
        referred = count & 0x1FFFFFFF
        at += 4 + (referred + 8) // 8
    else:
        at += 1
    at += referred * (1 if number <= 256 else 2 if number <= 65536 else 4)
    at += 4 if flags & 0x40 else 1  # the page it belongs to
    (length,) = struct.unpack_from(">I", data, at)
    at += 4
    if length == _UNKNOWN_LENGTH or at + length > len(data):
        raise IndexError(at)
    return flags & 0x3F, data[at : at + length], at + length


def _limit(pixels: int, max_pixels: int) -> None:
    if pixels > max_pixels:
        raise SecurityRejected(
            f"a JBIG2 image in the PDF declares {pixels} pixels; at most {max_pixels} are accepted",
            "decompression_bomb",
        )


def _damaged() -> SecurityRejected:
    return SecurityRejected("a JBIG2 image in the PDF cannot be walked", "malformed_file")
