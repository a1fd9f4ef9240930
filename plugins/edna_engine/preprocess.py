"""Decode an item with Pillow and turn it into the float32 tensor its model expects."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from edna_engine.image_formats import IMAGE_FORMATS
from edna_engine.spec import Spec

FILTERS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}

# What Pillow raises on bytes that are not a (whole, sane) image; storage errors are not among them.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError)

# The service's default thumbnail cap too (EDNA_MAX_IMAGE_PIXELS): a 50-megapixel camera frame. A job's
# memory budget may set a lower one; Pillow's own guard (it raises at twice its limit) stays as a backstop.
MAX_IMAGE_PIXELS = 50_000_000


class DecodeError(ValueError):
    """The item's bytes are not an image the engine can use."""


def decode(data: bytes, spec: Spec, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """One item's pixels as a uint8 array of shape (height, width, channels), resized for its model."""
    cap = f"the {max_pixels / 1e6:.3g}-megapixel cap"
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            # Opening reads only the header: refuse huge images before decoding blows the memory budget.
            # Only the first frame of an animated image is ever decoded.
            w, h = img.size
            if w * h > max_pixels:
                raise DecodeError(f"image is {w}x{h}, above {cap}")
            img = img.convert("L" if spec.channels == 1 else "RGB")
    except DecodeError:
        raise
    except Image.DecompressionBombError as e:  # beyond twice Pillow's own limit it refuses at open, sooner
        raise DecodeError(f"image is above {cap}: {e}") from e
    except UnidentifiedImageError as e:
        # Pillow's message names the buffer's address: a resumed job must write the line it wrote before.
        raise DecodeError(f"cannot decode image: not one of {', '.join(IMAGE_FORMATS)}") from e
    except DECODE_ERRORS as e:
        raise DecodeError(f"cannot decode image: {e}") from e
    if img.size != (spec.width, spec.height):
        img = img.resize((spec.width, spec.height), resample=FILTERS[spec.resample])
    x = np.asarray(img, dtype=np.uint8)
    return x[:, :, None] if x.ndim == 2 else x


def normalize(x: np.ndarray, spec: Spec) -> np.ndarray:
    """Pixels (uint8 or float32, channels last) scaled and normalised in place when float32; a float32 array."""
    x = x if x.dtype == np.float32 else x.astype(np.float32)
    x *= np.float32(spec.scale)
    x -= np.asarray(spec.mean, dtype=np.float32)
    x /= np.asarray(spec.std, dtype=np.float32)
    return x


def preprocess(data: bytes, spec: Spec, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """One item as a float32 array of shape (height, width, channels), scaled and normalised."""
    return normalize(decode(data, spec, max_pixels), spec)


def as_item(x: np.ndarray, spec: Spec) -> np.ndarray:
    """A (height, width, channels) item in the model's layout: [H*W*C] row-major HWC, [C, H, W] or [H, W, C]."""
    if spec.layout == "flat":
        return x.reshape(-1)
    if spec.layout == "nchw":
        return np.ascontiguousarray(x.transpose(2, 0, 1))  # done per item, in the fetch pool, not per batch
    return x


def normalize_batch(batch: np.ndarray, spec: Spec) -> np.ndarray:
    """A float32 batch of raw pixels in the model's layout, normalised in place as `normalize` does one
    item: the same operations in the same order, so the results are the same to the bit."""
    channels = spec.channels
    shape = (channels, 1, 1) if spec.layout == "nchw" else (channels,)
    view = batch.reshape(len(batch), -1, channels) if spec.layout == "flat" else batch
    view *= np.float32(spec.scale)
    view -= np.asarray(spec.mean, dtype=np.float32).reshape(shape)
    view /= np.asarray(spec.std, dtype=np.float32).reshape(shape)
    return batch


class BatchBuffer:
    """One float32 array reused for every mini-batch of items already in the model's layout."""

    # A fresh multi-megabyte array per batch makes glibc raise its mmap threshold and serve the next
    # ones from fragmenting heap arenas: resident memory crept up by 20 % over 100k items.

    def __init__(self, item_shape: tuple[int, ...]):
        self.item_shape = item_shape
        self.array: np.ndarray | None = None

    def fill(self, items: list[np.ndarray]) -> np.ndarray:
        """The items as one [N, ...] batch (a view valid until the next fill)."""
        if self.array is None or len(self.array) < len(items):
            self.array = None  # let the old one go before the larger one is allocated
            self.array = np.empty((len(items), *self.item_shape), dtype=np.float32)
        batch = self.array[: len(items)]
        for row, item in zip(batch, items, strict=True):
            row[...] = item
        return batch

    def release(self) -> None:
        """Drop the array (after an out-of-memory error, before smaller batches)."""
        self.array = None
