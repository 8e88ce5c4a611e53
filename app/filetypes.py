"""What a file is, judged from its bytes (libmagic), never from the client's word."""

from __future__ import annotations

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
    """The MIME type libmagic sees in the first bytes of a file."""
    return str(magic.from_buffer(head, mime=True))


def is_allowed(mime_type: str) -> bool:
    return mime_type in ALLOWED_TYPES
