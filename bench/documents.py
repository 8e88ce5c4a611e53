"""The benchmarks' documents, each with known text. See bench/README.md."""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

TOKEN_LEN = 16
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


def _page_image(page: object, dpi: int) -> tuple[float, float, int, int, bytes]:
    """A pdfium page rendered at `dpi`, grayscale: its size in points, in pixels, and the
    PNG's deflate data (a PDF image with the PNG predictor, as img2pdf embeds it)."""
    try:
        width_pt, height_pt = page.get_size()  # type: ignore[attr-defined]
        image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")  # type: ignore[attr-defined]
    finally:
        page.close()  # type: ignore[attr-defined]
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=6)
    return (width_pt, height_pt, *_png_parts(png.getvalue()))


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
            for base in range(3, 3 + 3 * pages, 3):
                width_pt, height_pt, width, height, data = _page_image(source[base // 3 - 1], dpi)
                obj(base, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] "
                    b"/Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>"
                    % (width_pt, height_pt, base + 2, base + 1))  # fmt: skip
                content = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (width_pt, height_pt)
                obj(base + 1, b"<< /Length %d >>" % len(content), content)
                obj(base + 2, b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                    b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
                    b"/DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns %d >> "
                    b"/Length %d >>" % (width, height, width, len(data)), data)  # fmt: skip
            xref_at = out.tell()
            out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
            out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
            file_id = b"%032x" % zlib.crc32(b"%d" % pages)
            out.write(
                b"trailer\n<< /Size %d /Root 1 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
                % (len(offsets) + 1, file_id, file_id, xref_at)
            )
        partial.replace(path)
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return {"bytes": path.stat().st_size, "seconds": time.perf_counter() - started}


def padded_pdf(size: int, text: str, seed: int | None = None) -> Iterator[bytes]:
    """The pieces of a one-page PDF of about `size` bytes showing "Benchmark upload TEXT"
    (pad TEXT to 16 characters to keep a token's place); the bulk is an unreferenced stream
    of random bytes (`seed`: reproducible; else os.urandom) in 1 MiB pieces, never whole in
    memory. Offsets in the xref table are exact."""
    rng = random.Random(seed) if seed is not None else None
    content = b"BT /F1 16 Tf 72 720 Td (Benchmark upload %s) Tj ET\n" % text.encode()
    content += b"BT /F1 11 Tf 72 696 Td (Lab report: all values within range.) Tj ET\n"
    small = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets, position = [], len(head)
    yield head
    for number, body in enumerate(small, start=1):
        offsets.append(position)
        piece = b"%d 0 obj\n" % number + body + b"\nendobj\n"
        position += len(piece)
        yield piece
    left = max(0, size - position - 600)
    offsets.append(position)
    piece = b"6 0 obj\n<< /Length %d >>\nstream\n" % left
    position += len(piece) + left + 18
    yield piece
    while left:
        chunk = min(1 << 20, left)
        yield rng.randbytes(chunk) if rng else os.urandom(chunk)
        left -= chunk
    yield b"\nendstream\nendobj\n"
    xref = b"".join(b"%010d 00000 n \n" % o for o in offsets)
    yield b"xref\n0 7\n0000000000 65535 f \n" + xref
    yield b"trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % position


def token_pdf(size: int, seed: int = 1) -> tuple[bytes, int]:
    """A padded PDF in memory, and the offset of its 16-character token (all zeros)."""
    pdf = b"".join(padded_pdf(size, "0" * TOKEN_LEN, seed))
    return pdf, pdf.index(b"Benchmark upload ") + len(b"Benchmark upload ")


def clinical_pages(count: int, reference: str) -> list[list[str]]:
    """`count` dense pages of the corpus's lines (up to 40 lines, ~3,000 characters); the
    first line names `reference`, so every document's bytes differ."""
    from tests.support.clinical_corpus import corpus

    def lines() -> Iterator[str]:
        seed = 20240312
        while True:  # new seeds once one corpus is used up
            for doc in corpus(seed, 10):
                for page in doc.pages:
                    yield from (line for line in page if line.strip())
            seed += 1

    source, pages = lines(), []
    for number in range(1, count + 1):
        page = [f"Reference {reference} page {number}"]
        while len(page) < 40 and sum(len(x) + 1 for x in page) < 3000:
            page.append(next(source))
        pages.append(page)
    return pages


def clinical_pdf(path: Path, pages: int, reference: str, *, scanned: bool) -> Path:
    """A born-digital PDF of `pages` clinical pages at `path` (Helvetica 10 pt), or with
    `scanned` those pages rendered at 300 dpi into an image-only PDF."""
    from tests.support.documents import images_pdf, render_pages, text_pdf

    pdf = text_pdf(clinical_pages(pages, reference), font_size=10)
    path.write_bytes(images_pdf(render_pages(pdf, dpi=300)) if scanned else pdf)
    return path
