"""How large a PDF stream becomes once decoded, found in bounded steps without holding it.

A stream's filters run in order, each decoder taking the previous one's output in
pieces and handing on pieces of at most about `CHUNK` bytes; every step's output is
counted against the cap as it comes, so a bomb is refused after at most `cap` bytes of
work and nothing larger than a piece is held (only the last step's input to an image
codec is kept, within the cap, to read its header). Flate inflates with zlib's own
incremental decoder (`max_length`); LZW, ASCII85, ASCIIHex and RunLength are decoded
here piece by piece, as PDFium would read them.

The image codecs (DCT, JPX, JBIG2, CCITT fax) come last in a chain, and what they would
allocate is read from their headers and checked against the pixel cap: a JPEG's or a
JPEG 2000's frame size (Pillow reads the header alone), every JBIG2 page and region
(`app.pipeline.jbig2`), a CCITT image's columns and rows. A filter no reader knows is
damage (`malformed_file`); an image codec or a predictor before another filter cannot be
measured, and is refused (`unsupported_pdf_feature`) rather than passed on unmeasured, as
is a JBIG2 stream whose segments cannot be walked (`malformed_file`).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from app.pipeline import jbig2
from app.pipeline.errors import SecurityRejected

CHUNK = 1024 * 1024
_NOT_ASCII85 = re.compile(rb"[^!-uz~]")
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f>]")

Chunks = Iterable[bytes]

# The names PDF allows for each filter (inline images use the short ones).
ALIASES = {
    "/Fl": "/FlateDecode",
    "/LZW": "/LZWDecode",
    "/A85": "/ASCII85Decode",
    "/AHx": "/ASCIIHexDecode",
    "/RL": "/RunLengthDecode",
    "/CCF": "/CCITTFaxDecode",
    "/DCT": "/DCTDecode",
}
IMAGE_CODECS = frozenset({"/DCTDecode", "/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode"})


@dataclass(frozen=True)
class Step:
    """One filter of a stream and what its decode parameters say that matters here."""

    name: str
    predictor: int = 1
    columns: int = 1728  # CCITT fax: pixels a row
    rows: int = 0  # CCITT fax: rows, 0 when the image's height says
    early_change: int = 1  # LZW
    globals_data: bytes = b""  # JBIG2: the decoded /JBIG2Globals stream

    @property
    def filter(self) -> str:
        return ALIASES.get(self.name, self.name)


def bomb(what: str) -> SecurityRejected:
    return SecurityRejected(f"{what} in the PDF decodes past the size cap", "decompression_bomb")


def unsupported(what: str) -> SecurityRejected:
    return SecurityRejected(f"the PDF has {what}", "unsupported_pdf_feature")


def decoded_size(raw: bytes, steps: Sequence[Step], cap: int, max_pixels: int) -> int:
    """Run `raw` through `steps`; return every step's output size added up (the work a
    reader does on it), or raise `SecurityRejected` for a step whose output passes `cap`
    (`decompression_bomb`), an image header over `max_pixels` (`decompression_bomb`) or
    a chain that cannot be measured (`unsupported_pdf_feature`)."""
    _refuse_unmeasurable(steps)
    codec = steps[-1] if steps and steps[-1].filter in IMAGE_CODECS else None
    general = steps[:-1] if codec else steps
    counted = [len(raw)] if not steps else []
    chunks = _pieces(raw)
    for step in general:
        chunks = _capped(DECODERS[step.filter](chunks, step), cap, counted)
    if codec is None:
        for _ in chunks:
            pass
        return sum(counted)
    data = b"".join(chunks) if general else raw
    _check_codec(codec, data, max_pixels)
    return sum(counted) + len(data)


def decode(raw: bytes, steps: Sequence[Step], cap: int) -> bytes:
    """`raw` decoded through general (non-image) `steps`, refused past `cap` bytes."""
    _refuse_unmeasurable(steps)
    if any(step.filter in IMAGE_CODECS for step in steps):
        raise unsupported("an image codec where data was expected")
    chunks: Chunks = _pieces(raw)
    for step in steps:
        chunks = _capped(DECODERS[step.filter](chunks, step), cap, [])
    return b"".join(chunks)


def _refuse_unmeasurable(steps: Sequence[Step]) -> None:
    last = len(steps) - 1
    for index, step in enumerate(steps):
        if step.filter not in DECODERS and step.filter not in IMAGE_CODECS:
            raise SecurityRejected("a stream in the PDF names no known filter", "malformed_file")
        if index < last and step.filter in IMAGE_CODECS:
            raise unsupported("an image codec followed by another filter")
        if index < last and step.predictor > 1:
            raise unsupported("a predictor followed by another filter")


def _pieces(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start : start + CHUNK])


def _capped(chunks: Chunks, cap: int, counted: list[int]) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise bomb("a stream")
        yield chunk
    counted.append(size)


# The decoders: each takes pieces and yields pieces. Damaged data ends the output where
# it breaks, as PDFium's decoders do (what came before it is still counted).


def _flate(chunks: Chunks, step: Step) -> Iterator[bytes]:
    """zlib data; data with no zlib header is inflated as raw deflate (some readers do),
    so that what is counted is never less than what a reader would make of it."""
    inflater = zlib.decompressobj()
    started = False
    for chunk in chunks:
        data = chunk
        while not inflater.eof:
            try:
                out = inflater.decompress(data, CHUNK)
            except zlib.error:
                if started:
                    return
                inflater, started = zlib.decompressobj(-zlib.MAX_WBITS), True
                continue
            started = started or bool(out)
            if out:
                yield out
            data = inflater.unconsumed_tail
            if not data and len(out) < CHUNK:
                break  # this input is used up and zlib holds nothing more back
        if inflater.eof:
            return


def _lzw(chunks: Chunks, step: Step) -> Iterator[bytes]:
    """PDF's LZW: codes of 9 to 12 bits, most significant bit first; with `EarlyChange`
    (the default) a code grows one entry early."""
    table = [bytes([value]) for value in range(256)] + [b"", b""]
    width = [9]  # read by `_codes` as each code is taken
    previous: bytes | None = None
    out = bytearray()
    for code in _codes(chunks, width):
        if code == 256:  # clear the table
            del table[258:]
            width[0], previous = 9, None
            continue
        if code == 257:  # end of data
            break
        if code < len(table):
            entry = table[code]
        elif code == len(table) and previous is not None:
            entry = previous + previous[:1]
        else:
            break  # a code no encoder could have written: the data is damaged
        if previous is not None and len(table) < 4096:
            table.append(previous + entry[:1])
            if len(table) + step.early_change >= 1 << width[0] and width[0] < 12:
                width[0] += 1
        previous = entry
        out += entry
        if len(out) >= CHUNK:
            yield bytes(out)
            out.clear()
    yield bytes(out)


def _codes(chunks: Chunks, width: list[int]) -> Iterator[int]:
    """The codes in `chunks`, each `width[0]` bits wide as it is read."""
    buffer = bits = 0
    for chunk in chunks:
        for byte in chunk:
            buffer, bits = (buffer << 8) | byte, bits + 8
            size = width[0]
            if bits >= size:
                bits -= size
                yield buffer >> bits
                buffer &= (1 << bits) - 1


def _ascii85(chunks: Chunks, step: Step) -> Iterator[bytes]:
    """Characters outside the alphabet are skipped and "~" ends the data, so the output
    holds at least what a stricter reader would make of it."""
    carry = b""
    for chunk in chunks:
        text = carry + _NOT_ASCII85.sub(b"", chunk)
        end = text.find(b"~")
        if end >= 0:
            text = text[:end]
        # "z" stands for a group of zeros: spelt out, every group is five characters.
        text = text.replace(b"z", b"!!!!!")
        cut = len(text) if end >= 0 else len(text) - len(text) % 5
        carry = text[cut:]
        yield from _ascii85_groups(text[:cut])
        if end >= 0:
            return
    yield from _ascii85_groups(carry)


def _ascii85_groups(text: bytes) -> Iterator[bytes]:
    """Whole groups (and a last partial one of two or more characters), up to the first
    group no encoder could have written."""
    if len(text) % 5 == 1:
        text = text[:-1]  # one character alone encodes nothing
    try:
        yield base64.a85decode(text)
    except ValueError:
        for at in range(0, len(text), 5):
            try:
                yield base64.a85decode(text[at : at + 5])
            except ValueError:
                return


def _ascii_hex(chunks: Chunks, step: Step) -> Iterator[bytes]:
    """Characters that are not hex digits are skipped; ">" ends the data."""
    carry = b""
    for chunk in chunks:
        text = carry + _NOT_HEX.sub(b"", chunk)
        end = text.find(b">")
        if end >= 0:
            text = text[:end]
            text += b"0" * (len(text) % 2)  # a last odd digit is followed by a 0
        cut = len(text) - len(text) % 2
        carry = text[cut:]
        yield binascii.unhexlify(text[:cut])
        if end >= 0:
            return


def _run_length(chunks: Chunks, step: Step) -> Iterator[bytes]:
    pending = b""
    out = bytearray()
    for chunk in chunks:
        data = pending + chunk
        at, size = 0, len(data)
        while at < size:
            length = data[at]
            if length == 128:  # end of data
                yield bytes(out)
                return
            if length < 128:  # copy the next length + 1 bytes
                if at + length + 2 > size:
                    break
                out += data[at + 1 : at + length + 2]
                at += length + 2
            else:  # repeat the next byte 257 - length times
                if at + 2 > size:
                    break
                out += data[at + 1 : at + 2] * (257 - length)
                at += 2
            if len(out) >= CHUNK:
                yield bytes(out)
                out.clear()
        pending = data[at:]
    yield bytes(out)


def _identity(chunks: Chunks, step: Step) -> Iterator[bytes]:
    # /Crypt: qpdf has already decrypted what it hands over.
    yield from chunks


DECODERS: dict[str, Callable[[Chunks, Step], Iterator[bytes]]] = {
    "/FlateDecode": _flate,
    "/LZWDecode": _lzw,
    "/ASCII85Decode": _ascii85,
    "/ASCIIHexDecode": _ascii_hex,
    "/RunLengthDecode": _run_length,
    "/Crypt": _identity,
}


# Image codecs: what they would allocate, from their headers.


def _check_codec(step: Step, data: bytes, max_pixels: int) -> None:
    if step.filter == "/JBIG2Decode":
        jbig2.check(step.globals_data, max_pixels)
        jbig2.check(data, max_pixels)
        return
    if step.filter == "/CCITTFaxDecode":
        pixels = step.columns * step.rows
    else:
        pixels = _header_pixels(data, "JPEG" if step.filter == "/DCTDecode" else "JPEG2000")
    if pixels > max_pixels:
        raise SecurityRejected(
            f"an image in the PDF has {pixels} pixels; at most {max_pixels} are accepted",
            "decompression_bomb",
        )


def _header_pixels(data: bytes, fmt: str) -> int:
    """Width x height from a JPEG's or JPEG 2000's header (nothing is decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise bomb("an image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise SecurityRejected(
            "an image in the PDF has no header that can be read", "malformed_file"
        ) from None
    return int(width) * int(height)
