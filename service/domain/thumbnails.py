"""WebP thumbnails (longest side 256 px) of uploaded images; anything else gets none."""

from __future__ import annotations

import io
from dataclasses import dataclass

THUMBNAIL_SIDE = 256
MAX_SOURCE_BYTES = 64 * 1024 * 1024  # larger images are not decoded in the request or event path


@dataclass(frozen=True)
class Thumbnail:
    webp: bytes
    width: int  # of the original image
    height: int


def make_thumbnail(data: bytes) -> Thumbnail | None:
    """A thumbnail of an image, or None when the bytes are not an image Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # JPEG decodes at a fraction of its size
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            out = io.BytesIO()
            image.save(out, format="WEBP", quality=80, method=4)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        # Corrupt, truncated, unsupported or absurdly large: no preview, never an error.
        return None
    return Thumbnail(out.getvalue(), width, height)
