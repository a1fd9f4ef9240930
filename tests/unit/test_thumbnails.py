"""The thumbnailer refuses images above the pixel cap from their header alone, and thumbnails the rest."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from service.domain.thumbnails import make_thumbnail
from tests.bombs import gif_bomb, jpeg_bomb, png_bomb, webp_bomb

CAP = 50_000_000

# Between the cap and twice it, Pillow's own guard only warns: the cap itself must refuse.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@pytest.fixture(autouse=True)
def pillow_guard(monkeypatch):
    """make_thumbnail sets Pillow's process-wide guard: put it back for the other tests."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture
def no_decoding(monkeypatch):
    """Any decode fails the test: the cap must refuse from the header."""

    def load(self):
        raise AssertionError(f"decoded a {self.size} {self.format} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def image(fmt: str, size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("bomb", [png_bomb, jpeg_bomb, gif_bomb, webp_bomb], ids=lambda b: b.__name__)
def test_a_bomb_is_refused_without_decoding(bomb, no_decoding):
    assert make_thumbnail(bomb(), CAP) is None


@pytest.mark.parametrize("cap", [CAP, 100_000_000], ids=["beyond twice the cap", "within twice the cap"])
def test_the_cap_holds_where_pillow_would_only_warn(cap, no_decoding):
    # 144 megapixels: Pillow's guard (set to the cap) raises beyond twice the cap; within it, the cap refuses.
    assert make_thumbnail(png_bomb(), cap) is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_images_under_the_cap_get_a_thumbnail(fmt):
    thumb = make_thumbnail(image(fmt), CAP)
    assert thumb is not None and (thumb.width, thumb.height) == (640, 480)
    assert Image.open(io.BytesIO(thumb.webp)).size == (256, 192)


def test_the_cap_counts_pixels_not_sides():
    wide = image("PNG", (4000, 10))
    assert make_thumbnail(wide, 40_000) is not None
    assert make_thumbnail(wide, 39_999) is None


@pytest.mark.parametrize("fmt", ["PCX", "TGA", "ICO", "PPM"])
def test_formats_outside_the_allowed_ones_are_never_decoded(fmt, no_decoding):
    """Only common dataset formats reach a decoder (Pillow would hand EPS to Ghostscript)."""
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, format=fmt)
    assert make_thumbnail(out.getvalue(), max_pixels=10**6) is None
