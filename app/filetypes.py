"""What a file is, judged from its bytes (libmagic), never from the client's word."""

from __future__ import annotations

import codecs
import unicodedata

import magic

ALLOWED_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/tiff",
        "image/heic",
        "image/heif",
        "image/webp",
        "text/plain",
    }
)
# libmagic needs the head of a file; text detection looks further in than images do.
SNIFF_BYTES = 64 * 1024


def sniff_mime(head: bytes) -> str:
    """The MIME type libmagic sees in the first bytes of a file.

    Text wins over a guess: a head that decodes as UTF-8 with no binary bytes is
    `text/plain`, where libmagic names a type we do not take from a rule on its first
    letters or lines (a note that begins "PAX6 mutations" is HP-GL to libmagic, a lab
    table with commas CSV, a letter headed "From:" an e-mail, a line that starts with a
    dot troff). A type we take (a PDF of nothing but ASCII) and markup (HTML, XML, SVG:
    structure libmagic read, not a guess) stay as libmagic says.
    """
    mime_type = str(magic.from_buffer(head, mime=True))
    if mime_type in ALLOWED_TYPES or any(markup in mime_type for markup in _MARKUP):
        return mime_type
    return "text/plain" if _is_plain_text(head) else mime_type


_MARKUP = ("xml", "html", "svg")
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")


def _is_plain_text(head: bytes) -> bool:
    """UTF-8 throughout (a character cut off at the end of the head aside), with no
    control characters but whitespace."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return bool(text.strip()) and not any(
        unicodedata.category(ch) == "Cc" and ch not in _TEXT_CONTROLS for ch in text
    )


def is_allowed(mime_type: str) -> bool:
    return mime_type in ALLOWED_TYPES
