"""Opening images: Pillow, with HEIC/HEIF support from pillow-heif registered once."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from pillow_heif import register_heif_opener

register_heif_opener()


def open_image(path: Path) -> Image.Image:
    """Open (lazily) any accepted image type, HEIC and HEIF included."""
    return Image.open(path)
