"""Documents for the fast-lane benchmarks: dense born-digital pages and their 300 dpi scans.

- `dense_lines(n)`: page `n`'s known text, 40 lines (a title and 39 lines of 10
  words from the test vocabulary), about 3,300 characters: a full typed page.
- `born_digital_pdf(pages)`: those pages as a text PDF (reportlab, Helvetica 11 pt).
- `write_scanned_pdf(path, pages)`: an image-only PDF of the same pages rendered at
  300 dpi (grayscale), written page by page straight to disk, so neither the
  rendered pages nor the file are ever all in memory. Each page is one lossless
  8-bit image (the PNG's own deflate data, embedded as FlateDecode with the PNG
  predictor, as img2pdf does): ~0.3 MB a page, so 100 pages stay under the 50 MiB
  upload limit. The JPEG that Pillow's PDF writer uses (`images_pdf`) would be
  ~0.9 MB a page (~0.55 MB even at quality 30), too big for 100 pages.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench import common  # noqa: F401 - puts the project root on sys.path

LINES_PER_PAGE = 40
WORDS_PER_LINE = 10
FONT_SIZE = 11
SEED_BASE = 1000


def dense_lines(page: int) -> list[str]:
    """The known text of page `page` (1-based): 40 lines, ~3,300 characters."""
    from tests.support.documents import sentences

    return [
        f"Page {page} clinical record",
        *sentences(SEED_BASE + page, LINES_PER_PAGE - 1, WORDS_PER_LINE),
    ]


def born_digital_pdf(pages: int, first: int = 1) -> bytes:
    from tests.support.documents import text_pdf

    return text_pdf([dense_lines(n) for n in range(first, first + pages)], font_size=FONT_SIZE)


def known_words(pages: Iterable[int]) -> Counter[str]:
    return Counter(word for n in pages for line in dense_lines(n) for word in line.split())


def word_recall(found: Iterable[str], expected: Counter[str]) -> float:
    """Share of the known words (with multiplicity) that the reading contains."""
    got = Counter(found)
    total = sum(expected.values())
    return sum(min(count, got[word]) for word, count in expected.items()) / total if total else 0.0


def _png_parts(png: bytes) -> tuple[int, int, bytes]:
    """(width, height, concatenated IDAT data) of an 8-bit grayscale, non-interlaced PNG."""
    pos = 8
    width = height = 0
    idat = io.BytesIO()
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data)
            if (depth, color, interlace) != (8, 0, 0):
                raise ValueError("expected an 8-bit grayscale, non-interlaced PNG")
        elif kind == b"IDAT":
            idat.write(data)
        pos += 12 + length
    return width, height, idat.getvalue()


def write_scanned_pdf(path: Path, pages: int, dpi: int = 300) -> dict[str, float]:
    """Write `pages` dense pages, rendered at `dpi`, as an image-only PDF; one page in memory.

    Objects: 1 catalog, 2 page tree, then for page i (0-based) 3+3i page, 4+3i
    content stream, 5+3i image. Returns {"bytes", "seconds"}.
    """
    import time

    import pypdfium2 as pdfium

    started = time.perf_counter()
    source = pdfium.PdfDocument(born_digital_pdf(pages))
    offsets: list[int] = []
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as out:

            def obj(number: int, head: bytes, stream: bytes | None = None) -> None:
                assert number == len(offsets) + 1
                offsets.append(out.tell())
                out.write(b"%d 0 obj\n" % number + head)
                if stream is not None:
                    out.write(b"\nstream\n" + stream + b"\nendstream")
                out.write(b"\nendobj\n")

            out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
            obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
            kids = b" ".join(b"%d 0 R" % (3 + 3 * i) for i in range(pages))
            obj(2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages))
            for index in range(pages):
                page = source[index]
                try:
                    width_pt, height_pt = page.get_size()
                    image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
                finally:
                    page.close()
                png = io.BytesIO()
                image.save(png, format="PNG", compress_level=6)
                del image
                width, height, data = _png_parts(png.getvalue())
                del png
                base = 3 + 3 * index
                obj(
                    base,
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] "
                    b"/Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>"
                    % (width_pt, height_pt, base + 2, base + 1),
                )
                content = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (width_pt, height_pt)
                obj(base + 1, b"<< /Length %d >>" % len(content), content)
                obj(
                    base + 2,
                    b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                    b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
                    b"/DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns %d >> "
                    b"/Length %d >>" % (width, height, width, len(data)),
                    data,
                )
            xref_at = out.tell()
            out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
            for offset in offsets:
                out.write(b"%010d 00000 n \n" % offset)
            out.write(
                b"trailer\n<< /Size %d /Root 1 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
                % (
                    len(offsets) + 1,
                    b"%032x" % zlib.crc32(b"%d" % pages),
                    b"%032x" % zlib.crc32(b"%d" % pages),
                    xref_at,
                )
            )
        partial.replace(path)
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return {"bytes": path.stat().st_size, "seconds": time.perf_counter() - started}
